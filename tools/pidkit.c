/* pidkit - the command-line face of libpidkit: process ids, running a
 * program in its own session holding a pidfile, and LSB-style status/stop.
 *
 *   pidkit ids [PID...]
 *   pidkit run --pidfile F [--chdir-root] [--chdir D] [--stdout F] [--stderr F] -- CMD [ARG...]
 *   pidkit status F
 *   pidkit stop F [--signal S] [--timeout T]
 *   pidkit ps [-s SID] [-g PGID] [-P PPID] [--tree PID] [-u USER] [-o FIELDS] [--no-headers]
 *   pidkit kill [-SIG | -s SIG] (--session SID | --pgid G | --ppid P | --tree P | --user U) ...
 *   pidkit wait PID... [--timeout T]
 *   pidkit version
 *
 * Every failure message is the library's pidkit_last_error(), prefixed with
 * the subcommand. Usage errors exit 2; `--help` anywhere exits 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pidkit.h>

#define EXIT_USAGE 2

/* LSB init-script status codes (LSB Core, "Init Script Actions"). */
#define LSB_RUNNING 0
#define LSB_DEAD_PIDFILE_EXISTS 1
#define LSB_NOT_RUNNING 3
#define LSB_UNKNOWN 4

static const char USAGE_MAIN[] =
    "usage: pidkit COMMAND [ARGS...]\n"
    "\n"
    "Pidfiles, sessions and process ids through libpidkit.\n"
    "\n"
    "commands:\n"
    "  ids [PID...]          comm, pid, ppid, pgid, sid, tty and state of processes\n"
    "  run --pidfile F ...   start a program in its own session, holding pidfile F\n"
    "  status F              is the holder of pidfile F running? (LSB exit codes)\n"
    "  stop F                signal the holder of pidfile F and wait until it is gone\n"
    "  ps [SELECTORS]        list processes (-s SID, -g PGID, -P PPID, --tree PID, -u USER)\n"
    "  kill SELECTOR         signal every process of a session, group, tree or user\n"
    "  wait PID...           wait until processes (any, not only children) have exited\n"
    "  version               print the library version\n"
    "\n"
    "Run 'pidkit COMMAND --help' for the options of a command.\n";

static const char USAGE_IDS[] =
    "usage: pidkit ids [PID...]\n"
    "\n"
    "Print a header and one row per process: COMMAND PID PPID PGID SID TT S\n"
    "(like `ps xao comm,pid,ppid,pgid,sid,tty,state`). Without PIDs, every\n"
    "process in /proc. A PID that names no process is reported on stderr and\n"
    "makes the exit status 1 (the other rows are still printed).\n";

static const char USAGE_RUN[] =
    "usage: pidkit run --pidfile F [--wait] [--chdir-root | --chdir D] [--stdout F]\n"
    "                  [--stderr F] [--notify] [--] CMD [ARG...]\n"
    "\n"
    "Start CMD (looked up in PATH) as the leader of a new session, holding the\n"
    "pidfile F (flock-locked, holding CMD's pid) from before its first\n"
    "instruction until it exits. Nothing is started when another live process\n"
    "holds F. Options may not follow CMD.\n"
    "\n"
    "By default pidkit prints CMD's pid on stdout once its exec succeeded and\n"
    "exits 0: CMD runs on, double-forked (no child of pidkit, never its\n"
    "zombie), with stdin/stdout/stderr on /dev/null unless given, in the\n"
    "caller's working directory unless --chdir.\n"
    "\n"
    "  --pidfile F   the pidfile (required). If another live process holds it,\n"
    "                a message names the holder and the exit status is 1.\n"
    "  --chdir-root  CMD's working directory is / (as daemon(7) asks, so that\n"
    "                CMD keeps no directory busy), like --chdir /.\n"
    "  --detach      the older name of --chdir-root (CMD is detached either\n"
    "                way), kept for old scripts: as before, --chdir D wins over\n"
    "                it, and it is refused with --wait.\n"
    "  --wait        foreground mode: CMD is pidkit's child (still in a session\n"
    "                of its own): it inherits pidkit's stdin/stdout/stderr\n"
    "                (except a stream given with --stdout or --stderr) and\n"
    "                working directory; nothing is printed (the pid is in F);\n"
    "                pidkit forwards HUP, INT, QUIT, TERM, USR1 and USR2 (unless\n"
    "                ignored when it started) to CMD, waits for it and exits\n"
    "                with its status (128+N if signal N killed it): for a\n"
    "                terminal, or a supervisor that wants a foreground process.\n"
    "  --chdir D     CMD's working directory.\n"
    "  --stdout F    append CMD's stdout to file F (created 0644).\n"
    "  --stderr F    append CMD's stderr to file F (created 0644).\n"
    "  --notify      for a systemd Type=notify unit: pass NOTIFY_SOCKET through\n"
    "                to CMD, which reports READY=1 itself (with MAINPID= or\n"
    "                NotifyAccess=all). Without --notify, CMD does not see\n"
    "                NOTIFY_SOCKET, and pidkit itself (unless --wait) sends\n"
    "                READY=1 and MAINPID=<CMD's pid> once CMD's exec succeeded.\n"
    "\n"
    "Exit status: 0 started (CMD's status with --wait); 1 when CMD could not\n"
    "be started (pidfile held, exec failed, ...); 2 usage error.\n"
    "The pidfile stays on disk after CMD exits (stale: `pidkit status` says 1),\n"
    "and is taken over by the next start.\n";

static const char USAGE_STATUS[] =
    "usage: pidkit status F\n"
    "\n"
    "Whether a live process holds the pidfile F (the flock decides, never the\n"
    "pid written in it). Changes nothing on disk. Exit status, as LSB init\n"
    "scripts' `status`:\n"
    "  0  running: the holder's pid is printed on stdout\n"
    "  1  not running, but the pidfile exists (stale: its owner died)\n"
    "  3  not running, no pidfile\n"
    "  4  unknown: the pidfile could not be checked (message on stderr)\n"
    "Messages for 1, 3 and 4 go to stderr, so stdout is a pid or nothing.\n";

