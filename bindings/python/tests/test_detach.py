"""detach/detach_ready with real processes: every case runs a small script
(the original process) in a new session of its own; the daemon reports what
it saw in a JSON file; the test kills every process it started."""

import errno
import json
import os
import signal

import pidkit
from support import TestCase, gone, wait_until

# argv: state-file log-file pidfile. The original prints one JSON line and
# stays alive (so that the test can kill its session); the daemon reports
# through the state file, says ready, and waits to be killed.
DAEMON = """
    import json, logging, os, random, signal, sys, threading, time, pidkit

    state, log, pidfile = sys.argv[1:4]
    events = []
    os.register_at_fork(before=lambda: events.append("before"),
                        after_in_parent=lambda: events.append("after_in_parent"),
                        after_in_child=lambda: events.append(f"after_in_child {os.getpid()}"))
    early = logging.FileHandler(log)            # opened before detach: its fd is kept
    logging.getLogger().addHandler(early)
    logging.getLogger().setLevel(logging.INFO)
    signal.signal(signal.SIGUSR1, lambda *a: None)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # whatever the test runner's shell did
    signal.signal(signal.SIGHUP, signal.SIG_IGN)               # as under nohup
    old = {"pid": os.getpid(), "sid": os.getsid(0), "pgid": os.getpgid(0)}

    with pidkit.PidFile(pidfile) as pf:
        pid = pidkit.detach(workdir=os.path.dirname(state), keep_fds=[early.stream.fileno()], pidfile=pf)
        if pid > 0:
            print(json.dumps({"daemon": pid, "events": events, "pf_pid": pf.pid, "random": random.random(),
                              **old}), flush=True)
            time.sleep(60)
            sys.exit(0)

        thread_ids = []
        t = threading.Thread(target=lambda: thread_ids.append(threading.get_native_id()))
        t.start()
        t.join()
        logging.info("daemon %d logs through a handler opened before detach", os.getpid())
        late = logging.FileHandler(log + ".late")
        logging.getLogger().addHandler(late)
        logging.info("and through one opened after")
        with open("/proc/self/status") as f:
            status = dict(line.split(":\\t", 1) for line in f.read().splitlines() if ":\\t" in line)
        report = {
            "pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0), "pgid": os.getpgid(0),
            "cwd": os.getcwd(), "umask": os.umask(0), "events": events, "pf_pid": pf.pid,
            "thread_ids": thread_ids, "active_threads": threading.active_count(),
            "main_thread_is_me": threading.main_thread() is threading.current_thread(),
            "sigint": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
            "sighup_default": signal.getsignal(signal.SIGHUP) == signal.SIG_DFL,
            "sigcgt": int(status["SigCgt"], 16), "sigign": int(status["SigIgn"], 16),
            "fds": sorted(int(x) for x in os.listdir("/proc/self/fd")),
            "early_fd": early.stream.fileno(), "random": random.random(),
        }
        with open(state + ".tmp", "w") as f:
            json.dump(report, f)
        os.rename(state + ".tmp", state)
        pidkit.detach_ready()
        while True:
            time.sleep(1)
"""


def sigbit(sig):
    return 1 << (int(sig) - 1)


