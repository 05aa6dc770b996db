"""pidkit.Process, pidkit.processes() and pidkit.kill_processes() with real
processes: children, double-forked strangers, sessions of several process
groups (seed 004), and a psutil-style monitoring loop (seed 000)."""

import dataclasses
import errno
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import unittest

import pidkit
from support import PKG_ROOT, TestCase, gone, kill_and_wait, wait_until


def child(*argv):
    """Start argv as our child (no Popen object: pidkit reaps it in these
    tests); returns its pid."""
    return os.posix_spawnp(argv[0], list(argv), os.environ)


def alive_members(**criteria):
    """processes(**criteria) without zombies."""
    return [p for p in pidkit.processes(**criteria) if p.state not in ("Z", "X")]


SESSION_SCRIPT = """
    import os, sys, time
    # Leads its own session (started with start_new_session): its group is
    # the session's first; two children start a group each, and each of them
    # has a child of its own in that group.
    kids = []
    for g in range(2):
        pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
            time.sleep(600)
            os._exit(0)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        kids.append(pid)
    {extra}
    print(" ".join(map(str, kids)), flush=True)
    time.sleep(600)
"""


class SessionTest(TestCase):
    def start_session(self, extra=""):
        """Seed 004: a program leading its own session with three process
        groups (five processes). Returns (Popen, sid)."""
        script = self.script("session.py", SESSION_SCRIPT.replace("{extra}", extra))
        proc = self.popen(script, start_new_session=True)
        sid = proc.pid

        def cleanup():
            try:
                pidkit.kill_processes(session=sid, sig=signal.SIGKILL, timeout=10)
            except OSError:
                pass
        self.addCleanup(cleanup)
        line = proc.stdout.readline()
        self.assertTrue(line, proc.stderr.read() if proc.poll() is not None else "no output")
        self.assertTrue(wait_until(lambda: len(alive_members(session=sid)) == 5, 10),
                        pidkit.processes(session=sid))
        return proc, sid


