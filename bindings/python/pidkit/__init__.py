"""pidkit from Python: pidfiles, detaching into a new session, spawning into a
new session, process-id queries, and process handles (``Process``, psutil's
names), listings (``processes``) and whole-session kills
(``kill_processes``), through libpidkit's C ABI (ctypes; no compiler
needed, Python standard library only; typed).

    import pidkit

    with pidkit.PidFile("/run/food.pid"):       # PidFileHeldError if running
        serve()

    print(pidkit.getsid(4242))                  # ProcessLookupError if gone

Finding the library
-------------------
In this order: the path in ``$PIDKIT_LIBRARY``; a ``libpidkit.so.0`` next to
this package; ``build/libpidkit.so.0`` of the checkout when the package is
run from one (``bindings/python/pidkit`` -> ``build/``); the dynamic loader's
search path (``make install`` + ``ldconfig``). ``pidkit.library_path`` tells
which one was loaded.

Errors
------
Every failing call raises an ``OSError`` subclass, never returns a sentinel:
``.errno`` and ``.strerror`` are the standard ones, ``.message`` (and
``str(e)``) is the library's ``pidkit_last_error()``, e.g. "pidfile
/run/food.pid is held by pid 4242". The class is what ``OSError(errno, ...)``
would pick (``ProcessLookupError`` for ESRCH, ``FileNotFoundError`` for
ENOENT, ``PermissionError`` for EPERM, ...), also a ``pidkit.Error``.
``PidFileHeldError`` (a ``FileExistsError``) and ``PidFileTimeoutError`` (a
``TimeoutError``) carry ``.holder``, the pid in the held file (0 when the
holder has not written it yet). Path arguments accept str, bytes and
``os.PathLike``; results that are paths or names are str (undecodable
bytes as surrogate escapes, as ``os.fsdecode`` does).

PidFile and the ``pid`` library
-------------------------------
``pidkit.pid`` is a drop-in for the ``pid`` package (3.0.4): pid's names,
arguments and exceptions on this PidFile (``from pidkit.pid import
PidFile``; see ``help(pidkit.pid)`` for where it differs). ``PidFile`` keeps the names of the ``pid`` package's ``PidFile`` where they
mean the same: a context manager whose ``__enter__`` returns the object,
``create()``/``close()`` (aliases of ``acquire()``/``release()``), ``.pid``,
``.filename``, ``.chmod`` (alias of ``.mode``), and ``PidFileAlreadyLockedError``
/ ``PidFileAlreadyRunningError`` (aliases of ``PidFileHeldError``). Where
pidkit differs, it is stricter:

- The path is explicit: no ``pidname``/``piddir``/``force_tmpdir`` guessing.
- Who holds the file is decided by its ``flock`` alone, never by whether the
  pid written in it is alive: a stale file naming a recycled, live pid is
  taken over (``pid`` raises ``PidFileAlreadyRunningError`` there).
- A symbolic link is refused (``ELOOP``), so is anything but a regular file
  (``EINVAL``); ``strict=True`` refuses files or directories others can
  write (``EPERM``).
- No SIGTERM handler and no ``atexit`` hook are installed: when the owner
  dies the kernel drops the lock, the stale file is harmless and taken over
  by the next start. ``release()`` (or leaving the ``with`` block) removes it.
- ``check()`` returns the holder's pid or None instead of ``PID_CHECK_*``
  strings, and never raises because someone holds the file.
- ``release()`` in a forked child (``os.fork``) only closes the child's copy:
  it never unlocks or removes the parent's file. ``write()`` makes the
  calling process the owner (e.g. a forked child taking over).
- No ``allow_samepid``, ``uid``/``gid`` (use ``os.chown(pf.filename, ...)``)
  or decorator here: ``pidkit.pid`` has them.

detach and the interpreter
--------------------------
``detach()`` forks the interpreter inside C (fork, setsid, fork). It runs the
interpreter's fork protocol around the call as ``os.fork`` does:
``os.register_at_fork`` *before* hooks, then *after_in_child* in the daemon
(the grandchild; the intermediate process never returns to Python) or
*after_in_parent* in the original, so ``threading``, ``logging`` locks and
``random`` behave in the daemon. The call holds the GIL across the fork.
As daemon(7) asks, the daemon starts with every descriptor closed but 0, 1,
2 (``/dev/null`` or the given files) and ``keep_fds``: open Python file
objects, sockets and logging handlers from before are dead there unless
their descriptors are kept (``keep_fds=[h.stream.fileno()]``). Signal
dispositions are reset, then Python's own are put back: SIGINT raises
KeyboardInterrupt, SIGPIPE and SIGXFSZ are ignored (as at interpreter start),
and handlers installed with ``signal.signal()`` to a Python function are
re-installed; other signals are at their default. With threads running,
detach raises ``OSError(EBUSY)`` unless ``allow_threads=True`` (then only the
calling thread lives on in the daemon, and the original's other threads
wait until the daemon reports). Python's stdout and stderr are flushed
before the fork.
"""

import ctypes
import dataclasses
import errno as _errno
import operator
import os
import signal as _signal
import struct as _struct
import sys
import time as _time
from typing import (Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Protocol,
                    Sequence, Tuple, Type, Union)

from . import _ffi

__all__ = [
    "PidFile", "check", "read", "kill",
    "getpid", "getppid", "gettid", "getsid", "getpgid", "alive", "setsid",
    "ProcInfo", "proc_info", "detach", "detach_ready", "spawn", "notify",
    "Process", "processes", "kill_processes", "MemoryInfo",
    "ProcessTimeoutError", "TimeoutExpired",
    "version", "last_error", "library_path",
    "Error", "PidkitError", "PidFileHeldError", "PidFileTimeoutError",
    "PidFileAlreadyLockedError", "PidFileAlreadyRunningError",
]

