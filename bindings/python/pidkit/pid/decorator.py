"""``pidfile``, the decorator of pid 3.0.4 (``from pid.decorator import
pidfile``): each call of the decorated function runs inside
``with PidFile(*args, **kwargs)``."""

import functools
import types
from typing import Any, Callable, TypeVar, cast

from . import PidFile

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["pidfile"]


def pidfile(*pid_args: Any, **pid_kwargs: Any) -> Callable[[_F], _F]:
    """``@pidfile()`` or ``@pidfile("name", piddir=...)``: the arguments are
    PidFile's. Written without parentheses (``@pidfile``) it fails at once,
    as pid's does."""
    if pid_args and isinstance(pid_args[0], types.FunctionType):
        raise AssertionError("pidfile decorator must be called with parentheses, like: @pidfile()")

    def wrap(func: _F) -> _F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with PidFile(*pid_args, **pid_kwargs):
                return func(*args, **kwargs)
        return cast(_F, run)
    return wrap
