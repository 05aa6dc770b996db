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

echo "1..$n"
[ "$failed" -eq 0 ]