__version__ = "0.1.0"

# What the path arguments accept (os.fsencode's inputs).
StrPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class _HasFileno(Protocol):
    def fileno(self) -> int: ...

_lib = _ffi.lib
library_path = _ffi.library_path

# Flag bits, as in include/pidkit.h (tests/test_ffi.py compares them).
PIDFILE_NO_WRITE = 1 << 0
PIDFILE_WAIT = 1 << 1
PIDFILE_INHERIT = 1 << 2
PIDFILE_KEEP_FILE = 1 << 3
PIDFILE_STRICT = 1 << 4

DETACH_NO_WAIT = 1 << 0
DETACH_EXIT_PARENT = 1 << 1
DETACH_SINGLE_FORK = 1 << 2
DETACH_KEEP_CWD = 1 << 3
DETACH_KEEP_UMASK = 1 << 4
DETACH_KEEP_STDIO = 1 << 5
DETACH_KEEP_FDS = 1 << 6
DETACH_ALLOW_THREADS = 1 << 7
DETACH_KEEP_NOTIFY_SOCKET = 1 << 8

SPAWN_SEARCH_PATH = 1 << 0
SPAWN_KEEP_CWD = 1 << 1
SPAWN_INHERIT_STDIO = 1 << 2
SPAWN_NO_DOUBLE_FORK = 1 << 3
SPAWN_INHERIT_STDIN = 1 << 4
SPAWN_INHERIT_STDOUT = 1 << 5
SPAWN_INHERIT_STDERR = 1 << 6


# ---------------------------------------------------------------- errors

class PidkitError(OSError):
    """Base of every error pidkit raises. ``errno``/``strerror`` are the
    standard ones; ``message`` (also ``str(e)``) is pidkit_last_error()."""

    message = ""

    def __str__(self) -> str:
        return self.message or super().__str__()


Error = PidkitError


class PidFileHeldError(PidkitError, FileExistsError):
    """Another live process holds the pidfile; ``holder`` is the pid in it
    (0 if it has not written one yet)."""

    holder: Optional[int] = None


class PidFileTimeoutError(PidkitError, TimeoutError):
    """``PidFile(wait=True, timeout=...)`` ran out of time; ``holder`` as for
    PidFileHeldError."""

    holder: Optional[int] = None


# Names of the `pid` package, for code moving over.
PidFileAlreadyLockedError = PidFileHeldError
PidFileAlreadyRunningError = PidFileHeldError

_classes: Dict[Type[OSError], Type[PidkitError]] = {}


def _class_for(err: int) -> Type[PidkitError]:
    """PidkitError combined with the OSError subclass OSError(err, ...) picks."""
    base = type(OSError(err, ""))
    if base is OSError:
        return PidkitError
    cls = _classes.get(base)
    if cls is None:
        cls = type(base.__name__, (PidkitError, base), {"__module__": __name__})
        _classes[base] = cls
    return cls


def last_error() -> str:
    """This thread's last pidkit_last_error() message ("" if none)."""
    msg: bytes = _lib.pidkit_last_error()
    return msg.decode("utf-8", "backslashreplace")


def _error(err: int, message: Optional[str] = None, filename: Optional[StrPath] = None,
           cls: Optional[Type[PidkitError]] = None, **attrs: Any) -> PidkitError:
    if message is None:
        message = last_error()
    exc = (cls or _class_for(err))(err, os.strerror(err))
    exc.message = message or os.strerror(err)
    if filename is not None:
        exc.filename = filename
    for k, v in attrs.items():
        setattr(exc, k, v)
    return exc


def _check(r: int, filename: Optional[StrPath] = None) -> int:
    if r < 0:
        raise _error(-r, filename=filename)
    return r


def _path(p: StrPath, what: str = "path") -> bytes:
    """str/bytes/PathLike -> bytes for a `const char *` (no embedded NUL)."""
    b = os.fsencode(p)
    if b"\0" in b:
        raise ValueError(f"{what}: embedded null byte")
    return b


def _opt_path(p: Optional[StrPath], what: str) -> Optional[bytes]:
    return None if p is None else _path(p, what)


def _fd(x: Union[int, "_HasFileno"]) -> int:
    fd = x if isinstance(x, int) else x.fileno()
    if not isinstance(fd, int) or fd < 0:
        raise ValueError(f"not a file descriptor: {x!r}")
    return fd


# ---------------------------------------------------------------- ids

def version() -> str:
    """The C library's version, "MAJOR.MINOR.PATCH"."""
    v: bytes = _lib.pidkit_version()
    return v.decode()


def getpid() -> int:
    """The caller's process id."""
    return int(_lib.pidkit_getpid())


def getppid() -> int:
    """The caller's parent process id."""
    return int(_lib.pidkit_getppid())


def gettid() -> int:
    """The calling thread's id (threading.get_native_id())."""
    return int(_lib.pidkit_gettid())


def _c_int(value: int, what: str, lo: int = -(2**31), hi: int = 2**31 - 1) -> int:
    """value as an int that fits the C parameter it goes to: ctypes would
    silently keep only the low bits (2**32 + pid would name pid)."""
    v = operator.index(value)
    if not lo <= v <= hi:
        raise OverflowError(f"{what} {v} is out of range ({lo}..{hi})")
    return v


def getsid(pid: int = 0) -> int:
    """Session id of pid (0 = the caller). ProcessLookupError if it does not exist."""
    return _check(_lib.pidkit_getsid(_c_int(pid, "pid")))


def getpgid(pid: int = 0) -> int:
    """Process group id of pid (0 = the caller). ProcessLookupError if it does not exist."""
    return _check(_lib.pidkit_getpgid(_c_int(pid, "pid")))


