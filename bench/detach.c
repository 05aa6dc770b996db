/* detach.c - row 3: detach until the original knows the daemon is ready.
 *
 *   detach bench ROW NOFILE REPS ITERS   all implementations in this process, order shuffled
 *                                        every repetition; NOFILE = soft RLIMIT_NOFILE
 *                                        ("1024" or "hard")
 *   detach count IMPL NOFILE N           N detaches of one implementation (for strace -f -c);
 *                                        IMPL "null" is the harness alone
 *
 * Every daemon reports {its pid, its session id} through a check pipe after
 * it reported ready, then _exit()s; this process is a child subreaper, so
 * every daemon is re-parented to it and reaped here (nothing is left behind).
 * The checks: the pid the original learnt is the daemon's; the daemon is in a
 * new session (not ours), and - for the double-fork implementations - does
 * not lead it (it can never acquire a controlling terminal).
 *
 * glibc daemon(3) _exit()s its caller, so it runs in a forked wrapper that
 * takes the start time just before the call; the time ends when this process
 * has read the daemon's byte. The wrapper's own fork is not timed.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <pidkit.h>
#ifdef HAVE_LIBDAEMON
#include <libdaemon/dfork.h>
#endif
#include "common.h"

/* NULLH (count mode only): the harness alone - fork a child that reports
 * and exits, read its report, reap it - so that the driver can subtract the
 * harness's system calls from every implementation's count. */
enum { PIDKIT, LIBDAEMON, GLIBC, FLOOR, FLOOR_SAME, NIMPL, NULLH = NIMPL };
static const char *impl_name[NIMPL + 1] = { "pidkit", "libdaemon", "glibc daemon(3)", "floor", "floor (same guarantees)",
                                            "null" };
static const char *impl_key[NIMPL + 1] = { "pidkit", "libdaemon", "glibc", "floor", "floor-same", "null" };

struct report {
    uint64_t t0;       /* start time (wrapped implementations only) */
    int32_t pid, sid;  /* the daemon's */
};

static int chk[2];     /* the check pipe: daemons write, we read */
static pid_t my_sid;

static int have(int impl)
{
#ifndef HAVE_LIBDAEMON
    if (impl == LIBDAEMON)
        return 0;
#endif
    (void)impl;
    return 1;
}

__attribute__((noreturn)) static void daemon_report(uint64_t t0)
{
    struct report r = { t0, (int32_t)getpid(), (int32_t)getsid(0) };
    if (write(chk[1], &r, sizeof r) != (ssize_t)sizeof r)
        _exit(3);
    _exit(0);
}

static struct report read_report(void)
{
    struct report r;
    ssize_t n;
    do
        n = read(chk[0], &r, sizeof r);
    while (n < 0 && errno == EINTR);
    CHECK(n == (ssize_t)sizeof r, "daemon did not report (read %zd)", n);
    return r;
}

