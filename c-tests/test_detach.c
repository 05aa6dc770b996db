/* test_detach.c - pidkit_detach / pidkit_detach_ready through the C ABI, with real processes.
 *
 * Every case has three parties:
 *   the runner   this program. It is a child subreaper, so a daemon whose
 *                parents are gone is re-parented to it and can be killed and
 *                reaped here; it makes all the TAP assertions.
 *   the helper   a forked child that prepares some state (cwd, umask, extra
 *                fds, signals, a controlling terminal, threads, a pidfile)
 *                and calls pidkit_detach: it is "the original". It reports
 *                what it saw into a shared mmap (H) and _exit()s.
 *   the daemon   what pidkit_detach made. It reports its observations as
 *                fixed-size records through a pipe it keeps with keep_fds
 *                (or through a file, where the options keep nothing), then
 *                waits to be killed.
 * After each case the runner kills and reaps every process left under it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <pidkit.h>
#include "tap.h"

#define MAXFD 64
#define OBS_MAGIC 0x0b5e7a1d
#define NOT_REACHED 0x7ead0000 /* a result slot whose step never ran */
#define OUT_REL "pidkit-test-detach-out.log" /* relative stdout_path; must land in the temp dir, not in / */

/* What the daemon saw; one record per report (seq 0: early, 1: after ready, 2: after release). */
struct obs {
    int magic, seq;
    pid_t detach_rc;                 /* pidkit_detach's return value in the daemon */
    pid_t pid, ppid, sid, pgid;
    int info_rc, tty_nr;
    uint32_t num_threads;
    int devtty_errno;                /* errno of open("/dev/tty"); 0 if it opened */
    char cwd[256];
    unsigned umask_val;
    int std_open[3], std_fl[3];
    unsigned long long std_dev[3], std_ino[3];
    int sig_ok;
    unsigned long long sigblk, sigign, sigcgt;
    char stdin_text[64];
    int ready_rc, ready2_rc, child_ready_rc;
    int nfds, fds[MAXFD];            /* /proc/self/fd after pidkit_detach_ready */
    int pf_fd;                       /* pidkit_pidfile_fd() of the daemon's copy */
    int pf_dir_fd;                   /* the daemon's descriptor of the pidfile's directory */
    int rl_fd_errno;                 /* fcntl(F_GETFD) on the fd at RLIMIT_NOFILE-1: its errno */
    int pf_release_rc, pf_exists_after_release;
};

/* What the helper (the original) saw: in a MAP_SHARED mapping the runner reads. */
struct hres {
    pid_t helper_pid, old_sid, old_pgid;
    int setup_failed;
    char setup_msg[200];
    int helper_tty_nr;
    int returned;                    /* pidkit_detach returned in the original */
    pid_t rc;
    long long elapsed_us;
    char last_error[256];
    int ready_in_original;
    int zombie_rc, zombie_errno;     /* waitpid(-1, WNOHANG) after success */
    int keep_fds[8], n_keep;
    int closed_fds[8], n_closed;     /* extra fds opened without O_CLOEXEC and not kept */
    int pidfile_fd;
    unsigned long long pre_dev[3], pre_ino[3];
    int pre_fds[MAXFD], n_pre;
    int rl_fd;
    unsigned long long rl_cur;
    int rl_low_top;
    pid_t pf_at_return, pf_after_release;
    int pf_release_rc, pf_exists_after_release, pf_locked_after_release;
    int pf_check_rc;
    pid_t pf_check_holder;
    int v[8];
    char msg[8][200];
    pid_t stray[8];
    int n_stray;
};

enum { OPTS_FULL, OPTS_NULL, OPTS_SIZE_FLAGS_ONLY, OPTS_BIGGER_ZERO_TAIL };

struct plan {
    uint32_t flags;
    int opts_kind;
    const char *workdir, *stdin_path, *stdout_path, *stderr_path;
    uint32_t umask;
    int set_umask;                   /* the helper sets its umask to helper_umask */
    mode_t helper_umask;
    int cd_tmp;                      /* the helper chdir()s into the temp dir */
    int pty;                         /* the helper gets a controlling terminal, on 0, 1, 2 */
    int extra_fds;                   /* the helper opens extra fds without O_CLOEXEC */
    int keep_extra;                  /* ... and keeps one more with keep_fds */
    int signals;                     /* block SIGUSR1, ignore SIGUSR2, handle SIGHUP */
    int thread;                      /* a second thread sleeps in the helper */
    int rlimit;                      /* soft RLIMIT_NOFILE at the hard limit, fd at limit-1 */
    int pidfile;                     /* opts.pidfile from pidkit_pidfile_acquire */
    int own_pgrp;                    /* the helper leads its own process group */
    int stdio_files;                 /* the helper's 0, 1, 2 on files (for KEEP_STDIO) */
    int ready_status;                /* the daemon reports this */
    int daemon_exit;                 /* the daemon _exit()s before reporting */
    int ready_delay_ms;
    int pid_first;                   /* daemon: report seq 0, wait for SIGUSR1, then ready */
    int wait_after;                  /* daemon: after seq 1 wait for SIGUSR1, release the pidfile, seq 2 */
    int stdio_io;                    /* daemon: read stdin, write to stdout and stderr */
    int child_ready;                 /* daemon: a forked child calls pidkit_detach_ready */
    int ready_in_original;
    int zombie_check;
};

struct run {
    pid_t helper;
    int status, helper_done;
};

static struct hres *H;
static struct {
    char dir[PATH_MAX];              /* temp dir, realpath'd */
    int rep_r, rep_w;                /* the daemon's report pipe */
    int report_file;                 /* report through obs_path instead */
    char obs_path[PATH_MAX + 32];
    unsigned long long null_dev, null_ino;
    pidkit_pidfile *pf;
    char pf_path[PATH_MAX + 32];
    pid_t helper_pid;                /* in the helper and the daemon: the original's pid */
    int case_no;
    int valgrind;                    /* valgrind keeps fds above the soft limit and catches every signal */
} G;

/* ------------------------------------------------------------------ utilities */

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The open fds of this process, sorted, without the one used for listing. */
static int list_fds(int *out, int max, int *count)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        rl.rlim_cur = RLIM_INFINITY;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || e->d_name[0] == '\0' || fd == dirfd(d))
            continue;
        if (G.valgrind && (rlim_t)fd >= rl.rlim_cur)
            continue; /* valgrind's own, out of the client's reach */
        if (n < max)
            out[n] = (int)fd;
        n++;
    }
    closedir(d);
    qsort(out, (size_t)(n < max ? n : max), sizeof *out, cmp_int);
    *count = n;
    return 0;
}

static void fmt_fds(char *buf, size_t len, const int *fds, int n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && at + 16 < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%d", i ? "," : "", fds[i]);
    if (n > 0 && at + 16 >= len)
        snprintf(buf + at, len - at, ",...");
}

/* s with newlines and other control bytes escaped, for one TAP line (two buffers in turn). */
static const char *esc(const char *s)
{
    static char bufs[2][160];
    static int turn;
    char *b = bufs[turn++ & 1];
    size_t at = 0;
    for (; *s && at + 5 < sizeof bufs[0]; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n')
            at += (size_t)snprintf(b + at, sizeof bufs[0] - at, "\\n");
        else if (c < 0x20 || c == 0x7f)
            at += (size_t)snprintf(b + at, sizeof bufs[0] - at, "\\x%02x", c);
        else
            b[at++] = (char)c;
    }
    b[at] = '\0';
    return b;
}

