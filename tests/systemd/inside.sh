#!/usr/bin/env bash
# inside.sh - run by tests/systemd/check.sh inside the booted container
# (systemd is PID 1 here): the units of examples/systemd/ and their
# variants, printing TAP. REPO is the source tree (bound at the same path,
# read-only), WORK a writable directory shared with the host.
#
# The units are written to /run/systemd/system (the container's tmpfs):
# the example units as shipped but for ExecStart's binary path, which is
# build/examples/daemon of REPO (/usr is the host's, read-only).
set -u
REPO=${REPO:?}
WORK=${WORK:?}
CYCLES=${PIDKIT_SYSTEMD_CYCLES:-20}
DAEMON=$REPO/build/examples/daemon
PIDKIT=$REPO/build/pidkit
PYDAEMON=$REPO/tests/systemd/pydaemon.py
UNITS=/run/systemd/system
export SYSTEMD_PAGER= SYSTEMD_COLORS=0

n=0
failed=0
ok() {  # ok STATUS NAME [DIAG]: STATUS 0 passes; with $TODO set, a known failure
    n=$((n + 1))
    local todo=${TODO:+ # TODO $TODO}
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2$todo"
    else
        echo "not ok $n - $2$todo"
        [ -z "$todo" ] && failed=$((failed + 1))
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
    fi
}
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }

prop() { systemctl show -p "$2" --value "$1"; }
state() {  # what went wrong, for a failing check
    systemctl show -p ActiveState,SubState,Result,MainPID,StatusErrno,NRestarts "$1" | tr '\n' ' '
    echo
    journalctl -u "$1" -o cat -n 12 --no-pager 2>/dev/null | grep -v -e '^Child ' -e 'Changed '
}
readpid() { local p; p=$(cat "$1" 2>/dev/null) && echo "${p//[[:space:]]/}"; }