class ProcessHandle(TestCase):
    def test_the_caller(self):
        with pidkit.Process() as me:
            self.assertEqual(me.pid, os.getpid())
            info = me.info()
            self.assertIsInstance(info, pidkit.ProcInfo)
            self.assertEqual((info.pid, info.ppid, info.sid, info.pgid), (os.getpid(), os.getppid(),
                                                                           os.getsid(0), os.getpgid(0)))
            self.assertEqual(me.status(), "running")
            self.assertEqual(me.ppid(), os.getppid())
            self.assertTrue(me.is_running())
            self.assertGreaterEqual(me.fileno(), 0)
            with self.assertRaises(OSError) as cm:
                me.wait(0)
            self.assertEqual(cm.exception.errno, errno.EDEADLK)
            self.assertIn("open", repr(me))
        self.assertIn("closed", repr(me))
        with self.assertRaises(ValueError):
            me.info()
        me.close()   # idempotent
        self.assertEqual(pidkit.Process(os.getpid()).pid, os.getpid())

    def test_bad_pids(self):
        with self.assertRaises(ProcessLookupError) as cm:
            pidkit.Process(dead_pid())
        self.assertCarriesMessage(cm.exception)
        with self.assertRaises(OSError) as cm:
            pidkit.Process(-1)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with self.assertRaises(OverflowError):
            pidkit.Process(2**32 + os.getpid())

    def test_wait_for_a_child_returns_subprocess_exit_codes(self):
        for argv, want in ((["sh", "-c", "exit 3"], 3), (["true"], 0),
                           (["sh", "-c", "kill -9 $$"], -9)):
            with self.subTest(argv=argv):
                pid = self.reap_later(child(*argv))
                with pidkit.Process(pid) as proc:
                    self.assertEqual(proc.wait(timeout=30), want)
                    self.assertEqual(proc.wait(), want, "the same code on a later call")
                    self.assertFalse(proc.is_running())

    def test_terminate_and_kill_a_child(self):
        for method, want in (("terminate", -signal.SIGTERM), ("kill", -signal.SIGKILL)):
            proc = pidkit.Process(self.reap_later(child("sleep", "60")))
            self.addCleanup(proc.close)
            self.assertTrue(proc.is_running())
            getattr(proc, method)()
            self.assertEqual(proc.wait(30), want, method)

    def test_send_signal_and_status(self):
        with pidkit.Process(self.reap_later(child("sleep", "60"))) as proc:
            self.assertTrue(wait_until(lambda: proc.status() == "sleeping" and proc.name() == "sleep"))
            proc.send_signal(signal.SIGSTOP)
            self.assertTrue(wait_until(lambda: proc.status() == "stopped"), proc.status())
            proc.send_signal(signal.SIGCONT)
            self.assertTrue(wait_until(lambda: proc.status() == "sleeping"), proc.status())
            proc.send_signal(0)
            proc.kill()
            self.assertTrue(wait_until(lambda: proc.status() == "zombie"), proc.status())
            self.assertTrue(proc.is_running(), "a zombie is running, as psutil says")
            proc.send_signal(signal.SIGTERM)   # a zombie: nothing happens, no error
            self.assertEqual(proc.wait(5), -signal.SIGKILL)

    def test_a_reaped_process_is_never_confused_with_its_pid_s_next_owner(self):
        p = subprocess.Popen(["sleep", "60"])
        self.reap_later(p.pid)
        proc = pidkit.Process(p.pid)
        self.addCleanup(proc.close)
        p.kill()
        p.wait()            # reaped behind the handle's back: the pid is free now
        self.assertFalse(proc.is_running())
        for call in (proc.info, proc.terminate, proc.status, proc.name, proc.memory_info):
            with self.assertRaises(ProcessLookupError, msg=call.__name__):
                call()
        self.assertIsNone(proc.wait(5), "exited, reaped by someone else: None")

    def test_wait_for_a_process_that_is_not_our_child(self):
        pid = self.reap_later(pidkit.spawn(["sleep", "60"]))
        self.assertNotEqual(pidkit.proc_info(pid).ppid, os.getpid())
        with pidkit.Process(pid) as proc:
            t0 = time.monotonic()
            with self.assertRaises(pidkit.ProcessTimeoutError) as cm:
                proc.wait(timeout=0.3)
            self.assertGreaterEqual(time.monotonic() - t0, 0.25)
            e = cm.exception
            self.assertIsInstance(e, TimeoutError)
            self.assertIsInstance(e, pidkit.Error)
            self.assertIs(pidkit.TimeoutExpired, pidkit.ProcessTimeoutError)
            self.assertEqual((e.errno, e.pid, e.timeout), (errno.ETIMEDOUT, pid, 0.3))
            self.assertIn(str(pid), str(e))
            with self.assertRaises(pidkit.ProcessTimeoutError):
                proc.wait(timeout=0)
            with self.assertRaises(ValueError):
                proc.wait(timeout=-1)
            os.kill(pid, signal.SIGTERM)
            self.assertIsNone(proc.wait(timeout=30), "another process's child: None")
            self.assertTrue(gone(pid))

    def test_fileno_is_a_pidfd_readable_once_the_process_exited(self):
        pid = self.reap_later(child("sleep", "60"))
        with pidkit.Process(pid) as proc:
            fd = proc.fileno()
            self.assertEqual(select.select([fd], [], [], 0)[0], [])
            os.kill(pid, signal.SIGTERM)
            self.assertEqual(select.select([fd], [], [], 30)[0], [fd])
            self.assertEqual(proc.wait(), -signal.SIGTERM)

    @unittest.skipUnless(hasattr(os, "pidfd_open"), "os.pidfd_open needs Python >= 3.9")
    def test_from_pidfd(self):
        pid = self.reap_later(child("sleep", "60"))
        fd = os.pidfd_open(pid)
        self.addCleanup(os.close, fd)
        with pidkit.Process.from_pidfd(fd) as proc:
            self.assertEqual(proc.pid, pid)
            self.assertNotEqual(proc.fileno(), fd, "the Process keeps its own duplicate")
            proc.kill()
            self.assertEqual(proc.wait(30), -signal.SIGKILL)
        os.fstat(fd)        # the caller's descriptor is still open
        with self.assertRaises(OSError):
            pidkit.Process.from_pidfd(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))

    def test_name_of_a_program_with_a_long_name(self):
        prog = self.path("a-program-with-a-long-name")
        shutil.copy(shutil.which("sleep"), prog)
        with pidkit.Process(self.reap_later(child(prog, "60"))) as proc:
            self.assertTrue(wait_until(lambda: proc.info().comm == "a-program-with-"))
            self.assertEqual(proc.name(), "a-program-with-a-long-name")

    def test_memory_info_and_cpu_percent(self):
        busy = self.reap_later(child(sys.executable, "-c", "while True: pass"))
        idle = self.reap_later(child("sleep", "60"))
        with pidkit.Process(busy) as b, pidkit.Process(idle) as i:
            self.assertTrue(wait_until(lambda: b.memory_info().rss > 1 << 20))
            m = b.memory_info()
            self.assertIsInstance(m, pidkit.MemoryInfo)
            self.assertGreaterEqual(m.vms, m.rss)
            self.assertEqual(m.rss, m[0])
            self.assertEqual(b.cpu_percent(), 0.0, "the first non-blocking call says 0.0")
            self.assertEqual(i.cpu_percent(), 0.0)
            time.sleep(0.5)
            # A busy loop on a loaded machine still gets a good share.
            self.assertGreater(b.cpu_percent(), 5.0)
            self.assertLess(i.cpu_percent(), 5.0)
            self.assertGreater(b.cpu_percent(interval=0.3), 5.0)
            self.assertLess(i.cpu_percent(interval=0.3), 5.0)
            with self.assertRaises(ValueError):
                b.cpu_percent(interval=-1)

    def test_seed_000_monitoring_loop_with_pidkit_process_in_place_of_psutil(self):
        """Seed 000: the psutil monitoring example, psutil.Process replaced by
        pidkit.Process and nothing else changed."""
        target = subprocess.Popen([sys.executable, "-c",
                                   "import time\nx = bytearray(8 << 20)\nt = time.time()\n"
                                   "while time.time() - t < 1.5: pass\ntime.sleep(0.5)\n"])
        self.reap_later(target.pid)
        monitor = self.script("monitor.py", """
            import sys
            import pidkit as psutil_like

            pid = int(sys.argv[1])
            p = psutil_like.Process(pid)
            samples = 0
            while p.is_running() and p.status() != "zombie":
                try:
                    cpu = p.cpu_percent(interval=0.2)
                    rss = p.memory_info().rss
                    print(f"{p.name()} {p.status()} cpu={cpu:.1f}% rss={rss // 1024} KiB", flush=True)
                    samples += 1
                except ProcessLookupError:
                    break
            print("done", samples)
        """)
        r = self.run_script(monitor, str(target.pid), timeout=60)
        lines = r.stdout.splitlines()
        self.assertTrue(lines and lines[-1].startswith("done"), r.stdout + r.stderr)
        rows = [line.split() for line in lines[:-1]]
        self.assertGreaterEqual(len(rows), 3, r.stdout)
        comm = os.path.basename(sys.executable)[:15]
        for name, status, cpu, rss, _ in rows:
            self.assertEqual(name, comm)
            self.assertIn(status, ("running", "sleeping", "zombie"))
        self.assertTrue(any(int(row[3][4:]) > 8 * 1024 for row in rows), r.stdout)
        self.assertTrue(any(float(row[2][4:-1]) > 5 for row in rows), r.stdout)
        self.assertEqual(target.wait(30), 0)


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


