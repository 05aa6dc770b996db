"""Process-id queries against the os module, and the error mapping."""

import dataclasses
import errno
import os
import subprocess
import sys
import threading

import pidkit
from support import TestCase


def dead_pid():
    """The pid of a child that has been reaped (names no process until recycled)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


class Ids(TestCase):
    def test_basic_ids_match_os(self):
        self.assertEqual(pidkit.getpid(), os.getpid())
        self.assertEqual(pidkit.getppid(), os.getppid())
        self.assertEqual(pidkit.gettid(), threading.get_native_id())
        self.assertEqual(pidkit.getsid(), os.getsid(0))
        self.assertEqual(pidkit.getsid(os.getppid()), os.getsid(os.getppid()))
        self.assertEqual(pidkit.getpgid(), os.getpgid(0))
        self.assertEqual(pidkit.getpgid(1), os.getpgid(1))

    def test_a_pid_too_large_for_pid_t_is_an_overflow_error_not_another_pid(self):
        # ctypes alone would keep the low 32 bits: 2**32 + our pid would be us.
        for f in (pidkit.getsid, pidkit.getpgid, pidkit.alive, pidkit.proc_info):
            with self.subTest(f=f.__name__):
                with self.assertRaises(OverflowError):
                    f(2**32 + os.getpid())
        with self.assertRaises(OverflowError):
            pidkit.kill("/nonexistent/x.pid", 2**32 + 15)
        with self.assertRaises(OverflowError):
            pidkit.PidFile("/nonexistent/x.pid", mode=2**32 + 0o644)
        with self.assertRaises(TypeError):
            pidkit.getsid(1.5)

    def test_gettid_in_a_thread(self):
        seen = []
        t = threading.Thread(target=lambda: seen.append((pidkit.gettid(), threading.get_native_id())))
        t.start()
        t.join()
        self.assertEqual(seen[0][0], seen[0][1])
        self.assertNotEqual(seen[0][0], os.getpid())

    def test_getsid_of_a_dead_pid_raises_process_lookup_error(self):
        """Seed scenario: getsid of a dead pid raises ProcessLookupError."""
        pid = dead_pid()
        with self.assertRaises(ProcessLookupError) as cm:
            pidkit.getsid(pid)
        self.assertEqual(cm.exception.errno, errno.ESRCH)
        self.assertCarriesMessage(cm.exception, pid, "no such process")
        with self.assertRaises(ProcessLookupError) as cm:
            pidkit.getpgid(pid)
        self.assertCarriesMessage(cm.exception, pid)
        with self.assertRaises(ProcessLookupError) as cm:
            pidkit.proc_info(pid)
        self.assertCarriesMessage(cm.exception, pid)
        self.assertFalse(pidkit.alive(pid))

    def test_negative_pids_are_einval_with_the_library_message(self):
        for call in (pidkit.getsid, pidkit.getpgid, pidkit.proc_info, pidkit.alive):
            with self.assertRaises(OSError) as cm:
                call(-1)
            self.assertEqual(cm.exception.errno, errno.EINVAL, call.__name__)
            self.assertCarriesMessage(cm.exception, "-1")
            self.assertEqual(cm.exception.message, pidkit.last_error())
        with self.assertRaises(OSError) as cm:
            pidkit.alive(0)
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_alive(self):
        self.assertTrue(pidkit.alive(os.getpid()))
        self.assertTrue(pidkit.alive(1))

    def test_setsid_in_a_fresh_child_and_in_a_group_leader(self):
        r = self.run_script(self.script("setsid.py", """
            import os, pidkit
            sid = pidkit.setsid()
            print(sid == os.getpid() == os.getsid(0))
            try:
                pidkit.setsid()
            except PermissionError as e:
                print("EPERM", e)
        """))
        self.assertEqual(r.stdout.splitlines()[0], "True", r.stderr)
        self.assertIn("EPERM", r.stdout)
        self.assertIn("leads a process group", r.stdout)


class ProcInfo(TestCase):
    def test_fields_match_os(self):
        info = pidkit.proc_info()
        self.assertEqual(info.pid, os.getpid())
        self.assertEqual(info.ppid, os.getppid())
        self.assertEqual(info.sid, os.getsid(0))
        self.assertEqual(info.pgid, os.getpgid(0))
        self.assertEqual(info.uid, os.getuid())
        with open("/proc/self/comm") as f:
            self.assertEqual(info.comm, f.read().rstrip("\n"))
        self.assertIsInstance(info.comm, str)
        self.assertIsInstance(info.state, str)
        self.assertEqual(info.state, "R")
        self.assertGreaterEqual(info.num_threads, threading.active_count())
        self.assertGreater(info.start_time, 0)
        self.assertGreater(info.rss_bytes, 0)
        self.assertGreaterEqual(info.vsize_bytes, info.rss_bytes)
        self.assertEqual(pidkit.proc_info(os.getpid()).start_time, info.start_time)

    def test_has_every_field_and_is_frozen(self):
        names = [f.name for f in dataclasses.fields(pidkit.ProcInfo)]
        self.assertEqual(names, ["pid", "ppid", "pgid", "sid", "tpgid", "tty_nr", "state", "uid",
                                 "num_threads", "start_time", "utime", "stime", "rss_bytes",
                                 "vsize_bytes", "comm"])
        with self.assertRaises(dataclasses.FrozenInstanceError):
            pidkit.proc_info().pid = 1

    def test_of_a_sleeping_child(self):
        p = subprocess.Popen(["sleep", "30"])
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        info = pidkit.proc_info(p.pid)
        self.assertEqual((info.pid, info.ppid, info.comm), (p.pid, os.getpid(), "sleep"))
        self.assertEqual(info.sid, os.getsid(p.pid))
        self.assertIn(info.state, ("S", "R"))
        self.assertEqual(info.num_threads, 1)


class Errors(TestCase):
    def test_the_class_is_what_oserror_picks_and_also_a_pidkit_error(self):
        for e, cls in ((errno.ESRCH, ProcessLookupError), (errno.ENOENT, FileNotFoundError),
                       (errno.EPERM, PermissionError), (errno.EEXIST, FileExistsError),
                       (errno.ECHILD, ChildProcessError), (errno.ETIMEDOUT, TimeoutError),
                       (errno.EINVAL, OSError)):
            exc = pidkit._error(e, "msg")
            self.assertIsInstance(exc, cls)
            self.assertIsInstance(exc, pidkit.Error)
            self.assertEqual((exc.errno, exc.strerror, str(exc)), (e, os.strerror(e), "msg"))

    def test_version(self):
        self.assertRegex(pidkit.version(), r"^\d+\.\d+\.\d+$")
