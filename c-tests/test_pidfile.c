/* test_pidfile.c - pidfiles through the C ABI, with real processes.
 *
 * Every scenario uses real processes (fork, exec, SIGKILL) and real files in
 * its own mkdtemp() directory under /tmp or /dev/shm; nothing is mocked.
 * Other processes are either "servants" (forked helpers that run pidkit calls
 * on command over a pipe, with all inherited descriptors closed so that they
 * never share the test process's locks) or purpose-built children. Every
 * child is killed and reaped before its test ends; children leave with
 * _exit(). The whole program runs in a few seconds.
 *
 * Run with "--pidkit-sleep" it only sleeps: that is the program the exec
 * tests exec.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pidkit.h>
#include "tap.h"

#define NOBODY ((uid_t)65534)
#define NO_REPLY (-99999)       /* a servant did not answer in time (hung or died) */

static const uint32_t KNOWN_FLAGS = PIDKIT_PIDFILE_NO_WRITE | PIDKIT_PIDFILE_WAIT | PIDKIT_PIDFILE_INHERIT |
                                    PIDKIT_PIDFILE_KEEP_FILE | PIDKIT_PIDFILE_STRICT;
static char cwd0[PATH_MAX];
/* This program's path, read once: under valgrind /proc/self/exe names
 * valgrind itself, which cannot exec a test binary that way. */
static char self_exe[4096] = "/proc/self/exe";

/* ------------------------------------------------------------------ utilities */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static long cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000L + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000L;
}

/* A string made printable for a one-line TAP description ('#' escaped too). */
static const char *show(const char *s)
{
    static char bufs[8][200];
    static unsigned k;
    char *o = bufs[k++ % 8];
    size_t j = 0;
    for (; s && *s && j + 5 < sizeof bufs[0]; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n') {
            o[j++] = '\\';
            o[j++] = 'n';
        } else if (c < 32 || c >= 127 || c == '#') {
            j += (size_t)snprintf(o + j, 5, "\\x%02x", c);
        } else {
            o[j++] = (char)c;
        }
    }
    o[j] = 0;
    return o;
}

/* This thread's last error, printable, when r failed. */
static const char *emsg(int r)
{
    return r < 0 ? show(pidkit_last_error()) : "";
}

static bool names(const char *msg, const char *path)
{
    return msg && path && strstr(msg, path) != NULL;
}

static char *pjoin(char *out, const char *dir, const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", dir, name);
    return out;
}

static int writen(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int readn(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int readn_timeout(int fd, void *buf, size_t n, int ms)
{
    char *p = buf;
    size_t got = 0;
    long end = now_ms() + ms;
    while (got < n) {
        long left = end - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Whole file (never blocking, never following a symlink), NUL-terminated; -1 if unreadable. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -1;
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, buf + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    buf[got] = 0;
    return (ssize_t)got;
}

/* Creates or overwrites a file with exactly these bytes and this mode (umask bypassed). */
static int spit(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    int rc = (writen(fd, data, len) == 0 && fchmod(fd, mode) == 0) ? 0 : -1;
    close(fd);
    return rc;
}

static int spits(const char *path, const char *s)
{
    return spit(path, s, strlen(s), 0644);
}

/* The file holds exactly "<pid>\n". */
static bool has_pid(const char *path, pid_t pid)
{
    char buf[64], want[32];
    snprintf(want, sizeof want, "%d\n", (int)pid);
    return slurp(path, buf, sizeof buf) >= 0 && strcmp(buf, want) == 0;
}

static const char *content(const char *path)
{
    char buf[128];
    if (slurp(path, buf, sizeof buf) < 0)
        return "(unreadable)";
    return show(buf);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? (st.st_mode & 07777) : (mode_t)-1;
}

static int entries(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(dp);
    return n;
}

static int count_fds(void)
{
    return entries("/proc/self/fd");
}

static bool newdir(char *d, const char *base)
{
    snprintf(d, PATH_MAX, "%s/pidkit-pf-XXXXXX", base);
    if (!mkdtemp(d)) {
        diag("mkdtemp under %s: %s", base, strerror(errno));
        return false;
    }
    return true;
}

static int rm_one(const char *p, const struct stat *sb, int tf, struct FTW *fw)
{
    (void)sb; (void)tf; (void)fw;
    remove(p);
    return 0;
}

static void rmtree(const char *d)
{
    nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void *shared(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        diag("mmap: %s", strerror(errno));
        return NULL;
    }
    memset(p, 0, n);
    return p;
}

static pidkit_pidfile_opts opts(uint32_t flags, uint32_t mode, int32_t timeout_ms)
{
    pidkit_pidfile_opts o = PIDKIT_PIDFILE_OPTS_INIT;
    o.flags = flags;
    o.mode = mode;
    o.timeout_ms = timeout_ms;
    return o;
}

/* ------------------------------------------------------------------ children */

#define MAXKIDS 256
static pid_t kids[MAXKIDS];
static int nkids;

static void track(pid_t p)
{
    if (p > 0 && nkids < MAXKIDS)
        kids[nkids++] = p;
}

static void untrack(pid_t p)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i] == p) {
            kids[i] = kids[--nkids];
            return;
        }
}

static pid_t xfork(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p == 0)
        nkids = 0;
    else if (p > 0)
        track(p);
    else
        diag("fork: %s", strerror(errno));
    return p;
}

/* Waits up to ms for child p; SIGKILLs it if it is still running then.
 * Returns true if it exited by itself. */
static bool reap(pid_t p, int ms, int *status)
{
    int st = 0;
    bool exited = false;
    long end = now_ms() + ms;
    if (p <= 0)
        return false;
    for (;;) {
        pid_t w = waitpid(p, &st, WNOHANG);
        if (w == p) {
            exited = true;
            break;
        }
        if (w < 0 && errno != EINTR)
            break;
        if (now_ms() >= end) {
            kill(p, SIGKILL);
            while (waitpid(p, &st, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        usleep(1000);
    }
    untrack(p);
    if (status)
        *status = st;
    return exited;
}

static void kill_all(void)
{
    while (nkids > 0) {
        pid_t p = kids[nkids - 1];
        kill(p, SIGKILL);
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        untrack(p);
    }
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "Bail out! test_pidfile: watchdog timeout, something hung\n";
    if (write(1, m, sizeof m - 1) < 0) {
    }
    for (int i = 0; i < nkids; i++)
        kill(kids[i], SIGKILL);
    _exit(2);
}

/* ------------------------------------------------------------------ servants */

enum { OP_ACQUIRE = 1, OP_WRITE, OP_RELEASE, OP_CHECK, OP_READ, OP_KILL, OP_USR1, OP_EXIT, OP_SETUID };

struct cmd {
    int op;
    uint32_t flags, mode, size;   /* size 0 = sizeof(pidkit_pidfile_opts) */
    int32_t timeout_ms;
    int delay_ms;                 /* sleep this long before running the op */
    int sig;
    char path[1024];
};

struct reply {
    int r;
    pid_t holder;                 /* *holder (or *pid for OP_READ); -777 if not written */
    long ms, cpu;                 /* wall and CPU time of the op itself */
    char msg[512];                /* pidkit_last_error() when r < 0 */
};

struct servant {
    pid_t pid;
    int to, from;
};

static volatile sig_atomic_t got_usr1;

static void on_usr1(int s)
{
    (void)s;
    got_usr1++;
}

static void close_all_but(int a, int b)
{
    unsigned lo = (unsigned)(a < b ? a : b), hi = (unsigned)(a < b ? b : a);
    if (lo > 3)
        syscall(SYS_close_range, 3u, lo - 1, 0u);
    if (hi > lo + 1)
        syscall(SYS_close_range, lo + 1, hi - 1, 0u);
    syscall(SYS_close_range, hi + 1, ~0u, 0u);
}

static void servant_main(int in, int out)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGALRM, SIG_DFL);
    pidkit_pidfile *h = NULL;
    struct cmd c;
    while (readn(in, &c, sizeof c) == 0) {
        struct reply rp;
        memset(&rp, 0, sizeof rp);
        rp.holder = -777;
        if (c.delay_ms > 0)
            usleep((useconds_t)c.delay_ms * 1000);
        long t0 = now_ms(), c0 = cpu_ms();
        switch (c.op) {
        case OP_ACQUIRE: {
            struct { pidkit_pidfile_opts o; unsigned char tail[64]; } big;
            memset(&big, 0, sizeof big);
            big.o.size = c.size ? c.size : (uint32_t)sizeof big.o;
            big.o.flags = c.flags;
            big.o.mode = c.mode;
            big.o.timeout_ms = c.timeout_ms;
            pidkit_pidfile *nh = NULL;
            rp.r = pidkit_pidfile_acquire(c.path, &big.o, &nh, &rp.holder);
            if (rp.r == 0)
                h = nh;
            break;
        }
        case OP_WRITE:
            rp.r = pidkit_pidfile_write(h);
            break;
        case OP_RELEASE:
            rp.r = pidkit_pidfile_release(h);
            h = NULL;
            break;
        case OP_CHECK:
            rp.r = pidkit_pidfile_check(c.path, &rp.holder);
            break;
        case OP_READ:
            rp.r = pidkit_pidfile_read(c.path, &rp.holder);
            break;
        case OP_KILL:
            rp.r = pidkit_pidfile_kill(c.path, c.sig, &rp.holder);
            break;
        case OP_USR1:
            rp.r = (int)got_usr1;
            break;
        case OP_EXIT:
            _exit(0);
        case OP_SETUID:
            errno = 0;
            if (setgroups(0, NULL) == 0 && setgid((gid_t)NOBODY) == 0 && setuid(NOBODY) == 0 && geteuid() == NOBODY)
                rp.r = 0;
            else
                rp.r = errno ? -errno : -EPERM;
            break;
        default:
            rp.r = -ENOSYS;
        }
        rp.ms = now_ms() - t0;
        rp.cpu = cpu_ms() - c0;
        if (rp.r < 0 && c.op != OP_SETUID)
            snprintf(rp.msg, sizeof rp.msg, "%s", pidkit_last_error());
        if (writen(out, &rp, sizeof rp) != 0)
            _exit(1);
    }
    _exit(0);
}

static bool sv_start(struct servant *s)
{
    int a[2], b[2];
    s->pid = -1;
    s->to = s->from = -1;
    if (pipe2(a, O_CLOEXEC) != 0)
        return false;
    if (pipe2(b, O_CLOEXEC) != 0) {
        close(a[0]);
        close(a[1]);
        return false;
    }
    pid_t p = xfork();
    if (p == 0) {
        close(a[1]);
        close(b[0]);
        close_all_but(a[0], b[1]);   /* never share the test process's pidfile descriptors */
        servant_main(a[0], b[1]);
    }
    close(a[0]);
    close(b[1]);
    if (p < 0) {
        close(a[1]);
        close(b[0]);
        return false;
    }
    s->pid = p;
    s->to = a[1];
    s->from = b[0];
    return true;
}

static void sv_post(struct servant *s, struct cmd c, const char *path)
{
    if (path)
        snprintf(c.path, sizeof c.path, "%s", path);
    if (s->to < 0 || writen(s->to, &c, sizeof c) != 0)
        diag("servant %d: cannot send a command: %s", (int)s->pid, strerror(errno));
}

static struct reply sv_wait(struct servant *s, int ms)
{
    struct reply rp;
    memset(&rp, 0, sizeof rp);
    if (s->from < 0 || readn_timeout(s->from, &rp, sizeof rp, ms) != 0) {
        memset(&rp, 0, sizeof rp);
        rp.r = NO_REPLY;
        rp.holder = -777;
        snprintf(rp.msg, sizeof rp.msg, "(servant %d gave no answer within %d ms)", (int)s->pid, ms);
    }
    return rp;
}

static struct reply sv(struct servant *s, struct cmd c, const char *path)
{
    sv_post(s, c, path);
    return sv_wait(s, 5000);
}

static struct reply sv_acquire(struct servant *s, const char *path, uint32_t flags)
{
    return sv(s, (struct cmd){ .op = OP_ACQUIRE, .flags = flags }, path);
}

static struct reply sv_op(struct servant *s, int op, const char *path)
{
    return sv(s, (struct cmd){ .op = op }, path);
}

/* Ends the servant: EOF on its command pipe, then SIGKILL if it lingers. */
static void sv_stop(struct servant *s)
{
    if (s->to >= 0)
        close(s->to);
    if (s->from >= 0)
        close(s->from);
    s->to = s->from = -1;
    if (s->pid > 0)
        reap(s->pid, 2000, NULL);
    s->pid = -1;
}

static void sv_kill9(struct servant *s, int *status)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        reap(s->pid, 5000, status);
    }
    s->pid = -1;
    sv_stop(s);
}

/* pidkit_pidfile_read success: 0 or the pid itself returned, and *pid set. */
static bool read_ok(int r, pid_t got, pid_t want)
{
    return r >= 0 && got == want && (r == 0 || r == want);
}