/* How many of o->fds are filled in. */
static int nfd(const struct obs *o)
{
    return o->nfds < 0 ? 0 : o->nfds < MAXFD ? o->nfds : MAXFD;
}

static int contains(const int *fds, int n, int fd)
{
    for (int i = 0; i < n; i++)
        if (fds[i] == fd)
            return 1;
    return 0;
}

/* The pid in a pidfile, or -errno. */
static pid_t pid_in_file(const char *path)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -EBADMSG;
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    if (end == buf || v <= 0 || (*end != '\n' && *end != '\0'))
        return -EBADMSG;
    return (pid_t)v;
}

/* 1 when some open file description holds an flock on path. */
static int flock_held(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

static int read_text(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n < 0 ? -1 : 0;
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int r = write_all(fd, text, strlen(text));
    close(fd);
    return r;
}

static void tmp_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", G.dir, name);
}

/* State letter and ppid of a process from /proc/PID/stat; 0 on success. */
static int proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    int pp;
    if (!p || sscanf(p + 1, " %c %d", state, &pp) != 2)
        return -1;
    *ppid = (pid_t)pp;
    return 0;
}

/* A process that exists and is not a zombie. */
static int running(pid_t pid)
{
    char st;
    pid_t pp;
    return pid > 0 && kill(pid, 0) == 0 && proc_stat(pid, &st, &pp) == 0 && st != 'Z';
}

/* Reaps exited children; returns how many live (non-zombie) children the runner has. */
static int live_children(pid_t *out, int max)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    pid_t me = getpid();
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        char st;
        pid_t pp;
        if (*end || pid <= 1 || proc_stat((pid_t)pid, &st, &pp) != 0)
            continue;
        if (pp == me && st != 'Z') {
            if (n < max)
                out[n] = (pid_t)pid;
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Waits up to grace_ms for the runner to have no live children; returns how many remain. */
static int leftovers(int grace_ms)
{
    pid_t kids[16];
    long long end = now_us() + grace_ms * 1000LL;
    int n;
    while ((n = live_children(kids, 16)) > 0 && now_us() < end)
        usleep(10000);
    if (n > 0)
        diag("left behind: pid %d (and %d more)", (int)kids[0], n - 1);
    return n;
}

/* Kills and reaps every process under the runner: helpers and adopted daemons
 * (only our own children: the subreaper makes every orphaned daemon one). */
static void sweep(void)
{
    pid_t kids[64];
    for (int i = 0; i < 300; i++) {
        int n = live_children(kids, 64);
        if (n == 0)
            break;
        for (int j = 0; j < n && j < 64; j++)
            if (kids[j] > 1 && kids[j] != getpid())
                kill(kids[j], SIGKILL);
        usleep(10000);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static int read_sigmasks(struct obs *o)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return 0;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "SigBlk: %llx", &o->sigblk) == 1 || sscanf(line, "SigIgn: %llx", &o->sigign) == 1 ||
            sscanf(line, "SigCgt: %llx", &o->sigcgt) == 1)
            n++;
    }
    fclose(f);
    return n == 3;
}

static uint32_t known_flags(void)
{
    return (uint32_t)(PIDKIT_DETACH_NO_WAIT | PIDKIT_DETACH_EXIT_PARENT | PIDKIT_DETACH_SINGLE_FORK |
                      PIDKIT_DETACH_KEEP_CWD | PIDKIT_DETACH_KEEP_UMASK | PIDKIT_DETACH_KEEP_STDIO |
                      PIDKIT_DETACH_KEEP_FDS | PIDKIT_DETACH_ALLOW_THREADS);
}

/* ------------------------------------------------------------------ the daemon */

static void report(struct obs *o, int seq)
{
    o->magic = OBS_MAGIC;
    o->seq = seq;
    if (!G.report_file) {
        write_all(G.rep_w, o, sizeof *o);
        return;
    }
    /* cwd may be "/": G.obs_path is absolute. Renamed into place so the runner never reads half. */
    char tmp[sizeof G.obs_path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", G.obs_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    int r = write_all(fd, o, sizeof *o);
    close(fd);
    if (r == 0)
        rename(tmp, G.obs_path);
}

static void observe(struct obs *o, const struct plan *p)
{
    o->ppid = getppid();
    o->sid = getsid(0);
    o->pgid = getpgid(0);
    pidkit_proc_info info = PIDKIT_PROC_INFO_INIT;
    o->info_rc = pidkit_proc_info_get(0, &info);
    o->tty_nr = info.tty_nr;
    o->num_threads = info.num_threads;
    int t = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    o->devtty_errno = t < 0 ? errno : 0;
    if (t >= 0)
        close(t);
    ssize_t n = readlink("/proc/self/cwd", o->cwd, sizeof o->cwd - 1);
    o->cwd[n > 0 ? n : 0] = '\0';
    mode_t m = umask(0);
    umask(m);
    o->umask_val = (unsigned)m;
    for (int i = 0; i < 3; i++) {
        struct stat st;
        o->std_open[i] = fstat(i, &st) == 0;
        o->std_dev[i] = o->std_open[i] ? (unsigned long long)st.st_dev : 0;
        o->std_ino[i] = o->std_open[i] ? (unsigned long long)st.st_ino : 0;
        o->std_fl[i] = fcntl(i, F_GETFL);
    }
    o->sig_ok = read_sigmasks(o);
    o->pf_fd = G.pf ? pidkit_pidfile_fd(G.pf) : -1;
    o->pf_dir_fd = -1;
    if (G.pf) {
        /* API.md: the handle works relative to the pidfile's directory, and
         * a daemon keeps that descriptor beside the pidfile's. */
        char dir[sizeof G.pf_path];
        snprintf(dir, sizeof dir, "%s", G.pf_path);
        char *slash = strrchr(dir, '/');
        struct stat dst, fst;
        if (slash)
            *slash = '\0';
        for (int fd = 3; slash && fd < 64 && stat(dir, &dst) == 0; fd++)
            if (fd != o->pf_fd && fstat(fd, &fst) == 0 && fst.st_dev == dst.st_dev && fst.st_ino == dst.st_ino) {
                o->pf_dir_fd = fd;
                break;
            }
    }
    o->rl_fd_errno = -1;
    if (H->rl_fd > 0)
        o->rl_fd_errno = fcntl(H->rl_fd, F_GETFD) < 0 ? errno : 0;
    if (p->stdio_io) {
        ssize_t r = read(0, o->stdin_text, sizeof o->stdin_text - 1);
        o->stdin_text[r > 0 ? r : 0] = '\0';
        if (write(1, "daemon-out\n", 11) != 11 || write(2, "daemon-err\n", 11) != 11)
            o->stdin_text[0] = '!';
    }
}

static void block_usr1(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGUSR1);
    sigprocmask(SIG_BLOCK, set, NULL);
}

static void wait_usr1(const sigset_t *set)
{
    int sig;
    while (sigwait(set, &sig) != 0 || sig != SIGUSR1)
        ;
}

