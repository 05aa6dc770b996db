# The Python binding (bindings/python, ctypes over build/libpidkit.so.0).
#
#   make check-python    its unittest suite against the freshly built library
#                        (part of `make check`; needs python3, nothing else)

PYTHON ?= python3

CHECK_EXTRA += check-python
CLEAN_EXTRA += clean-python

.PHONY: check-python clean-python

check-python: $(B)/$(SONAME)
	@command -v $(PYTHON) >/dev/null || { echo "check-python: $(PYTHON) not found (apt-get install python3)" >&2; exit 1; }
	cd bindings/python && PIDKIT_LIBRARY=$(CURDIR)/$(B)/$(SONAME) CC="$(CC)" PYTHONDONTWRITEBYTECODE=1 \
	  $(PYTHON) -m unittest discover --start-directory tests

clean-python:
	find bindings/python -name __pycache__ -type d -prune -exec rm -rf {} +
