# pidkit - build, test and install.
#
#   make            release build: build/libpidkit.so.0 (+ .so link), build/libpidkit.a,
#                   build/pidkit.pc, the C tests and examples
#   make demo       build and run the example (a `ps xao comm,pid,ppid,pgid,sid`-like listing)
#   make check      cargo test + C tests (prove) + header, ABI and symbol checks
#   make header     regenerate include/pidkit.h with cbindgen
#   make install    PREFIX=/usr/local DESTDIR=
#
# cbindgen 0.29.4 is the header generator; if it is not on PATH at that exact
# version, it is installed once into .tools/ with `cargo install --locked`.

CARGO      ?= cargo
CC         ?= cc
CXX        ?= c++
PREFIX     ?= /usr/local
DESTDIR    ?=
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin

VERSION    := $(shell sed -n 's/^version = "\([^"]*\)"/\1/p' Cargo.toml | head -n1)
SONAME     := libpidkit.so.0
B          := build
RUST_A     := target/release/libpidkit.a
# What rustc's `--print native-static-libs` lists for the staticlib.
NATIVE_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

CBINDGEN_VERSION := 0.29.4
CBINDGEN := $(shell v=$$(cbindgen --version 2>/dev/null); [ "$$v" = "cbindgen $(CBINDGEN_VERSION)" ] && command -v cbindgen || echo $(CURDIR)/.tools/bin/cbindgen)

WARN       := -Wall -Wextra -Werror
TEST_CFLAGS ?= -O1 -g $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude
TEST_LDFLAGS = -L$(B) -lpidkit -Wl,-rpath,$(CURDIR)/$(B) -lpthread