static const char USAGE_STOP[] =
    "usage: pidkit stop F [--signal S] [--timeout T]\n"
    "\n"
    "Send signal S to the process holding the pidfile F (through a pidfd, so a\n"
    "recycled pid is never signalled), then wait until it no longer holds F.\n"
    "  --signal S    a name (TERM, SIGTERM, kill) or a number; default TERM\n"
    "  --timeout T   seconds to wait, fractions allowed; default 10; 0 = do not wait\n"
    "Exit status (as LSB init scripts' `stop` and start-stop-daemon --oknodo):\n"
    "  0  stopped, or not running in the first place (a note on stderr)\n"
    "  1  still running when the timeout was reached (message on stderr; try\n"
    "     --signal KILL), or another failure\n"
    "  2  usage error\n"
    "  4  not permitted to signal the holder\n";

static const char USAGE_PS[] =
    "usage: pidkit ps [-s SID] [-g PGID] [-P PPID] [--tree PID] [-u USER|UID]\n"
    "                 [--my-session] [-o FIELDS] [--no-headers]\n"
    "\n"
    "One row per process (ascending pid), from one read of /proc; every\n"
    "selector given must match (none: every process, as `ps -e`).\n"
    "  -s, --sid SID       members of session SID\n"
    "  --my-session        members of pidkit's own session, which it shares with\n"
    "                      the shell that runs it (-s $$ names it only when that\n"
    "                      shell leads its session, as an interactive one does)\n"
    "  -g, --pgid PGID     members of process group PGID\n"
    "  -P, --ppid PID      children of PID\n"
    "  --tree PID          descendants of PID: its children, theirs, and so on\n"
    "                      (not PID itself)\n"
    "  -u, --user USER     processes whose real user is USER (a name or a uid)\n"
    "  -o, --format FIELDS columns, comma-separated, named as ps -o names them:\n"
    "                      comm pid ppid pgid sid state tty uid user nlwp rss vsz\n"
    "                      time start (default comm,pid,ppid,pgid,sid, the seed's\n"
    "                      `ps xao` line); FIELD=TITLE sets a header (ps -o\n"
    "                      pid=: none); may be repeated\n"
    "  --no-headers        no header line\n"
    "rss and vsz are KiB, time is user+system CPU [DD-]HH:MM:SS, start is HH:MM\n"
    "(today) or MonDD. Ids are > 0. Exit status: 0, 1 when no process matched,\n"
    "2 usage error.\n";

static const char USAGE_KILL[] =
    "usage: pidkit kill [-SIGNAL | -s SIGNAL] (--session SID | --pgid PGID |\n"
    "                   --ppid PID | --tree PID | --user USER) [--wait]\n"
    "                   [--timeout SECONDS] [--escalate SIGNAL]\n"
    "\n"
    "Signal every process the selectors match (all of them; at least one is\n"
    "required: never every process), each through a pidfd opened after the\n"
    "scan and re-checked, so a recycled pid is never hit. Members forked\n"
    "meanwhile are found by rescanning. pid 1, pidkit itself and kernel threads\n"
    "are never signalled. `kill -9 -SID` reaches only the process group SID;\n"
    "`pidkit kill -9 --session SID` reaches every group of the session.\n"
    "Prints how many processes were signalled.\n"
    "  -SIGNAL, -s, --signal SIGNAL   a name (TERM, SIGTERM, kill) or number;\n"
    "                      default TERM; 0 only counts\n"
    "  --session SID       members of session SID\n"
    "  --pgid PGID         members of process group PGID\n"
    "  --ppid PID          children of PID\n"
    "  --tree PID          descendants of PID, children before parents (not PID)\n"
    "  --user USER         processes whose real user is USER (a name or a uid)\n"
    "  --wait              then wait until every signalled process has exited\n"
    "  --timeout SECONDS   wait at most that long (implies --wait; fractions allowed)\n"
    "  --escalate SIGNAL   with --timeout: send SIGNAL to those still running when\n"
    "                      the timeout has passed, then wait up to SECONDS again\n"
    "Exit status: 0 when at least one process was signalled (and, waiting, all\n"
    "have exited); 1 when none matched (or none could be signalled: message on\n"
    "stderr); 2 usage error; 3 still running after the timeout.\n";

static const char USAGE_WAIT[] =
    "usage: pidkit wait PID... [--timeout SECONDS]\n"
    "\n"
    "Return when every listed process has exited: any process, not only\n"
    "pidkit's children (as pidwait or `tail --pid`), through pidfds, without\n"
    "polling. A zombie has exited. Nothing is printed.\n"
    "  -t, --timeout SECONDS   wait at most that long (fractions allowed; 0 = look once)\n"
    "Exit status: 0 all have exited; 1 a PID names no process (nothing is\n"
    "waited for); 2 usage error; 3 some still running after the timeout (their\n"
    "pids on stderr).\n";

static const char USAGE_VERSION[] =
    "usage: pidkit version\n"
    "\n"
    "Print the version of libpidkit in use.\n";

/* A path as the CLI shows it: control characters and the backslash escaped
 * as `ls -b` does, so that a path with a newline cannot fake a line of its
 * own on stderr (the library's messages escape the same way). Two rotating
 * buffers: two paths may appear in one message. */
static const char *shown(const char *s)
{
    static char bufs[2][4 * PATH_MAX + 1];
    static int next;
    char *out = bufs[next];
    next ^= 1;
    size_t n = 0, cap = sizeof bufs[0];
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 5 < cap; p++) {
        const char *esc = *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : *p == '\r' ? "\\r" : *p == '\\' ? "\\\\" : NULL;
        if (esc)
            n += (size_t)snprintf(out + n, cap - n, "%s", esc);
        else if (*p < 0x20 || *p == 0x7f)
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", *p);
        else
            out[n++] = (char)*p;
    }
    out[n] = '\0';
    return out;
}

