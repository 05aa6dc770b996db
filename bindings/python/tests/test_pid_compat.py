"""pidkit.pid, the drop-in for the `pid` package (3.0.4): the quickstart
with only its import line changed, pid's API surface, and each deliberate
difference from pid (see pidkit.pid's docstring) with real processes.
pid's own test suite runs against pidkit.pid in run_pid_suite.sh."""

import errno
import inspect
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
from unittest import mock

import pidkit
import pidkit.pid as pid
from pidkit.pid.decorator import pidfile
from support import TestCase, child_env

# The usual pid quickstart; only the import line differs from the original
# (`from pid import PidFile`).
QUICKSTART = """\
import os

from pidkit.pid import PidFile

with PidFile('my_app_daemon') as p:
    print(p.pidname)
    print(p.filename)
    print(p.pid == os.getpid())
    print(open(p.filename).read().strip() == str(os.getpid()))
print(os.path.exists(p.filename))
"""

# Runs a script unchanged with pidkit.pid.DEFAULT_PID_DIR pointed at a test
# directory, as pid's own tests point pid.DEFAULT_PID_DIR at the temp dir.
IN_DIR = ("import runpy, sys, pidkit.pid; pidkit.pid.DEFAULT_PID_DIR = sys.argv[1]; "
          "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')")

# Holds NAME in DIR until killed (pid's SIGTERM handler and atexit hook in place).
SLEEPER = """
import sys, time
from pidkit.pid import PidFile

with PidFile(sys.argv[1], piddir=sys.argv[2]) as p:
    print(p.pid, flush=True)
    time.sleep(60)
"""

# A process that holds its pidfile forks three children; each ends in one
# of the ways that make pid delete the parent's file.
FORKER = """
import json, os, signal, sys, time
import pidkit
from pidkit.pid import PidFile, PidFileAlreadyLockedError

d = sys.argv[1]
p = PidFile('forked', piddir=d)
p.create()
results = {}
for how in ('close', 'exit', 'sigterm'):
    child = os.fork()
    if child == 0:
        if how == 'close':
            p.close()
            os._exit(0)
        if how == 'exit':
            sys.exit(0)                          # the atexit hook: p.close()
        os.kill(os.getpid(), signal.SIGTERM)     # pid's handler: SystemExit(1), then atexit
        time.sleep(10)
        os._exit(3)
    _, status = os.waitpid(child, 0)
    try:
        PidFile('forked', piddir=d, register_atexit=False).create()
        second = 'started'
    except PidFileAlreadyLockedError:
        second = 'locked'
    results[how] = [os.waitstatus_to_exitcode(status), os.path.exists(p.filename),
                    pidkit.check(p.filename) == os.getpid(), second]
p.close()
results['after_close'] = os.path.exists(p.filename)
print(json.dumps(results))
"""

# pid 3.0.4's pid.__all__.
PID_ALL = ['__version__', 'DEFAULT_PID_DIR', 'PID_CHECK_EMPTY', 'PID_CHECK_NOFILE',
           'PID_CHECK_SAMEPID', 'PID_CHECK_NOTRUNNING', 'PidFile', 'PidFileError',
           'PidFileConfigurationError', 'PidFileUnreadableError',
           'PidFileAlreadyRunningError', 'PidFileAlreadyLockedError']


class PidTestCase(TestCase):
    """In-process tests must not leave pid's SIGTERM handler behind."""

    def setUp(self):
        super().setUp()
        handler = signal.getsignal(signal.SIGTERM)
        self.addCleanup(signal.signal, signal.SIGTERM, handler)

    def pf(self, name, **kw):
        """A pidkit.pid.PidFile in the test dir, without an atexit hook (the
        test process outlives it); closed at the end of the test."""
        kw.setdefault("register_atexit", False)
        p = pid.PidFile(name, piddir=self.tmp, **kw)
        self.addCleanup(p.close)
        return p

    def sleeper(self, name):
        """A process holding NAME in the test dir; returns (Popen, its pid)."""
        proc = self.popen(self.script("sleeper.py", SLEEPER), name, self.tmp)
        line = proc.stdout.readline().strip()
        self.assertEqual(line, str(proc.pid), proc.stderr.read() if not line else "")
        return proc

    def live_unrelated_pid(self):
        proc = subprocess.Popen(["sleep", "60"])
        self.addCleanup(lambda: (proc.kill(), proc.wait()))
        return proc.pid


