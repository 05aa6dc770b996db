"""pidkit from Python: pidfiles, detaching into a new session, spawning into a
new session, and process-id queries, through libpidkit's C ABI (ctypes; no
compiler needed, Python standard library only).

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

import dataclasses
import errno as _errno
import operator
import os
import signal as _signal
import sys
import ctypes

from . import _ffi

__all__ = [
    "PidFile", "check", "read", "kill",
    "getpid", "getppid", "gettid", "getsid", "getpgid", "alive", "setsid",
    "ProcInfo", "proc_info", "detach", "detach_ready", "spawn", "notify",
    "version", "last_error", "library_path",
    "Error", "PidkitError", "PidFileHeldError", "PidFileTimeoutError",
    "PidFileAlreadyLockedError", "PidFileAlreadyRunningError",
]

__version__ = "0.1.0"

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

    def __str__(self):
        return self.message or super().__str__()


Error = PidkitError


class PidFileHeldError(PidkitError, FileExistsError):
    """Another live process holds the pidfile; ``holder`` is the pid in it
    (0 if it has not written one yet)."""

    holder = None


class PidFileTimeoutError(PidkitError, TimeoutError):
    """``PidFile(wait=True, timeout=...)`` ran out of time; ``holder`` as for
    PidFileHeldError."""

    holder = None


# Names of the `pid` package, for code moving over.
PidFileAlreadyLockedError = PidFileHeldError
PidFileAlreadyRunningError = PidFileHeldError

_classes = {}


def _class_for(err):
    """PidkitError combined with the OSError subclass OSError(err, ...) picks."""
    base = type(OSError(err, ""))
    if base is OSError:
        return PidkitError
    cls = _classes.get(base)
    if cls is None:
        cls = type(base.__name__, (PidkitError, base), {"__module__": __name__})
        _classes[base] = cls
    return cls


def last_error():
    """This thread's last pidkit_last_error() message ("" if none)."""
    return _lib.pidkit_last_error().decode("utf-8", "backslashreplace")


def _error(err, message=None, filename=None, cls=None, **attrs):
    if message is None:
        message = last_error()
    exc = (cls or _class_for(err))(err, os.strerror(err))
    exc.message = message or os.strerror(err)
    if filename is not None:
        exc.filename = filename
    for k, v in attrs.items():
        setattr(exc, k, v)
    return exc


def _check(r, filename=None):
    if r < 0:
        raise _error(-r, filename=filename)
    return r


def _path(p, what="path"):
    """str/bytes/PathLike -> bytes for a `const char *` (no embedded NUL)."""
    b = os.fsencode(p)
    if b"\0" in b:
        raise ValueError(f"{what}: embedded null byte")
    return b


def _opt_path(p, what):
    return None if p is None else _path(p, what)


def _fd(x):
    fd = x if isinstance(x, int) else x.fileno()
    if not isinstance(fd, int) or fd < 0:
        raise ValueError(f"not a file descriptor: {x!r}")
    return fd


# ---------------------------------------------------------------- ids

def version():
    """The C library's version, "MAJOR.MINOR.PATCH"."""
    return _lib.pidkit_version().decode()


def getpid():
    """The caller's process id."""
    return _lib.pidkit_getpid()


def getppid():
    """The caller's parent process id."""
    return _lib.pidkit_getppid()


def gettid():
    """The calling thread's id (threading.get_native_id())."""
    return _lib.pidkit_gettid()


def _c_int(value, what, lo=-(2**31), hi=2**31 - 1):
    """value as an int that fits the C parameter it goes to: ctypes would
    silently keep only the low bits (2**32 + pid would name pid)."""
    v = operator.index(value)
    if not lo <= v <= hi:
        raise OverflowError(f"{what} {v} is out of range ({lo}..{hi})")
    return v


def getsid(pid=0):
    """Session id of pid (0 = the caller). ProcessLookupError if it does not exist."""
    return _check(_lib.pidkit_getsid(_c_int(pid, "pid")))


def getpgid(pid=0):
    """Process group id of pid (0 = the caller). ProcessLookupError if it does not exist."""
    return _check(_lib.pidkit_getpgid(_c_int(pid, "pid")))


def alive(pid):
    """True if a process with that pid exists (a zombie, or one we may not
    signal, counts). A pid is no identity: see ProcInfo.start_time."""
    return bool(_check(_lib.pidkit_alive(_c_int(pid, "pid"))))


def setsid():
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


