/* test_procs.c - process handles, listings and signalling a whole session,
 * with real processes. Every test cleans up the processes it starts.
 *
 * Run again by `make check-oldkernel` under a seccomp filter that makes
 * pidfd_open ENOSYS: then handles fall back to pid + start time, and the
 * tests that need a pidfd say so and skip. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pidkit.h>
#include "tap.h"

static int have_pidfd; /* pidkit_proc_fd works (not the old-kernel run) */
static int quick;      /* PIDKIT_TEST_QUICK: fewer rounds (valgrind) */

/* ---------------------------------------------------------------- helpers */

static void msleep(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ssize_t read_file(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r >= 0)
        buf[r] = 0;
    return r;
}

/* Fields of /proc/PID/stat after the comm: state, ppid, pgrp, session, and
 * flags; 0 when it cannot be read. */
struct raw_stat {
    char state;
    int ppid, pgid, sid;
    unsigned flags;
    unsigned long long start;
};

static int raw_stat(pid_t pid, struct raw_stat *s)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_file(path, buf, sizeof buf) <= 0)
        return 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    int tty, tpgid;
    unsigned long long skip;
    /* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
       utime stime cutime cstime priority nice num_threads itrealvalue starttime */
    int n = sscanf(p + 2, "%c %d %d %d %d %d %u %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
                   &s->state, &s->ppid, &s->pgid, &s->sid, &tty, &tpgid, &s->flags, &skip, &skip, &skip, &skip,
                   &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &s->start);
    return n == 20;
}

static char proc_state(pid_t pid)
{
    struct raw_stat s;
    return raw_stat(pid, &s) ? s.state : 0;
}

/* Exited: no such pid, or a zombie. */
static int gone(pid_t pid)
{
    char s = proc_state(pid);
    return s == 0 || s == 'Z' || s == 'X';
}

static int wait_gone(pid_t pid, int ms)
{
    long long end = now_ms() + ms;
    while (!gone(pid)) {
        if (now_ms() > end)
            return 0;
        msleep(2);
    }
    return 1;
}

/* Live (not zombie) processes in /proc whose sid (which 0) or pgid (1)
 * is id, counted without pidkit. */
static int raw_live(int which, int id)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        struct raw_stat s;
        if (pid <= 0 || !raw_stat(pid, &s) || s.state == 'Z' || s.state == 'X')
            continue;
        if ((which == 0 ? s.sid : s.pgid) == id)
            n++;
    }
    closedir(d);
    return n;
}

/* Every numeric entry of /proc. */
static int raw_count_all(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (atoi(e->d_name) > 0)
            n++;
    closedir(d);
    return n;
}

static void reap_all(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void sleep_forever(void)
{
    for (;;)
        pause();
}

/* A child of ours that sleeps until killed. */
static pid_t sleeper(void)
{
    pid_t p = fork();
    if (p == 0)
        sleep_forever();
    return p;
}

/* A child of ours that has been reaped: its pid names no process. */
static pid_t reaped_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

/* A session of several process groups and a grandchild, led by a child of
 * ours:   L (sid L, pgid L) -> A (pgid L) -> Ag (pgid L)
 *                           -> B (pgid B) -> Bc (pgid B)
 *                           -> C (pgid C)                              */
struct tree {
    pid_t l, a, ag, b, bc, c;
};

struct note {
    int role;
    pid_t pid;
};

static void note(int fd, int role)
{
    struct note n = { role, getpid() };
    if (write(fd, &n, sizeof n) != (ssize_t)sizeof n)
        _exit(1);
}

static int make_tree(struct tree *t)
{
    int p[2];
    if (pipe(p) != 0)
        return 0;
    memset(t, 0, sizeof *t);
    pid_t l = fork();
    if (l == 0) {
        close(p[0]);
        setsid();
        if (fork() == 0) { /* A */
            if (fork() == 0) { /* Ag */
                note(p[1], 2);
                sleep_forever();
            }
            note(p[1], 1);
            sleep_forever();
        }
        if (fork() == 0) { /* B */
            setpgid(0, 0);
            if (fork() == 0) { /* Bc */
                note(p[1], 4);
                sleep_forever();
            }
            note(p[1], 3);
            sleep_forever();
        }
        if (fork() == 0) { /* C */
            setpgid(0, 0);
            note(p[1], 5);
            sleep_forever();
        }
        note(p[1], 0);
        sleep_forever();
    }
    close(p[1]);
    int got = 0;
    struct note n;
    while (got < 6 && read(p[0], &n, sizeof n) == (ssize_t)sizeof n) {
        pid_t *slot[] = { &t->l, &t->a, &t->ag, &t->b, &t->bc, &t->c };
        if (n.role >= 0 && n.role < 6)
            *slot[n.role] = n.pid;
        got++;
    }
    close(p[0]);
    t->l = l;
    return got == 6;
}

static void kill_tree(struct tree *t)
{
    pid_t all[] = { t->bc, t->b, t->ag, t->a, t->c };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] > 1 && !gone(all[i]))
            kill(all[i], SIGKILL);
    if (t->l > 1) {
        kill(t->l, SIGKILL);
        waitpid(t->l, NULL, 0);
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] > 1)
            wait_gone(all[i], 5000);
}

/* A session led by a child of ours with n members in all (the leader and
 * n-1 children of it). Returns the leader's pid. */
static pid_t make_session(int n)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t l = fork();
    if (l == 0) {
        close(p[0]);
        setsid();
        for (int i = 1; i < n; i++)
            if (fork() == 0) {
                close(p[1]);
                sleep_forever();
            }
        char c = 1;
        if (write(p[1], &c, 1) != 1)
            _exit(1);
        sleep_forever();
    }
    close(p[1]);
    char c;
    ssize_t r = read(p[0], &c, 1);
    close(p[0]);
    return r == 1 ? l : -1;
}

static void kill_session(pid_t l)
{
    if (l <= 1)
        return;
    kill(-l, SIGKILL);
    waitpid(l, NULL, 0);
    long long end = now_ms() + 5000;
    while (raw_live(0, l) > 0 && now_ms() < end)
        msleep(5);
}

static pidkit_proc_filter filter_of(uint32_t flags, pid_t id)
{
    pidkit_proc_filter f = PIDKIT_PROC_FILTER_INIT;
    f.flags = flags;
    if (flags & PIDKIT_PROC_MATCH_SID)
        f.sid = id;
    if (flags & PIDKIT_PROC_MATCH_PGID)
        f.pgid = id;
    if (flags & PIDKIT_PROC_MATCH_PPID)
        f.ppid = id;
    if (flags & PIDKIT_PROC_MATCH_DESCENDANTS)
        f.ancestor = id;
    return f;
}

/* The matching pids, sorted, as a string "1 2 3" (for messages and
 * comparisons). Returns the count, or the negative error. */
static int list_pids(const pidkit_proc_filter *f, char *out, size_t n)
{
    pidkit_proc_info rows[64];
    int r = pidkit_proc_list(f, rows, sizeof rows[0], 64);
    out[0] = 0;
    if (r < 0)
        return r;
    size_t len = 0;
    for (int i = 0; i < r && i < 64; i++)
        len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%d", i ? " " : "", (int)rows[i].pid);
    return r;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

static void pids_str(pid_t *p, int n, char *out, size_t len)
{
    qsort(p, (size_t)n, sizeof *p, cmp_pid);
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, at < len ? len - at : 0, "%s%d", i ? " " : "", (int)p[i]);
}

