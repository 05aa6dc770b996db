"""Loading libpidkit.so.0 and the ctypes declarations of its C ABI.

Every function of include/pidkit.h is declared here with its argtypes and
restype (tests/test_ffi.py checks the list against the header), so ctypes
never guesses an int where the C side has a pointer. The struct layouts
mirror the header member by member.
"""

import ctypes
import os
from typing import Any, Dict, Iterator, List, Tuple

SONAME = "libpidkit.so.0"

pid_t = ctypes.c_int


class PidfileOpts(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("mode", ctypes.c_uint32),
        ("timeout_ms", ctypes.c_int32),
    ]


class DetachOpts(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("workdir", ctypes.c_char_p),
        ("umask", ctypes.c_uint32),
        ("stdin_path", ctypes.c_char_p),
        ("stdout_path", ctypes.c_char_p),
        ("stderr_path", ctypes.c_char_p),
        ("keep_fds", ctypes.POINTER(ctypes.c_int)),
        ("n_keep_fds", ctypes.c_uint32),
        ("pidfile", ctypes.c_void_p),
    ]


class SpawnOpts(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("workdir", ctypes.c_char_p),
        ("stdin_path", ctypes.c_char_p),
        ("stdout_path", ctypes.c_char_p),
        ("stderr_path", ctypes.c_char_p),
        ("pidfile", ctypes.c_char_p),
        ("holder", ctypes.POINTER(pid_t)),
    ]


class ProcInfo(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("pid", pid_t),
        ("ppid", pid_t),
        ("pgid", pid_t),
        ("sid", pid_t),
        ("tpgid", pid_t),
        ("tty_nr", ctypes.c_int32),
        ("state", ctypes.c_char),
        ("uid", ctypes.c_uint32),
        ("num_threads", ctypes.c_uint32),
        ("start_time", ctypes.c_uint64),
        ("utime", ctypes.c_uint64),
        ("stime", ctypes.c_uint64),
        ("rss_bytes", ctypes.c_uint64),
        ("vsize_bytes", ctypes.c_uint64),
        ("comm", ctypes.c_char * 32),
    ]


class ProcFilter(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("sid", pid_t),
        ("pgid", pid_t),
        ("ppid", pid_t),
        ("ancestor", pid_t),
        ("uid", ctypes.c_uint32),
    ]


class KillOpts(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("timeout_ms", ctypes.c_int32),
        ("escalate_sig", ctypes.c_int32),
    ]


class KillResult(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("signalled", ctypes.c_uint32),
        ("refused", ctypes.c_uint32),
        ("alive", ctypes.c_uint32),
        ("escalated", ctypes.c_uint32),
        ("incomplete", ctypes.c_uint32),
    ]


# Flag bits of pidkit_proc_filter and pidkit_kill_opts, as in include/pidkit.h.
PROC_MATCH_SID = 1 << 0
PROC_MATCH_PGID = 1 << 1
PROC_MATCH_PPID = 1 << 2
PROC_MATCH_DESCENDANTS = 1 << 3
PROC_MATCH_UID = 1 << 4
PROC_NO_UID = 1 << 5
KILL_WAIT = 1 << 0

# The opaque pidkit_pidfile and pidkit_proc handles: passed around as void pointers.
Handle = ctypes.c_void_p

_P = ctypes.POINTER
_char_pp = _P(ctypes.c_char_p)

# name: (restype, argtypes). In the order of include/pidkit.h.
PROTOTYPES: Dict[str, Tuple[Any, List[Any]]] = {
    "pidkit_version": (ctypes.c_char_p, []),
    "pidkit_last_error": (ctypes.c_char_p, []),
    "pidkit_getpid": (pid_t, []),
    "pidkit_getppid": (pid_t, []),
    "pidkit_gettid": (pid_t, []),
    "pidkit_getpgid": (pid_t, [pid_t]),
    "pidkit_getsid": (pid_t, [pid_t]),
    "pidkit_alive": (ctypes.c_int, [pid_t]),
    "pidkit_setsid": (pid_t, []),
    "pidkit_proc_info_get": (ctypes.c_int, [pid_t, _P(ProcInfo)]),
    "pidkit_pidfile_acquire": (ctypes.c_int, [ctypes.c_char_p, _P(PidfileOpts), _P(Handle), _P(pid_t)]),
    "pidkit_pidfile_write": (ctypes.c_int, [Handle]),
    "pidkit_pidfile_release": (ctypes.c_int, [Handle]),
    "pidkit_pidfile_fd": (ctypes.c_int, [Handle]),
    "pidkit_pidfile_check": (ctypes.c_int, [ctypes.c_char_p, _P(pid_t)]),
    "pidkit_pidfile_read": (ctypes.c_int, [ctypes.c_char_p, _P(pid_t)]),
    "pidkit_pidfile_kill": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_int, _P(pid_t)]),
    "pidkit_detach": (pid_t, [_P(DetachOpts)]),
    "pidkit_detach_ready": (ctypes.c_int, [ctypes.c_int]),
    "pidkit_spawn": (pid_t, [_char_pp, _char_pp, _P(SpawnOpts)]),
    "pidkit_proc_open": (ctypes.c_int, [pid_t, _P(Handle)]),
    "pidkit_proc_open_pidfd": (ctypes.c_int, [ctypes.c_int, _P(Handle)]),
    "pidkit_proc_pid": (pid_t, [Handle]),
    "pidkit_proc_fd": (ctypes.c_int, [Handle]),
    "pidkit_proc_signal": (ctypes.c_int, [Handle, ctypes.c_int]),
    "pidkit_proc_wait": (ctypes.c_int, [Handle, ctypes.c_int, _P(ctypes.c_int)]),
    "pidkit_proc_query": (ctypes.c_int, [Handle, _P(ProcInfo)]),
    "pidkit_proc_close": (ctypes.c_int, [Handle]),
    "pidkit_proc_list": (ctypes.c_int, [_P(ProcFilter), _P(ProcInfo), ctypes.c_size_t, ctypes.c_size_t]),
    "pidkit_proc_kill": (ctypes.c_int, [_P(ProcFilter), ctypes.c_int, _P(KillOpts), _P(KillResult)]),
    "pidkit_notify": (ctypes.c_int, [ctypes.c_char_p]),
}

