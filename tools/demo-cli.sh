#!/usr/bin/env bash
# demo-cli.sh DIR - what `pidkit` is for, step by step (run by `make demo-cli`):
# start a sleeping program through `pidkit run --pidfile`, ask for its status,
# see a second start refused, list its ids next to this shell's, stop it;
# then the seed 004 story: a session of three process groups, `pidkit ps -s`,
# `kill -9 -SID` leaving two groups, `pidkit kill --session` ending them.
set -u
bin=${PIDKIT:-pidkit}
dir=${1:?usage: demo-cli.sh DIR}
mkdir -p "$dir"
pidfile=$dir/sleeper.pid

pidkit() { "$bin" "$@"; }
step() {
    printf '\n$ %s\n' "$*"
    "$@" 2>&1
    printf '[exit %d]\n' "$?"
}

echo "# start 'sleep 300' in its own session, holding $pidfile"
step pidkit run --chdir-root --pidfile "$pidfile" -- sleep 300
echo
echo "# is it running? (LSB: 0 running, 1 stale pidfile, 3 not running)"
step pidkit status "$pidfile"
echo
echo "# a second start is refused while the first holds the pidfile"
step pidkit run --chdir-root --pidfile "$pidfile" -- sleep 300
echo
echo "# its ids next to this shell's: a session of its own (SID = its PID)"
step pidkit ids "$(cat "$pidfile")" $$
echo
echo "# stop it: SIGTERM through a pidfd, then wait until the pidfile is released"
step pidkit stop "$pidfile"
echo
echo "# gone; sleep(1) does not remove its pidfile, so it is stale now"
step pidkit status "$pidfile"
step rm "$pidfile"
step pidkit status "$pidfile"

# Seed 004: "kill a session". A program leading its own session runs jobs
# in process groups of their own; kill -9 -SID reaches one group only.
# Rows of the session (a killed member is a zombie until init reaps it).
members() { pidkit ps -s "$1" -o pid= | wc -l; }
settle() {  # settle SID COUNT: until the session has COUNT rows (5 s at most)
    for _ in $(seq 100); do [ "$(members "$1")" -eq "$2" ] && return; sleep 0.05; done
}
echo
echo
echo "# seed 004: a program that leads its own session with three process groups:"
echo "# its own (bash and a sleep), a sleep's, and a subshell's (with its sleep)"
step pidkit run --pidfile "$dir/session.pid" -- \
    bash -c 'set -m; sleep 300 & (sleep 300 & wait) & set +m; sleep 300 & wait; exec sleep 300'
sid=$(cat "$dir/session.pid")
settle "$sid" 5
echo
echo "# the seed's 'ps xao comm,pid,ppid,pgid,sid' for that session"
step pidkit ps -s "$sid"
echo
echo "# kill -9 -SID signals the process group SID, the leader's: two groups keep running"
step kill -9 "-$sid"
settle "$sid" 3
step pidkit ps -s "$sid" -o comm,pid,ppid,pgid,sid,state
echo
echo "# pidkit kill --session SID reaches every group of the session (prints the count)"
step pidkit kill --session "$sid" --timeout 5
settle "$sid" 0
step pidkit ps -s "$sid" -o comm,pid,ppid,pgid,sid,state
rm -f "$dir/session.pid"
