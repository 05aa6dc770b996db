"""``pidfile``, the decorator of pid 3.0.4 (``from pid.decorator import
pidfile``): each call of the decorated function runs inside
``with PidFile(*args, **kwargs)``."""

import functools
import types

from . import PidFile

__all__ = ["pidfile"]


def pidfile(*pid_args, **pid_kwargs):
    """``@pidfile()`` or ``@pidfile("name", piddir=...)``: the arguments are
    PidFile's. Written without parentheses (``@pidfile``) it fails at once,
    as pid's does."""
    if pid_args and isinstance(pid_args[0], types.FunctionType):
        raise AssertionError("pidfile decorator must be called with parentheses, like: @pidfile()")

    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            with PidFile(*pid_args, **pid_kwargs):
                return func(*args, **kwargs)
        return run
    return wrap
