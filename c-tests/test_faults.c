/* test_faults.c - pidkit under real faults: EMFILE, EACCES, ENOSPC, EROFS,
 * ENOENT and a symlinked path component owned by another user.
 *
 * No mocks: every fault is a real condition made in a forked child, which
 * then makes the call under test:
 *   EMFILE  RLIMIT_NOFILE's soft limit lowered and every descriptor below
 *           it taken, leaving 0, 1, 2, ... free slots (a sweep);
 *   EACCES  the child drops to nobody (65534) with setgroups/setgid/setuid;
 *   ENOSPC  a 4 KiB tmpfs with two or three inodes, mounted in a private
 *           mount namespace (unshare(CLONE_NEWNS)) and filled first;
 *   EROFS   the same tmpfs remounted read-only;
 *   ENOENT  a directory that does not exist;
 *   symlink a directory component that is a symlink owned by nobody.
 * Each case child is a child subreaper in a session of its own, so that a
 * process the library leaves behind anywhere below it becomes its child. For every case: the -errno, a message naming the path, no
 * descriptor leaked (/proc/self/fd counted before and after, same process),
 * no process left (waitpid(-1, WNOHANG) is -1/ECHILD and nothing new in our
 * session or process group), and no pidfile that claims a dead owner (it is
 * absent, empty, or names its live lock holder). Checks that need a tmpfs
 * run inside the case child: the mount dies with its namespace.
 *
 * Cases that the machine cannot set up (not root, unshare or mount
 * forbidden) are reported as "# SKIP reason", never silently dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pidkit.h>
#include "tap.h"

#define NOBODY 65534

static char tmp[PATH_MAX];       /* private temporary directory (realpath, 0755, root) */
static char tmpfs_dir[PATH_MAX]; /* mount point for the case children's tmpfs */
static int under_valgrind;       /* valgrind emulates some descriptor calls */

/* ---------------------------------------------------------------- helpers */

static void msleep(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static const char *ename(int e)
{
    const char *n = e > 0 ? strerrorname_np(e) : NULL;
    return n ? n : "?";
}

/* "<tmp>/<name>" in a rotating static buffer (a few may be live at once). */
static const char *T(const char *name)
{
    static char bufs[16][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 16];
    if (snprintf(b, PATH_MAX, "%s/%s", tmp, name) >= PATH_MAX) {
        printf("Bail out! path too long\n");
        exit(1);
    }
    return b;
}

static int write_file(const char *path, const char *content, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t n = strlen(content);
    int ok_ = write(fd, content, n) == (ssize_t)n;
    close(fd);
    return ok_ ? 0 : -1;
}

/* Reads up to n-1 bytes and NUL-terminates; the length, or -1 (errno). */
static ssize_t read_file(const char *path, char *buf, size_t n)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t r;
    while (len + 1 < n && (r = read(fd, buf + len, n - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    return (ssize_t)len;
}

/* File content for a one-line TAP message: newlines shown as "\n". */
static void oneline(char *dst, size_t n, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src[i] && j + 3 < n; i++) {
        if (src[i] == '\n') {
            dst[j++] = '\\';
            dst[j++] = 'n';
        } else {
            dst[j++] = src[i];
        }
    }
    dst[j] = '\0';
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Open descriptors of this process, not counting the one that lists them. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* ------------------------------------------------------ the case harness */

/* What a case child found, in a MAP_SHARED page the parent reads. */
struct outcome {
    int skipped;           /* the machine forbids the setup: why says why */
    char why[256];
    int called;            /* the call under test was made */
    int r;                 /* its return value */
    char err[1024];        /* pidkit_last_error() right after it */
    int fds_before, fds_after;
    int lingering;         /* descendants still alive 2 s after the call */
    int late;              /* descendants that exited only after the call returned */
    int strays;            /* new processes in our session or process group */
    char file_state[200];  /* "" = fine, else what is wrong with the pidfile */
    int check[8];          /* case-specific results, reported by the case */
    char note[512];
};

static struct outcome *out;

static void set_skip(const char *fmt, const char *what, int e)
{
    out->skipped = 1;
    snprintf(out->why, sizeof out->why, fmt, what, strerror(e));
}

/* Pids in our session or process group (ourselves excluded). */
static int group_members(pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    pid_t sid = getsid(0), pgid = getpgid(0), me = getpid();
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long p = strtol(e->d_name, &end, 10);
        if (*end || p <= 0 || p == me)
            continue;
        if (getsid((pid_t)p) == sid || getpgid((pid_t)p) == pgid)
            pids[n++] = (pid_t)p;
    }
    closedir(d);
    return n;
}

static pid_t members_before[4096];
static int n_members_before;

static void begin(void)
{
    out->fds_before = count_fds();
}

/* Records the call's result; `pidfile` (may be NULL) is checked for a
 * stale claim: after the call it must be absent, empty, or name the live
 * process that holds its lock. */
static void end(int r, const char *pidfile)
{
    out->called = 1;
    out->r = r;
    snprintf(out->err, sizeof out->err, "%s", pidkit_last_error());
    out->fds_after = count_fds();
    if (!pidfile)
        return;
    char buf[128];
    ssize_t n = read_file(pidfile, buf, sizeof buf);
    if (n < 0) {
        if (errno != ENOENT)
            snprintf(out->file_state, sizeof out->file_state, "unreadable: %s", strerror(errno));
        return;
    }
    if (n == 0)
        return;
    char *e;
    long p = strtol(buf, &e, 10);
    pid_t holder = -1;
    int held = pidkit_pidfile_check(pidfile, &holder);
    if (held != 1 || holder != (pid_t)p)
    {
        char shown[64];
        oneline(shown, sizeof shown, buf);
        snprintf(out->file_state, sizeof out->file_state,
                 "file left holding \"%.20s\" but check says %d, holder %d", shown, held, (int)holder);
    }
}

/* SIGKILLs `root` and everything below it (a hung case: its daemons and
 * programs were reparented to it, the subreaper, so they are all below). */
static void kill_tree(pid_t root, int include_root)
{
    for (int pass = 0; pass < 3; pass++) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            pid_t p = (pid_t)strtol(e->d_name, NULL, 10);
            for (pid_t a = p; a > 1;) {
                if (a == root) {
                    if (p != root || include_root)
                        kill(p, SIGKILL);
                    break;
                }
                pidkit_proc_info pi = PIDKIT_PROC_INFO_INIT;
                if (pidkit_proc_info_get(a, &pi) != 0)
                    break;
                a = pi.ppid;
            }
        }
        if (d)
            closedir(d);
    }
}

