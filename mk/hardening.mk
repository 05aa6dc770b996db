# mk/hardening.mk - issue 9: sanitizers, valgrind, fault injection, stress.
#
#   make check-asan       every c-tests/test_*.c built with -fsanitize=address,undefined
#                         (linked against the normal build/libpidkit.so.0) and run by prove
#   make check-valgrind   every C test under valgrind memcheck: no errors, no definite leaks
#   make check-faults     only test_faults and test_seccomp (they are in `make test-c` too)
#   make check-oldkernel  the other C tests again, under test_seccomp's seccomp filter that
#                         makes close_range, pidfd_open, pidfd_send_signal and clone3 fail
#                         with ENOSYS (a pre-5.3 kernel, as far as pidkit can tell)
#   make check-pidns      the C, CLI and Python tests again inside a new pid namespace with
#                         its own /proc (unshare -pf --mount-proc, needs root): as in a
#                         container, the caller's session leader is invisible (getsid = 0)
#                         and /proc/locks hides locks whose taker is gone or outside
#   make stress           c-tests/stress.c: STRESS_ROUNDS (1000) rounds of 50 processes racing
#                         acquire, STRESS_CYCLES (10000) acquire/release cycles against a checker
#                         and test_hostile's directory-swap races, RACE_SECONDS (15) each
#   make check-stress     the same with STRESS_ROUNDS=50 STRESS_CYCLES=2000 (run by `make check`)
#   make fuzz             both cargo-fuzz targets, FUZZ_SECONDS (60) each (nightly; fuzz/README.md)
#   make check-all        check + check-asan + check-valgrind + check-oldkernel + check-pidns
#                         (all already in check)
#
# Tests may honour PIDKIT_TEST_QUICK=1 (set for the valgrind run) to do fewer
# iterations; nothing requires them to.

HARDENING_TESTS := $(wildcard c-tests/test_*.c)
ASAN_TESTS      := $(patsubst c-tests/%.c,$(B)/asan/%,$(HARDENING_TESTS))
ASAN_CFLAGS     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# Leak checking runs at exit(): forked children that leave with _exit()
# (all of them, see tap.h) are not checked, the test processes are.
ASAN_ENV        := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1 \
                   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
VALGRIND        ?= valgrind
VALGRIND_FLAGS  := --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
                   --show-leak-kinds=definite --trace-children=no --suppressions=$(CURDIR)/mk/valgrind.supp
STRESS_ROUNDS   ?= 1000
STRESS_CYCLES   ?= 10000
# Each of test_hostile's directory-swap races in `make stress` (3 s in check).
RACE_SECONDS    ?= 15
PROVE           ?= prove

.PHONY: check-asan check-valgrind check-faults check-oldkernel check-pidns stress check-stress check-all \
        fuzz hardening-tools clean-hardening

# CI runs on a fresh machine: install what is missing (as root, Debian).
hardening-tools:
	@missing=; \
	 command -v $(PROVE) >/dev/null || missing="$$missing perl"; \
	 command -v $(VALGRIND) >/dev/null || missing="$$missing valgrind"; \
	 if [ -n "$$missing" ]; then \
	   echo "hardening: installing$$missing"; \
	   export DEBIAN_FRONTEND=noninteractive; \
	   apt-get update -qq && apt-get install -y -qq $$missing; \
	 fi

$(B)/asan:
	mkdir -p $@

$(B)/asan/%: c-tests/%.c c-tests/tap.h include/pidkit.h $(B)/$(SONAME) $(B)/libpidkit.so | $(B)/asan
	$(CC) $(TEST_CFLAGS) $(ASAN_CFLAGS) -o $@ $< $(TEST_LDFLAGS)

check-asan: $(ASAN_TESTS) | hardening-tools
	$(ASAN_ENV) $(PROVE) -f --exec '' $(ASAN_TESTS)