static long voluntary_switches(void)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", (long)syscall(SYS_gettid));
    if (read_file(path, buf, sizeof buf) <= 0)
        return -1;
    char *p = strstr(buf, "voluntary_ctxt_switches:");
    return p ? atol(p + strlen("voluntary_ctxt_switches:")) : -1;
}

/* ---------------------------------------------------------------- handles */

static void test_self(void)
{
    pidkit_proc *p = NULL;
    ok(pidkit_proc_open(0, &p) == 0 && p, "open(0) opens the caller");
    ok(pidkit_proc_pid(p) == getpid(), "... its pid is getpid() (%d)", (int)pidkit_proc_pid(p));
    int fd = pidkit_proc_fd(p);
    have_pidfd = fd >= 0;
    if (have_pidfd)
        ok(fcntl(fd, F_GETFD) == FD_CLOEXEC, "... its pidfd %d is close-on-exec", fd);
    else
        ok(fd == -ENOSYS, "... no pidfd without pidfd_open: -ENOSYS (%d)", fd);
    diag("pidfds: %s", have_pidfd ? "yes" : "no (old-kernel run)");
    ok(pidkit_proc_signal(p, 0) == 0, "signal 0 to self");
    int st = 7;
    ok(pidkit_proc_wait(p, 0, &st) == -EDEADLK && st == 7, "wait on self: -EDEADLK, status untouched");
    pidkit_proc_info info = PIDKIT_PROC_INFO_INIT;
    int r = pidkit_proc_query(p, &info);
    ok(r == 0 && info.pid == getpid() && info.sid == getsid(0), "query of self: pid %d sid %d", (int)info.pid,
       (int)info.sid);
    ok(pidkit_proc_close(p) == 0, "close");
    pidkit_proc *q = NULL;
    ok(pidkit_proc_open(getpid(), &q) == 0 && pidkit_proc_wait(q, 0, NULL) == -EDEADLK,
       "open(getpid()) is the caller too (wait -EDEADLK)");
    pidkit_proc_close(q);
}

static void *thread_sleep(void *arg)
{
    int *tid = arg;
    *tid = (int)syscall(SYS_gettid);
    msleep(500);
    return NULL;
}

static void test_errors(void)
{
    pidkit_proc *p = (pidkit_proc *)0x1;
    ok(pidkit_proc_open(-1, &p) == -EINVAL && p == (pidkit_proc *)0x1, "open(-1): -EINVAL, *out untouched");
    ok(pidkit_proc_open(0, NULL) == -EINVAL, "open with NULL out: -EINVAL");
    ok(strstr(pidkit_last_error(), "out") != NULL, "... message names out: \"%s\"", pidkit_last_error());
    pid_t dead = reaped_pid();
    ok(pidkit_proc_open(dead, &p) == -ESRCH, "open of a reaped pid %d: -ESRCH", (int)dead);
    ok(strstr(pidkit_last_error(), "pid") != NULL, "... message names the pid: \"%s\"", pidkit_last_error());

    pthread_t th;
    volatile int tid = 0;
    pthread_create(&th, NULL, thread_sleep, (void *)&tid);
    while (!tid)
        msleep(1);
    ok(pidkit_proc_open(tid, &p) == -ESRCH, "open of a thread id %d that is no process: -ESRCH", tid);
    pthread_join(th, NULL);

    ok(pidkit_proc_open_pidfd(-1, &p) == -EBADF, "open_pidfd(-1): -EBADF");
    int fds[2];
    if (pipe(fds) == 0) {
        int r = pidkit_proc_open_pidfd(fds[0], &p);
        ok(r == -EINVAL, "open_pidfd of a pipe: -EINVAL (%d)", r);
        close(fds[0]);
        close(fds[1]);
    }
    ok(pidkit_proc_close(NULL) == 0, "close(NULL) is 0");
    ok(pidkit_proc_pid(NULL) == -EINVAL && pidkit_proc_fd(NULL) == -EINVAL && pidkit_proc_signal(NULL, 0) == -EINVAL &&
           pidkit_proc_wait(NULL, 0, NULL) == -EINVAL && pidkit_proc_query(NULL, NULL) == -EINVAL,
       "NULL handles: -EINVAL everywhere");
    pidkit_proc *self = NULL;
    pidkit_proc_open(0, &self);
    ok(pidkit_proc_signal(self, 65) == -EINVAL && pidkit_proc_signal(self, -1) == -EINVAL, "signal 65 / -1: -EINVAL");
    ok(pidkit_proc_wait(self, -2, NULL) == -EINVAL, "wait timeout -2: -EINVAL");
    pidkit_proc_info small = PIDKIT_PROC_INFO_INIT;
    small.size = 8;
    ok(pidkit_proc_query(self, &small) == -EINVAL, "query with size 8: -EINVAL");
    pidkit_proc_close(self);
}

static void test_zombie(void)
{
    pid_t c = fork();
    if (c == 0)
        _exit(3);
    siginfo_t si;
    waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT);
    pidkit_proc *p = NULL;
    ok(pidkit_proc_open(c, &p) == 0, "a zombie can be opened");
    ok(pidkit_proc_signal(p, 0) == 0 && pidkit_proc_signal(p, SIGTERM) == 0, "signalling a zombie succeeds");
    pidkit_proc_info info = PIDKIT_PROC_INFO_INIT;
    int r = pidkit_proc_query(p, &info);
    ok(r == 0 && info.state == 'Z', "query: state Z (%c)", info.state ? info.state : '?');
    if (have_pidfd) {
        struct pollfd pf = { pidkit_proc_fd(p), POLLIN, 0 };
        ok(poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN), "its pidfd polls readable");
    } else {
        skip("no pidfds", "its pidfd polls readable");
    }
    int st = 0;
    r = pidkit_proc_wait(p, 0, &st);
    ok(r == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3, "wait reaps our zombie child: exit status 3 (%#x)", st);
    ok(waitpid(c, NULL, WNOHANG) == -1 && errno == ECHILD, "... it is reaped (waitpid: ECHILD)");
    ok(pidkit_proc_signal(p, 0) == -ESRCH, "signal after the reap: -ESRCH");
    ok(pidkit_proc_query(p, &info) == -ESRCH, "query after the reap: -ESRCH");
    st = 5;
    ok(pidkit_proc_wait(p, 0, &st) == 0 && st == -1, "wait again: 0, status -1");
    pidkit_proc_close(p);
}

static void test_child_exit_and_signal(void)
{
    pid_t c = fork();
    if (c == 0) {
        msleep(50);
        _exit(42);
    }
    pidkit_proc *p = NULL;
    pidkit_proc_open(c, &p);
    int st = 0;
    int r = pidkit_proc_wait(p, -1, &st);
    ok(r == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 42, "wait for our child: exit code 42 (%d, %#x)", r, st);
    pidkit_proc_close(p);

    c = sleeper();
    pidkit_proc_open(c, &p);
    ok(pidkit_proc_wait(p, 0, &st) == -ETIMEDOUT, "wait(0) of a running child: -ETIMEDOUT at once");
    ok(pidkit_proc_signal(p, SIGTERM) == 0, "signal SIGTERM");
    r = pidkit_proc_wait(p, 10000, &st);
    ok(r == 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "wait: killed by SIGTERM (%d, %#x)", r, st);
    ok(pidkit_proc_signal(p, SIGKILL) == -ESRCH, "signal after the reap: -ESRCH");
    pidkit_proc_close(p);
}

