/* test_notify.c - the sd_notify protocol (pidkit_notify and the READY=1 that
 * pidkit_detach_ready sends) against a real AF_UNIX datagram listener
 * standing in for systemd. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pidkit.h>
#include "tap.h"

static char dir[64];

/* A datagram listener on `name` ("/path" or "@abstract"). */
static int listener(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a.sun_path, name, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    if (name[0] == '@') {
        a.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    }
    if (bind(fd, (struct sockaddr *)&a, len) != 0) {
        diag("bind %s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* One datagram within `ms`, NUL-terminated into buf; -1 if none came. */
static int receive(int fd, char *buf, size_t size, int ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, ms) != 1)
        return -1;
    ssize_t n = recv(fd, buf, size - 1, 0);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

static void test_notify_path_and_abstract(void)
{
    char path[128], buf[256];
    snprintf(path, sizeof path, "%s/notify.sock", dir);
    int fd = listener(path);
    setenv("NOTIFY_SOCKET", path, 1);
    ok(pidkit_notify("STATUS=loading config") == 1, "notify to a path socket returns 1");
    ok(receive(fd, buf, sizeof buf, 1000) > 0 && strcmp(buf, "STATUS=loading config") == 0,
       "the listener got exactly the state: \"%s\"", buf);
    ok(pidkit_notify("WATCHDOG=1\nSTATUS=ok") == 1 && receive(fd, buf, sizeof buf, 1000) > 0 &&
           strcmp(buf, "WATCHDOG=1\nSTATUS=ok") == 0, "several assignments travel as one datagram");
    close(fd);
    unlink(path);
    ok(pidkit_notify("READY=1") == -ENOENT || pidkit_notify("READY=1") == -ECONNREFUSED,
       "socket gone: -ENOENT/-ECONNREFUSED with a message (\"%s\")", pidkit_last_error());

    char abstract[64];
    snprintf(abstract, sizeof abstract, "@pidkit-test-%d", (int)getpid());
    fd = listener(abstract);
    setenv("NOTIFY_SOCKET", abstract, 1);
    ok(pidkit_notify("RELOADING=1") == 1 && receive(fd, buf, sizeof buf, 1000) > 0 &&
           strcmp(buf, "RELOADING=1") == 0, "an abstract @name socket works");
    close(fd);

    unsetenv("NOTIFY_SOCKET");
    ok(pidkit_notify("READY=1") == 0, "NOTIFY_SOCKET unset: 0, nothing sent");
    ok(pidkit_notify(NULL) == -EINVAL, "NULL state: -EINVAL");
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    ok(pidkit_notify("READY=1") == -EINVAL, "a NOTIFY_SOCKET that is neither /path nor @name: -EINVAL");
    unsetenv("NOTIFY_SOCKET");
}

/* detach under "systemd": the daemon's ready(0) sends READY=1 and MAINPID,
 * and NOTIFY_SOCKET is gone from its environment afterwards. */
static void detach_case(int status, int keep_flag, const char *sock_name, int remove_socket)
{
    char buf[256];
    int fd = listener(sock_name);
    int report[2];
    if (fd < 0 || pipe(report) != 0)
        return;
    if (remove_socket) {
        close(fd);
        fd = -1;
        if (sock_name[0] == '/')
            unlink(sock_name);
    }
    pid_t helper = fork();
    if (helper == 0) {
        setenv("NOTIFY_SOCKET", sock_name, 1);
        pidkit_detach_opts o = PIDKIT_DETACH_OPTS_INIT;
        o.flags = (uint32_t)keep_flag;
        o.keep_fds = &report[1];
        o.n_keep_fds = 1;
        pid_t d = pidkit_detach(&o);
        if (d == 0) {
            int r = pidkit_detach_ready(status);
            int env_left = getenv("NOTIFY_SOCKET") != NULL;
            int msg[3] = { (int)getpid(), r, env_left };
            if (write(report[1], msg, sizeof msg) != (ssize_t)sizeof msg)
                _exit(3);
            _exit(0);
        }
        _exit((status != 0 && d == (pid_t)status) || (status == 0 && d > 0) ? 0 : 1);
    }
    close(report[1]);
    int st = 0;
    waitpid(helper, &st, 0);
    int msg[3] = { 0, 0, 0 };
    ssize_t n = read(report[0], msg, sizeof msg);
    close(report[0]);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "[%s%s] the original got the daemon's status %d",
       sock_name[0] == '@' ? "abstract" : "path", remove_socket ? ", socket gone" : "", status);
    if (remove_socket) {
        ok(n == (ssize_t)sizeof msg && msg[1] < 0, "ready() returns the send's error when the socket is gone (%d)", msg[1]);
        return;
    }
    int got = receive(fd, buf, sizeof buf, 2000);
    char want[128];
    if (status == 0)
        snprintf(want, sizeof want, "READY=1\nMAINPID=%d\n", msg[0]);
    else
        snprintf(want, sizeof want, "ERRNO=%d\n", -status);
    ok(got > 0 && strcmp(buf, want) == 0, "manager got \"%s\" (want \"%s\")", got > 0 ? buf : "(nothing)", want);
    ok(n == (ssize_t)sizeof msg && msg[1] == 0, "ready() returned 0 in the daemon");
    ok(msg[2] == (keep_flag ? 1 : 0), "NOTIFY_SOCKET %s in the daemon afterwards", keep_flag ? "kept" : "unset");
    close(fd);
    if (sock_name[0] == '/')
        unlink(sock_name);
}

/* A second thread reads the environment in a loop while the daemon calls
 * pidkit_detach_ready: unsetenv under its feet would be undefined
 * behaviour, so ready() leaves NOTIFY_SOCKET set while other threads run. */
static volatile int reader_stop;
static const char *reader_want;
static volatile long reader_reads, reader_bad;

static void *env_reader(void *arg)
{
    (void)arg;
    while (!reader_stop) {
        const char *v = getenv("NOTIFY_SOCKET");
        if (!v || strcmp(v, reader_want) != 0)
            reader_bad++;
        reader_reads++;
    }
    return NULL;
}

static void detach_threaded_case(const char *sock_name)
{
    char buf[256];
    int fd = listener(sock_name);
    int report[2];
    if (fd < 0 || pipe(report) != 0)
        return;
    pid_t helper = fork();
    if (helper == 0) {
        setenv("NOTIFY_SOCKET", sock_name, 1);
        pidkit_detach_opts o = PIDKIT_DETACH_OPTS_INIT;
        o.keep_fds = &report[1];
        o.n_keep_fds = 1;
        pid_t d = pidkit_detach(&o);
        if (d == 0) {
            reader_want = sock_name;
            pthread_t t;
            long msg[4] = { (long)getpid(), -1, 0, 0 };
            if (pthread_create(&t, NULL, env_reader, NULL) == 0) {
                while (reader_reads < 1000)
                    usleep(100);
                msg[1] = pidkit_detach_ready(0);
                long before = reader_reads;
                while (reader_reads < before + 1000)
                    usleep(100);
                reader_stop = 1;
                pthread_join(t, NULL);
                msg[2] = getenv("NOTIFY_SOCKET") != NULL;
                msg[3] = reader_bad;
            }
            if (write(report[1], msg, sizeof msg) != (ssize_t)sizeof msg)
                _exit(3);
            _exit(0);
        }
        _exit(d > 0 ? 0 : 1);
    }
    close(report[1]);
    int st = 0;
    waitpid(helper, &st, 0);
    long msg[4] = { 0, -1, 0, -1 };
    struct pollfd p = { report[0], POLLIN, 0 };
    ssize_t n = poll(&p, 1, 30000) == 1 ? read(report[0], msg, sizeof msg) : -1;
    close(report[0]);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "[threaded daemon] the original got the ready report");
    int got = receive(fd, buf, sizeof buf, 2000);
    char want[128];
    snprintf(want, sizeof want, "READY=1\nMAINPID=%ld\n", msg[0]);
    ok(n == (ssize_t)sizeof msg && msg[1] == 0 && got > 0 && strcmp(buf, want) == 0,
       "[threaded daemon] ready() returned %ld and the manager got READY=1 with MAINPID=%ld%s", msg[1], msg[0],
       got > 0 ? "" : " (nothing came)");
    ok(msg[2] == 1, "[threaded daemon] NOTIFY_SOCKET stays set while another thread may read the environment");
    ok(msg[3] == 0, "[threaded daemon] a thread calling getenv in a loop during ready() always saw it (%ld misses)",
       msg[3]);
    close(fd);
    if (sock_name[0] == '/')
        unlink(sock_name);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/pidkit-notify-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_notify_path_and_abstract();

    char path[128], abstract[64];
    snprintf(path, sizeof path, "%s/d.sock", dir);
    snprintf(abstract, sizeof abstract, "@pidkit-detach-%d", (int)getpid());
    detach_case(0, 0, path, 0);
    detach_case(-EIO, 0, path, 0);
    detach_case(0, PIDKIT_DETACH_KEEP_NOTIFY_SOCKET, abstract, 0);
    detach_case(0, 0, path, 1);
    detach_threaded_case(path);

    /* Without NOTIFY_SOCKET nothing is sent and ready() is plain. */
    int fd = listener(path);
    int report[2];
    if (pipe(report) == 0) {
        pid_t helper = fork();
        if (helper == 0) {
            unsetenv("NOTIFY_SOCKET");
            pidkit_detach_opts o = PIDKIT_DETACH_OPTS_INIT;
            pid_t d = pidkit_detach(&o);
            if (d == 0)
                _exit(pidkit_detach_ready(0) == 0 ? 0 : 1);
            _exit(d > 0 ? 0 : 1);
        }
        close(report[1]);
        int st;
        waitpid(helper, &st, 0);
        char buf[64];
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && receive(fd, buf, sizeof buf, 300) < 0,
           "NOTIFY_SOCKET unset: detach works and no datagram is sent");
        close(report[0]);
    }
    close(fd);
    unlink(path);
    rmdir(dir);
    return done_testing();
}