# One log per process (%p): forked children and daemons are checked too,
# not only the test processes whose exit status prove sees. The log
# directory is world-writable because test_faults drops children to nobody.
check-valgrind: $(C_TESTS) | hardening-tools
	@logs=$$(mktemp -d /tmp/pidkit-valgrind.XXXXXX) && chmod 1777 $$logs && \
	 echo "PIDKIT_TEST_QUICK=1 $(PROVE) -f --exec '$(VALGRIND) $(VALGRIND_FLAGS) --log-file=$$logs/%p.log' $(C_TESTS)"; \
	 PIDKIT_TEST_QUICK=1 $(PROVE) -f --exec "$(VALGRIND) $(VALGRIND_FLAGS) --log-file=$$logs/%p.log" $(C_TESTS); rc=$$?; \
	 bad=$$(grep -l 'ERROR SUMMARY: [1-9]' $$logs/*.log 2>/dev/null); \
	 for f in $$bad; do echo "== $$f"; grep -v -e '^==[0-9]*== *$$' -e 'Copyright' -e 'LibVEX' $$f; done; \
	 leaks=$$(cat $$logs/*.log | grep -c 'are definitely lost'); \
	 echo "check-valgrind: $$(ls $$logs | wc -l) processes checked; $$(echo $$bad | wc -w) with errors," \
	      "$$leaks definite leak records"; \
	 rm -rf $$logs; [ $$rc -eq 0 ] && [ -z "$$bad" ]

check-faults: $(B)/c-tests/test_faults $(B)/c-tests/test_seccomp | hardening-tools
	$(PROVE) -f --exec '' $^

OLDKERNEL_TESTS := $(filter-out $(B)/c-tests/test_seccomp,$(C_TESTS))

check-oldkernel: $(B)/c-tests/test_seccomp $(OLDKERNEL_TESTS) | hardening-tools
	$(PROVE) -f --exec '$(CURDIR)/$(B)/c-tests/test_seccomp --old-kernel --' $(OLDKERNEL_TESTS)

# Containers run us in a pid namespace: what /proc shows there differs
# (sid/pgid 0 for leaders outside, locks missing from /proc/locks). Skipped,
# and says so, where a pid namespace cannot be made (not root, no unshare).
check-pidns: $(C_TESTS) $(CLI) $(B)/$(SONAME) | hardening-tools
	@if ! unshare --pid --fork --mount-proc true 2>/dev/null; then \
	   echo "check-pidns: SKIP, cannot create a pid namespace here (needs root and unshare)"; exit 0; \
	 fi; \
	 echo "unshare --pid --fork --mount-proc $(MAKE) test-rust test-c check-cli check-python"; \
	 unshare --pid --fork --mount-proc $(MAKE) --no-print-directory test-rust test-c check-cli check-python

# $(B)/c-tests/stress is built by the Makefile's $(B)/c-tests/% rule.
stress: $(B)/c-tests/stress $(B)/c-tests/test_hostile | hardening-tools
	STRESS_ROUNDS=$(STRESS_ROUNDS) STRESS_CYCLES=$(STRESS_CYCLES) $(PROVE) -v -f --exec '' $(B)/c-tests/stress
	PIDKIT_RACE_SECONDS=$(RACE_SECONDS) $(PROVE) -v -f --exec '' $(B)/c-tests/test_hostile

check-stress: $(B)/c-tests/stress | hardening-tools
	STRESS_ROUNDS=50 STRESS_CYCLES=2000 $(PROVE) -f --exec '' $(B)/c-tests/stress

# Fuzzing (fuzz/README.md): nightly and cargo-fuzz, by hand only.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || { echo "make fuzz: needs cargo-fuzz (cargo install cargo-fuzz) and a nightly toolchain" >&2; exit 1; }
	cd fuzz && for t in pidfile_content proc_stat; do \
	  $(CARGO) +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 || exit 1; \
	done

check-all: check check-asan check-valgrind check-oldkernel check-pidns

clean-hardening:
	rm -rf $(B)/asan fuzz/target

# test_faults and test_seccomp are test_*.c: `make test-c` runs them already.
# Together these add about a minute to `make check` on 2 cores (stress 1 s,
# oldkernel 15 s, asan 10 s, valgrind 35 s).
CHECK_EXTRA += check-stress check-oldkernel check-pidns check-asan check-valgrind
CLEAN_EXTRA += clean-hardening
