/* pidfile.c - rows 1 and 2: pidfile acquire + write pid + release, and a
 * contended acquire until -EEXIST, for pidkit, libbsd and a hand-written floor.
 *
 *   pidfile cycle ROW DIR REPS ITERS        uncontended cycles, all implementations in this
 *                                           process, order shuffled every repetition
 *   pidfile count IMPL DIR N                N unchecked cycles of one implementation (for strace -c)
 *   pidfile contended DIR REPS ITERS SLOW   contended acquires; SLOW = attempts per repetition
 *                                           for an implementation that sleeps (libbsd, no pid yet)
 *   pidfile ccount IMPL DIR N MODE          N contended attempts of one implementation (strace -c)
 *   pidfile hold PATH write|nowrite         helper: hold the pidfile with pidkit, print
 *                                           "held PID", hold until stdin reaches EOF
 */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <pidkit.h>
#ifdef HAVE_LIBBSD
#include <bsd/libutil.h>
#endif
#include "common.h"

enum { PIDKIT, LIBBSD, FLOOR, SAME, NIMPL };
static const char *impl_name[NIMPL] = { "pidkit", "libbsd", "floor", "floor-same" };

/* The same-guarantees floor opens the pidfile's directory as pidkit does
 * (API.md "Hostile paths"): one openat2 without symlinks, then everything
 * relative to it. */
#include <linux/openat2.h>
#include <sys/syscall.h>
static int open_dir_nolinks(const char *dir)
{
    struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
    return (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof how);
}

/* The directory part ("dir/") and the last component of `path`. */
static const char *split_path(const char *path, char *dir, size_t dirsz)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dirsz, ".");
        return path;
    }
    snprintf(dir, dirsz, "%.*s", (int)(slash - path + 1), path);
    return slash + 1;
}

static int have(int impl)
{
#ifndef HAVE_LIBBSD
    if (impl == LIBBSD)
        return 0;
#endif
    (void)impl;
    return 1;
}

/* Reads the pidfile by its path (libbsd opens it write-only) and checks
 * that it holds `want`, and that `fd` is the file the path names. */
static void verify_fd(int fd, const char *path, pid_t want, const char *impl)
{
    char buf[32];
    struct stat a, b;
    int rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    CHECK(rfd >= 0, "%s: pidfile %s missing after acquire", impl, path);
    ssize_t n = read(rfd, buf, sizeof buf);
    CHECK(fstat(rfd, &a) == 0 && fstat(fd, &b) == 0 && a.st_ino == b.st_ino, "%s: handle is not the file", impl);
    close(rfd);
    CHECK(n > 0 && parse_pid_text(buf, n) == want, "%s: pidfile does not hold pid %d after acquire", impl, (int)want);
}

/* One acquire + write + release; *acq and *rel get the ns of the two timed
 * halves (the correctness check between them is not timed). */
