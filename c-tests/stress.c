/* stress.c - pidfile races at volume (`make stress`; not in the normal
 * suite: its name does not start with test_).
 *
 *  1. STRESS_ROUNDS (default 1000) rounds of 50 processes released at once
 *     onto pidkit_pidfile_acquire of one path: exactly one wins each round,
 *     the file names the winner while it holds it, every loser gets -EEXIST
 *     with *holder 0, the winner or (taking over a stale file) the stale
 *     pid, and the file is gone once the winner released. Rounds rotate
 *     between no file, a stale file naming some pid, and a stale empty file.
 *  2. STRESS_CYCLES (default 10000) acquire/release cycles by 4 processes
 *     (try-once and WAIT, removing and KEEP_FILE releases mixed) while a
 *     checker loops over pidkit_pidfile_check, pidkit_pidfile_read and a
 *     raw read of the file. Holders count themselves in a MAP_SHARED page:
 *     never two at once. The checker never sees a pid that is not one of
 *     the participants, and the content is always empty or a whole "pid\n".
 *
 * TAP output; the numbers are in the test names.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pidkit.h>
#include "tap.h"

#define CONTENDERS 50
#define CYCLERS 4

struct race {
    atomic_int done;          /* contenders past their acquire */
    atomic_int winners;
    atomic_int winner;        /* the winner's pid */
    atomic_int winner_saw;    /* what the winner read back: its pid, or -1 */
    atomic_int losers_eexist;
    atomic_int other_err;     /* an acquire that failed otherwise: -errno */
    int holder_seen[CONTENDERS];
    char other_msg[256];
};

struct cycles {
    atomic_int holders;       /* processes inside acquire..release now */
    atomic_int max_holders;
    atomic_int cycles;        /* completed acquire/release cycles */
    atomic_int stop;
    atomic_int own_pid_missing; /* a holder read back something else */
    atomic_int foreign;       /* checker: a pid that is no participant */
    atomic_int torn;          /* checker: content neither empty nor "pid\n" */
    atomic_int errors;        /* unexpected -errno anywhere */
    atomic_long checks;
    atomic_long held_seen;    /* checks that found it held */
    atomic_int participants[CYCLERS];
    char first_error[256];
    char first_torn[64];
};