class Listing(SessionTest):
    def test_every_process(self):
        rows = pidkit.processes()
        pids = [p.pid for p in rows]
        self.assertEqual(pids, sorted(pids))
        self.assertEqual(len(pids), len(set(pids)))
        self.assertIn(1, pids)
        me = rows[pids.index(os.getpid())]
        ref = pidkit.proc_info()
        self.assertIsInstance(me, pidkit.ProcInfo)
        for f in ("pid", "ppid", "pgid", "sid", "tpgid", "tty_nr", "uid", "start_time", "comm"):
            self.assertEqual(getattr(me, f), getattr(ref, f), f)
        self.assertEqual(me.state, "R")
        self.assertGreater(me.rss_bytes, 0)
        self.assertEqual(me, dataclasses.replace(me))
        with self.assertRaises(dataclasses.FrozenInstanceError):
            me.pid = 1
        on_disk = {int(d) for d in os.listdir("/proc") if d.isdigit()}
        self.assertGreater(len(on_disk & set(pids)), len(on_disk) * 0.9)

    def test_without_uid_the_rows_are_the_same_but_for_the_uid(self):
        if os.getppid() <= 0:
            self.skipTest("our parent is outside this pid namespace")
        # Our parent's children (a session id may be 0 here: its leader
        # can be outside a pid namespace).
        rows = pidkit.processes(ppid=os.getppid(), with_uid=False)
        me = [r for r in rows if r.pid == os.getpid()]
        self.assertEqual(len(me), 1)
        self.assertEqual(me[0].uid, 2**32 - 1, "not read")
        self.assertEqual(me[0].ppid, os.getppid())
        self.assertTrue(all(r.uid == 2**32 - 1 for r in rows))
        mine = pidkit.processes(uid=os.getuid(), with_uid=False)
        self.assertTrue(mine and all(r.uid == os.getuid() for r in mine), "a uid filter reads it")
        everyone = pidkit.processes(with_uid=False)
        self.assertIn(1, [r.pid for r in everyone])

    def test_a_listing_larger_than_the_array_grows_it_and_lists_again(self):
        saved = pidkit._list_capacity
        self.addCleanup(setattr, pidkit, "_list_capacity", saved)
        pidkit._list_capacity = 2
        rows = pidkit.processes()
        self.assertGreater(len(rows), 2)
        self.assertGreater(pidkit._list_capacity, 2)
        self.assertIn(os.getpid(), [p.pid for p in rows])

    def test_filters(self):
        proc, sid = self.start_session()
        members = alive_members(session=sid)
        self.assertEqual({p.sid for p in members}, {sid})
        groups = sorted({p.pgid for p in members})
        self.assertEqual(len(groups), 3)
        self.assertIn(sid, groups)
        kids = [p.pid for p in members if p.ppid == sid]
        self.assertEqual(len(kids), 2)
        self.assertEqual([p.pid for p in pidkit.processes(ppid=sid)], sorted(kids))
        self.assertEqual([p.pid for p in alive_members(descendants_of=sid)],
                         sorted(p.pid for p in members if p.pid != sid))
        other = [g for g in groups if g != sid][0]
        in_group = alive_members(pgid=other)
        self.assertEqual(len(in_group), 2)
        self.assertEqual({p.pgid for p in in_group}, {other})
        self.assertEqual([p.pid for p in pidkit.processes(session=sid, pgid=other, ppid=sid)], [other])
        self.assertEqual(len(alive_members(session=sid, uid=os.getuid())), 5)
        me = pidkit.processes(uid=os.getuid())
        self.assertIn(os.getpid(), [p.pid for p in me])
        self.assertEqual({p.uid for p in me}, {os.getuid()})
        import pwd
        by_name = pidkit.processes(session=sid, uid=pwd.getpwuid(os.getuid()).pw_name)
        self.assertEqual(len([p for p in by_name if p.state != "Z"]), 5)
        self.assertEqual(pidkit.processes(session=sid, uid=os.getuid() + 4242), [])
        self.assertEqual(pidkit.processes(session=dead_pid()), [])
        self.assertEqual([p.pid for p in pidkit.processes(descendants_of=os.getpid(), session=sid)],
                         sorted(p.pid for p in members))

    def test_ids_must_be_positive(self):
        for kw in ({"session": 0}, {"pgid": -1}, {"ppid": 0}, {"descendants_of": 0}):
            with self.subTest(**kw):
                with self.assertRaises(OSError) as cm:
                    pidkit.processes(**kw)
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                self.assertCarriesMessage(cm.exception)
        with self.assertRaises(ValueError):
            pidkit.processes(uid="no-such-user-pidkit")
        with self.assertRaises(OverflowError):
            pidkit.processes(session=2**32 + 1)