static void reap(pid_t pid, const char *what)
{
    int st;
    pid_t r;
    do
        r = waitpid(pid, &st, 0);
    while (r < 0 && errno == EINTR);
    CHECK(r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %d did not exit cleanly (r=%d st=%#x)", what,
          (int)pid, (int)r, st);
}

/* close_range around the two descriptors the floor's daemon keeps. */
static void close_except(int a, int b)
{
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    syscall(SYS_close_range, 3u, (unsigned)a - 1, 0u);
    if (b > a + 1)
        syscall(SYS_close_range, (unsigned)a + 1, (unsigned)b - 1, 0u);
    syscall(SYS_close_range, (unsigned)b + 1, ~0u, 0u);
}

/* close_range over every gap of `keep` (sorted ascending). */
static void close_gaps(const int *keep, int n)
{
    unsigned low = 0;
    for (int i = 0; i < n; i++) {
        if ((unsigned)keep[i] > low)
            syscall(SYS_close_range, low, (unsigned)keep[i] - 1, 0u);
        low = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, low, ~0u, 0u);
}

/* The hex value of /proc/self/status line `name` ("SigIgn:"), 0 if absent. */
static unsigned long long status_hex(const char *buf, const char *name)
{
    const char *p = strstr(buf, name);
    return p ? strtoull(p + strlen(name), NULL, 16) : 0;
}

/* The same-guarantees floor: what pidkit_detach with these options
 * guarantees, by hand, with the same system calls - in the original, one
 * read of /proc/self/status (the thread count, which signals to reset), the
 * keep_fds descriptor checked with F_GETFD, /dev/null opened once, a
 * SOCK_SEQPACKET readiness channel; in the intermediate setsid and fork; in
 * the daemon stdio, chdir("/"), umask(0), close_range around the kept
 * descriptors, the signals found set reset and the mask emptied, then the
 * ready report (the daemon checks it is the process made, by getpid, as
 * pidkit_detach_ready does, and sends its pid), while the original reaps
 * the intermediate. So only pidkit's own code differs. */
static pid_t floor_same_detach(void)
{
    char st[4096];
    int sfd = open("/proc/self/status", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    CHECK(sfd >= 0, "open /proc/self/status");
    ssize_t n = read(sfd, st, sizeof st - 1);
    close(sfd);
    CHECK(n > 0, "read /proc/self/status");
    st[n] = '\0';
    const char *th = strstr(st, "Threads:");
    CHECK(th && atoi(th + 8) == 1, "floor-same: other threads run");
    unsigned long long reset = status_hex(st, "SigIgn:") | status_hex(st, "SigCgt:");
    CHECK(fcntl(chk[1], F_GETFD) >= 0, "keep fd");
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
    int ch[2];
    CHECK(nul >= 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) == 0, "socketpair");
    pid_t c = fork();
    CHECK(c >= 0, "fork");
    if (c == 0) {
        int32_t fail[4] = { 2, 1, 0, 0 };
        close(ch[0]);
        if (setsid() < 0) {
            fail[2] = errno;
            send(ch[1], fail, sizeof fail, MSG_NOSIGNAL);
            _exit(1);
        }
        pid_t d = fork();
        if (d != 0)
            _exit(d < 0);
        pid_t me = getpid();
        if (dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0 || chdir("/") < 0) {
            fail[2] = errno;
            send(ch[1], fail, sizeof fail, MSG_NOSIGNAL);
            _exit(1);
        }
        close(nul);
        umask(0);
        int keep[5] = { 0, 1, 2, ch[1], chk[1] };
        if (keep[3] > keep[4]) {
            keep[3] = chk[1];
            keep[4] = ch[1];
        }
        close_gaps(keep, 5);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < 65; sig++)
            if (sig != SIGKILL && sig != SIGSTOP && (reset >> (sig - 1) & 1))
                sigaction(sig, &dfl, NULL);
        sigset_t empty;
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, NULL);
        /* ready: the daemon is the process made (getpid), report its pid. */
        int32_t ready[4] = { 3, 0, 0, (int32_t)getpid() };
        CHECK(ready[3] == me, "floor-same: not the daemon");
        if (send(ch[1], ready, sizeof ready, MSG_NOSIGNAL) < 0 && errno != EPIPE)
            _exit(2);
        close(ch[1]);
        if (getenv("NOTIFY_SOCKET"))
            _exit(2);
        daemon_report(0);
    }
    close(ch[1]);
    int32_t msg[4] = { 0, 0, 0, 0 };
    ssize_t got;
    do
        got = recv(ch[0], msg, sizeof msg, 0);
    while (got < 0 && errno == EINTR);
    int s;
    while (waitpid(c, &s, 0) < 0 && errno == EINTR)
        ;
    close(nul);
    close(ch[0]);
    CHECK(got == (ssize_t)sizeof msg && msg[0] == 3, "floor-same readiness");
    return msg[3];
}

