# The Python binding (bindings/python, ctypes over build/libpidkit.so.0).
#
#   make check-python    its unittest suite against the freshly built library
#                        (part of `make check`; needs python3, nothing else),
#                        then pid 3.0.4's own tests/test_pid.py against
#                        pidkit.pid (bindings/python/tests/run_pid_suite.sh:
#                        the sdist and pytest come from PyPI into
#                        build/pid-suite at test time; "skipped: ..." without
#                        a registry),
#                        and mypy --strict on the package (check-python-types;
#                        mypy from PyPI into build/mypy-venv when missing)

PYTHON ?= python3

CHECK_EXTRA += check-python
CLEAN_EXTRA += clean-python

.PHONY: check-python check-python-types clean-python

check-python: $(B)/$(SONAME)
	@command -v $(PYTHON) >/dev/null || { echo "check-python: $(PYTHON) not found (apt-get install python3)" >&2; exit 1; }
	cd bindings/python && PIDKIT_LIBRARY=$(CURDIR)/$(B)/$(SONAME) CC="$(CC)" PYTHONDONTWRITEBYTECODE=1 \
	  $(PYTHON) -m unittest discover --start-directory tests
	sh bindings/python/tests/run_pid_suite.sh $(B) $(CURDIR)/$(B)/$(SONAME) $(PYTHON)
	@$(MAKE) --no-print-directory check-python-types

# mypy --strict on the package (it ships py.typed): the mypy on PATH for
# $(PYTHON), else one installed from PyPI into $(MYPY_VENV) (python3-venv
# from apt-get first when root on Debian lacks it); without a registry,
# "skipped: ..." and success.
MYPY_VENV    := $(B)/mypy-venv
MYPY_VERSION := 2.4.1

check-python-types:
	@mypy=; \
	 if $(PYTHON) -m mypy --version >/dev/null 2>&1; then mypy="$(PYTHON) -m mypy"; \
	 elif [ -x $(MYPY_VENV)/bin/mypy ]; then mypy=$(CURDIR)/$(MYPY_VENV)/bin/mypy; \
	 else \
	   if ! $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	     echo "check-python: installing python3-venv for mypy"; \
	     { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } >/dev/null 2>&1; \
	   fi; \
	   echo "check-python: installing mypy==$(MYPY_VERSION) into $(MYPY_VENV)"; \
	   if $(PYTHON) -m venv $(MYPY_VENV) >/dev/null 2>&1 && \
	      timeout 300 $(MYPY_VENV)/bin/pip install -q --disable-pip-version-check --no-cache-dir \
	        mypy==$(MYPY_VERSION) >/dev/null 2>&1; then \
	     mypy=$(CURDIR)/$(MYPY_VENV)/bin/mypy; \
	   else \
	     rm -rf $(MYPY_VENV); \
	     echo "check-python: skipped: mypy --strict (no mypy, and it could not be installed from PyPI)"; \
	     exit 0; \
	   fi; \
	 fi; \
	 cd bindings/python && $$mypy --strict --no-error-summary --cache-dir $(CURDIR)/$(B)/mypy-cache -p pidkit && \
	 echo "check-python: mypy --strict: the pidkit package is clean"

clean-python:
	find bindings/python -name __pycache__ -type d -prune -exec rm -rf {} +