/* Every process below the case child must be gone: reap what exits within
 * 2 s (a daemon that reported failure may still be on its way out), count
 * and kill what does not. */
static void settle(void)
{
    int immediate = 1;
    for (int i = 0; i < 200; i++) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p < 0 && errno == ECHILD)
            goto strays;
        immediate = 0;
        if (p > 0) {
            out->late++;
            continue;
        }
        msleep(10);
    }
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        long p = strtol(e->d_name, NULL, 10);
        pidkit_proc_info pi = PIDKIT_PROC_INFO_INIT;
        if (p > 0 && pidkit_proc_info_get((pid_t)p, &pi) == 0 && pi.ppid == getpid())
            out->lingering++;
    }
    if (d)
        closedir(d);
    kill_tree(getpid(), 0);
    while (waitpid(-1, NULL, 0) > 0)
        ;
strays:
    (void)immediate;
    pid_t now[4096];
    int n = group_members(now, 4096);
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (int j = 0; j < n_members_before && !known; j++)
            known = now[i] == members_before[j];
        if (!known) {
            char comm[64] = "?";
            pidkit_proc_info pi = PIDKIT_PROC_INFO_INIT;
            if (pidkit_proc_info_get(now[i], &pi) == 0)
                snprintf(comm, sizeof comm, "%s", pi.comm);
            if (pi.state == 'Z' || kill(now[i], 0) != 0)
                continue;
            out->strays++;
            size_t l = strlen(out->note);
            snprintf(out->note + l, sizeof out->note - l, " stray pid %d (%s)", (int)now[i], comm);
        }
    }
}

/* Runs `fn` in a fresh case child and waits for it (30 s at most). */
static int run_case(void (*fn)(void))
{
    memset(out, 0, sizeof *out);
    out->r = INT32_MIN;
    fflush(stdout);
    pid_t c = fork();
    if (c < 0) {
        out->skipped = 1;
        snprintf(out->why, sizeof out->why, "fork: %s", strerror(errno));
        return -1;
    }
    if (c == 0) {
        /* A session (and process group) of its own: whatever appears in it
         * is the case's doing, even with other tests running beside us. */
        setsid();
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        n_members_before = group_members(members_before, 4096);
        fn();
        if (!out->skipped)
            settle();
        _exit(0);
    }
    int st = 0;
    for (int i = 0; i < 3000; i++) {
        pid_t w = waitpid(c, &st, WNOHANG);
        if (w == c)
            break;
        if (i == 2999) {
            kill_tree(c, 1);
            waitpid(c, &st, 0);
            snprintf(out->note, sizeof out->note, "case child hung: killed after 30 s");
            return -1;
        }
        msleep(10);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(out->note, sizeof out->note, "case child died (status %#x)", st);
        return -1;
    }
    return 0;
}

/* The five checks every failing case gets. `path` must appear in the
 * message (NULL: any non-empty message). */
static void expect_fault(const char *name, int want, const char *path, void (*fn)(void))
{
    int ran = run_case(fn);
    if (out->skipped) {
        for (int i = 0; i < 5; i++)
            skip(out->why, "%s", name);
        return;
    }
    if (ran != 0 || !out->called) {
        ok(0, "%s: the case ran (%s)", name, out->note[0] ? out->note : out->why);
        return;
    }
    ok(out->r == -want, "%s: -%s (got %d %s)", name, ename(want), out->r, out->r < 0 ? ename(-out->r) : "");
    ok(out->err[0] && (!path || strstr(out->err, path)), "%s: message names %s: \"%s\"", name,
       path ? path : "the failure", out->err);
    ok(out->fds_before >= 0 && out->fds_before == out->fds_after, "%s: no descriptor leaked (%d before, %d after)",
       name, out->fds_before, out->fds_after);
    ok(out->lingering == 0 && out->strays == 0, "%s: no process left (lingering %d, strays %d%s)", name,
       out->lingering, out->strays, out->note);
    if (out->late)
        diag("%s: %d descendant(s) exited only after the call returned", name, out->late);
    ok(out->file_state[0] == '\0', "%s: no pidfile claiming a dead owner%s%s", name,
       out->file_state[0] ? ": " : "", out->file_state);
}

/* ------------------------------------------------------ fault set-ups */

static int drop_to_nobody(void)
{
    if (geteuid() != 0) {
        set_skip("%s needs root (%s)", "dropping to nobody", EPERM);
        return -1;
    }
    if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0) {
        set_skip("%s: %s", "setgroups/setgid/setuid(65534)", errno);
        return -1;
    }
    /* setuid cleared "dumpable", which makes /proc/self/fd root's: take it
     * back so that the descriptor count still works. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return 0;
}

/* A 4 KiB tmpfs with `inodes` inodes (the root directory takes one) at
 * tmpfs_dir, in a mount namespace of this case child only. */
static int private_tmpfs(int inodes)
{
    if (unshare(CLONE_NEWNS) != 0) {
        set_skip("%s: %s", "unshare(CLONE_NEWNS)", errno);
        return -1;
    }
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) {
        set_skip("%s: %s", "making / private in the new namespace", errno);
        return -1;
    }
    char opts[64];
    snprintf(opts, sizeof opts, "size=4k,nr_inodes=%d,mode=0755", inodes);
    if (mount("none", tmpfs_dir, "tmpfs", 0, opts) != 0) {
        set_skip("%s: %s", "mounting a tmpfs", errno);
        return -1;
    }
    return 0;
}

static const char *M(const char *name)
{
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];
    if (snprintf(b, PATH_MAX, "%s/%s", tmpfs_dir, name) >= PATH_MAX) {
        printf("Bail out! path too long\n");
        exit(1);
    }
    return b;
}

