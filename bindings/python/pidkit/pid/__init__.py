"""A drop-in for the ``pid`` package (3.0.4) on pidkit's flock core.

Moving a program over is its import line::

    from pidkit.pid import PidFile            # was: from pid import PidFile
    from pidkit.pid.decorator import pidfile  # was: from pid.decorator import pidfile

    with PidFile("my_app_daemon") as p:       # DEFAULT_PID_DIR/my_app_daemon.pid
        print(p.pidname, p.piddir, p.filename, p.pid)

The public names are pid's: ``PidFile(pidname=None, piddir=None,
enforce_dotpid_postfix=True, register_term_signal_handler="auto",
register_atexit=True, lock_pidfile=True, chmod=0o644, uid=-1, gid=-1,
force_tmpdir=False, allow_samepid=False)`` (pid's positional order; pidkit
adds a keyword-only ``filename=`` for a full path), its ``setup()``,
``create()``, ``check()``, ``close(fh=None, cleanup=None)``, context manager
and context decorator, its attributes (``pidname``, ``piddir``,
``filename``, ``pid``, ``fh``, ``chmod``, ``uid``, ``gid``, ...),
``DEFAULT_PID_DIR`` (read when a file name is made, so assigning
``pidkit.pid.DEFAULT_PID_DIR`` works), the ``PID_CHECK_*`` constants and
pid's exception classes with their bases and attributes. The default name
is ``basename(sys.argv[0]) + ".pid"``; the default directory is the first
of /run/user/EUID/, /var/run/user/EUID/, /run/, /var/run/ the caller may
write (else the temporary directory), or the temporary directory with
``force_tmpdir``. A SIGTERM handler that exits through ``atexit`` (when
SIGTERM is at its default, or when asked) and an ``atexit`` hook that
closes the file are installed as pid installs them.

Where pidkit.pid differs from pid
---------------------------------
Who holds the file is decided by its ``flock`` alone, as everywhere in
pidkit; where pid's behaviour is the unsafe one, pidkit's is kept:

1. A stale file (one nobody holds locked) is taken over whatever pid it
   names, even a live one. pid refuses to start with
   PidFileAlreadyRunningError when the pid in a stale file is alive; after
   a crash and a reboot that pid is often a recycled, unrelated process
   and the program never starts again until someone deletes the file.
2. A stale file whose content is not a pid (a torn or foreign write) is
   taken over as well; pid raises PidFileUnreadableError at start.
3. ``lock_pidfile=False`` still locks: pidkit's only evidence of a running
   copy is the lock (pid, without it, asks ``kill(pid, 0)``, which a
   recycled pid answers). A held file then raises
   PidFileAlreadyRunningError (with ``.pid``) as pid's does, instead of
   PidFileAlreadyLockedError.
4. A symbolic link at the path is refused (``OSError`` ELOOP), and so is
   anything but a regular file (EINVAL); pidkit's rules for hostile paths
   apply (API.md, "Pidfiles"). pid follows the link, truncates and writes
   the file it points to (any file, for a root daemon whose pid directory
   another user can write) and deletes the link at exit.
5. Release removes the file only if the path still names the file this
   object locked: pid removes whatever the path names, e.g. the file of
   the instance that started after this one's file was replaced or
   deleted.
6. A forked child never removes or unlocks its parent's file: its
   ``close()`` (also from the ``atexit`` hook and the SIGTERM handler it
   inherits, or leaving a ``with`` block) only closes the child's copy.
   With pid a child that exits normally deletes the running parent's
   pidfile, so a second copy can start beside the parent.
7. ``close(cleanup=False)`` on the object that holds the file still
   removes it (pidkit's release of an owned file removes it, and a file
   left behind unlocked names a pid that will be recycled, which is what
   ``kill $(cat file)`` hits). ``close(cleanup=True)`` on an object that
   does not hold the file removes it only when nobody holds it (pid
   removes it even from under a running copy). ``close(fh=other)`` only
   closes ``other``.
8. ``check()`` answers from the lock: a file held by a live process is
   PidFileAlreadyRunningError whatever its content; a file nobody holds is
   PID_CHECK_EMPTY, PidFileUnreadableError, PID_CHECK_SAMEPID (with
   ``allow_samepid``) or PID_CHECK_NOTRUNNING (even when the pid it names
   is alive, see 1). On the object that holds the file it reports what the
   file says (PID_CHECK_SAMEPID with ``allow_samepid`` or
   PidFileAlreadyRunningError for the caller's pid, PID_CHECK_NOTRUNNING
   for another pid written into it, PID_CHECK_EMPTY) and, unlike pid,
   never drops the lock as it raises.
9. PidFileAlreadyLockedError's ``args[0]`` is pidkit's PidFileHeldError
   (an ``OSError``, EEXIST, "pidfile PATH is held by pid N") instead of
   pid's ``BlockingIOError`` (EAGAIN); it also carries ``.pid``, the
   holder.
10. Assigning ``pidkit.pid.DEFAULT_PID_DIR`` changes the default directory
    of the PidFiles set up afterwards. In pid 3.0.4 the assignment to
    ``pid.DEFAULT_PID_DIR`` has no effect (pid.base reads its own copy),
    so pid's test suite, run as root, puts its files in /run/.

pid's own test suite (tests/test_pid.py of the 3.0.4 sdist) runs unchanged
against this module in ``make check-python``; see bindings/python/README.md.
Linux only (pid's win32 branch is not provided).
"""