class KillProcesses(SessionTest):
    def test_seed_004_kill_minus_sid_leaves_two_groups_kill_processes_ends_them_all(self):
        proc, sid = self.start_session()
        os.kill(-sid, signal.SIGKILL)          # kill -9 -SID: the group SID only
        self.assertEqual(proc.wait(10), -signal.SIGKILL)
        self.assertTrue(wait_until(lambda: len(alive_members(session=sid)) == 4, 10))
        left = alive_members(session=sid)
        self.assertEqual(len({p.pgid for p in left}), 2, "two process groups survive kill -9 -SID")
        n = pidkit.kill_processes(session=sid, sig=signal.SIGKILL, timeout=30)
        self.assertEqual(n, 4)
        self.assertEqual(alive_members(session=sid), [])
        for p in left:
            self.assertTrue(gone(p.pid))
        self.assertEqual(pidkit.kill_processes(session=sid), 0, "none left: 0")

    def test_sigterm_default_without_waiting(self):
        proc, sid = self.start_session()
        members = alive_members(session=sid)
        n = pidkit.kill_processes(session=sid)
        self.assertEqual(n, 5)
        self.assertEqual(proc.wait(10), -signal.SIGTERM)
        for p in members:
            self.assertTrue(wait_until(lambda: gone(p.pid), 10), p)

    def test_selectors_pgid_ppid_descendants_uid(self):
        proc, sid = self.start_session()
        members = alive_members(session=sid)
        other = sorted({p.pgid for p in members} - {sid})
        self.assertEqual(pidkit.kill_processes(pgid=other[0], sig=signal.SIGKILL, wait=True), 2)
        self.assertEqual(len(alive_members(session=sid)), 3)
        # ppid: the remaining child of the leader (its own child is a grandchild).
        self.assertEqual(pidkit.kill_processes(ppid=sid, sig=signal.SIGKILL, timeout=30), 1)
        self.assertEqual(len(alive_members(session=sid)), 2)
        self.assertEqual(pidkit.kill_processes(descendants_of=sid, sig=signal.SIGKILL, timeout=30), 0,
                         "the grandchild was reparented when its parent died")
        self.assertEqual(pidkit.kill_processes(session=sid, uid=os.getuid(), sig=signal.SIGKILL,
                                               timeout=30), 2)
        self.assertEqual(alive_members(session=sid), [])

    def test_descendants(self):
        proc, sid = self.start_session()
        self.assertEqual(pidkit.kill_processes(descendants_of=sid, sig=signal.SIGKILL, timeout=30), 4)
        self.assertEqual([p.pid for p in alive_members(session=sid)], [sid])

    def test_timeout_and_escalation(self):
        # Every member ignores SIGTERM (the children inherit the disposition).
        proc, sid = self.start_session()
        proc2, sid2 = self._stubborn_session()
        t0 = time.monotonic()
        with self.assertRaises(pidkit.ProcessTimeoutError) as cm:
            pidkit.kill_processes(session=sid2, timeout=0.5)
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)
        e = cm.exception
        self.assertIsInstance(e, TimeoutError)
        self.assertEqual((e.signalled, e.alive, e.timeout), (5, 5, 0.5))
        self.assertEqual(len(alive_members(session=sid2)), 5)
        n = pidkit.kill_processes(session=sid2, timeout=5, escalate=signal.SIGKILL)
        self.assertEqual(n, 5)
        self.assertEqual(alive_members(session=sid2), [])
        self.assertEqual(len(alive_members(session=sid)), 5, "the other session is untouched")

    def _stubborn_session(self):
        script = self.script("stubborn.py", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                             + SESSION_SCRIPT.replace("{extra}", "").replace("\n    ", "\n"))
        proc = self.popen(script, start_new_session=True)
        sid = proc.pid
        self.addCleanup(lambda: pidkit.kill_processes(session=sid, sig=signal.SIGKILL, timeout=10))
        self.assertTrue(proc.stdout.readline())
        self.assertTrue(wait_until(lambda: len(alive_members(session=sid)) == 5, 10))
        return proc, sid

    def test_refuses_without_a_selector_and_bad_arguments(self):
        with self.assertRaises(ValueError):
            pidkit.kill_processes()
        with self.assertRaises(ValueError):
            pidkit.kill_processes(sig=signal.SIGKILL, timeout=1)
        with self.assertRaises(ValueError):
            pidkit.kill_processes(session=os.getsid(0), sig=0, escalate=signal.SIGKILL)
        with self.assertRaises(OSError) as cm:
            pidkit.kill_processes(session=0)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with self.assertRaises(OSError) as cm:
            pidkit.kill_processes(session=dead_pid(), sig=12345)
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_signal_zero_only_counts_and_never_the_caller(self):
        proc, sid = self.start_session()
        self.assertEqual(pidkit.kill_processes(session=sid, sig=0), 5)
        self.assertEqual(len(alive_members(session=sid)), 5)
        # The caller's own session: everyone but the caller (sig 0: nobody hurt).
        if os.getsid(0) == 0:
            self.skipTest("our session is led from outside this pid namespace (getsid gives 0)")
        mine = alive_members(session=os.getsid(0))
        n = pidkit.kill_processes(session=os.getsid(0), sig=0)
        self.assertLessEqual(n, len([p for p in mine if p.pid not in (1, os.getpid())]))