/* One detach; returns the ns until the original knew the daemon was ready. */
static uint64_t detach_once(int impl, int check)
{
    uint64_t t0 = 0, t1;
    pid_t daemon_pid = -1;
    struct report r;
    switch (impl) {
    case PIDKIT: {
        pidkit_detach_opts o = PIDKIT_DETACH_OPTS_INIT;
        o.keep_fds = &chk[1];
        o.n_keep_fds = 1;
        t0 = now_ns();
        pid_t p = pidkit_detach(&o);
        if (p == 0) {
            if (pidkit_detach_ready(0) != 0)
                _exit(2);
            daemon_report(0);
        }
        t1 = now_ns();
        CHECK(p > 0, "pidkit_detach: %s (%s)", strerror(-p), pidkit_last_error());
        daemon_pid = p;
        r = read_report();
        break;
    }
#ifdef HAVE_LIBDAEMON
    case LIBDAEMON: {
        t0 = now_ns();
        CHECK(daemon_retval_init() == 0, "daemon_retval_init");
        pid_t p = daemon_fork();
        if (p == 0) {
            if (daemon_close_all(chk[1], -1) < 0 || daemon_reset_sigs(-1) < 0 || daemon_unblock_sigs(-1) < 0)
                daemon_retval_send(1);
            else
                daemon_retval_send(0);
            daemon_report(0);
        }
        CHECK(p > 0, "daemon_fork: %s", strerror(errno));
        int ret = daemon_retval_wait(20);
        daemon_retval_done();
        t1 = now_ns();
        CHECK(ret == 0, "daemon_retval_wait: %d", ret);
        daemon_pid = p;
        r = read_report();
        break;
    }
#endif
    case GLIBC: {
        pid_t w = fork();
        CHECK(w >= 0, "fork");
        if (w == 0) {
            uint64_t start = now_ns();
            if (daemon(0, 0) < 0)
                _exit(1);
            daemon_report(start);
        }
        r = read_report();
        t1 = now_ns();
        t0 = r.t0;
        reap(w, "daemon(3) caller");
        daemon_pid = r.pid;
        break;
    }
    case FLOOR_SAME: {
        t0 = now_ns();
        daemon_pid = floor_same_detach();
        t1 = now_ns();
        r = read_report();
        break;
    }
    case NULLH: {
        pid_t c = fork();
        CHECK(c >= 0, "fork");
        if (c == 0)
            daemon_report(0);
        r = read_report();
        t1 = now_ns();
        reap(c, "null");
        return t1 - t0;
    }
    default: {
        /* The floor: double fork, setsid, stdio on /dev/null, chdir, umask,
         * close_range, a readiness pipe that carries the daemon's pid. */
        int p[2];
        t0 = now_ns();
        CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2");
        pid_t c = fork();
        CHECK(c >= 0, "fork");
        if (c == 0) {
            close(p[0]);
            if (setsid() < 0)
                _exit(1);
            pid_t d = fork();
            if (d != 0)
                _exit(d < 0);
            int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
                _exit(1);
            close(nul);
            if (chdir("/") < 0)
                _exit(1);
            umask(0);
            close_except(p[1], chk[1]);
            pid_t me = getpid();
            if (write(p[1], &me, sizeof me) != sizeof me)
                _exit(1);
            close(p[1]);
            daemon_report(0);
        }
        close(p[1]);
        pid_t d = 0;
        ssize_t n = read(p[0], &d, sizeof d);
        close(p[0]);
        int st;
        waitpid(c, &st, 0);
        t1 = now_ns();
        CHECK(n == sizeof d && d > 0, "floor readiness");
        daemon_pid = d;
        r = read_report();
        break;
    }
    }
    if (check) {
        CHECK(r.pid == daemon_pid, "%s: original learnt pid %d, daemon is %d", impl_name[impl], (int)daemon_pid,
              (int)r.pid);
        CHECK(r.sid > 0 && r.sid != my_sid, "%s: daemon %d is not in a new session (sid %d)", impl_name[impl],
              (int)r.pid, (int)r.sid);
        if (impl == GLIBC)
            CHECK(r.sid == r.pid, "daemon(3): the daemon should lead its session");
        else
            CHECK(r.sid != r.pid, "%s: double-forked daemon %d leads its session", impl_name[impl], (int)r.pid);
    }
    reap(daemon_pid, "daemon");
    return t1 - t0;
}

static int find_impl(const char *name)
{
    for (int i = 0; i <= NIMPL; i++)
        if (!strcmp(name, impl_key[i]))
            return i;
    die("unknown implementation %s", name);
}

static void setup(const char *nofile)
{
    become_subreaper();
    rlim_t lim = set_nofile(nofile);
    emit_info(!strcmp(nofile, "hard") ? "nofile_hard" : "nofile_soft", "%llu", (unsigned long long)lim);
    CHECK(pipe2(chk, O_CLOEXEC) == 0, "pipe2");
    my_sid = getsid(0);
    /* stdout is a pipe to the driver: the daemons must not hold it open. */
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "bench")) {
        const char *row = argv[2];
        setup(argv[3]);
        int reps = atoi(argv[4]), iters = atoi(argv[5]);
        int order[NIMPL], n = 0;
        long checked[NIMPL] = { 0 };
        for (int i = 0; i < NIMPL; i++)
            if (have(i))
                order[n++] = i;
        /* Every round detaches once with each implementation, in an order
         * shuffled anew, so that a burst of load from elsewhere hits all of
         * them alike. */
        static struct samples smp[NIMPL];
        for (int rep = -1; rep < reps; rep++) {
            int m = rep < 0 ? 2 : iters;
            for (int r = 0; r < m; r++) {
                shuffle(order, n);
                for (int k = 0; k < n; k++)
                    sample_add(&smp[order[k]], detach_once(order[k], 1), 1);
            }
            for (int k = 0; k < n; k++) {
                checked[order[k]] += m;
                if (rep >= 0)
                    emit_samples(row, impl_key[order[k]], rep, &smp[order[k]]);
                smp[order[k]].n = 0;
                smp[order[k]].ops = 0;
            }
        }
        for (int k = 0; k < n; k++)
            emit_check(row, impl_key[order[k]], order[k] == GLIBC ? "daemon in a new session, reaped"
                                                                   : "daemon in a new session it does not lead, reaped",
                       checked[order[k]]);
        CHECK(reap_ready() == 0, "a process was left behind");
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "count")) {
        int impl = find_impl(argv[2]);
        setup(argv[3]);
        int n = atoi(argv[4]);
        for (int i = 0; i < n; i++)
            detach_once(impl, 1);
        /* Page faults of the forked processes (all reaped here, as this
         * process is their subreaper), per detach, for comparing code
         * placement: subtract the "null" harness's figure. */
        struct rusage ru;
        if (n > 0 && getrusage(RUSAGE_CHILDREN, &ru) == 0)
            fprintf(stderr, "detach %s: %.1f minor faults per detach in the forked processes\n", impl_key[impl],
                    (double)ru.ru_minflt / n);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of bench/detach.c\n");
    return 2;
}