import atexit
import errno as _errno
import logging
import os
import signal
import sys
import tempfile
from contextlib import ContextDecorator
from types import FrameType, TracebackType
from typing import (IO, Any, Callable, Literal, NoReturn, Optional, TextIO, Type, TypeVar, Union,
                    cast)

import pidkit as _pidkit

__version__ = "3.0.4"      # the version of pid's API this module follows

__all__ = [
    "__version__",
    "DEFAULT_PID_DIR",
    "PID_CHECK_EMPTY",
    "PID_CHECK_NOFILE",
    "PID_CHECK_SAMEPID",
    "PID_CHECK_NOTRUNNING",
    "PidFile",
    "PidFileError",
    "PidFileConfigurationError",
    "PidFileUnreadableError",
    "PidFileAlreadyRunningError",
    "PidFileAlreadyLockedError",
]

PID_CHECK_EMPTY = "PID_CHECK_EMPTY"
PID_CHECK_NOFILE = "PID_CHECK_NOFILE"
PID_CHECK_SAMEPID = "PID_CHECK_SAMEPID"
PID_CHECK_NOTRUNNING = "PID_CHECK_NOTRUNNING"

DEFAULT_CHMOD = 0o644

# A directory or file name argument (os.path's str inputs).
_StrPath = Union[str, "os.PathLike[str]"]
# register_term_signal_handler: "auto", a bool, or a handler for signal.signal().
_TermHandler = Union[Literal["auto"], bool, Callable[[int, Optional[FrameType]], Any]]
_PidFileT = TypeVar("_PidFileT", bound="PidFile")


# ---------------------------------------------------------------- errors
# pid's hierarchy: PidFileConfigurationError is not a PidFileError, none of
# them is an OSError.

class PidFileError(Exception):
    """Base of the errors about a pidfile's state."""


class PidFileConfigurationError(Exception):
    """An option this platform cannot honour (pid raises it on win32)."""


class PidFileUnreadableError(PidFileError):
    """The file does not hold a pid; ``args[0]`` is the ValueError or
    OSError met reading it."""


class PidFileAlreadyRunningError(PidFileError):
    """Another copy runs; ``pid`` is its pid (None if not known yet) and
    ``message`` the text."""

    def __init__(self, message: str, pid: Optional[int] = None) -> None:
        # As pid does: args is (message,), with .message and .pid beside.
        self.message = message
        self.pid = pid


