/* ids.c - row 5: process-id queries.
 *
 *   ids bench REPS ITERS PS_ITERS   every row's implementations in this process, order
 *                                   shuffled every repetition
 *   ids count IMPL N                N calls of one implementation (for strace -c); IMPL is
 *                                   ROW/IMPL as in the output, e.g. proc_info/pidkit
 *
 * Rows and implementations:
 *   getsid     pidkit_getsid(0) | floor: syscall(SYS_getsid, 0) | glibc getsid(0)
 *              | floor-same: the syscall with -errno on failure (pidkit's guarantees)
 *   getpgid    pidkit_getpgid(0) | floor: syscall(SYS_getpgid, 0) | glibc getpgid(0)
 *              | floor-same: as for getsid
 *   proc_info  pidkit_proc_info_get(0) | floor: open + read + parse /proc/self/stat by hand
 *              (the same fields, without the uid) | `ps -o comm=,pid=,ppid=,pgid=,sid= -p PID`
 *              (psutil is measured by bench/py_bench.py)
 * Every call's result is compared with the raw system call's.
 */
#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <pidkit.h>
#include "common.h"

extern char **environ;

struct stat_row {
    pid_t pid, ppid, pgid, sid, tpgid;
    int tty_nr;
    char state;
    unsigned num_threads;
    unsigned long long start_time, utime, stime, rss_bytes, vsize_bytes;
    char comm[32];
};

static long page_size;

/* The floor: open, read, close /proc/self/stat, parse the fields pidkit
 * reports (comm may hold spaces and parentheses: fields follow the last ')'). */
static int floor_stat(struct stat_row *o)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = 0;
    char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
    if (!open_p || !close_p)
        return -EBADMSG;
    o->pid = (pid_t)strtol(buf, NULL, 10);
    size_t cl = (size_t)(close_p - open_p - 1);
    if (cl > 31)
        cl = 31;
    memcpy(o->comm, open_p + 1, cl);
    o->comm[cl] = 0;
    char *p = close_p + 2;
    o->state = *p;
    p += 2;
    unsigned long long f[22];
    for (int i = 0; i < 22; i++) /* fields 4..25 */
        f[i] = strtoull(p, &p, 10), p += (*p == ' ');
    o->ppid = (pid_t)f[0];
    o->pgid = (pid_t)f[1];
    o->sid = (pid_t)f[2];
    o->tty_nr = (int)f[3];
    o->tpgid = (pid_t)(long long)f[4];
    o->utime = f[10];
    o->stime = f[11];
    o->num_threads = (unsigned)f[16];
    o->start_time = f[18];
    o->vsize_bytes = f[19];
    o->rss_bytes = f[20] * (unsigned long long)page_size;
    return 0;
}

static char **ps_env;
static char pidbuf[16];