/* ------------------------------------------------------------------ tests */

static void test_basic(const char *base)
{
    char d[PATH_MAX], path[PATH_MAX], buf[128], want[32];
    if (!newdir(d, base))
        return;
    pjoin(path, d, "basic.pid");
    pidkit_pidfile *pf = NULL;
    pidkit_pidfile_opts o = PIDKIT_PIDFILE_OPTS_INIT;
    int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
    ok(r == 0 && pf != NULL, "[%s] acquire of a new pidfile: 0 (%d %s)", base, r, emsg(r));
    snprintf(want, sizeof want, "%d\n", (int)getpid());
    ssize_t n = slurp(path, buf, sizeof buf);
    ok(n == (ssize_t)strlen(want) && strcmp(buf, want) == 0, "[%s] content is exactly \"<pid>\\n\": \"%s\" (want \"%s\")",
       base, show(buf), show(want));
    struct stat st, fst;
    memset(&st, 0, sizeof st);
    int lr = lstat(path, &st);
    ok(lr == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644,
       "[%s] a regular file, mode 0644 (0%o) under umask 022", base, (unsigned)(st.st_mode & 07777));
    int fd = pf ? pidkit_pidfile_fd(pf) : -1;
    ok(fd >= 0 && fstat(fd, &fst) == 0 && fst.st_ino == st.st_ino && fst.st_dev == st.st_dev,
       "[%s] pidkit_pidfile_fd (%d) is the open file at the path", base, fd);
    ok(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "[%s] ... close-on-exec without INHERIT", base);
    int probe = open(path, O_RDONLY | O_CLOEXEC);
    int fl = probe >= 0 ? flock(probe, LOCK_SH | LOCK_NB) : 0;
    int fe = errno;
    ok(probe >= 0 && fl < 0 && fe == EWOULDBLOCK, "[%s] the file is flock()ed: an independent LOCK_SH|LOCK_NB fails (%s)",
       base, fl < 0 ? strerror(fe) : "it succeeded");
    if (probe >= 0)
        close(probe);
    pid_t h = -777;
    r = pidkit_pidfile_check(path, &h);
    ok(r == 1 && h == getpid(), "[%s] check by the holder itself: 1, holder %d (%d %s)", base, (int)h, r, emsg(r));
    pid_t v = -777;
    r = pidkit_pidfile_read(path, &v);
    ok(read_ok(r, v, getpid()), "[%s] read: own pid (%d, r=%d %s)", base, (int)v, r, emsg(r));
    r = pf ? pidkit_pidfile_release(pf) : -1;
    ok(r >= 0, "[%s] release: %d %s", base, r, emsg(r));
    ok(!exists(path), "[%s] release removes the file", base);
    ok(entries(d) == 0, "[%s] nothing else was left in the directory (%d entries)", base, entries(d));
    r = pidkit_pidfile_check(path, &h);
    ok(r == 0, "[%s] check after release: 0 (%d)", base, r);
    v = -777;
    r = pidkit_pidfile_read(path, &v);
    ok(r == -ENOENT && v == -777, "[%s] read after release: -ENOENT, *pid untouched (%d, %d)", base, r, (int)v);
    ok(names(pidkit_last_error(), path), "[%s] ... message names the path: \"%s\"", base, show(pidkit_last_error()));
    ok(entries(d) == 0, "[%s] check and read created nothing", base);
    rmtree(d);
}

struct thr {
    const char *path;
    int r;
    pid_t holder;
    char msg[512];
};

static void *thr_acquire(void *arg)
{
    struct thr *t = arg;
    pidkit_pidfile *pf = NULL;
    t->r = pidkit_pidfile_acquire(t->path, NULL, &pf, &t->holder);
    snprintf(t->msg, sizeof t->msg, "%s", pidkit_last_error());
    if (t->r == 0)
        pidkit_pidfile_release(pf);
    return NULL;
}

static void test_contender(void)
{
    char d[PATH_MAX], path[PATH_MAX], none[PATH_MAX], before[128], after[128];
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "c.pid");
    pjoin(none, d, "none.pid");
    pidkit_pidfile *pf = NULL;
    int r = pidkit_pidfile_acquire(path, NULL, &pf, NULL);
    ok(r == 0, "contender: the test process acquires (%d %s)", r, emsg(r));
    struct stat st1, st2;
    slurp(path, before, sizeof before);
    lstat(path, &st1);
    usleep(20000);                          /* a rewrite would show in mtime */
    if (!sv_start(&s))
        return;
    struct reply rp = sv_acquire(&s, path, 0);
    ok(rp.r == -EEXIST, "a contender process gets -EEXIST (%d %s)", rp.r, show(rp.msg));
    ok(rp.holder == getpid(), "... *holder = the holder's pid (%d, want %d)", (int)rp.holder, (int)getpid());
    ok(names(rp.msg, path), "... its message names the path: \"%s\"", show(rp.msg));
    slurp(path, after, sizeof after);
    lstat(path, &st2);
    ok(strcmp(before, after) == 0 && st1.st_size == st2.st_size && st1.st_ino == st2.st_ino &&
       st1.st_mtim.tv_sec == st2.st_mtim.tv_sec && st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec,
       "... the held file is unchanged byte for byte, same inode, not rewritten (\"%s\" -> \"%s\")", show(before), show(after));
    rp = sv_op(&s, OP_CHECK, path);
    ok(rp.r == 1 && rp.holder == getpid(), "another process's check: 1, holder %d (%d %s)", (int)rp.holder, rp.r, show(rp.msg));
    rp = sv_op(&s, OP_READ, path);
    ok(read_ok(rp.r, rp.holder, getpid()), "another process's read: the holder's pid (%d, r=%d)", (int)rp.holder, rp.r);

    /* A second acquire inside the holding process itself: a different open file, so -EEXIST too. */
    pidkit_pidfile *sentinel = (pidkit_pidfile *)(uintptr_t)0x1234, *pf2 = sentinel;
    pid_t h = -777;
    r = pidkit_pidfile_acquire(path, NULL, &pf2, &h);
    ok(r == -EEXIST && h == getpid(), "a second acquire in the holding process: -EEXIST, holder self (%d, %d)", r, (int)h);
    ok(pf2 == sentinel, "... *out untouched on failure");
    r = pidkit_pidfile_acquire(path, NULL, &pf2, NULL);
    ok(r == -EEXIST, "... with holder NULL: -EEXIST too (%d)", r);

    /* From another thread: -EEXIST, and last_error is per thread. */
    pid_t v = -777;
    pidkit_pidfile_read(none, &v);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", pidkit_last_error());
    struct thr t = { .path = path, .r = 1, .holder = -777 };
    pthread_t th;
    if (pthread_create(&th, NULL, thr_acquire, &t) == 0) {
        pthread_join(th, NULL);
        ok(t.r == -EEXIST && t.holder == getpid() && names(t.msg, path),
           "acquire from another thread of the holder: -EEXIST, holder, message \"%s\" (%d)", show(t.msg), t.r);
        ok(strcmp(pidkit_last_error(), mine) == 0 && names(mine, none),
           "... the main thread's last error is its own: \"%s\"", show(pidkit_last_error()));
    }

    r = pidkit_pidfile_release(pf);
    ok(r >= 0 && !exists(path), "holder releases: file removed (%d)", r);
    rp = sv_acquire(&s, path, 0);
    ok(rp.r == 0 && has_pid(path, s.pid), "the contender now acquires and the file names it (%d, \"%s\")", rp.r, content(path));
    rp = sv_op(&s, OP_RELEASE, NULL);
    ok(rp.r >= 0 && !exists(path), "the contender's release removes the file (%d)", rp.r);
    sv_stop(&s);
    rmtree(d);
}

static void test_no_write(void)
{
    char d[PATH_MAX], path[PATH_MAX], stale[PATH_MAX];
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "nw.pid");
    pjoin(stale, d, "stale.pid");
    if (!sv_start(&s))
        return;
    pidkit_pidfile *pf = NULL;
    pidkit_pidfile_opts o = opts(PIDKIT_PIDFILE_NO_WRITE, 0, 0);
    int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
    ok(r == 0, "NO_WRITE acquire: 0 (%d %s)", r, emsg(r));
    struct stat st;
    ok(lstat(path, &st) == 0 && st.st_size == 0, "... the file exists and is empty (\"%s\")", content(path));
    struct reply rp = sv_acquire(&s, path, 0);
    ok(rp.r == -EEXIST && rp.holder == 0, "NO_WRITE: a contender gets -EEXIST with holder 0 (%d, %d)", rp.r, (int)rp.holder);
    rp = sv_op(&s, OP_CHECK, path);
    ok(rp.r == 1 && rp.holder == 0, "NO_WRITE: check is 1 with holder 0 (%d, %d)", rp.r, (int)rp.holder);
    rp = sv(&s, (struct cmd){ .op = OP_KILL, .sig = 0 }, path);
    ok(rp.r == -ESRCH, "NO_WRITE: kill(sig 0) is -ESRCH while no pid is written (%d)", rp.r);
    rp = sv_op(&s, OP_READ, path);
    ok(rp.r == -EBADMSG, "NO_WRITE: read of the empty file is -EBADMSG (%d)", rp.r);
    r = pf ? pidkit_pidfile_write(pf) : -1;
    ok(r >= 0 && has_pid(path, getpid()), "pidkit_pidfile_write writes \"<pid>\\n\" (%d, \"%s\")", r, content(path));
    rp = sv_acquire(&s, path, 0);
    ok(rp.r == -EEXIST && rp.holder == getpid(), "after write: a contender's holder is the pid (%d, %d)", rp.r, (int)rp.holder);
    rp = sv(&s, (struct cmd){ .op = OP_KILL, .sig = 0 }, path);
    ok(rp.r >= 0 && rp.holder == getpid(), "after write: kill(sig 0) succeeds, holder %d (%d %s)", (int)rp.holder, rp.r, show(rp.msg));
    /* Junk longer than the pid appears in the file: write truncates it away. */
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (writen(fd, "garbage garbage garbage\n", 24) != 0)
            diag("junk write failed");
        close(fd);
    }
    r = pf ? pidkit_pidfile_write(pf) : -1;
    ok(r >= 0 && has_pid(path, getpid()), "a second write replaces longer junk exactly (\"%s\")", content(path));
    r = pf ? pidkit_pidfile_release(pf) : -1;
    ok(r >= 0 && !exists(path), "release of the NO_WRITE handle removes the file (%d)", r);

    /* NO_WRITE over a stale file that names pid 1: pid 1 must not be reported, nor signalled. */
    spits(stale, "1\n");
    pf = NULL;
    r = pidkit_pidfile_acquire(stale, &o, &pf, NULL);
    ok(r == 0, "NO_WRITE over a stale file naming pid 1: acquired (%d %s)", r, emsg(r));
    rp = sv_acquire(&s, stale, 0);
    ok(rp.r == -EEXIST && rp.holder == 0, "... a contender's holder is 0, not the stale pid 1 (%d, %d)", rp.r, (int)rp.holder);
    rp = sv(&s, (struct cmd){ .op = OP_KILL, .sig = 0 }, stale);
    ok(rp.r == -ESRCH, "... kill(sig 0) is -ESRCH: no pid written yet (%d, holder %d)", rp.r, (int)rp.holder);
    if (pf)
        pidkit_pidfile_release(pf);
    ok(!exists(stale), "... release removes it");
    sv_stop(&s);
    rmtree(d);
}

static void test_sigkill_takeover(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    struct servant s;
    if (!newdir(d, "/dev/shm"))
        return;
    pjoin(path, d, "k.pid");
    if (!sv_start(&s))
        return;
    pid_t spid = s.pid;
    struct reply rp = sv_acquire(&s, path, 0);
    ok(rp.r == 0 && has_pid(path, spid), "a holder process acquires (%d, \"%s\")", rp.r, content(path));
    int st = 0;
    sv_kill9(&s, &st);
    ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the holder is killed with SIGKILL");
    ok(has_pid(path, spid), "the file still names the dead holder (\"%s\")", content(path));
    pid_t h = -777;
    int r = pidkit_pidfile_check(path, &h);
    ok(r == 0, "check: 0, the file is stale (%d, holder %d)", r, (int)h);
    r = pidkit_pidfile_kill(path, SIGTERM, NULL);
    ok(r == -ESRCH, "kill of the stale file: -ESRCH (%d)", r);
    pidkit_pidfile *pf = NULL;
    long t0 = now_ms();
    r = pidkit_pidfile_acquire(path, NULL, &pf, &h);
    long ms = now_ms() - t0;
    ok(r == 0 && ms < 1000, "immediate takeover without WAIT: %d in %ld ms (%s)", r, ms, emsg(r));
    ok(has_pid(path, getpid()), "... the file names the new holder (\"%s\")", content(path));
    if (pf)
        pidkit_pidfile_release(pf);
    rmtree(d);
}