static void cycle(int impl, const char *path, int check, uint64_t *ns)
{
    uint64_t t0, t1, t2, t3;
    pid_t me = 0;
    if (check)
        me = getpid();
    switch (impl) {
    case PIDKIT: {
        pidkit_pidfile *pf = NULL;
        t0 = now_ns();
        int r = pidkit_pidfile_acquire(path, NULL, &pf, NULL);
        t1 = now_ns();
        CHECK(r == 0, "pidkit_pidfile_acquire: %s (%s)", strerror(-r), pidkit_last_error());
        if (check)
            verify_fd(pidkit_pidfile_fd(pf), path, me, "pidkit");
        t2 = now_ns();
        r = pidkit_pidfile_release(pf);
        t3 = now_ns();
        CHECK(r == 0, "pidkit_pidfile_release: %s", strerror(-r));
        break;
    }
#ifdef HAVE_LIBBSD
    case LIBBSD: {
        pid_t other = 0;
        t0 = now_ns();
        struct pidfh *pfh = pidfile_open(path, 0644, &other);
        int w = pfh ? pidfile_write(pfh) : -1;
        t1 = now_ns();
        CHECK(pfh && w == 0, "libbsd pidfile_open/write: %s", strerror(errno));
        if (check)
            verify_fd(pidfile_fileno(pfh), path, me, "libbsd");
        t2 = now_ns();
        int r = pidfile_remove(pfh);
        t3 = now_ns();
        CHECK(r == 0, "libbsd pidfile_remove: %s", strerror(errno));
        break;
    }
#endif
    case SAME: {
        /* The same-guarantees floor: pidkit's system calls, hand-written
         * (directory resolved once and kept, openat, fstat, flock, fstatat
         * re-check with the link count, getpid, pwrite; release: getpid +
         * pread owner check, fstatat, unlinkat, two closes). */
        char text[16], dir[4096], buf[64];
        struct stat st, now;
        t0 = now_ns();
        const char *leaf = split_path(path, dir, sizeof dir);
        int dfd = open_dir_nolinks(dir);
        CHECK(dfd >= 0, "floor-same openat2: %s", strerror(errno));
        int fd = openat(dfd, leaf, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0644);
        CHECK(fd >= 0, "floor-same openat: %s", strerror(errno));
        CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), "floor-same fstat");
        CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0, "floor-same flock: %s", strerror(errno));
        CHECK(fstatat(dfd, leaf, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino && now.st_nlink == 1,
              "floor-same re-check");
        if (now.st_size > 0)
            CHECK(ftruncate(fd, 0) == 0, "floor-same ftruncate");
        pid_t owner = getpid();
        int len = pid_text(text, owner);
        CHECK(pwrite(fd, text, (size_t)len, 0) == len, "floor-same pwrite");
        t1 = now_ns();
        if (check)
            verify_fd(fd, path, me, "floor-same");
        t2 = now_ns();
        CHECK(getpid() == owner, "floor-same owner");
        ssize_t n = pread(fd, buf, sizeof buf, 0);
        CHECK(n > 0 && parse_pid_text(buf, n) == owner, "floor-same owner check");
        CHECK(fstatat(dfd, leaf, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino, "floor-same release check");
        CHECK(unlinkat(dfd, leaf, 0) == 0, "floor-same unlinkat");
        close(fd);
        close(dfd);
        t3 = now_ns();
        break;
    }
    default: {
        /* The floor: only the necessary system calls. */
        char text[16];
        struct stat st;
        t0 = now_ns();
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        CHECK(fd >= 0, "floor open: %s", strerror(errno));
        CHECK(fstat(fd, &st) == 0, "floor fstat");
        CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0, "floor flock: %s", strerror(errno));
        if (st.st_size > 0)
            CHECK(ftruncate(fd, 0) == 0, "floor ftruncate");
        int len = pid_text(text, getpid());
        CHECK(pwrite(fd, text, (size_t)len, 0) == len, "floor pwrite");
        t1 = now_ns();
        if (check)
            verify_fd(fd, path, me, "floor");
        t2 = now_ns();
        CHECK(unlink(path) == 0, "floor unlink");
        close(fd);
        t3 = now_ns();
        break;
    }
    }
    *ns += (t1 - t0) + (t3 - t2);
}

static int find_impl(const char *name)
{
    for (int i = 0; i < NIMPL; i++)
        if (!strcmp(name, impl_name[i]))
            return i;
    die("unknown implementation %s", name);
}

static int cmd_cycle(const char *row, const char *dir, int reps, int iters)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/pidkit-bench-%d.pid", dir, (int)getpid());
    int order[NIMPL], n = 0;
    for (int i = 0; i < NIMPL; i++)
        if (have(i))
            order[n++] = i;
    long checked[NIMPL] = { 0 };
    /* Each repetition is made of rounds; every round runs a batch of BATCH
     * cycles of each implementation, in an order shuffled anew, so that a
     * burst of load from elsewhere hits all of them alike. */
    enum { BATCH = 10 };
    int rounds = iters / BATCH > 0 ? iters / BATCH : 1;
    static struct samples smp[NIMPL];
    for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up, not reported */
        for (int r = 0; r < rounds; r++) {
            shuffle(order, n);
            for (int k = 0; k < n; k++) {
                uint64_t ns = 0;
                for (int i = 0; i < BATCH; i++)
                    cycle(order[k], path, 1, &ns);
                sample_add(&smp[order[k]], ns, BATCH);
            }
        }
        for (int k = 0; k < n; k++) {
            checked[order[k]] += rounds * BATCH;
            if (rep >= 0)
                emit_samples(row, impl_name[order[k]], rep, &smp[order[k]]);
            smp[order[k]].n = 0;
            smp[order[k]].ops = 0;
        }
    }
    for (int k = 0; k < n; k++)
        emit_check(row, impl_name[order[k]], "acquire wrote the caller's pid", checked[order[k]]);
    return 0;
}

static int cmd_count(const char *impl, const char *dir, int n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/pidkit-bench-count-%d.pid", dir, (int)getpid());
    int i = find_impl(impl);
    uint64_t ns = 0;
    for (int k = 0; k < n; k++)
        cycle(i, path, 0, &ns);
    return 0;
}

