"""spawn: a program in a new session it leads, with exec errors raised."""

import errno
import os

import pidkit
from support import TestCase, wait_until


class Spawn(TestCase):
    def test_returns_a_pid_in_a_new_session_that_is_no_child(self):
        pid = self.reap_later(pidkit.spawn(["sleep", "30"]))
        self.assertEqual(pidkit.getsid(pid), pid)
        self.assertEqual(pidkit.getpgid(pid), pid)
        info = pidkit.proc_info(pid)
        self.assertEqual(info.comm, "sleep")
        self.assertNotEqual(info.ppid, os.getpid(), "double fork: not our child")
        self.assertEqual(info.tty_nr, 0)
        with self.assertRaises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

    def test_pidfile_is_held_and_a_second_start_is_refused_with_the_holder(self):
        pidfile = self.path("s.pid")
        pid = self.reap_later(pidkit.spawn(["sleep", "30"], pidfile=pidfile))
        self.assertEqual(pidkit.check(pidfile), pid)
        with self.assertRaises(pidkit.PidFileHeldError) as cm:
            self.reap_later(pidkit.spawn(["sleep", "30"], pidfile=pidfile))
        self.assertEqual(cm.exception.holder, pid)
        self.assertCarriesMessage(cm.exception, pid)
        self.assertEqual(pidkit.kill(pidfile), pid)
        self.assertTrue(wait_until(lambda: pidkit.check(pidfile) is None))

    def test_the_holder_comes_from_the_refused_call_itself(self):
        # No check() after the refusal: it would race with the holder's exit.
        pidfile = self.path("h.pid")
        pid = self.reap_later(pidkit.spawn(["sleep", "30"], pidfile=pidfile))
        original_check = pidkit.check

        def no_check(*args, **kwargs):
            raise AssertionError("spawn asked check() for the holder")

        pidkit.check = no_check
        try:
            with self.assertRaises(pidkit.PidFileHeldError) as cm:
                self.reap_later(pidkit.spawn(["sleep", "30"], pidfile=pidfile))
        finally:
            pidkit.check = original_check
        self.assertEqual(cm.exception.holder, pid)
        self.assertEqual(cm.exception.errno, errno.EEXIST)
        self.assertEqual(pidkit.kill(pidfile), pid)

    def test_exec_failure_is_raised_with_the_message(self):
        with self.assertRaises(FileNotFoundError) as cm:
            pidkit.spawn(["pidkit-no-such-program-here"])
        self.assertCarriesMessage(cm.exception, "pidkit-no-such-program-here")
        with self.assertRaises(FileNotFoundError):
            pidkit.spawn(["pidkit-no-such-program-here"], search_path=False)
        with self.assertRaises(ValueError):
            pidkit.spawn([])

    def test_env_workdir_and_stdout(self):
        out = self.path("out.txt")
        pid = self.reap_later(pidkit.spawn(["sh", "-c", 'echo "$GREETING from $(pwd)"'],
                                           env={"GREETING": "hello", "PATH": os.environ["PATH"]},
                                           workdir=self.tmp, stdout=out))
        self.assertTrue(wait_until(lambda: os.path.exists(out) and os.path.getsize(out) > 0))
        with open(out) as f:
            self.assertEqual(f.read(), f"hello from {self.tmp}\n")
        self.assertGreater(pid, 0)

    def test_no_double_fork_makes_a_child_to_reap(self):
        pid = pidkit.spawn(["sh", "-c", "exit 7"], no_double_fork=True)
        _, status = os.waitpid(pid, 0)
        self.assertTrue(os.WIFEXITED(status))
        self.assertEqual(os.WEXITSTATUS(status), 7)

    def test_bad_env_name(self):
        with self.assertRaises(ValueError):
            pidkit.spawn(["true"], env={"A=B": "c"})

    def test_missing_workdir_is_raised_with_the_message(self):
        with self.assertRaises(FileNotFoundError) as cm:
            pidkit.spawn(["true"], workdir=self.path("nowhere"))
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertCarriesMessage(cm.exception, "nowhere")