static void test_stale(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "s.pid");
    pidkit_pidfile *pf = NULL;
    pid_t h = -777;

    spits(path, "1\n");
    int r = pidkit_pidfile_check(path, &h);
    ok(r == 0, "stale file naming the live pid 1: check 0 (%d, holder %d)", r, (int)h);
    r = pidkit_pidfile_kill(path, 0, NULL);
    ok(r == -ESRCH, "... kill(sig 0) is -ESRCH (%d)", r);
    r = pidkit_pidfile_acquire(path, NULL, &pf, &h);
    ok(r == 0 && has_pid(path, getpid()), "... acquire takes it over (%d %s, \"%s\")", r, emsg(r), content(path));
    if (r == 0)
        pidkit_pidfile_release(pf);

    spits(path, "2147483647\n");
    pf = NULL;
    r = pidkit_pidfile_acquire(path, NULL, &pf, &h);
    ok(r == 0 && has_pid(path, getpid()), "stale file with a longer pid: replaced exactly (\"%s\")", content(path));
    if (r == 0)
        pidkit_pidfile_release(pf);

    spits(path, "hello world, no pid here\n");
    pf = NULL;
    r = pidkit_pidfile_acquire(path, NULL, &pf, &h);
    ok(r == 0 && has_pid(path, getpid()), "stale file with junk content: replaced exactly (\"%s\")", content(path));
    if (r == 0)
        pidkit_pidfile_release(pf);

    /* A stale file naming a live process that holds nothing (a "recycled" pid). */
    if (!sv_start(&s))
        return;
    char buf[32];
    snprintf(buf, sizeof buf, "%d\n", (int)s.pid);
    spits(path, buf);
    r = pidkit_pidfile_check(path, &h);
    ok(r == 0, "stale file naming a live unrelated process: check 0 (%d)", r);
    r = pidkit_pidfile_kill(path, SIGUSR1, NULL);
    struct reply rp = sv_op(&s, OP_USR1, NULL);
    ok(r == -ESRCH && rp.r == 0, "... kill(SIGUSR1) is -ESRCH and that process got no signal (%d, got %d)", r, rp.r);
    pf = NULL;
    r = pidkit_pidfile_acquire(path, NULL, &pf, &h);
    ok(r == 0 && has_pid(path, getpid()), "... acquire takes it over (%d %s)", r, emsg(r));
    if (r == 0)
        pidkit_pidfile_release(pf);
    sv_stop(&s);
    rmtree(d);
}

static void test_symlink(void)
{
    char d[PATH_MAX], target[PATH_MAX], link[PATH_MAX], dangle[PATH_MAX], victim[PATH_MAX], lbuf[PATH_MAX];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(target, d, "target");
    pjoin(link, d, "link.pid");
    pjoin(dangle, d, "dangle.pid");
    pjoin(victim, d, "victim");
    spit(target, "precious\n", 9, 0600);
    if (symlink(target, link) != 0 || symlink(victim, dangle) != 0)
        diag("symlink: %s", strerror(errno));
    pidkit_pidfile *sentinel = (pidkit_pidfile *)(uintptr_t)0x1234, *pf = sentinel;
    pid_t h = -777;
    int r = pidkit_pidfile_acquire(link, NULL, &pf, &h);
    ok(r == -ELOOP, "acquire of a symlink: -ELOOP (%d %s)", r, emsg(r));
    ok(names(pidkit_last_error(), link), "... message names the path");
    ok(pf == sentinel && h == -777, "... *out and *holder untouched");
    ok(strcmp(content(target), "precious\\n") == 0 && mode_of(target) == 0600,
       "... the symlink's target is untouched (\"%s\", 0%o)", content(target), (unsigned)mode_of(target));
    struct stat st;
    ssize_t n = readlink(link, lbuf, sizeof lbuf - 1);
    lbuf[n > 0 ? n : 0] = 0;
    ok(lstat(link, &st) == 0 && S_ISLNK(st.st_mode) && strcmp(lbuf, target) == 0, "... the symlink itself is untouched");
    r = pidkit_pidfile_acquire(dangle, NULL, &pf, NULL);
    ok(r == -ELOOP, "acquire of a dangling symlink: -ELOOP (%d)", r);
    ok(!exists(victim), "... its target was not created");
    ok(entries(d) == 3, "... nothing else created (%d entries)", entries(d));
    rmtree(d);
}

static void test_not_regular(void)
{
    char d[PATH_MAX], dir[PATH_MAX], fifo[PATH_MAX], sock[PATH_MAX];
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(dir, d, "dir.pid");
    pjoin(fifo, d, "fifo.pid");
    pjoin(sock, d, "sock.pid");
    mkdir(dir, 0755);
    mkfifo(fifo, 0644);
    int sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(sock) < sizeof sa.sun_path)
        memcpy(sa.sun_path, sock, strlen(sock) + 1);
    if (sfd < 0 || bind(sfd, (struct sockaddr *)&sa, sizeof sa) != 0)
        diag("bind %s: %s", sock, strerror(errno));
    if (sfd >= 0)
        close(sfd);
    if (!sv_start(&s))
        return;
    struct stat st;
    struct reply rp = sv_acquire(&s, dir, 0);
    ok(rp.r == -EINVAL, "acquire of a directory: -EINVAL (%d %s)", rp.r, show(rp.msg));
    ok(names(rp.msg, dir), "... message names the path");
    ok(lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && entries(dir) == 0, "... the directory is untouched");
    if (rp.r == NO_REPLY) {
        sv_kill9(&s, NULL);
        if (!sv_start(&s))
            return;
    }
    rp = sv_acquire(&s, fifo, 0);
    ok(rp.r == -EINVAL, "acquire of a FIFO: -EINVAL without hanging (%d in %ld ms: %s)", rp.r, rp.ms, show(rp.msg));
    ok(names(rp.msg, fifo), "... message names the path");
    ok(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "... the FIFO is untouched");
    if (rp.r == NO_REPLY) {
        sv_kill9(&s, NULL);
        if (!sv_start(&s))
            return;
    }
    rp = sv_op(&s, OP_CHECK, fifo);
    ok(rp.r != NO_REPLY && rp.r != 1, "check of a FIFO returns without hanging, not held (%d)", rp.r);
    if (rp.r == NO_REPLY) {
        sv_kill9(&s, NULL);
        if (!sv_start(&s))
            return;
    }
    rp = sv_op(&s, OP_READ, fifo);
    ok(rp.r != NO_REPLY && rp.r < 0, "read of a FIFO fails without hanging (%d)", rp.r);
    if (rp.r == NO_REPLY) {
        sv_kill9(&s, NULL);
        if (!sv_start(&s))
            return;
    }
    rp = sv_acquire(&s, sock, 0);
    ok(rp.r == -EINVAL, "acquire of a unix socket: -EINVAL (%d %s)", rp.r, show(rp.msg));
    ok(lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode), "... the socket is untouched");
    ok(entries(d) == 3, "nothing else created (%d entries)", entries(d));
    sv_kill9(&s, NULL);
    rmtree(d);
}

struct tty_shm {
    int setsid_ok, r, ctty;
    char msg[512];
};

/* A terminal device is not a regular file either; opening one must not make
 * it the controlling terminal of a caller that has none (a daemon after
 * setsid): that needs O_NOCTTY. */
static void test_tty(void)
{
    char slave[PATH_MAX];
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 || !ptsname(m)) {
        skip("no pseudo-terminal available", "acquire of a terminal device");
        if (m >= 0)
            close(m);
        return;
    }
    snprintf(slave, sizeof slave, "%s", ptsname(m));
    struct tty_shm *T = shared(sizeof *T);
    if (!T) {
        close(m);
        return;
    }
    T->r = -9999;
    pid_t c = xfork();
    if (c == 0) {
        T->setsid_ok = setsid() > 0;
        pidkit_pidfile *pf = NULL;
        T->r = pidkit_pidfile_acquire(slave, NULL, &pf, NULL);
        snprintf(T->msg, sizeof T->msg, "%s", pidkit_last_error());
        int t = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        T->ctty = t >= 0;
        _exit(0);
    }
    reap(c, 5000, NULL);
    ok(T->r == -EINVAL && names(T->msg, slave), "acquire of a terminal device (%s): -EINVAL (%d: %s)", slave, T->r, show(T->msg));
    ok(T->setsid_ok && !T->ctty, "... and it did not become the controlling terminal of a session leader that had none");
    munmap(T, sizeof *T);
    close(m);
}

static void test_read_corpus(void)
{
    static const struct { const char *s; size_t len; pid_t want; } corpus[] = {
        { "", 0, -EBADMSG },           { "\n", 1, -EBADMSG },          { "abc", 3, -EBADMSG },
        { "-5", 2, -EBADMSG },         { "+5", 2, -EBADMSG },          { "0", 1, -EBADMSG },
        { "99999999999999", 14, -EBADMSG },                            { "12 34", 5, -EBADMSG },
        { "12abc", 5, -EBADMSG },      { "1\n2\n", 4, -EBADMSG },      { "4294967338\n", 11, -EBADMSG },
        { "2147483648\n", 11, -EBADMSG }, { "0x2a\n", 5, -EBADMSG },   { "42\0", 3, -EBADMSG },
        { " \t\n ", 4, -EBADMSG },     { "-0\n", 3, -EBADMSG },
        { " 42 \n", 5, 42 },           { "42", 2, 42 },                { "42\n", 3, 42 },
        { "\t42\n\n", 5, 42 },         { "4194304\n", 8, 4194304 },   { "\v42\f\r\n", 6, 42 },
    };
    char d[PATH_MAX], path[PATH_MAX], missing[PATH_MAX];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "r.pid");
    pjoin(missing, d, "missing.pid");
    int changed = 0;
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        char shown[64], buf[64];
        memcpy(buf, corpus[i].s, corpus[i].len);
        buf[corpus[i].len] = 0;
        snprintf(shown, sizeof shown, "%s%s", show(buf), corpus[i].len > strlen(corpus[i].s) ? "\\0" : "");
        spit(path, corpus[i].s, corpus[i].len, 0644);
        pid_t v = -777;
        int r = pidkit_pidfile_read(path, &v);
        if (corpus[i].want < 0)
            ok(r == corpus[i].want && v == -777 && names(pidkit_last_error(), path),
               "read \"%s\": -EBADMSG, *pid untouched, message names the path (%d, %d)", shown, r, (int)v);
        else
            ok(read_ok(r, v, corpus[i].want), "read \"%s\": %d (%d, r=%d %s)", shown, (int)corpus[i].want, (int)v, r, emsg(r));
        struct stat st;
        if (lstat(path, &st) != 0 || (size_t)st.st_size != corpus[i].len)
            changed++;
    }
    ok(changed == 0, "read never changed a file (%d changed)", changed);

    /* "surrounding whitespace" of any length, not only what fits one read. */
    static char longws[8192 + 8];
    memset(longws, ' ', 8192);
    memcpy(longws + 8192, "123\n", 4);
    spit(path, longws, 8192 + 4, 0644);
    pid_t lv = -777;
    int lr = pidkit_pidfile_read(path, &lv);
    ok(read_ok(lr, lv, 123), "read of 8192 blanks then \"123\\n\": 123 (%d, r=%d %s)", (int)lv, lr, emsg(lr));
    memcpy(longws + 8192, "12x\n", 4);
    spit(path, longws, 8192 + 4, 0644);
    lv = -777;
    lr = pidkit_pidfile_read(path, &lv);
    ok(lr == -EBADMSG && lv == -777, "read of 8192 blanks then \"12x\\n\": -EBADMSG (%d)", lr);
    pid_t v = -777;
    int r = pidkit_pidfile_read(missing, &v);
    ok(r == -ENOENT && v == -777, "read of a missing file: -ENOENT (%d)", r);
    ok(names(pidkit_last_error(), missing), "... message names the path: \"%s\"", show(pidkit_last_error()));
    ok(!exists(missing), "... and creates nothing");
    rmtree(d);
}

/* A shared flock on the pidfile is no holder (a holder's lock is exclusive):
 * it is what check's probe looks like. A try-once acquire waits out a short
 * one and succeeds; one kept for long gives -EEXIST after about 100 ms. */
static pid_t shared_locker(const char *path, int ms, int *ready_fd)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t c = xfork();
    if (c == 0) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char b = fd >= 0 && flock(fd, LOCK_SH) == 0 ? 'y' : 'n';
        if (write(p[1], &b, 1) != 1)
            _exit(1);
        usleep((useconds_t)ms * 1000);
        flock(fd, LOCK_UN); /* not at exit: that can be slow (valgrind) */
        pause();
    }
    close(p[1]);
    char b = 0;
    bool up = c > 0 && readn_timeout(p[0], &b, 1, 5000) == 0 && b == 'y';
    *ready_fd = p[0];
    return up ? c : -1;
}

