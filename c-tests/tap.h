/* tap.h - a tiny TAP producer for pidkit's C tests (not a framework).
 *
 *   ok(cond, "name %d", x);    one test point; prints "ok N - name" or "not ok N - name"
 *   skip("why", "name");      one test point reported as "ok N - name # SKIP why"
 *   diag("fmt", ...);          a "# ..." comment line
 *   return done_testing();     prints the plan "1..N"; exit status 1 if anything failed
 *
 * Output is flushed after every line so that fork()ed children never repeat
 * buffered output. Children must leave with _exit(), never exit().
 */
#ifndef PIDKIT_TAP_H
#define PIDKIT_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failures;

static inline void tap_vline(const char *prefix, const char *fmt, va_list ap)
{
    fputs(prefix, stdout);
    vprintf(fmt, ap);
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    printf("%sok %d - ", pass ? "" : "not ", ++tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    if (!pass) {
        tap_failures++;
        printf("#   Failed test at %s line %d\n", file, line);
    }
    fflush(stdout);
    return pass;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline void skip(const char *why, const char *fmt, ...)
{
    va_list ap;
    printf("ok %d - ", ++tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" # SKIP %s\n", why);
    fflush(stdout);
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static inline void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vline("# ", fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static inline int done_testing(void)
{
    printf("1..%d\n", tap_count);
    fflush(stdout);
    return tap_failures ? 1 : 0;
}

#endif /* PIDKIT_TAP_H */
