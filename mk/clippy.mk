# clippy, part of `make check`.
#
#   make check-clippy    cargo clippy over the crate. The lints that src/child.rs
#                        denies (no indexing or slicing that can panic, no
#                        unwrap/expect/panic in the code that runs between fork
#                        and exec) fail the build; other clippy warnings are
#                        shown but do not. Without cargo-clippy it is added with
#                        rustup when rustup is there, else skipped with a message.

CHECK_EXTRA += check-clippy

.PHONY: check-clippy

check-clippy:
	@if ! $(CARGO) clippy --version >/dev/null 2>&1 && command -v rustup >/dev/null; then \
	   echo "check-clippy: installing clippy with rustup"; rustup component add clippy >/dev/null 2>&1 || true; \
	 fi; \
	 if ! $(CARGO) clippy --version >/dev/null 2>&1; then \
	   echo "check-clippy: skipped: cargo clippy is not installed (and rustup could not add it)"; exit 0; \
	 fi; \
	 $(CARGO) clippy --release --quiet --lib && echo "check-clippy: src/child.rs's deny lints hold"
