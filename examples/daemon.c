/* daemon.c - the classic double-fork daemon with a pidfile, through pidkit.
 *
 *   daemon [PIDFILE [LOGFILE]]
 *
 * Takes the pidfile (default /tmp/pidkit-example-daemon.pid) so that only one
 * copy runs, then detaches: fork, setsid, fork again, stdio on /dev/null, cwd
 * "/", every other fd closed, signals reset, umask 0. The daemon sets itself
 * up and reports back with pidkit_detach_ready; only then does the original
 * process print "daemon started as pid N" and exit 0, so a failed start is
 * seen by whoever ran the command. The daemon appends a heartbeat line to
 * LOGFILE (default /tmp/pidkit-example-daemon.log) every second until SIGTERM
 * or SIGINT, then removes its pidfile.
 *
 *   ./daemon && sleep 3 && cat /tmp/pidkit-example-daemon.log
 *   kill $(cat /tmp/pidkit-example-daemon.pid)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pidkit.h>

/* The daemon's life after setup: a heartbeat a second until SIGTERM or SIGINT.
 * The signals are blocked and taken with sigtimedwait, so no handler races
 * with the loop. */
static void heartbeat(int log, const sigset_t *stop)
{
    const struct timespec second = { 1, 0 };
    for (;;) {
        dprintf(log, "%ld heartbeat from pid %d\n", (long)time(NULL), (int)getpid());
        int sig = sigtimedwait(stop, NULL, &second);
        if (sig == SIGTERM || sig == SIGINT) {
            dprintf(log, "%ld pid %d stopping on signal %d\n", (long)time(NULL), (int)getpid(), sig);
            return;
        }
    }
}

int main(int argc, char **argv)
{
    const char *pidfile_path = argc > 1 ? argv[1] : "/tmp/pidkit-example-daemon.pid";
    const char *log_path = argc > 2 ? argv[2] : "/tmp/pidkit-example-daemon.log";

    /* Single instance: the lock on the pidfile says who runs, not the pid in it. */
    pidkit_pidfile *pf;
    pid_t holder = 0;
    int r = pidkit_pidfile_acquire(pidfile_path, NULL, &pf, &holder);
    if (r == -EEXIST) {
        fprintf(stderr, "daemon: already running as pid %d\n", (int)holder);
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "daemon: %s\n", pidkit_last_error());
        return 1;
    }

    /* Opened here, in the original, so that a bad path is reported on the
     * terminal (and a relative one means the caller's cwd); the daemon keeps
     * it with keep_fds, as everything else is closed. */
    int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
        fprintf(stderr, "daemon: %s: %s\n", log_path, strerror(errno));
        pidkit_pidfile_release(pf);
        return 1;
    }

    pidkit_detach_opts opts = PIDKIT_DETACH_OPTS_INIT;
    opts.pidfile = pf;     /* the daemon's pid is written into it; the daemon owns it */
    opts.keep_fds = &log;
    opts.n_keep_fds = 1;
    opts.umask = 022;
    fflush(NULL);          /* nothing buffered may be written twice */
    pid_t daemon_pid = pidkit_detach(&opts);
    if (daemon_pid < 0) {
        /* The daemon failed its setup or died: we own the pidfile again. */
        fprintf(stderr, "daemon: failed to start: %s (%s)\n", strerror(-daemon_pid), pidkit_last_error());
        pidkit_pidfile_release(pf);
        return 1;
    }
    if (daemon_pid > 0) {
        /* The original: the pidfile is the daemon's now; releasing our copy only closes it. */
        pidkit_pidfile_release(pf);
        printf("daemon started as pid %d\n", (int)daemon_pid);
        return 0;
    }

    /* The daemon. Set up what can fail, then tell the original. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop, NULL) != 0 ||
        dprintf(log, "%ld daemon started as pid %d\n", (long)time(NULL), (int)getpid()) < 0) {
        pidkit_detach_ready(errno ? -errno : -EIO);  /* the original prints why and exits 1 */
        _exit(1);
    }
    pidkit_detach_ready(0);

    heartbeat(log, &stop);

    pidkit_pidfile_release(pf);      /* removes the file: the daemon is its owner */
    close(log);
    return 0;
}