# A process is gone when /proc has no such pid or it is a zombie.
gone() {
    [ ! -e "/proc/$1" ] && return 0
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    s=${s##*) }
    [ "${s%% *}" = Z ]
}
wait_gone() {
    local i
    for i in $(seq 100); do gone "$1" && return 0; sleep 0.05; done
    return 1
}
# Processes whose command line contains STRING (besides this shell's).
procs_with() {
    local f p
    for f in /proc/[0-9]*/cmdline; do
        p=${f#/proc/}; p=${p%/cmdline}
        [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
        tr '\0' ' ' <"$f" 2>/dev/null | grep -qF -- "$1" && echo "$p"
    done
}
# The debug line PID 1 logs for each notification datagram (log level debug).
ready_logged() {  # UNIT PID: "Got notification message from PID P (READY=1, MAINPID=P)"
    local i
    for i in $(seq 50); do
        journalctl -u "$1" -o cat --no-pager 2>/dev/null |
            grep -qF "Got notification message from PID $2 (READY=1, MAINPID=$2)" && return 0
        sleep 0.1
    done
    return 1
}
# The journal's last lines: what a daemon writes to stderr just before it
# exits is not always filed under its unit (journald may find the writer
# gone), so those lines are looked for by content.
recent_log() { journalctl -o cat -n 5000 --no-pager; }
# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s
wait_until() {
    local t=$(($1 * 10)) i
    shift
    for i in $(seq "$t"); do "$@" && return 0; sleep 0.1; done
    return 1
}

# example_unit NAME TYPE [SED...]: the shipped example unit of TYPE as NAME,
# its binary path replaced, plus sed expressions for a variant.
example_unit() {
    local name=$1 type=$2
    shift 2
    sed -e "s|/usr/local/bin/pidkit-example-daemon|$DAEMON|" "$@" \
        "$REPO/examples/systemd/pidkit-example-$type.service" >"$UNITS/$name.service"
}
# unit NAME LINES...: a unit written here ([Service] lines).
unit() {
    local name=$1
    shift
    { echo "[Service]"; printf '%s\n' "$@"; } >"$UNITS/$name.service"
}

# cycle UNIT PIDFILE NOTIFY COUNT [COMM]: COUNT start/stop cycles, two
# checks each: started (rc 0, active, MainPID = the pid in PIDFILE, [comm
# COMM], with NOTIFY=1 the READY=1 MAINPID= datagram from that pid), stopped
# (rc 0, no pidfile, the process gone).
cycle() {
    local u=$1 pf=$2 notify=$3 count=$4 comm=${5:-} i rc main filepid why
    for i in $(seq "$count"); do
        systemctl start "$u" 2>"$WORK/err"; rc=$?
        main=$(prop "$u" MainPID)
        filepid=$(readpid "$pf")
        why=
        [ $rc -eq 0 ] || why="start rc $rc: $(cat "$WORK/err")"
        [ -z "$why" ] && [ "$(prop "$u" ActiveState)" != active ] && why="not active"
        [ -z "$why" ] && { [ "$main" -gt 0 ] && [ "$main" = "$filepid" ] || why="MainPID $main, pidfile ${filepid:-missing}"; }
        [ -z "$why" ] && [ -n "$comm" ] && [ "$(cat /proc/"$main"/comm)" != "$comm" ] && why="MainPID $main is $(cat /proc/"$main"/comm), not $comm"
        [ -z "$why" ] && [ "$notify" = 1 ] && ! ready_logged "$u" "$main" && why="no READY=1 MAINPID=$main from $main in the journal"
        ok "$([ -z "$why" ]; echo $?)" "$u: start $i/$count: active, MainPID $main = pidfile${comm:+ ($comm)}$([ "$notify" = 1 ] && echo ", READY=1 MAINPID=$main from pid $main")" "$why
$(state "$u")"
        systemctl stop "$u" 2>"$WORK/err"; rc=$?
        why=
        [ $rc -eq 0 ] || why="stop rc $rc: $(cat "$WORK/err")"
        [ -z "$why" ] && [ -e "$pf" ] && why="$pf left behind"
        [ -z "$why" ] && [ "${main:-0}" -gt 0 ] && ! wait_gone "$main" && why="pid $main still running"
        ok "$([ -z "$why" ]; echo $?)" "$u: stop $i/$count: no pidfile, pid $main gone" "$why
$(state "$u")"
    done
}

# restart_after_kill UNIT PIDFILE NOTIFY: kill -9 of the main process,
# Restart=on-failure brings a new one, again equal to the pidfile.
restart_after_kill() {
    local u=$1 pf=$2 notify=$3 old new restarts why
    systemctl start "$u"
    old=$(prop "$u" MainPID)
    restarts=$(prop "$u" NRestarts)
    kill -KILL "$old"
    new_main() { local m; m=$(prop "$u" MainPID); [ "$(prop "$u" NRestarts)" -gt "$restarts" ] &&
        [ "$(prop "$u" ActiveState)" = active ] && [ "$m" -gt 0 ] && [ "$m" != "$old" ]; }
    wait_until 15 new_main
    new=$(prop "$u" MainPID)
    why=
    new_main || why="no new main process"
    [ -z "$why" ] && [ "$new" != "$(readpid "$pf")" ] && why="MainPID $new, pidfile $(readpid "$pf")"
    [ -z "$why" ] && [ "$notify" = 1 ] && ! ready_logged "$u" "$new" && why="no READY=1 MAINPID=$new"
    ok "$([ -z "$why" ]; echo $?)" "$u: kill -9 $old: restarted (NRestarts $(prop "$u" NRestarts)), new MainPID $new = pidfile$([ "$notify" = 1 ] && echo ", READY=1 from it")" "$why
$(state "$u")"
    systemctl stop "$u"
    ok "$([ ! -e "$pf" ] && wait_gone "$new"; echo $?)" "$u: stopped after the restart: no pidfile, pid $new gone" "$(state "$u")"
}

# second_copy UNIT PIDFILE CMD...: while UNIT runs, CMD (a second copy by
# hand, same pidfile) is refused, names the holder, and the unit runs on.
second_copy() {
    local u=$1 pf=$2 main out rc
    shift 2
    systemctl start "$u"
    main=$(prop "$u" MainPID)
    out=$(timeout 20 "$@" 2>&1 </dev/null); rc=$?
    ok "$([ $rc -ne 0 ] && [[ $out == *"$main"* ]]; echo $?)" \
        "$u: a second copy by hand is refused: \"$out\" (rc $rc)" "$(state "$u")"
    ok "$([ "$(prop "$u" ActiveState)" = active ] && [ "$(prop "$u" MainPID)" = "$main" ] &&
        [ "$(readpid "$pf")" = "$main" ] && ! gone "$main"; echo $?)" \
        "$u: still active, MainPID $main, pidfile unchanged" "$(state "$u")"
    systemctl stop "$u"
}

# hand_first UNIT PIDFILE CMD...: a copy started by hand (CMD) holds the
# unit's pidfile first: systemctl start fails at once, Result=exit-code, and
# the copy runs on, also after the unit is stopped. With $TODO set (a known
# failure) the start may time out: TimeoutStartSec=5s for this check.
hand_first() {
    local u=$1 pf=$2 h rc t result
    shift 2
    if [ -n "${TODO:-}" ]; then
        mkdir -p "$UNITS/$u.service.d"
        printf '[Service]\nTimeoutStartSec=5s\n' >"$UNITS/$u.service.d/hand-first.conf"
        systemctl daemon-reload
    fi
    mkdir -p "${pf%/*}"
    timeout 20 "$@" >/dev/null 2>&1 </dev/null
    h=$(readpid "$pf")
    t=$SECONDS
    timeout 30 systemctl start "$u" 2>/dev/null; rc=$?
    result=$(prop "$u" Result)
    ok "$([ -n "$h" ] && [ $rc -ne 0 ] && [ "$result" = exit-code ] && ! gone "$h"; echo $?)" \
        "$u: a copy started by hand first (pid ${h:-none}): start fails in $((SECONDS - t)) s (rc $rc, Result=$result), the copy runs on" \
        "$(state "$u")"
    systemctl stop "$u"
    systemctl reset-failed "$u" 2>/dev/null
    ok "$([ -n "$h" ] && ! gone "$h"; echo $?)" "$u: the hand-started copy $h survives the unit's stop"
    [ -e "$pf" ] || gone "$h" || diag "(stopping $u removed its RuntimeDirectory=, and with it the pidfile of the hand-started copy)"
    [ -n "$h" ] && kill -TERM "$h" 2>/dev/null && wait_gone "$h"
    if [ -n "${TODO:-}" ]; then
        rm -rf "$UNITS/$u.service.d"
        systemctl daemon-reload
    fi
}

# start_fails UNIT RESULT ERRNO MARK WHAT: systemctl start fails, Result=RESULT
# (and StatusErrno=ERRNO unless empty), nothing with MARK in its command line
# runs afterwards, and the unit's pidfile is gone.
start_fails() {
    local u=$1 result=$2 errno=$3 mark=$4 what=$5 rc left
    systemctl start "$u" 2>"$WORK/err"; rc=$?
    ok "$([ $rc -ne 0 ] && [ "$(prop "$u" Result)" = "$result" ] &&
        { [ -z "$errno" ] || [ "$(prop "$u" StatusErrno)" = "$errno" ]; }; echo $?)" \
        "$u: $what: start fails (rc $rc), Result=$(prop "$u" Result)$([ -n "$errno" ] && echo ", StatusErrno=$(prop "$u" StatusErrno)")" \
        "$(state "$u")"
    wait_until 5 test -z "$(procs_with "$mark")"
    left=$(procs_with "$mark")
    ok "$([ -z "$left" ] && [ "$(prop "$u" MainPID)" = 0 ]; echo $?)" "$u: nothing left running${left:+: $left}" \
        "$(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done)"
    systemctl reset-failed "$u" 2>/dev/null
}

# ====================================================================
# PID 1 logs each notification it gets at debug level; journald must not
# drop those lines (its default rate limit would, at this rate).
mkdir -p /run/systemd/journald.conf.d
printf '[Journal]\nRateLimitIntervalSec=0\n' >/run/systemd/journald.conf.d/pidkit-test.conf
systemctl restart systemd-journald
systemctl log-level debug
diag "systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') as PID 1; log level debug; $CYCLES cycles per example unit"

# -------------------------------------------- the two example units
diag "the two example units (at ${SECONDS} s)"
example_unit pidkit-example-forking forking
example_unit pidkit-example-notify notify
systemctl daemon-reload
cycle pidkit-example-forking /run/pidkit-example/daemon.pid 0 "$CYCLES" daemon
cycle pidkit-example-notify /run/pidkit-example-notify/daemon.pid 1 "$CYCLES" daemon
restart_after_kill pidkit-example-forking /run/pidkit-example/daemon.pid 0
restart_after_kill pidkit-example-notify /run/pidkit-example-notify/daemon.pid 1
second_copy pidkit-example-forking /run/pidkit-example/daemon.pid \
    "$DAEMON" /run/pidkit-example/daemon.pid "$WORK/by-hand.log"
second_copy pidkit-example-notify /run/pidkit-example-notify/daemon.pid \
    "$DAEMON" /run/pidkit-example-notify/daemon.pid "$WORK/by-hand.log"
hand_first pidkit-example-forking /run/pidkit-example/daemon.pid \
    "$DAEMON" /run/pidkit-example/daemon.pid "$WORK/by-hand.log"
# Type=notify without PIDFile= (READY=1 + MAINPID= reach systemd before the
# original exits): the refused start fails at once, the copy runs on.
hand_first pidkit-example-notify /run/pidkit-example-notify/daemon.pid \
    "$DAEMON" /run/pidkit-example-notify/daemon.pid "$WORK/by-hand.log"

# -------------------------------------------- failures
diag "failures (at ${SECONDS} s)"
# The daemon's first write to its log fails (ENOSPC on /dev/full) after it
# detached: it reports the error with pidkit_detach_ready(-ENOSPC), the
# original exits 1; under Type=notify the daemon also sent ERRNO=28.
# Restart=no: the failed start is looked at, not retried.
for t in forking notify; do
    example_unit pidkit-full-$t $t -e "s|/var/log/[a-z-]*\.log|/dev/full|" \
        -e "s|^Restart=.*|Restart=no|" -e "s|/run/pidkit-example[a-z-]*/|/run/pidkit-full-$t/|g" \
        -e "s|^RuntimeDirectory=.*|RuntimeDirectory=pidkit-full-$t|"
    # A pidfile in a read-only directory (/usr is the host's): EROFS.
    example_unit pidkit-nopidfile-$t $t -e "s|^Restart=.*|Restart=no|" \
        -e "s|/run/pidkit-example[a-z-]*/daemon.pid|/usr/lib/pidkit-nopidfile-$t.pid|g" \
        -e "s|/var/log/[a-z-]*\.log|$WORK/nopidfile-$t.log|"
done
systemctl daemon-reload
start_fails pidkit-full-forking exit-code "" /dev/full "log on /dev/full"
start_fails pidkit-full-notify exit-code 28 /dev/full "log on /dev/full"
ok "$(journalctl -u pidkit-full-notify -o cat --no-pager | grep -qF 'ERRNO=28'; echo $?)" \
    "pidkit-full-notify: the ERRNO=28 datagram is in the journal"
for t in forking notify; do
    ok "$([ ! -e /run/pidkit-full-$t/daemon.pid ]; echo $?)" "pidkit-full-$t: no pidfile left"
    start_fails pidkit-nopidfile-$t exit-code "" "pidkit-nopidfile-$t" "pidfile on a read-only file system"
    ok "$(recent_log | grep -qi "daemon: .*pidkit-nopidfile-$t.pid: read-only file system"; echo $?)" \
        "pidkit-nopidfile-$t: the journal has the daemon's reason (EROFS)" "$(state pidkit-nopidfile-$t)"
done

# -------------------------------------------- the Python binding
diag "the Python binding (at ${SECONDS} s)"
PYENV="Environment=PYTHONPATH=$REPO/bindings/python PYTHONDONTWRITEBYTECODE=1"
unit pidkit-py-forking Type=forking RuntimeDirectory=pidkit-py-forking \
    PIDFile=/run/pidkit-py-forking/daemon.pid "$PYENV" Restart=on-failure \
    "ExecStart=/usr/bin/python3 $PYDAEMON /run/pidkit-py-forking/daemon.pid $WORK/py-forking.log"
unit pidkit-py-notify Type=notify NotifyAccess=all RuntimeDirectory=pidkit-py-notify \
    PIDFile=/run/pidkit-py-notify/daemon.pid "$PYENV" Restart=on-failure \
    "ExecStart=/usr/bin/python3 $PYDAEMON /run/pidkit-py-notify/daemon.pid $WORK/py-notify.log"
unit pidkit-py-full-notify Type=notify NotifyAccess=all RuntimeDirectory=pidkit-py-full-notify \
    PIDFile=/run/pidkit-py-full-notify/daemon.pid "$PYENV" Restart=no \
    "ExecStart=/usr/bin/python3 $PYDAEMON /run/pidkit-py-full-notify/daemon.pid /dev/full"
systemctl daemon-reload
cycle pidkit-py-forking /run/pidkit-py-forking/daemon.pid 0 5 python3
cycle pidkit-py-notify /run/pidkit-py-notify/daemon.pid 1 5 python3
restart_after_kill pidkit-py-forking /run/pidkit-py-forking/daemon.pid 0
restart_after_kill pidkit-py-notify /run/pidkit-py-notify/daemon.pid 1
second_copy pidkit-py-notify /run/pidkit-py-notify/daemon.pid \
    env PYTHONPATH="$REPO/bindings/python" python3 "$PYDAEMON" /run/pidkit-py-notify/daemon.pid "$WORK/by-hand.log"
start_fails pidkit-py-full-notify exit-code 28 pidkit-py-full-notify "Python daemon, log on /dev/full"

# -------------------------------------------- pidkit run
diag "pidkit run (at ${SECONDS} s)"
# --detach --notify: CMD (pydaemon.py --serve) sends READY=1 and MAINPID=
# itself; pidkit exits once CMD runs, and systemd, told by PIDFile= where
# the main process went, waits for CMD's READY=1 (without PIDFile= pidkit's
# exit before READY=1 fails the start: Result=protocol).
unit pidkit-run-notify Type=notify NotifyAccess=all RuntimeDirectory=pidkit-run-notify \
    PIDFile=/run/pidkit-run-notify/cmd.pid "$PYENV" \
    "ExecStart=$PIDKIT run --detach --notify --pidfile /run/pidkit-run-notify/cmd.pid -- python3 $PYDAEMON --serve"
# Without --notify pidkit itself reports READY=1 MAINPID=<CMD> for a CMD
# that does not speak the protocol (PIDFile= as in the example unit: see
# examples/systemd/pidkit-example-notify.service).
unit pidkit-run-notify-for-cmd Type=notify NotifyAccess=all RuntimeDirectory=pidkit-run-nfc \
    PIDFile=/run/pidkit-run-nfc/cmd.pid \
    "ExecStart=$PIDKIT run --detach --pidfile /run/pidkit-run-nfc/cmd.pid -- sleep infinity"
unit pidkit-run-forking Type=forking RuntimeDirectory=pidkit-run-forking \
    PIDFile=/run/pidkit-run-forking/cmd.pid \
    "ExecStart=$PIDKIT run --pidfile /run/pidkit-run-forking/cmd.pid -- sleep infinity"
systemctl daemon-reload
cycle pidkit-run-notify /run/pidkit-run-notify/cmd.pid 1 5 python3
cycle pidkit-run-forking /run/pidkit-run-forking/cmd.pid 0 5 sleep
systemctl start pidkit-run-notify-for-cmd
m=$(prop pidkit-run-notify-for-cmd MainPID)
ok "$([ "$m" -gt 0 ] && [ "$m" = "$(readpid /run/pidkit-run-nfc/cmd.pid)" ] &&
    [ "$(cat /proc/"$m"/comm)" = sleep ] &&
    journalctl -u pidkit-run-notify-for-cmd -o cat --no-pager | grep -q "Got notification message from PID [0-9]* (READY=1, MAINPID=$m)"; echo $?)" \
    "pidkit run without --notify under Type=notify: pidkit sent READY=1 MAINPID=$m (sleep), = pidfile" \
    "$(state pidkit-run-notify-for-cmd)"