/* A process that is not our child: the child of an intermediate child of
 * ours that waits for it. It ends when `*ctl` (write end) is closed. */
static pid_t non_child(pid_t *middle, int *ctl)
{
    int p[2], c[2];
    if (pipe(p) != 0 || pipe(c) != 0)
        return -1;
    *middle = fork();
    if (*middle == 0) {
        pid_t g = fork();
        if (g == 0) {
            close(c[1]);
            char x;
            while (read(c[0], &x, 1) > 0)
                ;
            _exit(0);
        }
        close(c[0]);
        close(c[1]);
        if (write(p[1], &g, sizeof g) != (ssize_t)sizeof g)
            _exit(1);
        waitpid(g, NULL, 0);
        _exit(0);
    }
    close(c[0]);
    close(p[1]);
    pid_t g = -1;
    if (read(p[0], &g, sizeof g) != (ssize_t)sizeof g)
        g = -1;
    close(p[0]);
    *ctl = c[1];
    return g;
}

static void test_non_child(void)
{
    pid_t middle = -1;
    int ctl = -1;
    pid_t g = non_child(&middle, &ctl);
    pidkit_proc *p = NULL;
    ok(g > 0 && pidkit_proc_open(g, &p) == 0, "open a non-child %d", (int)g);
    long long t0 = now_ms();
    int st = 9;
    int r = pidkit_proc_wait(p, 200, &st);
    long long took = now_ms() - t0;
    ok(r == -ETIMEDOUT && st == 9 && took >= 190, "wait 200 ms: -ETIMEDOUT after %lld ms", took);
    close(ctl); /* the process exits now */
    t0 = now_ms();
    r = pidkit_proc_wait(p, 10000, &st);
    took = now_ms() - t0;
    ok(r == 0 && st == -1, "wait returns 0 with status -1 once it exited (%d, %d)", r, st);
    ok(took < 2000, "... promptly: %lld ms", took);
    waitpid(middle, NULL, 0);
    pidkit_proc_close(p);
}

static void test_few_wakeups(void)
{
    if (!have_pidfd) {
        skip("no pidfds: the fallback looks at /proc every few ms", "a 300 ms wait wakes the caller only a few times");
        return;
    }
    pid_t c = fork();
    if (c == 0) {
        msleep(300);
        _exit(0);
    }
    pidkit_proc *p = NULL;
    pidkit_proc_open(c, &p);
    long before = voluntary_switches();
    int st;
    int r = pidkit_proc_wait(p, -1, &st);
    long after = voluntary_switches();
    ok(r == 0 && before >= 0 && after - before <= 5,
       "a 300 ms wait wakes the caller only a few times: %ld voluntary switches", after - before);
    pidkit_proc_close(p);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void test_signal_handler_during_wait(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 50000 }, { 0, 50000 } };
    alarms = 0;
    pid_t c = fork();
    if (c == 0) {
        msleep(400);
        _exit(4);
    }
    pidkit_proc *p = NULL;
    pidkit_proc_open(c, &p);
    setitimer(ITIMER_REAL, &it, NULL);
    int st = 0;
    int r = pidkit_proc_wait(p, -1, &st);
    ok(r == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 4 && alarms >= 2,
       "a signal handler running during the wait does not end it (%d handler runs, r %d)", (int)alarms, r);
    pidkit_proc_close(p);

    c = sleeper();
    pidkit_proc_open(c, &p);
    long long t0 = now_ms();
    r = pidkit_proc_wait(p, 300, &st);
    long long took = now_ms() - t0;
    ok(r == -ETIMEDOUT && took >= 290, "... nor shortens a timeout: -ETIMEDOUT after %lld ms", took);
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_DFL);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    pidkit_proc_close(p);
}

static void test_fd_and_close(void)
{
    pid_t c = sleeper();
    pidkit_proc *p = NULL;
    pidkit_proc_open(c, &p);
    if (have_pidfd) {
        int fd = pidkit_proc_fd(p);
        struct pollfd pf = { fd, POLLIN, 0 };
        ok(poll(&pf, 1, 0) == 0, "the pidfd of a running process is not readable");
        pidkit_proc_close(p);
        ok(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "close closes the pidfd");
    } else {
        skip("no pidfds", "pollable fd");
        skip("no pidfds", "close closes the pidfd");
        pidkit_proc_close(p);
    }
    msleep(20);
    ok(kill(c, 0) == 0 && proc_state(c) != 'Z', "close did not signal the process");
    kill(c, SIGTERM);
    int st = 0;
    ok(waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "... which we still reap ourselves");

    /* A zombie stays ours to reap after close. */
    c = fork();
    if (c == 0)
        _exit(6);
    siginfo_t si;
    waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT);
    pidkit_proc_open(c, &p);
    pidkit_proc_close(p);
    ok(waitpid(c, &st, WNOHANG) == c && WEXITSTATUS(st) == 6, "close did not reap a zombie");
}

static void test_query_vs_info_get(void)
{
    pid_t c = sleeper();
    pidkit_proc *p = NULL;
    pidkit_proc_open(c, &p);
    pidkit_proc_info a = PIDKIT_PROC_INFO_INIT, b = PIDKIT_PROC_INFO_INIT;
    int r1 = pidkit_proc_query(p, &a), r2 = pidkit_proc_info_get(c, &b);
    ok(r1 == 0 && r2 == 0 && a.pid == b.pid && a.ppid == b.ppid && a.pgid == b.pgid && a.sid == b.sid &&
           a.start_time == b.start_time && a.uid == b.uid && strcmp(a.comm, b.comm) == 0 && a.ppid == getpid(),
       "query agrees with pidkit_proc_info_get (pid %d start %llu comm %s)", (int)a.pid,
       (unsigned long long)a.start_time, a.comm);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    ok(pidkit_proc_query(p, &a) == -ESRCH, "query after someone else reaped it: -ESRCH");
    ok(pidkit_proc_signal(p, 0) == -ESRCH, "signal after someone else reaped it: -ESRCH");
    pidkit_proc_close(p);

    if (have_pidfd) {
        c = sleeper();
        int fd = (int)syscall(SYS_pidfd_open, c, 0);
        ok(fd >= 0 && pidkit_proc_open_pidfd(fd, &p) == 0 && pidkit_proc_pid(p) == c,
           "open_pidfd: a handle on the pidfd's process %d", (int)c);
        ok(pidkit_proc_fd(p) != fd && fcntl(fd, F_GETFD) >= 0, "... with its own duplicate");
        pidkit_proc_close(p);
        ok(fcntl(fd, F_GETFD) >= 0, "... the caller's descriptor stays open after close");
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        ok(pidkit_proc_open_pidfd(fd, &p) == -ESRCH, "open_pidfd of a reaped process: -ESRCH");
        close(fd);
    } else {
        skip("no pidfds", "open_pidfd");
        skip("no pidfds", "open_pidfd duplicate");
        skip("no pidfds", "open_pidfd caller's descriptor");
        skip("no pidfds", "open_pidfd reaped");
    }
}

/* As root, in a new pid namespace (so that ns_last_pid is ours alone): a
 * child exits and is reaped, the next fork is given its pid again, and the
 * old handle never signals, queries or reaps the new process. */
