#!/usr/bin/env bash
# demo-cli.sh DIR - what `pidkit` is for, step by step (run by `make demo-cli`):
# start a sleeping program through `pidkit run --pidfile`, ask for its status,
# see a second start refused, list its ids next to this shell's, stop it.
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