systemctl stop pidkit-run-notify-for-cmd
ok "$(wait_gone "$m"; echo $?)" "pidkit-run-notify-for-cmd: stopped, pid $m gone"
second_copy pidkit-run-forking /run/pidkit-run-forking/cmd.pid \
    "$PIDKIT" run --pidfile /run/pidkit-run-forking/cmd.pid -- sleep infinity
hand_first pidkit-run-forking /run/pidkit-run-forking/cmd.pid \
    "$PIDKIT" run --pidfile /run/pidkit-run-forking/cmd.pid -- sleep infinity

# -------------------------------------------- PIDFile= in a directory others can write
diag "PIDFile= in a directory others can write (at ${SECONDS} s)"
# systemd's own safety: a main pid read from PIDFile= that is outside the
# unit's cgroup is accepted only from a file owned by root. An attacker
# (nobody) plants shared/planted.pid naming a victim process in a sticky,
# world-writable directory (/tmp-like). pidkit's STRICT mode refuses that
# file before systemd ever reads it: a file owned by neither the caller nor
# root is EPERM; so is any file in a world-writable directory without the
# sticky bit.
shared=$WORK/shared
open=$WORK/open
mkdir -p "$shared" "$open"
chmod 1777 "$shared"
chmod 0777 "$open"
systemd-run --quiet --unit=pidkit-victim sleep infinity
victim=$(prop pidkit-victim MainPID)
# plant: (again) as nobody; systemd removes a unit's PIDFile= when it stops.
plant() {
    rm -f "$shared/planted.pid"
    setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "echo $victim > $shared/planted.pid"
}
plant
diag "victim: pid $victim (pidkit-victim.service); $shared/planted.pid by uid $(stat -c %u "$shared/planted.pid") names it"
# A daemon that does not write its pidfile: systemd reads the planted one.
# (systemd waits for a valid PID file until TimeoutStartSec=.)
unit pidkit-unsafe-plain Type=forking "PIDFile=$shared/planted.pid" Restart=no TimeoutStartSec=3s \
    "ExecStart=/bin/sh -c 'sleep infinity & exit 0'"