enum { REUSE_SKIP = 100 };

static int reuse_inner(int out)
{
    /* pid 1 of the new namespace, in a new mount namespace: our own /proc. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        return REUSE_SKIP;
    int res[8] = { 0 };
    pid_t a = fork();
    if (a == 0)
        _exit(0);
    pidkit_proc *p = NULL;
    if (pidkit_proc_open(a, &p) != 0)
        return 2;
    waitpid(a, NULL, 0); /* reaped behind the handle's back */
    if (pidkit_proc_fd(p) < 0)
        msleep(30); /* without pidfds the start time must differ: another clock tick */
    char buf[32];
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
    int len = snprintf(buf, sizeof buf, "%d", (int)a - 1);
    if (fd < 0 || write(fd, buf, (size_t)len) != len)
        return REUSE_SKIP;
    close(fd);
    int hold[2];
    if (pipe(hold) != 0)
        return 3;
    pid_t b = fork();
    if (b == 0) {
        close(hold[1]);
        char x;
        while (read(hold[0], &x, 1) > 0)
            ;
        _exit(9);
    }
    close(hold[0]);
    res[0] = b == a;
    res[1] = pidkit_proc_signal(p, SIGKILL) == -ESRCH;
    pidkit_proc_info info = PIDKIT_PROC_INFO_INIT;
    res[2] = pidkit_proc_query(p, &info) == -ESRCH;
    int st = 0;
    int r = pidkit_proc_wait(p, 0, &st);
    res[3] = r == 0 && st == -1;
    res[4] = kill(b, 0) == 0 && waitpid(b, NULL, WNOHANG) == 0; /* alive, unreaped */
    close(hold[1]);
    res[5] = waitpid(b, &st, 0) == b && WIFEXITED(st) && WEXITSTATUS(st) == 9;
    /* A handle on the new process works. */
    pidkit_proc_close(p);
    if (write(out, res, sizeof res) != (ssize_t)sizeof res)
        return 4;
    return 0;
}

static void test_pid_reuse(void)
{
    const char *name[] = { "the next fork got the reaped pid again", "the old handle does not signal the new process",
                           "the old handle does not query it", "the old handle's wait does not reap it (0, status -1)",
                           "the new process is alive and unreaped", "it exits with its own status" };
    if (geteuid() != 0) {
        for (int i = 0; i < 6; i++)
            skip("not root (needs a pid namespace and ns_last_pid)", "pid reuse: %s", name[i]);
        return;
    }
    int p[2];
    if (pipe(p) != 0)
        return;
    pid_t outer = fork();
    if (outer == 0) {
        close(p[0]);
        if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0)
            _exit(REUSE_SKIP);
        pid_t init = fork();
        if (init == 0)
            _exit(reuse_inner(p[1]));
        int st = 0;
        waitpid(init, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 5);
    }
    close(p[1]);
    int res[8] = { 0 };
    ssize_t n = read(p[0], res, sizeof res);
    close(p[0]);
    int st = 0;
    waitpid(outer, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == REUSE_SKIP) {
        for (int i = 0; i < 6; i++)
            skip("cannot make a pid namespace with its own /proc here", "pid reuse: %s", name[i]);
        return;
    }
    ok(n == (ssize_t)sizeof res && WIFEXITED(st) && WEXITSTATUS(st) == 0, "pid reuse test ran (exit %#x)", st);
    for (int i = 0; i < 6; i++)
        ok(res[i], "pid reuse: %s", name[i]);
}

/* ---------------------------------------------------------------- listing */

static void test_list_own_session(void)
{
    if (getsid(0) == 0) {
        /* In a pid namespace whose /proc cannot see our session leader. */
        pidkit_proc_filter z = filter_of(PIDKIT_PROC_MATCH_SID, 0);
        ok(pidkit_proc_list(&z, NULL, sizeof(pidkit_proc_info), 0) == -EINVAL,
           "getsid(0) is 0 here (leader outside the pid namespace): SID 0 is -EINVAL, never \"mine\"");
        skip("session leader outside this pid namespace", "own row");
        skip("session leader outside this pid namespace", "count only");
        return;
    }
    pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, getsid(0));
    pidkit_proc_info rows[256];
    int n = pidkit_proc_list(&f, rows, sizeof rows[0], 256);
    int me = 0, same = 1, sorted = 1;
    for (int i = 0; i < n && i < 256; i++) {
        me |= rows[i].pid == getpid();
        same &= rows[i].sid == getsid(0) && rows[i].size == sizeof rows[0];
        if (i)
            sorted &= rows[i].pid > rows[i - 1].pid;
    }
    ok(n >= 1 && me && same && sorted, "own session: %d rows, ascending, all of sid %d, self among them", n,
       (int)getsid(0));
    pidkit_proc_info *self = NULL;
    for (int i = 0; i < n && i < 256; i++)
        if (rows[i].pid == getpid())
            self = &rows[i];
    char comm[64] = "";
    read_file("/proc/self/comm", comm, sizeof comm);
    comm[strcspn(comm, "\n")] = 0; /* "test_procs", or valgrind's name under valgrind */
    ok(self && self->ppid == getppid() && self->pgid == getpgid(0) && self->uid == getuid() &&
           self->state == 'R' && strcmp(self->comm, comm) == 0,
       "own row: ppid, pgid, uid, state R, comm \"%s\"", self ? self->comm : "?");
    ok(pidkit_proc_list(&f, NULL, sizeof rows[0], 0) >= 1, "rows NULL with max_rows 0 counts");

    /* PIDKIT_PROC_NO_UID: the same rows without the uid (UINT32_MAX), and
     * no read of status (strace would show it; here: the rows agree). */
    pidkit_proc_filter nf = filter_of(PIDKIT_PROC_MATCH_SID | PIDKIT_PROC_NO_UID, getsid(0));
    pidkit_proc_info nrows[256];
    int nn = pidkit_proc_list(&nf, nrows, sizeof nrows[0], 256);
    int nouid = nn >= 1, nme = 0;
    for (int i = 0; i < nn && i < 256; i++) {
        nouid &= nrows[i].uid == UINT32_MAX && nrows[i].sid == getsid(0);
        if (nrows[i].pid == getpid())
            nme = nrows[i].ppid == getppid() && strcmp(nrows[i].comm, comm) == 0;
    }
    ok(nouid && nme, "PIDKIT_PROC_NO_UID: %d rows of the session, uid UINT32_MAX (not read), own row otherwise "
       "the same", nn);
    pidkit_proc_filter uf = filter_of(PIDKIT_PROC_MATCH_UID | PIDKIT_PROC_NO_UID, 0);
    uf.uid = getuid();
    pidkit_proc_info urow[1];
    int un = pidkit_proc_list(&uf, urow, sizeof urow[0], 1);
    ok(un >= 1 && urow[0].uid == getuid(), "... with PIDKIT_PROC_MATCH_UID the uid is read and shown (%d)", un);
    pidkit_proc_filter only = filter_of(PIDKIT_PROC_NO_UID, 0);
    ok(pidkit_proc_kill(&only, 0, NULL, NULL) == -EINVAL, "... alone it is no criterion for pidkit_proc_kill (-EINVAL)");
}