/* Fills the tmpfs's one data page. */
static int fill_page(void)
{
    char page[4096];
    memset(page, 'x', sizeof page);
    int fd = open(M("filler"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, page, sizeof page) != (ssize_t)sizeof page) {
        set_skip("%s: %s", "filling the tmpfs", errno);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int remount_ro(void)
{
    if (mount("none", tmpfs_dir, "none", MS_REMOUNT | MS_RDONLY, NULL) != 0) {
        set_skip("%s: %s", "remounting the tmpfs read-only", errno);
        return -1;
    }
    return 0;
}

/* EMFILE: lower the soft RLIMIT_NOFILE and take every slot below it but
 * `free_slots`. Returns the number of filler descriptors (closed by unfill). */
static int fillers[256];
static int n_fillers;
static struct rlimit saved_nofile;

static int fill_fds(int free_slots)
{
    getrlimit(RLIMIT_NOFILE, &saved_nofile);
    struct rlimit rl = saved_nofile;
    rl.rlim_cur = 64;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    n_fillers = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        if (n_fillers == 256) {
            close(fd);
            return -1;
        }
        fillers[n_fillers++] = fd;
    }
    for (int i = 0; i < free_slots && n_fillers > 0; i++)
        close(fillers[--n_fillers]);
    return 0;
}

static void unfill_fds(void)
{
    while (n_fillers > 0)
        close(fillers[--n_fillers]);
    setrlimit(RLIMIT_NOFILE, &saved_nofile);
}

/* ------------------------------------------------------ calls under test */

static pidkit_pidfile *acquire_pf;

static int do_acquire(const char *path, uint32_t flags)
{
    pidkit_pidfile_opts o = PIDKIT_PIDFILE_OPTS_INIT;
    o.flags = flags;
    pidkit_pidfile *pf = (pidkit_pidfile *)(uintptr_t)0x1;
    int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
    if (r == 0) {
        acquire_pf = pf;
    } else if (pf != (pidkit_pidfile *)(uintptr_t)0x1) {
        out->check[7] = 1; /* *out written on failure */
    }
    return r;
}

/* A detach whose daemon (if the call unexpectedly works) reports ready,
 * writes `daemon_says` to its stdout and leaves. */
static pidkit_detach_opts dopts;

static int do_detach(const char *daemon_says)
{
    pid_t r = pidkit_detach(&dopts);
    if (r == 0) {
        if (daemon_says && write(1, daemon_says, strlen(daemon_says)) < 0)
            _exit(3);
        pidkit_detach_ready(0);
        _exit(0);
    }
    return (int)r;
}

static pidkit_spawn_opts sopts;
static const char *spawn_argv[4] = { "/bin/true", NULL, NULL, NULL };

static int do_spawn(void)
{
    return (int)pidkit_spawn(spawn_argv, NULL, &sopts);
}

static void reset_opts(void)
{
    pidkit_detach_opts d = PIDKIT_DETACH_OPTS_INIT;
    pidkit_spawn_opts s = PIDKIT_SPAWN_OPTS_INIT;
    dopts = d;
    sopts = s;
    spawn_argv[0] = "/bin/true";
    spawn_argv[1] = NULL;
    acquire_pf = NULL;
}

/* ================================================================ EMFILE */

static void case_emfile_acquire(void)
{
    begin();
    if (fill_fds(0) != 0) {
        set_skip("%s: %s", "lowering RLIMIT_NOFILE", errno);
        return;
    }
    int r = do_acquire(T("emfile.pid"), 0);
    unfill_fds();
    end(r, T("emfile.pid"));
    pidkit_pidfile_release(acquire_pf);
}

/* The sweep: 0, 1, 2, ... free descriptors until the call works. Each
 * failing step must be EMFILE with a message and clean up completely. */
enum { SWEEP_MAX = 16 };
struct sweep {
    int r[SWEEP_MAX];
    int fds_delta[SWEEP_MAX];
    int children[SWEEP_MAX];
    char err[SWEEP_MAX][200];
    int worked_at;
};

static struct sweep *sw;

static void sweep_settle(int k)
{
    /* A successful call's daemon or program exits at once; anything else
     * still below us after 2 s was left behind. */
    for (int i = 0; i < 200; i++) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p < 0)
            return;
        if (p == 0)
            msleep(10);
    }
    sw->children[k] = 1;
}

static void emfile_sweep(int (*call)(void), const char *pidfile)
{
    sw->worked_at = -1;
    for (int k = 0; k < SWEEP_MAX; k++) {
        int before = count_fds();
        if (fill_fds(k) != 0) {
            set_skip("%s: %s", "lowering RLIMIT_NOFILE", errno);
            return;
        }
        int r = call();
        snprintf(sw->err[k], sizeof sw->err[k], "%s", pidkit_last_error());
        unfill_fds();
        sw->r[k] = r;
        sw->fds_delta[k] = count_fds() - before;
        if (r != -EMFILE) {
            sw->worked_at = k;
            sweep_settle(k);
            break;
        }
        sweep_settle(k);
        if (pidfile) {
            end(r, pidfile);
            if (out->file_state[0])
                break;
        }
    }
    out->called = 1;
}

static int call_detach_stdio(void)
{
    reset_opts();
    dopts.stdin_path = T("in.txt");
    dopts.stdout_path = T("emfile-out.log");
    dopts.stderr_path = T("emfile-err.log");
    dopts.workdir = tmp;
    return do_detach(NULL);
}

static int call_spawn_stdio(void)
{
    reset_opts();
    sopts.stdin_path = T("in.txt");
    sopts.stdout_path = T("emfile-out.log");
    sopts.stderr_path = T("emfile-err.log");
    sopts.workdir = tmp;
    sopts.pidfile = T("emfile-spawn.pid");
    return do_spawn();
}

static void case_emfile_detach(void) { emfile_sweep(call_detach_stdio, NULL); }
static void case_emfile_spawn(void) { emfile_sweep(call_spawn_stdio, T("emfile-spawn.pid")); }

