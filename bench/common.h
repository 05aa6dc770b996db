/* common.h - shared helpers of the pidkit benchmark programs (bench/ *.c).
 *
 * Every program prints one JSON object per line on stdout:
 *   {"row":"...","impl":"...","rep":N,"ns":X,"n":K}   one repetition: mean ns per op over K ops
 *   {"row":"...","impl":"...","check":"...","ok":N}   correctness checks that passed
 * and dies (exit 1, message on stderr) on the first failed correctness check.
 * The driver (bench/run.py) aggregates the lines into the table.
 */
#ifndef PIDKIT_BENCH_COMMON_H
#define PIDKIT_BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: FAILED CHECK: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stdout);
    _exit(1);
}

#define CHECK(cond, ...) do { if (!(cond)) die(__VA_ARGS__); } while (0)

/* xorshift64*, seeded from the clock: the order of the implementations is
 * shuffled anew every repetition. */
static uint64_t rng_state;
static inline uint64_t rng(void)
{
    if (!rng_state)
        rng_state = now_ns() | 1;
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static inline void shuffle(int *v, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng() % (uint64_t)(i + 1));
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static inline void emit_check(const char *row, const char *impl, const char *what, long ok)
{
    printf("{\"row\":\"%s\",\"impl\":\"%s\",\"check\":\"%s\",\"ok\":%ld}\n", row, impl, what, ok);
    fflush(stdout);
}

static inline void emit_info(const char *key, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("{\"info\":\"%s\",\"value\":\"%s\"}\n", key, buf);
    fflush(stdout);
}

/* The samples of one implementation in one repetition: the time per op of
 * each batch. A repetition reports their median (robust against the
 * preemptions of a shared machine, which would dominate a mean) and their
 * mean. */
#define MAX_SAMPLES 4096
struct samples {
    double v[MAX_SAMPLES];
    int n;
    long ops;
};

static inline void sample_add(struct samples *s, uint64_t ns, long ops)
{
    if (s->n < MAX_SAMPLES)
        s->v[s->n++] = (double)ns / (double)ops;
    s->ops += ops;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline void emit_samples(const char *row, const char *impl, int rep, struct samples *s)
{
    if (s->n == 0)
        return;
    double sum = 0;
    for (int i = 0; i < s->n; i++)
        sum += s->v[i];
    qsort(s->v, (size_t)s->n, sizeof s->v[0], cmp_double);
    double med = s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
    printf("{\"row\":\"%s\",\"impl\":\"%s\",\"rep\":%d,\"ns\":%.1f,\"mean\":%.1f,\"n\":%ld}\n", row, impl, rep,
           med, sum / s->n, s->ops);
    fflush(stdout);
    s->n = 0;
    s->ops = 0;
}

/* Formats "PID\n" into buf; returns the length. */
static inline int pid_text(char *buf, pid_t pid)
{
    char tmp[16];
    int n = 0, len = 0;
    unsigned v = (unsigned)pid;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        buf[len++] = tmp[--n];
    buf[len++] = '\n';
    return len;
}

/* Parses a decimal pid with optional surrounding whitespace; 0 if none. */
static inline pid_t parse_pid_text(const char *s, ssize_t n)
{
    long v = 0;
    int digits = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (s[i] - '0');
            digits++;
        } else if (s[i] != '\n' && s[i] != ' ') {
            return 0;
        }
    }
    return digits ? (pid_t)v : 0;
}

/* Reaps every child that has exited, without blocking. */
static inline int reap_ready(void)
{
    int n = 0, st;
    while (waitpid(-1, &st, WNOHANG) > 0)
        n++;
    return n;
}

static inline void become_subreaper(void)
{
    /* Daemons and spawned programs whose parents exit are re-parented to
     * this process, which reaps them (outside the timed regions), so that
     * none is left behind. */
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
}

/* Sets the soft RLIMIT_NOFILE: "hard" = the hard limit capped at 1048576. */
static inline rlim_t set_nofile(const char *which)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
    rlim_t want;
    if (!strcmp(which, "hard")) {
        want = rl.rlim_max;
        if (want == RLIM_INFINITY || want > 1048576)
            want = 1048576;
    } else {
        want = (rlim_t)strtoull(which, NULL, 10);
        if (want > rl.rlim_max)
            want = rl.rlim_max;
    }
    rl.rlim_cur = want;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit(RLIMIT_NOFILE, %llu): %s", (unsigned long long)want,
          strerror(errno));
    return want;
}

#endif