/* Runs ps for our pid and checks that it printed our pid; returns 0. */
static int run_ps(pid_t me, pid_t sid)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    char *argv[] = { "ps", "-o", "comm=,pid=,ppid=,pgid=,sid=", "-p", pidbuf, NULL };
    pid_t c;
    int r = posix_spawnp(&c, "ps", &fa, NULL, argv, ps_env);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    CHECK(r == 0, "posix_spawnp ps: %s", strerror(r));
    char out[512];
    size_t len = 0;
    ssize_t n;
    while ((n = read(p[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    close(p[0]);
    out[len] = 0;
    int st;
    CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "ps failed");
    char comm[64];
    int pid, ppid, pgid, s;
    CHECK(sscanf(out, "%63s %d %d %d %d", comm, &pid, &ppid, &pgid, &s) == 5 && pid == me && s == sid,
          "ps printed \"%s\"", out);
    return 0;
}

enum { R_GETSID, R_GETPGID, R_PROC, NROW };
static const char *row_name[NROW] = { "getsid", "getpgid", "proc_info" };
/* floor-same: the raw system call with what pidkit guarantees on top, the
 * -errno convention (the same single system call). NULL: no such entry. */
#define NIMPL 4
static const char *impls[NROW][NIMPL] = {
    { "pidkit", "floor", "glibc", "floor-same" },
    { "pidkit", "floor", "glibc", "floor-same" },
    { "pidkit", "floor", "ps", NULL },
};

static inline pid_t minus_errno(long r)
{
    return r < 0 ? -errno : (pid_t)r;
}

static pid_t me, my_sid, my_pgid, my_ppid;

/* One call of implementation `impl` of `row`; checks the result. */
static inline void call(int row, int impl, int check)
{
    switch (row * NIMPL + impl) {
    case 0: { pid_t r = pidkit_getsid(0); if (check) CHECK(r == my_sid, "pidkit_getsid"); break; }
    case 1: { pid_t r = (pid_t)syscall(SYS_getsid, 0); if (check) CHECK(r == my_sid, "getsid"); break; }
    case 2: { pid_t r = getsid(0); if (check) CHECK(r == my_sid, "glibc getsid"); break; }
    case 3: { pid_t r = minus_errno(syscall(SYS_getsid, 0)); if (check) CHECK(r == my_sid, "getsid -errno"); break; }
    case 4: { pid_t r = pidkit_getpgid(0); if (check) CHECK(r == my_pgid, "pidkit_getpgid"); break; }
    case 5: { pid_t r = (pid_t)syscall(SYS_getpgid, 0); if (check) CHECK(r == my_pgid, "getpgid"); break; }
    case 6: { pid_t r = getpgid(0); if (check) CHECK(r == my_pgid, "glibc getpgid"); break; }
    case 7: { pid_t r = minus_errno(syscall(SYS_getpgid, 0)); if (check) CHECK(r == my_pgid, "getpgid -errno"); break; }
    case 8: {
        pidkit_proc_info i = PIDKIT_PROC_INFO_INIT;
        int r = pidkit_proc_info_get(0, &i);
        if (check)
            CHECK(r == 0 && i.pid == me && i.ppid == my_ppid && i.sid == my_sid && i.pgid == my_pgid && i.state == 'R'
                      && !strcmp(i.comm, "ids") && i.num_threads == 1,
                  "pidkit_proc_info_get: r=%d pid=%d", r, (int)i.pid);
        break;
    }
    case 9: {
        struct stat_row s = { 0 };
        int r = floor_stat(&s);
        if (check)
            CHECK(r == 0 && s.pid == me && s.ppid == my_ppid && s.sid == my_sid && s.pgid == my_pgid && s.state == 'R'
                      && !strcmp(s.comm, "ids") && s.num_threads == 1,
                  "floor /proc/self/stat parse");
        break;
    }
    default:
        run_ps(me, my_sid);
        break;
    }
}

static void setup(void)
{
    page_size = sysconf(_SC_PAGESIZE);
    me = getpid();
    my_sid = (pid_t)syscall(SYS_getsid, 0);
    my_pgid = (pid_t)syscall(SYS_getpgid, 0);
    my_ppid = getppid();
    snprintf(pidbuf, sizeof pidbuf, "%d", (int)me);
    /* ps runs with the environment minus LD_BIND_NOW (which is for our own
     * forked children, not for the anchor program's startup). */
    int n = 0;
    while (environ[n])
        n++;
    ps_env = calloc((size_t)n + 1, sizeof *ps_env);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_BIND_NOW=", 12))
            ps_env[k++] = environ[i];
}

int main(int argc, char **argv)
{
    setup();
    if (argc == 5 && !strcmp(argv[1], "bench")) {
        int reps = atoi(argv[2]), iters = atoi(argv[3]), ps_iters = atoi(argv[4]);
        long checked[NROW][NIMPL] = { { 0 } };
        /* Per row and repetition: rounds of one batch per implementation,
         * order shuffled every round (a batch: 500 system calls, 20 /proc
         * parses, or one ps). Every call's result is checked; the check (a
         * few compares) is inside the timed region for every implementation. */
        for (int rep = -1; rep < reps; rep++) {
            int rows[NROW] = { R_GETSID, R_GETPGID, R_PROC };
            shuffle(rows, NROW);
            for (int ri = 0; ri < NROW; ri++) {
                int row = rows[ri];
                int batch[NIMPL], rounds = row == R_PROC ? iters / 10 / 20 : iters / 500;
                for (int i = 0; i < NIMPL; i++)
                    batch[i] = row == R_PROC ? 20 : 500;
                if (rounds < 1)
                    rounds = 1;
                if (rep < 0)
                    rounds = rounds / 10 + 1;
                static struct samples smp[NIMPL];
                for (int r = 0; r < rounds; r++) {
                    int order[NIMPL] = { 0, 1, 2, 3 };
                    shuffle(order, NIMPL);
                    for (int k = 0; k < NIMPL; k++) {
                        int impl = order[k];
                        if ((row == R_PROC && impl == 2) || !impls[row][impl])
                            continue; /* ps: below */
                        uint64_t t0 = now_ns();
                        for (int i = 0; i < batch[impl]; i++)
                            call(row, impl, 1);
                        sample_add(&smp[impl], now_ns() - t0, batch[impl]);
                    }
                }
                if (row == R_PROC)
                    for (int i = 0; i < (rep < 0 ? 1 : ps_iters); i++) {
                        uint64_t t0 = now_ns();
                        call(row, 2, 1);
                        sample_add(&smp[2], now_ns() - t0, 1);
                    }
                for (int impl = 0; impl < NIMPL; impl++) {
                    if (!impls[row][impl])
                        continue;
                    checked[row][impl] += smp[impl].ops;
                    if (rep >= 0)
                        emit_samples(row_name[row], impls[row][impl], rep, &smp[impl]);
                    smp[impl].n = 0;
                    smp[impl].ops = 0;
                }
            }
        }
        for (int row = 0; row < NROW; row++)
            for (int impl = 0; impl < NIMPL; impl++)
                if (impls[row][impl])
                    emit_check(row_name[row], impls[row][impl], "result equals the raw system call's / ps", checked[row][impl]);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "count")) {
        char rowbuf[64];
        snprintf(rowbuf, sizeof rowbuf, "%s", argv[2]);
        char *slash = strchr(rowbuf, '/');
        CHECK(slash != NULL, "IMPL is ROW/IMPL");
        *slash = 0;
        int row = -1, impl = -1;
        for (int r = 0; r < NROW; r++)
            if (!strcmp(rowbuf, row_name[r]))
                row = r;
        CHECK(row >= 0, "unknown row %s", rowbuf);
        for (int i = 0; i < NIMPL; i++)
            if (impls[row][i] && !strcmp(slash + 1, impls[row][i]))
                impl = i;
        CHECK(impl >= 0, "unknown implementation %s", slash + 1);
        int n = atoi(argv[3]);
        for (int i = 0; i < n; i++)
            call(row, impl, 1);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of bench/ids.c\n");
    return 2;
}