static void test_list_filters(void)
{
    struct tree t;
    int made = make_tree(&t);
    if (!ok(made, "a session of three groups and a grandchild: L %d A %d Ag %d B %d Bc %d C %d", (int)t.l,
            (int)t.a, (int)t.ag, (int)t.b, (int)t.bc, (int)t.c)) {
        kill_tree(&t);
        return;
    }
    char got[512], want[512];
    struct {
        uint32_t flags;
        pid_t sid, pgid, ppid, anc;
        uint32_t uid;
        pid_t members[6];
        const char *what;
    } cases[] = {
        { PIDKIT_PROC_MATCH_SID, t.l, 0, 0, 0, 0, { t.l, t.a, t.ag, t.b, t.bc, t.c }, "SID L: all six" },
        { PIDKIT_PROC_MATCH_PGID, 0, t.b, 0, 0, 0, { t.b, t.bc }, "PGID B: B, Bc" },
        { PIDKIT_PROC_MATCH_PGID, 0, t.l, 0, 0, 0, { t.l, t.a, t.ag }, "PGID L: L, A, Ag" },
        { PIDKIT_PROC_MATCH_PPID, 0, 0, t.l, 0, 0, { t.a, t.b, t.c }, "PPID L: A, B, C" },
        { PIDKIT_PROC_MATCH_DESCENDANTS, 0, 0, 0, t.l, 0, { t.a, t.ag, t.b, t.bc, t.c }, "DESCENDANTS L: five" },
        { PIDKIT_PROC_MATCH_DESCENDANTS, 0, 0, 0, t.a, 0, { t.ag }, "DESCENDANTS A: Ag" },
        { PIDKIT_PROC_MATCH_DESCENDANTS, 0, 0, 0, getpid(), 0, { t.l, t.a, t.ag, t.b, t.bc, t.c },
          "DESCENDANTS of the caller: all six" },
        { PIDKIT_PROC_MATCH_SID | PIDKIT_PROC_MATCH_PGID, t.l, t.c, 0, 0, 0, { t.c }, "SID L + PGID C: C" },
        { PIDKIT_PROC_MATCH_PPID | PIDKIT_PROC_MATCH_PGID, 0, t.b, t.l, 0, 0, { t.b }, "PPID L + PGID B: B" },
        { PIDKIT_PROC_MATCH_DESCENDANTS | PIDKIT_PROC_MATCH_PGID, 0, t.l, 0, t.l, 0, { t.a, t.ag },
          "DESCENDANTS L + PGID L: A, Ag" },
        { PIDKIT_PROC_MATCH_SID | PIDKIT_PROC_MATCH_UID, t.l, 0, 0, 0, getuid(), { t.l, t.a, t.ag, t.b, t.bc, t.c },
          "SID L + UID mine: all six" },
        { PIDKIT_PROC_MATCH_SID | PIDKIT_PROC_MATCH_UID, t.l, 0, 0, 0, getuid() + 4242, { 0 },
          "SID L + another UID: none" },
        { PIDKIT_PROC_MATCH_SID | PIDKIT_PROC_MATCH_PPID | PIDKIT_PROC_MATCH_PGID | PIDKIT_PROC_MATCH_DESCENDANTS |
              PIDKIT_PROC_MATCH_UID,
          t.l, t.b, t.b, t.l, getuid(), { t.bc }, "all five flags: Bc" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pidkit_proc_filter f = PIDKIT_PROC_FILTER_INIT;
        f.flags = cases[i].flags;
        f.sid = cases[i].sid;
        f.pgid = cases[i].pgid;
        f.ppid = cases[i].ppid;
        f.ancestor = cases[i].anc;
        f.uid = cases[i].uid;
        int n = list_pids(&f, got, sizeof got);
        pid_t m[6];
        int k = 0;
        for (int j = 0; j < 6; j++)
            if (cases[i].members[j] > 0)
                m[k++] = cases[i].members[j];
        pids_str(m, k, want, sizeof want);
        ok(n == k && strcmp(got, want) == 0, "filter %s: [%s] (want [%s])", cases[i].what, got, want);
    }

    /* Truncation: nothing past max_rows is written. */
    pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, t.l);
    pidkit_proc_info rows[6];
    memset(rows, 0xAB, sizeof rows);
    int n = pidkit_proc_list(&f, rows, sizeof rows[0], 2);
    unsigned char *tail = (unsigned char *)&rows[2];
    int untouched = 1;
    for (size_t i = 0; i < sizeof rows - 2 * sizeof rows[0]; i++)
        untouched &= tail[i] == 0xAB;
    ok(n == 6 && rows[0].pid == t.l && rows[1].pid > t.l && untouched,
       "max_rows 2 of 6: returns 6, writes 2, nothing past them");
    ok(pidkit_proc_list(&f, NULL, sizeof rows[0], 0) == 6, "count only: 6");

    /* Strides smaller and larger than the struct. */
    size_t min = offsetof(pidkit_proc_info, sid) + sizeof(pid_t);
    unsigned char small[6 * 24];
    memset(small, 0xCD, sizeof small);
    n = pidkit_proc_list(&f, (pidkit_proc_info *)small, min, 6);
    int good = n == 6;
    for (int i = 0; i < 6 && good; i++) {
        uint32_t size;
        pid_t pid, sid;
        memcpy(&size, small + (size_t)i * min, 4);
        memcpy(&pid, small + (size_t)i * min + offsetof(pidkit_proc_info, pid), sizeof pid);
        memcpy(&sid, small + (size_t)i * min + offsetof(pidkit_proc_info, sid), sizeof sid);
        good = size == min && pid > 0 && sid == t.l;
    }
    for (size_t i = 6 * min; i < sizeof small; i++)
        good &= small[i] == 0xCD;
    ok(good, "row_size %zu (pid..sid only): 6 rows of size %zu, nothing past them", min, min);
    size_t big = sizeof(pidkit_proc_info) + 20;
    unsigned char *large = malloc(6 * big);
    memset(large, 0xEF, 6 * big);
    n = pidkit_proc_list(&f, (pidkit_proc_info *)large, big, 6);
    good = n == 6;
    for (int i = 0; i < 6 && good; i++) {
        pidkit_proc_info row;
        memcpy(&row, large + (size_t)i * big, sizeof row);
        good = row.size == sizeof(pidkit_proc_info) && row.sid == t.l && row.comm[0] != 0;
        for (size_t j = sizeof row; j < big; j++)
            good &= large[(size_t)i * big + j] == 0xEF;
    }
    free(large);
    ok(good, "row_size sizeof+20: each row's size is sizeof (%zu), the 20 extra bytes untouched",
       sizeof(pidkit_proc_info));
    ok(pidkit_proc_list(&f, rows, min - 1, 6) == -EINVAL, "row_size too small for pid..sid: -EINVAL");
    ok(pidkit_proc_list(&f, NULL, sizeof rows[0], 3) == -EINVAL, "rows NULL with max_rows 3: -EINVAL");
    pidkit_proc_filter bad = filter_of(PIDKIT_PROC_MATCH_PGID, 0);
    ok(pidkit_proc_list(&bad, rows, sizeof rows[0], 6) == -EINVAL, "PGID 0: -EINVAL (ids are explicit)");
    ok(strstr(pidkit_last_error(), "pgid 0") != NULL, "... message names the filter: \"%s\"", pidkit_last_error());
    bad = filter_of(PIDKIT_PROC_MATCH_SID, t.l);
    bad.flags |= 1u << 20;
    ok(pidkit_proc_list(&bad, rows, sizeof rows[0], 6) == -EINVAL, "unknown filter flag: -EINVAL");
    bad = filter_of(PIDKIT_PROC_MATCH_SID, t.l);
    bad.size = 5000;
    ok(pidkit_proc_list(&bad, rows, sizeof rows[0], 6) == -E2BIG, "filter size 5000: -E2BIG");
    kill_tree(&t);
}