/* ---- row 2: contended ---- */

struct holder {
    pid_t pid;
    int release_fd;
};

/* Forks a process that holds `path` with pidkit (NO_WRITE: locked, no pid
 * written yet) and stays until release_fd is closed. */
static struct holder hold(const char *path, int nowrite)
{
    int ready[2], rel[2];
    CHECK(pipe2(ready, O_CLOEXEC) == 0 && pipe2(rel, O_CLOEXEC) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        close(ready[0]);
        close(rel[1]);
        pidkit_pidfile_opts o = PIDKIT_PIDFILE_OPTS_INIT;
        o.flags = nowrite ? PIDKIT_PIDFILE_NO_WRITE : 0;
        pidkit_pidfile *pf;
        int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
        char c = r == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        char b;
        while (read(rel[0], &b, 1) > 0) {
        }
        pidkit_pidfile_release(pf);
        _exit(0);
    }
    close(ready[1]);
    close(rel[0]);
    char c = 0;
    CHECK(read(ready[0], &c, 1) == 1 && c == 'y', "holder could not acquire %s", path);
    close(ready[0]);
    struct holder h = { pid, rel[1] };
    return h;
}

static void unhold(struct holder h)
{
    close(h.release_fd);
    int st;
    CHECK(waitpid(h.pid, &st, 0) == h.pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "holder exit");
}

static long libbsd_einval;

/* One contended attempt; returns its ns. Checks that it failed with
 * "exists" and (when the holder wrote its pid) named the holder. */
static uint64_t contend(int impl, const char *path, pid_t want, int check)
{
    uint64_t t0, t1;
    switch (impl) {
    case PIDKIT: {
        pidkit_pidfile *pf = NULL;
        pid_t holder = -1;
        t0 = now_ns();
        int r = pidkit_pidfile_acquire(path, NULL, &pf, &holder);
        t1 = now_ns();
        if (check)
            CHECK(r == -EEXIST && holder == want, "pidkit contended: r=%d holder=%d want %d", r, (int)holder,
                  (int)want);
        break;
    }
#ifdef HAVE_LIBBSD
    case LIBBSD: {
        pid_t other = -1;
        t0 = now_ns();
        struct pidfh *pfh = pidfile_open(path, 0644, &other);
        int e = errno;
        t1 = now_ns();
        /* libbsd's pidfile_read rejects a pid followed by a newline (the
         * FHS format pidkit writes) with EINVAL, and pidfile_open then
         * fails with that errno instead of EEXIST: counted, not hidden. */
        if (pfh == NULL && e == EINVAL)
            libbsd_einval++;
        if (check)
            CHECK(pfh == NULL && (e == EEXIST || e == EINVAL) && (want == 0 || other == want),
                  "libbsd contended: pfh=%p errno=%d other=%d want %d", (void *)pfh, e, (int)other, (int)want);
        break;
    }
#endif
    case SAME: {
        /* pidkit's system calls for a refusal: openat2 of the directory,
         * openat, fstat, the exclusive attempt, the shared attempt that
         * tells a holder from a checker's probe, pread of the holder. */
        char buf[64], dir[4096];
        struct stat st;
        pid_t holder = 0;
        t0 = now_ns();
        const char *leaf = split_path(path, dir, sizeof dir);
        int dfd = open_dir_nolinks(dir);
        int fd = dfd >= 0 ? openat(dfd, leaf, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0644)
                          : -1;
        int r = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? flock(fd, LOCK_EX | LOCK_NB) : -1;
        int e = errno;
        if (r < 0 && e == EWOULDBLOCK && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
            ssize_t n = pread(fd, buf, sizeof buf, 0);
            holder = n > 0 ? parse_pid_text(buf, n) : 0;
        }
        if (fd >= 0)
            close(fd);
        if (dfd >= 0)
            close(dfd);
        t1 = now_ns();
        if (check)
            CHECK(r < 0 && e == EWOULDBLOCK && holder == want, "floor-same contended: r=%d holder=%d want %d", r,
                  (int)holder, (int)want);
        break;
    }
    default: {
        char buf[32];
        pid_t holder = 0;
        t0 = now_ns();
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        int r = fd >= 0 ? flock(fd, LOCK_EX | LOCK_NB) : -1;
        int e = errno;
        if (r < 0 && e == EWOULDBLOCK) {
            ssize_t n = pread(fd, buf, sizeof buf, 0);
            holder = n > 0 ? parse_pid_text(buf, n) : 0;
        }
        if (fd >= 0)
            close(fd);
        t1 = now_ns();
        if (check)
            CHECK(r < 0 && e == EWOULDBLOCK && holder == want, "floor contended: r=%d holder=%d want %d", r,
                  (int)holder, (int)want);
        break;
    }
    }
    return t1 - t0;
}