def alive(pid: int) -> bool:
    """True if a process with that pid exists (a zombie, or one we may not
    signal, counts). A pid is no identity: see ProcInfo.start_time."""
    return bool(_check(_lib.pidkit_alive(_c_int(pid, "pid"))))


def setsid() -> int:
    """Make the caller leader of a new session; returns the new session id.
    PermissionError if it already leads a process group."""
    return _check(_lib.pidkit_setsid())


@dataclasses.dataclass(frozen=True)
class ProcInfo:
    """One row of ``ps -o comm,pid,ppid,pgid,sid`` and more (/proc/PID/stat)."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    tpgid: int          # foreground group of its terminal, -1 none
    tty_nr: int         # 0 = no controlling terminal
    state: str          # 'R', 'S', 'D', 'Z', 'T', ...
    uid: int            # real uid
    num_threads: int
    start_time: int     # clock ticks after boot: with pid, a process's identity
    utime: int          # clock ticks (os.sysconf("SC_CLK_TCK") per second)
    stime: int
    rss_bytes: int
    vsize_bytes: int
    comm: str


# pidkit_proc_info as the struct module reads it: the rows of one listing
# are unpacked by one C loop instead of 15 ctypes attribute reads each.
_ROW = _struct.Struct("@I6icIIQQQQQ32s")
assert _ROW.size == ctypes.sizeof(_ffi.ProcInfo), "pidkit_proc_info layout"
_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(ProcInfo))


def proc_info(pid: int = 0) -> ProcInfo:
    """ProcInfo of pid (0 = the caller); ProcessLookupError if it does not exist."""
    info = _ffi.ProcInfo()
    info.size = ctypes.sizeof(info)
    _check(_lib.pidkit_proc_info_get(_c_int(pid, "pid"), ctypes.byref(info)))
    return _info_of(info)


def _info_of(info: _ffi.ProcInfo) -> ProcInfo:
    """The dataclass of one ctypes row (see _rows)."""
    (_size, pid, ppid, pgid, sid, tpgid, tty_nr, state, uid, nlwp, start, utime, stime, rss, vsz,
     comm) = _ROW.unpack_from(info)
    row: ProcInfo = object.__new__(ProcInfo)
    row.__dict__.update(zip(_ROW_FIELDS, (
        pid, ppid, pgid, sid, tpgid, tty_nr, state.decode("ascii", "replace"), uid, nlwp, start,
        utime, stime, rss, vsz, comm.split(b"\0", 1)[0].decode("utf-8", "surrogateescape"))))
    return row


# ---------------------------------------------------------------- pidfiles

def check(path: StrPath) -> Optional[int]:
    """The pid of the live process holding the pidfile (0 if it has not
    written it yet), or None if it is not held (absent or stale). Changes
    nothing on disk."""
    b = _path(path)
    holder = _ffi.pid_t(0)
    r = _check(_lib.pidkit_pidfile_check(b, ctypes.byref(holder)), path)
    return int(holder.value) if r == 1 else None


def read(path: StrPath) -> int:
    """The pid written in the pidfile, held or not. FileNotFoundError;
    OSError(EBADMSG) when it does not hold one decimal pid."""
    b = _path(path)
    pid = _ffi.pid_t(0)
    _check(_lib.pidkit_pidfile_read(b, ctypes.byref(pid)), path)
    return int(pid.value)


def kill(path: StrPath, sig: int = _signal.SIGTERM) -> int:
    """Signal the holder of the pidfile (through a pidfd: a recycled pid is
    never hit); returns its pid. ProcessLookupError when nobody holds it.
    sig 0 only checks."""
    b = _path(path)
    holder = _ffi.pid_t(0)
    _check(_lib.pidkit_pidfile_kill(b, _c_int(sig, "signal"), ctypes.byref(holder)), path)
    return int(holder.value)


class PidFile:
    """An exclusive, flock-held pidfile: a single-instance lock.

    ``PidFile(path, wait=False, timeout=None, write=True, inherit=False,
    keep_file=False, strict=False, mode=0o644)``

    - ``wait``: wait for the holder to go instead of raising
      PidFileHeldError; ``timeout`` seconds at most (None = forever), then
      PidFileTimeoutError. A ``timeout`` implies ``wait``. The wait happens
      in C without the GIL.
    - ``write=False``: lock only; write the pid later with ``write()``.
    - ``inherit``: keep the lock across exec (no O_CLOEXEC).
    - ``keep_file``: ``release()`` unlocks but does not remove the file.
    - ``strict``: refuse (PermissionError) a file others can write or own,
      or a parent directory anyone can write without the sticky bit.
    - ``mode``: permissions of a new file (the umask applies).

    ``with PidFile(p) as pf:`` acquires and releases; so do
    ``acquire()``/``release()`` (``create()``/``close()``). ``pid`` is the
    owner's pid once acquired (None before), ``fileno()`` the locked
    descriptor. A relative path is resolved when acquiring; the handle
    keeps referring to that file whatever the working directory later.
    """

    def __init__(self, path: StrPath, wait: bool = False, timeout: Optional[float] = None,
                 write: bool = True, inherit: bool = False, keep_file: bool = False,
                 strict: bool = False, mode: int = 0o644) -> None:
        self._bpath = _path(path, "pidfile path")
        self.filename: Union[str, bytes] = os.fspath(path)
        if timeout is not None:
            if timeout < 0:
                raise ValueError("timeout must be >= 0 seconds or None")
            wait = True
        self.wait = wait
        self.timeout = timeout
        self.mode = _c_int(mode, "mode", 0, 2**32 - 1)
        self._flags = ((PIDFILE_WAIT if wait else 0) | (0 if write else PIDFILE_NO_WRITE)
                       | (PIDFILE_INHERIT if inherit else 0)
                       | (PIDFILE_KEEP_FILE if keep_file else 0)
                       | (PIDFILE_STRICT if strict else 0))
        self._handle: Optional[int] = None
        self.pid: Optional[int] = None

    @property
    def chmod(self) -> int:
        """The `pid` package's name for `mode`."""
        return self.mode

    @property
    def acquired(self) -> bool:
        """True between acquire() and release()."""
        return self._handle is not None

    def acquire(self) -> "PidFile":
        """Take the pidfile; returns self. PidFileHeldError if another live
        process holds it (``.holder``), PidFileTimeoutError after waiting,
        OSError(ELOOP) for a symbolic link, other OSError from the system."""
        if self._handle is not None:
            raise RuntimeError(f"pidfile {self.filename!r} is already acquired by this PidFile")
        opts = _ffi.PidfileOpts(ctypes.sizeof(_ffi.PidfileOpts), self._flags, self.mode, 0)
        if self.wait:
            opts.timeout_ms = -1 if self.timeout is None else min(int(self.timeout * 1000), 2**31 - 1)
        handle = _ffi.Handle()
        holder = _ffi.pid_t(0)
        r = _lib.pidkit_pidfile_acquire(self._bpath, ctypes.byref(opts), ctypes.byref(handle),
                                        ctypes.byref(holder))
        if r == -_errno.EEXIST:
            raise _error(_errno.EEXIST, filename=self.filename, cls=PidFileHeldError, holder=holder.value)
        if r == -_errno.ETIMEDOUT:
            raise _error(_errno.ETIMEDOUT, filename=self.filename, cls=PidFileTimeoutError,
                         holder=holder.value)
        _check(r, self.filename)
        self._handle = handle.value
        self.pid = os.getpid() if not self._flags & PIDFILE_NO_WRITE else None
        return self

    def write(self) -> None:
        """(Re)write the calling process's pid and make it the owner (the one
        whose release removes the file), e.g. in a forked child."""
        _check(_lib.pidkit_pidfile_write(self._live()), self.filename)
        self.pid = os.getpid()

    def fileno(self) -> int:
        """The locked descriptor (owned by the PidFile: do not close it)."""
        return _check(_lib.pidkit_pidfile_fd(self._live()))

    def release(self) -> None:
        """Remove the file (if this process owns it and the path still names
        it), unlock and close. Only closes in a process that is not the
        owner. Does nothing when not acquired."""
        handle, self._handle = self._handle, None
        if handle is not None:
            _check(_lib.pidkit_pidfile_release(handle), self.filename)

    create = acquire
    close = release

    def check(self) -> Optional[int]:
        """Module-level check() of this path: holder pid or None."""
        return check(self._bpath)

    def _live(self) -> int:
        if self._handle is None:
            raise ValueError(f"pidfile {self.filename!r} is not acquired")
        return self._handle

    def __enter__(self) -> "PidFile":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        # A dropped PidFile must not leak its descriptor (and lock) for the
        # life of the process; at interpreter shutdown _lib may be gone.
        try:
            if self._handle is not None:
                self.release()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = f"held, pid {self.pid}" if self._handle is not None else "not held"
        return f"<pidkit.PidFile {self.filename!r} {state}>"


