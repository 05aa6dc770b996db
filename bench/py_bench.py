"""The Python anchors of the pidkit benchmark (run with bench/.venv/bin/python).

    py_bench.py pidfile ROW DIR REPS ITERS            rows 1: pid.PidFile, python-daemon's
                                                      TimeoutPIDLockFile (lockfile)
    py_bench.py count IMPL DIR N                      N unchecked cycles (for strace -f -c)
    py_bench.py contended DIR REPS ITERS HOLD_BIN     row 2 (HOLD_BIN: bench pidfile program)
    py_bench.py ccount IMPL DIR N MODE HOLD_BIN       N contended attempts (strace)
    py_bench.py detach ROW NOFILE REPS ITERS          row 3: DaemonContext().open()
    py_bench.py dcount IMPL NOFILE N                  N detaches (IMPL python-daemon or null)
    py_bench.py ids REPS ITERS                        row 5: psutil
    py_bench.py icount IMPL N                         N psutil calls (strace)
    py_bench.py procs EXTRA REPS ITERS                row 10 (py-list, py-info, py-wait): the
                                                      pidkit binding vs psutil (pidkit
                                                      imported from PYTHONPATH, the library
                                                      from PIDKIT_LIBRARY)
    py_bench.py plist ROW EXTRA REPS ITERS PROCS_BIN  row 7: psutil process_iter(["name","ppid"])
                                                      + os.getsid, with EXTRA sleeping processes
    py_bench.py pkill ROW MEMBERS REPS PROCS_BIN      row 8: psutil SIGTERM to a session + wait_procs
    py_bench.py pwait ROW REPS ITERS                  row 9: psutil Process.wait() of a non-child

Output: one JSON object per line, as the C programs print (bench/common.h).
Every operation is checked as it goes; a failed check exits 1.
"""

import ctypes
import json
import os
import random
import resource
import statistics
import struct
import sys
import time

ns = time.perf_counter_ns


def emit(row, impl, rep, samples, n):
    """One repetition: the median (and mean) of the per-op times of its batches."""
    print(json.dumps({"row": row, "impl": impl, "rep": rep, "ns": round(statistics.median(samples), 1),
                      "mean": round(sum(samples) / len(samples), 1), "n": n}), flush=True)


def rounds_of(impls, rounds, batch, run):
    """Runs `rounds` rounds; each runs a batch of `batch` ops of every implementation
    in an order shuffled anew. run(impl) returns the ns of one op. Returns
    {impl: [ns per op of each batch]}."""
    order = list(impls)
    samples = {i: [] for i in order}
    for _ in range(rounds):
        random.shuffle(order)
        for impl in order:
            samples[impl].append(sum(run(impl) for _ in range(batch)) / batch)
    return samples


def emit_check(row, impl, what, ok):
    print(json.dumps({"row": row, "impl": impl, "check": what, "ok": ok}), flush=True)


# Process groups to SIGKILL before exiting on a failed check (os._exit runs no
# finally: a surviving helper would keep run.py's pipes open).
KILL_AT_EXIT = []


def die(msg):
    sys.stderr.write("py_bench: FAILED CHECK: %s\n" % msg)
    sys.stderr.flush()
    for pgid in KILL_AT_EXIT:
        try:
            os.killpg(pgid, 9)
        except OSError:
            pass
    os._exit(1)


def check(cond, msg):
    if not cond:
        die(msg)


# ---- row 1: pidfile cycles ----

def verify(path, want):
    with open(path, "rb") as f:
        data = f.read()
    check(data.strip() == str(want).encode(), "pidfile %s holds %r, not pid %d" % (path, data, want))


def cycle_pid(dirn, name, do_check):
    import pid
    t0 = ns()
    pf = pid.PidFile(pidname=name, piddir=dirn, register_term_signal_handler=False, register_atexit=False)
    pf.create()
    t1 = ns()
    if do_check:
        verify(os.path.join(dirn, name), os.getpid())
    t2 = ns()
    pf.close()
    t3 = ns()
    return (t1 - t0) + (t3 - t2)