class Quickstart(PidTestCase):
    def run_quickstart(self):
        script = self.script("quickstart.py", QUICKSTART)
        return subprocess.run([sys.executable, "-c", IN_DIR, self.tmp, script], env=child_env(),
                              capture_output=True, text=True, timeout=30)

    def test_runs_with_only_its_import_line_changed(self):
        r = self.run_quickstart()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"my_app_daemon\n{self.path('my_app_daemon.pid')}\nTrue\nTrue\nFalse\n")
        self.assertEqual(os.listdir(self.tmp), ["quickstart.py"])

    def test_second_copy_fails_with_pid_file_already_locked_error(self):
        path = self.path("my_app_daemon.pid")
        with pidkit.PidFile(path):
            r = self.run_quickstart()
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stdout, "")
            self.assertIn("pidkit.pid.PidFileAlreadyLockedError", r.stderr)
            self.assertIn(f"pidfile {path} is held by pid {os.getpid()}", r.stderr)
            with open(path) as f:
                self.assertEqual(f.read(), f"{os.getpid()}\n", "the holder's file is untouched")

    def test_starts_over_a_stale_file_naming_a_live_unrelated_pid(self):
        # pid: PidFileAlreadyRunningError, until someone deletes the file.
        with open(self.path("my_app_daemon.pid"), "w") as f:
            f.write(f"{self.live_unrelated_pid()}\n")
        r = self.run_quickstart()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.endswith("True\nTrue\nFalse\n"), r.stdout)