class PidFileAlreadyLockedError(PidFileError):
    """Another copy holds the lock. ``args[0]`` is the pidkit
    PidFileHeldError; ``pid`` the holder (pidkit's addition)."""

    pid: Optional[int] = None


# ---------------------------------------------------------------- defaults

def _writable_dir(path: _StrPath) -> bool:
    try:
        effective = os.access in os.supports_effective_ids
    except AttributeError:
        effective = False
    return os.access(path, os.W_OK | os.X_OK, effective_ids=effective)


def _default_pid_dir() -> str:
    """pid's choice: the first of the per-user and system run directories the
    caller may write into, else the temporary directory."""
    uid = os.geteuid()
    for candidate in (f"/run/user/{uid}/", f"/var/run/user/{uid}/", "/run/", "/var/run/"):
        if _writable_dir(os.path.realpath(candidate)):
            return candidate
    return tempfile.gettempdir()


DEFAULT_PID_DIR = _default_pid_dir()


def _exit_on_sigterm(signum: int, frame: Optional[FrameType]) -> NoReturn:
    """The SIGTERM handler pid installs: leave through SystemExit so that
    ``atexit`` hooks (close()) run."""
    raise SystemExit(1)


def _first_line(data: bytes) -> str:
    """The stripped first line of a pidfile's content, as pid reads it."""
    return data.decode("utf-8", "replace").split("\n", 1)[0].strip()