class SeedScenario(TestCase):
    def test_daemon_survives_the_kill_of_its_old_session_and_python_works_in_it(self):
        state, log, pidfile = self.path("state.json"), self.path("daemon.log"), self.path("d.pid")
        orig = self.popen(self.script("daemon.py", DAEMON), state, log, pidfile, start_new_session=True)
        line = orig.stdout.readline()
        self.assertTrue(line, orig.stderr.read() if orig.poll() is not None else "no output")
        parent = json.loads(line)
        daemon = self.reap_later(parent["daemon"])
        with open(state) as f:
            d = json.load(f)

        # The original: fork hooks as around os.fork, pidfile handed over.
        self.assertEqual(parent["events"], ["before", "after_in_parent"])
        self.assertEqual(parent["pf_pid"], daemon)
        self.assertEqual(pidkit.check(pidfile), daemon)

        # The daemon: a new session it does not lead (double fork), in workdir.
        self.assertEqual(d["pid"], daemon)
        self.assertNotIn(d["sid"], (parent["sid"], daemon))
        self.assertNotEqual(d["pgid"], parent["pgid"])
        self.assertNotEqual(d["ppid"], parent["pid"])
        self.assertEqual(d["cwd"], self.tmp)
        self.assertEqual(d["umask"], 0)
        self.assertEqual(d["pf_pid"], daemon)

        # Interpreter state: the after_in_child hook ran there (and only the
        # child one), threads start and join, logging works both ways.
        self.assertEqual(d["events"], ["before", f"after_in_child {daemon}"])
        self.assertEqual(len(d["thread_ids"]), 1)
        self.assertNotEqual(d["thread_ids"][0], daemon)
        self.assertEqual(d["active_threads"], 1)
        self.assertTrue(d["main_thread_is_me"])
        self.assertNotEqual(d["random"], parent["random"], "random is reseeded in the daemon")
        with open(log) as f:
            self.assertIn(f"daemon {daemon} logs through a handler opened before detach", f.read())
        with open(log + ".late") as f:
            self.assertIn("and through one opened after", f.read())
        self.assertEqual(d["fds"][:3], [0, 1, 2])
        self.assertIn(d["early_fd"], d["fds"])

        # Signals: what Python reports is what the kernel does.
        self.assertTrue(d["sigint"])
        self.assertTrue(d["sigcgt"] & sigbit(signal.SIGINT), "SIGINT -> KeyboardInterrupt")
        self.assertTrue(d["sigcgt"] & sigbit(signal.SIGUSR1), "a Python handler is re-installed")
        self.assertTrue(d["sigign"] & sigbit(signal.SIGPIPE), "SIGPIPE ignored as at startup")
        self.assertFalse(d["sigcgt"] & sigbit(signal.SIGTERM))
        self.assertTrue(d["sighup_default"], "an ignored signal is reset, and Python says so")
        self.assertFalse((d["sigign"] | d["sigcgt"]) & sigbit(signal.SIGHUP))

        # Kill the original's whole session (its process group): the daemon lives.
        os.killpg(parent["pgid"], signal.SIGKILL)
        orig.wait(5)
        self.assertFalse(wait_until(lambda: gone(daemon), timeout=0.3), "daemon died with its old session")
        self.assertEqual(pidkit.getsid(daemon), d["sid"])
        self.assertEqual(pidkit.check(pidfile), daemon)


class Readiness(TestCase):
    def run_detach(self, daemon_code, **kwargs):
        """Runs a script whose daemon executes daemon_code; returns the
        original's (stdout, stderr, returncode)."""
        script = self.script("d.py", f"""
            import errno, os, sys, threading, time, pidkit
            events = []
            os.register_at_fork(before=lambda: events.append("before"),
                                after_in_parent=lambda: events.append("after_in_parent"))
            try:
                pid = pidkit.detach(**{kwargs!r})
            except OSError as e:
                print(type(e).__name__, e.errno, e.holder if hasattr(e, "holder") else "", flush=True)
                print(e, flush=True)
                print(events, flush=True)
                import json                       # the import lock was given back
                sys.exit(0)
            if pid > 0:
                print("pid", pid, flush=True)
                sys.exit(0)
            {daemon_code}
            os._exit(0)
        """)
        r = self.run_script(script)
        if r.stdout.startswith("pid "):
            self.reap_later(int(r.stdout.split()[1]))
        return r

    def test_daemon_reported_failure_is_raised_in_the_original(self):
        r = self.run_detach("pidkit.detach_ready(errno.EADDRINUSE); time.sleep(0.1)")
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split()[:2], ["PidkitError", str(errno.EADDRINUSE)], r.stdout + r.stderr)
        self.assertTrue(lines[1], "the library's message")
        self.assertEqual(lines[2], "['before', 'after_in_parent']")

    def test_daemon_dying_before_ready_is_child_process_error(self):
        r = self.run_detach("os._exit(3)")
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split()[:2], ["ChildProcessError", str(errno.ECHILD)], r.stdout + r.stderr)
        self.assertTrue(lines[1])

    def test_missing_stdout_directory_fails_without_forking(self):
        r = self.run_detach("pidkit.detach_ready()", stdout=self.path("no", "out.log"))
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split()[:2], ["FileNotFoundError", str(errno.ENOENT)], r.stdout + r.stderr)
        self.assertIn("no/out.log", lines[1])

    def test_detach_ready_twice_is_ealready_and_outside_a_daemon_einval(self):
        out = self.path("ready.txt")
        self.run_detach(f"""
            try:
                pidkit.detach_ready()
                pidkit.detach_ready()
            except OSError as e:
                open({out!r}, "w").write(f"{{e.errno}} {{e}}")
        """.strip())
        self.assertTrue(wait_until(lambda: os.path.exists(out)))
        with open(out) as f:
            self.assertTrue(f.read().startswith(f"{errno.EALREADY} "))
        with self.assertRaises(OSError) as cm:
            pidkit.detach_ready()
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertCarriesMessage(cm.exception)


