/* procs.c - row 7: listing every process, signalling a whole session, and
 * waiting for a process that is not our child (issue 14).
 *
 *   procs list ROW EXTRA REPS ITERS   ROW list-1k / list-10k: EXTRA sleeping processes are
 *                                     started first; then per repetition rounds of
 *                                     pidkit_proc_list (every process, full rows) | floor
 *                                     (getdents64 + openat/read/close of PID/stat, parse
 *                                     comm,pid,ppid,pgid,sid) | `ps -e -o comm,pid,ppid,pgid,sid`
 *   procs kill ROW MEMBERS REPS       ROW kill-1k: per repetition, in shuffled order, a new
 *                                     session of MEMBERS sleeping processes is signalled with
 *                                     SIGTERM and the time runs until all have exited:
 *                                     pidkit_proc_kill(SID, WAIT) | floor (racy: scan, kill(2)
 *                                     each, wait on pidfds) | `pkill -s SID` + `pidwait -s SID`
 *   procs session MEMBERS             makes such a session, prints its sid, then reaps its
 *                                     members as they die and exits when all are gone (for
 *                                     the psutil anchor in bench/py_bench.py)
 *   procs latency ROW REPS ITERS      ROW exit-wait: a process that is not our child exits;
 *                                     time from just before its _exit to the wait returning:
 *                                     pidkit_proc_wait | a loop polling kill(pid, 0) and the
 *                                     state every 10 ms
 *   procs count IMPL N EXTRA          N listings of one implementation (for strace -c)
 *
 * Checks: every listing has about as many rows as /proc has pids and holds
 * the caller; every kill leaves no member alive; every wait returns after
 * the exit.
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <pidkit.h>
#include "common.h"

extern char **environ;
static char **child_env; /* environ minus LD_BIND_NOW, for ps/pkill/pidwait */

static void no_bind_now_env(void)
{
    int n = 0;
    while (environ[n])
        n++;
    child_env = calloc((size_t)n + 1, sizeof *child_env);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_BIND_NOW=", 12))
            child_env[k++] = environ[i];
}

/* ---------------------------------------------------------------- helpers */

static void sleep_forever(void)
{
    for (;;)
        pause();
}

/* A process (in a new process group, or leading a new session) and
 * `children` sleeping children of it; returns its pid once all exist. */
static pid_t fork_sleepers(int children, int new_session)
{
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pid_t head = fork();
    CHECK(head >= 0, "fork");
    if (head == 0) {
        close(p[0]);
        if (new_session)
            setsid();
        else
            setpgid(0, 0);
        for (int i = 0; i < children; i++) {
            pid_t c = fork();
            if (c == 0) {
                close(p[1]);
                sleep_forever();
            }
            if (c < 0)
                _exit(1);
        }
        char x = 1;
        if (write(p[1], &x, 1) != 1)
            _exit(1);
        sleep_forever();
    }
    close(p[1]);
    char x;
    CHECK(read(p[0], &x, 1) == 1, "could not start %d sleeping processes", children + 1);
    close(p[0]);
    return head;
}

/* EXTRA sleeping children of a holder process; returns the holder (its
 * children die with it: they are killed by kill_extra). */
static pid_t start_extra(int extra)
{
    return fork_sleepers(extra, 0);
}

static int count_proc(void);

/* Kills them and waits until they are gone from /proc (the next program's
 * listing must not count them). */
static void kill_extra(pid_t holder, int extra)
{
    int before = count_proc();
    kill(-holder, SIGKILL);
    waitpid(holder, NULL, 0);
    uint64_t end = now_ns() + 30000000000ull;
    while (count_proc() > before - extra + 50 && now_ns() < end) {
        struct timespec ms = { 0, 5000000 };
        nanosleep(&ms, NULL);
    }
}

static int count_proc(void)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
            n++;
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------- listing */

struct row {
    pid_t pid, ppid, pgid, sid;
    unsigned uid;
    char comm[32];
};

/* The floor: one getdents64 pass, openat/read/close of PID/stat per pid,
 * parse comm,pid,ppid,pgid,sid. No checks beyond a complete line. With
 * `with_uid` (the same-guarantees floor), also openat/read/close of
 * PID/status for the real uid, as pidkit does for full rows (stat does not
 * have it; the owner of /proc/PID is the effective uid). */