unit pidkit-unsafe-strict Type=forking "PIDFile=$shared/planted.pid" "$PYENV" Restart=no \
    "ExecStart=/usr/bin/python3 $PYDAEMON --strict $shared/planted.pid $WORK/unsafe-strict.log"
unit pidkit-unsafe-example Type=forking "PIDFile=$shared/planted.pid" Restart=no \
    "ExecStart=$DAEMON $shared/planted.pid $WORK/unsafe-example.log"
unit pidkit-open-example Type=forking "PIDFile=$open/daemon.pid" Restart=no \
    "ExecStart=$DAEMON $open/daemon.pid $WORK/open-example.log"
unit pidkit-open-strict Type=forking "PIDFile=$open/daemon.pid" "$PYENV" Restart=no \
    "ExecStart=/usr/bin/python3 $PYDAEMON --strict $open/daemon.pid $WORK/open-strict.log"
systemctl daemon-reload

systemctl start pidkit-unsafe-plain 2>/dev/null; rc=$?
said=$(journalctl -u pidkit-unsafe-plain -o cat --no-pager | grep -m1 "New main PID $victim ")
diag "systemd says: $said"
ok "$([ $rc -ne 0 ] && [[ $said == *"New main PID $victim does not belong to service, and PID file is not owned by root. Refusing."* ]]; echo $?)" \
    "systemd refuses the planted PIDFile= (rc $rc, Result=$(prop pidkit-unsafe-plain Result)): not owned by root, pid $victim outside the unit" \
    "$(state pidkit-unsafe-plain)"