def _read_unheld(path: str) -> bytes:
    """Content of a pidfile nobody is known to hold, without following a
    symbolic link or blocking on a FIFO. b"" if it vanished."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return b""
    try:
        return os.pread(fd, 4096, 0)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- PidFile

class PidFile(ContextDecorator):
    """pid's PidFile on pidkit's lock: see the module docstring for the
    arguments and for where it differs."""

    def __init__(self, pidname: Optional[str] = None, piddir: Optional[_StrPath] = None,
                 enforce_dotpid_postfix: bool = True,
                 register_term_signal_handler: _TermHandler = "auto",
                 register_atexit: bool = True, lock_pidfile: bool = True,
                 chmod: Optional[int] = DEFAULT_CHMOD, uid: int = -1, gid: int = -1,
                 force_tmpdir: bool = False, allow_samepid: bool = False, *,
                 filename: Optional[_StrPath] = None) -> None:
        self.pidname = pidname
        self.piddir = piddir
        self.enforce_dotpid_postfix = enforce_dotpid_postfix
        self.register_term_signal_handler = register_term_signal_handler
        self.register_atexit = register_atexit
        self.lock_pidfile = lock_pidfile
        self.chmod = chmod
        self.uid = uid
        self.gid = gid
        self.force_tmpdir = force_tmpdir
        self.allow_samepid = allow_samepid

        self.fh: Optional[TextIO] = None
        self.filename: Optional[str] = (None if filename is None
                                        else os.path.abspath(os.fspath(filename)))
        self.pid: Optional[int] = None

        self._logger: Optional[logging.Logger] = None
        self._is_setup = False
        self._need_cleanup = False
        # the pidkit.PidFile while this object holds the file
        self._pf: Optional[_pidkit.PidFile] = None
        self._holder: Optional[int] = None      # the process (C getpid) that acquired it

    @property
    def logger(self) -> logging.Logger:
        """pid's logger ("PidFile"), debug messages only."""
        if self._logger is None:
            self._logger = logging.getLogger("PidFile")
        return self._logger

    # -- setup

    def setup(self) -> None:
        """Once per object: record the pid, make the file name, install the
        SIGTERM handler and the atexit hook as configured."""
        if self._is_setup:
            return
        self.logger.debug("%r entering setup", self)
        if self.filename is None:
            self.pid = os.getpid()
            self.filename = self._make_filename()
            self._register_term_signal()
        elif self.pid is None:
            self.pid = os.getpid()
        if self.register_atexit:
            atexit.register(self.close)
        self._is_setup = True

    def _make_filename(self) -> str:
        name = self.pidname
        if name is None:
            name = os.path.basename(sys.argv[0]) + ".pid"
        if self.enforce_dotpid_postfix and not name.endswith(".pid"):
            name += ".pid"
        directory = self.piddir
        if directory is None:
            default = globals()["DEFAULT_PID_DIR"]     # read now: callers assign it
            if not self.force_tmpdir and os.path.isdir(default):
                directory = default
            else:
                directory = tempfile.gettempdir()
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise IOError(f"Pid file directory '{directory}' exists but is not a directory")
        if not os.path.isdir(directory):
            os.makedirs(directory)
        if not os.access(directory, os.R_OK):
            raise IOError(f"Pid file directory '{directory}' cannot be read")
        if not _writable_dir(directory):
            raise IOError(f"Pid file directory '{directory}' cannot be written to")
        return os.path.abspath(os.path.join(directory, name))

    def _register_term_signal(self) -> None:
        want = self.register_term_signal_handler
        if want == "auto":
            want = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        if callable(want):
            signal.signal(signal.SIGTERM, want)
        elif want:
            signal.signal(signal.SIGTERM, _exit_on_sigterm)

    # -- state

    def _holding(self) -> bool:
        """True in the process that acquired the file, while it holds it (a
        forked child's inherited copy does not count)."""
        return self._pf is not None and self._holder == _pidkit.getpid()

    def _running(self, pid: Optional[int]) -> PidFileAlreadyRunningError:
        if pid:
            return PidFileAlreadyRunningError(f"Program already running with pid: {pid}", pid=pid)
        return PidFileAlreadyRunningError("Program already running (its pid is not written yet)")

    # -- check

    def check(self) -> str:
        """PID_CHECK_NOFILE, PID_CHECK_EMPTY, PID_CHECK_SAMEPID or
        PID_CHECK_NOTRUNNING; PidFileAlreadyRunningError when a live
        process holds the file, PidFileUnreadableError for content that is
        not a pid. Changes nothing."""
        self.setup()
        self.logger.debug("%r check pidfile: %s", self, self.filename)
        if self._holding():
            assert self._pf is not None             # _holding() says so
            data = os.pread(self._pf.fileno(), 4096, 0)
            return self._judge_content(data, held_by=_pidkit.getpid())
        try:
            os.lstat(cast(str, self.filename))      # setup() made it
        except FileNotFoundError:
            return PID_CHECK_NOFILE
        holder = _pidkit.check(cast(str, self.filename))    # OSError for a symlink or special file
        try:
            data = _read_unheld(cast(str, self.filename))
        except OSError:
            if holder is None:
                raise
            data = b""                          # held: the lock answers
        if holder is not None:
            written = self._parse(data, quiet=True)
            if self.allow_samepid and written is not None and written == self.pid == holder:
                return PID_CHECK_SAMEPID
            raise self._running(holder or written)
        return self._judge_content(data, held_by=None)

    def _parse(self, data: bytes, quiet: bool = False) -> Optional[int]:
        text = _first_line(data)
        if not text:
            return None
        try:
            return int(text)
        except ValueError as exc:
            if quiet:
                return None
            raise PidFileUnreadableError(exc) from exc

    def _judge_content(self, data: bytes, held_by: Optional[int]) -> str:
        written = self._parse(data)
        if written is None:
            return PID_CHECK_EMPTY
        if self.allow_samepid and written == self.pid:
            return PID_CHECK_SAMEPID
        if held_by is not None and written == held_by:
            raise self._running(written)
        return PID_CHECK_NOTRUNNING

    # -- create / close

    def create(self) -> None:
        """Take the pidfile (creating it, or taking over a stale one) and
        write the caller's pid. PidFileAlreadyLockedError (with
        ``lock_pidfile=False`` or ``allow_samepid``:
        PidFileAlreadyRunningError) when another copy holds it; with
        ``allow_samepid`` a file held by this same pid is accepted as is."""
        self.setup()
        self.logger.debug("%r create pidfile: %s", self, self.filename)
        if self._holding():
            if self.allow_samepid:
                return
            if self.lock_pidfile:
                held = _pidkit.PidFileHeldError(_errno.EEXIST, os.strerror(_errno.EEXIST))
                held.message = f"pidfile {self.filename} is already held by this PidFile"
                held.filename, held.holder = self.filename, _pidkit.getpid()
                exc = PidFileAlreadyLockedError(held)
                exc.pid = held.holder
                raise exc
            raise self._running(_pidkit.getpid())
        if self._pf is not None:
            # A forked child's inherited copy: close it (never the parent's lock).
            self._drop_handle()
        pf = _pidkit.PidFile(cast(str, self.filename), mode=self.chmod or DEFAULT_CHMOD)
        try:
            pf.acquire()
        except _pidkit.PidFileHeldError as held:
            if self.allow_samepid and held.holder and held.holder == self.pid:
                return                          # PID_CHECK_SAMEPID: nothing to do
            if self.lock_pidfile and not self.allow_samepid:
                exc = PidFileAlreadyLockedError(held)
                exc.pid = held.holder or None
                raise exc from held
            raise self._running(held.holder) from held
        try:
            fd = pf.fileno()
            if self.chmod:
                os.fchmod(fd, self.chmod)
            if self.uid >= 0 or self.gid >= 0:
                os.fchown(fd, self.uid, self.gid)
            fh = open(os.dup(fd), "r+")
        except BaseException:
            pf.release()
            raise
        self._pf, self._holder, self.fh = pf, _pidkit.getpid(), fh
        self._need_cleanup = True

    def close(self, fh: Optional[IO[Any]] = None, cleanup: Optional[bool] = None) -> None:
        """Release the pidfile: remove it (if the path still names the file
        this object locked), unlock and close. In a forked child only the
        child's copy is closed. See the module docstring for ``cleanup``."""
        self.logger.debug("%r closing pidfile: %s", self, self.filename)
        if fh is not None and fh is not self.fh:
            fh.close()
            if not cleanup:
                return
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError as exc:
                if exc.errno != _errno.EBADF:
                    raise
        if cleanup is None:
            cleanup = self._need_cleanup
        if self._pf is not None:
            if self._holding():
                self._restore_own_pid()
            self._drop_handle()
            self._need_cleanup = False
        elif cleanup and self.filename:
            self._remove_if_stale()
            self._need_cleanup = False

    def _restore_own_pid(self) -> None:
        """pidkit's release leaves a file whose pid is not the releaser's (a
        forked child took it over). Nothing in this module hands the file to
        another process, so a foreign pid in it was written by hand: put the
        owner's back so the release removes the file as pid does."""
        assert self._pf is not None             # only called while _holding()
        try:
            data = os.pread(self._pf.fileno(), 4096, 0)
            if self._parse(data, quiet=True) != self._holder:
                self._pf.write()
        except OSError:
            pass

    def _drop_handle(self) -> None:
        pf, self._pf, self._holder = self._pf, None, None
        assert pf is not None                   # only called when self._pf is set
        pf.release()

    def _remove_if_stale(self) -> None:
        """Remove the file at the path only if nobody holds it: lock it, then
        let pidkit's release remove it. A symbolic link or anything but a
        regular file is left alone."""
        pf = _pidkit.PidFile(cast(str, self.filename), write=False)    # close() checked it
        try:
            pf.acquire()
        except (_pidkit.PidFileHeldError, FileNotFoundError):
            return
        except OSError as exc:
            if exc.errno in (_errno.ELOOP, _errno.EINVAL, _errno.EPERM):
                return
            raise
        try:
            pf.write()          # our pid: pidkit's release removes only its owner's file
        finally:
            pf.release()

    def __enter__(self: _PidFileT) -> _PidFileT:
        self.create()
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]] = None,
                 exc_value: Optional[BaseException] = None,
                 exc_tb: Optional[TracebackType] = None) -> None:
        self.close()
