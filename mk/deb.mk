# deb.mk - Debian packages from debian/ (libpidkit0, libpidkit-dev,
# pidkit-tools). Not part of `make check`, except the cheap
# check-deb-symbols.
#
#   make deb                deb-tools, deb-build, deb-lint, deb-test, and the time taken
#   make deb-build          dpkg-buildpackage -us -uc -b -d on a clean copy of the tree in
#                           $(DEB_DIR)/src; the .debs land in $(DEB_DIR)
#   make deb-lint           lintian on the .changes; errors fail, warnings are shown
#   make deb-test           apt-get installs the three .debs, runs debian/tests/build-and-run
#                           (a pkg-config build against the system install, `pidkit version`,
#                           man -w), then removes them again (needs root)
#   make deb-symbols        regenerate debian/libpidkit0.symbols from $(B)/$(SONAME)
#   make check-deb-symbols  fail when debian/libpidkit0.symbols is stale (in `make check`)
#
# DEB_SOURCE=worktree (default) copies the files git knows or would add (tracked and
# untracked, not ignored: uncommitted work included, build output not); DEB_SOURCE=head
# builds `git archive HEAD`, exactly what a clean clone holds.
# -d: the Rust toolchain is rustup's (~/.cargo/bin), not Debian's rustc, which is too
# old (see debian/README.source), so Build-Depends are not checked.
# deb-tools installs what is missing with apt-get (as root, Debian).

DEB_DIR      := $(B)/deb
DEB_SOURCE   ?= worktree
DEB_VERSION   = $(shell dpkg-parsechangelog -l debian/changelog -S Version)
DEB_ARCH      = $(shell dpkg --print-architecture)
DEB_PACKAGES := libpidkit0 libpidkit-dev pidkit-tools
DEB_APT      := dpkg-dev debhelper lintian build-essential pkg-config man-db
# initial-upload-closes-no-bugs: these packages are built from upstream's tree, not
# uploaded to the archive, so there is no ITP bug to close.
LINTIAN_ARGS ?= --fail-on error --display-level '>=warning' --suppress-tags initial-upload-closes-no-bugs

CHECK_EXTRA += check-deb-symbols
CLEAN_EXTRA += clean-deb

.PHONY: deb deb-tools deb-build deb-lint deb-test deb-symbols check-deb-symbols clean-deb

deb:
	@start=$$(date +%s); \
	 $(MAKE) --no-print-directory deb-tools && \
	 $(MAKE) --no-print-directory deb-build && \
	 $(MAKE) --no-print-directory deb-lint && \
	 $(MAKE) --no-print-directory deb-test && \
	 echo "deb: built, linted, installed, tested and removed in $$(( $$(date +%s) - start )) s"

deb-tools:
	@need=; for p in $(DEB_APT); do \
	   case "$$(dpkg-query -W -f='$${Status}' $$p 2>/dev/null)" in *" installed") ;; *) need="$$need $$p" ;; esac; \
	 done; \
	 if [ -n "$$need" ]; then \
	   echo "deb: installing$$need"; \
	   export DEBIAN_FRONTEND=noninteractive; \
	   apt-get update -qq && apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	 fi

deb-build:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	@if [ "$(DEB_SOURCE)" = head ]; then \
	   git archive --format=tar HEAD | tar -x -C $(DEB_DIR)/src; \
	 elif git rev-parse --git-dir >/dev/null 2>&1; then \
	   git ls-files -z -c -o --exclude-standard | xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' _ \
	     | tar --null -T - -c | tar -x -C $(DEB_DIR)/src; \
	 else \
	   tar -c --exclude=./$(B) --exclude=./target --exclude=./.tools --exclude=./.git . | tar -x -C $(DEB_DIR)/src; \
	 fi
	@test -f $(DEB_DIR)/src/debian/control || { echo "deb: no debian/ in the $(DEB_SOURCE) copy (DEB_SOURCE=head needs it committed)" >&2; exit 1; }
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b -d
	@ls -1 $(DEB_DIR)/*.deb

deb-lint:
	lintian $(LINTIAN_ARGS) $(DEB_DIR)/pidkit_$(DEB_VERSION)_$(DEB_ARCH).changes
	@echo "deb-lint: no lintian errors"

# Leaves the machine as it found it: the packages are removed (purged) even
# when the test fails.
deb-test:
	@debs=; for p in $(DEB_PACKAGES); do debs="$$debs ./$(DEB_DIR)/$${p}_$(DEB_VERSION)_$(DEB_ARCH).deb"; done; \
	 export DEBIAN_FRONTEND=noninteractive; \
	 trap 'apt-get purge -y -qq $(DEB_PACKAGES) >/dev/null && echo "deb-test: removed $(DEB_PACKAGES)"' EXIT; \
	 apt-get install -y -qq --no-install-recommends $$debs >/dev/null && \
	 echo "deb-test: installed $(DEB_PACKAGES) $(DEB_VERSION)" && \
	 sh debian/tests/build-and-run

deb-symbols: $(B)/$(SONAME)
	debian/gen-symbols $(B)/$(SONAME) debian/libpidkit0.symbols > $(B)/libpidkit0.symbols
	mv $(B)/libpidkit0.symbols debian/libpidkit0.symbols

check-deb-symbols: $(B)/$(SONAME)
	@debian/gen-symbols $(B)/$(SONAME) debian/libpidkit0.symbols > $(B)/libpidkit0.symbols
	@diff -u debian/libpidkit0.symbols $(B)/libpidkit0.symbols || \
	  { echo "debian/libpidkit0.symbols is stale: run 'make deb-symbols' and commit it" >&2; exit 1; }
	@echo "check-deb-symbols: debian/libpidkit0.symbols lists the $$(grep -c '^ pidkit_' debian/libpidkit0.symbols) exported functions"

clean-deb:
	rm -rf $(DEB_DIR)
