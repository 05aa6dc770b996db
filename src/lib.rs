//! pidkit: the process plumbing every daemon and supervisor re-implements,
//! done once and exactly.
//!
//! - [`pidfile`]: a pidfile as a single-instance lock (`flock(2)`-based,
//!   stale-safe, never fooled by a recycled pid, never follows a symlink);
//! - [`detach`]: turn the caller into a daemon as systemd's daemon(7)
//!   describes and tell the original process whether it came up;
//! - [`spawn`]: start a program in its own session and know at once
//!   whether its exec succeeded;
//! - [`ids`]: pid, ppid, tid, pgid, sid, liveness, and a parsed
//!   `/proc/PID/stat` row;
//! - [`procs`]: process handles pinned by a pidfd ([`Process`]), one-pass
//!   listings of /proc ([`processes`]), and signalling a whole session,
//!   process group or tree without ever hitting a recycled pid ([`kill`]);
//! - [`notify`]: systemd's readiness protocol (sd_notify) without libsystemd.
//!
//! The modules above are safe Rust and know nothing of C; `ffi` (private:
//! its functions are the C ABI, not part of the Rust API) is the thin
//! `extern "C"` shell that turns their `Result`s into `-errno` plus a
//! message in `pidkit_last_error()`, as the contract in docs/API.md (and
//! the generated include/pidkit.h) specifies. `child` (private) holds the
//! code that runs in forked processes, before exec or the daemon's return.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod child;
pub mod detach;
pub mod error;
mod ffi;
pub mod ids;
pub mod notify;
pub mod pidfile;
pub mod procs;
pub mod spawn;
mod path;
mod sys;

pub use error::{Error, Result};
pub use ids::{proc_info, ProcInfo};
pub use pidfile::Pidfile;
pub use procs::{kill, processes, Filter, KillOptions, KillReport, Process};
pub use spawn::Spawn;

/// Major version of the library; with MINOR and PATCH it is what
/// pidkit_version() returns as "MAJOR.MINOR.PATCH".
pub const PIDKIT_VERSION_MAJOR: u32 = 0;
/// Minor version of the library.
pub const PIDKIT_VERSION_MINOR: u32 = 1;
/// Patch version of the library.
pub const PIDKIT_VERSION_PATCH: u32 = 0;

/// The library version, "MAJOR.MINOR.PATCH", as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    #[test]
    fn version_macros_match_cargo_toml() {
        assert_eq!(
            super::PIDKIT_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            super::PIDKIT_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            super::PIDKIT_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
    }
}