static void report_sweep(const char *name, int worked_r)
{
    if (out->skipped) {
        skip(out->why, "%s", name);
        return;
    }
    int steps = sw->worked_at < 0 ? SWEEP_MAX : sw->worked_at;
    int all_emfile = 1, all_msg = 1, no_leak = 1, no_proc = 1;
    int named_out = 0, named_err = 0;
    for (int k = 0; k < steps; k++) {
        all_emfile &= sw->r[k] == -EMFILE;
        /* Each says what failed and why. */
        all_msg &= sw->err[k][0] != '\0' && strstr(sw->err[k], "too many open files") != NULL;
        no_leak &= sw->fds_delta[k] == 0;
        no_proc &= !sw->children[k];
        named_out |= strstr(sw->err[k], "emfile-out.log") != NULL;
        named_err |= strstr(sw->err[k], "emfile-err.log") != NULL;
        diag("%s, %d free descriptor(s): %d \"%s\"", name, k, sw->r[k], sw->err[k]);
    }
    ok(sw->worked_at > 0, "%s: fails with too few descriptors, works with %d", name, sw->worked_at);
    ok(all_emfile, "%s: every failing step is -EMFILE", name);
    ok(all_msg, "%s: every failing step leaves a message saying what ran out of descriptors", name);
    ok(named_out && named_err, "%s: the steps that open stdout and stderr name their paths", name);
    ok(no_leak, "%s: no descriptor leaked at any step", name);
    ok(no_proc, "%s: no process left at any step", name);
    ok(out->file_state[0] == '\0', "%s: no pidfile claiming a dead owner%s%s", name, out->file_state[0] ? ": " : "",
       out->file_state);
    if (sw->worked_at >= 0 && under_valgrind && sw->r[sw->worked_at] == -EBADF)
        /* valgrind's close_range fails with EBADF for a range that starts
         * at its emulated soft limit (the kernel closes nothing, returns 0). */
        skip("valgrind's close_range emulation: EBADF at the soft limit", "%s: with enough descriptors it works",
             name);
    else if (sw->worked_at >= 0)
        ok(worked_r ? sw->r[sw->worked_at] > 0 : sw->r[sw->worked_at] == 0,
           "%s: with enough descriptors it works (%d)", name, sw->r[sw->worked_at]);
}

/* ================================================================ EACCES */

static void case_eacces_acquire_new(void)
{
    if (drop_to_nobody())
        return;
    begin();
    int r = do_acquire(T("root755/new.pid"), 0);
    end(r, T("root755/new.pid"));
    out->check[0] = exists(T("root755/new.pid"));
}

static void case_eacces_acquire_existing(void)
{
    if (drop_to_nobody())
        return;
    begin();
    int r = do_acquire(T("root755/old.pid"), 0);
    end(r, NULL);
    char buf[64];
    read_file(T("root755/old.pid"), buf, sizeof buf);
    out->check[0] = strcmp(buf, "424242\n") == 0;
}

static void case_eacces_detach_stdout(void)
{
    if (drop_to_nobody())
        return;
    reset_opts();
    dopts.stdout_path = T("root755/daemon.log");
    begin();
    int r = do_detach(NULL);
    end(r, NULL);
    out->check[0] = exists(T("root755/daemon.log"));
}

static void case_eacces_detach_workdir(void)
{
    if (drop_to_nobody())
        return;
    reset_opts();
    dopts.workdir = T("root700");
    begin();
    int r = do_detach(NULL);
    end(r, NULL);
}

static void case_eacces_spawn_stdout(void)
{
    if (drop_to_nobody())
        return;
    reset_opts();
    sopts.stdout_path = T("root755/prog.log");
    begin();
    int r = do_spawn();
    end(r, NULL);
    out->check[0] = exists(T("root755/prog.log"));
}

static void case_eacces_spawn_workdir(void)
{
    if (drop_to_nobody())
        return;
    reset_opts();
    sopts.workdir = T("root700");
    begin();
    int r = do_spawn();
    end(r, NULL);
}

static void case_eacces_spawn_noexec(void)
{
    if (drop_to_nobody())
        return;
    reset_opts();
    spawn_argv[0] = T("not-executable.sh");
    sopts.pidfile = T("nobody-owned/noexec.pid");
    begin();
    int r = do_spawn();
    end(r, T("nobody-owned/noexec.pid"));
    out->check[0] = exists(T("nobody-owned/noexec.pid"));
}

static void case_eacces_spawn_noexec_root(void)
{
    reset_opts();
    spawn_argv[0] = T("not-executable.sh");
    begin();
    int r = do_spawn();
    end(r, NULL);
}

/* ================================================================ ENOSPC */

static void case_enospc_acquire_no_inode(void)
{
    if (private_tmpfs(2) || fill_page())
        return;
    begin();
    int r = do_acquire(M("app.pid"), 0);
    end(r, M("app.pid"));
}

static void case_enospc_acquire_no_block(void)
{
    if (private_tmpfs(3) || fill_page())
        return;
    begin();
    int r = do_acquire(M("app.pid"), 0);
    end(r, M("app.pid"));
    out->check[0] = exists(M("app.pid"));
}

static void case_enospc_write(void)
{
    if (private_tmpfs(3))
        return;
    int r = do_acquire(M("app.pid"), PIDKIT_PIDFILE_NO_WRITE);
    if (r != 0) {
        set_skip("%s: %s", "acquire on the empty tmpfs", -r);
        return;
    }
    if (fill_page())
        return;
    begin();
    r = pidkit_pidfile_write(acquire_pf);
    end(r, M("app.pid"));
    struct stat st;
    out->check[0] = stat(M("app.pid"), &st) == 0 && st.st_size == 0;
    pid_t holder = -1;
    out->check[1] = pidkit_pidfile_check(M("app.pid"), &holder) == 1 && holder == 0;
    out->check[2] = pidkit_pidfile_release(acquire_pf);
    out->check[3] = exists(M("app.pid"));
    out->fds_after = count_fds() + 2; /* the handle's two descriptors (pidfile, its directory) were open at begin() */
}

static void case_enospc_detach_stdout(void)
{
    if (private_tmpfs(2) || fill_page())
        return;
    reset_opts();
    dopts.stdout_path = M("daemon.log");
    begin();
    int r = do_detach(NULL);
    end(r, NULL);
}

static void case_enospc_detach_pidfile(void)
{
    if (private_tmpfs(3))
        return;
    reset_opts();
    int r = do_acquire(M("daemon.pid"), PIDKIT_PIDFILE_NO_WRITE);
    if (r != 0) {
        set_skip("%s: %s", "acquire on the empty tmpfs", -r);
        return;
    }
    if (fill_page())
        return;
    dopts.pidfile = acquire_pf;
    begin();
    r = do_detach(NULL);
    end(r, M("daemon.pid"));
    /* After a failure the original still owns the pidfile: it is locked
     * (by us), and holds our pid or nothing (the disk is full). */
    pid_t holder = -1;
    out->check[0] = pidkit_pidfile_check(M("daemon.pid"), &holder) == 1 && (holder == 0 || holder == getpid());
    out->check[1] = pidkit_pidfile_release(acquire_pf);
    out->check[2] = exists(M("daemon.pid"));
    out->fds_after = count_fds() + 2; /* the pidfile handle's two descriptors */
}

