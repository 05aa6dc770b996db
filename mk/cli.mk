# The `pidkit` command-line tool (tools/pidkit.c), its TAP test and a demo.
#
#   make                 also builds build/pidkit (runs from the build tree)
#   make check-cli       c-tests/cli.t through prove (part of `make check`)
#   make demo-cli        the main job: run --pidfile, status, a refused second
#                        start, ids, stop; a session of three process groups:
#                        ps -s, kill -9 -SID leaves two, pidkit kill --session
#   make install         installs $(BINDIR)/pidkit, relinked to find the
#                        library in $(LIBDIR) (CLI_INSTALL_RPATH= to drop that)

CLI               := $(B)/pidkit
CLI_INSTALL_RPATH ?= -Wl,-rpath,$(LIBDIR)

ALL_EXTRA     += $(CLI)
CHECK_EXTRA   += check-cli
INSTALL_EXTRA += install-cli

.PHONY: cli check-cli demo-cli install-cli uninstall-cli

cli: $(CLI)

$(CLI): tools/pidkit.c include/pidkit.h $(B)/$(SONAME) $(B)/libpidkit.so | $(B)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_LDFLAGS)

check-cli: $(CLI)
	PIDKIT=$(CURDIR)/$(CLI) prove -f --exec bash c-tests/cli.t

demo-cli: $(CLI)
	@PIDKIT=$(CURDIR)/$(CLI) bash tools/demo-cli.sh $(B)/demo-cli

# The build-tree binary's rpath points into build/: the installed one is
# linked again, every time (LIBDIR may differ from the last install), with
# the installed library's directory instead.
install-cli: tools/pidkit.c include/pidkit.h $(B)/$(SONAME) $(B)/libpidkit.so
	$(CC) $(TEST_CFLAGS) -o $(B)/pidkit.install tools/pidkit.c -L$(B) -lpidkit $(CLI_INSTALL_RPATH)
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(B)/pidkit.install $(DESTDIR)$(BINDIR)/pidkit

uninstall-cli:
	rm -f $(DESTDIR)$(BINDIR)/pidkit
UNINSTALL_EXTRA += uninstall-cli