/* A usage error: message and hint on stderr, exit status 2. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "pidkit%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'pidkit%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
    return EXIT_USAGE;
}

static int help(const char *text)
{
    fputs(text, stdout);
    return 0;
}

/* getopt's complaint about argv[optind - 1] as a usage error. */
static int bad_option(const char *cmd, char **argv, int c)
{
    if (c == ':')
        return usage_error(cmd, "option '%s' needs an argument", argv[optind - 1]);
    return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

/* Options of a command that takes none but --help: -1 to go on (optind at
 * the first operand), else the exit status (help shown, or a usage error). */
static int help_only_options(int argc, char **argv, const char *cmd, const char *usage)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h')
            return help(usage);
        return bad_option(cmd, argv, c);
    }
    return -1;
}

/* A decimal pid > 0, nothing else. */
static int parse_pid(const char *s, pid_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > INT_MAX || s[0] == '+' || s[0] == ' ')
        return -1;
    *out = (pid_t)v;
    return 0;
}

/* ------------------------------------------------------------------ ids */

/* The name `ps` shows for a tty_nr from /proc/PID/stat. */
static void tty_name(int32_t tty_nr, char *buf, size_t n)
{
    unsigned dev = (unsigned)tty_nr;
    unsigned major = (dev >> 8) & 0xfffu;
    unsigned minor = (dev & 0xffu) | ((dev >> 12) & 0xfff00u);
    if (tty_nr == 0)
        snprintf(buf, n, "?");
    else if (major >= 136 && major <= 143)      /* Unix98 pseudo-terminals */
        snprintf(buf, n, "pts/%u", (major - 136) * 256 + minor);
    else if (major == 4 && minor < 64)
        snprintf(buf, n, "tty%u", minor);
    else if (major == 4)
        snprintf(buf, n, "ttyS%u", minor - 64);
    else
        snprintf(buf, n, "%u:%u", major, minor);
}

static int ids_row(pid_t pid, int quiet_if_gone)
{
    pidkit_proc_info info = PIDKIT_PROC_INFO_INIT;
    int r = pidkit_proc_info_get(pid, &info);
    if (r < 0) {
        if (quiet_if_gone && r == -ESRCH) /* it exited while /proc was listed */
            return 0;
        fprintf(stderr, "pidkit ids: %s\n", pidkit_last_error());
        return 1;
    }
    char tty[32];
    tty_name(info.tty_nr, tty, sizeof tty);
    printf("%-16s %7d %7d %7d %7d %-8s %c\n", info.comm, (int)info.pid, (int)info.ppid,
           (int)info.pgid, (int)info.sid, tty, info.state);
    return 0;
}

static int cmd_ids(int argc, char **argv)
{
    int done = help_only_options(argc, argv, "ids", USAGE_IDS);
    if (done >= 0)
        return done;
    pid_t *pids = NULL;
    int n = argc - optind;
    if (n > 0) {
        pids = calloc((size_t)n, sizeof *pids);
        if (!pids) {
            perror("pidkit ids");
            return 1;
        }
        for (int i = 0; i < n; i++)
            if (parse_pid(argv[optind + i], &pids[i]) != 0) {
                free(pids);
                return usage_error("ids", "not a process id: '%s'", argv[optind + i]);
            }
    }

    int failed = 0;
    printf("%-16s %7s %7s %7s %7s %-8s %s\n", "COMMAND", "PID", "PPID", "PGID", "SID", "TT", "S");
    if (n > 0) {
        for (int i = 0; i < n; i++)
            failed |= ids_row(pids[i], 0);
        free(pids);
        return failed;
    }
    DIR *d = opendir("/proc");
    if (!d) {
        fprintf(stderr, "pidkit ids: /proc: %s\n", strerror(errno));
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t pid;
        if (parse_pid(e->d_name, &pid) == 0)
            failed |= ids_row(pid, 1);
    }
    closedir(d);
    return failed;
}

/* ------------------------------------------------------------------ run */

/* The pid of the foreground child, for the forwarding handler. */
static volatile sig_atomic_t child_pid;

static const int forwarded_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 };
#define N_FORWARDED (sizeof forwarded_signals / sizeof forwarded_signals[0])

static void forward_signal(int sig)
{
    int saved = errno;
    /* The child is ours and unreaped until waitpid returns, so its pid
     * cannot have been recycled: plain kill is exact here. */
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
    errno = saved;
}