static struct race *race;
static struct cycles *cyc;
static char tmp[PATH_MAX];
static char path[PATH_MAX];

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    return v && *v && !*end && n > 0 ? n : dflt;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void msleep_us(long us)
{
    struct timespec ts = { 0, us * 1000 };
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------ 1. the race */

static void contender(int idx, int go_fd, int release_fd)
{
    char c;
    /* Blocks until the parent closes the write end: all 50 start at once. */
    if (read(go_fd, &c, 1) < 0)
        _exit(2);
    pidkit_pidfile *pf = NULL;
    pid_t holder = -1;
    int r = pidkit_pidfile_acquire(path, NULL, &pf, &holder);
    if (r == 0) {
        atomic_fetch_add(&race->winners, 1);
        atomic_store(&race->winner, (int)getpid());
        pid_t inside = -1;
        atomic_store(&race->winner_saw, pidkit_pidfile_read(path, &inside) == 0 ? (int)inside : -1);
        atomic_fetch_add(&race->done, 1);
        if (read(release_fd, &c, 1) < 0) /* EOF: the parent has looked */
            _exit(2);
        _exit(pidkit_pidfile_release(pf) == 0 ? 0 : 3);
    }
    race->holder_seen[idx] = (int)holder;
    if (r == -EEXIST) {
        atomic_fetch_add(&race->losers_eexist, 1);
    } else {
        int none = 0;
        if (atomic_compare_exchange_strong(&race->other_err, &none, r))
            snprintf(race->other_msg, sizeof race->other_msg, "%s", pidkit_last_error());
    }
    atomic_fetch_add(&race->done, 1);
    _exit(0);
}

struct race_totals {
    long rounds, bad_winners, bad_file, bad_holder, bad_loser, left_file, hung, other;
    long takeovers, holder_zero, holder_stale;
};

static int one_round(long round, struct race_totals *t)
{
    memset(race, 0, sizeof *race);
    unlink(path);
    int stale_pid = 0;
    switch (round % 3) {
    case 1: {
        /* A stale file: some pid, nobody's lock. */
        stale_pid = 4000000 + (int)(round % 1000);
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%d\n", stale_pid);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, buf, (size_t)n) != n)
            return -1;
        close(fd);
        t->takeovers++;
        break;
    }
    case 2: {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
        close(fd);
        t->takeovers++;
        break;
    }
    default:
        break;
    }
    int go[2], rel[2];
    if (pipe2(go, O_CLOEXEC) || pipe2(rel, O_CLOEXEC))
        return -1;
    pid_t kids[CONTENDERS];
    int n = 0;
    for (; n < CONTENDERS; n++) {
        kids[n] = fork();
        if (kids[n] < 0)
            break;
        if (kids[n] == 0) {
            close(go[1]);
            close(rel[1]);
            contender(n, go[0], rel[0]);
        }
    }
    close(go[0]);
    close(rel[0]);
    close(go[1]); /* go */
    long long deadline = now_ms() + 20000;
    while (atomic_load(&race->done) < n && now_ms() < deadline)
        msleep_us(200);
    int hung = atomic_load(&race->done) < n;

    int winners = atomic_load(&race->winners);
    pid_t winner = atomic_load(&race->winner);
    pid_t read_back = -1, checked = -1;
    int rr = pidkit_pidfile_read(path, &read_back);
    int cr = pidkit_pidfile_check(path, &checked);
    int good_file = winners == 1 && rr == 0 && read_back == winner && atomic_load(&race->winner_saw) == winner;
    int good_check = winners == 1 && cr == 1 && checked == winner;
    close(rel[1]); /* the winner may release now */
    int failed_kids = 0;
    for (int i = 0; i < n; i++) {
        int st = 0;
        if (hung)
            kill(kids[i], SIGKILL);
        waitpid(kids[i], &st, 0);
        failed_kids += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    int left = access(path, F_OK) == 0;

    t->rounds++;
    t->hung += hung;
    t->bad_winners += winners != 1 || n != CONTENDERS;
    t->bad_file += !good_file || !good_check;
    t->bad_loser += atomic_load(&race->losers_eexist) != n - 1 || failed_kids > 0;
    t->left_file += left;
    for (int i = 0; i < n; i++) {
        int h = race->holder_seen[i];
        if (kids[i] == winner)
            continue;
        if (h == 0)
            t->holder_zero++;
        else if (stale_pid && h == stale_pid)
            t->holder_stale++;
        else if (h != winner)
            t->bad_holder++;
    }
    if (atomic_load(&race->other_err) && !t->other) {
        t->other = atomic_load(&race->other_err);
        diag("round %ld: an acquire failed with %d: %s", round, (int)t->other, race->other_msg);
    }
    if (winners != 1 || !good_file || !good_check || left || hung)
        diag("round %ld: %d winner(s) (pid %d), read %d -> %d, check %d -> %d, file left %d, hung %d", round, winners,
             (int)winner, rr, (int)read_back, cr, (int)checked, left, hung);
    return 0;
}

static void test_race(long rounds)
{
    struct race_totals t;
    memset(&t, 0, sizeof t);
    long long start = now_ms();
    for (long r = 0; r < rounds; r++)
        if (one_round(r, &t) != 0) {
            diag("round %ld could not be set up: %s", r, strerror(errno));
            break;
        }
    long long ms = now_ms() - start;
    ok(t.rounds == rounds && t.bad_winners == 0 && t.hung == 0,
       "race: %ld rounds of %d processes (%ld on a stale file), exactly one winner each (bad rounds %ld, hung %ld; "
       "%lld ms)", t.rounds, CONTENDERS, t.takeovers, t.bad_winners, t.hung, ms);
    ok(t.bad_file == 0, "race: while it held it, the file named the winner and check reported it (bad rounds %ld)",
       t.bad_file);
    ok(t.bad_loser == 0 && t.other == 0, "race: every loser got -EEXIST (bad rounds %ld, other error %ld)",
       t.bad_loser, t.other);
    ok(t.bad_holder == 0, "race: every loser's *holder was the winner, 0 (not written yet: %ld) or the stale pid "
       "(takeover in progress: %ld); others: %ld", t.holder_zero, t.holder_stale, t.bad_holder);
    ok(t.left_file == 0, "race: the file was gone after each winner released (left %ld times)", t.left_file);
}

/* ------------------------------------------------------ 2. the cycles */

static int participant(pid_t p)
{
    for (int i = 0; i < CYCLERS; i++)
        if (atomic_load(&cyc->participants[i]) == p)
            return 1;
    return 0;
}

static void record_error(const char *what, int r)
{
    if (atomic_fetch_add(&cyc->errors, 1) == 0)
        snprintf(cyc->first_error, sizeof cyc->first_error, "%s: %d (%s)", what, r, pidkit_last_error());
}

static void cycler(int idx, long total)
{
    pidkit_pidfile_opts o = PIDKIT_PIDFILE_OPTS_INIT;
    if (idx & 1) {
        o.flags |= PIDKIT_PIDFILE_WAIT;
        o.timeout_ms = -1;
    }
    if (idx & 2)
        o.flags |= PIDKIT_PIDFILE_KEEP_FILE;
    while (!atomic_load(&cyc->stop)) {
        pidkit_pidfile *pf = NULL;
        int r = pidkit_pidfile_acquire(path, &o, &pf, NULL);
        if (r == -EEXIST) {
            sched_yield();
            continue;
        }
        if (r != 0) {
            record_error("acquire", r);
            sched_yield();
            continue;
        }
        int inside = atomic_fetch_add(&cyc->holders, 1) + 1;
        int max = atomic_load(&cyc->max_holders);
        while (inside > max && !atomic_compare_exchange_weak(&cyc->max_holders, &max, inside))
            ;
        pid_t mine = -1;
        if (pidkit_pidfile_read(path, &mine) != 0 || mine != getpid())
            atomic_fetch_add(&cyc->own_pid_missing, 1);
        sched_yield(); /* let the checker and the others look while we hold it */
        atomic_fetch_sub(&cyc->holders, 1);
        r = pidkit_pidfile_release(pf);
        if (r != 0)
            record_error("release", r);
        if (atomic_fetch_add(&cyc->cycles, 1) + 1 >= total)
            atomic_store(&cyc->stop, 1);
    }
    _exit(0);
}

static void checker(void)
{
    char buf[64];
    while (!atomic_load(&cyc->stop)) {
        atomic_fetch_add(&cyc->checks, 1);
        pid_t h = -1;
        int r = pidkit_pidfile_check(path, &h);
        if (r == 1) {
            atomic_fetch_add(&cyc->held_seen, 1);
            if (h != 0 && !participant(h))
                atomic_fetch_add(&cyc->foreign, 1);
        } else if (r != 0) {
            record_error("check", r);
        }
        pid_t p = -1;
        r = pidkit_pidfile_read(path, &p);
        if (r == 0 && !participant(p))
            atomic_fetch_add(&cyc->foreign, 1);
        else if (r != 0 && r != -ENOENT && r != -EBADMSG)
            record_error("read", r);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n < 0)
                continue;
            buf[n] = '\0';
            char *end;
            long v = strtol(buf, &end, 10);
            int whole = n == 0 || (end != buf && end[0] == '\n' && end[1] == '\0' && participant((pid_t)v));
            if (!whole && atomic_fetch_add(&cyc->torn, 1) == 0)
                snprintf(cyc->first_torn, sizeof cyc->first_torn, "%.40s", buf);
        }
    }
    _exit(0);
}