static void test_shared_lock(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "sh.pid");
    spits(path, "1\n");
    int rfd = -1;
    pid_t c = shared_locker(path, 8, &rfd);
    pidkit_pidfile *pf = NULL;
    pid_t h = -777;
    long t0 = now_ms();
    int r = c > 0 ? pidkit_pidfile_acquire(path, NULL, &pf, &h) : -1;
    long took = now_ms() - t0;
    ok(c > 0 && r == 0 && has_pid(path, getpid()),
       "a shared lock held for 8 ms is no holder: a try-once acquire waits it out and wins (%d %s, %ld ms)", r, emsg(r), took);
    ok(h == -777, "... holder untouched on success");
    pidkit_pidfile_release(pf);
    kill(c, SIGKILL);
    reap(c, 5000, NULL);
    close(rfd);

    spits(path, "1\n");
    c = shared_locker(path, 3000, &rfd);
    pf = NULL;
    h = -777;
    t0 = now_ms();
    r = c > 0 ? pidkit_pidfile_acquire(path, NULL, &pf, &h) : -1;
    took = now_ms() - t0;
    ok(c > 0 && r == -EEXIST && pf == NULL && h == 1 && strstr(pidkit_last_error(), "shared"),
       "a shared lock kept for long: -EEXIST, holder = the pid in the file, a message that says so (%d, holder %d: %s)", r, (int)h,
       emsg(r));
    ok(took >= 90 && took < 2000, "... after retrying for about 100 ms, not at once and not until it goes (%ld ms)", took);
    ok(strcmp(content(path), "1\\n") == 0, "... and the file is untouched (%s)", content(path));
    h = -777;
    r = pidkit_pidfile_check(path, &h);
    ok(r == 0 && h == -777, "check: a file under a shared lock only is not held (%d)", r);
    if (c > 0) {
        kill(c, SIGKILL);
        reap(c, 5000, NULL);
    }
    close(rfd);
    rmtree(d);
}

static void test_check(void)
{
    char d[PATH_MAX], path[PATH_MAX], missing[PATH_MAX], buf[32];
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "chk.pid");
    pjoin(missing, d, "missing.pid");
    pid_t h = -777;
    int r = pidkit_pidfile_check(missing, &h);
    ok(r == 0, "check of a missing path: 0 (%d %s)", r, emsg(r));
    ok(!exists(missing) && entries(d) == 0, "... creates nothing");
    if (!sv_start(&s))
        return;
    struct reply rp = sv_acquire(&s, path, 0);
    h = -777;
    r = pidkit_pidfile_check(path, &h);
    ok(rp.r == 0 && r == 1 && h == s.pid, "check of a file held by another process: 1, holder %d (%d)", (int)h, r);
    r = pidkit_pidfile_check(path, NULL);
    ok(r == 1, "... with holder NULL: 1 (%d)", r);
    rp = sv_op(&s, OP_RELEASE, NULL);
    sv_stop(&s);

    /* Stale: content names a live process (us), but nobody holds the lock. */
    snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    spits(path, buf);
    struct stat st1, st2;
    lstat(path, &st1);
    usleep(20000);
    r = pidkit_pidfile_check(path, &h);
    ok(r == 0, "check of a stale file naming a live pid (the caller): 0 (%d)", r);
    spits(path, "1\n");
    lstat(path, &st1);
    usleep(20000);
    r = pidkit_pidfile_check(path, &h);
    ok(r == 0, "check of a stale file naming pid 1: 0 (%d)", r);
    lstat(path, &st2);
    ok(st1.st_ino == st2.st_ino && st1.st_size == st2.st_size && st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec &&
       st1.st_mtim.tv_sec == st2.st_mtim.tv_sec && st1.st_mode == st2.st_mode && strcmp(content(path), "1\\n") == 0,
       "... check changed nothing in the file");
    int probe = open(path, O_RDONLY | O_CLOEXEC);
    ok(probe >= 0 && flock(probe, LOCK_EX | LOCK_NB) == 0, "... and left no lock behind");
    if (probe >= 0)
        close(probe);
    rmtree(d);
}

static void test_release_cases(void)
{
    char d[PATH_MAX], path[PATH_MAX], other[PATH_MAX];
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "rel.pid");
    pjoin(other, d, "new");

    /* The path replaced by another file (rename over it). */
    pidkit_pidfile *pf = NULL;
    int r = pidkit_pidfile_acquire(path, NULL, &pf, NULL);
    spits(other, "other\n");
    rename(other, path);
    int rr = r == 0 ? pidkit_pidfile_release(pf) : -1;
    ok(r == 0 && rr >= 0, "release after the path was replaced: succeeds (%d %d %s)", r, rr, emsg(rr));
    ok(strcmp(content(path), "other\\n") == 0, "... the new file is left alone (\"%s\")", content(path));
    unlink(path);

    /* The path unlinked under us. */
    pf = NULL;
    r = pidkit_pidfile_acquire(path, NULL, &pf, NULL);
    unlink(path);
    rr = r == 0 ? pidkit_pidfile_release(pf) : -1;
    ok(r == 0 && rr >= 0 && !exists(path) && entries(d) == 0, "release after the file was unlinked: succeeds, creates nothing (%d %d)", r, rr);

    /* Unlinked and re-created by a new holder: our release must not delete the newcomer's file. */
    if (!sv_start(&s))
        return;
    pf = NULL;
    r = pidkit_pidfile_acquire(path, NULL, &pf, NULL);
    unlink(path);
    struct reply rp = sv_acquire(&s, path, 0);
    ok(r == 0 && rp.r == 0, "a newcomer acquires after the old file was unlinked (%d %d)", r, rp.r);
    rr = r == 0 ? pidkit_pidfile_release(pf) : -1;
    pid_t h = -777;
    int c = pidkit_pidfile_check(path, &h);
    ok(rr >= 0 && has_pid(path, s.pid) && c == 1 && h == s.pid,
       "... the old holder's release leaves the newcomer's file and lock (\"%s\", check %d, holder %d)", content(path), c, (int)h);
    rp = sv_op(&s, OP_RELEASE, NULL);
    ok(rp.r >= 0 && !exists(path), "... the newcomer's release removes it");
    sv_stop(&s);
    rmtree(d);
}

static void test_keep_file(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "keep.pid");
    if (!sv_start(&s))
        return;
    pidkit_pidfile *pf = NULL;
    pidkit_pidfile_opts o = opts(PIDKIT_PIDFILE_KEEP_FILE, 0, 0);
    int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
    ok(r == 0, "KEEP_FILE acquire: 0 (%d %s)", r, emsg(r));
    r = pf ? pidkit_pidfile_release(pf) : -1;
    ok(r >= 0 && has_pid(path, getpid()), "KEEP_FILE release keeps the file with its content (\"%s\")", content(path));
    pid_t h = -777;
    int c = pidkit_pidfile_check(path, &h);
    ok(c == 0, "... and it is no longer held: check 0 (%d)", c);
    struct reply rp = sv_acquire(&s, path, 0);
    ok(rp.r == 0 && has_pid(path, s.pid), "... another process acquires it (%d %s)", rp.r, show(rp.msg));
    rp = sv_op(&s, OP_RELEASE, NULL);
    ok(rp.r >= 0 && !exists(path), "... and its default release removes it");
    sv_stop(&s);
    rmtree(d);
}

struct fork_shm {
    int w, rel, exists_after;
};

static void test_fork_child_release(uint32_t flags)
{
    char d[PATH_MAX], path[PATH_MAX];
    const char *tag = flags & PIDKIT_PIDFILE_KEEP_FILE ? "KEEP_FILE" : "default";
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "fork.pid");
    struct fork_shm *F = shared(sizeof *F);
    if (!F)
        return;
    pidkit_pidfile *pf = NULL;
    pidkit_pidfile_opts o = opts(flags, 0, 0);
    int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
    ok(r == 0, "[%s] fork: the parent acquires (%d %s)", tag, r, emsg(r));
    if (r != 0) {
        rmtree(d);
        return;
    }
    pid_t c = xfork();
    if (c == 0) {
        F->rel = pidkit_pidfile_release(pf);
        F->exists_after = exists(path);
        _exit(0);
    }
    reap(c, 5000, NULL);
    ok(F->rel >= 0, "[%s] a forked child's release of the inherited handle: %d", tag, F->rel);
    ok(F->exists_after && has_pid(path, getpid()), "[%s] ... leaves the parent's file (\"%s\")", tag, content(path));
    if (!sv_start(&s))
        return;
    struct reply rp = sv_acquire(&s, path, 0);
    ok(rp.r == -EEXIST && rp.holder == getpid(), "[%s] ... and the parent's lock: a third process gets -EEXIST, holder %d (%d)",
       tag, (int)rp.holder, rp.r);
    if (rp.r == 0)
        sv_op(&s, OP_RELEASE, NULL);
    r = pidkit_pidfile_release(pf);
    if (flags & PIDKIT_PIDFILE_KEEP_FILE) {
        ok(r >= 0 && has_pid(path, getpid()), "[%s] the parent's release keeps the file (%d)", tag, r);
        unlink(path);
    } else {
        ok(r >= 0 && !exists(path), "[%s] the parent's release then removes the file (%d)", tag, r);
    }
    rp = sv_acquire(&s, path, 0);
    ok(rp.r == 0, "[%s] ... and the third process can acquire (%d)", tag, rp.r);
    sv_op(&s, OP_RELEASE, NULL);
    sv_stop(&s);
    munmap(F, sizeof *F);
    rmtree(d);
}

static void test_fork_child_write(void)
{
    char d[PATH_MAX], path[PATH_MAX], ch;
    struct servant s;
    int go[2], ready[2];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "fw.pid");
    struct fork_shm *F = shared(sizeof *F);
    if (!F || pipe2(go, O_CLOEXEC) || pipe2(ready, O_CLOEXEC))
        return;
    pidkit_pidfile *pf = NULL;
    int r = pidkit_pidfile_acquire(path, NULL, &pf, NULL);
    if (r != 0) {
        ok(0, "fork+write: the parent acquires (%d %s)", r, emsg(r));
        rmtree(d);
        return;
    }
    F->w = F->rel = -9999;
    pid_t c = xfork();
    if (c == 0) {
        F->w = pidkit_pidfile_write(pf);
        if (write(ready[1], "x", 1) != 1 || read(go[0], &ch, 1) != 1)
            _exit(1);
        F->rel = pidkit_pidfile_release(pf);
        F->exists_after = exists(path);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    bool rd = readn_timeout(ready[0], &ch, 1, 5000) == 0;
    ok(rd && F->w >= 0, "a forked child's pidkit_pidfile_write: %d", F->w);
    ok(has_pid(path, c), "... the file names the child (\"%s\", child %d)", content(path), (int)c);
    pid_t h = -777;
    r = pidkit_pidfile_check(path, &h);
    ok(r == 1 && h == c, "... check: 1, holder = the child (%d, %d)", r, (int)h);
    r = pidkit_pidfile_release(pf);
    ok(r >= 0 && has_pid(path, c), "the parent's later release leaves the child's file (%d, \"%s\")", r, content(path));
    if (!sv_start(&s))
        return;
    struct reply rp = sv_acquire(&s, path, 0);
    ok(rp.r == -EEXIST && rp.holder == c, "... and the lock: a third process gets -EEXIST, holder = child (%d, %d)", rp.r,
       (int)rp.holder);
    if (write(go[1], "x", 1) != 1)
        diag("cannot wake the child");
    bool exited = reap(c, 5000, NULL);
    ok(exited && F->rel >= 0 && !F->exists_after, "the child's release removes the file (%d)", F->rel);
    ok(!exists(path), "... gone for the parent too");
    rp = sv_acquire(&s, path, 0);
    ok(rp.r == 0, "... and the third process can acquire now (%d)", rp.r);
    sv_op(&s, OP_RELEASE, NULL);
    sv_stop(&s);
    close(ready[0]);
    close(go[1]);
    munmap(F, sizeof *F);
    rmtree(d);
}

struct exec_shm {
    int r, fd, cloexec;
    pid_t b;
    int execd;
};

/* Process A acquires (with or without INHERIT), fork+execs B (a sleeping copy of
 * this program), waits until the exec happened, and dies without releasing. The
 * lock then exists only if B inherited it: the result is unambiguous. */