static void case_enospc_spawn_stdout(void)
{
    if (private_tmpfs(2) || fill_page())
        return;
    reset_opts();
    sopts.stdout_path = M("prog.log");
    begin();
    int r = do_spawn();
    end(r, NULL);
}

static void case_enospc_spawn_pidfile(void)
{
    if (private_tmpfs(3) || fill_page())
        return;
    reset_opts();
    sopts.pidfile = M("prog.pid");
    begin();
    int r = do_spawn();
    end(r, M("prog.pid"));
    out->check[0] = exists(M("prog.pid"));
}

/* ================================================================ EROFS */

static void case_erofs_acquire_new(void)
{
    if (private_tmpfs(16) || remount_ro())
        return;
    begin();
    int r = do_acquire(M("app.pid"), 0);
    end(r, M("app.pid"));
}

static void case_erofs_acquire_stale(void)
{
    if (private_tmpfs(16))
        return;
    if (write_file(M("app.pid"), "424242\n", 0644) != 0) {
        set_skip("%s: %s", "writing a stale pidfile", errno);
        return;
    }
    if (remount_ro())
        return;
    begin();
    int r = do_acquire(M("app.pid"), 0);
    end(r, NULL);
    char buf[64];
    read_file(M("app.pid"), buf, sizeof buf);
    out->check[0] = strcmp(buf, "424242\n") == 0;
}

/* pidkit_pidfile_write writes through the descriptor acquire opened for
 * writing; while it is open the kernel refuses to make the mount read-only
 * (EBUSY), so EROFS cannot reach pidfile_write. If a kernel ever allows the
 * remount, the write must fail with -EROFS and leave no partial pid. */
static void case_erofs_write(void)
{
    if (private_tmpfs(16))
        return;
    int r = do_acquire(M("app.pid"), 0);
    if (r != 0) {
        set_skip("%s: %s", "acquire on the tmpfs", -r);
        return;
    }
    int rm = mount("none", tmpfs_dir, "none", MS_REMOUNT | MS_RDONLY, NULL);
    out->check[0] = rm == 0 ? 0 : errno;
    begin();
    r = pidkit_pidfile_write(acquire_pf);
    end(r, M("app.pid"));
    char buf[64];
    read_file(M("app.pid"), buf, sizeof buf);
    char want[32];
    snprintf(want, sizeof want, "%d\n", (int)getpid());
    out->check[1] = strcmp(buf, want) == 0 || buf[0] == '\0';
    pidkit_pidfile_release(acquire_pf);
}

static void case_erofs_detach_stdout(void)
{
    if (private_tmpfs(16) || remount_ro())
        return;
    reset_opts();
    dopts.stdout_path = M("daemon.log");
    begin();
    int r = do_detach(NULL);
    end(r, NULL);
}

static void case_erofs_spawn_stdout(void)
{
    if (private_tmpfs(16) || remount_ro())
        return;
    reset_opts();
    sopts.stdout_path = M("prog.log");
    begin();
    int r = do_spawn();
    end(r, NULL);
}

static void case_erofs_spawn_pidfile(void)
{
    if (private_tmpfs(16) || remount_ro())
        return;
    reset_opts();
    sopts.pidfile = M("prog.pid");
    begin();
    int r = do_spawn();
    end(r, M("prog.pid"));
}

/* ================================================================ ENOENT */

static void case_enoent_acquire(void)
{
    begin();
    int r = do_acquire(T("missing/app.pid"), 0);
    end(r, T("missing/app.pid"));
}

static void case_enoent_detach_stdin(void)
{
    reset_opts();
    dopts.stdin_path = T("missing.txt");
    begin();
    int r = do_detach(NULL);
    end(r, NULL);
    out->check[0] = exists(T("missing.txt"));
}

static void case_enoent_detach_stdout(void)
{
    reset_opts();
    dopts.stdout_path = T("missing/daemon.log");
    begin();
    int r = do_detach(NULL);
    end(r, NULL);
}

static void case_enoent_detach_workdir(void)
{
    reset_opts();
    dopts.workdir = T("missing");
    begin();
    int r = do_detach(NULL);
    end(r, NULL);
}

static void case_enoent_spawn_stdin(void)
{
    reset_opts();
    sopts.stdin_path = T("missing.txt");
    begin();
    int r = do_spawn();
    end(r, NULL);
}

static void case_enoent_spawn_stdout(void)
{
    reset_opts();
    sopts.stderr_path = T("missing/prog.err");
    begin();
    int r = do_spawn();
    end(r, NULL);
}

static void case_enoent_spawn_workdir(void)
{
    reset_opts();
    sopts.workdir = T("missing");
    begin();
    int r = do_spawn();
    end(r, NULL);
}

static void case_enoent_spawn_pidfile(void)
{
    reset_opts();
    sopts.pidfile = T("missing/prog.pid");
    begin();
    int r = do_spawn();
    end(r, T("missing/prog.pid"));
}

static void case_enoent_spawn_program(void)
{
    reset_opts();
    spawn_argv[0] = T("missing/program");
    sopts.pidfile = T("enoent-prog.pid");
    begin();
    int r = do_spawn();
    end(r, T("enoent-prog.pid"));
}

/* ======================================================= symlinked component
 *
 * O_NOFOLLOW protects only the last component of a path: a symlinked
 * directory earlier in the path is followed like any other. What keeps an
 * attacker who owns such a symlink from steering a root daemon's pidfile
 * elsewhere is (a) fs.protected_symlinks=1, which refuses (EACCES) to follow
 * a symlink in a sticky world-writable directory when its owner is neither
 * the follower nor the directory's owner, and (b) the lock: a file that is
 * held is never touched. Otherwise the lock lands in the target directory.
 */

static int protected_symlinks(void)
{
    char buf[8];
    if (read_file("/proc/sys/fs/protected_symlinks", buf, sizeof buf) <= 0)
        return -1;
    return atoi(buf);
}