static int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "pidfile", required_argument, NULL, 'p' },
        { "detach", no_argument, NULL, 'd' },
        { "chdir-root", no_argument, NULL, 'r' },
        { "chdir", required_argument, NULL, 'C' },
        { "stdout", required_argument, NULL, 'o' },
        { "stderr", required_argument, NULL, 'e' },
        { "notify", no_argument, NULL, 'n' },
        { "wait", no_argument, NULL, 'w' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *pidfile = NULL, *workdir = NULL, *out = NULL, *err = NULL;
    int detach = 0, chdir_root = 0, notify = 0, wait_for_cmd = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': pidfile = optarg; break;
        case 'd': detach = 1; break;
        case 'r': chdir_root = 1; break;
        case 'C': workdir = optarg; break;
        case 'o': out = optarg; break;
        case 'e': err = optarg; break;
        case 'n': notify = 1; break;
        case 'w': wait_for_cmd = 1; break;
        case 'h': return help(USAGE_RUN);
        default: return bad_option("run", argv, c);
        }
    }
    if (!pidfile)
        return usage_error("run", "--pidfile F is required");
    if (!*pidfile)
        return usage_error("run", "--pidfile needs a path");
    if (optind >= argc)
        return usage_error("run", "no command given (pidkit run --pidfile F -- CMD [ARG...])");
    if (detach && wait_for_cmd)
        return usage_error("run", "--detach and --wait exclude each other");
    if (chdir_root && workdir)
        return usage_error("run", "--chdir-root and --chdir exclude each other");
    /* Under systemd's Type=notify: with --notify CMD speaks the protocol
     * itself; without it, CMD never sees the socket (a program that happens
     * to speak sd_notify must not confuse the manager) and a run that
     * returns once CMD started reports for it. */
    char manager_socket[512] = "";
    int manager_listens = getenv("NOTIFY_SOCKET") != NULL;
    if (manager_listens)
        snprintf(manager_socket, sizeof manager_socket, "%s", getenv("NOTIFY_SOCKET"));
    if (!notify)
        unsetenv("NOTIFY_SOCKET");

    pidkit_spawn_opts opts = PIDKIT_SPAWN_OPTS_INIT;
    opts.flags = PIDKIT_SPAWN_SEARCH_PATH;
    opts.pidfile = pidfile;
    opts.workdir = workdir;
    opts.stdout_path = out;
    opts.stderr_path = err;
    pid_t holder = -1;
    opts.holder = &holder;
    /* The caller's working directory unless --chdir or --chdir-root (the
     * library's default: "/"). */
    if (!chdir_root && !detach && !workdir)
        opts.flags |= PIDKIT_SPAWN_KEEP_CWD;
    sigset_t forward, old_mask;
    sigemptyset(&forward);
    sigemptyset(&old_mask);
    for (size_t i = 0; i < N_FORWARDED; i++)
        sigaddset(&forward, forwarded_signals[i]);

    /* Without --wait CMD runs on after pidkit returns: nobody's child, no
     * stream of ours (a caller reading pidkit's output through a pipe must
     * not wait for CMD to close it). With --wait it is our child and
     * inherits each of our streams that no --stdout/--stderr replaces. */
    if (wait_for_cmd) {
        opts.flags |= PIDKIT_SPAWN_NO_DOUBLE_FORK | PIDKIT_SPAWN_INHERIT_STDIN;
        if (!out)
            opts.flags |= PIDKIT_SPAWN_INHERIT_STDOUT;
        if (!err)
            opts.flags |= PIDKIT_SPAWN_INHERIT_STDERR;
        fflush(stdout);
        fflush(stderr);
        /* Signals that arrive before child_pid is set wait, then go to CMD
         * (the library unblocks everything in CMD itself). */
        sigprocmask(SIG_BLOCK, &forward, &old_mask);
    }

    pid_t pid = pidkit_spawn((const char *const *)&argv[optind], NULL, &opts);
    if (pid < 0) {
        if (wait_for_cmd)
            sigprocmask(SIG_SETMASK, &old_mask, NULL);
        /* The holder comes from the refused call itself: asking the
         * pidfile again could find it gone already. */
        if (pid == -EEXIST && holder > 0)
            fprintf(stderr, "pidkit run: not started: %s is held by pid %d\n", shown(pidfile), (int)holder);
        else if (pid == -EEXIST)
            fprintf(stderr, "pidkit run: not started: %s\n", pidkit_last_error());
        else
            fprintf(stderr, "pidkit run: cannot start %s: %s\n", shown(argv[optind]), pidkit_last_error());
        return 1;
    }
    if (!wait_for_cmd) {
        if (manager_listens && !notify) {
            char state[64];
            snprintf(state, sizeof state, "READY=1\nMAINPID=%d\n", (int)pid);
            setenv("NOTIFY_SOCKET", manager_socket, 1);
            if (pidkit_notify(state) < 0)
                fprintf(stderr, "pidkit run: started, but cannot tell the service manager: %s\n",
                        pidkit_last_error());
        }
        printf("%d\n", (int)pid);
        return 0;
    }
    /* --wait: nothing is added to CMD's output stream (the pid is in the
     * pidfile); pidkit waits for CMD. */

    child_pid = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_FORWARDED; i++) {
        struct sigaction was;
        /* A signal ignored when pidkit started (nohup, a background job of
         * a non-interactive shell) stays ignored, as shells keep it. */
        if (sigaction(forwarded_signals[i], NULL, &was) == 0 && was.sa_handler == SIG_IGN)
            continue;
        sigaction(forwarded_signals[i], &sa, NULL);
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);

    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "pidkit run: waitpid %d: %s\n", (int)pid, strerror(errno));
            return 1;
        }
    }
    child_pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* --------------------------------------------------------------- status */

static int cmd_status(int argc, char **argv)
{
    int done = help_only_options(argc, argv, "status", USAGE_STATUS);
    if (done >= 0)
        return done;
    if (argc - optind != 1)
        return usage_error("status", "expected exactly one pidfile");
    const char *path = argv[optind];

    pid_t holder = 0;
    int r = pidkit_pidfile_check(path, &holder);
    if (r < 0) {
        fprintf(stderr, "pidkit status: %s\n", pidkit_last_error());
        return LSB_UNKNOWN;
    }
    if (r == 1) {
        if (holder > 0)
            printf("%d\n", (int)holder);
        else
            fprintf(stderr, "pidkit status: %s is held, but not by a process whose pid is written in it "
                            "(none written yet, or the pid there carries no lock)\n", shown(path));
        return LSB_RUNNING;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        pid_t old = 0;
        if (pidkit_pidfile_read(path, &old) == 0)
            fprintf(stderr, "pidkit status: not running; stale pidfile %s (pid %d holds no lock on it)\n",
                    shown(path), (int)old);
        else
            fprintf(stderr, "pidkit status: not running; stale pidfile %s\n", shown(path));
        return LSB_DEAD_PIDFILE_EXISTS;
    }
    if (errno == ENOENT) {
        fprintf(stderr, "pidkit status: not running (no pidfile %s)\n", shown(path));
        return LSB_NOT_RUNNING;
    }
    fprintf(stderr, "pidkit status: %s: %s\n", shown(path), strerror(errno));
    return LSB_UNKNOWN;
}

/* ----------------------------------------------------------------- stop */