static void test_exec(bool inherit)
{
    char d[PATH_MAX], path[PATH_MAX], fdpath[64];
    const char *tag = inherit ? "INHERIT" : "default";
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "exec.pid");
    struct exec_shm *E = shared(sizeof *E);
    if (!E)
        return;
    E->r = -9999;
    E->fd = -1;
    pid_t a = xfork();
    if (a == 0) {
        pidkit_pidfile *pf = NULL;
        pidkit_pidfile_opts o = opts(inherit ? PIDKIT_PIDFILE_INHERIT : 0, 0, 0);
        E->r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
        if (E->r != 0)
            _exit(1);
        E->fd = pidkit_pidfile_fd(pf);
        E->cloexec = (fcntl(E->fd, F_GETFD) & FD_CLOEXEC) != 0;
        int ep[2];
        if (pipe2(ep, O_CLOEXEC) != 0)
            _exit(1);
        pid_t b = fork();
        if (b == 0) {
            close(ep[0]);
            execl(self_exe, "test_pidfile", "--pidkit-sleep", (char *)NULL);
            _exit(127);
        }
        close(ep[1]);
        char ch;
        E->execd = b > 0 && read(ep[0], &ch, 1) == 0;   /* EOF: the exec closed the pipe */
        E->b = b;
        _exit(0);                                       /* dies holding it: no release */
    }
    reap(a, 5000, NULL);
    track(E->b);                                        /* re-parented to us (subreaper) */
    ok(E->r == 0 && E->execd, "[%s] process A acquires and execs a child B (%d)", tag, E->r);
    ok(E->fd >= 0 && E->cloexec == !inherit, "[%s] the handle's fd is %s", tag, inherit ? "not close-on-exec" : "close-on-exec");
    struct stat fst, pst;
    snprintf(fdpath, sizeof fdpath, "/proc/%d/fd/%d", (int)E->b, E->fd);
    bool has = E->b > 0 && stat(fdpath, &fst) == 0 && stat(path, &pst) == 0 && fst.st_ino == pst.st_ino && fst.st_dev == pst.st_dev;
    ok(has == inherit, "[%s] exec'd B %s the pidfile open", tag, inherit ? "has" : "does not have");
    pid_t h = -777;
    int c = pidkit_pidfile_check(path, &h);
    if (inherit)
        ok(c == 1 && h == 0,
           "[%s] A is dead, B holds the lock: check 1, holder 0 (the file names dead A, which carries no lock: "
           "got %d, holder %d)", tag, c, (int)h);
    else
        ok(c == 0, "[%s] A is dead and B holds nothing: check 0 (%d, holder %d)", tag, c, (int)h);
    if (!sv_start(&s))
        return;
    struct reply rp = sv_acquire(&s, path, 0);
    if (inherit)
        ok(rp.r == -EEXIST && rp.holder == a, "[%s] a third process gets -EEXIST (%d, holder %d)", tag, rp.r, (int)rp.holder);
    else
        ok(rp.r == 0, "[%s] a third process acquires (%d %s)", tag, rp.r, show(rp.msg));
    if (rp.r == 0)
        sv_op(&s, OP_RELEASE, NULL);
    if (E->b > 0) {
        kill(E->b, SIGKILL);
        reap(E->b, 5000, NULL);
    }
    if (inherit) {
        c = pidkit_pidfile_check(path, &h);
        rp = sv_acquire(&s, path, 0);
        ok(c == 0 && rp.r == 0, "[%s] once B is killed the file is stale and taken over (%d, %d)", tag, c, rp.r);
        if (rp.r == 0)
            sv_op(&s, OP_RELEASE, NULL);
    }
    sv_stop(&s);
    munmap(E, sizeof *E);
    rmtree(d);
}

/* The daemon pattern: the parent acquires, a forked child takes ownership with
 * pidkit_pidfile_write and execs; then the parent releases its copy (as former
 * owner it only closes). The file keeps naming the live exec'd child either
 * way, so only the lock tells whether the child kept it: with INHERIT it is
 * held, without it the file is stale. */
static void test_exec_after_write(bool inherit)
{
    char d[PATH_MAX], path[PATH_MAX];
    const char *tag = inherit ? "INHERIT" : "default";
    struct servant s;
    int ep[2];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "execw.pid");
    pidkit_pidfile *pf = NULL;
    pidkit_pidfile_opts o = opts(inherit ? PIDKIT_PIDFILE_INHERIT : 0, 0, 0);
    int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
    if (r != 0 || pipe2(ep, O_CLOEXEC) != 0) {
        ok(0, "[%s] exec after write: the parent acquires (%d %s)", tag, r, emsg(r));
        rmtree(d);
        return;
    }
    pid_t b = xfork();
    if (b == 0) {
        close(ep[0]);
        if (pidkit_pidfile_write(pf) < 0)
            _exit(1);
        execl(self_exe, "test_pidfile", "--pidkit-sleep", (char *)NULL);
        _exit(127);
    }
    close(ep[1]);
    char ch;
    bool execd = b > 0 && readn_timeout(ep[0], &ch, 1, 5000) != 0;   /* EOF: exec happened */
    close(ep[0]);
    int w = 0;
    bool alive = b > 0 && waitpid(b, &w, WNOHANG) == 0;
    ok(execd && alive && has_pid(path, b), "[%s] a forked child writes its pid and execs (\"%s\", child %d)", tag, content(path), (int)b);
    r = pidkit_pidfile_release(pf);
    ok(r >= 0 && has_pid(path, b), "[%s] the parent (former owner) releases its copy: the file stays (%d)", tag, r);
    pid_t h = -777;
    int c = pidkit_pidfile_check(path, &h);
    if (inherit)
        ok(c == 1 && h == b, "[%s] the exec'd child holds the lock: check 1, holder %d (%d)", tag, (int)h, c);
    else
        ok(c == 0, "[%s] the exec'd child does not hold it: check 0 though the file names a live pid (%d)", tag, c);
    if (sv_start(&s)) {
        struct reply rp = sv_acquire(&s, path, 0);
        if (inherit)
            ok(rp.r == -EEXIST && rp.holder == b, "[%s] a third process gets -EEXIST, holder = the exec'd child (%d, %d)", tag, rp.r,
               (int)rp.holder);
        else
            ok(rp.r == 0 && has_pid(path, s.pid), "[%s] a third process acquires it (%d %s)", tag, rp.r, show(rp.msg));
        if (rp.r == 0)
            sv_op(&s, OP_RELEASE, NULL);
        sv_stop(&s);
    }
    kill(b, SIGKILL);
    reap(b, 5000, NULL);
    rmtree(d);
}

static void test_wait(void)
{
    char d[PATH_MAX], path[PATH_MAX], free_path[PATH_MAX];
    struct servant s1, s2;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "w.pid");
    pjoin(free_path, d, "free.pid");
    if (!sv_start(&s1) || !sv_start(&s2))
        return;
    struct reply rp = sv_acquire(&s1, path, 0);
    ok(rp.r == 0, "WAIT: a holder process acquires (%d)", rp.r);

    rp = sv(&s2, (struct cmd){ .op = OP_ACQUIRE, .flags = PIDKIT_PIDFILE_WAIT, .timeout_ms = 300 }, path);
    ok(rp.r == -ETIMEDOUT, "WAIT timeout_ms=300 on a held file: -ETIMEDOUT (%d %s)", rp.r, show(rp.msg));
    ok(rp.ms >= 250 && rp.ms <= 2000, "... after roughly 300 ms (%ld ms)", rp.ms);
    ok(rp.holder == s1.pid, "... *holder = the holder (%d, want %d)", (int)rp.holder, (int)s1.pid);
    ok(names(rp.msg, path), "... message names the path");
    ok(rp.cpu < 100, "... without a busy loop (%ld ms CPU)", rp.cpu);

    rp = sv(&s2, (struct cmd){ .op = OP_ACQUIRE, .flags = PIDKIT_PIDFILE_WAIT, .timeout_ms = 0 }, path);
    ok(rp.r == -EEXIST && rp.ms < 200 && rp.holder == s1.pid,
       "WAIT timeout_ms=0 tries once: -EEXIST as without the flag (%d in %ld ms, holder %d)", rp.r, rp.ms, (int)rp.holder);

    rp = sv(&s2, (struct cmd){ .op = OP_ACQUIRE, .flags = PIDKIT_PIDFILE_WAIT, .timeout_ms = 300 }, free_path);
    ok(rp.r == 0 && rp.ms < 200, "WAIT on a free path: 0 at once (%d in %ld ms)", rp.r, rp.ms);
    if (rp.r == 0)
        sv_op(&s2, OP_RELEASE, NULL);

    /* The holder releases after ~200 ms while the other waits. */
    sv_post(&s1, (struct cmd){ .op = OP_RELEASE, .delay_ms = 200 }, NULL);
    rp = sv(&s2, (struct cmd){ .op = OP_ACQUIRE, .flags = PIDKIT_PIDFILE_WAIT, .timeout_ms = 5000 }, path);
    struct reply rel = sv_wait(&s1, 5000);
    ok(rp.r == 0, "WAIT succeeds when the holder releases (%d %s)", rp.r, show(rp.msg));
    ok(rp.ms >= 100 && rp.ms <= 2000, "... after about 200 ms (%ld ms)", rp.ms);
    ok(rel.r >= 0 && has_pid(path, s2.pid), "... the file names the waiter (\"%s\")", content(path));

    /* Now s2 holds; it dies after ~200 ms while s1 waits forever. */
    sv_post(&s2, (struct cmd){ .op = OP_EXIT, .delay_ms = 200 }, NULL);
    rp = sv(&s1, (struct cmd){ .op = OP_ACQUIRE, .flags = PIDKIT_PIDFILE_WAIT, .timeout_ms = -1 }, path);
    ok(rp.r == 0 && rp.ms <= 2000, "WAIT timeout -1 succeeds when the holder dies (%d in %ld ms)", rp.r, rp.ms);
    ok(has_pid(path, s1.pid), "... the file names the new holder (\"%s\")", content(path));
    reap(s2.pid, 5000, NULL);
    s2.pid = -1;
    sv_stop(&s2);
    if (rp.r == 0)
        sv_op(&s1, OP_RELEASE, NULL);
    sv_kill9(&s1, NULL);
    rmtree(d);
}

struct race_shm {
    atomic_int tried, winners, eexist, other, other_r, winner;
    int holders[64];
};

static void test_race(int nproc, int rounds)
{
    char d1[PATH_MAX], d2[PATH_MAX], path[PATH_MAX], name[32];
    if (nproc > 64 || !newdir(d1, "/tmp") || !newdir(d2, "/dev/shm"))
        return;
    struct race_shm *R = shared(sizeof *R);
    if (!R)
        return;
    int bad_winners = 0, bad_content = 0, bad_holder = 0, others = 0, left = 0, stuck = 0, last_other = 0;
    long t0 = now_ms();
    for (int round = 0; round < rounds; round++) {
        snprintf(name, sizeof name, "race-%d.pid", round);
        pjoin(path, round % 2 ? d2 : d1, name);
        memset(R, 0, sizeof *R);
        for (int i = 0; i < 64; i++)
            R->holders[i] = -1;
        int go[2], done[2];
        if (pipe2(go, O_CLOEXEC) || pipe2(done, O_CLOEXEC))
            break;
        pid_t pids[64];
        int n = 0;
        for (int i = 0; i < nproc; i++) {
            pid_t c = xfork();
            if (c == 0) {
                char ch;
                close(go[1]);
                close(done[1]);
                if (read(go[0], &ch, 1) < 0)
                    _exit(3);
                pidkit_pidfile *pf = NULL;
                pid_t h = -777;
                int r = pidkit_pidfile_acquire(path, NULL, &pf, &h);
                if (r == 0) {
                    atomic_fetch_add(&R->winners, 1);
                    atomic_store(&R->winner, (int)getpid());
                } else if (r == -EEXIST) {
                    atomic_fetch_add(&R->eexist, 1);
                    R->holders[i] = (int)h;
                } else {
                    atomic_fetch_add(&R->other, 1);
                    atomic_store(&R->other_r, r);
                }
                atomic_fetch_add(&R->tried, 1);
                if (read(done[0], &ch, 1) < 0)
                    _exit(3);
                if (r == 0)
                    pidkit_pidfile_release(pf);
                _exit(0);
            }
            if (c > 0)
                pids[n++] = c;
        }
        close(go[0]);
        close(done[0]);
        close(go[1]);                        /* start: every child reads EOF at once */
        long end = now_ms() + 10000;
        while (atomic_load(&R->tried) < n && now_ms() < end)
            usleep(500);
        if (atomic_load(&R->tried) < n)
            stuck++;
        int w = atomic_load(&R->winner);
        if (atomic_load(&R->winners) != 1)
            bad_winners++;
        else if (!has_pid(path, w))
            bad_content++;
        for (int i = 0; i < n; i++)
            if (R->holders[i] != -1 && R->holders[i] != w && R->holders[i] != 0)
                bad_holder++;
        if (atomic_load(&R->other)) {
            others += atomic_load(&R->other);
            last_other = atomic_load(&R->other_r);
        }
        close(done[1]);                      /* the winner releases, everyone exits */
        for (int i = 0; i < n; i++)
            reap(pids[i], 5000, NULL);
        if (exists(path))
            left++;
    }
    ok(stuck == 0, "race: %d processes x %d rounds all finished (%ld ms)", nproc, rounds, now_ms() - t0);
    ok(bad_winners == 0, "race: exactly one winner in every round (%d bad rounds)", bad_winners);
    ok(bad_content == 0, "race: the file names the winner in every round (%d bad)", bad_content);
    ok(others == 0, "race: every loser got -EEXIST (%d other results, last %d)", others, last_other);
    ok(bad_holder == 0, "race: every loser's holder is the winner (or 0 mid-write) (%d bad)", bad_holder);
    ok(left == 0, "race: the winner's release removed the file every round (%d left)", left);
    munmap(R, sizeof *R);
    rmtree(d1);
    rmtree(d2);
}