__attribute__((noreturn)) static void daemon_main(const struct plan *p, pid_t rc)
{
    alarm(30); /* a safety net: even a daemon this program fails to kill goes away */
    static struct obs o;
    memset(&o, 0, sizeof o);
    o.detach_rc = rc;
    o.pid = getpid();
    o.child_ready_rc = NOT_REACHED;
    if (p->daemon_exit)
        _exit(3);
    sigset_t usr1;
    if (p->pid_first) {
        block_usr1(&usr1);
        o.sid = getsid(0);
        o.pgid = getpgid(0);
        report(&o, 0);
        wait_usr1(&usr1);
    }
    observe(&o, p);
    if (p->child_ready) {
        /* Not created by pidkit_detach: must be -EINVAL and must not reach the original. */
        int pp[2];
        if (pipe2(pp, O_CLOEXEC) == 0) {
            pid_t c = fork();
            if (c == 0) {
                int r = pidkit_detach_ready(-EPERM);
                write_all(pp[1], &r, sizeof r);
                _exit(0);
            }
            close(pp[1]);
            if (c > 0 && read(pp[0], &o.child_ready_rc, sizeof o.child_ready_rc) != sizeof o.child_ready_rc)
                o.child_ready_rc = NOT_REACHED;
            close(pp[0]);
            if (c > 0)
                waitpid(c, NULL, 0);
        }
    }
    if (p->ready_delay_ms)
        usleep((useconds_t)p->ready_delay_ms * 1000);
    o.ready_rc = pidkit_detach_ready(p->ready_status);
    o.ready2_rc = pidkit_detach_ready(0);
    if (list_fds(o.fds, MAXFD, &o.nfds) != 0)
        o.nfds = -1;
    if (p->wait_after)
        block_usr1(&usr1);
    report(&o, 1);
    if (p->wait_after) {
        wait_usr1(&usr1);
        o.pf_release_rc = pidkit_pidfile_release(G.pf);
        o.pf_exists_after_release = access(G.pf_path, F_OK) == 0;
        report(&o, 2);
    }
    for (;;)
        pause();
}

/* ------------------------------------------------------------------ the helper (the original) */

static void setup_fail(const char *what)
{
    if (!H->setup_failed)
        snprintf(H->setup_msg, sizeof H->setup_msg, "%s: %s", what, strerror(errno));
    H->setup_failed = 1;
}

/* Becomes a session leader with a pty as controlling terminal and on 0, 1, 2,
 * so that "no controlling terminal" and "stdio on /dev/null" can fail. */
static int acquire_ctty(void)
{
    if (setsid() < 0)
        return -1;
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0)
        return -1;
    const char *name = ptsname(m);
    int s = name ? open(name, O_RDWR) : -1;
    if (s < 0)
        return -1;
    ioctl(s, TIOCSCTTY, 0);
    dup2(s, 0);
    dup2(s, 1);
    dup2(s, 2);
    if (s > 2)
        close(s);
    pidkit_proc_info info = PIDKIT_PROC_INFO_INIT;
    if (pidkit_proc_info_get(0, &info) == 0)
        H->helper_tty_nr = info.tty_nr;
    return 0; /* the master stays open (O_CLOEXEC, not kept): the daemon must not have it */
}

static void on_hup(int sig)
{
    (void)sig;
}

static void *sleeper(void *arg)
{
    (void)arg;
    sleep(30);
    return NULL;
}

static void fill_opts(const struct plan *p, pidkit_detach_opts *o, const int *keep, uint32_t n_keep)
{
    pidkit_detach_opts init = PIDKIT_DETACH_OPTS_INIT;
    *o = init;
    o->flags = p->flags;
    o->workdir = p->workdir;
    o->umask = p->umask;
    o->stdin_path = p->stdin_path;
    o->stdout_path = p->stdout_path;
    o->stderr_path = p->stderr_path;
    o->keep_fds = n_keep ? keep : NULL;
    o->n_keep_fds = n_keep;
    o->pidfile = G.pf;
}

__attribute__((noreturn)) static void helper_main(const struct plan *p)
{
    alarm(15);
    G.helper_pid = getpid();
    H->helper_pid = G.helper_pid;
    H->ready_in_original = NOT_REACHED;
    H->zombie_rc = NOT_REACHED;
    H->pf_release_rc = NOT_REACHED;
    H->pf_check_rc = NOT_REACHED;
    close(G.rep_r);
    if (p->own_pgrp && setpgid(0, 0) != 0)
        setup_fail("setpgid");
    if (p->pty)
        acquire_ctty(); /* without a pty (helper_tty_nr stays 0) the tty checks are weaker */
    if (p->cd_tmp && chdir(G.dir) != 0)
        setup_fail("chdir");
    if (p->set_umask)
        umask(p->helper_umask);
    H->old_sid = getsid(0);
    H->old_pgid = getpgid(0);

    static int keep[8];
    uint32_t n_keep = 0;
    if (!G.report_file || p->opts_kind == OPTS_SIZE_FLAGS_ONLY)
        keep[n_keep++] = G.rep_w;
    if (p->extra_fds) {
        int pf[2];
        int z = open("/dev/zero", O_RDONLY); /* deliberately without O_CLOEXEC */
        if (z < 0 || pipe(pf) != 0)
            setup_fail("extra fds");
        else {
            H->closed_fds[H->n_closed++] = z;
            H->closed_fds[H->n_closed++] = pf[0];
            H->closed_fds[H->n_closed++] = pf[1];
        }
        int c = open("/dev/zero", O_RDONLY | O_CLOEXEC);
        if (c >= 0)
            H->closed_fds[H->n_closed++] = c;
    }
    if (p->keep_extra) {
        int k = open("/dev/zero", O_RDONLY);
        if (k < 0)
            setup_fail("kept extra fd");
        else
            keep[n_keep++] = k;
    }
    if (p->stdio_files) {
        char in[PATH_MAX + 32], o1[PATH_MAX + 32], o2[PATH_MAX + 32];
        tmp_path(in, sizeof in, "in.txt");
        tmp_path(o1, sizeof o1, "keep1.log");
        tmp_path(o2, sizeof o2, "keep2.log");
        int a = open(in, O_RDONLY), b = open(o1, O_WRONLY | O_CREAT | O_APPEND, 0644),
            c = open(o2, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (a < 0 || b < 0 || c < 0 || dup2(a, 0) < 0 || dup2(b, 1) < 0 || dup2(c, 2) < 0)
            setup_fail("stdio files");
        close(a);
        close(b);
        close(c);
    }
    for (int i = 0; i < 3; i++) {
        struct stat st;
        if (fstat(i, &st) == 0) {
            H->pre_dev[i] = (unsigned long long)st.st_dev;
            H->pre_ino[i] = (unsigned long long)st.st_ino;
        }
    }
    if (p->signals) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigaddset(&s, SIGTERM);
        sigprocmask(SIG_BLOCK, &s, NULL);
        signal(SIGUSR2, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_hup; /* never delivered: only the disposition matters */
        sigaction(SIGHUP, &sa, NULL);
    }
    if (p->rlimit) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rlim_t want = rl.rlim_max;
        if (want == RLIM_INFINITY || want > (rlim_t)1 << 20)
            want = (rlim_t)1 << 20;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            setup_fail("setrlimit");
        H->rl_cur = (unsigned long long)want;
        /* Fill the low fds so that every fd the library opens itself is >= 1024
         * (libdaemon's select() breaks there), and put one at the very top. */
        int z = open("/dev/null", O_RDONLY);
        int top = want > 1200 ? 1100 : (int)want / 2;
        int fd = z;
        while (fd >= 0 && fd < top)
            fd = dup(z);
        H->rl_low_top = fd;
        H->rl_fd = (int)want - 1;
        if (z < 0 || dup2(z, H->rl_fd) != H->rl_fd)
            setup_fail("dup2 to RLIMIT_NOFILE-1");
    }
    if (p->pidfile) {
        int r = pidkit_pidfile_acquire(G.pf_path, NULL, &G.pf, NULL);
        if (r != 0) {
            errno = -r;
            setup_fail("pidkit_pidfile_acquire");
        } else {
            H->pidfile_fd = pidkit_pidfile_fd(G.pf);
        }
    }
    if (p->thread) {
        pthread_t t;
        if (pthread_create(&t, NULL, sleeper, NULL) != 0)
            setup_fail("pthread_create");
    }
    for (uint32_t i = 0; i < n_keep && i < 8; i++)
        H->keep_fds[H->n_keep++] = keep[i];
    if (p->flags & PIDKIT_DETACH_KEEP_FDS)
        list_fds(H->pre_fds, MAXFD, &H->n_pre);

    static union {
        pidkit_detach_opts o;
        unsigned char bytes[sizeof(pidkit_detach_opts) + 64];
    } ob;
    memset(&ob, 0, sizeof ob);
    fill_opts(p, &ob.o, keep, n_keep);
    const pidkit_detach_opts *op = &ob.o;
    if (p->opts_kind == OPTS_NULL)
        op = NULL;
    else if (p->opts_kind == OPTS_SIZE_FLAGS_ONLY)
        ob.o.size = (uint32_t)offsetof(pidkit_detach_opts, workdir);
    else if (p->opts_kind == OPTS_BIGGER_ZERO_TAIL)
        ob.o.size = (uint32_t)sizeof(pidkit_detach_opts) + 16;

    long long t0 = now_us();
    pid_t rc = pidkit_detach(op);
    long long t1 = now_us();
    if (rc == 0 || getpid() != G.helper_pid)
        daemon_main(p, rc);
    H->rc = rc;
    H->elapsed_us = t1 - t0;
    H->returned = 1;
    snprintf(H->last_error, sizeof H->last_error, "%s", pidkit_last_error());

    if (p->pidfile && rc > 0) {
        H->pf_at_return = pid_in_file(G.pf_path);
        H->pf_release_rc = pidkit_pidfile_release(G.pf);
        H->pf_exists_after_release = access(G.pf_path, F_OK) == 0;
        H->pf_after_release = pid_in_file(G.pf_path);
        H->pf_locked_after_release = flock_held(G.pf_path);
    } else if (p->pidfile && G.pf) {
        H->pf_at_return = pid_in_file(G.pf_path);
        H->pf_check_rc = pidkit_pidfile_check(G.pf_path, &H->pf_check_holder);
        H->pf_release_rc = pidkit_pidfile_release(G.pf);
        H->pf_exists_after_release = access(G.pf_path, F_OK) == 0;
    }
    if (p->zombie_check && rc > 0) {
        usleep(50000); /* an intermediate child that exits late would be a zombie by now */
        errno = 0;
        int w = (int)waitpid(-1, NULL, WNOHANG);
        H->zombie_errno = errno;
        H->zombie_rc = w;
    }
    if (p->ready_in_original && rc > 0)
        H->ready_in_original = pidkit_detach_ready(0); /* last: a wrong write here could SIGPIPE us */
    _exit(0);
}