static const struct {
    const char *name;
    int sig;
} signal_names[] = {
    { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
    { "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "IOT", SIGIOT }, { "BUS", SIGBUS },
    { "FPE", SIGFPE }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },
    { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
    { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP },
    { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU },
    { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
    { "IO", SIGIO }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
};

static const char *signal_name(int sig)
{
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (signal_names[i].sig == sig)
            return signal_names[i].name;
    return NULL;
}

/* "TERM", "SIGTERM", "term" or "15"; -1 if none. */
static int parse_signal(const char *s)
{
    if (*s >= '0' && *s <= '9') {
        char *end;
        long v = strtol(s, &end, 10);
        return (*end || v < 1 || v > SIGRTMAX) ? -1 : (int)v;
    }
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (strcasecmp(s, signal_names[i].name) == 0)
            return signal_names[i].sig;
    return -1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_stop(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "signal", required_argument, NULL, 's' },
        { "timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int sig = SIGTERM, c;
    double timeout = 10.0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hs:t:", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if ((sig = parse_signal(optarg)) < 0)
                return usage_error("stop", "unknown signal '%s'", optarg);
            break;
        case 't': {
            char *end;
            errno = 0;
            timeout = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(timeout) || timeout < 0 || timeout > 1e9)
                return usage_error("stop", "not a number of seconds: '%s'", optarg);
            break;
        }
        case 'h': return help(USAGE_STOP);
        default: return bad_option("stop", argv, c);
        }
    }
    if (argc - optind != 1)
        return usage_error("stop", "expected exactly one pidfile");
    const char *path = argv[optind];
    const char *name = signal_name(sig);
    char signame[24];
    if (name)
        snprintf(signame, sizeof signame, "SIG%s", name);
    else
        snprintf(signame, sizeof signame, "signal %d", sig);

    pid_t holder = 0;
    int r = pidkit_pidfile_kill(path, sig, &holder);
    if (r == -ESRCH) {
        char why[1024];
        snprintf(why, sizeof why, "%s", pidkit_last_error());
        /* Still held: a holder that has not written its pid yet, or one the
         * pid in the file does not name. It runs, and we cannot signal it. */
        if (pidkit_pidfile_check(path, NULL) == 1) {
            fprintf(stderr, "pidkit stop: %s is held, but its holder cannot be signalled (%s)\n", shown(path), why);
            return 1;
        }
        /* LSB: stopping a service that is not running is success. */
        fprintf(stderr, "pidkit stop: not running (%s)\n", why);
        return 0;
    }
    if (r < 0) {
        fprintf(stderr, "pidkit stop: %s\n", pidkit_last_error());
        return (r == -EPERM || r == -EACCES) ? LSB_UNKNOWN : 1;
    }

    double deadline = now_seconds() + timeout;
    useconds_t pause_us = 10000;
    for (;;) {
        pid_t now_holder = 0;
        r = pidkit_pidfile_check(path, &now_holder);
        if (r < 0) {
            fprintf(stderr, "pidkit stop: %s\n", pidkit_last_error());
            return 1;
        }
        /* Released, or taken over by a new process (a restart): the one we
         * signalled is gone. */
        if (r == 0 || (now_holder != 0 && now_holder != holder))
            return 0;
        double left = deadline - now_seconds();
        if (left <= 0)
            break;
        if ((double)pause_us / 1e6 > left)
            pause_us = (useconds_t)(left * 1e6) + 1;
        usleep(pause_us);
        if (pause_us < 100000)
            pause_us *= 2;
    }
    fprintf(stderr, "pidkit stop: pid %d still holds %s %g s after %s%s\n", (int)holder, shown(path), timeout,
            signame, sig == SIGKILL ? "" : "; try --signal KILL");
    return 1;
}

/* ------------------------------------------------------ ps, kill, wait */

/* A signal for kill: as parse_signal, and 0 (only checks). */
static int parse_kill_signal(const char *s)
{
    return strcmp(s, "0") == 0 ? 0 : parse_signal(s);
}

/* A user name or a decimal uid; -1 if neither. */
static int parse_user(const char *s, uint32_t *uid)
{
    struct passwd *pw = *s ? getpwnam(s) : NULL;
    if (pw) {
        *uid = (uint32_t)pw->pw_uid;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] < '0' || s[0] > '9' || v >= UINT32_MAX)
        return -1;
    *uid = (uint32_t)v;
    return 0;
}

/* Seconds (fractions allowed, >= 0) for --timeout; -1 if not a number. */
static int parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

/* Milliseconds for a C timeout_ms: rounded up, at most INT32_MAX. */
static int seconds_to_ms(double seconds)
{
    double ms = ceil(seconds * 1000.0);
    return ms >= (double)INT32_MAX ? INT32_MAX : (int)ms;
}

/* Every matching process into a malloc'ed array: pidkit_proc_list, called
 * again with a larger array while more processes match than it holds.
 * Returns the count (rows in *out, free it), or -errno. */
static int list_processes(const pidkit_proc_filter *filter, pidkit_proc_info **out)
{
    size_t cap = 1024;
    for (;;) {
        pidkit_proc_info *rows = calloc(cap, sizeof *rows);
        if (!rows)
            return -ENOMEM;
        int r = pidkit_proc_list(filter, rows, sizeof *rows, cap);
        if (r >= 0 && (size_t)r <= cap) {
            *out = rows;
            return r;
        }
        free(rows);
        if (r < 0)
            return r;
        cap = (size_t)r + (size_t)r / 4 + 64;
    }
}

enum ps_field { F_COMM, F_PID, F_PPID, F_PGID, F_SID, F_STATE, F_TTY, F_UID, F_USER, F_NLWP,
                F_RSS, F_VSZ, F_TIME, F_START };

/* ps -o names (and some of ps's aliases), their headers and widths. */
static const struct {
    const char *name;
    enum ps_field id;
    const char *header;
    int width;
    int left;      /* text, left-aligned; numbers are right-aligned */
} ps_fields[] = {
    { "comm", F_COMM, "COMMAND", 15, 1 },  { "ucomm", F_COMM, "COMMAND", 15, 1 },
    { "ucmd", F_COMM, "CMD", 15, 1 },      { "pid", F_PID, "PID", 7, 0 },
    { "ppid", F_PPID, "PPID", 7, 0 },      { "pgid", F_PGID, "PGID", 7, 0 },
    { "pgrp", F_PGID, "PGRP", 7, 0 },      { "sid", F_SID, "SID", 7, 0 },
    { "sess", F_SID, "SESS", 7, 0 },       { "session", F_SID, "SESS", 7, 0 },
    { "state", F_STATE, "S", 1, 1 },       { "s", F_STATE, "S", 1, 1 },
    { "tty", F_TTY, "TT", 8, 1 },          { "tt", F_TTY, "TT", 8, 1 },
    { "tname", F_TTY, "TTY", 8, 1 },       { "uid", F_UID, "UID", 5, 0 },
    { "ruid", F_UID, "RUID", 5, 0 },       { "user", F_USER, "USER", 8, 1 },
    { "ruser", F_USER, "RUSER", 8, 1 },    { "nlwp", F_NLWP, "NLWP", 4, 0 },
    { "thcount", F_NLWP, "THCNT", 5, 0 },  { "rss", F_RSS, "RSS", 8, 0 },
    { "rssize", F_RSS, "RSS", 8, 0 },      { "rsz", F_RSS, "RSZ", 8, 0 },
    { "vsz", F_VSZ, "VSZ", 8, 0 },         { "vsize", F_VSZ, "VSZ", 8, 0 },
    { "time", F_TIME, "TIME", 8, 0 },      { "cputime", F_TIME, "TIME", 8, 0 },
    { "start", F_START, "START", 5, 0 },
};
#define N_PS_FIELDS (sizeof ps_fields / sizeof ps_fields[0])
#define MAX_COLUMNS 64