/* A holder of <tmp>/target/app.pid in a child process; returns its pid. */
static pid_t start_holder(const char *path, int *release_fd)
{
    int go[2], ready[2];
    if (pipe2(go, O_CLOEXEC) || pipe2(ready, O_CLOEXEC))
        return -1;
    pid_t h = fork();
    if (h == 0) {
        close(go[1]);
        close(ready[0]);
        pidkit_pidfile *pf = NULL;
        char c = pidkit_pidfile_acquire(path, NULL, &pf, NULL) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        if (read(go[0], &c, 1) < 0)
            _exit(1);
        pidkit_pidfile_release(pf);
        _exit(0);
    }
    close(go[0]);
    close(ready[1]);
    char c = 'n';
    if (h < 0 || read(ready[0], &c, 1) != 1 || c != 'y') {
        close(ready[0]);
        close(go[1]);
        return -1;
    }
    close(ready[0]);
    *release_fd = go[1];
    return h;
}

static void stop_holder(pid_t h, int release_fd)
{
    close(release_fd);
    waitpid(h, NULL, 0);
}

/* <tmp>/sticky is 1777 root, <tmp>/sticky/evil -> <tmp>/target is nobody's. */
static void case_symlink_sticky(void)
{
    begin();
    int r = do_acquire(T("sticky/evil/sticky.pid"), 0);
    end(r, T("target/sticky.pid"));
    out->check[0] = exists(T("target/sticky.pid"));
    if (r == 0) {
        char buf[64], want[32];
        read_file(T("target/sticky.pid"), buf, sizeof buf);
        snprintf(want, sizeof want, "%d\n", (int)getpid());
        pid_t holder = -1;
        out->check[1] = strcmp(buf, want) == 0 && pidkit_pidfile_check(T("target/sticky.pid"), &holder) == 1 &&
                        holder == getpid();
        out->check[2] = pidkit_pidfile_release(acquire_pf);
        out->check[3] = exists(T("target/sticky.pid"));
        out->fds_after = count_fds();
    }
}

/* <tmp>/nobody-owned (0755 nobody) holds evil -> <tmp>/target: a path
 * component the attacker owns outright. The target file is held. */
static void case_symlink_held(void)
{
    int rel;
    pid_t h = start_holder(T("target/held.pid"), &rel);
    if (h < 0) {
        set_skip("%s: %s", "starting a holder", errno);
        return;
    }
    char before[64];
    read_file(T("target/held.pid"), before, sizeof before);
    begin();
    pid_t holder = -1;
    pidkit_pidfile_opts o = PIDKIT_PIDFILE_OPTS_INIT;
    pidkit_pidfile *pf = NULL;
    int r = pidkit_pidfile_acquire(T("nobody-owned/evil/held.pid"), &o, &pf, &holder);
    end(r, T("target/held.pid"));
    char after[64];
    read_file(T("target/held.pid"), after, sizeof after);
    out->check[0] = strcmp(before, after) == 0;
    out->check[1] = holder == h;
    stop_holder(h, rel);
}

/* The same, nothing at the target: refused, nothing created there. */
static void case_symlink_free_refused(void)
{
    begin();
    int r = do_acquire(T("nobody-owned/evil/free.pid"), 0);
    end(r, NULL);
    out->check[0] = exists(T("target/free.pid"));
}

/* The target is a regular file that is not a pidfile. */
static void case_symlink_victim(void)
{
    begin();
    int r = do_acquire(T("nobody-owned/evil/victim.conf"), PIDKIT_PIDFILE_KEEP_FILE);
    out->called = 1;
    out->r = r;
    snprintf(out->err, sizeof out->err, "%s", pidkit_last_error());
    char buf[128];
    read_file(T("target/victim.conf"), buf, sizeof buf);
    out->check[0] = strcmp(buf, "precious = yes\n") == 0;
    oneline(out->note, sizeof out->note, buf);
    pidkit_pidfile_release(acquire_pf);
    out->fds_after = count_fds();
}

/* The same path with PIDKIT_PIDFILE_STRICT: refused before anything is
 * opened, the file behind the link untouched. */
static void case_symlink_victim_strict(void)
{
    begin();
    int r = do_acquire(T("nobody-owned/evil/victim.conf"), PIDKIT_PIDFILE_STRICT);
    end(r, NULL);
    char buf[128];
    read_file(T("target/victim.conf"), buf, sizeof buf);
    out->check[0] = strcmp(buf, "precious = yes\n") == 0 || strstr(buf, "precious") != NULL;
    oneline(out->note, sizeof out->note, buf);
}

/* The last component is nobody's symlink: never followed. */
static void case_symlink_last(void)
{
    begin();
    int r = do_acquire(T("nobody-owned/last.pid"), 0);
    end(r, NULL);
    char buf[128];
    read_file(T("target/victim2.conf"), buf, sizeof buf);
    out->check[0] = strcmp(buf, "precious = yes\n") == 0;
}

/* stdio files through the symlinked directory are opened for append: the
 * target's content is never truncated. */
static void case_symlink_spawn_stdout(void)
{
    reset_opts();
    static const char *const echo[] = { "/bin/echo", "appended", NULL };
    sopts.stdout_path = T("nobody-owned/evil/log.txt");
    begin();
    pid_t r = pidkit_spawn(echo, NULL, &sopts);
    out->called = 1;
    out->r = (int)r;
    snprintf(out->err, sizeof out->err, "%s", pidkit_last_error());
    while (r > 0 && waitpid(-1, NULL, 0) > 0) /* the program: reparented to us, the subreaper */
        ;
    out->fds_after = count_fds();
    char buf[128];
    read_file(T("target/log.txt"), buf, sizeof buf);
    out->check[0] = strcmp(buf, "precious log\n") == 0;
    oneline(out->note, sizeof out->note, buf);
}

static void case_symlink_detach_stdout(void)
{
    reset_opts();
    dopts.stdout_path = T("nobody-owned/evil/dlog.txt");
    begin();
    int r = do_detach("daemon\n");
    out->called = 1;
    out->r = r;
    snprintf(out->err, sizeof out->err, "%s", pidkit_last_error());
    while (r > 0 && waitpid(-1, NULL, 0) > 0)
        ;
    out->fds_after = count_fds();
    char buf[128];
    read_file(T("target/dlog.txt"), buf, sizeof buf);
    out->check[0] = strcmp(buf, "precious log\n") == 0;
    oneline(out->note, sizeof out->note, buf);
}

