/* spawn.c - start a program in its own session through pidkit.
 *
 *   spawn [--pidfile FILE] -- CMD [ARGS...]
 *
 * CMD is looked up in PATH (PIDKIT_SPAWN_SEARCH_PATH). It runs fully
 * detached: it leads a new session, it is no child of this process, its
 * stdin/stdout/stderr are /dev/null and its working directory is "/". With
 * --pidfile it holds FILE (locked, with its pid in it) from its first
 * instruction, so a second `spawn --pidfile FILE ...` fails while it runs.
 *
 * pidkit_spawn returns once the exec succeeded, so a missing or broken CMD
 * is reported here, not lost in the background:
 *
 *   $ spawn --pidfile /tmp/s.pid -- sleep 60
 *   started sleep as pid 4242 (session 4242)
 *   $ spawn --pidfile /tmp/s.pid -- sleep 60
 *   cannot start sleep: pidfile /tmp/s.pid is held by pid 4242
 */
#include <stdio.h>
#include <string.h>
#include <pidkit.h>

static int usage(void)
{
    fprintf(stderr, "usage: spawn [--pidfile FILE] -- CMD [ARGS...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *pidfile = NULL;
    int i = 1;
    while (i < argc) {
        if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc) {
            pidfile = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (argv[i][0] == '-') {
            return usage();
        } else {
            break; /* CMD without "--" */
        }
    }
    if (i >= argc)
        return usage();

    pidkit_spawn_opts opts = PIDKIT_SPAWN_OPTS_INIT;
    opts.flags = PIDKIT_SPAWN_SEARCH_PATH;
    opts.pidfile = pidfile;

    /* argv[i..argc-1] is already a NULL-terminated array: argv[argc] == NULL.
     * envp NULL: the program gets this process's environment. */
    pid_t pid = pidkit_spawn((const char *const *)&argv[i], NULL, &opts);
    if (pid < 0) {
        fprintf(stderr, "cannot start %s: %s\n", argv[i], pidkit_last_error());
        return 1;
    }

    /* It leads its own session, so its session id is its pid (unless it has
     * already exited, when there is nothing left to ask). */
    pid_t sid = pidkit_getsid(pid);
    printf("started %s as pid %d (session %d)\n", argv[i], (int)pid, (int)(sid > 0 ? sid : pid));
    return 0;
}