struct loop_shm {
    atomic_int inside, overlap, badcontent, other, other_r, eexist, spurious, stop;
    atomic_int wins[2], iters[2];
    atomic_int c_held, c_free, c_badholder, c_badr, torn, readerr, last_bad;
};

static void acquire_loop(struct loop_shm *L, const char *path, int idx, long until, bool alone, uint32_t flags)
{
    pid_t me = getpid();
    pidkit_pidfile_opts o = PIDKIT_PIDFILE_OPTS_INIT;
    o.flags = flags;
    while (now_ms() < until) {
        pidkit_pidfile *pf = NULL;
        int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
        atomic_fetch_add(&L->iters[idx], 1);
        if (r == 0) {
            if (atomic_fetch_add(&L->inside, 1) != 0)
                atomic_fetch_add(&L->overlap, 1);
            if (!has_pid(path, me))
                atomic_fetch_add(&L->badcontent, 1);
            sched_yield();
            atomic_fetch_sub(&L->inside, 1);
            if (pidkit_pidfile_release(pf) < 0)
                atomic_fetch_add(&L->other, 1);
            atomic_fetch_add(&L->wins[idx], 1);
        } else if (r == -EEXIST) {
            atomic_fetch_add(alone ? &L->spurious : &L->eexist, 1);
        } else {
            atomic_fetch_add(&L->other, 1);
            atomic_store(&L->other_r, r);
        }
        sched_yield();
    }
}

static void test_two_acquirers(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    if (!newdir(d, "/dev/shm"))
        return;
    pjoin(path, d, "two.pid");
    struct loop_shm *L = shared(sizeof *L);
    if (!L)
        return;
    long until = now_ms() + 800;
    pid_t p[2];
    for (int i = 0; i < 2; i++) {
        p[i] = xfork();
        if (p[i] == 0) {
            acquire_loop(L, path, i, until, false, 0);
            _exit(0);
        }
    }
    for (int i = 0; i < 2; i++)
        reap(p[i], 10000, NULL);
    ok(L->overlap == 0, "two processes looping acquire/release: never two holders at once (%d overlaps in %d+%d tries)",
       L->overlap, L->iters[0], L->iters[1]);
    ok(L->badcontent == 0, "... each holder always found its own pid in the file (%d bad)", L->badcontent);
    ok(L->other == 0, "... only 0 or -EEXIST results (%d others, last %d)", L->other, L->other_r);
    ok(L->wins[0] > 0 && L->wins[1] > 0, "... both won sometimes (%d, %d wins; %d -EEXIST)", L->wins[0], L->wins[1], L->eexist);
    ok(!exists(path), "... the file is gone at the end");
    munmap(L, sizeof *L);
    rmtree(d);
}

/* With KEEP_FILE the file stays between the acquirer's cycles: unlocked, it
 * is stale and check has to probe it with a shared lock whenever
 * /proc/locks shows nothing, which an acquire may meet and must not report. */
static void test_checker_vs_acquirer(uint32_t flags)
{
    const char *how = flags & PIDKIT_PIDFILE_KEEP_FILE ? "[KEEP_FILE] " : "";
    char d[PATH_MAX], path[PATH_MAX];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "cva.pid");
    struct loop_shm *L = shared(sizeof *L);
    if (!L)
        return;
    long until = now_ms() + 800;
    pid_t a = xfork();
    if (a == 0) {
        acquire_loop(L, path, 0, until, true, flags);
        _exit(0);
    }
    pid_t c = xfork();
    if (c == 0) {
        while (!atomic_load(&L->stop)) {
            pid_t h = -777;
            int r = pidkit_pidfile_check(path, &h);
            if (r == 1) {
                atomic_fetch_add(&L->c_held, 1);
                if (h != a && h != 0) {
                    atomic_fetch_add(&L->c_badholder, 1);
                    atomic_store(&L->last_bad, h);
                }
            } else if (r == 0) {
                atomic_fetch_add(&L->c_free, 1);
            } else {
                atomic_fetch_add(&L->c_badr, 1);
                atomic_store(&L->last_bad, r);
            }
            pid_t v = -777;
            r = pidkit_pidfile_read(path, &v);
            if (r >= 0 && v != a)
                atomic_fetch_add(&L->torn, 1);
            else if (r < 0 && r != -ENOENT && r != -EBADMSG)
                atomic_fetch_add(&L->readerr, 1);
        }
        _exit(0);
    }
    reap(a, 10000, NULL);
    atomic_store(&L->stop, 1);
    reap(c, 5000, NULL);
    ok(L->spurious == 0, "%sa checker looping check+read never causes a lone acquirer a spurious -EEXIST (%d in %d acquires)",
       how, L->spurious, L->iters[0]);
    ok(L->other == 0 && L->wins[0] == L->iters[0] && L->iters[0] > 20,
       "%s... every one of its %d acquires succeeded (%d wins, %d other errors, last %d)", how, L->iters[0], L->wins[0], L->other,
       L->other_r);
    ok(L->c_badr == 0 && L->c_badholder == 0,
       "%s... check only ever said 0 or 1 with holder = the acquirer or 0 (%d bad results, %d bad holders, last %d)", how, L->c_badr,
       L->c_badholder, L->last_bad);
    ok(L->c_held > 0 && L->c_free > 0, "%s... check saw the file both held (%d) and not held (%d)", how, L->c_held, L->c_free);
    ok(L->torn == 0 && L->readerr == 0, "%s... read never saw a torn or foreign pid (%d torn, %d odd errors)", how, L->torn,
       L->readerr);
    munmap(L, sizeof *L);
    rmtree(d);
}

/* The lock, not the pid in the file, says who holds it: a holder died while
 * the child it forked keeps the lock (it inherited the descriptor), and its
 * pid has been "recycled" by an unrelated process (simulated by writing that
 * process's pid into the file). kill must not signal that process. */
static void test_kill_inherited_lock(void)
{
    char d[PATH_MAX], path[PATH_MAX], buf[32];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "inh.pid");
    int p[2];
    if (pipe(p) != 0)
        return;
    pid_t h = xfork();
    if (h == 0) {
        pidkit_pidfile *pf = NULL;
        if (pidkit_pidfile_acquire(path, NULL, &pf, NULL) != 0)
            _exit(1);
        pid_t w = fork(); /* the worker: inherits the descriptor, never takes over */
        if (w == 0) {
            for (;;)
                pause();
        }
        if (write(p[1], &w, sizeof w) != (ssize_t)sizeof w)
            _exit(1);
        _exit(0); /* dies holding the handle: the worker keeps the lock */
    }
    close(p[1]);
    pid_t w = -1;
    bool up = readn_timeout(p[0], &w, sizeof w, 5000) == 0 && w > 0;
    close(p[0]);
    reap(h, 5000, NULL); /* the worker is an orphan now: ours, as we are a subreaper */
    pid_t bystander = xfork();
    if (bystander == 0) {
        for (;;)
            pause();
    }
    snprintf(buf, sizeof buf, "%d\n", (int)bystander);
    bool rewritten = spits(path, buf) == 0;
    pid_t got = -777;
    int c = pidkit_pidfile_check(path, &got);
    ok(up && rewritten && c == 1, "a worker that inherited the lock keeps the file held after its parent died (check %d)", c);
    pid_t holder = -777;
    int r = pidkit_pidfile_kill(path, SIGTERM, &holder);
    usleep(50000);
    int st = 0;
    pid_t dead = waitpid(bystander, &st, WNOHANG);
    ok(r == -ESRCH && holder == -777 && dead == 0,
       "kill when the file names a process that does not carry the lock: -ESRCH, that process not signalled (%d %s, reaped %d)",
       r, emsg(r), (int)dead);
    ok(strstr(pidkit_last_error(), "not by pid") != NULL, "... and the message says so: \"%s\"", show(pidkit_last_error()));
    snprintf(buf, sizeof buf, "%d\n", (int)w);
    rewritten = spits(path, buf) == 0;
    holder = -777;
    r = pidkit_pidfile_kill(path, 0, &holder);
    ok(rewritten && r >= 0 && holder == w, "naming the worker that carries the lock, kill(sig 0) succeeds (%d, holder %d)", r,
       (int)holder);
    kill(bystander, SIGKILL);
    reap(bystander, 5000, NULL);
    if (up) {
        kill(w, SIGKILL);
        reap(w, 5000, NULL);
    }
    rmtree(d);
}

static void test_kill(void)
{
    char d[PATH_MAX], path[PATH_MAX], none[PATH_MAX], nw[PATH_MAX], buf[32];
    struct servant s, s2;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "kill.pid");
    pjoin(none, d, "none.pid");
    pjoin(nw, d, "nw.pid");
    if (!sv_start(&s) || !sv_start(&s2))
        return;
    pid_t spid = s.pid;
    struct reply rp = sv_acquire(&s, path, 0);
    pid_t h = -777;
    int r = pidkit_pidfile_kill(path, SIGUSR1, &h);
    ok(rp.r == 0 && r >= 0 && h == spid, "kill(SIGUSR1) of a held file: %d, holder %d (%s)", r, (int)h, emsg(r));
    rp = sv_op(&s, OP_USR1, NULL);
    ok(rp.r == 1, "... the holder caught SIGUSR1 (%d)", rp.r);
    h = -777;
    r = pidkit_pidfile_kill(path, 0, &h);
    rp = sv_op(&s, OP_USR1, NULL);
    ok(r >= 0 && h == spid && rp.r == 1, "kill(sig 0): succeeds, holder %d, sends nothing (%d, caught %d)", (int)h, r, rp.r);
    r = pidkit_pidfile_kill(path, 12345, NULL);
    rp = sv_op(&s, OP_USR1, NULL);
    ok(r == -EINVAL && rp.r == 1, "kill with an invalid signal number: -EINVAL (%d)", r);
    r = pidkit_pidfile_kill(path, SIGTERM, NULL);
    int st = 0;
    bool died = reap(spid, 5000, &st);
    s.pid = -1;
    sv_stop(&s);
    ok(r >= 0 && died && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "kill(SIGTERM) kills the holder (%d)", r);
    h = -777;
    r = pidkit_pidfile_kill(path, SIGTERM, &h);
    ok(r == -ESRCH && h == -777, "kill of the now stale file: -ESRCH, *holder untouched (%d, %d)", r, (int)h);
    ok(names(pidkit_last_error(), path), "... message names the path: \"%s\"", show(pidkit_last_error()));
    r = pidkit_pidfile_kill(none, SIGTERM, NULL);
    ok(r == -ESRCH && names(pidkit_last_error(), none), "kill of an absent file: -ESRCH with the path in the message (%d)", r);
    ok(!exists(none), "... creates nothing");

    /* A stale file naming a live process that holds nothing: never signalled. */
    snprintf(buf, sizeof buf, "%d\n", (int)s2.pid);
    spits(path, buf);
    r = pidkit_pidfile_kill(path, SIGUSR1, NULL);
    rp = sv_op(&s2, OP_USR1, NULL);
    ok(r == -ESRCH && rp.r == 0, "kill of a stale file naming a live process: -ESRCH, no signal sent (%d, caught %d)", r, rp.r);

    /* NO_WRITE: held, but no pid yet. */
    rp = sv_acquire(&s2, nw, PIDKIT_PIDFILE_NO_WRITE);
    r = pidkit_pidfile_kill(nw, SIGUSR1, NULL);
    struct reply cnt = sv_op(&s2, OP_USR1, NULL);
    ok(rp.r == 0 && r == -ESRCH && cnt.r == 0, "kill of a NO_WRITE file before its pid is written: -ESRCH (%d)", r);
    rp = sv_op(&s2, OP_WRITE, NULL);
    r = pidkit_pidfile_kill(nw, SIGUSR1, NULL);
    cnt = sv_op(&s2, OP_USR1, NULL);
    ok(rp.r >= 0 && r >= 0 && cnt.r == 1, "... after pidkit_pidfile_write it signals the holder (%d, caught %d)", r, cnt.r);
    sv_op(&s2, OP_RELEASE, NULL);
    sv_stop(&s2);
    rmtree(d);
}