/* ================================================================ setup */

static int rm_rf(const char *path)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    return system(cmd);
}

static int make_tree(void)
{
    char tmpl[] = "/tmp/pidkit-faults.XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, tmp))
        return -1;
    if (snprintf(tmpfs_dir, sizeof tmpfs_dir, "%s/tmpfs", tmp) >= (int)sizeof tmpfs_dir)
        return -1;
    int bad = 0;
    bad |= chmod(tmp, 0755);
    bad |= mkdir(tmpfs_dir, 0755);
    bad |= mkdir(T("root755"), 0755);
    bad |= mkdir(T("root700"), 0700);
    bad |= write_file(T("root755/old.pid"), "424242\n", 0644);
    bad |= write_file(T("in.txt"), "input\n", 0644);
    bad |= write_file(T("not-executable.sh"), "#!/bin/sh\nexit 0\n", 0644);
    bad |= mkdir(T("target"), 0755);
    bad |= write_file(T("target/victim.conf"), "precious = yes\n", 0644);
    bad |= write_file(T("target/log.txt"), "precious log\n", 0644);
    bad |= write_file(T("target/dlog.txt"), "precious log\n", 0644);
    bad |= mkdir(T("sticky"), 0755);
    bad |= chmod(T("sticky"), 01777);
    bad |= symlink(T("target"), T("sticky/evil"));
    bad |= mkdir(T("nobody-owned"), 0755);
    bad |= symlink(T("target"), T("nobody-owned/evil"));
    bad |= write_file(T("target/victim2.conf"), "precious = yes\n", 0644);
    bad |= symlink(T("target/victim2.conf"), T("nobody-owned/last.pid"));
    if (geteuid() == 0) {
        bad |= lchown(T("sticky/evil"), NOBODY, NOBODY);
        bad |= lchown(T("nobody-owned/evil"), NOBODY, NOBODY);
        bad |= lchown(T("nobody-owned/last.pid"), NOBODY, NOBODY);
        bad |= chown(T("nobody-owned"), NOBODY, NOBODY);
    }
    return bad ? -1 : 0;
}

