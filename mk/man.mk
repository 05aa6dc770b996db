# man.mk - the manual pages in man/ (plain roff, man(7) macros: nothing is
# generated, nothing needs installing to build them).
#
#   make check-man     lint every page (mandoc -T lint -W warning, and groff
#                      through man --warnings), check that every exported
#                      symbol has a page and every header macro is documented,
#                      compile the EXAMPLES programs (part of `make check`)
#   make install-man   install into $(DESTDIR)$(MANDIR)/man{1,3,7} (part of
#                      `make install`)
#   make uninstall-man
#
# check-man installs mandoc with apt-get when it is missing and the build runs
# as root on Debian (CI's fresh machine); MAN_INSTALL_TOOLS=no prevents that,
# and without mandoc groff alone lints the pages.

MANDIR            ?= $(PREFIX)/share/man
MAN_INSTALL_TOOLS ?= yes
MAN_PAGES         := $(sort $(wildcard man/man1/*.1 man/man3/*.3 man/man7/*.7))

CHECK_EXTRA   += check-man
INSTALL_EXTRA += install-man
CLEAN_EXTRA   += clean-man

.PHONY: check-man man-tools install-man uninstall-man clean-man

man-tools:
	@if ! command -v mandoc >/dev/null 2>&1 && [ "$(MAN_INSTALL_TOOLS)" = yes ] && \
	    [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	   echo "check-man: installing mandoc"; \
	   { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq mandoc >/dev/null; } \
	     || echo "check-man: WARNING: could not install mandoc; linting with groff only" >&2; \
	 fi

MAN_CLI := $(if $(wildcard tools/pidkit.c),$(B)/pidkit)

check-man: $(B)/$(SONAME) $(B)/libpidkit.so include/pidkit.h $(MAN_CLI) | man-tools
	@CC="$(CC)" sh man/check-man.sh $(B)/$(SONAME) include/pidkit.h $(VERSION) $(B)/man-examples $(MAN_CLI)

install-man:
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 0644 $(filter man/man1/%,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(filter man/man3/%,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man3/
	install -m 0644 $(filter man/man7/%,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man7/

uninstall-man:
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/%,$(MAN_PAGES))

clean-man:
	rm -rf $(B)/man-examples