# ---------------------------------------------------------------- detach

def _restore_python_signals() -> None:
    """After the library reset every disposition to SIG_DFL: put back what
    the interpreter itself set up, so signal.getsignal() tells the truth."""
    for sig in _signal.valid_signals():
        try:
            handler = _signal.getsignal(sig)
        except (ValueError, OSError):
            continue
        if handler is None or handler == _signal.SIG_DFL:
            continue
        try:
            if handler == _signal.SIG_IGN and sig not in _PYTHON_IGNORED:
                _signal.signal(sig, _signal.SIG_DFL)
            else:
                _signal.signal(sig, handler)
        except (ValueError, OSError, RuntimeError):
            pass


_PYTHON_IGNORED = {getattr(_signal, n) for n in ("SIGPIPE", "SIGXFSZ") if hasattr(_signal, n)}


def detach(workdir: Optional[StrPath] = None, umask: int = 0, stdin: Optional[StrPath] = None,
           stdout: Optional[StrPath] = None, stderr: Optional[StrPath] = None,
           keep_fds: Iterable[Union[int, "_HasFileno"]] = (), pidfile: Optional[PidFile] = None,
           no_wait: bool = False, exit_parent: bool = False, single_fork: bool = False,
           keep_cwd: bool = False, keep_umask: bool = False, keep_stdio: bool = False,
           keep_fds_all: bool = False, allow_threads: bool = False,
           keep_notify_socket: bool = False) -> int:
    """Become a daemon (daemon(7)): returns 0 in the daemon, the daemon's
    pid in the original process once the daemon called detach_ready() (at
    once with ``no_wait``), or raises there: the error the daemon reported,
    ChildProcessError (ECHILD) if it died first, or why detaching failed.

    workdir (default "/"), umask (default 0), stdin/stdout/stderr paths
    (default /dev/null; output files are appended to), keep_fds (ints or
    objects with fileno()), pidfile (an acquired PidFile: the daemon's pid
    is written into it and the daemon owns it; the original's copy only
    closes on release). Flags as in the C API: no_wait, exit_parent (the
    original exits inside the call: 0 if the daemon reported ready, else 1),
    single_fork (the daemon leads its session and stays the original's
    child: reap it), keep_cwd, keep_umask, keep_stdio, keep_fds_all (close
    nothing), allow_threads, keep_notify_socket. See the package docstring
    for what happens to the interpreter.

    A PidFile acquired before and not passed as ``pidfile`` loses its
    descriptor in the daemon (unless kept): release it before detaching.
    """
    flags = ((DETACH_NO_WAIT if no_wait else 0) | (DETACH_EXIT_PARENT if exit_parent else 0)
             | (DETACH_SINGLE_FORK if single_fork else 0) | (DETACH_KEEP_CWD if keep_cwd else 0)
             | (DETACH_KEEP_UMASK if keep_umask else 0) | (DETACH_KEEP_STDIO if keep_stdio else 0)
             | (DETACH_KEEP_FDS if keep_fds_all else 0)
             | (DETACH_ALLOW_THREADS if allow_threads else 0)
             | (DETACH_KEEP_NOTIFY_SOCKET if keep_notify_socket else 0))
    keep = [_fd(x) for x in keep_fds]
    keep_arr = (ctypes.c_int * max(len(keep), 1))(*keep)
    opts = _ffi.DetachOpts()
    opts.size = ctypes.sizeof(opts)
    opts.flags = flags
    opts.workdir = _opt_path(workdir, "workdir")
    opts.umask = umask
    opts.stdin_path = _opt_path(stdin, "stdin")
    opts.stdout_path = _opt_path(stdout, "stdout")
    opts.stderr_path = _opt_path(stderr, "stderr")
    opts.keep_fds = keep_arr if keep else None
    opts.n_keep_fds = len(keep)
    if pidfile is not None:
        opts.pidfile = pidfile._live()

    # Buffered output would be written twice (or, with exit_parent, lost).
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass

    _ffi.before_fork()
    pid: int = _ffi.detach_with_gil(ctypes.byref(opts))
    if pid == 0:
        # The daemon (the intermediate process never gets back here).
        _ffi.after_fork_child()
        _restore_python_signals()
        if pidfile is not None:
            pidfile.pid = os.getpid()
        return 0
    message = last_error() if pid < 0 else None   # before any hook can call pidkit
    _ffi.after_fork_parent()
    if pid < 0:
        raise _error(-pid, message)
    if pidfile is not None:
        pidfile.pid = pid
    return pid


