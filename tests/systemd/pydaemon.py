"""A daemon written with the Python binding, for tests/systemd (issue 17).

    pydaemon.py [--strict] PIDFILE LOGFILE
        examples/daemon.c in Python: takes PIDFILE (PidFile, strict=True with
        --strict), opens LOGFILE, detaches with pidkit.detach(pidfile=...),
        writes a line to the log (a failure there is reported with
        detach_ready(error): the original exits 1), reports ready and waits
        for SIGTERM, then releases (removes) the pidfile. The original
        exits 0 only once the daemon reported ready. Under systemd's
        Type=notify, detach_ready(0) also sends READY=1 and MAINPID=.
    pydaemon.py --serve
        no detaching: a foreground program for `pidkit run`; with
        $NOTIFY_SOCKET set it sends READY=1 and MAINPID=<its pid> itself
        (pidkit.notify), then waits for SIGTERM.
"""
import os
import signal
import sys

import pidkit

STOP = {signal.SIGTERM, signal.SIGINT}


def serve():
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP)
    pidkit.notify(f"READY=1\nMAINPID={os.getpid()}")
    signal.sigwait(STOP)
    return 0


def main(argv):
    if argv[1:] == ["--serve"]:
        return serve()
    strict = len(argv) > 1 and argv[1] == "--strict"
    args = argv[2:] if strict else argv[1:]
    if len(args) != 2:
        print("usage: pydaemon.py [--strict] PIDFILE LOGFILE | --serve", file=sys.stderr)
        return 2
    pidfile_path, log_path = args

    pf = pidkit.PidFile(pidfile_path, strict=strict)
    try:
        pf.acquire()
    except pidkit.PidFileHeldError as e:
        print(f"pydaemon: already running as pid {e.holder}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"pydaemon: {e}", file=sys.stderr)
        return 1
    try:
        log = open(log_path, "a", buffering=1)
    except OSError as e:
        print(f"pydaemon: {log_path}: {e.strerror}", file=sys.stderr)
        pf.release()
        return 1

    try:
        pid = pidkit.detach(pidfile=pf, keep_fds=[log], umask=0o022)
    except OSError as e:
        print(f"pydaemon: failed to start: {e}", file=sys.stderr)
        pf.release()
        return 1
    if pid > 0:
        pf.release()   # the daemon's now: only closes our copy
        print(f"pydaemon started as pid {pid}")
        return 0

    # The daemon: set up what can fail, then report.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP)
    try:
        log.write(f"pydaemon started as pid {os.getpid()}\n")
        log.flush()
    except OSError as e:
        pidkit.detach_ready(e)
        os._exit(1)
    pidkit.detach_ready(0)
    sig = signal.sigwait(STOP)
    try:
        log.write(f"pydaemon pid {os.getpid()} stopping on signal {int(sig)}\n")
        log.flush()
    except OSError:
        pass
    pf.release()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
