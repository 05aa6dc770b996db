"""Test-only shim (never installed): ``import pid`` is pidkit.pid itself,
so pid's own tests/test_pid.py runs unchanged against it, and
``pid.DEFAULT_PID_DIR = ...`` assigns pidkit.pid's. Used by
run_pid_suite.sh through PYTHONPATH."""

import sys

import pidkit.pid
import pidkit.pid.decorator

sys.modules["pid.decorator"] = pidkit.pid.decorator
sys.modules[__name__] = pidkit.pid
