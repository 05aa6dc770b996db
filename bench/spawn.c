/* spawn.c - row 4: start /bin/true in a new session, until the call returns.
 *
 *   spawn bench ROW HEAP_MIB REPS ITERS   all implementations in this process, order shuffled
 *                                         every repetition; HEAP_MIB > 0 touches a heap that
 *                                         large first (fork copies its page tables,
 *                                         clone(CLONE_VM) does not)
 *   spawn count IMPL HEAP_MIB N           N spawns of one implementation (for strace -f -c)
 *
 * Implementations:
 *   pidkit       pidkit_spawn: double clone(CLONE_VM|CLONE_VFORK), setsid, stdio on
 *                /dev/null, chdir /, close_range, signals reset; returns after exec
 *   posix_spawn  glibc posix_spawn + POSIX_SPAWN_SETSID: ONE level, the program stays the
 *                caller's child (reaped afterwards, outside the timed region)
 *   pidkit-1     pidkit_spawn with PIDKIT_SPAWN_NO_DOUBLE_FORK: one level, like posix_spawn
 *                (the program stays the caller's child), for an equal-work comparison
 *   floor        fork, fork, setsid, execve by hand; an O_CLOEXEC pipe tells the caller that
 *                exec succeeded (EOF) or its errno; no stdio/cwd/fd/signal hygiene
 *
 * This process is a child subreaper: the double-forked programs are
 * re-parented to it and reaped here, outside the timed region, and each must
 * have exited 0 (it really ran /bin/true). Every spawn must return a pid > 0
 * that leads its own session (checked with getsid before it is reaped).
 */
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <pidkit.h>
#include "common.h"

extern char **environ;

enum { PIDKIT, POSIX, FLOOR, PIDKIT1, NIMPL };
static const char *impl_key[NIMPL] = { "pidkit", "posix_spawn", "floor", "pidkit-1" };
static const char *const true_argv[] = { "/bin/true", NULL };

static void reap(pid_t pid)
{
    int st;
    pid_t r;
    do
        r = waitpid(pid, &st, 0);
    while (r < 0 && errno == EINTR);
    CHECK(r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "program %d: did not exit 0 (r=%d st=%#x)", (int)pid,
          (int)r, st);
}

static uint64_t spawn_once(int impl)
{
    uint64_t t0, t1;
    pid_t pid = -1;
    switch (impl) {
    case PIDKIT:
        t0 = now_ns();
        pid = pidkit_spawn(true_argv, NULL, NULL);
        t1 = now_ns();
        CHECK(pid > 0, "pidkit_spawn: %s (%s)", strerror(-pid), pidkit_last_error());
        break;
    case PIDKIT1: {
        pidkit_spawn_opts o = PIDKIT_SPAWN_OPTS_INIT;
        o.flags = PIDKIT_SPAWN_NO_DOUBLE_FORK;
        t0 = now_ns();
        pid = pidkit_spawn(true_argv, NULL, &o);
        t1 = now_ns();
        CHECK(pid > 0, "pidkit_spawn NO_DOUBLE_FORK: %s (%s)", strerror(-pid), pidkit_last_error());
        break;
    }
    case POSIX: {
        posix_spawnattr_t a;
        t0 = now_ns();
        posix_spawnattr_init(&a);
        posix_spawnattr_setflags(&a, POSIX_SPAWN_SETSID);
        int r = posix_spawn(&pid, "/bin/true", NULL, &a, (char *const *)true_argv, environ);
        posix_spawnattr_destroy(&a);
        t1 = now_ns();
        CHECK(r == 0 && pid > 0, "posix_spawn: %s", strerror(r));
        break;
    }
    default: {
        int p[2];
        t0 = now_ns();
        CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2");
        pid_t c = fork();
        CHECK(c >= 0, "fork");
        if (c == 0) {
            close(p[0]);
            pid_t g = fork();
            if (g != 0) {
                /* The intermediate: tell the caller the program's pid. */
                if (g > 0 && write(p[1], &g, sizeof g) != sizeof g)
                    _exit(1);
                _exit(g < 0);
            }
            /* setsid after the last fork, as pidkit does: the program leads
             * its own session. */
            if (setsid() < 0)
                _exit(1);
            execve("/bin/true", (char *const *)true_argv, environ);
            int e = errno;
            if (write(p[1], &e, sizeof e) != sizeof e)
                _exit(127);
            _exit(127);
        }
        close(p[1]);
        pid_t g = 0;
        int e = 0;
        ssize_t n1 = read(p[0], &g, sizeof g);
        ssize_t n2 = read(p[0], &e, sizeof e); /* 0 = EOF: exec succeeded */
        close(p[0]);
        int st;
        waitpid(c, &st, 0);
        t1 = now_ns();
        CHECK(n1 == sizeof g && g > 0 && n2 == 0, "floor spawn: exec failed (%s)", strerror(e));
        pid = g;
        break;
    }
    }
    /* Outside the timed region: the program leads a new session (getsid
     * works on a zombie that is not reaped yet), then reap it. */
    pid_t sid = getsid(pid);
    CHECK(sid == pid, "%s: program %d does not lead its own session (sid %d)", impl_key[impl], (int)pid, (int)sid);
    reap(pid);
    return t1 - t0;
}

static char *heap;

static void touch_heap(long mib)
{
    if (mib <= 0)
        return;
    size_t len = (size_t)mib << 20;
    heap = malloc(len);
    CHECK(heap != NULL, "malloc %ld MiB", mib);
    memset(heap, 0x5a, len);
}

static int find_impl(const char *name)
{
    for (int i = 0; i < NIMPL; i++)
        if (!strcmp(name, impl_key[i]))
            return i;
    die("unknown implementation %s", name);
}

int main(int argc, char **argv)
{
    become_subreaper();
    if (argc == 6 && !strcmp(argv[1], "bench")) {
        const char *row = argv[2];
        touch_heap(atol(argv[3]));
        int reps = atoi(argv[4]), iters = atoi(argv[5]);
        int order[NIMPL] = { PIDKIT, POSIX, FLOOR, PIDKIT1 };
        long checked[NIMPL] = { 0 };
        /* Every round spawns once with each implementation, in an order
         * shuffled anew. */
        static struct samples smp[NIMPL];
        for (int rep = -1; rep < reps; rep++) {
            int m = rep < 0 ? 2 : iters;
            for (int r = 0; r < m; r++) {
                shuffle(order, NIMPL);
                for (int k = 0; k < NIMPL; k++)
                    sample_add(&smp[order[k]], spawn_once(order[k]), 1);
            }
            for (int k = 0; k < NIMPL; k++) {
                checked[k] += m;
                if (rep >= 0)
                    emit_samples(row, impl_key[k], rep, &smp[k]);
                smp[k].n = 0;
                smp[k].ops = 0;
            }
        }
        for (int k = 0; k < NIMPL; k++)
            emit_check(row, impl_key[k], "pid > 0, leads its own session, exited 0", checked[k]);
        CHECK(reap_ready() == 0, "a process was left behind");
        if (heap)
            CHECK(heap[12345] == 0x5a, "heap");
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "count")) {
        int impl = find_impl(argv[2]);
        touch_heap(atol(argv[3]));
        int n = atoi(argv[4]);
        for (int i = 0; i < n; i++)
            spawn_once(impl);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of bench/spawn.c\n");
    return 2;
}
