# The Python binding (bindings/python, ctypes over build/libpidkit.so.0).
#
#   make check-python    its unittest suite against the freshly built library
#                        (part of `make check`; needs python3, nothing else),
#                        then pid 3.0.4's own tests/test_pid.py against
#                        pidkit.pid (bindings/python/tests/run_pid_suite.sh:
#                        the sdist and pytest come from PyPI into
#                        build/pid-suite at test time; "skipped: ..." without
#                        a registry)

PYTHON ?= python3

CHECK_EXTRA += check-python
CLEAN_EXTRA += clean-python

.PHONY: check-python clean-python

check-python: $(B)/$(SONAME)
	@command -v $(PYTHON) >/dev/null || { echo "check-python: $(PYTHON) not found (apt-get install python3)" >&2; exit 1; }
	cd bindings/python && PIDKIT_LIBRARY=$(CURDIR)/$(B)/$(SONAME) CC="$(CC)" PYTHONDONTWRITEBYTECODE=1 \
	  $(PYTHON) -m unittest discover --start-directory tests
	sh bindings/python/tests/run_pid_suite.sh $(B) $(CURDIR)/$(B)/$(SONAME) $(PYTHON)

clean-python:
	find bindings/python -name __pycache__ -type d -prune -exec rm -rf {} +