class Options(TestCase):
    def test_threads_make_it_ebusy_unless_allow_threads(self):
        out = self.path("threads.json")
        r = self.run_script(self.script("t.py", f"""
            import json, os, sys, threading, time, pidkit
            stop = threading.Event()
            t = threading.Thread(target=stop.wait)
            t.start()
            try:
                pidkit.detach()
            except OSError as e:
                print("EBUSY" if e.errno == __import__("errno").EBUSY else e.errno, e, flush=True)
            pid = pidkit.detach(allow_threads=True)
            if pid == 0:
                json.dump({{"threads": pidkit.proc_info().num_threads,
                           "active": threading.active_count()}}, open({out!r}, "w"))
                pidkit.detach_ready()
                os._exit(0)
            print("pid", pid, flush=True)
            stop.set()
            t.join()
        """))
        lines = r.stdout.splitlines()
        self.assertTrue(lines and lines[0].startswith("EBUSY "), r.stdout + r.stderr)
        self.assertIn("thread", lines[0])
        self.assertEqual(lines[1].split()[0], "pid")
        self.reap_later(int(lines[1].split()[1]))
        with open(out) as f:
            d = json.load(f)
        self.assertEqual(d, {"threads": 1, "active": 1})

    def test_exit_parent_flushes_and_exits_zero(self):
        state = self.path("ep.txt")
        r = self.run_script(self.script("ep.py", f"""
            import os, sys, pidkit
            sys.stdout.write("before detach\\n")     # buffered: detach flushes it
            pidkit.detach(exit_parent=True, stdout={self.path('daemon.out')!r})
            print("daemon", os.getpid(), flush=True)
            open({state!r}, "w").write(str(os.getpid()))
            pidkit.detach_ready()
        """))
        self.assertEqual((r.returncode, r.stdout), (0, "before detach\n"), r.stderr)
        self.assertTrue(wait_until(lambda: os.path.exists(state)))
        with open(state) as f:
            daemon = self.reap_later(int(f.read()))
        with open(self.path("daemon.out")) as f:
            self.assertEqual(f.read(), f"daemon {daemon}\n")

    def test_no_wait_returns_before_ready(self):
        r = self.run_script(self.script("nw.py", """
            import os, sys, time, pidkit
            pid = pidkit.detach(no_wait=True)
            if pid == 0:
                time.sleep(30)                    # never reports
                os._exit(0)
            print(pid)
        """))
        daemon = self.reap_later(int(r.stdout))
        self.assertFalse(gone(daemon))

    def test_bad_keep_fd_type(self):
        with self.assertRaises(ValueError):
            pidkit.detach(keep_fds=[-1])
        with self.assertRaises(ValueError):
            pidkit.detach(workdir="a\0b")