struct ps_column {
    enum ps_field id;
    char header[64];
    int width;
    int left;
};

/* Adds the columns of one -o argument: names separated by commas or
 * blanks; NAME=TITLE takes the rest of the argument as its header (as ps
 * does: `-o pid=` has none). Returns -1 (message given) on a bad name. */
static int add_columns(const char *arg, struct ps_column *cols, int *n)
{
    const char *p = arg;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ",= \t");
        size_t i;
        for (i = 0; i < N_PS_FIELDS; i++)
            if (strlen(ps_fields[i].name) == len && strncmp(p, ps_fields[i].name, len) == 0)
                break;
        if (i == N_PS_FIELDS) {
            usage_error("ps", "unknown field '%.*s' (fields: comm pid ppid pgid sid state tty uid user nlwp "
                        "rss vsz time start)", (int)len, p);
            return -1;
        }
        if (*n >= MAX_COLUMNS) {
            usage_error("ps", "more than %d columns", MAX_COLUMNS);
            return -1;
        }
        struct ps_column *c = &cols[(*n)++];
        c->id = ps_fields[i].id;
        c->width = ps_fields[i].width;
        c->left = ps_fields[i].left;
        p += len;
        if (*p == '=') {
            snprintf(c->header, sizeof c->header, "%s", p + 1);
            p += strlen(p);
        } else {
            snprintf(c->header, sizeof c->header, "%s", ps_fields[i].header);
        }
        if ((int)strlen(c->header) > c->width)
            c->width = (int)strlen(c->header);
    }
    return 0;
}

/* The boot time (seconds since the epoch), for START; 0 if unknown. */
static time_t boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    char line[256];
    long long bt = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &bt) == 1)
            break;
    fclose(f);
    return (time_t)bt;
}