# Newer than the first release: declared when the loaded library has them.
PROC_FUNCTIONS = {
    "pidkit_proc_open",
    "pidkit_proc_open_pidfd",
    "pidkit_proc_pid",
    "pidkit_proc_fd",
    "pidkit_proc_signal",
    "pidkit_proc_wait",
    "pidkit_proc_query",
    "pidkit_proc_close",
    "pidkit_proc_list",
    "pidkit_proc_kill",
}
OPTIONAL = {"pidkit_notify"} | PROC_FUNCTIONS


def _candidates() -> Iterator[str]:
    """Where to look for the library, in order (see the package docstring)."""
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, SONAME)
    # Run from a checkout: bindings/python/pidkit/ -> the checkout's build/.
    bindings = os.path.dirname(os.path.dirname(here))
    if os.path.basename(bindings) == "bindings":
        yield os.path.join(os.path.dirname(bindings), "build", SONAME)


def load() -> Tuple[ctypes.CDLL, str]:
    """Returns (CDLL, path): PIDKIT_LIBRARY, next to the package, the
    checkout's build/, then the dynamic loader's search path."""
    env = os.environ.get("PIDKIT_LIBRARY")
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as e:
            raise ImportError(f"pidkit: cannot load PIDKIT_LIBRARY={env}: {e}") from e
    tried: List[str] = []
    for path in _candidates():
        path = os.path.normpath(path)
        if os.path.exists(path):
            try:
                return ctypes.CDLL(path), path
            except OSError as e:
                tried.append(f"{path}: {e}")
        else:
            tried.append(f"{path}: not found")
    try:
        return ctypes.CDLL(SONAME), SONAME
    except OSError as e:
        tried.append(f"{SONAME} through the dynamic loader: {e}")
    raise ImportError(
        "pidkit: cannot find " + SONAME + " (build it with `make lib`, install it with "
        "`make install` and run ldconfig, or set PIDKIT_LIBRARY to its path); tried:\n  "
        + "\n  ".join(tried)
    )


def declare(lib: ctypes.CDLL) -> List[str]:
    """Sets restype/argtypes on every function; returns the names declared."""
    declared: List[str] = []
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            if name in OPTIONAL:
                continue
            raise ImportError(f"pidkit: {lib._name} lacks {name}: is it an older libpidkit?") from None
        fn.restype = restype
        fn.argtypes = argtypes
        declared.append(name)
    return declared


lib, library_path = load()
DECLARED = declare(lib)

# pidkit_detach forks inside the call. Through a PyDLL handle it runs with
# the GIL held, as os.fork calls fork(): no other thread can be inside the
# interpreter when the process is copied, and the daemon's
# PyOS_AfterFork_Child starts from a consistent interpreter state.
pylib = ctypes.PyDLL(lib._name, handle=lib._handle)
detach_with_gil = pylib.pidkit_detach
detach_with_gil.restype, detach_with_gil.argtypes = PROTOTYPES["pidkit_detach"]

# The interpreter's own fork hooks (what os.fork runs around fork()).
_api = ctypes.pythonapi
before_fork = _api.PyOS_BeforeFork
after_fork_child = _api.PyOS_AfterFork_Child
after_fork_parent = _api.PyOS_AfterFork_Parent
for _fn in (before_fork, after_fork_child, after_fork_parent):
    _fn.restype = None
    _fn.argtypes = []