def detach_ready(status: Union[int, OSError] = 0) -> None:
    """In the daemon: tell the original process waiting in detach() that the
    daemon is ready (0) or failed: an errno number (either sign) or an
    OSError, which detach() raises there. Once; OSError(EALREADY) after."""
    if isinstance(status, OSError):
        status = status.errno or _errno.EIO
    status = _c_int(int(status), "status")
    _check(_lib.pidkit_detach_ready(-abs(status)))


# ---------------------------------------------------------------- spawn

def spawn(argv: Union[StrPath, Sequence[StrPath]], env: Optional[Mapping[StrPath, StrPath]] = None,
          workdir: Optional[StrPath] = None, stdin: Optional[StrPath] = None,
          stdout: Optional[StrPath] = None, stderr: Optional[StrPath] = None,
          pidfile: Optional[StrPath] = None, search_path: bool = True, keep_cwd: bool = False,
          inherit_stdio: bool = False, no_double_fork: bool = False) -> int:
    """Start a program in a new session it leads; returns its pid once its
    exec succeeded (FileNotFoundError, PermissionError, ... if it failed).

    argv: a sequence of str/bytes/PathLike (argv[0] looked up in PATH unless
    ``search_path=False``); env: a mapping (None = inherit); workdir
    (default "/"); stdin/stdout/stderr paths (default /dev/null, output
    appended); pidfile: a path the program holds from its first instruction
    (PidFileHeldError when held). By default it is no child of the caller
    (double fork); with ``no_double_fork`` it is, and the caller reaps it
    with os.waitpid.
    """
    if isinstance(argv, (str, bytes, os.PathLike)):
        argv = [argv]
    args = [_path(a, "argv") for a in argv]
    if not args:
        raise ValueError("spawn: argv is empty")
    c_argv = (ctypes.c_char_p * (len(args) + 1))(*args, None)
    c_env = None
    if env is not None:
        entries = []
        for k, v in env.items():
            k, v = _path(k, "env name"), _path(v, "env value")
            if not k or b"=" in k:
                raise ValueError(f"spawn: invalid environment variable name {k!r}")
            entries.append(k + b"=" + v)
        c_env = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
    opts = _ffi.SpawnOpts()
    opts.size = ctypes.sizeof(opts)
    opts.flags = ((SPAWN_SEARCH_PATH if search_path else 0) | (SPAWN_KEEP_CWD if keep_cwd else 0)
                  | (SPAWN_INHERIT_STDIO if inherit_stdio else 0)
                  | (SPAWN_NO_DOUBLE_FORK if no_double_fork else 0))
    opts.workdir = _opt_path(workdir, "workdir")
    opts.stdin_path = _opt_path(stdin, "stdin")
    opts.stdout_path = _opt_path(stdout, "stdout")
    opts.stderr_path = _opt_path(stderr, "stderr")
    opts.pidfile = _opt_path(pidfile, "pidfile")
    # The holder comes back from the same call: a check() afterwards would
    # race with the holder's exit (None, or an error hiding the -EEXIST).
    holder = _ffi.pid_t(-1)
    opts.holder = ctypes.pointer(holder)
    pid = _lib.pidkit_spawn(c_argv, c_env, ctypes.byref(opts))
    if pid == -_errno.EEXIST and pidfile is not None:
        raise _error(_errno.EEXIST, last_error(), filename=pidfile, cls=PidFileHeldError,
                     holder=holder.value if holder.value >= 0 else None)
    return _check(pid, argv[0])


# ---------------------------------------------------------------- processes

PROC_MATCH_SID = _ffi.PROC_MATCH_SID
PROC_MATCH_PGID = _ffi.PROC_MATCH_PGID
PROC_MATCH_PPID = _ffi.PROC_MATCH_PPID
PROC_MATCH_DESCENDANTS = _ffi.PROC_MATCH_DESCENDANTS
PROC_MATCH_UID = _ffi.PROC_MATCH_UID
PROC_NO_UID = _ffi.PROC_NO_UID
KILL_WAIT = _ffi.KILL_WAIT