static void format_field(const struct ps_column *c, const pidkit_proc_info *p, char *buf, size_t n,
                         long ticks, time_t booted, time_t now)
{
    switch (c->id) {
    case F_COMM: snprintf(buf, n, "%s", p->comm); break;
    case F_PID: snprintf(buf, n, "%d", (int)p->pid); break;
    case F_PPID: snprintf(buf, n, "%d", (int)p->ppid); break;
    case F_PGID: snprintf(buf, n, "%d", (int)p->pgid); break;
    case F_SID: snprintf(buf, n, "%d", (int)p->sid); break;
    case F_STATE: snprintf(buf, n, "%c", p->state); break;
    case F_TTY: tty_name(p->tty_nr, buf, n); break;
    case F_UID: snprintf(buf, n, "%u", (unsigned)p->uid); break;
    case F_USER: {
        static uint32_t cached_uid = UINT32_MAX;
        static char cached_name[64];
        if (p->uid != cached_uid) {
            struct passwd *pw = getpwuid((uid_t)p->uid);
            if (pw && strlen(pw->pw_name) <= 8)
                snprintf(cached_name, sizeof cached_name, "%s", pw->pw_name);
            else
                snprintf(cached_name, sizeof cached_name, "%u", (unsigned)p->uid);
            cached_uid = p->uid;
        }
        snprintf(buf, n, "%s", cached_name);
        break;
    }
    case F_NLWP: snprintf(buf, n, "%u", (unsigned)p->num_threads); break;
    case F_RSS: snprintf(buf, n, "%llu", (unsigned long long)(p->rss_bytes / 1024)); break;
    case F_VSZ: snprintf(buf, n, "%llu", (unsigned long long)(p->vsize_bytes / 1024)); break;
    case F_TIME: {
        unsigned long long s = (p->utime + p->stime) / (unsigned long long)ticks;
        unsigned long long d = s / 86400;
        if (d)
            snprintf(buf, n, "%llu-%02llu:%02llu:%02llu", d, s / 3600 % 24, s / 60 % 60, s % 60);
        else
            snprintf(buf, n, "%02llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
        break;
    }
    case F_START: {
        time_t t = booted + (time_t)(p->start_time / (unsigned long long)ticks);
        struct tm tm;
        localtime_r(&t, &tm);
        const char *fmt = now - t < 24 * 3600 ? "%H:%M" : now - t < 365 * 24 * 3600 ? "%b%d" : "%Y";
        if (!booted || strftime(buf, n, fmt, &tm) == 0)
            snprintf(buf, n, "-");
        break;
    }
    }
}

static void print_cell(const struct ps_column *c, const char *text, int last)
{
    if (last && c->left)
        fputs(text, stdout);
    else
        printf(c->left ? "%-*s" : "%*s", c->width, text);
    putchar(last ? '\n' : ' ');
}

/* A selector's id: decimal, > 0; -1 (usage error given) otherwise. */
static int selector_id(const char *cmd, const char *opt, const char *arg, pid_t *out)
{
    if (parse_pid(arg, out) == 0)
        return 0;
    usage_error(cmd, "%s needs an id > 0, not '%s'", opt, arg);
    return -1;
}

/* The selector options ps and kill share; 1 if c was one of them, 0 if
 * not, -1 after a usage error. */
enum { OPT_SID = 's', OPT_PGID = 'g', OPT_PPID = 'P', OPT_USER = 'u', OPT_TREE = 1000, OPT_MY_SESSION,
       OPT_NO_HEADERS, OPT_SESSION, OPT_WAIT, OPT_TIMEOUT, OPT_ESCALATE };

static int selector_option(const char *cmd, int c, char **argv, pidkit_proc_filter *f)
{
    (void)argv;
    const char *opt = c == OPT_SID ? "--sid" : c == OPT_SESSION ? "--session" : c == OPT_PGID ? "--pgid"
                    : c == OPT_PPID ? "--ppid" : "--tree";
    switch (c) {
    case OPT_SID:
    case OPT_SESSION:
        f->flags |= PIDKIT_PROC_MATCH_SID;
        return selector_id(cmd, opt, optarg, &f->sid) < 0 ? -1 : 1;
    case OPT_PGID:
        f->flags |= PIDKIT_PROC_MATCH_PGID;
        return selector_id(cmd, opt, optarg, &f->pgid) < 0 ? -1 : 1;
    case OPT_PPID:
        f->flags |= PIDKIT_PROC_MATCH_PPID;
        return selector_id(cmd, opt, optarg, &f->ppid) < 0 ? -1 : 1;
    case OPT_TREE:
        f->flags |= PIDKIT_PROC_MATCH_DESCENDANTS;
        return selector_id(cmd, opt, optarg, &f->ancestor) < 0 ? -1 : 1;
    case OPT_USER:
        f->flags |= PIDKIT_PROC_MATCH_UID;
        if (parse_user(optarg, &f->uid) < 0) {
            usage_error(cmd, "no such user: '%s'", optarg);
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}

static int cmd_ps(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "sid", required_argument, NULL, OPT_SID },
        { "pgid", required_argument, NULL, OPT_PGID },
        { "ppid", required_argument, NULL, OPT_PPID },
        { "tree", required_argument, NULL, OPT_TREE },
        { "user", required_argument, NULL, OPT_USER },
        { "my-session", no_argument, NULL, OPT_MY_SESSION },
        { "format", required_argument, NULL, 'o' },
        { "no-headers", no_argument, NULL, OPT_NO_HEADERS },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    pidkit_proc_filter filter = PIDKIT_PROC_FILTER_INIT;
    struct ps_column cols[MAX_COLUMNS];
    int ncols = 0, headers = 1, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hs:g:P:u:o:", longopts, NULL)) != -1) {
        int r = selector_option("ps", c, argv, &filter);
        if (r < 0)
            return EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case OPT_MY_SESSION:
            /* 0 when the session leader lives outside our pid namespace
             * (a container): that session has no id here to list by. */
            filter.flags |= PIDKIT_PROC_MATCH_SID;
            filter.sid = getsid(0);
            if (filter.sid <= 0) {
                fprintf(stderr, "pidkit ps: this session is led from outside the pid namespace "
                        "(its id here is %d): it cannot be listed\n", (int)filter.sid);
                return 1;
            }
            break;
        case 'o':
            if (add_columns(optarg, cols, &ncols) < 0)
                return EXIT_USAGE;
            break;
        case OPT_NO_HEADERS: headers = 0; break;
        case 'h': return help(USAGE_PS);
        default: return bad_option("ps", argv, c);
        }
    }
    if (optind < argc)
        return usage_error("ps", "unexpected argument '%s' (select with -s, -g, -P, --tree, -u)", argv[optind]);
    if (ncols == 0)
        add_columns("comm,pid,ppid,pgid,sid", cols, &ncols);

    pidkit_proc_info *rows = NULL;
    int n = list_processes(filter.flags ? &filter : NULL, &rows);
    if (n < 0) {
        fprintf(stderr, "pidkit ps: %s\n", n == -ENOMEM ? strerror(ENOMEM) : pidkit_last_error());
        return 1;
    }
    long ticks = sysconf(_SC_CLK_TCK);
    if (ticks <= 0)
        ticks = 100;
    time_t booted = 0, now = time(NULL);
    for (int i = 0; i < ncols; i++)
        if (cols[i].id == F_START)
            booted = boot_time();
    int any_header = 0;
    for (int i = 0; i < ncols; i++)
        any_header |= cols[i].header[0] != '\0';
    if (headers && any_header)
        for (int i = 0; i < ncols; i++)
            print_cell(&cols[i], cols[i].header, i == ncols - 1);
    char buf[64];
    for (int r = 0; r < n; r++)
        for (int i = 0; i < ncols; i++) {
            format_field(&cols[i], &rows[r], buf, sizeof buf, ticks, booted, now);
            print_cell(&cols[i], buf, i == ncols - 1);
        }
    free(rows);
    return n > 0 ? 0 : 1;
}