static int cmd_contended(const char *dir, int reps, int iters, int slow)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/pidkit-bench-held-%d.pid", dir, (int)getpid());
    for (int nowrite = 0; nowrite <= 1; nowrite++) {
        const char *row = nowrite ? "contended-nopid" : "contended-pid";
        struct holder h = hold(path, nowrite);
        pid_t want = nowrite ? 0 : h.pid;
        int order[NIMPL], n = 0;
        for (int i = 0; i < NIMPL; i++)
            if (have(i))
                order[n++] = i;
        long checked[NIMPL] = { 0 };
        /* Rounds of BATCH attempts per implementation, order shuffled every
         * round; libbsd while no pid is written sleeps ~100 ms per attempt,
         * so it makes SLOW attempts per repetition, after the rounds. */
        enum { BATCH = 10 };
        int rounds = iters / BATCH > 0 ? iters / BATCH : 1;
        static struct samples smp[NIMPL];
        for (int rep = -1; rep < reps; rep++) {
            for (int r = 0; r < rounds; r++) {
                shuffle(order, n);
                for (int k = 0; k < n; k++) {
                    int impl = order[k];
                    if (impl == LIBBSD && nowrite)
                        continue;
                    uint64_t ns = 0;
                    for (int i = 0; i < BATCH; i++)
                        ns += contend(impl, path, want, 1);
                    sample_add(&smp[impl], ns, BATCH);
                }
            }
            if (have(LIBBSD) && nowrite)
                for (int i = 0; i < (rep < 0 ? 1 : slow); i++)
                    sample_add(&smp[LIBBSD], contend(LIBBSD, path, want, 1), 1);
            for (int k = 0; k < n; k++) {
                int impl = order[k];
                checked[impl] += smp[impl].ops;
                if (rep >= 0)
                    emit_samples(row, impl_name[impl], rep, &smp[impl]);
                smp[impl].n = 0;
                smp[impl].ops = 0;
            }
        }
        if (libbsd_einval)
            emit_info(nowrite ? "libbsd_einval_nopid" : "libbsd_einval_pid", "%ld", libbsd_einval);
        libbsd_einval = 0;
        for (int k = 0; k < n; k++)
            emit_check(row, impl_name[order[k]], nowrite ? "refused (-EEXIST), holder 0" : "refused (-EEXIST), holder's pid",
                       checked[order[k]]);
        unhold(h);
    }
    return 0;
}

static int cmd_ccount(const char *impl, const char *dir, int n, const char *mode)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/pidkit-bench-cheld-%d.pid", dir, (int)getpid());
    int nowrite = !strcmp(mode, "nowrite");
    struct holder h = hold(path, nowrite);
    int i = find_impl(impl);
    for (int k = 0; k < n; k++)
        contend(i, path, nowrite ? 0 : h.pid, 1);
    unhold(h);
    return 0;
}

static int cmd_hold(const char *path, const char *mode)
{
    pidkit_pidfile_opts o = PIDKIT_PIDFILE_OPTS_INIT;
    o.flags = !strcmp(mode, "nowrite") ? PIDKIT_PIDFILE_NO_WRITE : 0;
    pidkit_pidfile *pf;
    int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
    CHECK(r == 0, "hold %s: %s", path, pidkit_last_error());
    printf("held %d\n", (int)getpid());
    fflush(stdout);
    char b[64];
    while (read(0, b, sizeof b) > 0) {
    }
    pidkit_pidfile_release(pf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "cycle"))
        return cmd_cycle(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    if (argc == 5 && !strcmp(argv[1], "count"))
        return cmd_count(argv[2], argv[3], atoi(argv[4]));
    if (argc == 6 && !strcmp(argv[1], "contended"))
        return cmd_contended(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc == 6 && !strcmp(argv[1], "ccount"))
        return cmd_ccount(argv[2], argv[3], atoi(argv[4]), argv[5]);
    if (argc == 4 && !strcmp(argv[1], "hold"))
        return cmd_hold(argv[2], argv[3]);
    fprintf(stderr, "usage: see the comment at the top of bench/pidfile.c\n");
    return 2;
}