systemctl reset-failed pidkit-unsafe-plain 2>/dev/null

plant
since=$(date +%s)
systemctl start pidkit-unsafe-strict 2>/dev/null; rc=$?
said=$(recent_log | grep -m1 "^pydaemon: .*$shared/planted.pid")
diag "pidkit STRICT says: $said"
ok "$([ $rc -ne 0 ] && [ "$(prop pidkit-unsafe-strict Result)" = exit-code ] &&
    [[ $said == *"owned by uid 65534"*"(strict mode)"* ]] &&
    ! journalctl -u pidkit-unsafe-strict --since "@$since" -o cat --no-pager | grep -q -e 'New main PID' -e 'Refusing'; echo $?)" \
    "STRICT refuses the planted file first: the daemon exits 1 (Result=exit-code), systemd never reads a pid from it" \
    "$(state pidkit-unsafe-strict)"
ok "$(! gone "$victim" && [ "$(prop pidkit-victim ActiveState)" = active ]; echo $?)" "the victim $victim runs on"
# systemd removed the PIDFile= of the failed unit: plant it again to see
# that STRICT leaves the file alone (by hand, no systemd involved).
plant
before=$(stat -c '%i %s %Y %u' "$shared/planted.pid")
out=$(PYTHONPATH=$REPO/bindings/python timeout 20 python3 "$PYDAEMON" --strict "$shared/planted.pid" "$WORK/by-hand.log" 2>&1); rc=$?
ok "$([ $rc -ne 0 ] && [ "$(cat "$shared/planted.pid")" = "$victim" ] &&
    [ "$(stat -c '%i %s %Y %u' "$shared/planted.pid")" = "$before" ]; echo $?)" \
    "STRICT by hand: refused (rc $rc), the planted file is untouched (same inode, size, mtime, owner; still names $victim)" "$out"