static int cmd_kill(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "signal", required_argument, NULL, 's' },
        { "session", required_argument, NULL, OPT_SESSION },
        { "pgid", required_argument, NULL, OPT_PGID },
        { "ppid", required_argument, NULL, OPT_PPID },
        { "tree", required_argument, NULL, OPT_TREE },
        { "user", required_argument, NULL, OPT_USER },
        { "wait", no_argument, NULL, OPT_WAIT },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "escalate", required_argument, NULL, OPT_ESCALATE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int sig = SIGTERM, escalate = 0, wait_exit = 0, have_timeout = 0, c;
    double timeout = 0;
    /* kill(1)'s -SIGNAL as the first argument: -9, -KILL, -SIGTERM. */
    if (argc > 1 && argv[1][0] == '-' && argv[1][1] && argv[1][1] != '-' && strcmp(argv[1], "-s") != 0 &&
        strcmp(argv[1], "-h") != 0) {
        if ((sig = parse_kill_signal(argv[1] + 1)) < 0)
            return usage_error("kill", "unknown signal '%s'", argv[1] + 1);
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    pidkit_proc_filter filter = PIDKIT_PROC_FILTER_INIT;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hs:", longopts, NULL)) != -1) {
        int r = c == OPT_SID ? 0 : selector_option("kill", c, argv, &filter);
        if (r < 0)
            return EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case 's':
            if ((sig = parse_kill_signal(optarg)) < 0)
                return usage_error("kill", "unknown signal '%s'", optarg);
            break;
        case OPT_WAIT: wait_exit = 1; break;
        case OPT_TIMEOUT:
            if (parse_seconds(optarg, &timeout) < 0)
                return usage_error("kill", "not a number of seconds: '%s'", optarg);
            have_timeout = wait_exit = 1;
            break;
        case OPT_ESCALATE:
            if ((escalate = parse_signal(optarg)) < 0)
                return usage_error("kill", "unknown signal '%s'", optarg);
            break;
        case 'h': return help(USAGE_KILL);
        default: return bad_option("kill", argv, c);
        }
    }
    if (optind < argc)
        return usage_error("kill", "unexpected argument '%s' (select with --session, --pgid, --ppid, --tree, --user)",
                           argv[optind]);
    if (!filter.flags)
        return usage_error("kill", "no selector: give --session, --pgid, --ppid, --tree or --user "
                           "(pidkit kill never signals every process)");
    if (escalate && !have_timeout)
        return usage_error("kill", "--escalate needs --timeout");

    pidkit_kill_opts opts = PIDKIT_KILL_OPTS_INIT;
    if (wait_exit) {
        opts.flags = PIDKIT_KILL_WAIT;
        opts.timeout_ms = have_timeout ? seconds_to_ms(timeout) : -1;
        opts.escalate_sig = escalate;
    }
    pidkit_kill_result res = PIDKIT_KILL_RESULT_INIT;
    int r = pidkit_proc_kill(&filter, sig, &opts, &res);
    if (r == -ETIMEDOUT) {
        printf("%u\n", (unsigned)res.signalled);
        fprintf(stderr, "pidkit kill: %u of %u signalled processes still running after %g s%s\n",
                (unsigned)res.alive, (unsigned)res.signalled, timeout,
                escalate || sig == SIGKILL ? "" : "; try --escalate KILL");
        return 3;
    }
    if (r < 0) {
        printf("0\n");
        fprintf(stderr, "pidkit kill: %s\n", pidkit_last_error());
        return 1;
    }
    printf("%d\n", r);
    if (res.refused)
        fprintf(stderr, "pidkit kill: not permitted to signal %u matching process%s\n", (unsigned)res.refused,
                res.refused == 1 ? "" : "es");
    if (res.incomplete)
        fprintf(stderr, "pidkit kill: new members were still appearing after 64 scans\n");
    if (r == 0) {
        fprintf(stderr, "pidkit kill: no process matched\n");
        return 1;
    }
    return 0;
}

static int cmd_wait(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    double timeout = 0;
    int have_timeout = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ht:", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (parse_seconds(optarg, &timeout) < 0)
                return usage_error("wait", "not a number of seconds: '%s'", optarg);
            have_timeout = 1;
            break;
        case 'h': return help(USAGE_WAIT);
        default: return bad_option("wait", argv, c);
        }
    }
    int n = argc - optind;
    if (n <= 0)
        return usage_error("wait", "no PID given");
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    pidkit_proc **procs = calloc((size_t)n, sizeof *procs);
    if (!pids || !procs) {
        free(pids);
        free(procs);
        perror("pidkit wait");
        return 1;
    }
    int status = 0;
    for (int i = 0; i < n && status == 0; i++)
        if (parse_pid(argv[optind + i], &pids[i]) != 0)
            status = usage_error("wait", "not a process id: '%s'", argv[optind + i]);
    /* Every pid is pinned before the wait begins: one that names no
     * process fails the whole call, nothing is waited for. */
    for (int i = 0; i < n && status != EXIT_USAGE; i++)
        if (pidkit_proc_open(pids[i], &procs[i]) < 0) {
            fprintf(stderr, "pidkit wait: %s\n", pidkit_last_error());
            status = 1;
        }
    double deadline = now_seconds() + timeout;
    int late = 0;
    for (int i = 0; i < n && status == 0; i++) {
        int ms = -1;
        if (have_timeout) {
            double left = deadline - now_seconds();
            ms = left > 0 ? seconds_to_ms(left) : 0;
        }
        int r = pidkit_proc_wait(procs[i], ms, NULL);
        if (r == -ETIMEDOUT) {
            if (!late++)
                fprintf(stderr, "pidkit wait: still running after %g s:", timeout);
            fprintf(stderr, " %d", (int)pids[i]);
        } else if (r < 0) {
            fprintf(stderr, "pidkit wait: %d: %s\n", (int)pids[i], pidkit_last_error());
            status = 1;
        }
    }
    if (late && status == 0) {
        fputc('\n', stderr);
        status = 3;
    }
    for (int i = 0; i < n; i++)
        pidkit_proc_close(procs[i]);
    free(procs);
    free(pids);
    return status;
}

/* -------------------------------------------------------------- version */

static int cmd_version(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return help(USAGE_VERSION);
    if (argc > 1)
        return usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("pidkit %s\n", pidkit_version());
    return 0;
}

/* ----------------------------------------------------------------- main */

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *usage;
} commands[] = {
    { "ids", cmd_ids, USAGE_IDS },
    { "run", cmd_run, USAGE_RUN },
    { "status", cmd_status, USAGE_STATUS },
    { "stop", cmd_stop, USAGE_STOP },
    { "ps", cmd_ps, USAGE_PS },
    { "kill", cmd_kill, USAGE_KILL },
    { "wait", cmd_wait, USAGE_WAIT },
    { "version", cmd_version, USAGE_VERSION },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE_MAIN, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2)
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[2], commands[i].name) == 0)
                    return help(commands[i].usage);
        return help(USAGE_MAIN);
    }
    if (strcmp(cmd, "--version") == 0)
        return cmd_version(1, argv + 1);

    int status = -1;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            status = commands[i].run(argc - 1, argv + 1);
    if (status < 0)
        return usage_error(NULL, "unknown command '%s'", cmd);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "pidkit %s: writing to stdout: %s\n", cmd, strerror(errno));
        return status ? status : 1;
    }
    return status;
}