def proc_info(pid=0):
    """ProcInfo of pid (0 = the caller); ProcessLookupError if it does not exist."""
    info = _ffi.ProcInfo()
    info.size = ctypes.sizeof(info)
    _check(_lib.pidkit_proc_info_get(_c_int(pid, "pid"), ctypes.byref(info)))
    return ProcInfo(
        pid=info.pid, ppid=info.ppid, pgid=info.pgid, sid=info.sid,
        tpgid=info.tpgid, tty_nr=info.tty_nr,
        state=info.state.decode("ascii", "replace"), uid=info.uid,
        num_threads=info.num_threads, start_time=info.start_time,
        utime=info.utime, stime=info.stime, rss_bytes=info.rss_bytes,
        vsize_bytes=info.vsize_bytes, comm=os.fsdecode(info.comm),
    )


# ---------------------------------------------------------------- pidfiles

def check(path):
    """The pid of the live process holding the pidfile (0 if it has not
    written it yet), or None if it is not held (absent or stale). Changes
    nothing on disk."""
    b = _path(path)
    holder = _ffi.pid_t(0)
    r = _check(_lib.pidkit_pidfile_check(b, ctypes.byref(holder)), path)
    return holder.value if r == 1 else None


def read(path):
    """The pid written in the pidfile, held or not. FileNotFoundError;
    OSError(EBADMSG) when it does not hold one decimal pid."""
    b = _path(path)
    pid = _ffi.pid_t(0)
    _check(_lib.pidkit_pidfile_read(b, ctypes.byref(pid)), path)
    return pid.value


def kill(path, sig=_signal.SIGTERM):
    """Signal the holder of the pidfile (through a pidfd: a recycled pid is
    never hit); returns its pid. ProcessLookupError when nobody holds it.
    sig 0 only checks."""
    b = _path(path)
    holder = _ffi.pid_t(0)
    _check(_lib.pidkit_pidfile_kill(b, _c_int(sig, "signal"), ctypes.byref(holder)), path)
    return holder.value


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

    def __init__(self, path, wait=False, timeout=None, write=True, inherit=False,
                 keep_file=False, strict=False, mode=0o644):
        self._bpath = _path(path, "pidfile path")
        self.filename = os.fspath(path)
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
        self._handle = None
        self.pid = None

    chmod = property(lambda self: self.mode, doc="The `pid` package's name for `mode`.")

    @property
    def acquired(self):
        """True between acquire() and release()."""
        return self._handle is not None

    def acquire(self):
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

    def write(self):
        """(Re)write the calling process's pid and make it the owner (the one
        whose release removes the file), e.g. in a forked child."""
        _check(_lib.pidkit_pidfile_write(self._live()), self.filename)
        self.pid = os.getpid()

    def fileno(self):
        """The locked descriptor (owned by the PidFile: do not close it)."""
        return _check(_lib.pidkit_pidfile_fd(self._live()))

    def release(self):
        """Remove the file (if this process owns it and the path still names
        it), unlock and close. Only closes in a process that is not the
        owner. Does nothing when not acquired."""
        handle, self._handle = self._handle, None
        if handle is not None:
            _check(_lib.pidkit_pidfile_release(handle), self.filename)

    create = acquire
    close = release

    def check(self):
        """Module-level check() of this path: holder pid or None."""
        return check(self._bpath)

    def _live(self):
        if self._handle is None:
            raise ValueError(f"pidfile {self.filename!r} is not acquired")
        return self._handle

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def __del__(self):
        # A dropped PidFile must not leak its descriptor (and lock) for the
        # life of the process; at interpreter shutdown _lib may be gone.
        try:
            if self._handle is not None:
                self.release()
        except Exception:
            pass

    def __repr__(self):
        state = f"held, pid {self.pid}" if self._handle is not None else "not held"
        return f"<pidkit.PidFile {self.filename!r} {state}>"


# ---------------------------------------------------------------- detach

def _restore_python_signals():
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


def detach(workdir=None, umask=0, stdin=None, stdout=None, stderr=None, keep_fds=(),
           pidfile=None, no_wait=False, exit_parent=False, single_fork=False,
           keep_cwd=False, keep_umask=False, keep_stdio=False, keep_fds_all=False,
           allow_threads=False, keep_notify_socket=False):
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
    pid = _ffi.detach_with_gil(ctypes.byref(opts))
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


def detach_ready(status=0):
    """In the daemon: tell the original process waiting in detach() that the
    daemon is ready (0) or failed: an errno number (either sign) or an
    OSError, which detach() raises there. Once; OSError(EALREADY) after."""
    if isinstance(status, OSError):
        status = status.errno or _errno.EIO
    status = _c_int(int(status), "status")
    _check(_lib.pidkit_detach_ready(-abs(status)))


# ---------------------------------------------------------------- spawn

def spawn(argv, env=None, workdir=None, stdin=None, stdout=None, stderr=None, pidfile=None,
          search_path=True, keep_cwd=False, inherit_stdio=False, no_double_fork=False):
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


# ---------------------------------------------------------------- notify

def notify(state):
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
