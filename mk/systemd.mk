# systemd.mk - issue 17: the example units under a real systemd.
#
#   make check-systemd   boots the host's own systemd as PID 1 of a
#                        systemd-nspawn container (--directory=/ --volatile=yes:
#                        the host's /usr read-only on a tmpfs root) and runs
#                        tests/systemd/inside.sh there: both units of
#                        examples/systemd/ (SYSTEMD_CYCLES start/stop cycles each,
#                        kill -9 and Restart=, a refused second copy, failed
#                        starts), a Python daemon, `pidkit run` as ExecStart=, and
#                        systemd's PIDFile= safety next to PIDKIT_PIDFILE_STRICT.
#                        Prints TAP (prove -v) and the boot time; part of `make check`.
#
# Needs root; installs systemd and systemd-container with apt-get when missing.
# Where the container cannot boot (not root, no apt-get, no usable cgroups,
# nspawn refused, e.g. in a restricted container) it prints "skipped: reason"
# and succeeds. Every step is bounded: the whole target is killed after
# SYSTEMD_TIMEOUT seconds (the test itself takes well under a minute), and
# the container is powered off (killed if it hangs) and its cgroups and
# leftovers removed whatever happens. SYSTEMD_KEEP=1 keeps the work directory.

SYSTEMD_CYCLES  ?= 20
SYSTEMD_TIMEOUT ?= 600
SYSTEMD_PROVE   ?= prove -v -f

CHECK_EXTRA += check-systemd

.PHONY: check-systemd

check-systemd: $(B)/examples/daemon $(CLI) $(B)/$(SONAME) | check-tools
	PIDKIT_SYSTEMD_CYCLES=$(SYSTEMD_CYCLES) timeout -k 30 $(SYSTEMD_TIMEOUT) \
	  $(SYSTEMD_PROVE) --exec bash tests/systemd/check.sh