static void test_cycles(long total)
{
    memset(cyc, 0, sizeof *cyc);
    unlink(path);
    pid_t kids[CYCLERS + 1];
    long long start = now_ms();
    /* Participants are known before anyone starts (the checker tests
     * membership): they wait for the go pipe. */
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0)
        return;
    for (int i = 0; i < CYCLERS; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) < 0)
                _exit(2);
            cycler(i, total);
        }
        atomic_store(&cyc->participants[i], kids[i]);
    }
    kids[CYCLERS] = fork();
    if (kids[CYCLERS] == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) < 0)
            _exit(2);
        checker();
    }
    close(go[0]);
    close(go[1]);
    long long deadline = now_ms() + 300000;
    while (!atomic_load(&cyc->stop) && now_ms() < deadline)
        msleep_us(20000);
    int hung = !atomic_load(&cyc->stop);
    atomic_store(&cyc->stop, 1);
    int bad_exit = 0;
    for (int i = 0; i <= CYCLERS; i++) {
        int st = 0;
        long long until = now_ms() + 10000;
        while (waitpid(kids[i], &st, WNOHANG) == 0) {
            if (now_ms() > until) {
                kill(kids[i], SIGKILL);
                waitpid(kids[i], &st, 0);
                hung = 1;
                break;
            }
            msleep_us(1000);
        }
        bad_exit += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    long long ms = now_ms() - start;
    int cycles = atomic_load(&cyc->cycles);
    ok(cycles >= total && !hung && bad_exit == 0, "cycles: %d acquire/release cycles by %d processes (try-once and "
       "WAIT, removing and KEEP_FILE) in %lld ms", cycles, CYCLERS, ms);
    ok(atomic_load(&cyc->max_holders) == 1, "cycles: never two holders at once (max %d)",
       atomic_load(&cyc->max_holders));
    ok(atomic_load(&cyc->own_pid_missing) == 0, "cycles: each holder read its own pid back (%d did not)",
       atomic_load(&cyc->own_pid_missing));
    ok(atomic_load(&cyc->foreign) == 0, "cycles: the checker's %ld checks (%ld held) saw no pid outside the "
       "participants (%d did)", atomic_load(&cyc->checks), atomic_load(&cyc->held_seen), atomic_load(&cyc->foreign));
    ok(atomic_load(&cyc->torn) == 0, "cycles: the content was always empty or a whole \"pid\\n\" (torn %d%s%s)",
       atomic_load(&cyc->torn), cyc->first_torn[0] ? ", first: " : "", cyc->first_torn);
    ok(atomic_load(&cyc->errors) == 0, "cycles: no unexpected error (%d%s%s)", atomic_load(&cyc->errors),
       cyc->first_error[0] ? ", first: " : "", cyc->first_error);
}

int main(void)
{
    long rounds = env_long("STRESS_ROUNDS", 1000);
    long cycles = env_long("STRESS_CYCLES", 10000);
    race = mmap(NULL, sizeof *race, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cyc = mmap(NULL, sizeof *cyc, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char tmpl[] = "/tmp/pidkit-stress.XXXXXX";
    if (race == MAP_FAILED || cyc == MAP_FAILED || !mkdtemp(tmpl) || !realpath(tmpl, tmp)) {
        printf("Bail out! cannot set up: %s\n", strerror(errno));
        return 1;
    }
    if (snprintf(path, sizeof path, "%s/stress.pid", tmp) >= (int)sizeof path)
        return 1;
    diag("STRESS_ROUNDS=%ld STRESS_CYCLES=%ld in %s", rounds, cycles, tmp);
    test_race(rounds);
    test_cycles(cycles);
    unlink(path);
    rmdir(tmp);
    return done_testing();
}