static int floor_list_as(struct row *rows, int max, int with_uid)
{
    static char dents[65536];
    int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int n = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, dir, dents, sizeof dents);
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            unsigned short reclen;
            memcpy(&reclen, dents + off + 16, 2);
            const char *name = dents + off + 19;
            off += reclen;
            if (name[0] < '1' || name[0] > '9')
                continue;
            char path[32], buf[1024];
            size_t len = strlen(name);
            memcpy(path, name, len);
            memcpy(path + len, "/stat", 6);
            int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t r = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (r <= 0 || buf[r - 1] != '\n')
                continue;
            buf[r] = 0;
            char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
            if (!open_p || !close_p || n >= max)
                continue;
            struct row *o = &rows[n++];
            o->pid = (pid_t)strtol(buf, NULL, 10);
            size_t cl = (size_t)(close_p - open_p - 1);
            if (cl > 31)
                cl = 31;
            memcpy(o->comm, open_p + 1, cl);
            o->comm[cl] = 0;
            char *p = close_p + 4;
            o->ppid = (pid_t)strtol(p, &p, 10);
            o->pgid = (pid_t)strtol(p, &p, 10);
            o->sid = (pid_t)strtol(p, &p, 10);
            if (with_uid) {
                static char sbuf[4096];
                memcpy(path + len, "/status", 8);
                int sfd = openat(dir, path, O_RDONLY | O_CLOEXEC);
                ssize_t sr = sfd >= 0 ? read(sfd, sbuf, sizeof sbuf - 1) : -1;
                if (sfd >= 0)
                    close(sfd);
                if (sr <= 0) {
                    n--;
                    continue;
                }
                sbuf[sr] = 0;
                char *u = strstr(sbuf, "\nUid:");
                o->uid = u ? (unsigned)strtoul(u + 5, NULL, 10) : 0;
            }
        }
    }
    close(dir);
    return n;
}

static int floor_list(struct row *rows, int max)
{
    return floor_list_as(rows, max, 0);
}

static int pidkit_list_as(int no_uid);
static int pidkit_list(void)
{
    return pidkit_list_as(0);
}

static pidkit_proc_info *pk_rows;
static struct row *fl_rows;
static int max_rows;

static int pidkit_list_as(int no_uid)
{
    pidkit_proc_filter f = PIDKIT_PROC_FILTER_INIT;
    f.flags = no_uid ? PIDKIT_PROC_NO_UID : 0;
    int n = pidkit_proc_list(&f, pk_rows, sizeof *pk_rows, (size_t)max_rows);
    CHECK(n > 0 && n <= max_rows, "pidkit_proc_list: %d (%s)", n, pidkit_last_error());
    return n;
}

