"""Test-only shim: ``pid.decorator`` is pidkit.pid.decorator (the package
shim already maps it; this covers a direct import of this file)."""

import sys

import pidkit.pid.decorator

sys.modules[__name__] = pidkit.pid.decorator