# psutil's status strings (psutil.STATUS_*), by /proc/PID/stat state letter.
STATUS_RUNNING = "running"
STATUS_SLEEPING = "sleeping"
STATUS_DISK_SLEEP = "disk-sleep"
STATUS_STOPPED = "stopped"
STATUS_TRACING_STOP = "tracing-stop"
STATUS_ZOMBIE = "zombie"
STATUS_DEAD = "dead"
STATUS_WAKE_KILL = "wake-kill"
STATUS_WAKING = "waking"
STATUS_IDLE = "idle"
STATUS_PARKED = "parked"
_STATUSES = {
    "R": STATUS_RUNNING, "S": STATUS_SLEEPING, "D": STATUS_DISK_SLEEP, "T": STATUS_STOPPED,
    "t": STATUS_TRACING_STOP, "Z": STATUS_ZOMBIE, "X": STATUS_DEAD, "x": STATUS_DEAD,
    "K": STATUS_WAKE_KILL, "W": STATUS_WAKING, "I": STATUS_IDLE, "P": STATUS_PARKED,
}

_CLK_TCK = os.sysconf("SC_CLK_TCK")
# A wait without a deadline still returns to the interpreter this often, so
# that Ctrl-C (KeyboardInterrupt) and other Python signal handlers run.
_WAIT_SLICE_MS = 200


class ProcessTimeoutError(PidkitError, TimeoutError):
    """``Process.wait(timeout)`` or ``kill_processes(timeout=...)`` ran out of
    time. ``pid`` (wait) and ``timeout`` say what was waited for; after
    kill_processes, ``signalled`` and ``alive`` count the processes signalled
    and still running."""

    pid: Optional[int] = None
    timeout: Optional[float] = None
    signalled: int = 0
    alive: int = 0


# psutil's name, for code moving over.
TimeoutExpired = ProcessTimeoutError


class MemoryInfo(NamedTuple):
    """``Process.memory_info()``: bytes, as psutil's ``rss`` and ``vms``."""

    rss: int
    vms: int