class Surface(PidTestCase):
    def test_public_names_are_pids(self):
        self.assertEqual(sorted(pid.__all__), sorted(PID_ALL))
        for name in PID_ALL:
            self.assertTrue(hasattr(pid, name), name)
        self.assertEqual(pid.__version__, "3.0.4")
        self.assertEqual((pid.PID_CHECK_EMPTY, pid.PID_CHECK_NOFILE, pid.PID_CHECK_SAMEPID,
                          pid.PID_CHECK_NOTRUNNING),
                         ("PID_CHECK_EMPTY", "PID_CHECK_NOFILE", "PID_CHECK_SAMEPID", "PID_CHECK_NOTRUNNING"))

    def test_constructor_takes_pids_arguments_in_pids_order(self):
        params = list(inspect.signature(pid.PidFile).parameters.values())
        self.assertEqual([(p.name, p.default) for p in params[:11]], [
            ("pidname", None), ("piddir", None), ("enforce_dotpid_postfix", True),
            ("register_term_signal_handler", "auto"), ("register_atexit", True),
            ("lock_pidfile", True), ("chmod", 0o644), ("uid", -1), ("gid", -1),
            ("force_tmpdir", False), ("allow_samepid", False)])
        self.assertTrue(all(p.kind == p.KEYWORD_ONLY for p in params[11:]), "pidkit's additions are keyword-only")

    def test_exception_hierarchy_and_attributes_are_pids(self):
        self.assertFalse(issubclass(pid.PidFileError, OSError))
        self.assertFalse(issubclass(pid.PidFileConfigurationError, pid.PidFileError))
        for cls in (pid.PidFileUnreadableError, pid.PidFileAlreadyRunningError, pid.PidFileAlreadyLockedError):
            self.assertTrue(issubclass(cls, pid.PidFileError), cls)
        e = pid.PidFileAlreadyRunningError("Program already running with pid: 42", pid=42)
        self.assertEqual((e.message, e.pid, e.args, str(e)),
                         ("Program already running with pid: 42", 42, ("Program already running with pid: 42",),
                          "Program already running with pid: 42"))
        self.assertIsNone(pid.PidFileAlreadyRunningError("m").pid)

    def test_default_name_is_the_script_name_and_the_directory_is_read_at_call_time(self):
        self.addCleanup(setattr, pid, "DEFAULT_PID_DIR", pid.DEFAULT_PID_DIR)
        pid.DEFAULT_PID_DIR = self.tmp
        with mock.patch.object(sys, "argv", ["/usr/local/bin/my_app.py", "--flag"]):
            p = self.pf(None, register_term_signal_handler=False)
            p.piddir = None
            p.setup()
        self.assertEqual(p.filename, self.path("my_app.py.pid"))
        self.assertEqual(p.pid, os.getpid())
        self.assertEqual(pid.PidFile("x", enforce_dotpid_postfix=False, register_atexit=False,
                                     register_term_signal_handler=False)._make_filename(), self.path("x"))
        self.assertEqual(pid.PidFile("x", force_tmpdir=True, register_atexit=False)._make_filename(),
                         os.path.join(tempfile.gettempdir(), "x.pid"))

    def test_default_directory_is_the_one_pid_picks(self):
        uid = os.geteuid()
        want = next((d for d in (f"/run/user/{uid}/", f"/var/run/user/{uid}/", "/run/", "/var/run/")
                     if os.access(os.path.realpath(d), os.W_OK | os.X_OK, effective_ids=True)),
                    tempfile.gettempdir())
        self.assertEqual(pid._default_pid_dir(), want)

    def test_piddir_is_made_and_a_file_there_is_an_ioerror(self):
        p = pid.PidFile("x", piddir=self.path("a", "b"), register_atexit=False)
        self.assertEqual(p._make_filename(), self.path("a", "b", "x.pid"))
        self.assertTrue(os.path.isdir(self.path("a", "b")))
        with open(self.path("file"), "w"):
            pass
        with self.assertRaises(IOError):
            pid.PidFile("x", piddir=self.path("file"), register_atexit=False).setup()

    def test_chmod_ignores_the_umask_and_gid_is_applied(self):
        old = os.umask(0o077)
        self.addCleanup(os.umask, old)
        with self.pf("m", chmod=0o640, gid=os.getgid(), register_term_signal_handler=False) as p:
            st = os.stat(p.filename)
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid), (0o640, os.getgid()))
            self.assertEqual(p.fh.read(), f"{os.getpid()}\n", "fh reads the pidfile")

    def test_atexit_hook_and_term_handler_as_pid_installs_them(self):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with mock.patch("atexit.register", autospec=True) as reg:
            with pid.PidFile("a", piddir=self.tmp) as p:
                reg.assert_called_once_with(p.close)
                self.assertTrue(callable(signal.getsignal(signal.SIGTERM)))
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with self.pf("b") as p:
            self.assertEqual(signal.getsignal(signal.SIGTERM), signal.SIG_IGN, "auto keeps a set disposition")

    def test_decorators(self):
        calls = []

        @pidfile("deco", piddir=self.tmp, register_atexit=False, register_term_signal_handler=False)
        def main(x):
            calls.append((x, pidkit.check(self.path("deco.pid"))))
            return x * 2

        self.assertEqual(main(21), 42)
        self.assertEqual(calls, [(21, os.getpid())])
        self.assertFalse(os.path.exists(self.path("deco.pid")))
        with self.assertRaises(AssertionError):
            pidfile(main)

        @pid.PidFile("cd", piddir=self.tmp, register_atexit=False, register_term_signal_handler=False)
        def twice():
            return pidkit.check(self.path("cd.pid"))

        self.assertEqual((twice(), twice()), (os.getpid(), os.getpid()), "one object, entered twice")

    def test_check_constants(self):
        p = self.pf("c", register_term_signal_handler=False)
        self.assertEqual(p.check(), pid.PID_CHECK_NOFILE)
        with open(p.filename, "w") as f:
            f.write("\n")
        self.assertEqual(p.check(), pid.PID_CHECK_EMPTY)
        with open(p.filename, "w") as f:
            f.write("999999999\n")
        self.assertEqual(p.check(), pid.PID_CHECK_NOTRUNNING)
        p.close(cleanup=True)
        self.assertFalse(os.path.exists(p.filename), "close(cleanup=True) removes a stale file as pid does")


