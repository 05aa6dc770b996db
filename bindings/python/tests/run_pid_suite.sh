#!/bin/sh
# pid 3.0.4's own test suite (tests/test_pid.py of its sdist, unchanged)
# against pidkit.pid, through the test-only shim package pid_shim/pid.
#
#   run_pid_suite.sh BUILD_DIR LIBRARY [PYTHON]
#
# Fetches the sdist from PyPI with pip into BUILD_DIR/pid-suite (never
# committed; kept there for the next run, checked against its sha256), and
# runs the test file with pytest: the interpreter's own when it has pytest
# and pip, else a venv BUILD_DIR/pid-suite/venv with pytest from PyPI (on
# Debian, python3-venv is installed with apt-get first when run as root).
# Without a registry (or a venv) it prints "skipped: ..." and exits 0;
# a failing test fails it.
set -u

[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR LIBRARY [PYTHON]" >&2; exit 2; }
PY=${3:-python3}
case $2 in /*) LIB=$2 ;; *) LIB=$PWD/$2 ;; esac
mkdir -p "$1/pid-suite" || exit 1
W=$(cd "$1/pid-suite" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)          # bindings/python/tests
PKG=$(dirname "$HERE")                       # bindings/python

SDIST=pid-3.0.4.tar.gz
SHA256=0e33670e83f6a33ebb0822e43a609c3247178d4a375ff50a4689e266d853eb66

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1

skip() {
    echo "check-python: pid 3.0.4's test suite skipped: $*"
    exit 0
}

# 1. A Python with pytest and pip.
RUNPY=$PY
if ! "$PY" -c 'import pytest' 2>/dev/null || ! "$PY" -m pip --version >/dev/null 2>&1; then
    V=$W/venv
    RUNPY=$V/bin/python
    if ! "$RUNPY" -c 'import pytest' 2>/dev/null; then
        rm -rf "$V"
        if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
            # Debian keeps ensurepip in python3-venv.
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
                echo "check-python: installing python3-venv with apt-get (for pytest in $V)"
                export DEBIAN_FRONTEND=noninteractive
                apt-get install -y -qq python3-venv >/dev/null 2>&1 \
                    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq python3-venv >/dev/null 2>&1; } \
                    || skip "$PY has no venv/ensurepip and apt-get could not install python3-venv"
            else
                skip "$PY has no pytest and no venv/ensurepip to install it (apt-get install python3-venv)"
            fi
        fi
        "$PY" -m venv "$V" >"$W/venv.log" 2>&1 || { rm -rf "$V"; skip "cannot create a venv with $PY (see $W/venv.log)"; }
        echo "check-python: installing pytest from PyPI into $V"
        "$RUNPY" -m pip install -q --timeout 30 "pytest>=7,<10" >"$W/pip-pytest.log" 2>&1 \
            || { rm -rf "$V"; skip "cannot install pytest from PyPI (registry unreachable? see $W/pip-pytest.log)"; }
    fi
fi

# 2. The sdist, fetched at test time and checked.
sha_ok() {
    [ -f "$W/$SDIST" ] && [ "$("$RUNPY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$W/$SDIST")" = "$SHA256" ]
}
if ! sha_ok; then
    rm -rf "$W/dl" "$W/$SDIST"
    echo "check-python: fetching $SDIST from PyPI (pip download --no-binary :all:)"
    "$RUNPY" -m pip download -q --timeout 30 --no-binary :all: --no-deps -d "$W/dl" pid==3.0.4 >"$W/pip-download.log" 2>&1 \
        || skip "cannot download pid 3.0.4 from PyPI (registry unreachable? see $W/pip-download.log)"
    mv "$W/dl/$SDIST" "$W/$SDIST" || exit 1
    rm -rf "$W/dl"
    sha_ok || { echo "check-python: $W/$SDIST does not have the sha256 of pid 3.0.4's sdist" >&2; exit 1; }
fi

# 3. tests/test_pid.py alone, unchanged, in a private rootdir and TMPDIR
#    (pid's tests put their pidfiles in tempfile.gettempdir()).
rm -rf "$W/tests" "$W/tmp"
mkdir -p "$W/tests" "$W/tmp" || exit 1
"$RUNPY" - "$W/$SDIST" "$W/tests/test_pid.py" <<'EOF' || exit 1
import sys, tarfile
with tarfile.open(sys.argv[1]) as tar, open(sys.argv[2], "wb") as out:
    out.write(tar.extractfile("pid-3.0.4/tests/test_pid.py").read())
EOF
printf '[pytest]\n' >"$W/pytest.ini"

# 4. Run it: `import pid` is pidkit.pid (pid_shim first on the path), and
#    pid_differences marks the deliberate differences as xfail.
cd "$W" || exit 1
PYTHONPATH="$HERE/pid_shim:$PKG${PYTHONPATH:+:$PYTHONPATH}" PIDKIT_LIBRARY=$LIB TMPDIR=$W/tmp \
    "$RUNPY" -m pytest -p no:cacheprovider -p pid_differences -rsxX tests/test_pid.py