static void test_null_args(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "null.pid");
    pidkit_pidfile *sentinel = (pidkit_pidfile *)(uintptr_t)0x1234, *pf = sentinel;
    int r = pidkit_pidfile_acquire(NULL, NULL, &pf, NULL);
    ok(r == -EINVAL && pf == sentinel && *pidkit_last_error(), "acquire(path NULL): -EINVAL, message \"%s\"", emsg(r));
    r = pidkit_pidfile_acquire(path, NULL, NULL, NULL);
    ok(r == -EINVAL && !exists(path), "acquire(out NULL): -EINVAL, nothing created (%d)", r);
    r = pidkit_pidfile_acquire("", NULL, &pf, NULL);
    ok(r == -ENOENT && pf == sentinel, "acquire(\"\"): -ENOENT (%d)", r);
    pf = NULL;
    r = pidkit_pidfile_acquire(path, NULL, &pf, NULL);
    ok(r == 0 && pf && has_pid(path, getpid()), "acquire(opts NULL, holder NULL): defaults, 0 (%d %s)", r, emsg(r));
    ok(mode_of(path) == 0644, "... default mode 0644 (0%o)", (unsigned)mode_of(path));
    ok(pidkit_pidfile_release(NULL) == 0, "release(NULL): 0");
    ok(pidkit_pidfile_fd(NULL) == -EINVAL, "fd(NULL): -EINVAL");
    ok(pidkit_pidfile_write(NULL) == -EINVAL, "write(NULL): -EINVAL");
    pid_t h = -777;
    ok(pidkit_pidfile_check(NULL, &h) == -EINVAL && h == -777, "check(path NULL): -EINVAL");
    ok(pidkit_pidfile_check(path, NULL) == 1, "check(holder NULL) of a held file: 1");
    ok(pidkit_pidfile_read(NULL, &h) == -EINVAL, "read(path NULL): -EINVAL");
    ok(pidkit_pidfile_read(path, NULL) == -EINVAL, "read(pid NULL): -EINVAL");
    ok(pidkit_pidfile_kill(NULL, 0, NULL) == -EINVAL, "kill(path NULL): -EINVAL");
    r = pidkit_pidfile_kill(path, 0, NULL);
    ok(r >= 0, "kill(sig 0, holder NULL) of a file the caller holds: %d", r);
    r = pf ? pidkit_pidfile_release(pf) : -1;
    ok(r >= 0 && !exists(path), "release of the default handle removes the file (%d)", r);
    rmtree(d);
}

static void test_flags_and_sizes(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "sz.pid");
    uint32_t unknown = 0;
    for (int b = 31; b >= 0; b--)
        if (!(KNOWN_FLAGS & (1u << b))) {
            unknown = 1u << b;
            break;
        }
    pidkit_pidfile *pf = NULL;
    pidkit_pidfile_opts o = opts(unknown, 0, 0);
    int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
    ok(r == -EINVAL && *pidkit_last_error(), "unknown flag bit 0x%x: -EINVAL (%d: %s)", unknown, r, emsg(r));
    ok(!exists(path), "... nothing created");
    o = opts(unknown | PIDKIT_PIDFILE_NO_WRITE, 0, 0);
    r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
    ok(r == -EINVAL && !exists(path), "a known flag plus an unknown bit: -EINVAL (%d)", r);

    o = opts(KNOWN_FLAGS, 0, 0);
    pf = NULL;
    r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
    struct stat st;
    ok(r == 0 && lstat(path, &st) == 0 && st.st_size == 0, "all known flags together: 0, file empty (NO_WRITE) (%d %s)", r, emsg(r));
    if (r == 0) {
        r = pidkit_pidfile_release(pf);
        ok(r >= 0 && exists(path), "... release keeps the file (KEEP_FILE)");
        unlink(path);
    }

    /* An older caller: size 8 (size + flags). The bytes past it are garbage that must be ignored. */
    pidkit_pidfile_opts old = opts(0, 0600, 1234);
    old.size = 8;
    pf = NULL;
    r = pidkit_pidfile_acquire(path, &old, &pf, NULL);
    ok(r == 0, "opts->size 8 (older struct: size+flags) works (%d %s)", r, emsg(r));
    ok(mode_of(path) == 0644, "... the mode member past size is ignored: 0644 (0%o)", (unsigned)mode_of(path));
    if (r == 0)
        pidkit_pidfile_release(pf);

    /* size 12 (no timeout_ms) with WAIT and a garbage -1 there: timeout counts as 0, so no hang. */
    if (sv_start(&s)) {
        pidkit_pidfile *held = NULL;
        r = pidkit_pidfile_acquire(path, NULL, &held, NULL);
        struct reply rp = sv(&s, (struct cmd){ .op = OP_ACQUIRE, .flags = PIDKIT_PIDFILE_WAIT, .timeout_ms = -1, .size = 12 }, path);
        ok(r == 0 && (rp.r == -EEXIST || rp.r == -ETIMEDOUT) && rp.ms < 1000,
           "opts->size 12 with WAIT: the missing timeout_ms is 0, no wait (%d in %ld ms)", rp.r, rp.ms);
        sv_kill9(&s, NULL);
        if (r == 0)
            pidkit_pidfile_release(held);
    }

    pidkit_pidfile_opts tiny = opts(0, 0, 0);
    tiny.size = 4;
    r = pidkit_pidfile_acquire(path, &tiny, &pf, NULL);
    ok(r == -EINVAL && !exists(path), "opts->size 4: -EINVAL, nothing created (%d)", r);
    tiny.size = 0;
    r = pidkit_pidfile_acquire(path, &tiny, &pf, NULL);
    ok(r == -EINVAL, "opts->size 0: -EINVAL (%d)", r);
    tiny.size = 7;
    r = pidkit_pidfile_acquire(path, &tiny, &pf, NULL);
    ok(r == -EINVAL, "opts->size 7: -EINVAL (%d)", r);

    static union { pidkit_pidfile_opts o; unsigned char b[4200]; } big;
    memset(&big, 0, sizeof big);
    big.o.size = 4097;
    r = pidkit_pidfile_acquire(path, &big.o, &pf, NULL);
    ok(r == -E2BIG && !exists(path), "opts->size 4097 (zero-filled): -E2BIG (%d)", r);
    big.o.size = 4096;
    pf = NULL;
    r = pidkit_pidfile_acquire(path, &big.o, &pf, NULL);
    ok(r == 0, "opts->size 4096 with zero trailing bytes: 0 (%d %s)", r, emsg(r));
    if (r == 0)
        pidkit_pidfile_release(pf);
    big.o.size = (uint32_t)sizeof(pidkit_pidfile_opts) + 16;
    pf = NULL;
    r = pidkit_pidfile_acquire(path, &big.o, &pf, NULL);
    ok(r == 0, "a larger size (+16) with zero trailing bytes: 0 (%d)", r);
    if (r == 0)
        pidkit_pidfile_release(pf);
    big.b[sizeof(pidkit_pidfile_opts) + 15] = 1;
    r = pidkit_pidfile_acquire(path, &big.o, &pf, NULL);
    ok(r == -E2BIG && !exists(path), "a larger size with a non-zero trailing byte: -E2BIG, nothing created (%d)", r);
    big.b[sizeof(pidkit_pidfile_opts) + 15] = 0;
    big.b[sizeof(pidkit_pidfile_opts) + 16] = 1;      /* just past size: not part of it */
    pf = NULL;
    r = pidkit_pidfile_acquire(path, &big.o, &pf, NULL);
    ok(r == 0, "... a non-zero byte just past size is not looked at (%d)", r);
    if (r == 0)
        pidkit_pidfile_release(pf);

    pidkit_pidfile_opts zero;
    memset(&zero, 0, sizeof zero);
    zero.size = sizeof zero;
    pf = NULL;
    r = pidkit_pidfile_acquire(path, &zero, &pf, NULL);
    ok(r == 0 && has_pid(path, getpid()) && mode_of(path) == 0644, "zero-filled opts with size: defaults (%d)", r);
    if (r == 0) {
        pidkit_pidfile_release(pf);
        ok(!exists(path), "... release removes (no KEEP_FILE by default)");
    }
    ok(entries(d) == 0, "no file left by the options tests (%d)", entries(d));
    rmtree(d);
}

static void test_mode(void)
{
    static const struct { mode_t umask; uint32_t mode; mode_t want; } cases[] = {
        { 022, 0600, 0600 }, { 022, 0, 0644 }, { 022, 0666, 0644 }, { 027, 0, 0640 }, { 077, 0644, 0600 }, { 0, 0, 0644 },
    };
    char d[PATH_MAX], path[PATH_MAX];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "mode.pid");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mode_t old = umask(cases[i].umask);
        pidkit_pidfile *pf = NULL;
        pidkit_pidfile_opts o = opts(0, cases[i].mode, 0);
        int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
        umask(old);
        ok(r == 0 && mode_of(path) == cases[i].want, "mode 0%o under umask 0%03o: 0%o (got 0%o, %d)", (unsigned)cases[i].mode,
           (unsigned)cases[i].umask, (unsigned)cases[i].want, (unsigned)mode_of(path), r);
        if (r == 0)
            pidkit_pidfile_release(pf);
        unlink(path);
    }
    rmtree(d);
}

static void test_relative(void)
{
    char d1[PATH_MAX], d2[PATH_MAX], p1[PATH_MAX], p2[PATH_MAX];
    if (!newdir(d1, "/tmp") || !newdir(d2, "/tmp"))
        return;
    pjoin(p1, d1, "rel.pid");
    pjoin(p2, d2, "rel.pid");
    spits(p2, "decoy\n");
    pidkit_pidfile *pf = NULL;
    int r = -1;
    if (chdir(d1) == 0)
        r = pidkit_pidfile_acquire("rel.pid", NULL, &pf, NULL);
    ok(r == 0 && has_pid(p1, getpid()), "a relative path resolves against the cwd (%d %s)", r, emsg(r));
    if (chdir(d2) != 0)
        diag("chdir %s: %s", d2, strerror(errno));
    pid_t v = -777;
    int rr = pidkit_pidfile_read("rel.pid", &v);
    ok(rr == -EBADMSG, "after chdir a relative read sees the new cwd's file (%d)", rr);
    int c = pidkit_pidfile_check("rel.pid", NULL);
    ok(c == 0, "... and check too: the decoy there is not held (%d)", c);
    rr = r == 0 ? pidkit_pidfile_release(pf) : -1;
    ok(rr >= 0 && !exists(p1), "release after chdir removes the file it acquired (%d)", rr);
    ok(strcmp(content(p2), "decoy\\n") == 0, "... and leaves the same-named file in the new cwd alone");
    if (chdir(cwd0) != 0)
        diag("chdir back: %s", strerror(errno));
    rmtree(d1);
    rmtree(d2);
}

static void test_eacces(void)
{
    char d[PATH_MAX], path[PATH_MAX], stale[PATH_MAX], held[PATH_MAX];
    struct servant s;
    if (geteuid() != 0) {
        skip("not running as root", "EACCES as nobody");
        return;
    }
    if (!newdir(d, "/tmp"))
        return;
    chmod(d, 0755);
    pjoin(path, d, "x.pid");
    pjoin(stale, d, "stale.pid");
    pjoin(held, d, "held.pid");
    spits(stale, "1\n");
    pidkit_pidfile *pf = NULL;
    int r = pidkit_pidfile_acquire(held, NULL, &pf, NULL);
    if (!sv_start(&s))
        return;
    struct reply rp = sv_op(&s, OP_SETUID, NULL);
    if (rp.r != 0) {
        skip("cannot setuid to nobody", "EACCES as nobody (%d)", rp.r);
        sv_stop(&s);
        if (r == 0)
            pidkit_pidfile_release(pf);
        rmtree(d);
        return;
    }
    rp = sv_acquire(&s, path, 0);
    ok(rp.r == -EACCES, "nobody acquiring in a root-owned 0755 directory: -EACCES (%d)", rp.r);
    ok(names(rp.msg, path), "... message names the path: \"%s\"", show(rp.msg));
    ok(!exists(path), "... nothing created");
    rp = sv_acquire(&s, stale, 0);
    ok(rp.r == -EACCES && strcmp(content(stale), "1\\n") == 0, "nobody acquiring a root-owned stale file: -EACCES, file unchanged (%d)", rp.r);
    rp = sv_op(&s, OP_CHECK, held);
    ok(r == 0 && rp.r == 1 && rp.holder == getpid(), "nobody's check of root's held pidfile: 1, holder %d (%d %s)", (int)rp.holder, rp.r,
       show(rp.msg));
    rp = sv_op(&s, OP_READ, held);
    ok(read_ok(rp.r, rp.holder, getpid()), "nobody's read of root's pidfile: the pid (%d)", rp.r);
    ok(entries(d) == 2, "nothing else created (%d entries)", entries(d));
    sv_stop(&s);
    if (r == 0)
        pidkit_pidfile_release(pf);
    rmtree(d);
}

