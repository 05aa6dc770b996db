//! C ABI for detaching into a new session.

use super::pidfile::pidkit_pidfile;
use super::{ffi_entry, member_ends, opt_c_str, read_opts, OptsStruct};
use crate::detach::{self, Detached, Options};
use crate::error::Error;
use libc::pid_t;
use nix::errno::Errno;
use std::os::raw::{c_char, c_int};

/// The original returns as soon as the daemon exists (its pid is known and
/// written into the pidfile), without waiting for pidkit_detach_ready.
pub const PIDKIT_DETACH_NO_WAIT: u32 = 1 << 0;
/// The original _exit()s inside the call: 0 if the daemon reported ready,
/// 1 if not (daemon(3) style; stdio buffers are not flushed, as with
/// _exit). On failure a given pidfile is removed first. A failure found
/// before the first fork (bad options, other threads, a stdio file or
/// workdir that cannot be opened, fork itself) is returned as -errno
/// instead, as daemon(3) returns -1: no daemon exists then.
pub const PIDKIT_DETACH_EXIT_PARENT: u32 = 1 << 1;
/// One fork only: the daemon leads its session (getsid(0) == getpid()),
/// and stays the original's child.
pub const PIDKIT_DETACH_SINGLE_FORK: u32 = 1 << 2;
/// Keep the working directory instead of changing to `workdir` or "/".
pub const PIDKIT_DETACH_KEEP_CWD: u32 = 1 << 3;
/// Keep the caller's umask instead of setting `umask`.
pub const PIDKIT_DETACH_KEEP_UMASK: u32 = 1 << 4;
/// Leave descriptors 0, 1, 2 as they are (the *_path members are ignored).
pub const PIDKIT_DETACH_KEEP_STDIO: u32 = 1 << 5;
/// Close no descriptors (keep_fds is then irrelevant).
pub const PIDKIT_DETACH_KEEP_FDS: u32 = 1 << 6;
/// Detach even though other threads exist (only the calling thread lives
/// on in the daemon: the daemon must then call only async-signal-safe
/// functions until it execs, or know that no lock was held at the fork).
pub const PIDKIT_DETACH_ALLOW_THREADS: u32 = 1 << 7;

/// Under systemd (`$NOTIFY_SOCKET` set), leave NOTIFY_SOCKET in the
/// daemon's environment after pidkit_detach_ready sent READY=1. By default
/// it is unset so that the daemon's children do not inherit it, but only
/// while the daemon has one thread (see pidkit_detach_ready).
pub const PIDKIT_DETACH_KEEP_NOTIFY_SOCKET: u32 = 1 << 8;

const DETACH_FLAGS: u32 = PIDKIT_DETACH_KEEP_NOTIFY_SOCKET
    | PIDKIT_DETACH_NO_WAIT
    | PIDKIT_DETACH_EXIT_PARENT
    | PIDKIT_DETACH_SINGLE_FORK
    | PIDKIT_DETACH_KEEP_CWD
    | PIDKIT_DETACH_KEEP_UMASK
    | PIDKIT_DETACH_KEEP_STDIO
    | PIDKIT_DETACH_KEEP_FDS
    | PIDKIT_DETACH_ALLOW_THREADS;

/// Options for pidkit_detach. Initialize with PIDKIT_DETACH_OPTS_INIT;
/// NULL options mean all defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct pidkit_detach_opts {
    /// sizeof(pidkit_detach_opts) as the caller was compiled.
    pub size: u32,
    /// PIDKIT_DETACH_* flags.
    pub flags: u32,
    /// The daemon's working directory; NULL = "/". A relative path resolves
    /// against the caller's working directory at the time of the call.
    pub workdir: *const c_char,
    /// The daemon's umask, unless PIDKIT_DETACH_KEEP_UMASK; 0 by default.
    /// Stdio files are created before it is set, under the caller's umask.
    pub umask: u32,
    /// stdin file; NULL = /dev/null.
    pub stdin_path: *const c_char,
    /// stdout file, opened for append, created 0644; NULL = /dev/null.
    pub stdout_path: *const c_char,
    /// stderr file, opened for append, created 0644; NULL = /dev/null.
    pub stderr_path: *const c_char,
    /// Extra descriptors to keep open in the daemon (each must be open).
    pub keep_fds: *const c_int,
    /// Number of entries in keep_fds.
    pub n_keep_fds: u32,
    /// A pidfile from pidkit_pidfile_acquire, kept open in the daemon: the
    /// daemon's pid is written into it before the original returns, and the
    /// daemon becomes its owner.
    pub pidfile: *mut pidkit_pidfile,
}

// SAFETY: repr(C), starts with size and flags, valid when zeroed (NULL
// pointers), and the member list below is complete and in order.
unsafe impl OptsStruct for pidkit_detach_opts {
    const NAME: &'static str = "pidkit_detach_opts";
    const KNOWN_FLAGS: u32 = DETACH_FLAGS;
    const MEMBER_ENDS: &'static [usize] = member_ends!(pidkit_detach_opts;
        size: u32, flags: u32, workdir: *const c_char, umask: u32, stdin_path: *const c_char,
        stdout_path: *const c_char, stderr_path: *const c_char, keep_fds: *const c_int,
        n_keep_fds: u32, pidfile: *mut pidkit_pidfile);
    fn flags(&self) -> u32 {
        self.flags
    }
}

