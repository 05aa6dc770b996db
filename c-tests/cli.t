#!/usr/bin/env bash
# cli.t - the `pidkit` command-line tool end to end, printing TAP.
# Run by `make check-cli` (prove --exec bash); PIDKIT names the binary.
# Every process a test starts is killed by the EXIT trap.
set -u
PIDKIT=${PIDKIT:?set PIDKIT to the pidkit binary}
case $PIDKIT in */*) PIDKIT=$(cd "$(dirname "$PIDKIT")" && pwd)/$(basename "$PIDKIT") ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pidkit-cli.XXXXXX")
started=()

cleanup() {
    local p
    for p in "${started[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

n=0
failed=0
ok() {  # ok STATUS NAME: STATUS 0 passes
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
        echo "#   rc=$rc out=[$out] err=[$err]"
    fi
}
is() { [ "$1" = "$2" ]; }                  # is GOT WANT
has() { case "$1" in *"$2"*) return 0 ;; *) return 1 ;; esac; }

# run ARGS...: sets rc, out, err
run() {
    out=$("$PIDKIT" "$@" 2>"$tmp/stderr")
    rc=$?
    err=$(<"$tmp/stderr")
}

# Field N (1-based, after the ") " that ends comm) of /proc/PID/stat: 1 state, 2 ppid, 3 pgrp, 4 session.
stat_field() {
    local s fields
    s=$(<"/proc/$1/stat") || return 1
    read -r -a fields <<<"${s##*) }"
    echo "${fields[$2 - 1]}"
}
gone() {  # no such process, or a zombie nobody reaped yet
    [ ! -e "/proc/$1" ] || [ "$(stat_field "$1" 1)" = Z ]
}
wait_gone() {
    local i
    for i in $(seq 100); do
        gone "$1" && return 0
        sleep 0.05
    done
    return 1
}
dead_pid() { sh -c 'exit 0' & wait $!; echo $!; }
rc=0 out= err=

# --- version, help, usage errors --------------------------------------------

run version
ok $(is "$rc" 0 && [[ $out =~ ^pidkit\ [0-9]+\.[0-9]+\.[0-9]+$ ]]; echo $?) "version prints 'pidkit X.Y.Z'"
run --version
ok $(is "$rc" 0 && has "$out" "pidkit "; echo $?) "--version works too"

run --help
ok $(is "$rc" 0 && has "$out" "usage: pidkit COMMAND" && has "$out" "status F"; echo $?) "--help: usage on stdout, exit 0"
for c in ids run status stop version; do
    run "$c" --help
    ok $(is "$rc" 0 && has "$out" "usage: pidkit $c" && is "$err" ""; echo $?) "$c --help exits 0 with its usage"
done
run help stop
ok $(is "$rc" 0 && has "$out" "--timeout T"; echo $?) "help stop prints stop's usage"
run run --help
ok $(has "$out" "--detach" && has "$out" "--wait" && has "$out" "foreground" && has "$out" "--notify"; echo $?) "run --help documents the modes and --notify"
run status --help
ok $(has "$out" "3  not running, no pidfile"; echo $?) "status --help documents the LSB codes"

usage_case() {  # usage_case NAME ARGS...
    local name=$1
    shift
    run "$@"
    ok $(is "$rc" 2 && has "$err" "pidkit" && is "$out" ""; echo $?) "usage error exits 2: $name"
}
usage_case "no command"
usage_case "unknown command" frobnicate
usage_case "unknown option" status --bogus "$tmp/x.pid"
usage_case "run without --pidfile" run -- sleep 1
usage_case "run without a command" run --pidfile "$tmp/x.pid"
usage_case "run --pidfile without its argument" run --pidfile
usage_case "status without a pidfile" status
usage_case "status with two pidfiles" status a b
usage_case "stop with an unknown signal" stop "$tmp/x.pid" --signal NOPE
usage_case "stop with a bad timeout" stop "$tmp/x.pid" --timeout soon
usage_case "stop with a negative timeout" stop "$tmp/x.pid" --timeout -1
usage_case "ids with a non-pid" ids 12x
usage_case "ids with pid 0" ids 0
usage_case "version with an argument" version extra
ok $([ ! -e "$tmp/x.pid" ]; echo $?) "usage errors create no pidfile"

# --- ids --------------------------------------------------------------------

run ids $$
row=$(echo "$out" | sed -n 2p)
set -- $row
ok $(is "$rc" 0 && has "$(echo "$out" | head -1)" "COMMAND" && has "$(echo "$out" | head -1)" "SID"; echo $?) "ids PID: header line"
ok $(is "$2" "$$" && is "$3" "$(stat_field $$ 2)" && is "$4" "$(stat_field $$ 3)" && is "$5" "$(stat_field $$ 4)"; echo $?) \
    "ids PID: pid ppid pgid sid match /proc/PID/stat ($row)"
ok $(is "$1" "$(cat /proc/$$/comm)" && is "$7" "$(stat_field $$ 1)"; echo $?) "ids PID: comm and state"

run ids
ok $(is "$rc" 0 && echo "$out" | awk '$2 == 1' | grep -q . && echo "$out" | awk -v p=$$ '$2 == p' | grep -q .; echo $?) \
    "ids without arguments lists every process (pid 1 and this shell)"

gone_pid=$(dead_pid)
run ids $$ "$gone_pid"
ok $(is "$rc" 1 && has "$err" "no process with pid $gone_pid" && has "$out" " $$ "; echo $?) \
    "ids of a dead pid: library message on stderr, exit 1, other rows printed"

# --- run --detach, status, refused start, stop --------------------------------

pf=$tmp/sleeper.pid
run run --detach --pidfile "$pf" -- sleep 60
pid=$out
started+=("$pid")
ok $(is "$rc" 0 && [[ $pid =~ ^[0-9]+$ ]] && is "$(cat "$pf")" "$pid"; echo $?) "run --detach prints the pid it wrote into the pidfile"
ok $(is "$(stat_field "$pid" 4)" "$pid" && is "$(stat_field "$pid" 3)" "$pid"; echo $?) "... the program leads a new session and group"
ok $([ "$(stat_field "$pid" 2)" != "$$" ] && is "$(cat /proc/$pid/comm)" sleep; echo $?) "... and is no child of the shell (double fork)"

run status "$pf"
ok $(is "$rc" 0 && is "$out" "$pid"; echo $?) "status of a running holder: exit 0, prints its pid"

run run --detach --pidfile "$pf" -- sleep 60
ok $(is "$rc" 1 && is "$out" "" && has "$err" "held by pid $pid"; echo $?) "run when held: exit 1, message names the holder"
ok $(is "$(cat "$pf")" "$pid"; echo $?) "... and the pidfile still holds the first pid"

run stop "$pf"
ok $(is "$rc" 0 && wait_gone "$pid"; echo $?) "stop: exit 0 once the holder is gone"

run status "$pf"
ok $(is "$rc" 1 && is "$out" "" && has "$err" "stale"; echo $?) "status of a stale pidfile: exit 1"

run stop "$pf"
ok $(is "$rc" 0 && has "$err" "not running"; echo $?) "stop when not running (stale file): exit 0 with a note"

rm -f "$pf"
run status "$pf"
ok $(is "$rc" 3 && is "$out" "" && has "$err" "not running"; echo $?) "status without a pidfile: exit 3"
run stop "$pf"
ok $(is "$rc" 0 && has "$err" "not running"; echo $?) "stop without a pidfile: exit 0 with a note"

run status "$tmp"
ok $(is "$rc" 4 && has "$err" "not a regular file"; echo $?) "status of a directory: exit 4 (unknown) with the library message"

# --- stop of a process that ignores SIGTERM ----------------------------------------

pf=$tmp/stubborn.pid
run run --detach --pidfile "$pf" -- sh -c 'trap "" TERM; exec sleep 60'
pid=$out
started+=("$pid")
ok $(is "$rc" 0; echo $?) "run a program that ignores SIGTERM"
t0=$(date +%s%N)
run stop "$pf" --timeout 0.5
t1=$(date +%s%N)
ok $(is "$rc" 1 && has "$err" "pid $pid still holds $pf" && has "$err" "--signal KILL"; echo $?) \
    "stop: timeout reached -> exit 1 and a message"
ok $([ $(( (t1 - t0) / 1000000 )) -ge 450 ] && ! gone "$pid"; echo $?) "... after waiting the timeout, and it still runs"
run stop "$pf" --signal KILL --timeout 5
ok $(is "$rc" 0 && wait_gone "$pid"; echo $?) "stop --signal KILL stops it"

pf=$tmp/sig.pid
run run --detach --pidfile "$pf" -- sleep 60
pid=$out
started+=("$pid")
run stop "$pf" -s 9 -t 5
ok $(is "$rc" 0 && wait_gone "$pid"; echo $?) "stop -s 9 -t 5: numeric signal and short options"

# A holder that locked the file but wrote no pid (flock(1) here): running,
# and nobody to signal: stop must fail, not call it stopped.
pf=$tmp/nopid.pid
: > "$pf"
flock -x "$pf" sleep 60 &
locker=$!
started+=("$locker")
for i in $(seq 100); do "$PIDKIT" status "$pf" >/dev/null 2>&1 && break; sleep 0.05; done
run status "$pf"
st_rc=$rc
run stop "$pf" --timeout 1
ok $(is "$st_rc" 0 && is "$rc" 1 && has "$err" "cannot be signalled" && ! gone "$locker"; echo $?) \
    "stop of a file held with no pid written: exit 1 and a message (status says running: $st_rc)"
kill "$locker" 2>/dev/null

# --- run: options and foreground mode -------------------------------------------

cd "$tmp" || exit 1
mkdir "$tmp/work"
run run --detach --pidfile "$tmp/pwd.pid" --chdir "$tmp/work" --stdout "$tmp/pwd.out" --stderr "$tmp/pwd.err" \
    -- sh -c 'pwd; echo oops >&2'
started+=("$out")
for i in $(seq 100); do [ -s "$tmp/pwd.err" ] && break; sleep 0.05; done
ok $(is "$rc" 0 && is "$(cat "$tmp/pwd.out")" "$tmp/work" && is "$(cat "$tmp/pwd.err")" oops; echo $?) \
    "run --detach --chdir --stdout --stderr"

run run --detach --pidfile "$tmp/missing.pid" -- pidkit-no-such-program
ok $(is "$rc" 1 && has "$err" "pidkit-no-such-program" && [ ! -e "$tmp/missing.pid" ]; echo $?) \
    "run of a missing program: exit 1, message, no pidfile left"

run run --detach --notify --pidfile "$tmp/notify.pid" -- sleep 60
started+=("$out")
ok $(is "$rc" 0 && is "$err" ""; echo $?) "--notify without a service manager: started, nothing said"

run run --wait --pidfile "$tmp/fg.pid" -- sh -c 'echo "out $(cat fg.pid)"; echo err >&2; exit 3'
ok $(is "$rc" 3 && is "$out" "out $(cat "$tmp/fg.pid")" && is "$err" err; echo $?) \
    "run --wait: in the caller's directory, stdio inherited (nothing added), exits with the program's status"

run run --wait --pidfile "$tmp/fg.pid" --stdout "$tmp/fg.out" -- sh -c 'echo to-file; echo err >&2'
ok $(is "$rc" 0 && is "$out" "" && is "$(cat "$tmp/fg.out")" to-file && is "$err" err; echo $?) \
    "run --wait --stdout: stdout to the file, stderr still inherited"

# The default: pidkit returns once CMD started, printing its pid; CMD keeps
# the caller's directory but none of pidkit's streams (a caller reading
# pidkit's output through a pipe gets EOF at once, not when CMD exits).
t0=$(date +%s)
run run --pidfile "$tmp/bg.pid" -- sh -c 'echo should-not-show; exec sleep 60'
t1=$(date +%s)
bg=$out
started+=("$bg")
ok $(is "$rc" 0 && [[ $bg =~ ^[0-9]+$ ]] && is "$(cat "$tmp/bg.pid")" "$bg" && [ $((t1 - t0)) -lt 10 ]; echo $?) \
    "run without --detach: exit 0 at once, prints the pid it wrote into the pidfile ($bg)"
ok $(is "$(readlink "/proc/$bg/cwd")" "$tmp" && is "$(readlink "/proc/$bg/fd/1")" /dev/null && is "$(stat_field "$bg" 4)" "$bg" && \
     [ "$(stat_field "$bg" 2)" != "$$" ] && ! has "$out" should-not-show; echo $?) \
    "... CMD in the caller's directory, stdio on /dev/null, leading its own session, no child of the shell"
usage_case "run --detach --wait" run --detach --wait --pidfile "$tmp/x.pid" -- sleep 1
usage_case "run --chdir-root --chdir" run --chdir-root --chdir / --pidfile "$tmp/x.pid" -- sleep 1

# --wait with one stream redirected: the others are pidkit's own, handed to
# CMD by the library (PIDKIT_SPAWN_INHERIT_STD*), pidkit's own untouched.
out=$(printf 'from-stdin\n' | "$PIDKIT" run --wait --pidfile "$tmp/fg2.pid" --stderr "$tmp/fg2.err" -- \
      sh -c 'cat; echo to-err >&2' 2>"$tmp/stderr")
rc=$?
err=$(<"$tmp/stderr")
ok $(is "$rc" 0 && is "$out" from-stdin && is "$(cat "$tmp/fg2.err")" to-err && is "$err" ""; echo $?) \
    "run --wait --stderr: stdin and stdout inherited, stderr to the file, pidkit's stderr untouched"
run run --wait --pidfile "$tmp/fg3.pid" --stdout "$tmp/no-such-dir/out" -- sh -c 'echo ran'
ok $(is "$rc" 1 && is "$out" "" && has "$err" "$tmp/no-such-dir/out" && [ ! -e "$tmp/fg3.pid" ]; echo $?) \
    "run --wait with an --stdout that cannot be opened: exit 1, message names it, nothing ran"

# --chdir-root: what --detach always did, under a name that says so.
run run --chdir-root --pidfile "$tmp/root.pid" -- sleep 60
started+=("$out")
ok $(is "$rc" 0 && is "$(readlink "/proc/$out/cwd")" / ; echo $?) "run --chdir-root: CMD's working directory is /"
run run --detach --pidfile "$tmp/det.pid" -- sleep 60
started+=("$out")
ok $(is "$rc" 0 && is "$(readlink "/proc/$out/cwd")" / ; echo $?) "run --detach (the old name) still does the same"

"$PIDKIT" run --wait --pidfile "$tmp/fwd.pid" -- sleep 60 &
fg_pidkit=$!
started+=("$fg_pidkit")
for i in $(seq 100); do [ -s "$tmp/fwd.pid" ] && break; sleep 0.05; done
child=$(cat "$tmp/fwd.pid")
started+=("$child")
ok $(is "$(stat_field "$child" 2)" "$fg_pidkit" && is "$(stat_field "$child" 4)" "$child"; echo $?) \
    "run --wait: the program is pidkit's child, leading its own session"
kill -TERM "$fg_pidkit"
wait "$fg_pidkit"
rc=$?
ok $(is "$rc" 143 && wait_gone "$child"; echo $?) "run --wait forwards SIGTERM and exits 128+15"

# systemd Type=notify: without --notify a detached run reports READY=1 and
# MAINPID itself and hides the socket from CMD; with --notify CMD gets it.
listen() {  # listen SOCKET OUT: one datagram (or "nothing") into OUT
    python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(3)
open(sys.argv[3], "w").write("ready\n")
try: data = s.recv(512).decode()
except socket.timeout: data = "nothing"
open(sys.argv[2], "w").write(data)' "$1" "$2" "$2.up" &
    for i in $(seq 100); do [ -s "$2.up" ] && break; sleep 0.05; done
}
if command -v python3 >/dev/null; then
    listen "$tmp/notify.sock" "$tmp/notify.got"
    listener=$!
    pid=$(NOTIFY_SOCKET="$tmp/notify.sock" "$PIDKIT" run --detach --pidfile "$tmp/notify-a.pid" -- \
          sh -c 'printf "%s" "${NOTIFY_SOCKET-unset}" > "$0"; exec sleep 60' "$tmp/notify.env")
    started+=("$pid")
    wait "$listener"
    for i in $(seq 100); do [ -s "$tmp/notify.env" ] && break; sleep 0.05; done
    ok $(is "$(cat "$tmp/notify.got")" "$(printf 'READY=1\nMAINPID=%s\n' "$pid")"; echo $?) \
        "run --detach under NOTIFY_SOCKET sends READY=1 and MAINPID=<CMD's pid>"
    ok $(is "$(cat "$tmp/notify.env")" unset; echo $?) "... and CMD does not see NOTIFY_SOCKET"
    kill "$pid" 2>/dev/null

    rm -f "$tmp/notify.sock" "$tmp/notify.got" "$tmp/notify.got.up"
    listen "$tmp/notify.sock" "$tmp/notify.got"
    listener=$!
    pid=$(NOTIFY_SOCKET="$tmp/notify.sock" "$PIDKIT" run --notify --detach --pidfile "$tmp/notify-b.pid" -- \
          sh -c 'printf "%s" "${NOTIFY_SOCKET-unset}" > "$0"; exec sleep 60' "$tmp/notify2.env")
    started+=("$pid")
    for i in $(seq 100); do [ -s "$tmp/notify2.env" ] && break; sleep 0.05; done
    wait "$listener"
    ok $(is "$(cat "$tmp/notify2.env")" "$tmp/notify.sock" && is "$(cat "$tmp/notify.got")" nothing; echo $?) \
        "run --notify passes NOTIFY_SOCKET through to CMD and sends nothing itself"
    kill "$pid" 2>/dev/null
else
    for i in 1 2 3; do echo "ok $((n += 1)) - sd_notify through pidkit run # SKIP python3 missing"; done
fi

# --- ps, kill, wait: sessions of several process groups (seed 004) ----------

sessions=()
# A program that leads its own session (through `pidkit run`) with three
# process groups: its own (it and a sleep), one sleep's, and a subshell's
# (the subshell and its sleep); once its children are gone it goes on as a
# sleep. Sets sid; waits until all five run.
# SESSION_PRE runs first in the leader (e.g. trap '' TERM, inherited).
start_session() {
    local pf=$tmp/session.$RANDOM.pid i
    "$PIDKIT" run --pidfile "$pf" -- bash -c "${SESSION_PRE:-}"'
        set -m; sleep 300 & (sleep 300 & wait) & set +m; sleep 300 & wait; exec sleep 300' >"$tmp/sid" 2>&1
    sid=$(<"$tmp/sid")
    sessions+=("$sid")
    for i in $(seq 200); do
        [ "$(members "$sid" | wc -l)" -eq 5 ] && return 0
        sleep 0.05
    done
    return 1
}
members() {  # members SID: "pid pgid" of its live (non-zombie) members
    "$PIDKIT" ps -s "$1" -o pid= -o pgid= -o state= | awk '$3 != "Z" { print $1, $2 }'
}
settle() {  # settle SID COUNT: until the session has COUNT live members
    local i
    for i in $(seq 100); do
        [ "$(members "$1" | wc -l)" -eq "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
groups_of() { members "$1" | awk '{ print $2 }' | sort -u | wc -l; }
kill_sessions() {
    local s
    for s in "${sessions[@]}"; do
        "$PIDKIT" kill -KILL --session "$s" --timeout 10 >/dev/null 2>&1
    done
}
trap 'kill_sessions; cleanup' EXIT

for c in ps kill wait; do
    run "$c" --help
    ok $(is "$rc" 0 && has "$out" "usage: pidkit $c" && is "$err" ""; echo $?) "$c --help exits 0 with its usage"
done
run help
ok $(has "$out" "ps [SELECTORS]" && has "$out" "kill SELECTOR" && has "$out" "wait PID"; echo $?) "help lists ps, kill and wait"

start_session
ok $? "a program leading its own session with three process groups ($sid)"
ok $(is "$(groups_of "$sid")" 3 && is "$(stat_field "$sid" 4)" "$sid"; echo $?) "... three groups, five processes, SID = its pid"

run ps -s "$sid"
ok $(is "$rc" 0 && is "$(echo "$out" | head -1 | tr -s ' ')" "COMMAND PID PPID PGID SID" && \
     is "$(echo "$out" | sed 1d | awk -v s="$sid" '$5 == s' | wc -l)" "$(echo "$out" | sed 1d | wc -l)" && \
     [ "$(echo "$out" | sed 1d | wc -l)" -ge 5 ]; echo $?) "ps -s SID: header comm,pid,ppid,pgid,sid and only the session's rows"
row=$(echo "$out" | awk -v s="$sid" '$2 == s')
set -- $row
ok $(is "$1" bash && is "$3" "$(stat_field "$sid" 2)" && is "$4" "$sid" && is "$5" "$sid"; echo $?) "... the leader's row matches /proc ($row)"
run ps --sid "$sid" --no-headers -o pid
ok $(is "$rc" 0 && ! has "$out" PID && [ "$(echo "$out" | wc -l)" -ge 5 ]; echo $?) "ps --sid, --no-headers"

my_sid=$(stat_field $$ 4)
run ps --my-session -o pid= -o sid=
if [ "$my_sid" != 0 ]; then
    ok $(is "$rc" 0 && echo "$out" | awk -v p=$$ '$1 == p' | grep -q . && \
         is "$(echo "$out" | awk '{ print $2 }' | sort -u)" "$my_sid"; echo $?) \
        "ps --my-session: the session of the shell that runs pidkit (this one's, $my_sid)"
    run ps -s "$my_sid" -o pid=
    ok $(echo "$out" | grep -qx " *$$"; echo $?) "ps -s \"\$(ps -o sid= -p \$\$)\" names it too"
else
    # In a pid namespace whose session leader lives outside (sid 0 here).
    ok $(is "$rc" 1 && has "$err" "outside the pid namespace"; echo $?) \
        "ps --my-session with a session led from outside the pid namespace: exit 1 and why"
    echo "ok $((n += 1)) - ps -s names my session # SKIP it has no id in this pid namespace"
fi

other=$(members "$sid" | awk -v s="$sid" '$2 != s { print $2 }' | sort -u | head -1)
run ps -g "$other" -o pid= -o pgid=
ok $(is "$rc" 0 && is "$(echo "$out" | awk '{ print $2 }' | sort -u)" "$other"; echo $?) "ps -g PGID: that group only"
run ps --pgid "$sid" -o pgid=
ok $(is "$rc" 0 && is "$(echo "$out" | sort -u | tr -d ' ')" "$sid"; echo $?) "ps --pgid"
run ps -P "$sid" -o ppid=
ok $(is "$rc" 0 && is "$(echo "$out" | sort -u | tr -d ' ')" "$sid" && [ "$(echo "$out" | wc -l)" -ge 3 ]; echo $?) "ps -P PPID: its children"
run ps --ppid "$sid" --tree "$sid" -o pid=
kids=$(echo "$out" | wc -l)
run ps --tree "$sid" -o pid= -o state=
ok $(is "$rc" 0 && is "$(echo "$out" | awk '$2 != "Z"' | wc -l)" 4 && ! echo "$out" | grep -qw "$sid" && [ "$kids" -ge 3 ]; echo $?) \
    "ps --tree PID: its descendants (four), not itself; --ppid and --tree combine"
me_user=$(id -un)
run ps -s "$sid" -u "$me_user" -o uid= -o user=
ok $(is "$rc" 0 && is "$(echo "$out" | sort -u | tr -s ' ' | sed 's/^ //')" "$(id -u) $me_user"; echo $?) "ps -u USER (a name)"
run ps -s "$sid" --user "$(id -u)" -o pid=
n_uid=$(echo "$out" | wc -l)
run ps -s "$sid" -u $(( $(id -u) + 4242 ))
ok $(is "$rc" 1 && [ "$n_uid" -ge 5 ] && is "$(echo "$out" | wc -l)" 1; echo $?) "ps --user UID; no match: header only, exit 1"

run ps -s $$ -o comm,pid,ppid,pgid,sid,state,tty,uid,user,nlwp,rss,vsz,time,start
hdr=$(echo "$out" | head -1 | tr -s ' ')
ok $(is "$hdr" "COMMAND PID PPID PGID SID S TT UID USER NLWP RSS VSZ TIME START"; echo $?) "ps -o every field: ps's headers ($hdr)"
run ps -s "$sid" -o pid,comm,state,tty,uid,nlwp,rss,vsz,time,start --no-headers
row=$(echo "$out" | awk -v s="$sid" '$1 == s')
set -- $row - - - - - - - - - -
ok $(is "$2" bash && is "$3" S && is "$4" "?" && is "$5" "$(id -u)" && is "$6" 1 && [ "$7" -gt 0 ] && [ "$8" -ge "$7" ] && [[ $9 =~ ^[0-9]{2}:[0-9]{2}:[0-9]{2}$ ]] && \
     [[ ${10} =~ ^[0-9]{2}:[0-9]{2}$ ]]; echo $?) "... values: state, uid, nlwp, rss <= vsz (KiB), time, start ($row)"
run ps -s "$sid" -o pid,sid=SESSION
ok $(is "$(echo "$out" | head -1 | tr -s ' ' | sed 's/^ //')" "PID SESSION" && is "$(echo "$out" | sed 1d | awk '{ print $2 }' | sort -u)" "$sid"; echo $?) \
    "ps -o FIELD=TITLE renames a header"
run ps -s "$sid" -o pid= -o sid=
ok $(is "$rc" 0 && ! has "$out" PID && is "$(echo "$out" | awk '{ print $2 }' | sort -u)" "$sid"; echo $?) \
    "ps -o repeated; every header empty: no header line (ps -o pid=)"
run ps -o ucomm,pgrp,sess,s,tt,rsz,vsize,cputime,thcount,ruid,ruser -s "$sid"
ok $(is "$rc" 0; echo $?) "ps -o accepts ps's aliases"
usage_case "ps -s 0" ps -s 0
usage_case "ps --tree with a non-id" ps --tree x
usage_case "ps with an unknown field" ps -o comm,bogus
usage_case "ps with an unknown user" ps -u no-such-user-pidkit
usage_case "ps with an operand" ps 1

# kill -9 -SID (what the seed did) reaches the leader's group only.
leader_kids=$(members "$sid" | awk -v s="$sid" '$2 == s' | wc -l)
kill -9 -- "-$sid"
for i in $(seq 100); do [ "$(members "$sid" | wc -l)" -eq 3 ] && break; sleep 0.05; done
ok $(is "$leader_kids" 2 && is "$(members "$sid" | wc -l)" 3 && is "$(groups_of "$sid")" 2; echo $?) \
    "kill -9 -SID leaves two process groups (three processes) of the session running"
left=$(members "$sid" | awk '{ print $1 }')
run kill --session "$sid" --wait
ok $(is "$rc" 0 && is "$out" 3 && is "$(members "$sid" | wc -l)" 0; echo $?) \
    "pidkit kill --session SID --wait: prints 3, exit 0, every group gone"
for p in $left; do gone "$p" || echo "# $p still there"; done
run kill --session "$sid"
ok $(is "$rc" 1 && is "$out" 0 && has "$err" "no process matched"; echo $?) "kill when none matched: prints 0, exit 1"

start_session
run kill -KILL --pgid "$sid" --timeout 10
ok $(is "$rc" 0 && is "$out" 2 && is "$(groups_of "$sid")" 2; echo $?) "kill -KILL --pgid G --timeout: that group only"
other=$(members "$sid" | awk -v s="$sid" '$2 != s { print $2 }' | sort -u | head -1)
in_other=$(members "$sid" | awk -v g="$other" '$2 == g' | wc -l)
run kill -s 0 --pgid "$other"
ok $(is "$rc" 0 && is "$out" "$in_other" && is "$(members "$sid" | wc -l)" 3; echo $?) "kill -s 0: counts, hurts nobody"
run kill -0 --session "$sid" --user "$(id -un)"
ok $(is "$rc" 0 && is "$out" 3; echo $?) "kill -0 --session --user USER: selectors combine"
run kill --signal KILL --session "$sid" --user $(( $(id -u) + 4242 ))
ok $(is "$rc" 1 && is "$out" 0 && is "$(members "$sid" | wc -l)" 3; echo $?) "kill --user of nobody there: none matched"
kill_sessions

start_session
run kill -9 --tree "$sid" --wait
settle "$sid" 1
ok $(is "$rc" 0 && is "$out" 4 && is "$(members "$sid" | awk '{ print $1 }')" "$sid"; echo $?) \
    "kill -9 --tree PID: its four descendants, not PID itself"
kill_sessions
start_session
run kill -9 --ppid "$sid" --wait
settle "$sid" 2
ok $(is "$rc" 0 && is "$out" 3 && is "$(members "$sid" | wc -l)" 2; echo $?) "kill --ppid PID: its three children"
kill_sessions

SESSION_PRE="trap '' TERM;" start_session
ok $? "a session whose members ignore SIGTERM"
t0=$(date +%s%N)
run kill --session "$sid" --timeout 0.5
t1=$(date +%s%N)
ok $(is "$rc" 3 && is "$out" 5 && has "$err" "5 of 5" && has "$err" "--escalate KILL" && [ $(( (t1 - t0) / 1000000 )) -ge 450 ] && \
     is "$(members "$sid" | wc -l)" 5; echo $?) "kill --timeout: still running after the timeout -> exit 3, count printed"
run kill --session "$sid" --timeout 5 --escalate KILL
ok $(is "$rc" 0 && is "$out" 5 && is "$(members "$sid" | wc -l)" 0; echo $?) "kill --timeout --escalate KILL ends them"

usage_case "kill without a selector" kill
usage_case "kill -9 without a selector" kill -9
usage_case "kill with an unknown signal" kill -NOPE --session "$sid"
usage_case "kill -s with an unknown signal" kill -s NOPE --session "$sid"
usage_case "kill --escalate without --timeout" kill --session "$sid" --escalate KILL
usage_case "kill --escalate with an unknown signal" kill --session "$sid" --timeout 1 --escalate NOPE
usage_case "kill with a bad timeout" kill --session "$sid" --timeout soon
usage_case "kill --session 0" kill --session 0
usage_case "kill --user unknown" kill --user no-such-user-pidkit
usage_case "kill with an operand" kill --session "$sid" 42

# wait: any process, not only pidkit's children.
run run --pidfile "$tmp/w1.pid" -- sleep 60
w1=$out
started+=("$w1")
run run --pidfile "$tmp/w2.pid" -- sleep 60
w2=$out
started+=("$w2")
"$PIDKIT" wait "$w1" "$w2" 2>"$tmp/wait.err" &
waiter=$!
started+=("$waiter")
sleep 0.3
ok $(kill -0 "$waiter" 2>/dev/null && ! gone "$w1"; echo $?) "wait PID PID: still waiting while they run"
kill "$w1"
sleep 0.2
ok $(kill -0 "$waiter" 2>/dev/null; echo $?) "... still waiting with one of them running"
kill "$w2"
wait "$waiter"
rc=$?
ok $(is "$rc" 0 && gone "$w1" && gone "$w2"; echo $?) "... exit 0 once both (not its children) have exited"

run run --pidfile "$tmp/w3.pid" -- sleep 60
w3=$out
started+=("$w3")
t0=$(date +%s%N)
run wait "$w3" --timeout 0.3
t1=$(date +%s%N)
ok $(is "$rc" 3 && has "$err" "still running" && has "$err" "$w3" && [ $(( (t1 - t0) / 1000000 )) -ge 250 ]; echo $?) \
    "wait --timeout: exit 3 and the pid on stderr after the timeout"
run wait -t 0 "$w3"
ok $(is "$rc" 3; echo $?) "wait -t 0 looks once"
"$PIDKIT" wait -t 10 "$w3" &
waiter=$!
# Until the waiter holds a pidfd (its fdinfo names the pid): killed before
# it opened w3, w3 could be reaped and its pid gone (exit 1), on a loaded
# machine more than 0.2 s after the start.
for _ in $(seq 100); do grep -qs "^Pid:.*\b$w3\$" /proc/$waiter/fdinfo/* && break; sleep 0.05; done
kill "$w3"
wait "$waiter"
rc=$?
ok $(is "$rc" 0; echo $?) "wait -t 10 of one that exits meanwhile: 0"
gone_pid=$(dead_pid)
run wait "$gone_pid" $$ --timeout 5
ok $(is "$rc" 1 && has "$err" "$gone_pid"; echo $?) "wait for a pid that names no process: exit 1 at once"
usage_case "wait without a pid" wait
usage_case "wait with a non-pid" wait 12x
usage_case "wait with a bad timeout" wait 1 --timeout -1

echo "1..$n"
[ "$failed" -eq 0 ]
