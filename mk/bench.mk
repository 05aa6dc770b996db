# bench.mk - `make bench`: pidkit side by side with libbsd, libdaemon, glibc
# daemon(3), posix_spawn, Python pid, python-daemon and psutil (issue 8).
# Not part of `make check`. Prints one table and writes bench/results.md and
# bench/results.json (see bench/run.py).
#
# Installs what it needs if missing: the Debian packages libbsd-dev,
# libdaemon-dev and strace (apt-get, as root), and the Python packages into
# the git-ignored venv bench/.venv (never system-wide). An anchor that cannot
# be installed is left out of the table (and the table says so).

BENCH_DIR     := $(B)/bench
BENCH_VENV    := $(CURDIR)/bench/.venv
BENCH_PY      := $(BENCH_VENV)/bin/python
BENCH_PYPKGS  := pid==3.0.4 python-daemon==3.1.2 lockfile==0.12.2 psutil==7.2.2
BENCH_APT     := libbsd-dev libdaemon-dev strace
BENCH_CFLAGS  ?= -O2 -Wall -Wextra -std=gnu11 -D_GNU_SOURCE
BENCH_LDPK    := -L$(CURDIR)/$(B) -l:$(SONAME) -Wl,-rpath,$(CURDIR)/$(B)
BENCH_PROGS   := pidfile detach spawn ids procs footprint
BENCH_ARGS    ?=

.PHONY: bench bench-deps bench-build

bench: bench-deps
	@$(MAKE) --no-print-directory bench-build
	@py=$(BENCH_PY); [ -x "$$py" ] || py=python3; \
	 pyarg=; [ -x "$(BENCH_PY)" ] && pyarg="--py $(BENCH_PY)"; \
	 LD_BIND_NOW=1 $$py bench/run.py --bin $(BENCH_DIR) --lib $(CURDIR)/$(B)/$(SONAME) $$pyarg $(BENCH_ARGS)

# Debian packages (only those missing; one apt-get update first), then the venv.
bench-deps:
	@need=; for p in $(BENCH_APT); do \
	   case "$$(dpkg-query -W -f='$${Status}' $$p 2>/dev/null)" in *" installed") ;; *) need="$$need $$p" ;; esac; \
	 done; \
	 python3 -c 'import ensurepip, venv' 2>/dev/null || need="$$need python3-venv"; \
	 if [ -n "$$need" ]; then \
	   echo "bench: installing$$need"; \
	   { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; } \
	     || echo "bench: WARNING: could not install$$need; the rows that need them are left out"; \
	 fi
	@if ! [ -x $(BENCH_PY) ] || ! $(BENCH_PY) -c 'import pid, daemon.pidfile, lockfile, psutil' 2>/dev/null; then \
	   echo "bench: creating bench/.venv with $(BENCH_PYPKGS)"; \
	   { python3 -m venv $(BENCH_VENV) && $(BENCH_PY) -m pip install -q --disable-pip-version-check $(BENCH_PYPKGS); } \
	     || { echo "bench: WARNING: no Python venv; the Python anchors are left out"; rm -rf $(BENCH_VENV); }; \
	 fi

# Evaluated after bench-deps ran (bench calls it in a sub-make), so the
# optional anchors are compiled in when their headers are there.
BENCH_HAVE_BSD    := $(wildcard /usr/include/bsd/libutil.h)
BENCH_HAVE_DAEMON := $(wildcard /usr/include/libdaemon/dfork.h)

bench-build: lib $(addprefix $(BENCH_DIR)/,$(BENCH_PROGS))

$(BENCH_DIR):
	mkdir -p $@

$(BENCH_DIR)/pidfile: bench/pidfile.c bench/common.h include/pidkit.h $(B)/$(SONAME) | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -Iinclude $(if $(BENCH_HAVE_BSD),-DHAVE_LIBBSD) -o $@ $< $(BENCH_LDPK) $(if $(BENCH_HAVE_BSD),-lbsd)

$(BENCH_DIR)/detach: bench/detach.c bench/common.h include/pidkit.h $(B)/$(SONAME) | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -Iinclude $(if $(BENCH_HAVE_DAEMON),-DHAVE_LIBDAEMON) -o $@ $< $(BENCH_LDPK) $(if $(BENCH_HAVE_DAEMON),-ldaemon)

$(BENCH_DIR)/spawn $(BENCH_DIR)/ids $(BENCH_DIR)/procs: $(BENCH_DIR)/%: bench/%.c bench/common.h include/pidkit.h $(B)/$(SONAME) | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -Iinclude -o $@ $< $(BENCH_LDPK)

# Links nothing but libc: it measures what dlopen adds.
$(BENCH_DIR)/footprint: bench/footprint.c | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -o $@ $<
