//! C ABI for spawning a program into its own session.

use super::{ffi_entry, member_ends, non_null, opt_c_str, read_opts, OptsStruct};
use crate::error::{Error, Result};
use crate::spawn::{self, Options};
use libc::pid_t;
use nix::errno::Errno;
use std::os::raw::c_char;

/// Look argv\[0\] up in PATH when it contains no '/': envp's PATH when envp
/// is given and sets one, else the caller's (as Rust's Command and Python's
/// subprocess do), else "/bin:/usr/bin". Resolved in the caller before any
/// fork; no /bin/sh fallback on ENOEXEC.
pub const PIDKIT_SPAWN_SEARCH_PATH: u32 = 1 << 0;
/// Keep the caller's working directory instead of `workdir` or "/".
pub const PIDKIT_SPAWN_KEEP_CWD: u32 = 1 << 1;
/// Keep the caller's descriptors 0, 1, 2 (the *_path members are ignored).
pub const PIDKIT_SPAWN_INHERIT_STDIO: u32 = 1 << 2;
/// One fork only: the program stays the caller's child, and the caller
/// reaps it with waitpid.
pub const PIDKIT_SPAWN_NO_DOUBLE_FORK: u32 = 1 << 3;

/// Keep the caller's stdin only (`stdin_path` is ignored); the other
/// streams follow their own flag or path. PIDKIT_SPAWN_INHERIT_STDIO is
/// the three INHERIT_STDIN/STDOUT/STDERR flags at once.
pub const PIDKIT_SPAWN_INHERIT_STDIN: u32 = 1 << 4;
/// Keep the caller's stdout only (`stdout_path` is ignored).
pub const PIDKIT_SPAWN_INHERIT_STDOUT: u32 = 1 << 5;
/// Keep the caller's stderr only (`stderr_path` is ignored).
pub const PIDKIT_SPAWN_INHERIT_STDERR: u32 = 1 << 6;

const SPAWN_FLAGS: u32 = PIDKIT_SPAWN_SEARCH_PATH
    | PIDKIT_SPAWN_KEEP_CWD
    | PIDKIT_SPAWN_INHERIT_STDIO
    | PIDKIT_SPAWN_NO_DOUBLE_FORK
    | PIDKIT_SPAWN_INHERIT_STDIN
    | PIDKIT_SPAWN_INHERIT_STDOUT
    | PIDKIT_SPAWN_INHERIT_STDERR;

/// Options for pidkit_spawn. Initialize with PIDKIT_SPAWN_OPTS_INIT; NULL
/// options mean all defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct pidkit_spawn_opts {
    /// sizeof(pidkit_spawn_opts) as the caller was compiled.
    pub size: u32,
    /// PIDKIT_SPAWN_* flags.
    pub flags: u32,
    /// The program's working directory; NULL = "/". Relative paths resolve
    /// against the caller's working directory at the time of the call.
    pub workdir: *const c_char,
    /// stdin file; NULL = /dev/null.
    pub stdin_path: *const c_char,
    /// stdout file, opened for append, created 0644; NULL = /dev/null.
    pub stdout_path: *const c_char,
    /// stderr file, opened for append, created 0644; NULL = /dev/null.
    pub stderr_path: *const c_char,
    /// A pidfile the program holds, locked and holding its pid, from
    /// before its first instruction; created as by pidkit_pidfile_acquire
    /// with default options. Released by the kernel when the program exits.
    pub pidfile: *const c_char,
    /// NULL, or where to store the pidfile's holder when pidkit_spawn
    /// returns -EEXIST (its pid, or 0 if it has not written one yet):
    /// learnt in the same call, so a caller need not ask
    /// pidkit_pidfile_check afterwards, when the holder may be gone.
    /// Written only on -EEXIST, untouched otherwise.
    pub holder: *mut pid_t,
}

// SAFETY: repr(C), starts with size and flags, valid when zeroed (NULL
// pointers), and the member list below is complete and in order.
unsafe impl OptsStruct for pidkit_spawn_opts {
    const NAME: &'static str = "pidkit_spawn_opts";
    const KNOWN_FLAGS: u32 = SPAWN_FLAGS;
    const MEMBER_ENDS: &'static [usize] = member_ends!(pidkit_spawn_opts;
        size: u32, flags: u32, workdir: *const c_char, stdin_path: *const c_char,
        stdout_path: *const c_char, stderr_path: *const c_char, pidfile: *const c_char,
        holder: *mut pid_t);
    fn flags(&self) -> u32 {
        self.flags
    }
}