class AnotherProcessHolds(PidTestCase):
    def test_locked_running_and_check_name_the_holder(self):
        proc = self.sleeper("held")
        path = self.path("held.pid")

        with self.assertRaises(pid.PidFileAlreadyLockedError) as cm:
            self.pf("held").create()
        e = cm.exception
        self.assertEqual(e.pid, proc.pid)
        self.assertIsInstance(e.args[0], pidkit.PidFileHeldError)
        self.assertEqual((e.args[0].errno, e.args[0].holder), (errno.EEXIST, proc.pid))
        self.assertIn(f"pidfile {path} is held by pid {proc.pid}", str(e))

        for kw in ({"lock_pidfile": False}, {"allow_samepid": True}):
            with self.assertRaises(pid.PidFileAlreadyRunningError) as cm:
                self.pf("held", **kw).create()
            self.assertEqual((cm.exception.pid, cm.exception.message),
                             (proc.pid, f"Program already running with pid: {proc.pid}"), kw)
        with self.assertRaises(pid.PidFileAlreadyRunningError) as cm:
            self.pf("held").check()
        self.assertEqual(cm.exception.pid, proc.pid)
        with open(path) as f:
            self.assertEqual(f.read(), f"{proc.pid}\n")

        proc.kill()
        proc.wait()
        self.assertEqual(self.pf("held").check(), pid.PID_CHECK_NOTRUNNING, "SIGKILL leaves a stale file")
        with self.pf("held") as p:
            with open(path) as f:
                self.assertEqual(f.read(), f"{os.getpid()}\n")
        self.assertFalse(os.path.exists(path))

    def test_sigterm_runs_the_handler_and_the_file_is_removed(self):
        proc = self.sleeper("term")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 1, "pid's handler exits with SystemExit(1)")
        self.assertFalse(os.path.exists(self.path("term.pid")))

    def test_another_process_starts_after_the_holder_closed(self):
        # pid's test_double_close_race_condition, across processes.
        p = self.pf("seq", register_term_signal_handler=False)
        p.create()
        p.close()
        proc = self.sleeper("seq")
        p.close()
        p.close(cleanup=None)
        self.assertEqual(pidkit.check(self.path("seq.pid")), proc.pid)