static void test_strict(void)
{
    char d[PATH_MAX], okp[PATH_MAX], ww[PATH_MAX], grp[PATH_MAX], nb[PATH_MAX], wwd[PATH_MAX], wwdp[PATH_MAX];
    char sticky[PATH_MAX], stickyp[PATH_MAX], nbd[PATH_MAX], nbdp[PATH_MAX], tmp_p[PATH_MAX], shm_p[PATH_MAX];
    char m1[512] = "", m2[512] = "", m3[512] = "";
    struct servant s;
    if (!newdir(d, "/tmp"))
        return;
    pidkit_pidfile_opts strict = opts(PIDKIT_PIDFILE_STRICT, 0, 0);
    pidkit_pidfile *pf = NULL;

    pjoin(okp, d, "ok.pid");
    int r = pidkit_pidfile_acquire(okp, &strict, &pf, NULL);
    ok(r == 0, "STRICT: a new file in a private directory: 0 (%d %s)", r, emsg(r));
    if (r == 0)
        pidkit_pidfile_release(pf);
    spits(okp, "1\n");
    pf = NULL;
    r = pidkit_pidfile_acquire(okp, &strict, &pf, NULL);
    ok(r == 0, "STRICT: an own 0644 stale file: 0 (%d %s)", r, emsg(r));
    if (r == 0)
        pidkit_pidfile_release(pf);

    pjoin(grp, d, "grp.pid");
    spit(grp, "1\n", 2, 0664);
    pf = NULL;
    r = pidkit_pidfile_acquire(grp, &strict, &pf, NULL);
    ok(r == 0, "STRICT: a group-writable (not world-writable) file is fine (%d %s)", r, emsg(r));
    if (r == 0)
        pidkit_pidfile_release(pf);

    int n0 = entries(d);
    pjoin(ww, d, "ww.pid");
    spit(ww, "1\n", 2, 0644);
    chmod(ww, 0666);
    r = pidkit_pidfile_acquire(ww, &strict, &pf, NULL);
    snprintf(m1, sizeof m1, "%s", pidkit_last_error());
    ok(r == -EPERM, "STRICT: a world-writable file: -EPERM (%d: %s)", r, show(m1));
    ok(names(m1, ww), "... message names the path");
    ok(strcmp(content(ww), "1\\n") == 0 && mode_of(ww) == 0666 && entries(d) == n0 + 1, "... file unchanged, nothing created");
    pf = NULL;
    r = pidkit_pidfile_acquire(ww, NULL, &pf, NULL);
    ok(r == 0, "... without STRICT the same file is acquired (%d)", r);
    if (r == 0)
        pidkit_pidfile_release(pf);

    if (geteuid() == 0) {
        pjoin(nb, d, "nb.pid");
        spits(nb, "1\n");
        if (chown(nb, NOBODY, (gid_t)NOBODY) != 0)
            diag("chown: %s", strerror(errno));
        n0 = entries(d);
        r = pidkit_pidfile_acquire(nb, &strict, &pf, NULL);
        snprintf(m2, sizeof m2, "%s", pidkit_last_error());
        ok(r == -EPERM, "STRICT: a file owned by another uid (65534): -EPERM (%d: %s)", r, show(m2));
        ok(names(m2, nb), "... message names the path");
        ok(strcmp(content(nb), "1\\n") == 0 && entries(d) == n0, "... file unchanged, nothing created");
        pf = NULL;
        r = pidkit_pidfile_acquire(nb, NULL, &pf, NULL);
        ok(r == 0, "... without STRICT root acquires it (%d)", r);
        if (r == 0)
            pidkit_pidfile_release(pf);
    } else {
        skip("not root: cannot chown", "STRICT: a file owned by another uid");
    }

    pjoin(wwd, d, "wwdir");
    pjoin(wwdp, wwd, "x.pid");
    mkdir(wwd, 0755);
    chmod(wwd, 0777);
    r = pidkit_pidfile_acquire(wwdp, &strict, &pf, NULL);
    snprintf(m3, sizeof m3, "%s", pidkit_last_error());
    ok(r == -EPERM, "STRICT: a world-writable directory without sticky bit: -EPERM (%d: %s)", r, show(m3));
    ok(names(m3, wwdp), "... message names the path");
    ok(!exists(wwdp) && entries(wwd) == 0, "... nothing created");
    pf = NULL;
    r = pidkit_pidfile_acquire(wwdp, NULL, &pf, NULL);
    ok(r == 0, "... without STRICT it is acquired (%d)", r);
    if (r == 0)
        pidkit_pidfile_release(pf);
    ok(strcmp(m1, m2) != 0 && strcmp(m1, m3) != 0 && strcmp(m2, m3) != 0, "STRICT: the three refusals have different messages (each says which check failed)");

    pjoin(sticky, d, "sticky");
    pjoin(stickyp, sticky, "x.pid");
    mkdir(sticky, 0755);
    chmod(sticky, 01777);
    pf = NULL;
    r = pidkit_pidfile_acquire(stickyp, &strict, &pf, NULL);
    ok(r == 0, "STRICT: a world-writable directory with the sticky bit: 0 (%d %s)", r, emsg(r));
    if (r == 0)
        pidkit_pidfile_release(pf);

    snprintf(tmp_p, sizeof tmp_p, "/tmp/pidkit-strict-%d.pid", (int)getpid());
    snprintf(shm_p, sizeof shm_p, "/dev/shm/pidkit-strict-%d.pid", (int)getpid());
    pf = NULL;
    r = pidkit_pidfile_acquire(tmp_p, &strict, &pf, NULL);
    ok(r == 0, "STRICT: directly in /tmp (1777): 0 (%d %s)", r, emsg(r));
    if (r == 0)
        pidkit_pidfile_release(pf);
    ok(!exists(tmp_p), "... released and removed");
    pf = NULL;
    r = pidkit_pidfile_acquire(shm_p, &strict, &pf, NULL);
    ok(r == 0, "STRICT: directly in /dev/shm: 0 (%d %s)", r, emsg(r));
    if (r == 0)
        pidkit_pidfile_release(pf);
    unlink(tmp_p);
    unlink(shm_p);

    /* As nobody: its own file in its own directory passes. */
    if (geteuid() == 0) {
        pjoin(nbd, d, "nobody");
        pjoin(nbdp, nbd, "own.pid");
        mkdir(nbd, 0755);
        chmod(d, 0755);
        spits(nbdp, "1\n");
        if (chown(nbd, NOBODY, (gid_t)NOBODY) != 0 || chown(nbdp, NOBODY, (gid_t)NOBODY) != 0)
            diag("chown: %s", strerror(errno));
        if (sv_start(&s)) {
            struct reply rp = sv_op(&s, OP_SETUID, NULL);
            if (rp.r == 0) {
                rp = sv_acquire(&s, nbdp, PIDKIT_PIDFILE_STRICT);
                ok(rp.r == 0 && has_pid(nbdp, s.pid), "STRICT as nobody: its own stale file in its own directory: 0 (%d %s)", rp.r, show(rp.msg));
                if (rp.r == 0)
                    sv_op(&s, OP_RELEASE, NULL);
            } else {
                skip("cannot setuid to nobody", "STRICT as nobody");
            }
            sv_stop(&s);
        }
    } else {
        skip("not running as root", "STRICT as nobody");
    }
    rmtree(d);
}

struct fault_shm {
    int unshare_err, mount_err;
    int rofs_r, rofs_left, nospc_r, nospc_left, filled;
    char rofs_msg[512], nospc_msg[512];
};

static void test_faults(void)
{
    char d[PATH_MAX], ro[PATH_MAX], full[PATH_MAX], rop[PATH_MAX], fullp[PATH_MAX], filler[PATH_MAX];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(ro, d, "ro");
    pjoin(full, d, "full");
    pjoin(rop, ro, "x.pid");
    pjoin(fullp, full, "x.pid");
    pjoin(filler, full, "filler");
    mkdir(ro, 0755);
    mkdir(full, 0755);
    struct fault_shm *F = shared(sizeof *F);
    if (!F)
        return;
    F->rofs_r = F->nospc_r = -9999;
    pid_t c = xfork();
    if (c == 0) {
        if (unshare(CLONE_NEWNS) != 0) {
            F->unshare_err = errno;
            _exit(0);
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("pidkit-ro", ro, "tmpfs", 0, "size=64k,mode=0755") != 0 ||
            mount("pidkit-ro", ro, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=64k,mode=0755") != 0 ||
            mount("pidkit-full", full, "tmpfs", 0, "size=4k,mode=0755") != 0) {
            F->mount_err = errno;
            _exit(0);
        }
        pidkit_pidfile *pf = NULL;
        F->rofs_r = pidkit_pidfile_acquire(rop, NULL, &pf, NULL);
        snprintf(F->rofs_msg, sizeof F->rofs_msg, "%s", pidkit_last_error());
        F->rofs_left = exists(rop);
        int fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        static char block[4096];
        for (int i = 0; fd >= 0 && i < 64; i++)
            if (write(fd, block, sizeof block) < 0) {
                F->filled = errno == ENOSPC;
                break;
            }
        if (fd >= 0)
            close(fd);
        pf = NULL;
        F->nospc_r = pidkit_pidfile_acquire(fullp, NULL, &pf, NULL);
        snprintf(F->nospc_msg, sizeof F->nospc_msg, "%s", pidkit_last_error());
        F->nospc_left = exists(fullp);
        _exit(0);
    }
    reap(c, 10000, NULL);
    if (F->unshare_err || F->mount_err) {
        char why[128];
        snprintf(why, sizeof why, "%s not allowed here: %s", F->unshare_err ? "unshare(CLONE_NEWNS)" : "mount",
                 strerror(F->unshare_err ? F->unshare_err : F->mount_err));
        skip(why, "EROFS: acquire on a read-only mount");
        skip(why, "ENOSPC: acquire on a full tmpfs");
    } else {
        ok(F->rofs_r == -EROFS && names(F->rofs_msg, rop), "EROFS: acquire on a read-only mount: -EROFS, path in the message (%d: %s)",
           F->rofs_r, show(F->rofs_msg));
        ok(!F->rofs_left, "... nothing left behind");
        ok(F->filled && F->nospc_r == -ENOSPC && names(F->nospc_msg, fullp),
           "ENOSPC: acquire on a full tmpfs: -ENOSPC, path in the message (%d: %s)", F->nospc_r, show(F->nospc_msg));
        ok(!F->nospc_left, "... no file left behind (none claiming a dead owner)");
    }
    munmap(F, sizeof *F);
    rmtree(d);
}

static void test_misc_errors(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    if (!newdir(d, "/tmp"))
        return;
    pjoin(path, d, "no/such/dir/x.pid");
    pidkit_pidfile *pf = NULL;
    int r = pidkit_pidfile_acquire(path, NULL, &pf, NULL);
    ok(r == -ENOENT && names(pidkit_last_error(), path), "acquire in a missing directory: -ENOENT, path in the message (%d: %s)", r, emsg(r));
    ok(strerror(-r) != NULL && -r == ENOENT, "errors are -errno usable with strerror");
    rmtree(d);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--pidkit-sleep") == 0) {
        for (;;)
            pause();
    }
    {
        ssize_t l = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
        if (l > 0)
            self_exe[l] = '\0';
        else
            strcpy(self_exe, "/proc/self/exe");
    }
    signal(SIGPIPE, SIG_IGN);
    umask(022);
    if (!getcwd(cwd0, sizeof cwd0))
        snprintf(cwd0, sizeof cwd0, "/");
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        diag("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(240);
    int fds0 = count_fds();

    test_basic("/tmp");
    test_basic("/dev/shm");
    test_contender();
    test_no_write();
    test_sigkill_takeover();
    test_stale();
    test_symlink();
    test_not_regular();
    test_tty();
    test_read_corpus();
    test_check();
    test_release_cases();
    test_keep_file();
    test_fork_child_release(0);
    test_fork_child_release(PIDKIT_PIDFILE_KEEP_FILE);
    test_fork_child_write();
    test_exec(false);
    test_exec(true);
    test_exec_after_write(false);
    test_exec_after_write(true);
    test_wait();
    test_race(50, 20);
    test_two_acquirers();
    test_shared_lock();
    test_checker_vs_acquirer(0);
    test_checker_vs_acquirer(PIDKIT_PIDFILE_KEEP_FILE);
    test_kill();
    test_kill_inherited_lock();
    test_mode();
    test_relative();
    test_eacces();
    test_strict();
    test_faults();
    test_misc_errors();
    test_flags_and_sizes();
    test_null_args();

    pid_t left = waitpid(-1, NULL, WNOHANG);
    int e = errno;
    ok(left == -1 && e == ECHILD, "no child process left behind (%d tracked, waitpid %d)", nkids, (int)left);
    kill_all();
    int fds1 = count_fds();
    ok(fds1 == fds0, "no file descriptor leaked over the whole run (%d -> %d)", fds0, fds1);
    return done_testing();
}
