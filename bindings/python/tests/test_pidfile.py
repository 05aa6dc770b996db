"""PidFile, check, read and kill: the single-instance seed scenario, the
error cases, and the names shared with the `pid` package."""

import errno
import fcntl
import os
import pathlib
import signal
import stat
import time

import pidkit
from support import TestCase, wait_until

# The program of the seed scenario (and of the README's "From Python").
SINGLE_INSTANCE = """
    import sys, time, pidkit

    try:
        with pidkit.PidFile(sys.argv[1]) as pf:
            print(f"running as pid {pf.pid}", flush=True)
            time.sleep(60)
    except pidkit.PidFileHeldError as e:
        sys.exit(f"already running as pid {e.holder}: {e}")
"""


class SeedScenario(TestCase):
    def test_second_copy_refuses_while_the_first_runs_and_starts_after_sigkill(self):
        script = self.script("single.py", SINGLE_INSTANCE)
        pidfile = self.path("single.pid")

        first = self.popen(script, pidfile)
        self.assertEqual(first.stdout.readline().strip(), f"running as pid {first.pid}")
        self.assertEqual(pidkit.check(pidfile), first.pid)

        second = self.run_script(script, pidfile)
        self.assertEqual(second.returncode, 1)
        self.assertEqual(second.stdout, "")
        self.assertIn(f"already running as pid {first.pid}: pidfile {pidfile} is held by pid {first.pid}",
                      second.stderr)

        first.send_signal(signal.SIGKILL)
        first.wait()
        self.assertTrue(os.path.exists(pidfile), "SIGKILL leaves the file behind: stale")
        self.assertIsNone(pidkit.check(pidfile), "a stale file is not held")
        self.assertEqual(pidkit.read(pidfile), first.pid)

        third = self.popen(script, pidfile)
        self.assertEqual(third.stdout.readline().strip(), f"running as pid {third.pid}")
        self.assertEqual(pidkit.read(pidfile), third.pid)
        third.terminate()
        third.wait()


class Acquire(TestCase):
    def test_held_raises_pid_file_held_error_with_holder(self):
        p = self.path("a.pid")
        with pidkit.PidFile(p) as pf:
            self.assertEqual(pf.pid, os.getpid())
            with self.assertRaises(pidkit.PidFileHeldError) as cm:
                pidkit.PidFile(p).acquire()
            e = cm.exception
            self.assertIsInstance(e, FileExistsError)
            self.assertEqual((e.errno, e.holder, e.filename), (errno.EEXIST, os.getpid(), p))
            self.assertCarriesMessage(e, f"pidfile {p} is held by pid {os.getpid()}")
            with open(p) as f:
                self.assertEqual(f.read(), f"{os.getpid()}\n", "a refused acquire leaves the content")
        self.assertFalse(os.path.exists(p), "release removes the file")

    def test_symlink_is_eloop(self):
        target = self.path("target.pid")
        link = self.path("link.pid")
        os.symlink(target, link)
        with self.assertRaises(OSError) as cm:
            pidkit.PidFile(link).acquire()
        self.assertEqual(cm.exception.errno, errno.ELOOP)
        self.assertCarriesMessage(cm.exception, "symbolic link")
        self.assertFalse(os.path.exists(target), "the link was not followed")
        for call in (pidkit.check, pidkit.read, pidkit.kill):
            with self.assertRaises(OSError) as cm:
                call(link)
            self.assertEqual(cm.exception.errno, errno.ELOOP, call.__name__)

    def test_directory_is_einval(self):
        with self.assertRaises(OSError) as cm:
            pidkit.PidFile(self.tmp).acquire()
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertCarriesMessage(cm.exception, "not a regular file")

    def test_missing_directory_is_file_not_found(self):
        with self.assertRaises(FileNotFoundError) as cm:
            pidkit.PidFile(self.path("no", "such.pid")).acquire()
        self.assertCarriesMessage(cm.exception, "no/such.pid")

    def test_wait_with_timeout_raises_timeout_error_with_holder(self):
        p = self.path("w.pid")
        with pidkit.PidFile(p):
            t0 = time.monotonic()
            with self.assertRaises(pidkit.PidFileTimeoutError) as cm:
                pidkit.PidFile(p, timeout=0.3).acquire()
            self.assertGreaterEqual(time.monotonic() - t0, 0.25)
            self.assertIsInstance(cm.exception, TimeoutError)
            self.assertEqual(cm.exception.holder, os.getpid())
            self.assertCarriesMessage(cm.exception, p)

    def test_wait_gets_the_file_when_the_holder_goes(self):
        p = self.path("w.pid")
        holder = self.popen(self.script("hold.py", """
            import sys, time, pidkit
            with pidkit.PidFile(sys.argv[1]):
                print("held", flush=True)
                time.sleep(0.4)
        """), p)
        self.assertEqual(holder.stdout.readline().strip(), "held")
        with pidkit.PidFile(p, wait=True, timeout=10) as pf:
            self.assertEqual(pidkit.read(p), os.getpid())
            self.assertEqual(pf.pid, os.getpid())

    def test_no_write_then_write(self):
        p = self.path("nw.pid")
        with pidkit.PidFile(p, write=False) as pf:
            self.assertIsNone(pf.pid)
            self.assertEqual(pidkit.check(p), 0, "held, pid not written yet")
            with self.assertRaises(ProcessLookupError):
                pidkit.kill(p, 0)
            pf.write()
            self.assertEqual(pf.pid, os.getpid())
            self.assertEqual(pidkit.check(p), os.getpid())

    def test_keep_file_and_mode(self):
        p = self.path("k.pid")
        old = os.umask(0o022)
        try:
            with pidkit.PidFile(p, keep_file=True, mode=0o640):
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o640)
        finally:
            os.umask(old)
        self.assertTrue(os.path.exists(p))
        self.assertIsNone(pidkit.check(p))

    def test_strict_refuses_a_world_writable_directory(self):
        d = self.path("open")
        os.mkdir(d)
        os.chmod(d, 0o777)
        with self.assertRaises(PermissionError) as cm:
            pidkit.PidFile(os.path.join(d, "s.pid"), strict=True).acquire()
        self.assertCarriesMessage(cm.exception, "strict")
        self.assertFalse(os.path.exists(os.path.join(d, "s.pid")), "checked before creating")
        with pidkit.PidFile(os.path.join(d, "s.pid")):
            pass

    def test_fileno_is_the_locked_descriptor(self):
        p = self.path("f.pid")
        with pidkit.PidFile(p) as pf:
            fd = pf.fileno()
            self.assertEqual(os.fstat(fd).st_ino, os.stat(p).st_ino)
            with open(p) as other, self.assertRaises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with self.assertRaises(ValueError):
            pf.fileno()

    def test_paths_str_bytes_pathlike_and_nul(self):
        for p in (self.path("s.pid"), os.fsencode(self.path("b.pid")), pathlib.Path(self.tmp, "p.pid")):
            with pidkit.PidFile(p) as pf:
                self.assertEqual(pidkit.check(p), os.getpid())
                self.assertEqual(pf.filename, os.fspath(p))
        with self.assertRaises(ValueError):
            pidkit.PidFile(self.path("a\0b"))
        with self.assertRaises(ValueError):
            pidkit.check("a\0b")

    def test_relative_path_is_resolved_at_acquire(self):
        cwd = os.getcwd()
        self.addCleanup(os.chdir, cwd)
        os.chdir(self.tmp)
        pf = pidkit.PidFile("rel.pid").acquire()
        os.chdir("/")
        pf.release()
        self.assertFalse(os.path.exists(self.path("rel.pid")))

    def test_release_in_a_forked_child_leaves_the_parent_holding(self):
        p = self.path("fork.pid")
        with pidkit.PidFile(p) as pf:
            child = os.fork()
            if child == 0:
                try:
                    pf.release()
                finally:
                    os._exit(0)
            os.waitpid(child, 0)
            self.assertEqual(pidkit.check(p), os.getpid())
            self.assertTrue(os.path.exists(p))

    def test_acquire_twice_and_release_twice(self):
        pf = pidkit.PidFile(self.path("t.pid")).acquire()
        with self.assertRaises(RuntimeError):
            pf.acquire()
        pf.release()
        pf.release()
        self.assertFalse(pf.acquired)