def _timeout_ms(timeout: Optional[float], what: str = "timeout") -> int:
    """Seconds (None = forever) as the C timeout_ms (-1 = forever)."""
    if timeout is None:
        return -1
    t = float(timeout)
    if not t >= 0:          # also NaN
        raise ValueError(f"{what} must be >= 0 seconds or None, not {timeout!r}")
    return min(int(-(-t * 1000 // 1)), 2**31 - 1)


def _exit_code(status: int) -> int:
    """A waitpid(2) status as subprocess reports it: the exit status, or the
    negative number of the signal that killed the process."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return status


class Process:
    """One process, pinned: ``Process(pid=0)`` (0 = the caller) opens a
    handle (a pidfd) on it, so no method ever acts on another process that
    got the pid after this one was reaped: they raise ProcessLookupError
    instead. A zombie can be opened. psutil.Process's names where they mean
    the same (``pid``, ``name()``, ``status()``, ``cpu_percent()``,
    ``memory_info()``, ``is_running()``, ``send_signal()``, ``terminate()``,
    ``kill()``, ``wait()``), so a psutil-style monitoring loop runs with
    ``pidkit.Process`` in its place.

    A context manager: leaving the ``with`` block closes the handle (never
    signals, waits or reaps); so does ``close()``.
    """

    def __init__(self, pid: int = 0) -> None:
        self._handle: Optional[int] = None
        handle = _ffi.Handle()
        pid = _c_int(pid, "pid")
        _check(_lib.pidkit_proc_open(pid, ctypes.byref(handle)))
        self._adopt(handle, pid)

    @classmethod
    def from_pidfd(cls, pidfd: Union[int, _HasFileno]) -> "Process":
        """A Process from a pidfd the caller has (os.pidfd_open, SCM_RIGHTS):
        the Process keeps its own duplicate; the caller's stays the caller's."""
        self = cls.__new__(cls)
        self._handle = None
        handle = _ffi.Handle()
        _check(_lib.pidkit_proc_open_pidfd(_fd(pidfd), ctypes.byref(handle)))
        self._adopt(handle)
        return self

    def _adopt(self, handle: "ctypes.c_void_p", pid: int = 0) -> None:
        self._handle = handle.value
        self._pid = pid if pid > 0 else int(_lib.pidkit_proc_pid(self._handle))
        self._returncode: Optional[int] = None
        self._cpu_last: Optional[Tuple[float, float]] = None

    def _live(self) -> int:
        if self._handle is None:
            raise ValueError(f"pidkit.Process {self._pid}: handle is closed")
        return self._handle

    @property
    def pid(self) -> int:
        """The process id (as it was when opened)."""
        return self._pid

    def fileno(self) -> int:
        """Its pidfd, owned by the Process (do not close it): select/poll
        report it readable once the process has exited. OSError(ENOSYS)
        where the kernel has no pidfds."""
        return _check(_lib.pidkit_proc_fd(self._live()))

    def info(self) -> ProcInfo:
        """Its ProcInfo now (a zombie's too); ProcessLookupError once reaped."""
        row = _ffi.ProcInfo()
        row.size = ctypes.sizeof(row)
        _check(_lib.pidkit_proc_query(self._live(), ctypes.byref(row)))
        return _info_of(row)

    def send_signal(self, sig: int) -> None:
        """Send sig (0 only checks). ProcessLookupError once the process has
        been reaped, even if its pid names another process by now."""
        _check(_lib.pidkit_proc_signal(self._live(), _c_int(sig, "signal")))

    def terminate(self) -> None:
        """send_signal(SIGTERM)."""
        self.send_signal(_signal.SIGTERM)

    def kill(self) -> None:
        """send_signal(SIGKILL)."""
        self.send_signal(_signal.SIGKILL)

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        """Wait until the process has exited: any process, not only our
        children (a pidfd poll, no polling loop). For the caller's own child
        this reaps it and returns its exit code as ``subprocess`` reports it
        (negative signal number when a signal killed it), the same code on
        every later call; for any other process None. ProcessTimeoutError
        (a TimeoutError and a pidkit.Error) after ``timeout`` seconds.
        The wait runs without the GIL; Ctrl-C interrupts it."""
        if self._returncode is not None:
            return self._returncode
        handle = self._live()
        status = ctypes.c_int(-1)
        deadline = None if timeout is None else _time.monotonic() + _timeout_ms(timeout) / 1000
        while True:
            if deadline is None:
                slice_ms = _WAIT_SLICE_MS
            else:
                slice_ms = min(_timeout_ms(max(deadline - _time.monotonic(), 0.0)), _WAIT_SLICE_MS)
            r = _lib.pidkit_proc_wait(handle, slice_ms, ctypes.byref(status))
            if r == 0:
                break
            if r != -_errno.ETIMEDOUT:
                raise _error(-r)
            if deadline is not None and _time.monotonic() >= deadline:
                raise _error(_errno.ETIMEDOUT, f"pid {self._pid} still running after {timeout} s",
                             cls=ProcessTimeoutError, pid=self._pid, timeout=timeout)
        if status.value == -1:
            return None
        self._returncode = _exit_code(status.value)
        return self._returncode

    def is_running(self) -> bool:
        """True until the process has been reaped, as psutil says (a zombie
        is "running"; status() tells it apart); never fooled by a recycled pid."""
        r = _lib.pidkit_proc_signal(self._live(), 0)
        if r == 0 or r == -_errno.EPERM:
            return True
        if r == -_errno.ESRCH:
            return False
        raise _error(-r)

    def name(self) -> str:
        """Its name, as psutil gives it: the comm, or, when that was cut to
        15 characters, the name of the program of its command line that it
        starts with."""
        comm = self.info().comm
        if len(comm) >= 15:
            try:
                with open(f"/proc/{self._pid}/cmdline", "rb") as f:
                    argv0 = f.read().split(b"\0", 1)[0]
                base = os.fsdecode(os.path.basename(argv0))
                if base.startswith(comm) and self.is_running():
                    return base
            except OSError:
                pass
        return comm

    def status(self) -> str:
        """psutil's status string: "running", "sleeping", "disk-sleep",
        "stopped", "tracing-stop", "zombie", "dead", "idle", ... ("?" for a
        state letter it does not know)."""
        return _STATUSES.get(self.info().state, "?")

    def ppid(self) -> int:
        """Its parent's pid now."""
        return self.info().ppid

    def memory_info(self) -> MemoryInfo:
        """Resident (``rss``) and virtual (``vms``) memory in bytes, as psutil."""
        i = self.info()
        return MemoryInfo(rss=i.rss_bytes, vms=i.vsize_bytes)

    def cpu_times_total(self) -> float:
        """User + system CPU seconds it has used so far."""
        i = self.info()
        return (i.utime + i.stime) / _CLK_TCK

    def cpu_percent(self, interval: Optional[float] = None) -> float:
        """CPU use in percent of one CPU (may exceed 100 with threads), as
        psutil: with ``interval`` > 0, measured over that many seconds
        (blocking); with None or 0.0, since the previous call (the first
        call returns 0.0, a meaningless value to be ignored)."""
        if interval is not None and not interval >= 0:
            raise ValueError(f"interval must be >= 0 or None, not {interval!r}")
        if interval:
            before = (_time.monotonic(), self.cpu_times_total())
            _time.sleep(interval)
        else:
            before = self._cpu_last if self._cpu_last is not None else (0.0, 0.0)
        now = (_time.monotonic(), self.cpu_times_total())
        first = not interval and self._cpu_last is None
        self._cpu_last = now
        elapsed = now[0] - before[0]
        if first or elapsed <= 0:
            return 0.0
        return round(max(now[1] - before[1], 0.0) / elapsed * 100, 1)

    def close(self) -> None:
        """Free the handle (never signals, waits or reaps). Idempotent."""
        handle, self._handle = self._handle, None
        if handle is not None:
            _check(_lib.pidkit_proc_close(handle))

    def __enter__(self) -> "Process":
        self._live()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if getattr(self, "_handle", None) is not None:
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        return f"<pidkit.Process pid={self._pid} {state}>"


def _filter(session: Optional[int], pgid: Optional[int], ppid: Optional[int],
            descendants_of: Optional[int], uid: Optional[Union[int, str]]) -> Optional[_ffi.ProcFilter]:
    """The C filter, or None when no criterion is given. Ids must be > 0
    (the library refuses 0 and negative ids: 0 never means "mine")."""
    f = _ffi.ProcFilter()
    f.size = ctypes.sizeof(f)
    if session is not None:
        f.flags |= PROC_MATCH_SID
        f.sid = _c_int(session, "session")
    if pgid is not None:
        f.flags |= PROC_MATCH_PGID
        f.pgid = _c_int(pgid, "pgid")
    if ppid is not None:
        f.flags |= PROC_MATCH_PPID
        f.ppid = _c_int(ppid, "ppid")
    if descendants_of is not None:
        f.flags |= PROC_MATCH_DESCENDANTS
        f.ancestor = _c_int(descendants_of, "descendants_of")
    if uid is not None:
        if isinstance(uid, str):
            import pwd
            try:
                uid = pwd.getpwnam(uid).pw_uid
            except KeyError:
                raise ValueError(f"no such user: {uid!r}") from None
        f.flags |= PROC_MATCH_UID
        f.uid = _c_int(uid, "uid", 0, 2**32 - 2)
    return f if f.flags else None


_list_capacity = 1024   # grows to what a listing needed (+ 1/4)


def _rows(data: Union[bytes, memoryview]) -> List[ProcInfo]:
    """ProcInfo objects of the pidkit_proc_info rows in data. A frozen
    dataclass's __init__ sets each field through object.__setattr__; filling
    the instance dict at once is several times faster, and the same object."""
    new = object.__new__
    names = _ROW_FIELDS
    out = []
    for (_size, pid, ppid, pgid, sid, tpgid, tty_nr, state, uid, nlwp, start, utime, stime, rss, vsz,
         comm) in _ROW.iter_unpack(data):
        row = new(ProcInfo)
        row.__dict__.update(zip(names, (
            pid, ppid, pgid, sid, tpgid, tty_nr, state.decode("ascii", "replace"), uid, nlwp, start,
            utime, stime, rss, vsz, comm.split(b"\0", 1)[0].decode("utf-8", "surrogateescape"))))
        out.append(row)
    return out


def processes(session: Optional[int] = None, pgid: Optional[int] = None, ppid: Optional[int] = None,
              descendants_of: Optional[int] = None,
              uid: Optional[Union[int, str]] = None, with_uid: bool = True) -> List[ProcInfo]:
    """The processes matching every criterion given (none: every process,
    kernel threads included, as ``ps -e``), in ascending pid order, from one
    read of /proc in one C call: ``session`` (a session id: for "mine" pass
    os.getsid(0)), ``pgid``, ``ppid`` (children of), ``descendants_of`` (its
    children, their children, ...; not itself), ``uid`` (real uid, or a user
    name). Ids must be > 0 (OSError EINVAL otherwise). ``with_uid=False``
    skips reading each process's real uid (it is only in /proc/PID/status,
    which costs about as much as the rest of the listing): rows' ``uid`` is
    then 4294967295 (unless ``uid`` filters)."""
    global _list_capacity
    f = _filter(session, pgid, ppid, descendants_of, uid)
    if not with_uid:
        if f is None:
            f = _ffi.ProcFilter()
            f.size = ctypes.sizeof(f)
        f.flags |= PROC_NO_UID
    fp = None if f is None else ctypes.byref(f)
    size = ctypes.sizeof(_ffi.ProcInfo)
    n = _list_capacity
    while True:
        rows = (_ffi.ProcInfo * n)()
        r = _check(_lib.pidkit_proc_list(fp, rows, size, n))
        if r <= n:
            break
        n = r + r // 4 + 16   # more processes than room: grow and list again
        _list_capacity = min(max(_list_capacity, n), 1 << 22)
    return _rows(ctypes.string_at(rows, r * size))


def kill_processes(session: Optional[int] = None, pgid: Optional[int] = None,
                   ppid: Optional[int] = None, descendants_of: Optional[int] = None,
                   uid: Optional[Union[int, str]] = None, sig: int = _signal.SIGTERM,
                   timeout: Optional[float] = None, escalate: Optional[int] = None,
                   wait: bool = False) -> int:
    """Signal every process matching the criteria (as processes(); at least
    one is required: never every process), each through a pidfd opened after
    the scan and re-checked, so a recycled pid is never hit; a whole session,
    all its process groups (``kill -SIG -SID`` reaches only one). Members
    forked meanwhile are found by rescans; pid 1, the caller and kernel
    threads are never signalled. Returns how many processes were signalled
    (0: none matched). PermissionError when some matched but none could be
    signalled.

    ``timeout`` (seconds) waits until every signalled process has exited
    (``wait=True`` without a timeout waits forever); ProcessTimeoutError
    (``.signalled``, ``.alive``) if some still run then. ``escalate`` (a
    signal, with a timeout): sent to those still running when the timeout
    has passed, then waited for once more up to ``timeout``."""
    f = _filter(session, pgid, ppid, descendants_of, uid)
    if f is None:
        raise ValueError("kill_processes: give session, pgid, ppid, descendants_of or uid "
                         "(it never signals every process)")
    opts = _ffi.KillOpts()
    opts.size = ctypes.sizeof(opts)
    if timeout is not None or wait:
        opts.flags = KILL_WAIT
        opts.timeout_ms = _timeout_ms(timeout)
    if escalate is not None:
        if timeout is None:
            raise ValueError("kill_processes: escalate needs a timeout")
        opts.escalate_sig = _c_int(escalate, "escalate")
    result = _ffi.KillResult()
    result.size = ctypes.sizeof(result)
    r = _lib.pidkit_proc_kill(ctypes.byref(f), _c_int(sig, "signal"), ctypes.byref(opts),
                              ctypes.byref(result))
    if r == -_errno.ETIMEDOUT:
        raise _error(_errno.ETIMEDOUT, cls=ProcessTimeoutError, timeout=timeout,
                     signalled=int(result.signalled), alive=int(result.alive))
    return _check(r)


# ---------------------------------------------------------------- notify

def notify(state: Union[str, bytes]) -> bool:
    """Send ``state`` (e.g. "READY=1", "STATUS=...") to the service manager
    named by $NOTIFY_SOCKET, as sd_notify(3); True if sent, False if
    NOTIFY_SOCKET is not set. NotImplementedError with a library that
    predates pidkit_notify."""
    if "pidkit_notify" not in _ffi.DECLARED:
        raise NotImplementedError(f"{library_path} has no pidkit_notify")
    data = state.encode() if isinstance(state, str) else bytes(state)
    if b"\0" in data:
        raise ValueError("notify: embedded null byte")
    return bool(_check(_lib.pidkit_notify(data)))