int main(void)
{
    out = mmap(NULL, sizeof *out, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sw = mmap(NULL, sizeof *sw, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (out == MAP_FAILED || sw == MAP_FAILED || make_tree() != 0) {
        printf("Bail out! cannot set up: %s\n", strerror(errno));
        return 1;
    }
    int root = geteuid() == 0;
    const char *preload = getenv("LD_PRELOAD");
    under_valgrind = preload && strstr(preload, "vgpreload") != NULL;

    /* EMFILE */
    expect_fault("EMFILE acquire", EMFILE, T("emfile.pid"), case_emfile_acquire);
    /* Under valgrind the kernel's open succeeds and valgrind closes the
     * descriptor above its emulated limit: an empty file may be left. */
    struct stat est;
    ok(lstat(T("emfile.pid"), &est) != 0 || (under_valgrind && est.st_size == 0),
       "EMFILE acquire: no file created");
    run_case(case_emfile_detach);
    report_sweep("EMFILE detach (stdio files, workdir)", 1);
    run_case(case_emfile_spawn);
    report_sweep("EMFILE spawn (stdio files, workdir, pidfile)", 1);
    unlink(T("emfile-out.log"));
    unlink(T("emfile-err.log"));

    /* EACCES */
    expect_fault("EACCES acquire as nobody in a root 0755 dir", EACCES, T("root755/new.pid"), case_eacces_acquire_new);
    ok(!out->skipped ? !out->check[0] : 1, "... no file created");
    expect_fault("EACCES acquire as nobody of root's existing file", EACCES, T("root755/old.pid"),
                 case_eacces_acquire_existing);
    ok(out->skipped || out->check[0], "... its content is untouched");
    expect_fault("EACCES detach, stdout in a root 0755 dir", EACCES, T("root755/daemon.log"), case_eacces_detach_stdout);
    ok(out->skipped || !out->check[0], "... no log file created");
    expect_fault("EACCES detach, workdir root's 0700 dir", EACCES, T("root700"), case_eacces_detach_workdir);
    expect_fault("EACCES spawn, stdout in a root 0755 dir", EACCES, T("root755/prog.log"), case_eacces_spawn_stdout);
    ok(out->skipped || !out->check[0], "... no log file created");
    expect_fault("EACCES spawn, workdir root's 0700 dir", EACCES, T("root700"), case_eacces_spawn_workdir);
    if (root) {
        expect_fault("EACCES spawn as nobody of a non-executable program (with a pidfile)", EACCES,
                     T("not-executable.sh"), case_eacces_spawn_noexec);
        ok(out->skipped || !out->check[0], "... the pidfile is removed");
    } else {
        for (int i = 0; i < 6; i++)
            skip("needs root", "EACCES spawn as nobody of a non-executable program");
    }
    expect_fault("EACCES spawn as root of a program without any x bit", EACCES, T("not-executable.sh"),
                 case_eacces_spawn_noexec_root);

    /* ENOSPC */
    expect_fault("ENOSPC acquire, no inode left", ENOSPC, M("app.pid"), case_enospc_acquire_no_inode);
    expect_fault("ENOSPC acquire, created but the pid cannot be written", ENOSPC, M("app.pid"),
                 case_enospc_acquire_no_block);
    ok(out->skipped || !out->check[0], "... the file it created is removed");
    expect_fault("ENOSPC pidfile_write on a full disk", ENOSPC, M("app.pid"), case_enospc_write);
    if (!out->skipped) {
        ok(out->check[0], "... the file is left empty, not holding a partial pid");
        ok(out->check[1], "... the lock is still held (check 1, holder 0)");
        ok(out->check[2] == 0 && !out->check[3], "... release still works and removes the file (%d)", out->check[2]);
    } else {
        for (int i = 0; i < 3; i++)
            skip(out->why, "ENOSPC pidfile_write follow-ups");
    }
    expect_fault("ENOSPC detach, stdout cannot be created", ENOSPC, M("daemon.log"), case_enospc_detach_stdout);
    expect_fault("ENOSPC detach, the daemon's pid cannot be written to the pidfile", ENOSPC, M("daemon.pid"),
                 case_enospc_detach_pidfile);
    if (!out->skipped) {
        ok(out->check[0], "... the original still holds the pidfile, naming itself or no one");
        ok(out->check[1] == 0 && !out->check[2], "... and releasing it removes it (%d)", out->check[1]);
    } else {
        for (int i = 0; i < 2; i++)
            skip(out->why, "ENOSPC detach pidfile follow-ups");
    }
    expect_fault("ENOSPC spawn, stdout cannot be created", ENOSPC, M("prog.log"), case_enospc_spawn_stdout);
    expect_fault("ENOSPC spawn, the program's pid cannot be written to its pidfile", ENOSPC, M("prog.pid"),
                 case_enospc_spawn_pidfile);
    ok(out->skipped || !out->check[0], "... the pidfile is removed");

    /* EROFS */
    expect_fault("EROFS acquire, new file", EROFS, M("app.pid"), case_erofs_acquire_new);
    expect_fault("EROFS acquire, stale file", EROFS, M("app.pid"), case_erofs_acquire_stale);
    ok(out->skipped || out->check[0], "... its content is untouched");
    run_case(case_erofs_write);
    if (out->skipped) {
        skip(out->why, "EROFS pidfile_write");
    } else if (out->check[0] == EBUSY) {
        ok(out->r == 0 && out->check[1], "EROFS pidfile_write: unreachable, the kernel refuses the ro remount "
           "while the pidfile is open for writing (EBUSY); the write works (%d)", out->r);
    } else {
        ok(out->r == -EROFS && out->check[1], "EROFS pidfile_write: -EROFS after the remount (%d), no partial pid",
           out->r);
    }
    expect_fault("EROFS detach, stdout on a read-only fs", EROFS, M("daemon.log"), case_erofs_detach_stdout);
    expect_fault("EROFS spawn, stdout on a read-only fs", EROFS, M("prog.log"), case_erofs_spawn_stdout);
    expect_fault("EROFS spawn, pidfile on a read-only fs", EROFS, M("prog.pid"), case_erofs_spawn_pidfile);

    /* ENOENT */
    expect_fault("ENOENT acquire in a missing dir", ENOENT, T("missing/app.pid"), case_enoent_acquire);
    expect_fault("ENOENT detach, stdin missing", ENOENT, T("missing.txt"), case_enoent_detach_stdin);
    ok(!out->check[0], "... stdin is not created");
    expect_fault("ENOENT detach, stdout in a missing dir", ENOENT, T("missing/daemon.log"), case_enoent_detach_stdout);
    expect_fault("ENOENT detach, workdir missing", ENOENT, T("missing"), case_enoent_detach_workdir);
    expect_fault("ENOENT spawn, stdin missing", ENOENT, T("missing.txt"), case_enoent_spawn_stdin);
    expect_fault("ENOENT spawn, stderr in a missing dir", ENOENT, T("missing/prog.err"), case_enoent_spawn_stdout);
    expect_fault("ENOENT spawn, workdir missing", ENOENT, T("missing"), case_enoent_spawn_workdir);
    expect_fault("ENOENT spawn, pidfile in a missing dir", ENOENT, T("missing/prog.pid"), case_enoent_spawn_pidfile);
    expect_fault("ENOENT spawn, program missing (with a pidfile)", ENOENT, T("missing/program"),
                 case_enoent_spawn_program);
    ok(!exists(T("enoent-prog.pid")), "... its pidfile is removed");

    /* A symlinked directory component owned by nobody. */
    if (!root) {
        for (int i = 0; i < 16; i++)
            skip("needs root to make nobody's symlinks", "symlinked path component");
        goto done;
    }
    /* API.md "Hostile paths": a link on the directory part is followed only
     * when root or the caller owns it and no other user can write its
     * directory; nobody's links are -EPERM in every mode, whatever
     * fs.protected_symlinks says, and nothing behind them is touched. */
    diag("fs.protected_symlinks is %d (pidkit does not depend on it)", protected_symlinks());
    expect_fault("symlink: nobody's symlink in a sticky 1777 dir", EPERM, T("sticky/evil/sticky.pid"),
                 case_symlink_sticky);
    ok(!out->check[0], "... nothing is created in the target directory");
    expect_fault("symlink: nobody's symlinked dir, target held", EPERM, T("nobody-owned/evil/held.pid"),
                 case_symlink_held);
    ok(out->check[0], "... the held target file keeps its content");
    expect_fault("symlink: nobody's symlinked dir, nothing there", EPERM, T("nobody-owned/evil/free.pid"),
                 case_symlink_free_refused);
    ok(!out->check[0], "... nothing is created in the target directory");
    run_case(case_symlink_victim_strict);
    ok(out->r == -EPERM && strstr(out->err, "symbolic link evil is owned by uid") != NULL,
       "symlink: with STRICT, nobody's symlinked dir component is refused: -EPERM (%d \"%s\")", out->r, out->err);
    ok(out->check[0], "... the file behind it is untouched (\"%s\")", out->note);
    run_case(case_symlink_victim);
    ok(out->r == -EPERM && strstr(out->err, "symbolic link evil is owned by uid"),
       "symlink: a stale file behind nobody's symlinked dir is not taken over: -EPERM (%d \"%s\")", out->r, out->err);
    ok(out->check[0], "... and keeps its content (now \"%.40s\")", out->note);
    ok(out->fds_before == out->fds_after, "... no descriptor left");
    expect_fault("symlink: last component is nobody's symlink", ELOOP, T("nobody-owned/last.pid"), case_symlink_last);
    ok(out->check[0], "... the symlink's target is untouched");
    expect_fault("symlink: spawn stdout through nobody's symlinked dir", EPERM, T("nobody-owned/evil/log.txt"),
                 case_symlink_spawn_stdout);
    ok(out->check[0], "... the file behind it is untouched (\"%s\")", out->note);
    expect_fault("symlink: detach stdout through nobody's symlinked dir", EPERM, T("nobody-owned/evil/dlog.txt"),
                 case_symlink_detach_stdout);
    ok(out->check[0], "... the file behind it is untouched (\"%s\")", out->note);

done:
    rm_rf(tmp);
    return done_testing();
}