/* ------------------------------------------------------------------ the runner */

static void start(const struct plan *p, struct run *r)
{
    memset(r, 0, sizeof *r);
    memset(H, 0, sizeof *H);
    G.pf = NULL;
    G.case_no++;
    G.report_file = p->opts_kind == OPTS_NULL || p->opts_kind == OPTS_SIZE_FLAGS_ONLY;
    snprintf(G.obs_path, sizeof G.obs_path, "%s/obs-%d", G.dir, G.case_no);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        perror("pipe2");
        exit(2);
    }
    G.rep_r = fds[0];
    G.rep_w = fds[1];
    r->helper = fork();
    if (r->helper == 0)
        helper_main(p);
    if (r->helper < 0) {
        perror("fork");
        exit(2);
    }
    if (p->own_pgrp)
        setpgid(r->helper, r->helper); /* also here: no race with the kill below */
    close(G.rep_w);
}

static void wait_helper(struct run *r, int timeout_ms)
{
    if (r->helper_done)
        return;
    long long end = now_us() + timeout_ms * 1000LL;
    for (;;) {
        pid_t w = waitpid(r->helper, &r->status, WNOHANG);
        if (w == r->helper || (w < 0 && errno != EINTR))
            break;
        if (now_us() > end) {
            diag("helper %d did not finish in %d ms: killed", (int)r->helper, timeout_ms);
            kill(r->helper, SIGKILL);
            waitpid(r->helper, &r->status, 0);
            break;
        }
        usleep(2000);
    }
    r->helper_done = 1;
}

/* The daemon's record number seq, within timeout_ms; 1 if got. */
static int get_obs(struct obs *o, int seq, int timeout_ms)
{
    long long end = now_us() + timeout_ms * 1000LL;
    if (G.report_file) {
        while (now_us() < end) {
            int fd = open(G.obs_path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                ssize_t n = read(fd, o, sizeof *o);
                close(fd);
                return n == (ssize_t)sizeof *o && o->magic == OBS_MAGIC && o->seq == seq;
            }
            usleep(5000);
        }
        return 0;
    }
    for (;;) {
        size_t got = 0;
        while (got < sizeof *o) {
            long long left = (end - now_us()) / 1000;
            struct pollfd pfd = { .fd = G.rep_r, .events = POLLIN };
            if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
                return 0;
            ssize_t n = read(G.rep_r, (char *)o + got, sizeof *o - got);
            if (n <= 0)
                return 0; /* EOF: every writer (helper, daemon) is gone */
            got += (size_t)n;
        }
        if (o->magic != OBS_MAGIC)
            return 0;
        if (o->seq == seq)
            return 1;
    }
}

static void finish(void)
{
    close(G.rep_r);
    sweep();
}

static int helper_ok(const char *name, const struct run *r)
{
    if (H->setup_failed) {
        ok(0, "%s: helper setup: %s", name, H->setup_msg);
        return 0;
    }
    (void)r;
    return 1;
}

/* ok() that the daemon's open fds are exactly {0,1,2} + want. */
static void check_fds_exact(const char *name, const struct obs *o, const int *want, int nwant)
{
    int w[MAXFD + 3];
    int nw = 0;
    for (int i = 0; i < 3; i++)
        w[nw++] = i;
    for (int i = 0; i < nwant && nw < MAXFD; i++)
        if (want[i] >= 0 && !contains(w, nw, want[i]))
            w[nw++] = want[i];
    qsort(w, (size_t)nw, sizeof *w, cmp_int);
    int same = o->nfds == nw;
    for (int i = 0; same && i < nw; i++)
        same = o->fds[i] == w[i];
    char got[256], exp[256];
    fmt_fds(got, sizeof got, o->fds, nfd(o));
    fmt_fds(exp, sizeof exp, w, nw);
    ok(same, "%s: daemon's open fds are exactly {%s} (got %d: {%s})", name, exp, o->nfds, got);
}

static int is_dev_null(const struct obs *o, int i)
{
    return o->std_open[i] && o->std_dev[i] == G.null_dev && o->std_ino[i] == G.null_ino;
}

static int cwd_is(const struct obs *o, const char *want)
{
    return strcmp(o->cwd, want) == 0;
}

/* ------------------------------------------------------------------ cases */

static void test_ready_without_detach(void)
{
    int r = pidkit_detach_ready(0);
    ok(r == -EINVAL, "pidkit_detach_ready in a process that never detached is -EINVAL (%d)", r);
}