static void test_list_uid_nobody(void)
{
    if (geteuid() != 0) {
        skip("not root", "uid filter finds a process running as nobody");
        return;
    }
    int p[2];
    if (pipe(p) != 0)
        return;
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(1);
        close(p[1]);
        sleep_forever();
    }
    close(p[1]);
    char x;
    while (read(p[0], &x, 1) > 0)
        ;
    close(p[0]);
    pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_PPID, getpid());
    f.flags |= PIDKIT_PROC_MATCH_UID;
    f.uid = 65534;
    pidkit_proc_info rows[4];
    int n = pidkit_proc_list(&f, rows, sizeof rows[0], 4);
    ok(n == 1 && rows[0].pid == c && rows[0].uid == 65534, "PPID me + UID nobody: the one child (%d rows)", n);
    f.uid = 0;
    n = pidkit_proc_list(&f, rows, sizeof rows[0], 4);
    int has = 0;
    for (int i = 0; i < n && i < 4; i++)
        has |= rows[i].pid == c;
    ok(n >= 0 && !has, "PPID me + UID 0: not that child");
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
}

static void test_list_everything(void)
{
    int before = raw_count_all();
    int n = pidkit_proc_list(NULL, NULL, sizeof(pidkit_proc_info), 0);
    int after = raw_count_all();
    int lo = before < after ? before : after, hi = before < after ? after : before;
    ok(n >= lo - 20 && n <= hi + 20, "every process: %d, /proc lists %d..%d", n, before, after);
    pidkit_proc_info *rows = calloc((size_t)n + 512, sizeof *rows);
    int m = pidkit_proc_list(NULL, rows, sizeof *rows, (size_t)n + 512);
    int pid1 = 0, kthread = 0, sorted = 1;
    struct raw_stat two;
    int have_kthreads = raw_stat(2, &two) && (two.flags & 0x00200000);
    for (int i = 0; i < m && i < n + 512; i++) {
        pid1 |= rows[i].pid == 1;
        kthread |= rows[i].pid == 2;
        if (i)
            sorted &= rows[i].pid > rows[i - 1].pid;
    }
    ok(m > 0 && pid1 && sorted, "pid 1 listed, ascending order (%d rows)", m);
    if (have_kthreads)
        ok(kthread, "kernel threads are listed (kthreadd, pid 2)");
    else
        skip("no kernel threads visible (pid namespace)", "kernel threads are listed");
    free(rows);
}

static volatile int forking;

static void *fork_and_reap(void *arg)
{
    (void)arg;
    while (forking) {
        pid_t c = fork();
        if (c == 0)
            _exit(0);
        if (c > 0)
            waitpid(c, NULL, 0);
    }
    return NULL;
}

static void test_list_while_forking(void)
{
    pthread_t th[2];
    forking = 1;
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, fork_and_reap, NULL);
    int rounds = quick ? 5 : 40, bad = 0, failed = 0;
    pidkit_proc_info *rows = calloc(8192, sizeof *rows);
    for (int r = 0; r < rounds; r++) {
        int n = pidkit_proc_list(NULL, rows, sizeof *rows, 8192);
        if (n < 0) {
            failed++;
            continue;
        }
        for (int i = 0; i < n && i < 8192; i++) {
            if (rows[i].pid <= 0 || rows[i].comm[0] == 0 || rows[i].start_time == 0 ||
                (i && rows[i].pid <= rows[i - 1].pid))
                bad++;
        }
    }
    forking = 0;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    free(rows);
    ok(failed == 0 && bad == 0, "%d listings while two threads fork and reap: no failure (%d), no bad row (%d)", rounds,
       failed, bad);
}

/* ---------------------------------------------------------------- kill */

static void test_kill_session_groups(void)
{
    struct tree t;
    if (!make_tree(&t)) {
        kill_tree(&t);
        return;
    }
    /* What `kill -9 -SID` does: only the group whose id is the sid. */
    kill(-t.l, SIGKILL);
    waitpid(t.l, NULL, 0);
    wait_gone(t.a, 5000);
    wait_gone(t.ag, 5000);
    msleep(50);
    int left = raw_live(0, t.l);
    ok(left == 3 && !gone(t.b) && !gone(t.bc) && !gone(t.c),
       "kill(-sid, SIGKILL) leaves the session's two other groups: %d alive", left);
    pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, t.l);
    pidkit_kill_opts o = PIDKIT_KILL_OPTS_INIT;
    o.flags = PIDKIT_KILL_WAIT;
    o.timeout_ms = 10000;
    pidkit_kill_result res = PIDKIT_KILL_RESULT_INIT;
    int r = pidkit_proc_kill(&f, SIGKILL, &o, &res);
    left = raw_live(0, t.l);
    ok(r >= 3 && res.signalled == (uint32_t)r && res.alive == 0 && left == 0,
       "pidkit_proc_kill(SID) reaches them all: %d signalled, %d left", r, left);
    kill_tree(&t);

    /* A whole fresh session, SIGTERM with WAIT. */
    if (!make_tree(&t)) {
        kill_tree(&t);
        return;
    }
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    f.sid = t.l;
    r = pidkit_proc_kill(&f, SIGTERM, &o, &res);
    int st = 0;
    pid_t w = waitpid(t.l, &st, WNOHANG);
    ok(r == 6 && res.alive == 0 && raw_live(0, t.l) == 0, "SIGTERM + WAIT to a 6-member session: %d signalled", r);
    ok(w == t.l && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
       "pidkit never reaps: our child, the leader, was left for us to reap (%d, %#x)", (int)w, st);
    t.l = 0;
    kill_tree(&t);
}

static void test_kill_excludes_caller(void)
{
    int p[2];
    if (pipe(p) != 0)
        return;
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        setsid();
        pid_t kids[2];
        for (int i = 0; i < 2; i++)
            if ((kids[i] = fork()) == 0)
                sleep_forever();
        pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, getpid());
        int res[3];
        res[0] = pidkit_proc_kill(&f, SIGKILL, NULL, NULL);
        int st;
        res[1] = waitpid(kids[0], &st, 0) == kids[0] && WIFSIGNALED(st);
        res[2] = waitpid(kids[1], &st, 0) == kids[1] && WIFSIGNALED(st);
        if (write(p[1], res, sizeof res) != (ssize_t)sizeof res)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    int res[3] = { -1, 0, 0 };
    ssize_t n = read(p[0], res, sizeof res);
    close(p[0]);
    int st = 0;
    waitpid(c, &st, 0);
    ok(n == (ssize_t)sizeof res && res[0] == 2 && res[1] && res[2] && WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "a session leader killing its own session: 2 signalled, the caller survives (r %d, exit %#x)", res[0], st);

    /* Kernel threads never match (signal 0: nothing is sent anyway). */
    struct raw_stat two;
    char comm[64] = "";
    read_file("/proc/2/comm", comm, sizeof comm);
    if (raw_stat(2, &two) && (two.flags & 0x00200000) && strncmp(comm, "kthreadd", 8) == 0) {
        pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_PPID, 2);
        int listed = pidkit_proc_list(&f, NULL, sizeof(pidkit_proc_info), 0);
        int r = pidkit_proc_kill(&f, 0, NULL, NULL);
        ok(listed > 0 && r == 0, "kernel threads never count: %d children of kthreadd listed, 0 signalled (%d)",
           listed, r);
    } else {
        skip("no kthreadd visible", "kernel threads never count as matches");
    }
}

