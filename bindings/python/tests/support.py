"""Shared helpers for the binding's tests: temp dirs, child scripts, and
making sure every process a test starts is gone when it ends."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import pidkit

PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(os.path.dirname(PKG_ROOT))
HEADER = os.path.join(REPO_ROOT, "include", "pidkit.h")


def child_env(**extra):
    """The environment for a Python child: it imports this pidkit and loads
    the same library."""
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["PIDKIT_LIBRARY"] = pidkit.library_path if os.sep in pidkit.library_path else env.get("PIDKIT_LIBRARY", "")
    if not env["PIDKIT_LIBRARY"]:
        del env["PIDKIT_LIBRARY"]
    env.update(extra)
    return env


def gone(pid):
    """True once pid names no process, or only a zombie nobody reaps yet."""
    try:
        return pidkit.proc_info(pid).state in ("Z", "X")
    except ProcessLookupError:
        return True


def wait_until(predicate, timeout=5.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def kill_and_wait(pid, timeout=5.0):
    """SIGKILL pid (if it still runs) and wait until it is gone; reaps it if
    it is our child."""
    if pid is None or pid <= 0:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    wait_until(lambda: gone(pid), timeout)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


class TestCase(unittest.TestCase):
    """A test with its own temp dir (self.tmp) and process cleanup."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pidkit-py-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, *names):
        return os.path.join(self.tmp, *names)

    def reap_later(self, pid):
        """Kill and reap pid at the end of the test, whatever happens."""
        self.addCleanup(kill_and_wait, pid)
        return pid

    def script(self, name, code):
        """Write a Python script into the temp dir; returns its path."""
        p = self.path(name)
        with open(p, "w") as f:
            f.write(textwrap.dedent(code))
        return p

    def popen(self, script, *args, **kw):
        """Start a Python script; it is killed (with its process group when
        it leads one) at the end of the test."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        proc = subprocess.Popen([sys.executable, script, *args], env=child_env(), **kw)

        def cleanup():
            if kw.get("start_new_session"):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            proc.kill()
            proc.communicate()
        self.addCleanup(cleanup)
        return proc

    def run_script(self, script, *args, timeout=15, **kw):
        return subprocess.run([sys.executable, script, *args], env=child_env(), capture_output=True,
                              text=True, timeout=timeout, **kw)

    def assertCarriesMessage(self, exc, *fragments):
        """The exception carries the library's message (pidkit_last_error())."""
        self.assertIsInstance(exc, pidkit.Error)
        self.assertTrue(exc.message, "empty message")
        self.assertEqual(str(exc), exc.message)
        self.assertEqual(exc.strerror, os.strerror(exc.errno))
        for f in fragments:
            self.assertIn(str(f), exc.message)
