#!/usr/bin/env bash
# check.sh - boot the host's own systemd as PID 1 of a systemd-nspawn
# container and run tests/systemd/inside.sh there (issue 17). Prints TAP
# (run by `make check-systemd` through prove), the boot time on stderr.
#
#   bash tests/systemd/check.sh [REPO]
#
# REPO (default: the tree this script is in) is the source tree with the build done (build/examples/daemon,
# build/pidkit, build/libpidkit.so.0). It is bound read-only into the
# container at the same path, so the binaries' rpath and the Python
# binding's build/ lookup work there; the container sees nothing else of
# the host but /usr (--volatile=yes: a tmpfs root) and one work directory.
#
# Where the container cannot be booted (not root, no apt-get to install
# systemd, no usable cgroup hierarchy, nspawn refused, no boot within
# SYSTEMD_BOOT_TIMEOUT seconds) it prints "1..0 # SKIP reason" (prove says
# "skipped: reason") and exits 0. Every wait is bounded; the EXIT trap powers
# the container off, kills it if it hangs, removes the cgroup directories
# made here, nspawn's leftovers under /run/systemd and the work directory.
set -u
repo=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
BOOT_TIMEOUT=${SYSTEMD_BOOT_TIMEOUT:-60}
TEST_TIMEOUT=${SYSTEMD_TEST_TIMEOUT:-300}
name=pidkit-check-$$
work=
nspawn_pid=
leader=
inner=
cg_dirs=()
run_before=
booted=0

say() { echo "check-systemd: $*" >&2; }
skip() {
    echo "1..0 # SKIP $*"
    say "skipped: $*"
    exit 0
}

# ------------------------------------------------------------ teardown
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Every pid in the cgroup directories made here, their subdirectories too.
cgroup_pids() {
    local d
    for d in "${cg_dirs[@]}"; do
        [ -d "$d" ] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -u
}