C_TESTS    := $(patsubst c-tests/%.c,$(B)/c-tests/%,$(wildcard c-tests/test_*.c))
EXAMPLES   := $(patsubst examples/%.c,$(B)/examples/%,$(wildcard examples/*.c))

.DEFAULT_GOAL := all

# Fragments in mk/*.mk add their own targets and append to these:
#   ALL_EXTRA    built by `make`           CHECK_EXTRA  run by `make check`
#   INSTALL_EXTRA run by `make install`    CLEAN_EXTRA  run by `make clean`
#   UNINSTALL_EXTRA run by `make uninstall`
ALL_EXTRA     ?=
CHECK_EXTRA   ?=
INSTALL_EXTRA ?=
CLEAN_EXTRA   ?=
UNINSTALL_EXTRA ?=
-include $(sort $(wildcard mk/*.mk))

.PHONY: all lib cargo-build header check-header check check-symbols check-cxx check-install check-tools \
        c-tests test-c test-rust demo install uninstall clean

all: lib $(C_TESTS) $(EXAMPLES) $(ALL_EXTRA)

lib: $(B)/$(SONAME) $(B)/libpidkit.so $(B)/libpidkit.a $(B)/pidkit.pc

cargo-build:
	$(CARGO) build --release --quiet

# Rebuilt from its sources (a phony prerequisite with no recipe would leave
# make comparing the archive's old timestamp: the first `make` after an edit
# would not relink the shared object).
RUST_SRC := Cargo.toml Cargo.lock build.rs $(shell find src -name '*.rs')
$(RUST_A): $(RUST_SRC)
	$(CARGO) build --release --quiet
	@touch $@

# The shared object is linked from the staticlib so that it gets a SONAME
# and the PIDKIT_0.1 symbol version (rustc's generated version script for
# a cdylib cannot be combined with one of ours). -u pulls in each function the header declares
# function; --gc-sections drops what none of them reaches.
$(B)/$(SONAME): $(RUST_A) pidkit.map include/pidkit.h | $(B)
	syms=$$(grep -o '\bpidkit_[a-z0-9_]*(' include/pidkit.h | tr -d '(' | sort -u | sed 's/^/-Wl,-u,/'); \
	$(CC) -shared -o $@.tmp -Wl,-soname,$(SONAME) -Wl,--version-script=pidkit.map \
	  -Wl,--gc-sections -Wl,-z,relro,-z,now,-z,noexecstack $$syms $(RUST_A) $(NATIVE_LIBS)
	mv $@.tmp $@

$(B)/libpidkit.so: | $(B)
	ln -sf $(SONAME) $@

$(B)/libpidkit.a: $(RUST_A) | $(B)
	cp $(RUST_A) $@

$(B)/pidkit.pc: pidkit.pc.in Cargo.toml | $(B)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' -e 's|@NATIVE_LIBS@|$(NATIVE_LIBS)|g' $< > $@

$(B) $(B)/c-tests $(B)/examples:
	mkdir -p $@

$(B)/c-tests/%: c-tests/%.c c-tests/tap.h include/pidkit.h $(B)/$(SONAME) $(B)/libpidkit.so | $(B)/c-tests
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_LDFLAGS)

$(B)/examples/%: examples/%.c include/pidkit.h $(B)/$(SONAME) $(B)/libpidkit.so | $(B)/examples
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_LDFLAGS)

c-tests: $(C_TESTS)

$(CURDIR)/.tools/bin/cbindgen:
	$(CARGO) install --locked --quiet cbindgen --version $(CBINDGEN_VERSION) --root $(CURDIR)/.tools

header: $(CBINDGEN)
	$(CBINDGEN) --quiet --config cbindgen.toml --crate pidkit --output include/pidkit.h

check-header: $(CBINDGEN) | $(B)
	$(CBINDGEN) --quiet --config cbindgen.toml --crate pidkit --output $(B)/pidkit.h.fresh
	@diff -u include/pidkit.h $(B)/pidkit.h.fresh || { echo "include/pidkit.h is stale: run 'make header' and commit it" >&2; exit 1; }

# The header compiles cleanly as C99 and as C++11, and the shared object
# exports nothing but pidkit_* (plus the version node).
check-cxx: include/pidkit.h c-tests/header_check.c | $(B)
	$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -c c-tests/header_check.c -o $(B)/header_c.o
	$(CXX) -x c++ -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -c c-tests/header_check.c -o $(B)/header_cxx.o
	@echo "check-cxx: include/pidkit.h is clean C99 and C++11"

check-symbols: $(B)/$(SONAME)
	@readelf -d $(B)/$(SONAME) | grep -q 'SONAME.*\[$(SONAME)\]' || { echo "SONAME is not $(SONAME)" >&2; exit 1; }
	@bad=$$(nm -D --defined-only $(B)/$(SONAME) | awk '{ print $$3 }' | grep -v -e '^pidkit_' -e '^PIDKIT_0\.1$$'); \
	 if [ -n "$$bad" ]; then echo "exported symbols outside pidkit_*: $$bad" >&2; exit 1; fi
	@echo "check-symbols: only pidkit_* exported, SONAME $(SONAME)"

test-rust:
	$(CARGO) test --release --quiet

test-c: $(C_TESTS) | check-tools
	prove -f --exec '' $(C_TESTS)

# pkg-config and prove, installed with apt-get when missing and we are root
# on Debian (a fresh machine running `make check`).
check-tools:
	@need=; command -v pkg-config >/dev/null || need="$$need pkg-config"; \
	 command -v prove >/dev/null || need="$$need perl"; \
	 if [ -n "$$need" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	   echo "check: installing$$need"; export DEBIAN_FRONTEND=noninteractive; \
	   apt-get update -qq && apt-get install -y -qq$$need >/dev/null; \
	 fi

# Installs into a staging prefix and builds the demo with pkg-config
# against it, shared and static, as a user of the installed library would.
check-install: lib check-tools
	rm -rf $(B)/stage
	$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/$(B)/stage >/dev/null
	test -L $(B)/stage/lib/libpidkit.so -a -f $(B)/stage/lib/$(SONAME) -a -f $(B)/stage/lib/libpidkit.a
	test -f $(B)/stage/include/pidkit.h -a -f $(B)/stage/lib/pkgconfig/pidkit.pc
	PKG_CONFIG_PATH=$(B)/stage/lib/pkgconfig; export PKG_CONFIG_PATH; \
	$(CC) -o $(B)/stage/ps-shared examples/ps.c $$(pkg-config --cflags --libs pidkit) -Wl,-rpath,$(CURDIR)/$(B)/stage/lib && \
	$(CC) -o $(B)/stage/ps-static examples/ps.c $$(pkg-config --cflags pidkit) $(B)/stage/lib/libpidkit.a $$(pkg-config --libs-only-l --static pidkit | sed 's/-lpidkit//') && \
	$(B)/stage/ps-shared $$$$ >/dev/null && $(B)/stage/ps-static $$$$ >/dev/null && \
	readelf -d $(B)/stage/ps-shared | grep -q 'NEEDED.*\[$(SONAME)\]'
	@echo "check-install: layout ok; shared and static pkg-config builds run"

# test-c last: its prove summary closes the output.
check: all check-header check-cxx check-symbols check-install test-rust $(CHECK_EXTRA) test-c

# The main job through the CLI (run --pidfile, status, a refused second
# start, ids, stop), then a `ps xao comm,pid,ppid,pgid,sid`-like listing of
# init and this shell through the C API.
demo: all
	@$(MAKE) --no-print-directory demo-cli
	@echo; echo "== examples/ps: init and this shell through pidkit_proc_info_get"
	@$(B)/examples/ps 1 $$$$

install: lib $(INSTALL_EXTRA)
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 0644 include/pidkit.h $(DESTDIR)$(INCLUDEDIR)/pidkit.h
	install -m 0755 $(B)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libpidkit.so
	install -m 0644 $(B)/libpidkit.a $(DESTDIR)$(LIBDIR)/libpidkit.a
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' -e 's|@NATIVE_LIBS@|$(NATIVE_LIBS)|g' pidkit.pc.in \
	    > $(DESTDIR)$(LIBDIR)/pkgconfig/pidkit.pc

uninstall: $(UNINSTALL_EXTRA)
	rm -f $(DESTDIR)$(INCLUDEDIR)/pidkit.h $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libpidkit.so \
	      $(DESTDIR)$(LIBDIR)/libpidkit.a $(DESTDIR)$(LIBDIR)/pkgconfig/pidkit.pc

clean: $(CLEAN_EXTRA)
	rm -rf $(B)
	$(CARGO) clean