class DeliberateDifferences(PidTestCase):
    """Each test names pid 3.0.4's behaviour it replaces."""

    def test_1_stale_file_naming_a_live_unrelated_pid_is_taken_over(self):
        # pid: check() and create() raise PidFileAlreadyRunningError (kill(pid, 0) succeeds).
        other = self.live_unrelated_pid()
        for kw in ({}, {"lock_pidfile": False}):
            with open(self.path("stale.pid"), "w") as f:
                f.write(f"{other}\n")
            p = self.pf("stale", **kw)
            self.assertEqual(p.check(), pid.PID_CHECK_NOTRUNNING, kw)
            with p:
                with open(p.filename) as f:
                    self.assertEqual(f.read(), f"{os.getpid()}\n", kw)
            self.assertFalse(os.path.exists(p.filename))
        self.assertTrue(pidkit.alive(other), "the other process was not touched")

    def test_2_stale_file_with_garbage_is_taken_over(self):
        # pid: create() raises PidFileUnreadableError.
        with open(self.path("junk.pid"), "w") as f:
            f.write("not a pid\n")
        p = self.pf("junk")
        with self.assertRaises(pid.PidFileUnreadableError):
            p.check()
        with p:
            with open(p.filename) as f:
                self.assertEqual(f.read(), f"{os.getpid()}\n")

    def test_4_symlink_is_refused_and_its_target_untouched(self):
        # pid: opens the target, truncates it, writes its pid there, deletes the link at exit.
        target = self.path("precious")
        with open(target, "w") as f:
            f.write("precious data\n")
        os.symlink(target, self.path("link.pid"))
        p = self.pf("link")
        for call in (p.create, p.check):
            with self.assertRaises(OSError) as cm:
                call()
            self.assertEqual(cm.exception.errno, errno.ELOOP)
        p.close(cleanup=True)
        with open(target) as f:
            self.assertEqual(f.read(), "precious data\n")
        self.assertTrue(os.path.islink(self.path("link.pid")))

    def test_4_fifo_is_refused_without_blocking(self):
        os.mkfifo(self.path("fifo.pid"))
        with self.assertRaises(OSError) as cm:
            self.pf("fifo").create()
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_5_replacement_file_survives_release(self):
        # pid: close() os.remove()s whatever the path names.
        with self.pf("repl") as p:
            with open(self.path("new"), "w") as f:
                f.write("someone else's\n")
            os.replace(self.path("new"), p.filename)
        with open(self.path("repl.pid")) as f:
            self.assertEqual(f.read(), "someone else's\n")

    def test_5_release_after_the_file_was_deleted_keeps_the_next_instances_file(self):
        # The file was deleted (a tmp cleaner); a second instance started
        # with a file of its own. pid's close() at exit deletes that one.
        p = self.pf("inst", register_term_signal_handler=False)
        p.create()
        os.unlink(p.filename)
        proc = self.sleeper("inst")
        p.close()
        self.assertEqual(pidkit.check(self.path("inst.pid")), proc.pid)

    def test_6_forked_child_never_removes_or_unlocks_the_parents_file(self):
        # pid: each child's close() (explicit, atexit, or pid's SIGTERM
        # handler then atexit) deletes the parent's pidfile; the next start
        # then runs beside the parent.
        r = self.run_script(self.script("forker.py", FORKER), self.tmp, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {
            "close": [0, True, True, "locked"],
            "exit": [0, True, True, "locked"],
            "sigterm": [1, True, True, "locked"],
            "after_close": False,
        })

    def test_7_close_cleanup_true_never_removes_a_held_file(self):
        # pid: os.remove() from under the holder.
        with self.pf("held", register_term_signal_handler=False) as holder:
            other = self.pf("held")
            other.setup()
            other.close(cleanup=True)
            self.assertEqual(pidkit.check(holder.filename), os.getpid())

    def test_7_close_cleanup_false_on_the_holder_still_removes(self):
        # pid: the file stays, unlocked, naming a pid that will be recycled.
        p = self.pf("cf", register_term_signal_handler=False)
        p.create()
        p.close(cleanup=False)
        self.assertFalse(os.path.exists(p.filename))

    def test_8_check_on_the_holder_keeps_the_lock(self):
        # pid: check() on the holder raises and closes its descriptor, so
        # the lock is gone while the file stays.
        with self.pf("own", register_term_signal_handler=False) as p:
            with self.assertRaises(pid.PidFileAlreadyRunningError) as cm:
                p.check()
            self.assertEqual(cm.exception.pid, os.getpid())
            self.assertEqual(pidkit.check(p.filename), os.getpid())
            with self.assertRaises(pid.PidFileAlreadyLockedError):
                self.pf("own").create()

    def test_8_held_file_with_empty_content_is_running(self):
        # pid: PID_CHECK_EMPTY for a file its holder has not written yet.
        with pidkit.PidFile(self.path("nw.pid"), write=False):
            with self.assertRaises(pid.PidFileAlreadyRunningError) as cm:
                self.pf("nw").check()
            self.assertIsNone(cm.exception.pid)