teardown() {
    local i p
    trap - EXIT INT TERM HUP
    [ -n "$inner" ] && kill -TERM "$inner" 2>/dev/null
    if alive "$nspawn_pid"; then
        # systemctl poweroff in the container; before its systemd answers,
        # SIGTERM to nspawn (which asks the container's init to halt).
        if ! alive "$leader" || ! timeout 10 nsenter -t "$leader" -a systemctl poweroff --no-block >/dev/null 2>&1; then
            kill -TERM "$nspawn_pid" 2>/dev/null
        fi
        for i in $(seq 150); do alive "$nspawn_pid" || break; sleep 0.1; done
        if alive "$nspawn_pid"; then
            say "container did not power off in 15 s: killing it"
            kill -TERM "$nspawn_pid" 2>/dev/null
            for i in $(seq 50); do alive "$nspawn_pid" || break; sleep 0.1; done
        fi
    fi
    # Whatever is left in our cgroups (a hung nspawn, its payload) dies now.
    for i in 1 2 3; do
        p=$(cgroup_pids)
        [ -z "$p" ] && break
        for d in "${cg_dirs[@]}"; do [ -w "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null; done
        kill -KILL $p 2>/dev/null
        sleep 0.2
    done
    alive "$nspawn_pid" && say "WARNING: systemd-nspawn (pid $nspawn_pid) survived SIGKILL"
    [ -n "$nspawn_pid" ] && ! alive "$nspawn_pid" && wait "$nspawn_pid" 2>/dev/null
    for d in "${cg_dirs[@]}"; do
        for i in $(seq 25); do
            [ -d "$d" ] || break
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
            [ -d "$d" ] && sleep 0.2
        done
        [ -d "$d" ] && say "WARNING: could not remove $d"
    done
    # nspawn's leftovers under /run/systemd: the directories it made for
    # this container and, when empty and not there before, their parents
    # (another container may be using them).
    if [ -n "$run_before" ]; then
        for p in "/run/systemd/nspawn/propagate/$name" "/run/systemd/nspawn/unix-export/$name" \
                 /run/systemd/nspawn/propagate /run/systemd/nspawn/unix-export /run/systemd/nspawn \
                 /run/systemd/nspawn-root /run/systemd; do
            [ -d "$p" ] && ! grep -qxF "$p" "$run_before" && rmdir "$p" 2>/dev/null
        done
    fi
    [ -n "$run_before" ] && rm -f "$run_before"
    if [ -n "$work" ]; then
        if [ -n "${SYSTEMD_KEEP:-}" ]; then say "work directory kept: $work"; else rm -rf "$work"; fi
    fi
}
trap teardown EXIT
trap 'exit 1' INT TERM HUP

# ------------------------------------------------------------ prerequisites
[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn boots a container)"
for f in build/examples/daemon build/pidkit build/libpidkit.so.0; do
    [ -e "$repo/$f" ] || { echo "Bail out! $repo/$f is missing: run make first"; exit 1; }
done

# In a pid namespace (CI inside a container) this works as long as /proc is
# that namespace's own (unshare --pid --fork --mount-proc): the pids read
# from /proc and given to nsenter must be ours.
read -r self _ </proc/self/stat
[ "$self" = "$BASHPID" ] || skip "/proc belongs to another pid namespace (pid $BASHPID is $self there)"

need=
command -v systemd-nspawn >/dev/null || need="$need systemd-container"
[ -x /lib/systemd/systemd ] && command -v systemctl >/dev/null || need="$need systemd"
command -v nsenter >/dev/null || need="$need util-linux"
command -v python3 >/dev/null || need="$need python3"
if [ -n "$need" ]; then
    command -v apt-get >/dev/null || skip "no apt-get to install$need"
    say "installing$need"
    export DEBIAN_FRONTEND=noninteractive
    { timeout 300 apt-get update -qq && timeout 300 apt-get install -y -qq $need; } >/dev/null 2>&1 \
        || skip "apt-get install$need failed"
fi

# ------------------------------------------------------------ cgroups
# nspawn 252 needs its own cgroup. Under a systemd host it asks the manager
# for a scope; with no systemd running (a CI container), it is put into
# directories made by hand, in each hierarchy systemd uses: on a hybrid
# layout (tmpfs on /sys/fs/cgroup) the name=systemd v1 one and the v2 one
# under unified/, on a pure v2 host /sys/fs/cgroup itself.
nspawn_cg_args=()
if [ -d /run/systemd/system ]; then
    nspawn_cg_args=(--register=no)
    layout="systemd host (a transient scope)"
else
    nspawn_cg_args=(--register=no --keep-unit)
    fstype=$(stat -fc %T /sys/fs/cgroup 2>/dev/null)
    if [ "$fstype" = cgroup2fs ]; then
        cg_dirs=("/sys/fs/cgroup/$name")
        layout="unified (cgroup v2)"
    elif [ "$(stat -fc %T /sys/fs/cgroup/systemd 2>/dev/null)" = cgroupfs ]; then
        cg_dirs=("/sys/fs/cgroup/systemd/$name")
        layout="legacy (name=systemd v1)"
        if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
            cg_dirs+=("/sys/fs/cgroup/unified/$name")
            layout="hybrid (name=systemd v1 + unified v2)"
        fi
    else
        skip "no cgroup hierarchy systemd can use (/sys/fs/cgroup is ${fstype:-missing}, no name=systemd)"
    fi
    for d in "${cg_dirs[@]}"; do
        mkdir "$d" 2>/dev/null || skip "cannot create cgroup $d (read-only cgroupfs?)"
    done
fi

# ------------------------------------------------------------ boot
work=$(mktemp -d /tmp/pidkit-systemd.XXXXXX)
chmod 0755 "$work"
run_before=$(mktemp /tmp/pidkit-systemd-run.XXXXXX)
{ [ -d /run/systemd ] && find /run/systemd -maxdepth 3 -type d; } >"$run_before" 2>/dev/null

t0=$(date +%s%N)
(
    for d in "${cg_dirs[@]}"; do
        echo "$BASHPID" >"$d/cgroup.procs" || exit 97
    done
    exec systemd-nspawn --quiet --directory=/ --volatile=yes "${nspawn_cg_args[@]}" \
        --machine="$name" --bind-ro="$repo" --bind="$work:/srv/pidkit" \
        --boot -- systemd.firstboot=off
) </dev/null >"$work/nspawn.log" 2>&1 &
nspawn_pid=$!

show_log() { sed -n '1,40s/^/#   /p' "$work/nspawn.log" | sed 's/\x1b\[[0-9;]*m//g'; }

children() {  # the pids whose parent is $1
    cat /proc/"$1"/task/*/children 2>/dev/null && return
    local f s
    for f in /proc/[0-9]*/stat; do
        s=$(<"$f") 2>/dev/null || continue
        s=${s##*) }; set -- "$1" $s
        [ "$3" = "$1" ] && { f=${f#/proc/}; echo "${f%/stat}"; }
    done
}

# PID 1 of the container: nspawn's child once it runs systemd.
deadline=$(($(date +%s) + BOOT_TIMEOUT))
while [ "$(date +%s)" -lt "$deadline" ]; do
    alive "$nspawn_pid" || break
    for p in $(children "$nspawn_pid"); do
        [ "$(cat /proc/"$p"/comm 2>/dev/null)" = systemd ] && leader=$p
    done
    [ -n "$leader" ] && break
    sleep 0.05
done
if [ -z "$leader" ]; then
    if alive "$nspawn_pid"; then
        how="no systemd in it after ${BOOT_TIMEOUT} s"
    else
        wait "$nspawn_pid" 2>/dev/null
        how="it exited with status $?"
    fi
    show_log
    skip "systemd-nspawn could not start the container ($how; cgroups: $layout; its log above)"
fi

state=
while [ "$(date +%s)" -lt "$deadline" ] && alive "$leader"; do
    state=$(timeout 5 nsenter -t "$leader" -a systemctl is-system-running 2>/dev/null)
    case $state in running | degraded) break ;; esac
    sleep 0.05
done
t1=$(date +%s%N)
case $state in
running | degraded) booted=1 ;;
*)
    show_log
    skip "the container did not boot in ${BOOT_TIMEOUT} s (is-system-running: ${state:-no answer})"
    ;;
esac
boot_ms=$(((t1 - t0) / 1000000))
analyze=$(timeout 10 nsenter -t "$leader" -a systemd-analyze time 2>/dev/null | head -n1)
say "booted systemd $(timeout 5 nsenter -t "$leader" -a systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')" \
    "in ${boot_ms} ms (nspawn start to is-system-running=$state; cgroups: $layout)"
echo "# boot: ${boot_ms} ms from starting systemd-nspawn to is-system-running=$state"
echo "# ${analyze:-systemd-analyze time: no answer}"
if [ "$state" = degraded ]; then
    timeout 10 nsenter -t "$leader" -a systemctl --failed --no-legend --plain 2>/dev/null | sed 's/^/# failed unit: /'
fi

# ------------------------------------------------------------ the tests
# In the container: its PID 1's namespaces (mount, pid, ...), a clean
# environment. inside.sh prints the TAP lines and the plan.
timeout -k 5 "$TEST_TIMEOUT" nsenter -t "$leader" -a \
    /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 REPO="$repo" WORK=/srv/pidkit PIDKIT_SYSTEMD_CYCLES="${PIDKIT_SYSTEMD_CYCLES:-20}" \
    bash "$repo/tests/systemd/inside.sh" &
inner=$!
wait "$inner"   # (a signal's trap runs at once, not after inside.sh)
rc=$?
inner=
[ $rc -eq 124 ] && echo "Bail out! inside.sh did not finish in ${TEST_TIMEOUT} s"
t2=$(date +%s%N)
say "tests took $(((t2 - t1) / 1000000)) ms; boot ${boot_ms} ms"
exit $rc