static void test_defaults(void)
{
    const char *n = "defaults";
    struct plan p = { .cd_tmp = 1, .set_umask = 1, .helper_umask = 077, .pty = 1, .extra_fds = 1,
                      .keep_extra = 1, .signals = 1, .ready_in_original = 1, .zombie_check = 1 };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    if (!helper_ok(n, &r))
        goto out;
    diag("defaults: pidkit_detach took %lld us; original had tty_nr %d", H->elapsed_us, H->helper_tty_nr);
    ok(H->rc > 0, "%s: pidkit_detach returns the daemon's pid (> 0) in the original (%d: %s)", n, (int)H->rc,
       H->rc < 0 ? H->last_error : "");
    ok(got, "%s: the daemon reported through the pipe kept with keep_fds", n);
    if (!got)
        goto out;
    ok(o.detach_rc == 0, "%s: pidkit_detach returns 0 in the daemon (%d)", n, (int)o.detach_rc);
    ok(H->rc == o.pid, "%s: the returned pid is the daemon's getpid() (%d == %d)", n, (int)H->rc, (int)o.pid);
    ok(o.sid > 0 && o.sid != H->old_sid, "%s: daemon's sid %d differs from the original's %d", n, (int)o.sid,
       (int)H->old_sid);
    ok(o.sid != o.pid, "%s: the daemon is not a session leader (sid %d, pid %d): double fork", n, (int)o.sid,
       (int)o.pid);
    ok(o.pgid != H->old_pgid, "%s: daemon's process group %d differs from the original's %d", n, (int)o.pgid,
       (int)H->old_pgid);
    ok(o.info_rc == 0 && o.tty_nr == 0, "%s: no controlling terminal: tty_nr %d (original had %d)", n, o.tty_nr,
       H->helper_tty_nr);
    ok(o.devtty_errno != 0, "%s: open(\"/dev/tty\") fails in the daemon (%s)", n,
       o.devtty_errno ? strerror(o.devtty_errno) : "it opened");
    ok(cwd_is(&o, "/"), "%s: cwd is \"/\" (\"%s\")", n, o.cwd);
    ok(o.umask_val == 0, "%s: umask is 0 (caller had 077; got %03o)", n, o.umask_val);
    ok(is_dev_null(&o, 0) && is_dev_null(&o, 1) && is_dev_null(&o, 2),
       "%s: stdin, stdout, stderr are /dev/null (original's were a terminal) [%d%d%d]", n, is_dev_null(&o, 0),
       is_dev_null(&o, 1), is_dev_null(&o, 2));
    int leaked = -1;
    for (int i = 0; i < H->n_closed; i++)
        if (contains(o.fds, nfd(&o), H->closed_fds[i]))
            leaked = H->closed_fds[i];
    ok(H->n_closed >= 3 && leaked < 0, "%s: the original's extra fds (opened without O_CLOEXEC) are closed%s", n,
       leaked >= 0 ? " - one is still open" : "");
    ok(contains(o.fds, nfd(&o), H->keep_fds[1]), "%s: an extra fd listed in keep_fds (%d) stays open", n,
       H->keep_fds[1]);
    check_fds_exact(n, &o, H->keep_fds, H->n_keep);
    ok(o.sig_ok && o.sigblk == 0, "%s: SigBlk is 0 in the daemon (original blocked SIGUSR1, SIGTERM; got %llx)", n,
       o.sigblk);
    ok(o.sig_ok && o.sigign == 0, "%s: SigIgn is 0 in the daemon (original ignored SIGUSR2, SIGINT; got %llx)", n,
       o.sigign);
    if (G.valgrind)
        skip("valgrind catches every signal itself", "%s: SigCgt is 0: the original's SIGHUP handler is reset", n);
    else
        ok(o.sig_ok && o.sigcgt == 0, "%s: SigCgt is 0: the original's SIGHUP handler is reset (got %llx)", n,
           o.sigcgt);
    ok(o.ready_rc == 0, "%s: pidkit_detach_ready(0) returns 0 in the daemon (%d)", n, o.ready_rc);
    ok(o.ready2_rc == -EALREADY, "%s: pidkit_detach_ready a second time is -EALREADY (%d)", n, o.ready2_rc);
    ok(H->ready_in_original == -EINVAL, "%s: pidkit_detach_ready in the original after detaching is -EINVAL (%d)", n,
       H->ready_in_original);
    ok(H->zombie_rc == 0 || (H->zombie_rc == -1 && H->zombie_errno == ECHILD),
       "%s: no zombie left in the original: waitpid(-1, WNOHANG) = %d (%s)", n, H->zombie_rc,
       strerror(H->zombie_errno));
out:
    finish();
}

static void test_single_fork(void)
{
    const char *n = "SINGLE_FORK";
    struct plan p = { .flags = PIDKIT_DETACH_SINGLE_FORK, .pty = 1, .zombie_check = 1 };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    if (!helper_ok(n, &r))
        goto out;
    ok(H->rc > 0 && got && H->rc == o.pid, "%s: the daemon's pid is returned (%d; daemon %d)", n, (int)H->rc,
       got ? (int)o.pid : -1);
    if (!got)
        goto out;
    ok(o.sid != H->old_sid, "%s: a new session (%d, was %d)", n, (int)o.sid, (int)H->old_sid);
    ok(o.sid == o.pid, "%s: the daemon leads its session: getsid(0) %d == getpid() %d", n, (int)o.sid, (int)o.pid);
    ok(o.info_rc == 0 && o.tty_nr == 0 && o.devtty_errno != 0, "%s: no controlling terminal (tty_nr %d, /dev/tty: %s)",
       n, o.tty_nr, o.devtty_errno ? strerror(o.devtty_errno) : "opened");
    ok(H->zombie_rc == 0 || (H->zombie_rc == -1 && H->zombie_errno == ECHILD),
       "%s: no zombie in the original: waitpid(-1, WNOHANG) = %d", n, H->zombie_rc);
out:
    finish();
}