/// Starts the program `argv[0]` with arguments `argv` (NULL-terminated) and
/// environment `envp` (NULL-terminated; NULL = the caller's) in a new
/// session, and returns its pid once its exec succeeded.
///
/// The program calls setsid() in its own process (after the last fork), so
/// it leads a new session (getsid(pid) == pid, unlike a detached daemon),
/// and it is no child of the caller (double fork), so killing the caller's
/// session or process group leaves it running, and no zombie is left
/// behind. Its stdio is /dev/null or the given files, every other
/// descriptor is closed (but the pidfile's), signal dispositions are reset
/// and all signals unblocked, and its working directory is "/" or
/// `workdir`.
///
/// Errors: the -errno of a failed exec (-ENOENT, -EACCES, -ENOEXEC, ...),
/// also when PATH lookup finds nothing; -EEXIST (with the holder in
/// pidkit_last_error(), and in `*opts->holder` when that member is set)
/// when its pidfile is held; -EINVAL for NULL argv
/// or argv[0] NULL, bad flags or options; -ENOENT for an empty argv[0]; -errno of opening a stdio file or the
/// workdir. On failure no process is left and the pidfile is removed.
///
/// Safe to call from a process with many threads: everything that
/// allocates happens before the first clone, and between it and exec only
/// async-signal-safe calls run (both levels use clone(CLONE_VM|CLONE_VFORK)
/// on stacks of their own, as posix_spawn does, with signals blocked).
///
/// # Safety
/// `argv` is NULL or a NULL-terminated array of NUL-terminated strings;
/// likewise `envp`; `opts` is NULL or points to `opts->size` readable bytes
/// whose string pointers are NULL or NUL-terminated strings, and whose
/// `holder` is NULL or points to a writable pid_t.
#[no_mangle]
pub unsafe extern "C" fn pidkit_spawn(
    argv: *const *const c_char,
    envp: *const *const c_char,
    opts: *const pidkit_spawn_opts,
) -> pid_t {
    ffi_entry!("pidkit_spawn", {
        non_null!("pidkit_spawn", argv);
        // SAFETY: per this function's contract.
        let o = unsafe { read_opts(opts) }?;
        // SAFETY: argv is a non-NULL, NULL-terminated array, per the contract.
        if unsafe { *argv }.is_null() {
            return Err(Error::new(
                Errno::EINVAL,
                "pidkit_spawn: argv is empty (argv[0] is NULL)",
            ));
        }
        let has = |f: u32| o.flags & f != 0;
        let options = Options {
            search_path: has(PIDKIT_SPAWN_SEARCH_PATH),
            keep_cwd: has(PIDKIT_SPAWN_KEEP_CWD),
            inherit_stdio: has(PIDKIT_SPAWN_INHERIT_STDIO),
            inherit_stdin: has(PIDKIT_SPAWN_INHERIT_STDIN),
            inherit_stdout: has(PIDKIT_SPAWN_INHERIT_STDOUT),
            inherit_stderr: has(PIDKIT_SPAWN_INHERIT_STDERR),
            no_double_fork: has(PIDKIT_SPAWN_NO_DOUBLE_FORK),
            // SAFETY: NULL or NUL-terminated, per the contract (each below too).
            workdir: unsafe { opt_c_str(o.workdir) },
            // SAFETY: as above.
            stdin_path: unsafe { opt_c_str(o.stdin_path) },
            // SAFETY: as above.
            stdout_path: unsafe { opt_c_str(o.stdout_path) },
            // SAFETY: as above.
            stderr_path: unsafe { opt_c_str(o.stderr_path) },
            // SAFETY: as above.
            pidfile: unsafe { opt_c_str(o.pidfile) },
        };
        // SAFETY: argv is non-empty and NULL-terminated, envp NULL or
        // NULL-terminated, both live for the call (the contract).
        let result: Result<pid_t> = unsafe { spawn::spawn_raw(argv, envp, &options) };
        result.inspect_err(|e| {
            if let (Errno::EEXIST, Some(pid), false) = (e.errno(), e.holder(), o.holder.is_null()) {
                // SAFETY: non-NULL and writable, per the contract.
                unsafe { o.holder.write(pid) };
            }
        })
    })
}