/// Turns the caller into a daemon the way systemd's daemon(7) describes:
/// fork, setsid, fork again (so the daemon can never acquire a controlling
/// terminal), stdin/stdout/stderr on /dev/null or the given files, every
/// other descriptor closed (close_range, never a loop to RLIMIT_NOFILE)
/// except keep_fds, the pidfile and the readiness channel, signal
/// dispositions reset to SIG_DFL and all signals unblocked, umask set,
/// working directory changed. Like fork it returns twice, in two processes.
///
/// In the daemon: 0. In the original process: the daemon's pid (> 0) once
/// the daemon called pidkit_detach_ready(0) (at once with
/// PIDKIT_DETACH_NO_WAIT); or -errno: the failure the daemon reported with
/// pidkit_detach_ready(-e), -ECHILD if it died before reporting, or why
/// detaching itself failed (a setup step in the forked processes -- setsid,
/// stdio, chdir, closing descriptors, the pidfile -- reports its exact
/// errno, names the step in pidkit_last_error(), and leaves no process
/// behind). With other threads running it refuses with -EBUSY unless
/// PIDKIT_DETACH_ALLOW_THREADS. Files (stdio, workdir) are opened before the
/// first fork, so a missing one fails in the original without forking.
/// The intermediate process is reaped: no zombie is left.
///
/// After success the original's copy of opts->pidfile is handed over:
/// releasing it there only closes it. After a failure the original still
/// owns the pidfile and its own pid is in it again.
///
/// # Safety
/// `opts` is NULL or points to `opts->size` readable bytes whose pointers
/// are NULL or valid (strings NUL-terminated, keep_fds with n_keep_fds
/// entries, pidfile a live handle not used by another thread).
#[no_mangle]
pub unsafe extern "C" fn pidkit_detach(opts: *const pidkit_detach_opts) -> pid_t {
    ffi_entry!("pidkit_detach", {
        // SAFETY: per this function's contract.
        let o = unsafe { read_opts(opts) }?;
        if o.n_keep_fds > 0 && o.keep_fds.is_null() {
            return Err(Error::new(
                Errno::EINVAL,
                "pidkit_detach: keep_fds is NULL but n_keep_fds > 0",
            ));
        }
        let keep_fds: &[c_int] = if o.n_keep_fds == 0 {
            &[]
        } else {
            // SAFETY: non-NULL with n_keep_fds entries, per the contract.
            unsafe { std::slice::from_raw_parts(o.keep_fds, o.n_keep_fds as usize) }
        };
        let has = |f: u32| o.flags & f != 0;
        let options = Options {
            no_wait: has(PIDKIT_DETACH_NO_WAIT),
            exit_parent: has(PIDKIT_DETACH_EXIT_PARENT),
            single_fork: has(PIDKIT_DETACH_SINGLE_FORK),
            keep_cwd: has(PIDKIT_DETACH_KEEP_CWD),
            keep_umask: has(PIDKIT_DETACH_KEEP_UMASK),
            keep_stdio: has(PIDKIT_DETACH_KEEP_STDIO),
            keep_all_fds: has(PIDKIT_DETACH_KEEP_FDS),
            allow_threads: has(PIDKIT_DETACH_ALLOW_THREADS),
            // SAFETY: NULL or NUL-terminated, per the contract.
            workdir: unsafe { opt_c_str(o.workdir) },
            umask: o.umask,
            // SAFETY: as above.
            stdin_path: unsafe { opt_c_str(o.stdin_path) },
            // SAFETY: as above.
            stdout_path: unsafe { opt_c_str(o.stdout_path) },
            // SAFETY: as above.
            stderr_path: unsafe { opt_c_str(o.stderr_path) },
            keep_fds,
            // SAFETY: NULL or a live handle used only by this thread.
            pidfile: unsafe { o.pidfile.as_mut() }.map(|pf| &mut pf.inner),
            keep_notify_socket: has(PIDKIT_DETACH_KEEP_NOTIFY_SOCKET),
        };
        match detach::detach(options)? {
            Detached::Daemon => Ok(0),
            Detached::Original(pid) => Ok(pid),
        }
    })
}

/// In the daemon: reports 0 (ready) or -errno (failed) to the original
/// process waiting in pidkit_detach. Once: later calls return -EALREADY; in
/// a process that pidkit_detach did not create (including a child the
/// daemon forked), -EINVAL; a positive status is -EINVAL. With
/// PIDKIT_DETACH_NO_WAIT, or when the original is gone, it returns 0
/// (nobody listens).
///
/// Under systemd (`$NOTIFY_SOCKET` set, e.g. `Type=notify` with
/// `NotifyAccess=all`), it also sends `READY=1\nMAINPID=<daemon pid>\n`
/// (on failure `ERRNO=<e>\n`) as one datagram to that AF_UNIX socket (a path
/// or an abstract `@name`). Then, unless PIDKIT_DETACH_KEEP_NOTIFY_SOCKET,
/// it unsets NOTIFY_SOCKET so that the daemon's children do not inherit it
/// -- but only when the calling thread is the daemon's only thread: with
/// other threads running, one of them may be inside getenv(3), and
/// unsetenv(3) under its feet is undefined behaviour, so NOTIFY_SOCKET then
/// stays set (unset it yourself before starting threads, or pass the
/// children an environment without it). The original process learns the
/// status even when that datagram cannot be sent; the send's -errno is
/// then returned here.
#[no_mangle]
pub extern "C" fn pidkit_detach_ready(status: c_int) -> c_int {
    ffi_entry!("pidkit_detach_ready", { detach::ready(status).map(|()| 0) })
}