static void test_umask_cwd(void)
{
    struct run r;
    struct obs o;
    char sub[PATH_MAX + 32];
    tmp_path(sub, sizeof sub, "sub");

    struct plan p1 = { .umask = 027, .set_umask = 1, .helper_umask = 077 };
    start(&p1, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    ok(got && o.umask_val == 027, "opts.umask 027 is the daemon's umask (got %03o; rc %d)", got ? o.umask_val : 0,
       (int)H->rc);
    finish();

    struct plan p2 = { .flags = PIDKIT_DETACH_KEEP_UMASK, .umask = 027, .set_umask = 1, .helper_umask = 033 };
    start(&p2, &r);
    wait_helper(&r, 4000);
    got = get_obs(&o, 1, 3000);
    ok(got && o.umask_val == 033, "KEEP_UMASK keeps the caller's umask 033 (got %03o; rc %d)", got ? o.umask_val : 0,
       (int)H->rc);
    finish();

    struct plan p3 = { .flags = PIDKIT_DETACH_KEEP_CWD, .cd_tmp = 1 };
    start(&p3, &r);
    wait_helper(&r, 4000);
    got = get_obs(&o, 1, 3000);
    ok(got && cwd_is(&o, G.dir), "KEEP_CWD keeps the caller's cwd %s (got \"%s\"; rc %d)", G.dir, got ? o.cwd : "",
       (int)H->rc);
    finish();

    struct plan p4 = { .workdir = sub };
    start(&p4, &r);
    wait_helper(&r, 4000);
    got = get_obs(&o, 1, 3000);
    ok(got && cwd_is(&o, sub), "workdir %s is the daemon's cwd (got \"%s\"; rc %d)", sub, got ? o.cwd : "",
       (int)H->rc);
    finish();

    struct plan p5 = { .workdir = "sub", .cd_tmp = 1 };
    start(&p5, &r);
    wait_helper(&r, 4000);
    got = get_obs(&o, 1, 3000);
    ok(got && cwd_is(&o, sub), "a relative workdir resolves against the caller's cwd (got \"%s\"; rc %d)",
       got ? o.cwd : "", (int)H->rc);
    finish();
}

static void test_stdio_files(void)
{
    const char *n = "stdio files";
    char out[PATH_MAX + 32], err[PATH_MAX + 32], in[PATH_MAX + 32], text[256];
    tmp_path(out, sizeof out, OUT_REL);
    tmp_path(err, sizeof err, "err.log");
    tmp_path(in, sizeof in, "in.txt");
    write_text(out, "old line\n");
    unlink(err);
    struct plan p = { .cd_tmp = 1, .set_umask = 1, .helper_umask = 027, .stdin_path = in,
                      .stdout_path = OUT_REL /* relative: resolves against the caller's cwd */,
                      .stderr_path = err, .stdio_io = 1 };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    ok(H->rc > 0 && got, "%s: detach with stdin_path, stdout_path, stderr_path (%d: %s)", n, (int)H->rc,
       H->rc < 0 ? H->last_error : "");
    if (!got)
        goto out;
    ok(strcmp(o.stdin_text, "hello stdin\n") == 0, "%s: stdin_path is the daemon's stdin (read \"%s\")", n,
       esc(o.stdin_text));
    ok(o.std_fl[1] >= 0 && (o.std_fl[1] & O_APPEND) && o.std_fl[2] >= 0 && (o.std_fl[2] & O_APPEND),
       "%s: stdout and stderr are opened with O_APPEND", n);
    read_text(out, text, sizeof text);
    ok(strcmp(text, "old line\ndaemon-out\n") == 0,
       "%s: relative stdout_path (caller's cwd) is appended to, not truncated: \"%s\"", n, esc(text));
    read_text(err, text, sizeof text);
    ok(strcmp(text, "daemon-err\n") == 0, "%s: stderr_path is created and written: \"%s\"", n, esc(text));
    struct stat st;
    unsigned mode = stat(err, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 01000;
    ok(mode == 0640, "%s: a new stdio file is 0644 under the caller's umask 027 = 0640 (%03o)", n, mode);
    check_fds_exact(n, &o, H->keep_fds, H->n_keep);
out:
    finish();
    ok(unlink("/" OUT_REL) != 0, "%s: the relative stdout_path was not created in / (the daemon's cwd)", n);
}

static void test_keep_stdio(void)
{
    const char *n = "KEEP_STDIO";
    struct plan p = { .flags = PIDKIT_DETACH_KEEP_STDIO, .stdio_files = 1 };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    if (!helper_ok(n, &r))
        goto out;
    int same = got;
    for (int i = 0; same && i < 3; i++)
        same = o.std_open[i] && o.std_dev[i] == H->pre_dev[i] && o.std_ino[i] == H->pre_ino[i];
    ok(same, "%s: fds 0, 1, 2 are the original's files (rc %d)", n, (int)H->rc);
out:
    finish();
}

static void test_keep_fds(void)
{
    const char *n = "KEEP_FDS";
    struct plan p = { .flags = PIDKIT_DETACH_KEEP_FDS, .extra_fds = 1 };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    if (!helper_ok(n, &r))
        goto out;
    int missing = -1;
    for (int i = 0; got && i < H->n_pre && i < MAXFD; i++)
        if (!contains(o.fds, nfd(&o), H->pre_fds[i]))
            missing = H->pre_fds[i];
    char pre[256];
    fmt_fds(pre, sizeof pre, H->pre_fds, H->n_pre < MAXFD ? H->n_pre : MAXFD);
    ok(got && missing < 0 && H->n_pre > 4, "%s: every fd of the original {%s} is still open in the daemon%s", n, pre,
       missing >= 0 ? " - one is closed" : "");
out:
    finish();
}

static void test_ready_failure(void)
{
    const char *n = "ready(-EIO)";
    struct plan p = { .ready_status = -EIO };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    ok(H->rc == -EIO, "%s: the daemon's pidkit_detach_ready(-EIO) makes the original's call return -EIO (%d)", n,
       (int)H->rc);
    ok(got && o.ready_rc == 0, "%s: the report itself returns 0 in the daemon (%d)", n, got ? o.ready_rc : -1);
    finish();
}

static void test_exit_before_ready(void)
{
    const char *n = "daemon dies";
    struct plan p = { .daemon_exit = 1 };
    struct run r;
    start(&p, &r);
    wait_helper(&r, 4000);
    ok(H->rc == -ECHILD, "%s: a daemon that _exit()s before ready gives the original -ECHILD (%d)", n, (int)H->rc);
    ok(H->returned && H->elapsed_us < 2000000, "%s: ... promptly (%lld ms)", n, H->elapsed_us / 1000);
    finish();
}

static void test_bad_workdir(void)
{
    struct plan p = { .workdir = "/nonexistent/dir" };
    struct run r;
    start(&p, &r);
    wait_helper(&r, 4000);
    ok(H->rc == -ENOENT, "workdir /nonexistent/dir: the original gets -ENOENT (%d)", (int)H->rc);
    ok(H->last_error[0] != '\0', "... with a message: \"%s\"", H->last_error);
    ok(leftovers(500) == 0, "... and no daemon is left behind");
    finish();

    struct plan q = { .stdout_path = "/nonexistent/dir/out.log" };
    start(&q, &r);
    wait_helper(&r, 4000);
    ok(H->rc == -ENOENT && H->last_error[0], "stdout_path in a missing dir: -ENOENT (%d: \"%s\")", (int)H->rc,
       H->last_error);
    ok(leftovers(500) == 0, "... and no daemon is left behind");
    finish();
}

static void test_threads(void)
{
    struct plan p = { .thread = 1 };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    helper_ok("threads", &r);
    ok(H->rc == -EBUSY, "with another thread running, pidkit_detach refuses with -EBUSY (%d)", (int)H->rc);
    ok(H->rc >= 0 || H->last_error[0], "... with a message: \"%s\"", H->last_error);
    ok(leftovers(300) == 0, "... and starts no process");
    finish();

    struct plan q = { .thread = 1, .flags = PIDKIT_DETACH_ALLOW_THREADS };
    start(&q, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    ok(H->rc > 0 && got && H->rc == o.pid, "ALLOW_THREADS: detaches with another thread running (%d: %s)",
       (int)H->rc, H->rc < 0 ? H->last_error : "");
    ok(got && o.num_threads == 1, "ALLOW_THREADS: the daemon has one thread (%u)", got ? o.num_threads : 0);
    finish();
}

static void test_rlimit(void)
{
    const char *n = "RLIMIT_NOFILE";
    struct plan p = { .rlimit = 1 };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    if (!helper_ok(n, &r))
        goto out;
    diag("%s: soft limit %llu, low fds filled up to %d, fd %d open; pidkit_detach took %lld us", n, H->rl_cur,
         H->rl_low_top, H->rl_fd, H->elapsed_us);
    ok(H->rc > 0 && got, "%s: detach with the soft limit at the hard limit %llu (%d: %s)", n, H->rl_cur, (int)H->rc,
       H->rc < 0 ? H->last_error : "");
    ok(H->returned && H->elapsed_us < 1000000, "%s: ... returns within 1 s (%lld ms)", n, H->elapsed_us / 1000);
    if (!got)
        goto out;
    ok(o.rl_fd_errno == EBADF, "%s: fd %d (limit-1) is closed in the daemon (%s)", n, H->rl_fd,
       o.rl_fd_errno > 0 ? strerror(o.rl_fd_errno) : "still open");
    check_fds_exact(n, &o, H->keep_fds, H->n_keep);
out:
    finish();
}

static void test_kill_group(void)
{
    const char *n = "process group";
    struct plan p = { .own_pgrp = 1, .pid_first = 1 };
    struct run r;
    struct obs o0, o1;
    start(&p, &r);
    int got0 = get_obs(&o0, 0, 3000);
    ok(got0 && o0.pid > 1, "%s: the daemon reports its pid before ready (%d)", n, got0 ? (int)o0.pid : -1);
    if (!got0)
        goto out;
    ok(o0.pgid != r.helper && o0.sid != H->old_sid, "%s: the daemon's group %d is not the original's %d", n,
       (int)o0.pgid, (int)r.helper);
    if (r.helper > 1 && getpgid(r.helper) == r.helper && r.helper != getpgrp())
        kill(-r.helper, SIGKILL);
    wait_helper(&r, 2000);
    ok(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL,
       "%s: kill(-%d, SIGKILL) killed the original while it waited in pidkit_detach", n, (int)r.helper);
    usleep(100000);
    ok(running(o0.pid), "%s: the daemon %d survives the kill of the original's process group", n, (int)o0.pid);
    kill(o0.pid, SIGUSR1);
    int got1 = get_obs(&o1, 1, 3000);
    ok(got1 && o1.ready_rc == 0, "%s: pidkit_detach_ready(0) with the original gone returns 0 (%d)", n,
       got1 ? o1.ready_rc : NOT_REACHED);
    usleep(50000);
    ok(running(o0.pid), "%s: ... and the daemon is still alive after it (no SIGPIPE)", n);
out:
    finish();
}

static void test_pidfile(void)
{
    const char *n = "pidfile";
    struct plan p = { .pidfile = 1, .wait_after = 1 };
    struct run r;
    struct obs o, o2;
    tmp_path(G.pf_path, sizeof G.pf_path, "d.pid");
    unlink(G.pf_path);
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    if (!helper_ok(n, &r))
        goto out;
    ok(H->rc > 0 && got, "%s: detach with opts.pidfile (%d: %s)", n, (int)H->rc, H->rc < 0 ? H->last_error : "");
    if (!got || H->rc <= 0)
        goto out;
    ok(H->pf_at_return == H->rc, "%s: when pidkit_detach returns, the file names the daemon (%d, daemon %d)", n,
       (int)H->pf_at_return, (int)H->rc);
    ok(H->pf_release_rc == 0, "%s: the original releases its copy (%d)", n, H->pf_release_rc);
    ok(H->pf_exists_after_release && H->pf_after_release == H->rc,
       "%s: ... which leaves the daemon's file in place, naming it (%d)", n, (int)H->pf_after_release);
    ok(H->pf_locked_after_release, "%s: ... and still locked", n);
    pid_t holder = 0;
    int c = pidkit_pidfile_check(G.pf_path, &holder);
    ok(c == 1 && holder == H->rc, "%s: pidkit_pidfile_check from outside: held (%d) by the daemon (%d)", n, c,
       (int)holder);
    ok(o.pf_fd >= 0 && o.pf_fd == H->pidfile_fd, "%s: the daemon's handle has the same fd %d (%d)", n,
       H->pidfile_fd, o.pf_fd);
    int want[9];
    int nw = 0;
    for (int i = 0; i < H->n_keep; i++)
        want[nw++] = H->keep_fds[i];
    want[nw++] = o.pf_fd;
    ok(o.pf_dir_fd >= 0, "%s: the daemon keeps the pidfile's directory open (fd %d)", n, o.pf_dir_fd);
    want[nw++] = o.pf_dir_fd;
    check_fds_exact(n, &o, want, nw);
    kill(o.pid, SIGUSR1);
    int got2 = get_obs(&o2, 2, 3000);
    ok(got2 && o2.pf_release_rc == 0 && !o2.pf_exists_after_release,
       "%s: the daemon owns it: its pidkit_pidfile_release removes the file (%d, exists %d)", n,
       got2 ? o2.pf_release_rc : NOT_REACHED, got2 ? o2.pf_exists_after_release : -1);
    c = pidkit_pidfile_check(G.pf_path, NULL);
    ok(c == 0, "%s: ... and it is not held any more (%d)", n, c);
out:
    finish();
    unlink(G.pf_path);
}

static void test_pidfile_failed(void)
{
    const char *n = "pidfile, failed detach";
    struct plan p = { .pidfile = 1, .ready_status = -EIO };
    struct run r;
    tmp_path(G.pf_path, sizeof G.pf_path, "f.pid");
    unlink(G.pf_path);
    start(&p, &r);
    wait_helper(&r, 4000);
    if (!helper_ok(n, &r))
        goto out;
    ok(H->rc == -EIO, "%s: ready(-EIO) -> -EIO (%d)", n, (int)H->rc);
    ok(H->pf_at_return == H->helper_pid, "%s: the file holds the original's pid again (%d, original %d)", n,
       (int)H->pf_at_return, (int)H->helper_pid);
    ok(H->pf_check_rc == 1 && H->pf_check_holder == H->helper_pid, "%s: it is held, by the original (%d, holder %d)",
       n, H->pf_check_rc, (int)H->pf_check_holder);
    ok(H->pf_release_rc == 0 && !H->pf_exists_after_release,
       "%s: the original still owns it: its release removes the file (%d, exists %d)", n, H->pf_release_rc,
       H->pf_exists_after_release);
out:
    finish();
    unlink(G.pf_path);
}

static void test_child_ready(void)
{
    const char *n = "daemon's child";
    struct plan p = { .child_ready = 1 };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    ok(got && o.child_ready_rc == -EINVAL, "%s: pidkit_detach_ready in a child of the daemon is -EINVAL (%d)", n,
       got ? o.child_ready_rc : NOT_REACHED);
    ok(got && H->rc == o.pid, "%s: ... and the original gets the daemon's own report (%d)", n, (int)H->rc);
    finish();
}

static void test_no_wait(void)
{
    const char *n = "NO_WAIT";
    struct plan p = { .flags = PIDKIT_DETACH_NO_WAIT, .ready_delay_ms = 1000, .zombie_check = 1 };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    ok(H->rc > 0 && H->elapsed_us < 500000,
       "%s: returns the pid before the daemon is ready (%d after %lld ms; ready comes after 1000 ms)", n, (int)H->rc,
       H->elapsed_us / 1000);
    ok(got && H->rc == o.pid, "%s: ... it is the daemon's pid (%d)", n, got ? (int)o.pid : -1);
    ok(got && o.ready_rc == 0, "%s: pidkit_detach_ready(0) returns 0 in the daemon (%d)", n,
       got ? o.ready_rc : NOT_REACHED);
    ok(H->zombie_rc == 0 || (H->zombie_rc == -1 && H->zombie_errno == ECHILD),
       "%s: no zombie in the original: waitpid(-1, WNOHANG) = %d", n, H->zombie_rc);
    finish();
}

static void test_exit_parent(int status, int want_exit)
{
    const char *n = "EXIT_PARENT";
    struct plan p = { .flags = PIDKIT_DETACH_EXIT_PARENT, .ready_status = status };
    struct run r;
    struct obs o;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&o, 1, 3000);
    ok(!H->returned && WIFEXITED(r.status) && WEXITSTATUS(r.status) == want_exit,
       "%s: ready(%d): the original exits with status %d inside the call (returned %d, status 0x%x)", n, status,
       want_exit, H->returned, r.status);
    ok(got && o.detach_rc == 0, "%s: ready(%d): the daemon runs on (detach returned %d there)", n, status,
       got ? (int)o.detach_rc : -1);
    finish();
}

/* The helper's body for the options checks: each call must fail before forking. */
static pid_t opt_call(const pidkit_detach_opts *o)
{
    pid_t r = pidkit_detach(o);
    if (r == 0 || getpid() != G.helper_pid)
        _exit(0); /* wrongly detached: we are the daemon */
    if (r > 0 && H->n_stray < 8)
        H->stray[H->n_stray++] = r;
    return r;
}

static void test_options(void)
{
    memset(H, 0, sizeof *H);
    pid_t h = fork();
    if (h == 0) {
        alarm(15);
        G.helper_pid = getpid();
        pidkit_detach_opts init = PIDKIT_DETACH_OPTS_INIT, o;
        uint32_t unknown = 0;
        for (int b = 31; b >= 0 && !unknown; b--)
            if (!(known_flags() & (1u << b)))
                unknown = 1u << b;

        o = init;
        o.flags = unknown;
        H->v[0] = opt_call(&o);
        snprintf(H->msg[0], sizeof H->msg[0], "%s", pidkit_last_error());

        o = init;
        o.size = 4;
        H->v[1] = opt_call(&o);

        static union {
            pidkit_detach_opts o;
            unsigned char bytes[8192];
        } big;
        memset(&big, 0, sizeof big);
        big.o.size = 4097;
        H->v[2] = opt_call(&big.o);

        static union {
            pidkit_detach_opts o;
            unsigned char bytes[sizeof(pidkit_detach_opts) + 16];
        } newer;
        memset(&newer, 0, sizeof newer);
        newer.o.size = (uint32_t)sizeof newer;
        newer.bytes[sizeof(pidkit_detach_opts) + 3] = 1;
        H->v[3] = opt_call(&newer.o);

        o = init;
        o.n_keep_fds = 2;
        o.keep_fds = NULL;
        H->v[4] = opt_call(&o);
        _exit(0);
    }
    int st;
    long long end = now_us() + 4000000;
    while (waitpid(h, &st, WNOHANG) == 0 && now_us() < end)
        usleep(2000);
    ok(H->v[0] == -EINVAL, "options: an unknown flag bit is -EINVAL (%d)", H->v[0]);
    ok(H->msg[0][0] != '\0', "options: ... with a message: \"%s\"", H->msg[0]);
    ok(H->v[1] == -EINVAL, "options: size 4 (too small for size and flags) is -EINVAL (%d)", H->v[1]);
    ok(H->v[2] == -E2BIG, "options: size 4097 (> 4096) is -E2BIG (%d)", H->v[2]);
    ok(H->v[3] == -E2BIG, "options: a larger size with a non-zero unknown byte is -E2BIG (%d)", H->v[3]);
    ok(H->v[4] == -EINVAL, "options: n_keep_fds 2 with keep_fds NULL is -EINVAL (%d)", H->v[4]);
    ok(H->n_stray == 0 && leftovers(300) == 0, "options: no bad options call started a process");
    sweep();

    /* NULL options: all defaults. The daemon keeps nothing, so it reports through a file. */
    const char *n = "NULL opts";
    struct plan p = { .opts_kind = OPTS_NULL, .cd_tmp = 1, .set_umask = 1, .helper_umask = 077, .extra_fds = 1 };
    struct run r;
    struct obs ob;
    start(&p, &r);
    wait_helper(&r, 4000);
    int got = get_obs(&ob, 1, 3000);
    ok(H->rc > 0 && got && H->rc == ob.pid, "%s: pidkit_detach(NULL) detaches (%d: %s)", n, (int)H->rc,
       H->rc < 0 ? H->last_error : "");
    if (got) {
        ok(cwd_is(&ob, "/") && ob.umask_val == 0 && ob.sid != ob.pid && ob.sid != H->old_sid,
           "%s: defaults: cwd \"%s\", umask %03o, new session, not its leader", n, ob.cwd, ob.umask_val);
        ok(is_dev_null(&ob, 0) && is_dev_null(&ob, 1) && is_dev_null(&ob, 2), "%s: stdio on /dev/null", n);
        check_fds_exact(n, &ob, NULL, 0);
    }
    finish();

    /* An older caller's struct that ends after flags: the members past size are zero. */
    n = "size 8";
    struct plan q = { .opts_kind = OPTS_SIZE_FLAGS_ONLY, .workdir = "/nonexistent/dir", .umask = 027,
                      .cd_tmp = 1, .set_umask = 1, .helper_umask = 077 };
    start(&q, &r);
    wait_helper(&r, 4000);
    got = get_obs(&ob, 1, 3000);
    ok(H->rc > 0 && got, "%s: members past size (workdir /nonexistent/dir, umask) are ignored (%d: %s)", n,
       (int)H->rc, H->rc < 0 ? H->last_error : "");
    if (got) {
        ok(cwd_is(&ob, "/") && ob.umask_val == 0, "%s: cwd \"%s\" and umask %03o are the defaults", n, ob.cwd,
           ob.umask_val);
        check_fds_exact(n, &ob, NULL, 0); /* keep_fds lies past size too */
    }
    finish();

    n = "larger size";
    struct plan b = { .opts_kind = OPTS_BIGGER_ZERO_TAIL };
    start(&b, &r);
    wait_helper(&r, 4000);
    got = get_obs(&ob, 1, 3000);
    ok(H->rc > 0 && got && H->rc == ob.pid, "%s: a newer caller's larger struct with a zero tail works (%d: %s)", n,
       (int)H->rc, H->rc < 0 ? H->last_error : "");
    finish();
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    /* 0, 1, 2 open, so that no pipe of ours lands on them. */
    for (int i = 0; i < 3; i++)
        if (fcntl(i, F_GETFD) < 0 && open("/dev/null", O_RDWR) != i)
            return 2;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        perror("PR_SET_CHILD_SUBREAPER");
        return 2;
    }
    const char *preload = getenv("LD_PRELOAD");
    G.valgrind = preload && strstr(preload, "vgpreload") != NULL;
    H = mmap(NULL, sizeof *H, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (H == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    char tmpl[] = "/tmp/pidkit-test-detach-XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, G.dir)) {
        perror("mkdtemp");
        return 2;
    }
    char path[PATH_MAX + 32];
    tmp_path(path, sizeof path, "sub");
    mkdir(path, 0755);
    tmp_path(path, sizeof path, "in.txt");
    write_text(path, "hello stdin\n");
    struct stat st;
    if (stat("/dev/null", &st) != 0)
        return 2;
    G.null_dev = (unsigned long long)st.st_dev;
    G.null_ino = (unsigned long long)st.st_ino;
    long long t0 = now_us();

    test_ready_without_detach();
    test_defaults();
    test_single_fork();
    test_umask_cwd();
    test_stdio_files();
    test_keep_stdio();
    test_keep_fds();
    test_ready_failure();
    test_exit_before_ready();
    test_bad_workdir();
    test_threads();
    test_rlimit();
    test_kill_group();
    test_pidfile();
    test_pidfile_failed();
    test_child_ready();
    test_no_wait();
    test_exit_parent(0, 0);
    test_exit_parent(-EIO, 1);
    test_options();

    sweep();
    nftw(G.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    diag("total %lld ms", (now_us() - t0) / 1000);
    return done_testing();
}