class Typing(TestCase):
    def test_the_package_is_typed(self):
        self.assertTrue(os.path.exists(os.path.join(PKG_ROOT, "pidkit", "py.typed")))
        import inspect
        for name in pidkit.__all__:
            obj = getattr(pidkit, name)
            fns = []
            if inspect.isfunction(obj):
                fns = [obj]
            elif inspect.isclass(obj) and obj.__module__ == "pidkit":
                fns = [f for n, f in vars(obj).items() if inspect.isfunction(f)
                       and (not n.startswith("_") or n == "__init__")]
            for f in fns:
                with self.subTest(f=f.__qualname__):
                    self.assertIn("return", f.__annotations__, f.__qualname__)

    def test_sdist_carries_py_typed(self):
        import importlib
        import tarfile
        sys.path.insert(0, os.path.join(PKG_ROOT, "_backend"))
        try:
            backend = importlib.import_module("pidkit_backend")
        finally:
            sys.path.pop(0)
        name = backend.build_sdist(self.tmp)
        with tarfile.open(self.path(name)) as t:
            self.assertTrue(any(n.endswith("/pidkit/py.typed") for n in t.getnames()))

    @unittest.skipUnless(subprocess.run([sys.executable, "-m", "mypy", "--version"],
                                        capture_output=True).returncode == 0, "mypy not installed")
    def test_mypy_strict(self):
        r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", self.path("c"), "-p",
                            "pidkit"], capture_output=True, text=True, cwd=PKG_ROOT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
