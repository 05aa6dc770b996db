#!/usr/bin/env python3
"""Driver of `make bench`: runs the benchmark programs, counts system calls
with strace, measures the footprint, and prints one table (also written to
bench/results.md and bench/results.json).

    run.py --bin build/bench --lib build/libpidkit.so.0 [--py bench/.venv/bin/python]
           [--reps 7] [--quick]

Fairness: pidkit, the floor and the C anchors run in one process, in rounds
of one batch each, their order shuffled every round (a repetition reports the
median per-op time of its batches); the Python anchors run in a separate process
right before or after it (order drawn at random), once per repetition, so
that every ratio is a ratio of two numbers measured at nearly the same time.
A ratio column is the median over the repetitions of the per-repetition
ratio, not the ratio of the medians. Everything runs with LD_BIND_NOW=1.
"""

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Extra sleeping processes while the Python binding lists every process (row 10).
PY_EXTRA = 1000

# The rows of the table: key -> (number, description).
ROWS = [
    ("pidfile-tmpfs", "1", "pidfile acquire + write pid + release, tmpfs (/dev/shm)"),
    ("pidfile-disk", "1", "pidfile acquire + write pid + release, {tmp_fs} (/tmp)"),
    ("contended-pid", "2", "contended acquire until EEXIST, holder wrote its pid"),
    ("contended-nopid", "2", "contended acquire until EEXIST, holder locked, no pid yet"),
    ("detach-1024", "3", "detach until the original knows the daemon is ready, soft RLIMIT_NOFILE 1024"),
    ("detach-hard", "3", "detach until ready, soft RLIMIT_NOFILE = hard = {nofile_hard}"),
    ("spawn", "4", "spawn /bin/true into a new session, until the call returns"),
    ("spawn-heap", "4", "spawn /bin/true, caller has a 200 MiB touched heap"),
    ("getsid", "5", "session id of the caller"),
    ("getpgid", "5", "process group id of the caller"),
    ("proc_info", "5", "one `ps -o comm,pid,ppid,pgid,sid` row of the caller"),
    ("list-1k", "7", "list every process (comm,pid,ppid,pgid,sid) with 1 000 extra sleeping processes"),
    ("list-10k", "7", "list every process (comm,pid,ppid,pgid,sid) with 10 000 extra sleeping processes"),
    ("kill-1k", "8", "SIGTERM a 1 000-member session, until all have exited"),
    ("exit-wait", "9", "from a non-child's exit to the wait for it returning"),
    ("py-list", "10", "Python: every process's name, ppid and sid, {py_extra} extra processes running"),
    ("py-info", "10", "Python: name, status, ppid and memory of one process, from its pid"),
    ("py-wait", "10", "Python: from a non-child's _exit until wait() returns"),
    ("size", "6", "stripped size of the shared object"),
    ("rss", "6", "resident memory added by dlopen(RTLD_NOW)"),
]

