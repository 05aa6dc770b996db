/* ps.c - list processes like `ps xao comm,pid,ppid,pgid,sid` through pidkit.
 *
 *   ps            every process in /proc
 *   ps PID...     just those (a missing pid is reported with pidkit_last_error())
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <pidkit.h>

static int row(pid_t pid, int quiet_if_gone)
{
    pidkit_proc_info info = PIDKIT_PROC_INFO_INIT;
    int r = pidkit_proc_info_get(pid, &info);
    if (r < 0) {
        if (quiet_if_gone && r == -ESRCH /* it exited while we listed */)
            return 0;
        fprintf(stderr, "ps: %s\n", pidkit_last_error());
        return 1;
    }
    printf("%-16s %7d %7d %7d %7d %c\n", info.comm, (int)info.pid, (int)info.ppid,
           (int)info.pgid, (int)info.sid, info.state);
    return 0;
}

int main(int argc, char **argv)
{
    int failed = 0;
    printf("%-16s %7s %7s %7s %7s %s\n", "COMMAND", "PID", "PPID", "PGID", "SID", "S");
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            failed |= row((pid_t)atoi(argv[i]), 0);
        return failed;
    }
    DIR *d = opendir("/proc");
    if (!d) {
        perror("ps: /proc");
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end == '\0' && pid > 0)
            failed |= row((pid_t)pid, 1);
    }
    closedir(d);
    printf("(this process: pid %d, session %d, library %s)\n", (int)pidkit_getpid(),
           (int)pidkit_getsid(0), pidkit_version());
    return failed;
}