/* ps -e -o comm,pid,ppid,pgid,sid, output read from a pipe; returns lines. */
static int ps_list(void)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    char *argv[] = { "ps", "-e", "-o", "comm,pid,ppid,pgid,sid", NULL };
    pid_t c;
    int r = posix_spawnp(&c, "ps", &fa, NULL, argv, child_env);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    CHECK(r == 0, "posix_spawnp ps: %s", strerror(r));
    static char out[1 << 21];
    size_t len = 0;
    ssize_t k;
    while ((k = read(p[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)k;
    close(p[0]);
    int st;
    CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "ps failed");
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += out[i] == '\n';
    return lines - 1; /* the header */
}

static void check_count(const char *impl, int n, int base)
{
    int now = count_proc();
    int lo = (base < now ? base : now) - 50, hi = (base > now ? base : now) + 50;
    CHECK(n >= lo && n <= hi, "%s listed %d processes, /proc has %d..%d", impl, n, base, now);
}

static int cmd_list(const char *row, int extra, int reps, int iters)
{
    pid_t holder = start_extra(extra);
    max_rows = extra + 4096;
    pk_rows = calloc((size_t)max_rows, sizeof *pk_rows);
    fl_rows = calloc((size_t)max_rows, sizeof *fl_rows);
    const char *names[5] = { "pidkit", "floor", "ps", "floor-same", "pidkit-nouid" };
    long checked[5] = { 0 };
    static struct samples smp[5];
    int ps_iters = extra >= 5000 ? 1 : 3;
    for (int rep = -1; rep < reps; rep++) {
        for (int r = 0; r < iters; r++) {
            int order[5] = { 0, 1, 2, 3, 4 };
            shuffle(order, 5);
            for (int k = 0; k < 5; k++) {
                int impl = order[k];
                if (impl == 2 && r >= ps_iters)
                    continue;
                int base = count_proc();
                uint64_t t0 = now_ns();
                int n = impl == 0   ? pidkit_list()
                        : impl == 1 ? floor_list(fl_rows, max_rows)
                        : impl == 3 ? floor_list_as(fl_rows, max_rows, 1)
                        : impl == 4 ? pidkit_list_as(1)
                                    : ps_list();
                uint64_t t = now_ns() - t0;
                check_count(names[impl], n, base);
                if (impl == 0 || impl == 4) {
                    int me = 0;
                    for (int i = 0; i < n; i++)
                        me |= pk_rows[i].pid == getpid() && !strcmp(pk_rows[i].comm, "procs");
                    CHECK(me, "pidkit listing lacks the caller");
                }
                sample_add(&smp[impl], t, 1);
                checked[impl]++;
            }
        }
        for (int impl = 0; impl < 5; impl++) {
            if (rep >= 0)
                emit_samples(row, names[impl], rep, &smp[impl]);
            smp[impl].n = 0;
            smp[impl].ops = 0;
        }
    }
    for (int impl = 0; impl < 5; impl++)
        emit_check(row, names[impl], "every process listed, the caller among them", checked[impl]);
    kill_extra(holder, extra);
    return 0;
}

/* ---------------------------------------------------------------- kill */

/* A new session of `members` sleeping processes (the leader and its
 * children); returns the sid. We are a subreaper: they all end up as our
 * zombies, reaped by reap_session after the timed region. */
static pid_t make_session(int members)
{
    return fork_sleepers(members - 1, 1);
}

/* Live (not zombie) members of session sid. */
static int live_in_session(pid_t sid)
{
    static char dents[65536];
    int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0;
    long got;
    while ((got = syscall(SYS_getdents64, dir, dents, sizeof dents)) > 0) {
        for (long off = 0; off < got;) {
            unsigned short reclen;
            memcpy(&reclen, dents + off + 16, 2);
            const char *name = dents + off + 19;
            off += reclen;
            if (name[0] < '1' || name[0] > '9')
                continue;
            char path[32], buf[1024];
            snprintf(path, sizeof path, "%s/stat", name);
            int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t r = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (r <= 0)
                continue;
            buf[r] = 0;
            char *cp = strrchr(buf, ')');
            if (!cp)
                continue;
            char state = cp[2];
            char *q = cp + 4;
            strtol(q, &q, 10);
            strtol(q, &q, 10);
            pid_t s = (pid_t)strtol(q, &q, 10);
            if (s == sid && state != 'Z' && state != 'X')
                n++;
        }
    }
    close(dir);
    return n;
}

static void reap_session(int members)
{
    int reaped = 0;
    uint64_t end = now_ns() + 30000000000ull;
    while (reaped < members && now_ns() < end) {
        if (waitpid(-1, NULL, 0) > 0)
            reaped++;
        else if (errno == ECHILD)
            break;
    }
}

static int floor_kill(pid_t sid, int sig)
{
    static char dents[65536];
    static struct pollfd fds[65536];
    int nfds = 0;
    int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long got;
    while ((got = syscall(SYS_getdents64, dir, dents, sizeof dents)) > 0) {
        for (long off = 0; off < got;) {
            unsigned short reclen;
            memcpy(&reclen, dents + off + 16, 2);
            const char *name = dents + off + 19;
            off += reclen;
            if (name[0] < '1' || name[0] > '9')
                continue;
            char path[32], buf[1024];
            size_t len = strlen(name);
            memcpy(path, name, len);
            memcpy(path + len, "/stat", 6);
            int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t r = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (r <= 0)
                continue;
            buf[r] = 0;
            char *cp = strrchr(buf, ')');
            char *q = cp + 4;
            strtol(q, &q, 10);
            strtol(q, &q, 10);
            if ((pid_t)strtol(q, &q, 10) != sid || cp[2] == 'Z')
                continue;
            pid_t pid = (pid_t)atoi(name);
            /* Racy: the pid may have been recycled since the read. */
            if (kill(pid, sig) != 0)
                continue;
            int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
            if (pfd >= 0)
                fds[nfds++] = (struct pollfd){ pfd, POLLIN, 0 };
        }
    }
    close(dir);
    int left = nfds;
    while (left > 0) {
        if (poll(fds, (nfds_t)nfds, -1) <= 0)
            continue;
        for (int i = 0; i < nfds; i++)
            if (fds[i].fd >= 0 && fds[i].revents) {
                close(fds[i].fd);
                fds[i].fd = -1;
                left--;
            }
    }
    return nfds;
}

static int run_tool(char *const argv[])
{
    pid_t c;
    int r = posix_spawnp(&c, argv[0], NULL, NULL, argv, child_env);
    CHECK(r == 0, "posix_spawnp %s: %s", argv[0], strerror(r));
    int st;
    CHECK(waitpid(c, &st, 0) == c, "waitpid %s", argv[0]);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int pkill_pidwait(pid_t sid, int sig)
{
    char s[16], sigbuf[16];
    snprintf(s, sizeof s, "%d", (int)sid);
    snprintf(sigbuf, sizeof sigbuf, "-%d", sig);
    char *pk[] = { "pkill", sigbuf, "-s", s, NULL };
    char *pw[] = { "pidwait", "-s", s, NULL };
    CHECK(run_tool(pk) == 0, "pkill -s %s found nothing", s);
    run_tool(pw); /* 1 when nothing is left to wait for */
    return 0;
}

static int pidkit_kill(pid_t sid, int sig)
{
    pidkit_proc_filter f = PIDKIT_PROC_FILTER_INIT;
    f.flags = PIDKIT_PROC_MATCH_SID;
    f.sid = sid;
    pidkit_kill_opts o = PIDKIT_KILL_OPTS_INIT;
    o.flags = PIDKIT_KILL_WAIT;
    o.timeout_ms = -1;
    int r = pidkit_proc_kill(&f, sig, &o, NULL);
    CHECK(r > 0, "pidkit_proc_kill: %d (%s)", r, pidkit_last_error());
    return r;
}

static int cmd_kill(const char *row, int members, int reps)
{
    become_subreaper();
    set_nofile("hard");
    const char *names[3] = { "pidkit", "floor", "pkill+pidwait" };
    long checked[3] = { 0 };
    for (int rep = -1; rep < reps; rep++) {
        int order[3] = { 0, 1, 2 };
        shuffle(order, 3);
        for (int k = 0; k < 3; k++) {
            int impl = order[k];
            pid_t sid = make_session(members);
            uint64_t t0 = now_ns();
            int n = impl == 0 ? pidkit_kill(sid, SIGTERM) : impl == 1 ? floor_kill(sid, SIGTERM)
                                                                       : pkill_pidwait(sid, SIGTERM);
            uint64_t t = now_ns() - t0;
            int left = live_in_session(sid);
            CHECK(left == 0, "%s left %d of %d members alive", names[impl], left, members);
            CHECK(impl == 2 || n == members, "%s signalled %d of %d", names[impl], n, members);
            reap_session(members);
            if (rep >= 0) {
                printf("{\"row\":\"%s\",\"impl\":\"%s\",\"rep\":%d,\"ns\":%.1f,\"n\":1}\n", row, names[impl], rep,
                       (double)t);
                fflush(stdout);
            }
            checked[impl]++;
        }
    }
    for (int impl = 0; impl < 3; impl++)
        emit_check(row, names[impl], "no member left alive", checked[impl]);
    return 0;
}

static int cmd_session(int members)
{
    become_subreaper();
    pid_t sid = make_session(members);
    printf("%d\n", (int)sid);
    fflush(stdout);
    reap_session(members);
    return 0;
}

/* ---------------------------------------------------------------- latency */

/* A grandchild (not our child: its parent, our child, waits for it) that
 * exits when `go` is written, storing the time just before its _exit. */
struct nonchild {
    pid_t middle, pid;
    int go;
};

static volatile uint64_t *exit_stamp;

static struct nonchild start_nonchild(void)
{
    int p[2], c[2];
    CHECK(pipe(p) == 0 && pipe(c) == 0, "pipe");
    struct nonchild nc;
    nc.middle = fork();
    if (nc.middle == 0) {
        pid_t g = fork();
        if (g == 0) {
            close(c[1]);
            char x;
            while (read(c[0], &x, 1) < 0 && errno == EINTR)
                ;
            *exit_stamp = now_ns();
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
    CHECK(read(p[0], &nc.pid, sizeof nc.pid) == (ssize_t)sizeof nc.pid, "nonchild pid");
    close(p[0]);
    nc.go = c[1];
    return nc;
}

static int gone_or_zombie(pid_t pid)
{
    if (kill(pid, 0) != 0)
        return 1;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return 1;
    buf[r] = 0;
    char *cp = strrchr(buf, ')');
    return cp && (cp[2] == 'Z' || cp[2] == 'X');
}

static int cmd_latency(const char *row, int reps, int iters)
{
    exit_stamp = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(exit_stamp != MAP_FAILED, "mmap");
    const char *names[2] = { "pidkit", "poll-10ms" };
    long checked[2] = { 0 };
    static struct samples smp[2];
    for (int rep = -1; rep < reps; rep++) {
        for (int r = 0; r < iters; r++) {
            int order[2] = { 0, 1 };
            shuffle(order, 2);
            for (int k = 0; k < 2; k++) {
                int impl = order[k];
                struct nonchild nc = start_nonchild();
                pidkit_proc *h = NULL;
                if (impl == 0)
                    CHECK(pidkit_proc_open(nc.pid, &h) == 0, "pidkit_proc_open");
                /* The process exits at a random moment within the next 0-20 ms. */
                struct timespec d = { 0, (long)(rng() % 20000000) };
                pid_t trigger = fork();
                if (trigger == 0) {
                    nanosleep(&d, NULL);
                    close(nc.go);
                    _exit(0);
                }
                close(nc.go);
                uint64_t t1;
                if (impl == 0) {
                    int st;
                    CHECK(pidkit_proc_wait(h, -1, &st) == 0 && st == -1, "pidkit_proc_wait");
                    t1 = now_ns();
                    pidkit_proc_close(h);
                } else {
                    while (!gone_or_zombie(nc.pid)) {
                        struct timespec ten = { 0, 10000000 };
                        nanosleep(&ten, NULL);
                    }
                    t1 = now_ns();
                }
                uint64_t t0 = *exit_stamp;
                CHECK(t0 > 0 && t1 >= t0, "wait returned before the exit");
                waitpid(trigger, NULL, 0);
                waitpid(nc.middle, NULL, 0);
                *exit_stamp = 0;
                sample_add(&smp[impl], t1 - t0, 1);
                checked[impl]++;
            }
        }
        for (int impl = 0; impl < 2; impl++) {
            if (rep >= 0)
                emit_samples(row, names[impl], rep, &smp[impl]);
            smp[impl].n = 0;
            smp[impl].ops = 0;
        }
    }
    for (int impl = 0; impl < 2; impl++)
        emit_check(row, names[impl], "returned after the exit", checked[impl]);
    return 0;
}

static int cmd_count(const char *impl, int n, int extra)
{
    pid_t holder = extra > 0 ? start_extra(extra) : 0;
    max_rows = extra + 4096;
    pk_rows = calloc((size_t)max_rows, sizeof *pk_rows);
    fl_rows = calloc((size_t)max_rows, sizeof *fl_rows);
    for (int i = 0; i < n; i++) {
        if (!strcmp(impl, "pidkit"))
            pidkit_list();
        else
            floor_list(fl_rows, max_rows);
    }
    if (holder)
        kill_extra(holder, extra);
    return 0;
}

int main(int argc, char **argv)
{
    no_bind_now_env();
    if (argc == 6 && !strcmp(argv[1], "list"))
        return cmd_list(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc == 5 && !strcmp(argv[1], "kill"))
        return cmd_kill(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 3 && !strcmp(argv[1], "session"))
        return cmd_session(atoi(argv[2]));
    if (argc == 5 && !strcmp(argv[1], "latency"))
        return cmd_latency(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 5 && !strcmp(argv[1], "count"))
        return cmd_count(argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: see the comment at the top of bench/procs.c\n");
    return 2;
}