systemctl reset-failed pidkit-unsafe-strict 2>/dev/null

# Without STRICT pidkit takes the stale planted file over (it is not
# locked): systemd accepts the pid (it is the unit's), but the file stays
# the attacker's, who may rewrite it at any time.
plant
systemctl start pidkit-unsafe-example; rc=$?
m=$(prop pidkit-unsafe-example MainPID)
ok "$([ $rc -eq 0 ] && [ "$m" = "$(readpid "$shared/planted.pid")" ] && [ "$(stat -c %u "$shared/planted.pid")" = 65534 ]; echo $?)" \
    "without STRICT: the planted file is taken over (MainPID $m = pidfile) and stays owned by uid $(stat -c %u "$shared/planted.pid" 2>/dev/null)" \
    "$(state pidkit-unsafe-example)"
systemctl stop pidkit-unsafe-example

# A directory anyone can write, no sticky bit: systemd accepts the daemon's
# root-owned file without a word; STRICT refuses the directory.
systemctl start pidkit-open-example; rc=$?
m=$(prop pidkit-open-example MainPID)
ok "$([ $rc -eq 0 ] && [ "$m" = "$(readpid "$open/daemon.pid")" ] &&
    ! journalctl -u pidkit-open-example -o cat --no-pager | grep -qi 'refusing'; echo $?)" \
    "0777 directory: systemd accepts the root-owned PIDFile= silently (MainPID $m)" "$(state pidkit-open-example)"
systemctl stop pidkit-open-example
systemctl start pidkit-open-strict 2>/dev/null; rc=$?
said=$(recent_log | grep -m1 "^pydaemon: .*$open")
diag "pidkit STRICT says: $said"
ok "$([ $rc -ne 0 ] && [ "$(prop pidkit-open-strict Result)" = exit-code ] && [ ! -e "$open/daemon.pid" ]; echo $?)" \
    "0777 directory: STRICT refuses it before creating anything (Result=$(prop pidkit-open-strict Result))" \
    "$(state pidkit-open-strict)"
systemctl stop pidkit-victim
ok "$(wait_gone "$victim"; echo $?)" "victim stopped"

# -------------------------------------------- nothing left
diag "nothing left (at ${SECONDS} s)"
left=
while read -r u _; do left="$left $u"; done < <(systemctl list-units --no-legend --plain --state=active 'pidkit-*')
ok "$([ -z "$left" ]; echo $?)" "no pidkit-* unit left active${left:+:$left}"

echo "1..$n"
[ "$failed" -eq 0 ]