class CheckReadKill(TestCase):
    def test_absent(self):
        p = self.path("none.pid")
        self.assertIsNone(pidkit.check(p))
        with self.assertRaises(FileNotFoundError) as cm:
            pidkit.read(p)
        self.assertCarriesMessage(cm.exception, p)
        with self.assertRaises(ProcessLookupError) as cm:
            pidkit.kill(p)
        self.assertCarriesMessage(cm.exception, p, "does not exist")

    def test_garbage_is_ebadmsg(self):
        p = self.path("bad.pid")
        with open(p, "w") as f:
            f.write("12 34\n")
        with self.assertRaises(OSError) as cm:
            pidkit.read(p)
        self.assertEqual(cm.exception.errno, errno.EBADMSG)
        self.assertCarriesMessage(cm.exception, "decimal pid")

    def test_stale_file_naming_a_live_pid_is_not_held(self):
        """Unlike the `pid` package: the lock decides, not the pid."""
        p = self.path("stale.pid")
        with open(p, "w") as f:
            f.write(f"{os.getppid()}\n")
        self.assertIsNone(pidkit.check(p))
        with self.assertRaises(ProcessLookupError) as cm:
            pidkit.kill(p, 0)
        self.assertCarriesMessage(cm.exception, "stale")
        with pidkit.PidFile(p):
            self.assertEqual(pidkit.read(p), os.getpid())

    def test_kill_signals_the_holder(self):
        p = self.path("k.pid")
        holder = self.popen(self.script("hold.py", """
            import signal, sys, time, pidkit
            signal.signal(signal.SIGUSR1, lambda *a: print("usr1", flush=True))
            with pidkit.PidFile(sys.argv[1]):
                print("held", flush=True)
                time.sleep(30)
        """), p)
        self.assertEqual(holder.stdout.readline().strip(), "held")
        self.assertEqual(pidkit.kill(p, 0), holder.pid)
        self.assertEqual(pidkit.kill(p, signal.SIGUSR1), holder.pid)
        self.assertEqual(holder.stdout.readline().strip(), "usr1")
        self.assertEqual(pidkit.kill(p), holder.pid)
        holder.wait(5)
        self.assertEqual(holder.returncode, -signal.SIGTERM)
        self.assertTrue(wait_until(lambda: pidkit.check(p) is None))


class PidPackageNames(TestCase):
    """The names of the `pid` package's PidFile that mean the same here."""

    def test_names(self):
        p = self.path("compat.pid")
        pf = pidkit.PidFile(p, mode=0o600)
        self.assertIsNone(pf.pid)
        self.assertEqual(pf.filename, p)
        self.assertEqual(pf.chmod, 0o600)
        pf.create()
        self.assertEqual(pf.pid, os.getpid())
        self.assertEqual(pf.check(), os.getpid())
        pf.close()
        self.assertFalse(os.path.exists(p))
        with pidkit.PidFile(p) as entered:
            self.assertIsInstance(entered, pidkit.PidFile)
            with self.assertRaises(pidkit.PidFileAlreadyLockedError):
                pidkit.PidFile(p).create()
        self.assertIs(pidkit.PidFileAlreadyRunningError, pidkit.PidFileHeldError)