def cycle_lockfile(dirn, name, do_check):
    from daemon.pidfile import TimeoutPIDLockFile
    path = os.path.join(dirn, name)
    t0 = ns()
    lf = TimeoutPIDLockFile(path, acquire_timeout=0)
    lf.acquire()
    t1 = ns()
    if do_check:
        verify(path, os.getpid())
    t2 = ns()
    lf.release()
    t3 = ns()
    return (t1 - t0) + (t3 - t2)


PIDFILE_IMPLS = {"pid": cycle_pid, "python-daemon": cycle_lockfile}


def cmd_pidfile(row, dirn, reps, iters):
    name = "pidkit-bench-py-%d.pid" % os.getpid()
    checked = dict.fromkeys(PIDFILE_IMPLS, 0)
    batch = 5
    for rep in range(-1, reps):
        rounds = max(1, iters // batch) if rep >= 0 else 2
        smp = rounds_of(PIDFILE_IMPLS, rounds, batch, lambda impl: PIDFILE_IMPLS[impl](dirn, name, True))
        for impl, v in smp.items():
            checked[impl] += rounds * batch
            if rep >= 0:
                emit(row, impl, rep, v, rounds * batch)
    for impl in PIDFILE_IMPLS:
        emit_check(row, impl, "acquire wrote the caller's pid", checked[impl])


def cmd_count(impl, dirn, n):
    f = PIDFILE_IMPLS[impl]
    f(dirn, "warm.pid", False)  # imports happen outside the counted cycles...
    name = "pidkit-bench-pycount-%d.pid" % os.getpid()
    for _ in range(n):
        f(dirn, name, False)


# ---- row 2: contended ----

def hold(hold_bin, path, mode):
    import subprocess
    p = subprocess.Popen([hold_bin, "hold", path, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = p.stdout.readline().decode()
    check(line.startswith("held "), "holder did not start: %r" % line)
    return p, int(line.split()[1])


def unhold(p):
    p.stdin.close()
    check(p.wait() == 0, "holder failed")


def contend_pid(dirn, name, want):
    import pid
    t0 = ns()
    try:
        pf = pid.PidFile(pidname=name, piddir=dirn, register_term_signal_handler=False, register_atexit=False)
        pf.create()
        ok = False
    except pid.PidFileAlreadyLockedError:
        ok = True
    t1 = ns()
    check(ok, "pid.PidFile acquired a held pidfile")
    return t1 - t0


def contend_lockfile(dirn, name, want):
    from daemon.pidfile import TimeoutPIDLockFile
    import lockfile
    t0 = ns()
    try:
        TimeoutPIDLockFile(os.path.join(dirn, name), acquire_timeout=0).acquire()
        ok = False
    except lockfile.AlreadyLocked:
        ok = True
    t1 = ns()
    check(ok, "TimeoutPIDLockFile acquired a held pidfile")
    return t1 - t0


CONTEND_IMPLS = {"pid": contend_pid, "python-daemon": contend_lockfile}


def cmd_contended(dirn, reps, iters, hold_bin):
    name = "pidkit-bench-pyheld-%d.pid" % os.getpid()
    path = os.path.join(dirn, name)
    for mode, row in (("write", "contended-pid"), ("nowrite", "contended-nopid")):
        p, holder = hold(hold_bin, path, mode)
        checked = dict.fromkeys(CONTEND_IMPLS, 0)
        batch = 10
        for rep in range(-1, reps):
            rounds = max(1, iters // batch) if rep >= 0 else 2
            smp = rounds_of(CONTEND_IMPLS, rounds, batch, lambda impl: CONTEND_IMPLS[impl](dirn, name, holder))
            for impl, v in smp.items():
                checked[impl] += rounds * batch
                if rep >= 0:
                    emit(row, impl, rep, v, rounds * batch)
        order = list(CONTEND_IMPLS)
        for impl in order:
            emit_check(row, impl, "refused (already locked)", checked[impl])
        unhold(p)


def cmd_ccount(impl, dirn, n, mode, hold_bin):
    name = "pidkit-bench-pycheld-%d.pid" % os.getpid()
    p, holder = hold(hold_bin, os.path.join(dirn, name), mode)
    f = CONTEND_IMPLS[impl]
    f(dirn, name, holder)
    for _ in range(n):
        f(dirn, name, holder)
    unhold(p)


# ---- row 3: detach ----

REPORT = struct.Struct("=Qii")


def subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc.prctl(36, 1, 0, 0, 0) == 0, "prctl(PR_SET_CHILD_SUBREAPER)")  # 36 = PR_SET_CHILD_SUBREAPER


def set_nofile(which):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if which == "hard":
        want = hard if hard != resource.RLIM_INFINITY and hard <= 1048576 else 1048576
    else:
        want = min(int(which), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def read_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def detach_once(impl, chk_r, chk_w, my_sid):
    """python-daemon's open() exits its caller, so it runs in a forked wrapper
    that takes the start time just before the call (the wrapper's own fork is
    not timed); the time ends when this process has read the daemon's report."""
    import daemon
    w = os.fork()
    if w == 0:
        try:
            t0 = time.monotonic_ns()
            if impl == "python-daemon":
                daemon.DaemonContext(files_preserve=[chk_w]).open()
            os.write(chk_w, REPORT.pack(t0, os.getpid(), os.getsid(0)))
        finally:
            os._exit(0)
    data = read_exact(chk_r, REPORT.size)
    t1 = time.monotonic_ns()
    check(len(data) == REPORT.size, "%s: daemon did not report" % impl)
    t0, pid, sid = REPORT.unpack(data)
    _, st = os.waitpid(w, 0)
    check(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, "%s: caller exited %#x" % (impl, st))
    if impl == "python-daemon":
        check(sid > 0 and sid != my_sid and sid != pid, "python-daemon: daemon %d sid %d" % (pid, sid))
        # The daemon and python-daemon's intermediate process are re-parented
        # to us (a subreaper) as their parents exit: reap both.
        while True:
            p, st = os.waitpid(-1, 0)
            if p == pid:
                break
        check(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, "python-daemon: daemon exited %#x" % st)
    return t1 - t0


def detach_setup(nofile):
    subreaper()
    set_nofile(nofile)
    import daemon  # noqa: F401  (imported before timing)
    r, w = os.pipe()
    return r, w, os.getsid(0)


def cmd_detach(row, nofile, reps, iters):
    r, w, sid = detach_setup(nofile)
    checked = 0
    for rep in range(-1, reps):
        m = 2 if rep < 0 else iters
        v = [detach_once("python-daemon", r, w, sid) for _ in range(m)]
        checked += m
        if rep >= 0:
            emit(row, "python-daemon", rep, v, m)
    emit_check(row, "python-daemon", "daemon in a new session it does not lead, reaped", checked)


def cmd_dcount(impl, nofile, n):
    r, w, sid = detach_setup(nofile)
    for _ in range(n):
        detach_once(impl, r, w, sid)


# ---- row 5: psutil ----

def ids_ppid(ppid):
    import psutil
    check(psutil.Process().ppid() == ppid, "psutil ppid")


def ids_asdict(ppid):
    import psutil
    d = psutil.Process().as_dict(attrs=["name", "status", "ppid"])
    check(d["ppid"] == ppid and d["status"] == "running" and d["name"], "psutil as_dict: %r" % d)


IDS_IMPLS = {"psutil Process().ppid()": ids_ppid, "psutil as_dict(name,status,ppid)": ids_asdict}


def cmd_ids(reps, iters):
    import psutil  # noqa: F401
    ppid = os.getppid()
    checked = dict.fromkeys(IDS_IMPLS, 0)
    batch = 10

    def one(impl):
        t0 = ns()
        IDS_IMPLS[impl](ppid)
        return ns() - t0

    for rep in range(-1, reps):
        rounds = max(1, iters // batch) if rep >= 0 else 2
        smp = rounds_of(IDS_IMPLS, rounds, batch, one)
        for impl, v in smp.items():
            checked[impl] += rounds * batch
            if rep >= 0:
                emit("proc_info", impl, rep, v, rounds * batch)
    order = list(IDS_IMPLS)
    for impl in order:
        emit_check("proc_info", impl, "ppid/name/status match", checked[impl])


def cmd_icount(impl, n):
    ppid = os.getppid()
    f = IDS_IMPLS[impl]
    f(ppid)
    for _ in range(n):
        f(ppid)

# ---- rows py-list, py-info, py-wait: pidkit.processes/Process vs psutil ----

def start_extra(n):
    """n sleeping processes (children of one holder in a session of its own);
    returns a function that ends them."""
    import signal
    import subprocess
    code = ("import os, signal, sys\n"
            "for _ in range(%d):\n"
            "    if os.fork() == 0:\n"
            "        signal.pause()\n"
            "        os._exit(0)\n"
            "print('ready', flush=True)\n"
            "signal.pause()\n" % n)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    KILL_AT_EXIT.append(holder.pid)
    check(holder.stdout.readline().startswith(b"ready"), "extra processes did not start")

    def stop():
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        KILL_AT_EXIT.remove(holder.pid)
    return stop, holder.pid


def list_pidkit(pidkit, me):
    # psutil's side reads name and ppid (and getsid), no uid: neither does this.
    rows = pidkit.processes(with_uid=False)
    return [(r.comm, r.pid, r.ppid, r.sid) for r in rows]


def list_psutil(psutil, me):
    out = []
    for p in psutil.process_iter(["name", "ppid"]):
        try:
            out.append((p.info["name"], p.pid, p.info["ppid"], os.getsid(p.pid)))
        except ProcessLookupError:
            pass
    return out


def info_pidkit(pidkit, pid):
    with pidkit.Process(pid) as p:
        i = p.info()
        return i.comm, i.state, i.ppid, i.rss_bytes


def info_psutil(psutil, pid):
    d = psutil.Process(pid).as_dict(["name", "status", "ppid", "memory_info"])
    return d["name"], d["status"], d["ppid"], d["memory_info"].rss


class Strangers:
    """Processes that are not our children: a helper process forks each on
    request and reaps it as soon as it exits (as the parent of a monitored
    process does). A stranger exits when told through a pipe, writing the
    monotonic time just before its _exit."""

    def __init__(self):
        self.go_r, self.go_w = os.pipe()
        self.rep_r, self.rep_w = os.pipe()
        req_r, self.req_w = os.pipe()
        self.pid_r, pid_w = os.pipe()
        self.helper = os.fork()
        if self.helper == 0:
            try:
                for fd in (self.req_w, self.pid_r, self.go_w, self.rep_r):
                    os.close(fd)
                while os.read(req_r, 1) == b"n":
                    pid = os.fork()
                    if pid == 0:
                        os.read(self.go_r, 1)
                        os.write(self.rep_w, struct.pack("=Q", time.monotonic_ns()))
                        os._exit(0)
                    os.write(pid_w, struct.pack("=i", pid))
                    os.waitpid(pid, 0)
            finally:
                os._exit(0)
        for fd in (req_r, pid_w, self.go_r, self.rep_w):
            os.close(fd)

    def new(self):
        os.write(self.req_w, b"n")
        return struct.unpack("=i", read_exact(self.pid_r, 4))[0]

    def close(self):
        os.close(self.req_w)
        os.waitpid(self.helper, 0)


def wait_latency(impl, pidkit, psutil, strangers):
    pid = strangers.new()
    handle = pidkit.Process(pid) if impl == "pidkit" else psutil.Process(pid)
    os.write(strangers.go_w, b"x")
    r = handle.wait(timeout=30)
    t1 = time.monotonic_ns()
    t0 = struct.unpack("=Q", read_exact(strangers.rep_r, 8))[0]
    check(r is None, "%s: wait for a non-child returned %r" % (impl, r))
    if impl == "pidkit":
        handle.close()
    return t1 - t0


def cmd_procs(extra, reps, iters):
    import psutil
    import pidkit
    stop, holder = start_extra(extra)
    strangers = Strangers()
    try:
        me = os.getpid()
        target = os.getppid()
        checked = {}

        def note(row, impl):
            checked[(row, impl)] = checked.get((row, impl), 0) + 1

        def one_list(impl):
            t0 = ns()
            rows = (list_pidkit if impl == "pidkit" else list_psutil)(pidkit if impl == "pidkit" else psutil, me)
            t = ns() - t0
            extras = sum(1 for r in rows if r[2] == holder)
            check(extras == extra and any(r[1] == me and r[3] == os.getsid(0) for r in rows),
                  "%s listed %d rows, %d of the %d extra processes" % (impl, len(rows), extras, extra))
            note("py-list", impl)
            return t

        def one_info(impl):
            t0 = ns()
            got = (info_pidkit(pidkit, target) if impl == "pidkit" else info_psutil(psutil, target))
            t = ns() - t0
            check(got[2] == os.getppid() or got[2] >= 0, "ppid")
            check(got[0] and got[3] > 0, "%s: %r" % (impl, got))
            note("py-info", impl)
            return t

        def one_wait(impl):
            note("py-wait", impl)
            return wait_latency(impl, pidkit, psutil, strangers)

        list_impls = {"pidkit": None, "psutil process_iter(name,ppid) + os.getsid": None}
        info_impls = {"pidkit": None, "psutil as_dict(name,status,ppid,memory_info)": None}
        wait_impls = {"pidkit": None, "psutil Process.wait()": None}
        for rep in range(-1, reps):
            warm = rep < 0
            for row, impls, fn, batch, rounds in (
                    ("py-list", list_impls, lambda i: one_list("psutil" if i != "pidkit" else i), 1,
                     2 if warm else max(1, iters // 50)),
                    ("py-info", info_impls, lambda i: one_info("psutil" if i != "pidkit" else i), 20,
                     2 if warm else max(1, iters // 10)),
                    ("py-wait", wait_impls, lambda i: one_wait("psutil" if i != "pidkit" else i), 1,
                     2 if warm else max(1, iters // 20))):
                smp = rounds_of(impls, rounds, batch, fn)
                if not warm:
                    for impl, v in smp.items():
                        emit(row, impl, rep, v, rounds * batch)
        for (row, impl), n in sorted(checked.items()):
            name = next(i for i in ({"py-list": list_impls, "py-info": info_impls,
                                     "py-wait": wait_impls}[row]) if (i == "pidkit") == (impl == "pidkit"))
            emit_check(row, name, {"py-list": "the extra processes and the caller (its sid right) listed",
                                   "py-info": "name and rss of the process",
                                   "py-wait": "wait for a non-child returned None after its exit"}[row], n)
    finally:
        strangers.close()
        stop()


# ---- rows 7-9: listing, killing a session, waiting for a non-child ----

def start_session(procs_bin, members):
    """`procs session N`: a session of N sleeping processes; returns (helper, sid)."""
    import subprocess
    helper = subprocess.Popen([procs_bin, "session", str(members)], stdout=subprocess.PIPE)
    sid = int(helper.stdout.readline())
    return helper, sid


def end_session(helper, sid):
    import signal
    try:
        os.killpg(sid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    helper.wait()


def psutil_list():
    import psutil
    rows = []
    for p in psutil.process_iter(["name", "ppid"]):
        try:
            rows.append((p.info["name"], p.pid, p.info["ppid"], os.getpgid(p.pid), os.getsid(p.pid)))
        except ProcessLookupError:
            pass
    return rows


def cmd_plist(row, extra, reps, iters, procs_bin):
    import psutil  # noqa: F401
    helper, sid = start_session(procs_bin, extra)
    checked = 0
    try:
        for rep in range(-1, reps):
            samples = []
            for _ in range(iters if rep >= 0 else 1):
                before = len([d for d in os.listdir("/proc") if d.isdigit()])
                t0 = ns()
                rows = psutil_list()
                samples.append(ns() - t0)
                after = len([d for d in os.listdir("/proc") if d.isdigit()])
                if not (min(before, after) - 50 <= len(rows) <= max(before, after) + 50
                        and any(r[1] == os.getpid() for r in rows)):
                    end_session(helper, sid)
                    die("psutil listed %d processes, /proc has %d..%d" % (len(rows), before, after))
                checked += 1
            if rep >= 0:
                emit(row, "psutil", rep, samples, len(samples))
    finally:
        end_session(helper, sid)
    emit_check(row, "psutil", "every process listed, the caller among them", checked)


def cmd_pkill(row, members, reps, procs_bin):
    import psutil
    import signal
    checked = 0
    for rep in range(-1, reps):
        helper, sid = start_session(procs_bin, members)
        t0 = ns()
        victims = []
        for p in psutil.process_iter():
            try:
                if os.getsid(p.pid) == sid:
                    victims.append(p)
            except ProcessLookupError:
                pass
        for p in victims:
            try:
                p.send_signal(signal.SIGTERM)
            except psutil.NoSuchProcess:
                pass
        gone, alive = psutil.wait_procs(victims)
        t = ns() - t0
        check(len(victims) == members and not alive, "psutil: %d victims, %d alive" % (len(victims), len(alive)))
        end_session(helper, sid)
        checked += 1
        if rep >= 0:
            print(json.dumps({"row": row, "impl": "psutil", "rep": rep, "ns": t, "n": 1}), flush=True)
    emit_check(row, "psutil", "no member left alive", checked)


def cmd_pwait(row, reps, iters):
    import mmap
    import psutil
    import threading
    stamp = mmap.mmap(-1, 8)
    checked = 0
    for rep in range(-1, reps):
        samples = []
        for _ in range(iters if rep >= 0 else 1):
            r, w = os.pipe()
            cr, cw = os.pipe()
            middle = os.fork()
            if middle == 0:
                g = os.fork()
                if g == 0:
                    os.close(cw)
                    os.read(cr, 1)
                    stamp[:8] = struct.pack("Q", time.perf_counter_ns())
                    os._exit(0)
                os.close(cr)
                os.close(cw)
                os.write(w, struct.pack("i", g))
                os.waitpid(g, 0)
                os._exit(0)
            os.close(cr)
            g = struct.unpack("i", os.read(r, 4))[0]
            os.close(r)
            os.close(w)
            proc = psutil.Process(g)
            timer = threading.Timer(random.random() * 0.02, os.close, (cw,))
            timer.start()
            proc.wait()
            t1 = time.perf_counter_ns()
            timer.join()
            t0 = struct.unpack("Q", stamp[:8])[0]
            check(t0 > 0 and t1 >= t0, "psutil wait returned before the exit")
            stamp[:8] = bytes(8)
            os.waitpid(middle, 0)
            samples.append(t1 - t0)
            checked += 1
        if rep >= 0:
            emit(row, "psutil", rep, samples, len(samples))
    emit_check(row, "psutil", "returned after the exit", checked)


def main(a):
    cmd = a[0]
    if cmd == "pidfile":
        cmd_pidfile(a[1], a[2], int(a[3]), int(a[4]))
    elif cmd == "count":
        cmd_count(a[1], a[2], int(a[3]))
    elif cmd == "contended":
        cmd_contended(a[1], int(a[2]), int(a[3]), a[4])
    elif cmd == "ccount":
        cmd_ccount(a[1], a[2], int(a[3]), a[4], a[5])
    elif cmd == "detach":
        cmd_detach(a[1], a[2], int(a[3]), int(a[4]))
    elif cmd == "dcount":
        cmd_dcount(a[1], a[2], int(a[3]))
    elif cmd == "ids":
        cmd_ids(int(a[1]), int(a[2]))
    elif cmd == "icount":
        cmd_icount(a[1], int(a[2]))
    elif cmd == "procs":
        cmd_procs(int(a[1]), int(a[2]), int(a[3]))
    elif cmd == "plist":
        cmd_plist(a[1], int(a[2]), int(a[3]), int(a[4]), a[5])
    elif cmd == "pkill":
        cmd_pkill(a[1], int(a[2]), int(a[3]), a[4])
    elif cmd == "pwait":
        cmd_pwait(a[1], int(a[2]), int(a[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