static void test_kill_descendants(void)
{
    struct tree t;
    if (!make_tree(&t)) {
        kill_tree(&t);
        return;
    }
    pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_DESCENDANTS, t.b);
    pidkit_kill_opts o = PIDKIT_KILL_OPTS_INIT;
    o.flags = PIDKIT_KILL_WAIT;
    o.timeout_ms = 10000;
    int r = pidkit_proc_kill(&f, SIGKILL, &o, NULL);
    ok(r == 1 && gone(t.bc) && !gone(t.b) && !gone(t.a), "DESCENDANTS of B: only Bc (%d), B itself lives", r);
    f.ancestor = t.l;
    r = pidkit_proc_kill(&f, SIGKILL, &o, NULL);
    ok(r == 4 && gone(t.a) && gone(t.ag) && gone(t.b) && gone(t.c) && !gone(t.l),
       "DESCENDANTS of L: A, Ag, B, C (%d; Bc, a zombie now, has exited), L itself lives", r);
    kill_tree(&t);
}

/* A session whose member forks and exits in a loop: each link lives for
 * one fork. */
static pid_t make_chain(void)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t l = fork();
    if (l == 0) {
        close(p[0]);
        setsid();
        if (fork() == 0) {
            close(p[1]);
            for (;;) {
                pid_t c = fork();
                if (c > 0)
                    _exit(0);
                if (c < 0)
                    msleep(1);
            }
        }
        char x = 1;
        if (write(p[1], &x, 1) != 1)
            _exit(1);
        sleep_forever();
    }
    close(p[1]);
    char x;
    ssize_t r = read(p[0], &x, 1);
    close(p[0]);
    msleep(20);
    return r == 1 ? l : -1;
}

static void test_kill_forking_chain(void)
{
    int rounds = quick ? 1 : 3, survived = 0, incomplete = 0;
    for (int i = 0; i < rounds; i++) {
        pid_t l = make_chain();
        if (l < 0)
            continue;
        pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, l);
        pidkit_kill_opts o = PIDKIT_KILL_OPTS_INIT;
        o.flags = PIDKIT_KILL_WAIT;
        o.timeout_ms = 10000;
        pidkit_kill_result res = PIDKIT_KILL_RESULT_INIT;
        int r = pidkit_proc_kill(&f, SIGKILL, &o, &res);
        msleep(30);
        int left = raw_live(0, l);
        if (left > 0 || r < 0) {
            diag("round %d: r %d, %d left, %u scans incomplete, %u signalled", i, r, left, res.incomplete,
                 res.signalled);
            survived++;
        }
        incomplete += res.incomplete;
        kill_session(l);
    }
    ok(survived == 0 && incomplete == 0, "a chain of short-lived forks does not survive a SIGKILL of its session (%d rounds)",
       rounds);
}

static void test_kill_timeout_escalation(void)
{
    int p[2];
    if (pipe(p) != 0)
        return;
    pid_t l = fork();
    if (l == 0) {
        close(p[0]);
        setsid();
        if (fork() == 0) {
            close(p[1]);
            sleep_forever();
        }
        signal(SIGTERM, SIG_IGN); /* the leader shrugs SIGTERM off */
        char x = 1;
        if (write(p[1], &x, 1) != 1)
            _exit(1);
        sleep_forever();
    }
    close(p[1]);
    char x;
    if (read(p[0], &x, 1) != 1) {
        close(p[0]);
        kill_session(l);
        return;
    }
    close(p[0]);
    pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, l);
    pidkit_kill_opts o = PIDKIT_KILL_OPTS_INIT;
    o.flags = PIDKIT_KILL_WAIT;
    o.timeout_ms = 300;
    pidkit_kill_result res = PIDKIT_KILL_RESULT_INIT;
    long long t0 = now_ms();
    int r = pidkit_proc_kill(&f, SIGTERM, &o, &res);
    long long took = now_ms() - t0;
    ok(r == -ETIMEDOUT && res.signalled == 2 && res.alive == 1 && took >= 290,
       "SIGTERM ignored by one of two: -ETIMEDOUT after %lld ms, alive %u", took, res.alive);
    ok(strstr(pidkit_last_error(), "still alive") != NULL, "... message: \"%s\"", pidkit_last_error());
    o.escalate_sig = SIGKILL;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    r = pidkit_proc_kill(&f, SIGTERM, &o, &res);
    ok(r == 1 && res.escalated == 1 && res.alive == 0 && gone(l),
       "with escalate_sig SIGKILL: the survivor (the other one is a zombie now) is killed (r %d, escalated %u, alive %u)", r, res.escalated,
       res.alive);
    kill_session(l);
}

/* The leader shrugs SIGTERM off and forks a child (that inherits it) every
 * 20 ms: the children forked during the first wait are unknown when the
 * timeout expires; the escalation's rescan must reach them too, or they
 * would outlive a SIGKILL of their session. */