NAMES = {
    "pidkit": "**pidkit**",
    "floor": "floor (hand-written C)",
    "floor-same": "floor with the same guarantees (hand-written C)",
    "libbsd": "libbsd pidfile_open/write/remove",
    "pid": "Python pid.PidFile",
    "python-daemon": "python-daemon TimeoutPIDLockFile",
    "libdaemon": "libdaemon daemon_fork + daemon_retval_*",
    "glibc": "glibc daemon(3)",
    "posix_spawn": "posix_spawn + POSIX_SPAWN_SETSID",
}
ROW_NAMES = {
    ("detach-1024", "python-daemon"): "python-daemon DaemonContext().open()",
    ("detach-hard", "python-daemon"): "python-daemon DaemonContext().open()",
    ("detach-1024", "floor"): "floor (double fork, close_range, readiness pipe)",
    ("detach-hard", "floor"): "floor (double fork, close_range, readiness pipe)",
    ("detach-1024", "floor-same"): "floor, same guarantees and system calls as pidkit",
    ("detach-hard", "floor-same"): "floor, same guarantees and system calls as pidkit",
    ("getsid", "floor-same"): "floor syscall(SYS_getsid, 0), -errno on failure",
    ("getpgid", "floor-same"): "floor syscall(SYS_getpgid, 0), -errno on failure",
    ("spawn", "floor"): "floor (fork, fork, setsid, exec, CLOEXEC pipe)",
    ("spawn", "pidkit-1"): "pidkit with PIDKIT_SPAWN_NO_DOUBLE_FORK (one level, like posix_spawn)",
    ("spawn-heap", "pidkit-1"): "pidkit with PIDKIT_SPAWN_NO_DOUBLE_FORK (one level, like posix_spawn)",
    ("spawn-heap", "floor"): "floor (fork, fork, setsid, exec, CLOEXEC pipe)",
    ("getsid", "pidkit"): "**pidkit** pidkit_getsid(0)",
    ("getsid", "floor"): "floor syscall(SYS_getsid, 0)",
    ("getsid", "glibc"): "glibc getsid(0)",
    ("getpgid", "pidkit"): "**pidkit** pidkit_getpgid(0)",
    ("getpgid", "floor"): "floor syscall(SYS_getpgid, 0)",
    ("getpgid", "glibc"): "glibc getpgid(0)",
    ("proc_info", "pidkit"): "**pidkit** pidkit_proc_info_get(0)",
    ("proc_info", "floor"): "floor /proc/self/stat open+read+parse",
    ("proc_info", "ps"): "`ps -o comm=,pid=,ppid=,pgid=,sid= -p PID`",
    ("py-list", "pidkit"): "**pidkit** pidkit.processes(with_uid=False) (no uid, as psutil here)",
    ("py-info", "pidkit"): "**pidkit** pidkit.Process(pid).info()",
    ("py-wait", "pidkit"): "**pidkit** pidkit.Process(pid).wait()",
    ("list-1k", "pidkit"): "**pidkit** pidkit_proc_list (full rows: real uid from status)",
    ("list-10k", "pidkit"): "**pidkit** pidkit_proc_list (full rows: real uid from status)",
    ("list-1k", "floor"): "floor (getdents64 + openat/read/close of stat)",
    ("list-1k", "pidkit-nouid"): "**pidkit** pidkit_proc_list with PIDKIT_PROC_NO_UID (stat only, as the lean floor)",
    ("list-10k", "pidkit-nouid"): "**pidkit** pidkit_proc_list with PIDKIT_PROC_NO_UID (stat only, as the lean floor)",
    ("list-1k", "floor-same"): "floor with the real uid too (+ openat/read/close of status, as pidkit's full rows)",
    ("list-10k", "floor-same"): "floor with the real uid too (+ openat/read/close of status, as pidkit's full rows)",
    ("list-10k", "floor"): "floor (getdents64 + openat/read/close of stat)",
    ("list-1k", "ps"): "`ps -e -o comm,pid,ppid,pgid,sid`",
    ("list-10k", "ps"): "`ps -e -o comm,pid,ppid,pgid,sid`",
    ("list-1k", "psutil"): "psutil process_iter([name, ppid]) + os.getpgid/getsid",
    ("list-10k", "psutil"): "psutil process_iter([name, ppid]) + os.getpgid/getsid",
    ("kill-1k", "pidkit"): "**pidkit** pidkit_proc_kill(SID, SIGTERM, WAIT)",
    ("kill-1k", "floor"): "floor (racy: scan, kill(2) each, poll their pidfds)",
    ("kill-1k", "pkill+pidwait"): "`pkill -s SID` + `pidwait -s SID`",
    ("kill-1k", "psutil"): "psutil process_iter + getsid filter, send_signal, wait_procs",
    ("exit-wait", "pidkit"): "**pidkit** pidkit_proc_wait (poll on the pidfd)",
    ("exit-wait", "poll-10ms"): "kill(pid, 0) + state every 10 ms",
    ("exit-wait", "psutil"): "psutil Process.wait()",
    ("size", "pidkit"): "**pidkit** libpidkit.so.0",
    ("rss", "pidkit"): "**pidkit** libpidkit.so.0",
    ("size", "libbsd"): "libbsd.so.0",
    ("rss", "libbsd"): "libbsd.so.0 (+ libmd)",
    ("size", "libdaemon"): "libdaemon.so.0",
    ("rss", "libdaemon"): "libdaemon.so.0",
}


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def run_lines(cmd, env=None):
    """Runs a benchmark program; returns its JSON lines. A failed check fails the run."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace"))
        raise SystemExit("bench: %s failed (exit %d)" % (" ".join(cmd), p.returncode))
    out = []
    for line in p.stdout.decode().splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


class Results:
    def __init__(self):
        self.times = {}    # (row, impl) -> {rep: ns}
        self.checks = {}   # (row, impl) -> [descriptions, ok]
        self.info = {}
        self.syscalls = {}  # (row, impl) -> float
        self.values = {}   # (row, impl) -> [values] (footprint)

    def add(self, lines, rep):
        for d in lines:
            if "info" in d:
                self.info[d["info"]] = d["value"]
            elif "check" in d:
                c = self.checks.setdefault((d["row"], d["impl"]), [d["check"], 0])
                c[1] += d["ok"]
            elif "ns" in d:
                self.times.setdefault((d["row"], d["impl"]), {})[rep + d["rep"]] = d["ns"]


def strace_calls(cmd):
    """Total system calls made by cmd and all its children (strace -f -c)."""
    with tempfile.NamedTemporaryFile(prefix="pidkit-bench-strace-", suffix=".txt", delete=False) as f:
        out = f.name
    try:
        p = subprocess.run(["strace", "-f", "-c", "-o", out] + cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            sys.stderr.write(p.stderr.decode(errors="replace"))
            raise SystemExit("bench: strace %s failed" % " ".join(cmd))
        with open(out) as fh:
            for line in fh:
                parts = line.split()
                if parts and parts[-1] == "total":
                    return int(parts[3])
    finally:
        os.unlink(out)
    raise SystemExit("bench: no total in strace -c output of %s" % " ".join(cmd))


def per_op(cmd_n, cmd_0, n, harness=0.0):
    """(calls of N ops - calls of 0 ops) / N - harness calls per op."""
    return (strace_calls(cmd_n) - strace_calls(cmd_0)) / n - harness


def fmt_ns(v):
    if v is None:
        return "—"
    if v < 1000:
        return "%.0f ns" % v
    if v < 1e6:
        return ("%.1f µs" if v < 1e5 else "%.0f µs") % (v / 1e3)
    if v < 1e9:
        return "%.1f ms" % (v / 1e6) if v < 1e8 else "%.0f ms" % (v / 1e6)
    return "%.2f s" % (v / 1e9)


def fmt_ratio(r):
    if r is None:
        return ""
    return "%.2f×" % r if r < 10 else "%.0f×" % r


def paired_ratio(a, b):
    """Median over common repetitions of a[rep] / b[rep]."""
    reps = sorted(set(a) & set(b))
    if not reps:
        return None
    return statistics.median(a[r] / b[r] for r in reps)


def machine_info(lib):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    distro = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    libc = platform.libc_ver()
    fs = {}
    mounts = []
    try:
        with open("/proc/mounts") as f:
            mounts = [line.split()[1:3] for line in f]
    except OSError:
        pass
    for d in ("/dev/shm", "/tmp"):
        real = os.path.realpath(d)
        best = ("", "?")
        for mnt, typ in mounts:
            if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                best = (mnt, typ)
        fs[d] = best[1]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "distro": distro,
        "libc": "%s %s" % libc,
        "python": platform.python_version(),
        "fs": fs,
        "loadavg_start": os.getloadavg()[0],
        "pidkit_lib": lib,
        "pidkit_git": git_describe(),
        "pidkit_lib_sha256": sha256(lib),
    }


def git_describe():
    p = subprocess.run(["git", "-C", os.path.dirname(HERE), "describe", "--always", "--dirty"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return p.stdout.decode().strip() or "?"


def sha256(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def pkg_versions(py):
    v = {}
    for pkg in ("libbsd0", "libdaemon0", "strace", "procps"):
        p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        if p.returncode == 0:
            v[pkg] = p.stdout.decode()
    if py:
        p = subprocess.run([py, "-c", "import importlib.metadata as m; print(' '.join(n + '=' + m.version(n) for n in "
                                      "('pid', 'python-daemon', 'lockfile', 'psutil')))"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for item in p.stdout.decode().split():
            k, _, val = item.partition("=")
            v[k] = val
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--py", default="")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--quick", action="store_true", help="few iterations, to try the harness")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--only", default="", help="comma-separated group names (e.g. 'list 1k,kill 1k'): "
                    "run just these, no syscall counts or footprint (to try new rows)")
    a = ap.parse_args()
    os.environ["LD_BIND_NOW"] = "1"
    started = time.monotonic()
    B = os.path.abspath(a.bin)
    py = a.py if a.py and os.path.exists(a.py) else ""
    pyb = [py, os.path.join(HERE, "py_bench.py")] if py else None
    have_strace = shutil.which("strace") is not None
    q = 10 if a.quick else 1  # divides iteration counts
    R = 3 if a.quick else a.reps
    res = Results()
    meta = machine_info(os.path.abspath(a.lib))
    meta["versions"] = pkg_versions(py)
    meta["reps"] = R
    skipped = []
    if not py:
        skipped.append("Python anchors (no venv with pid, python-daemon and psutil)")
    if not have_strace:
        skipped.append("system call counts (strace is missing)")
    built = set(os.listdir(B))

    def c(prog, *args):
        return [os.path.join(B, prog)] + [str(x) for x in args]

    def p(*args):
        return pyb + [str(x) for x in args]

    # Each group: per repetition, the C program (all C implementations,
    # shuffled) and the Python anchors, in random order.
    groups = [
        ("pidfile tmpfs", c("pidfile", "cycle", "pidfile-tmpfs", "/dev/shm", 1, 1000 // q),
         pyb and p("pidfile", "pidfile-tmpfs", "/dev/shm", 1, 200 // q)),
        ("pidfile /tmp", c("pidfile", "cycle", "pidfile-disk", "/tmp", 1, 100 // q),
         pyb and p("pidfile", "pidfile-disk", "/tmp", 1, 50 // q)),
        ("contended", c("pidfile", "contended", "/dev/shm", 1, 1000 // q, 2),
         pyb and p("contended", "/dev/shm", 1, 200 // q, c("pidfile")[0])),
        ("detach 1024", c("detach", "bench", "detach-1024", "1024", 1, 30 // q),
         pyb and p("detach", "detach-1024", "1024", 1, max(1, 8 // q))),
        ("detach hard", c("detach", "bench", "detach-hard", "hard", 1, 30 // q),
         pyb and p("detach", "detach-hard", "hard", 1, max(1, 8 // q))),
        ("spawn", c("spawn", "bench", "spawn", 0, 1, 30 // q), None),
        ("spawn heap", c("spawn", "bench", "spawn-heap", 200, 1, 15 // q), None),
        ("ids", c("ids", "bench", 1, 50000 // q, max(2, 6 // q)), pyb and p("ids", 1, 500 // q)),
        ("list 1k", c("procs", "list", "list-1k", 1000, 1, max(2, 10 // q)),
         pyb and p("plist", "list-1k", 1000, 1, 3, c("procs")[0])),
        ("list 10k", c("procs", "list", "list-10k", 10000, 1, 3),
         pyb and p("plist", "list-10k", 10000, 1, 1, c("procs")[0])),
        ("kill 1k", c("procs", "kill", "kill-1k", 1000, 1), pyb and p("pkill", "kill-1k", 1000, 1, c("procs")[0])),
        ("exit wait", c("procs", "latency", "exit-wait", 1, max(2, 10 // q)),
         pyb and p("pwait", "exit-wait", 1, max(2, 10 // q))),
    ]
    only = [g.strip() for g in a.only.split(",") if g.strip()]
    if only:
        groups = [g for g in groups if g[0] in only]
        have_strace = False
    for name, ccmd, pcmd in groups:
        t = time.monotonic()
        for rep in range(R):
            cmds = [ccmd] + ([pcmd] if pcmd else [])
            random.shuffle(cmds)
            for cmd in cmds:
                res.add(run_lines(cmd), rep)
        log("%-14s %5.1f s" % (name, time.monotonic() - t))

    # Row 10: the Python binding (from this checkout, on the library under
    # test) against psutil, both in the one py_bench.py process per repetition
    # (group "python procs" for --only).
    if pyb and (not only or "python procs" in only):
        t = time.monotonic()
        penv = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(HERE), "bindings", "python"),
                    PIDKIT_LIBRARY=os.path.abspath(a.lib))
        for rep in range(R):
            res.add(run_lines(p("procs", PY_EXTRA, 1, 100 // q), env=penv), rep)
        log("%-14s %5.1f s" % ("python procs", time.monotonic() - t))

    # System calls per operation: strace -f -c of N operations minus 0.
    if have_strace:
        t = time.monotonic()
        sc = res.syscalls
        for row, d in (("pidfile-tmpfs", "/dev/shm"), ("pidfile-disk", "/tmp")):
            for impl in ("pidkit", "libbsd", "floor", "floor-same"):
                if (row, impl) in res.times:
                    sc[(row, impl)] = per_op(c("pidfile", "count", impl, d, 200), c("pidfile", "count", impl, d, 0), 200)
            if pyb:
                for impl in ("pid", "python-daemon"):
                    sc[(row, impl)] = per_op(p("count", impl, d, 100), p("count", impl, d, 0), 100)
        for row, mode in (("contended-pid", "write"), ("contended-nopid", "nowrite")):
            for impl in ("pidkit", "libbsd", "floor", "floor-same"):
                if (row, impl) in res.times:
                    n = 2 if (impl == "libbsd" and mode == "nowrite") else 200
                    sc[(row, impl)] = per_op(c("pidfile", "ccount", impl, "/dev/shm", n, mode),
                                             c("pidfile", "ccount", impl, "/dev/shm", 0, mode), n)
            if pyb:
                for impl in ("pid", "python-daemon"):
                    sc[(row, impl)] = per_op(p("ccount", impl, "/dev/shm", 100, mode, c("pidfile")[0]),
                                             p("ccount", impl, "/dev/shm", 0, mode, c("pidfile")[0]), 100)
        for row, nofile in (("detach-1024", "1024"), ("detach-hard", "hard")):
            # The harness (the daemon's report and exit, reading it, reaping):
            # "null" forks a child that only reports; it makes one fork more
            # than an in-process detach needs and one wait4 less than a
            # wrapped one (daemon(3), python-daemon: their caller is forked).
            null = per_op(c("detach", "count", "null", nofile, 20), c("detach", "count", "null", nofile, 0), 20)
            for impl in ("pidkit", "libdaemon", "glibc", "floor", "floor-same"):
                if (row, impl) in res.times:
                    harness = null + 1 if impl == "glibc" else null - 1
                    sc[(row, impl)] = per_op(c("detach", "count", impl, nofile, 20),
                                             c("detach", "count", impl, nofile, 0), 20, harness)
            if pyb:
                pnull = per_op(p("dcount", "null", nofile, 10), p("dcount", "null", nofile, 0), 10)
                sc[(row, "python-daemon")] = per_op(p("dcount", "python-daemon", nofile, 10),
                                                    p("dcount", "python-daemon", nofile, 0), 10, pnull + 1)
        for row, heap in (("spawn", 0), ("spawn-heap", 200)):
            for impl in ("pidkit", "posix_spawn", "floor", "pidkit-1"):
                # harness: getsid + wait4 per spawn
                sc[(row, impl)] = per_op(c("spawn", "count", impl, heap, 20), c("spawn", "count", impl, heap, 0), 20, 2)
        for row, impls in (("getsid", ("pidkit", "floor", "glibc", "floor-same")),
                           ("getpgid", ("pidkit", "floor", "glibc", "floor-same")),
                           ("proc_info", ("pidkit", "floor", "ps"))):
            for impl in impls:
                n = 5 if impl == "ps" else 1000
                sc[(row, impl)] = per_op(c("ids", "count", row + "/" + impl, n), c("ids", "count", row + "/" + impl, 0), n)
        if pyb:
            for impl in ("psutil Process().ppid()", "psutil as_dict(name,status,ppid)"):
                sc[("proc_info", impl)] = per_op(p("icount", impl, 200), p("icount", impl, 0), 200)
        for impl in ("pidkit", "floor"):
            # per listing, with 1000 extra processes (their forks cancel out)
            sc[("list-1k", impl)] = per_op(c("procs", "count", impl, 10, 1000), c("procs", "count", impl, 0, 1000), 10)
        log("%-14s %5.1f s" % ("syscalls", time.monotonic() - t))

    # Row 6: footprint.
    libs = {"pidkit": os.path.abspath(a.lib)} if not only else {}
    for impl, soname in (("libbsd", "libbsd.so.0"), ("libdaemon", "libdaemon.so.0")):
        for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
            if os.path.exists(os.path.join(d, soname)):
                libs[impl] = os.path.realpath(os.path.join(d, soname))
                break
    tmpdir = tempfile.mkdtemp(prefix="pidkit-bench-strip-")
    try:
        for impl, path in (libs.items() if not only else []):
            out = os.path.join(tmpdir, impl + ".so")
            subprocess.run(["strip", "--strip-all", "-o", out, path], check=True)
            res.values[("size", impl)] = [os.path.getsize(out)]
            kib = []
            for _ in range(max(5, R)):
                d = run_lines(c("footprint", path))
                kib.append(d[0]["kib"] * 1024)
            res.values[("rss", impl)] = kib
    finally:
        shutil.rmtree(tmpdir)

    meta["loadavg_end"] = os.getloadavg()[0]
    meta["runtime_s"] = round(time.monotonic() - started, 1)
    meta["skipped"] = skipped
    render(res, meta, a.out)


def render(res, meta, outdir):
    subst = {"tmp_fs": meta["fs"].get("/tmp", "?"), "nofile_hard": res.info.get("nofile_hard", "?"),
             "py_extra": PY_EXTRA}
    table = []
    rows_json = []
    for key, num, desc in ROWS:
        desc = desc.format(**subst)
        impls = sorted({i for (r, i) in list(res.times) + list(res.values) if r == key},
                       key=lambda i: (i != "pidkit", not i.startswith("pidkit"), not i.startswith("floor"), i))
        if not impls:
            continue
        footprint = key in ("size", "rss")
        if footprint:
            series = {i: {k: v for k, v in enumerate(res.values[(key, i)])} for i in impls}
        else:
            series = {i: res.times[(key, i)] for i in impls}
        med = {i: statistics.median(series[i].values()) for i in impls}
        mn = {i: min(series[i].values()) for i in impls}
        anchors = [i for i in impls if not i.startswith("pidkit") and not i.startswith("floor")]
        # A row with a same-guarantees floor is judged by it (the lean floor
        # stays beside it for reference).
        floor = "floor-same" if "floor-same" in series else "floor"
        best = min(anchors, key=lambda i: med[i]) if anchors else None
        first = True
        for i in impls:
            rf = paired_ratio(series[i], series[floor]) if floor in series and not footprint else None
            if footprint and best and i == "pidkit":
                rb = med["pidkit"] / med[best]
            elif best and i.startswith("pidkit"):
                rb = paired_ratio(series[i], series[best])
            else:
                rb = None
            name = ROW_NAMES.get((key, i), NAMES.get(i, i))
            sc = res.syscalls.get((key, i))
            if footprint:
                medtxt, mintxt = "%.0f KiB" % (med[i] / 1024), "%.0f KiB" % (mn[i] / 1024)
            else:
                medtxt, mintxt = fmt_ns(med[i]), fmt_ns(mn[i])
            table.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                num if first else "", desc if first else "", name, medtxt, mintxt,
                "" if sc is None else ("%.0f" % sc if sc >= 10 or abs(sc - round(sc)) < 0.05 else "%.1f" % sc),
                fmt_ratio(rf),
                ("%s (%s)" % (fmt_ratio(rb), ROW_NAMES.get((key, best), NAMES.get(best, best)).replace("**", "")))
                if rb is not None else ""))
            first = False
            chk = res.checks.get((key, i))
            rows_json.append({
                "row": key, "number": num, "description": desc, "impl": i, "name": name.replace("**", ""),
                "unit": "bytes" if footprint else "ns",
                "median": med[i], "min": mn[i], "values": [series[i][k] for k in sorted(series[i])],
                "syscalls_per_op": sc, "ratio_to_floor": rf,
                "ratio_to_best_anchor": rb, "best_anchor": best if i.startswith("pidkit") else None,
                "checks": {"what": chk[0], "passed": chk[1]} if chk else None,
            })
    header = ("| # | benchmark | implementation | median | min | syscalls/op | ratio to floor (same guarantees where given) | "
              "ratio to best anchor |\n|---|---|---|---|---|---|---|---|")
    md_table = header + "\n" + "\n".join(table)
    v = meta["versions"]
    checks_total = sum(c[1] for c in res.checks.values())
    md = [
        "# pidkit benchmark results",
        "",
        "Produced by `make bench` (bench/run.py) on %s: %s, %s cores, %s, kernel %s, %s, "
        "/tmp on %s, /dev/shm on %s; load average %.1f at the start, %.1f at the end (the machine is "
        "shared: absolute times are noisy, ratios measured in the same run are what counts). "
        "Each implementation runs in rounds, one batch per round, the order shuffled every round; a "
        "repetition's value is the median time per operation of its batches (a mean would be ruled by "
        "the preemptions of a shared machine). The table gives the median and min of %d repetitions; "
        "ratios are medians of per-repetition ratios. "
        "Run with LD_BIND_NOW=1. Versions: libbsd %s, libdaemon %s, pid %s, python-daemon %s "
        "(lockfile %s), psutil %s, procps %s, Python %s; pidkit at %s. Runtime %.0f s."
        % (meta["date"], meta["cpu"], meta["cores"], meta["distro"], meta["kernel"], meta["libc"],
           meta["fs"].get("/tmp"), meta["fs"].get("/dev/shm"), meta["loadavg_start"], meta["loadavg_end"],
           meta["reps"], v.get("libbsd0", "-"), v.get("libdaemon0", "-"), v.get("pid", "-"),
           v.get("python-daemon", "-"), v.get("lockfile", "-"), v.get("psutil", "-"), v.get("procps", "-"),
           meta["python"], meta["pidkit_git"], meta["runtime_s"]),
        "",
        md_table,
        "",
        "%d correctness checks passed (every acquire wrote the caller's pid; every contended acquire "
        "was refused; every daemon was in a new session, reported ready and was reaped; every spawn returned "
        "a pid > 0 that led its own session and exited 0; every id matched the raw system call)." % checks_total,
    ]
    if meta["skipped"]:
        md += ["", "**Not measured:** " + "; ".join(meta["skipped"]) + "."]
    trails = []
    last_why = None
    for key, num, desc in ROWS:
        d = next((r for r in rows_json if r["row"] == key and r["impl"] == "pidkit"), None)
        if not d:
            continue
        rf, rb = d["ratio_to_floor"], d["ratio_to_best_anchor"]
        if (rf is not None and rf > 1.05) or (rb is not None and rb > 1.0):
            what = []
            if rf is not None and rf > 1.05:
                what.append("%s the floor" % fmt_ratio(rf))
            if rb is not None and rb > 1.0:
                what.append("%s %s" % (fmt_ratio(rb), ROW_NAMES.get((key, d["best_anchor"]),
                                                                NAMES.get(d["best_anchor"], d["best_anchor"]))))
            why = WHY.get(key, "")
            if trails and why == last_why:
                why = "as for the line above."
            last_why = WHY.get(key, "")
            trails.append("**%s %s** (%s): %s" % (num, d["description"], ", ".join(what), why))
    md += ["", "## Where pidkit trails, and why", ""] + ["- " + t for t in trails]
    md += ["", "## Notes", ""] + ["- " + n for n in NOTES] + [""]
    text = "\n".join(md)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"meta": meta, "info": res.info, "rows": rows_json, "trails": trails, "notes": NOTES}, f,
                  indent=1)
        f.write("\n")
    print(md_table)
    print("\n%d correctness checks passed. Written: bench/results.md, bench/results.json" % checks_total)


NOTES = [
    "**Floor** = a hand-written C version that makes only the necessary system calls for the same "
    "job, without the checks pidkit makes. **Floor with the same guarantees** (rows 1, 2, 3, 5 and "
    "7) = a hand-written C version that makes the same system calls as pidkit and keeps the same "
    "promises, so that only pidkit's own code differs; where a row has one, **ratio to floor** is "
    "this implementation's time / that floor's, else / the lean floor's; **ratio to best anchor** "
    "(pidkit lines) = pidkit's time / the fastest other library's. Syscalls/op = (`strace -f -c` of "
    "N operations − of 0) / N, less the benchmark harness's own calls."    "Row 1: the lean floor opens O_CREAT|O_CLOEXEC|O_NOFOLLOW, fstat, flock, skips ftruncate on an "
    "empty file, getpid, one pwrite; unlink, close. pidkit (and the same-guarantees floor) open the "
    "directory once (openat2 RESOLVE_NO_SYMLINKS) and work relative to it, re-check with fstatat "
    "after the lock that the name still names the locked file and that it has one link, and at "
    "release read the pid back (getpid + pread: a forked child may have taken the pidfile over) and "
    "fstatat before unlinkat (never remove a newcomer's file). libbsd does less checking: it "
    "follows symlinks (no O_NOFOLLOW), truncates twice (flopen's O_TRUNC and pidfile_write), which "
    "on ext4 arms the replace-by-truncate flush (auto_da_alloc) at close - so its ext4 time swings "
    "with the disk's load (0.2 to 3.5 ms per cycle between runs on this machine) - and writes no "
    "newline. Python `pid` unlinks after it unlocked and decides with kill(pid, 0); it is timed "
    "with register_atexit=False and register_term_signal_handler=False (the defaults register "
    "handlers per object). python-daemon's TimeoutPIDLockFile (lockfile) takes no lock at all: it "
    "creates the file with O_EXCL, so a stale file blocks every later start until someone deletes "
    "it - it does less work than pidkit.",
    "Row 2 runs on tmpfs; the holder is a separate process that holds the file with pidkit (flock; "
    "PIDKIT_PIDFILE_NO_WRITE for the second line). libbsd's pidfile_open retries 20 × 5 ms while the "
    "held file is empty, and reports EINVAL instead of EEXIST when the file ends in a newline (as "
    "pidkit, start-stop-daemon and the FHS write it): its pidfile_read wants strtol to consume the whole "
    "file. TimeoutPIDLockFile refuses because the file exists (no lock is looked at).",
    "Row 3: pidkit_detach (default options: double fork, setsid, stdio on /dev/null, chdir /, umask 0, "
    "close_range, every signal disposition reset and the mask emptied, a readiness channel); the daemon "
    "calls pidkit_detach_ready(0) and _exits. The floor does the same minus the signal reset and the "
    "thread check, with one pipe message that carries the daemon's pid and its readiness. libdaemon's "
    "daemon keeps its retval pipe and calls daemon_close_all, daemon_reset_sigs and daemon_unblock_sigs "
    "(as its example daemon does) before daemon_retval_send(0). **glibc daemon(3) does less work**: one "
    "fork (the daemon leads its session and can acquire a terminal), no readiness and no error report "
    "(the daemon writes one byte to a pipe to say it runs), closes no descriptors; like python-daemon it "
    "_exits its caller, so the caller is forked first and the time starts inside it, just before the "
    "call. python-daemon: DaemonContext(files_preserve=[pipe]).open(), the daemon writes to that pipe; "
    "it closes descriptors with os.closerange up to the hard limit.",
    "Row 4: **posix_spawn does less work**: one level - the program stays the caller's child (reaped "
    "afterwards, outside the timed region) and keeps the caller's stdio, cwd and descriptors. The floor "
    "forks twice (copying the caller's page tables: see the heap line) and does no stdio/cwd/descriptor "
    "hygiene. pidkit uses clone(CLONE_VM|CLONE_VFORK) at both levels, puts stdio on /dev/null, chdirs "
    "to /, closes descriptors and resets signals, and returns after the exec succeeded. The "
    "PIDKIT_SPAWN_NO_DOUBLE_FORK line is pidkit doing posix_spawn's one-level job (plus the hygiene).",
    "Row 5: the getsid/getpgid floors are the raw syscall(2); pidkit adds its panic boundary and the "
    "-errno convention. pidkit_proc_info_get also reports the uid, and the floor parses the same stat "
    "fields by hand. `ps` is run with posix_spawnp (its output read from a pipe; LD_BIND_NOW removed from "
    "its environment); psutil is called on a new Process() each time, as a one-off query does.",
    "Rows 7-9 (issue 14): the extra processes are children of one holder, all asleep. Row 7: pidkit "
    "fills whole pidkit_proc_info rows, whose `uid` is the real uid: that takes a read of "
    "/proc/PID/status per process besides stat (the owner of /proc/PID, one fstatat, would be the "
    "effective uid), as the same-guarantees floor does; the lean floor parses "
    "comm,pid,ppid,pgid,sid from stat only, as pidkit with PIDKIT_PROC_NO_UID reads stat only. "
    "psutil's process_iter keeps its Process objects between calls (its steady state is measured, "
    "the cheaper one). Row 8: every implementation gets a new session of 1 000 sleeping processes "
    "(made outside the timed region) and must return once all have exited (a zombie has exited); "
    "the bench process is their subreaper and reaps them afterwards. pidkit re-checks every member "
    "after pinning it with a pidfd, scans again after the wait (members forked meanwhile), and "
    "follows new pids between scans; the floor trusts its scan (racy: a recycled pid would be "
    "signalled). Row 9: a grandchild (not our child) exits at a random moment; the time runs from "
    "just before its _exit to the waiter's return.",
    "Row 6: strip --strip-all copies; RSS = VmRSS after dlopen(RTLD_NOW) − before, in a fresh process "
    "that links only libc (so libgcc_s for pidkit and libmd for libbsd count). libbsd and libdaemon are "
    "plain C; libpidkit.so.0 carries the parts of Rust's standard library it uses.",
]


# Why pidkit trails where it does: found with strace, perf and by adding
# pidkit's extra steps one at a time to the floor (see the report of issue 8).
_PIDFILE_WHY = (
    "judged by the same-guarantees floor (13 system calls each): pidkit makes 6 more than the lean "
    "floor (13 against 7), each a deliberate check: openat2 of the directory without symlinks and "
    "every later step relative to it (issue 13: a user who renames a directory on the path must not "
    "move a step elsewhere; +close), an fstatat after the flock (the name must still name the file "
    "it locked, and it must have one link), getpid + pread at release (a forked child may have "
    "taken the pidfile over with pidkit_pidfile_write; only the owner removes it), and an fstatat "
    "before the unlinkat (never remove a newcomer's file). Through a root-owned link (Debian's "
    "/var/run -> /run) the component walk adds 16 system calls: 12.0 µs against 8.1 µs per cycle on "
    "/run here.")
_CONTENDED_WHY = (
    "judged by the same-guarantees floor (8 system calls each: openat2 of the directory, openat, "
    "fstat, flock, flock, pread, close, close); the lean floor makes 4. The fstat is the "
    "regular-file check (a FIFO, device or directory is -EINVAL, not 'held'); the second flock, a "
    "non-blocking shared attempt, tells an exclusive holder (-EEXIST) from pidkit_pidfile_check's "
    "momentary shared probe (retry). What remains over the same-guarantees floor is the "
    "pidkit_last_error() message (built without the formatting machinery since issue 16: one "
    "allocation, the path copied) and the panic boundary.")
_DETACH_WHY = (
    "judged by the same-guarantees floor (the same system calls: /proc/self/status read, signal "
    "reset, umask, chdir, readiness channel). Since issue 16 the after-fork code lives in one "
    "module placed in one text section: minor faults in the forked processes went from ~28 to ~23 "
    "per detach (floor 16-18), in the original from 7.8 to 6.0 (floor 3-4); the rest is the "
    "children's first touches of pidkit's code and data pages. glibc daemon(3) does less: one fork, "
    "no readiness, nothing closed.")
_SPAWN_WHY = (
    "posix_spawn does one level and leaves the program as the caller's child; pidkit's double clone "
    "makes the program nobody's child. ftrace of one pidkit spawn here: 52 µs of preparation before "
    "the first clone, 39 µs until the intermediate runs on the other CPU, 29 µs for its clone of the "
    "program, 80 µs in the program up to its exec, 20 µs for the intermediate's exit and the caller's "
    "wake-up. The second level costs one more task start and exit (~90 µs) and a second hand-off "
    "between the two CPUs, which on a shared machine sometimes waits for another tenant's slice "
    "(hence medians far above the minimum); CPU time (perf stat) is only 3% above posix_spawn's. "
    "The region for the two child stacks is kept between calls (mapping, guarding and unmapping it "
    "on every call cost ~30 µs: 1.55x posix_spawn before, ~1.45x after). "
    "PIDKIT_SPAWN_NO_DOUBLE_FORK, which does posix_spawn's job, has its own line.")
_FOOT_WHY = (
    "libpidkit.so.0 carries the parts of Rust's standard library it uses (formatting of error "
    "messages, catch_unwind at every entry point, thread-local storage); libbsd and libdaemon are "
    "plain C with no runtime.")
_ID_WHY = (
    "since issue 16 the id getters' success path skips the panic boundary (one system call and an "
    "integer check, nothing that can panic; an error still goes through it to be worded): what is "
    "left is a function call and the -errno mapping.")
WHY = {
    "pidfile-tmpfs": _PIDFILE_WHY, "pidfile-disk": _PIDFILE_WHY,
    "contended-pid": _CONTENDED_WHY, "contended-nopid": _CONTENDED_WHY,
    "detach-1024": _DETACH_WHY, "detach-hard": _DETACH_WHY,
    "spawn": _SPAWN_WHY, "spawn-heap": _SPAWN_WHY,
    "getsid": _ID_WHY,
    "getpgid": _ID_WHY,
    "proc_info": "pidkit also fills the uid (one getuid) and copies the struct by its size field.",
    "size": _FOOT_WHY, "rss": _FOOT_WHY,
    "list-1k": ("judged by the same-guarantees floor (stat and status per process): the real uid of each row is "
                "in /proc/PID/status, whose generation costs more than stat's (all of status is rendered). With "
                "PIDKIT_PROC_NO_UID pidkit reads stat only, like the lean floor; what remains over it is "
                "parsing every stat field of a full row (times, memory, flags) where the floor parses four."),
    "list-10k": "as for the line above.",
    "kill-1k": ("per member one pidfd_open, a second read of its stat after pinning it (the re-check), "
                "one pidfd_send_signal, and one more full scan after the wait; the floor reads each stat "
                "once and signals by pid."),
}


if __name__ == "__main__":
    main()