static void test_kill_forks_during_escalation(void)
{
    int p[2];
    if (pipe(p) != 0)
        return;
    pid_t l = fork();
    if (l == 0) {
        close(p[0]);
        setsid();
        signal(SIGTERM, SIG_IGN);
        char x = 1;
        if (write(p[1], &x, 1) != 1)
            _exit(1);
        close(p[1]);
        for (int i = 0; i < 500; i++) {
            if (fork() == 0)
                sleep_forever();
            msleep(20);
        }
        sleep_forever();
    }
    close(p[1]);
    char x;
    if (read(p[0], &x, 1) != 1) {
        close(p[0]);
        kill_session(l);
        return;
    }
    close(p[0]);
    msleep(50);
    pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, l);
    pidkit_kill_opts o = PIDKIT_KILL_OPTS_INIT;
    o.flags = PIDKIT_KILL_WAIT;
    o.timeout_ms = 200;
    o.escalate_sig = SIGKILL;
    pidkit_kill_result res = PIDKIT_KILL_RESULT_INIT;
    int r = pidkit_proc_kill(&f, SIGTERM, &o, &res);
    int left = raw_live(0, l);
    ok(r >= 1 && res.alive == 0 && left == 0,
       "members forked during the wait get the escalation too: none left alive (r %d, signalled %u, escalated %u, alive %u, live in /proc %d)",
       r, res.signalled, res.escalated, res.alive, left);
    ok(res.escalated > res.signalled,
       "... the ones met after the timeout count as escalated (signalled %u, escalated %u)", res.signalled,
       res.escalated);
    kill_session(l);
    /* The orphans are reparented to init, or to us as a subreaper. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void test_kill_many_few_fds(void)
{
    pid_t l = make_session(150);
    if (l < 0) {
        ok(0, "made a session of 150");
        return;
    }
    int p[2];
    if (pipe(p) != 0)
        return;
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = 48;
        setrlimit(RLIMIT_NOFILE, &rl);
        pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, l);
        pidkit_kill_opts o = PIDKIT_KILL_OPTS_INIT;
        o.flags = PIDKIT_KILL_WAIT;
        o.timeout_ms = 20000;
        pidkit_kill_result res = PIDKIT_KILL_RESULT_INIT;
        int out[3];
        out[0] = pidkit_proc_kill(&f, SIGTERM, &o, &res);
        out[1] = (int)res.alive;
        out[2] = raw_live(0, l);
        if (write(p[1], out, sizeof out) != (ssize_t)sizeof out)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    int out[3] = { 0, -1, -1 };
    ssize_t n = read(p[0], out, sizeof out);
    close(p[0]);
    waitpid(c, NULL, 0);
    ok(n == (ssize_t)sizeof out && out[0] == 150 && out[1] == 0 && out[2] == 0,
       "150 members under RLIMIT_NOFILE 48: %d signalled, alive %d, %d left", out[0], out[1], out[2]);
    kill_session(l);
}

static void test_kill_eperm_as_nobody(void)
{
    if (geteuid() != 0) {
        skip("not root", "-EPERM as nobody against root's session");
        return;
    }
    pid_t l = make_session(3);
    int p[2];
    if (l < 0 || pipe(p) != 0)
        return;
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(1);
        pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, l);
        pidkit_kill_result res = PIDKIT_KILL_RESULT_INIT;
        res.refused = 77;
        int out[2];
        out[0] = pidkit_proc_kill(&f, SIGKILL, NULL, &res);
        out[1] = (int)res.refused;
        if (write(p[1], out, sizeof out) != (ssize_t)sizeof out)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    int out[2] = { 0, 0 };
    ssize_t n = read(p[0], out, sizeof out);
    close(p[0]);
    waitpid(c, NULL, 0);
    ok(n == (ssize_t)sizeof out && out[0] == -EPERM && out[1] == 77 && raw_live(0, l) == 3,
       "nobody against root's session: -EPERM (%d), result untouched, all 3 alive", out[0]);
    kill_session(l);
}

static void test_kill_bad_input(void)
{
    pid_t l = make_session(2);
    pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, l);
    ok(pidkit_proc_kill(NULL, SIGKILL, NULL, NULL) == -EINVAL, "NULL filter: -EINVAL");
    pidkit_proc_filter none = PIDKIT_PROC_FILTER_INIT;
    ok(pidkit_proc_kill(&none, SIGKILL, NULL, NULL) == -EINVAL, "filter without a flag: -EINVAL");
    ok(strstr(pidkit_last_error(), "every process") != NULL, "... message: \"%s\"", pidkit_last_error());
    pidkit_proc_filter zero = filter_of(PIDKIT_PROC_MATCH_SID, 0);
    ok(pidkit_proc_kill(&zero, SIGKILL, NULL, NULL) == -EINVAL, "SID 0: -EINVAL");
    zero = filter_of(PIDKIT_PROC_MATCH_DESCENDANTS, -5);
    ok(pidkit_proc_kill(&zero, SIGKILL, NULL, NULL) == -EINVAL, "ancestor -5: -EINVAL");
    ok(pidkit_proc_kill(&f, 65, NULL, NULL) == -EINVAL, "signal 65: -EINVAL");
    pidkit_kill_opts o = PIDKIT_KILL_OPTS_INIT;
    o.escalate_sig = SIGKILL;
    ok(pidkit_proc_kill(&f, SIGTERM, &o, NULL) == -EINVAL, "escalate_sig without WAIT: -EINVAL");
    o.flags = PIDKIT_KILL_WAIT;
    o.timeout_ms = -1;
    ok(pidkit_proc_kill(&f, SIGTERM, &o, NULL) == -EINVAL, "escalate_sig with timeout -1: -EINVAL");
    o = (pidkit_kill_opts)PIDKIT_KILL_OPTS_INIT;
    o.flags = 1u << 9;
    ok(pidkit_proc_kill(&f, SIGTERM, &o, NULL) == -EINVAL, "unknown kill flag: -EINVAL");
    o = (pidkit_kill_opts)PIDKIT_KILL_OPTS_INIT;
    o.size = 4;
    ok(pidkit_proc_kill(&f, SIGTERM, &o, NULL) == -EINVAL, "opts size 4: -EINVAL");
    struct {
        pidkit_kill_opts o;
        uint32_t extra;
    } newer = { PIDKIT_KILL_OPTS_INIT, 1 };
    newer.o.size = sizeof newer;
    ok(pidkit_proc_kill(&f, SIGTERM, &newer.o, NULL) == -E2BIG, "a newer opts with unknown bytes set: -E2BIG");
    pidkit_kill_result res = PIDKIT_KILL_RESULT_INIT;
    res.size = 4;
    ok(pidkit_proc_kill(&f, SIGTERM, NULL, &res) == -EINVAL, "result size 4: -EINVAL");
    ok(raw_live(0, l) == 2, "no bad call signalled anything (2 alive)");
    newer.extra = 0;
    struct {
        pidkit_kill_result r;
        uint32_t extra;
    } bigres = { PIDKIT_KILL_RESULT_INIT, 0xabcd };
    bigres.r.size = sizeof bigres;
    int r = pidkit_proc_kill(&f, SIGKILL, &newer.o, &bigres.r);
    ok(r == 2 && bigres.r.signalled == 2 && bigres.extra == 0xabcd && bigres.r.size == sizeof bigres,
       "a newer opts and result (zero tail): works, bytes past the known ones untouched (%d)", r);
    kill_session(l);
}

static void test_exdev(void)
{
    if (geteuid() != 0) {
        skip("not root", "/proc of another pid namespace: -EXDEV");
        return;
    }
    pid_t outer = fork();
    if (outer == 0) {
        if (unshare(CLONE_NEWPID) != 0)
            _exit(REUSE_SKIP);
        pid_t in = fork();
        if (in == 0) {
            /* pid 1 of a new namespace, with the old namespace's /proc. */
            int r = pidkit_proc_list(NULL, NULL, sizeof(pidkit_proc_info), 0);
            pidkit_proc_filter f = filter_of(PIDKIT_PROC_MATCH_SID, 1);
            int k = pidkit_proc_kill(&f, 0, NULL, NULL);
            _exit(r == -EXDEV && k == -EXDEV ? 0 : 1);
        }
        int st = 0;
        waitpid(in, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 2);
    }
    int st = 0;
    waitpid(outer, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == REUSE_SKIP)
        skip("cannot make a pid namespace here", "/proc of another pid namespace: -EXDEV");
    else
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "/proc of another pid namespace: list and kill are -EXDEV (%#x)", st);
}

int main(void)
{
    quick = getenv("PIDKIT_TEST_QUICK") != NULL;
    test_self();
    test_errors();
    test_zombie();
    test_child_exit_and_signal();
    test_non_child();
    test_few_wakeups();
    test_signal_handler_during_wait();
    test_fd_and_close();
    test_query_vs_info_get();
    test_pid_reuse();
    test_list_own_session();
    test_list_filters();
    test_list_uid_nobody();
    test_list_everything();
    test_list_while_forking();
    test_kill_session_groups();
    test_kill_excludes_caller();
    test_kill_descendants();
    test_kill_forking_chain();
    test_kill_timeout_escalation();
    test_kill_forks_during_escalation();
    test_kill_many_few_fds();
    test_kill_eperm_as_nobody();
    test_kill_bad_input();
    test_exdev();
    reap_all();
    return done_testing();
}
