//! C ABI for pidfiles.

use super::{c_str, ffi_entry, member_ends, non_null, read_opts, OptsStruct};
use crate::error::{Error, Result};
use crate::pidfile::{self, Options, Pidfile, Wait};
use libc::pid_t;
use nix::errno::Errno;
use std::os::raw::{c_char, c_int};
use std::time::Duration;

/// Lock now, write the pid later with pidkit_pidfile_write. Until then a
/// contender's *holder is 0 (a stale file's old pid is truncated away).
pub const PIDKIT_PIDFILE_NO_WRITE: u32 = 1 << 0;
/// Wait for the holder to go instead of failing with -EEXIST, for at most
/// `timeout_ms` (-1 = forever), then -ETIMEDOUT. 0 (the default) tries
/// once and fails with -EEXIST, as without the flag.
pub const PIDKIT_PIDFILE_WAIT: u32 = 1 << 1;
/// Keep the descriptor, and so the lock, across exec (no O_CLOEXEC).
pub const PIDKIT_PIDFILE_INHERIT: u32 = 1 << 2;
/// pidkit_pidfile_release unlocks but does not remove the file.
pub const PIDKIT_PIDFILE_KEEP_FILE: u32 = 1 << 3;
/// -EPERM for a file that is world-writable or owned by neither the
/// caller's euid nor root, or whose parent directory is world-writable
/// without the sticky bit (checked before anything is created); the message
/// says which check failed. A world-writable `mode` is refused too, and so
/// is a path with a directory component that is a symbolic link owned by
/// neither the caller's euid nor root (O_NOFOLLOW guards only the last
/// component).
pub const PIDKIT_PIDFILE_STRICT: u32 = 1 << 4;

const PIDFILE_FLAGS: u32 = PIDKIT_PIDFILE_NO_WRITE
    | PIDKIT_PIDFILE_WAIT
    | PIDKIT_PIDFILE_INHERIT
    | PIDKIT_PIDFILE_KEEP_FILE
    | PIDKIT_PIDFILE_STRICT;

/// Options for pidkit_pidfile_acquire. Initialize with
/// PIDKIT_PIDFILE_OPTS_INIT; NULL options mean all defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct pidkit_pidfile_opts {
    /// sizeof(pidkit_pidfile_opts) as the caller was compiled.
    pub size: u32,
    /// PIDKIT_PIDFILE_* flags.
    pub flags: u32,
    /// Permissions of a new file (the caller's umask applies); 0 = 0644;
    /// bits outside 0777 are -EINVAL.
    pub mode: u32,
    /// With PIDKIT_PIDFILE_WAIT: milliseconds to wait, -1 = forever, 0 = try
    /// once (-EEXIST, as without the flag); other negative values -EINVAL.
    pub timeout_ms: i32,
}

// SAFETY: repr(C), starts with size and flags, valid when zeroed, and the
// member list below is complete and in order.
unsafe impl OptsStruct for pidkit_pidfile_opts {
    const NAME: &'static str = "pidkit_pidfile_opts";
    const KNOWN_FLAGS: u32 = PIDFILE_FLAGS;
    const MEMBER_ENDS: &'static [usize] =
        member_ends!(pidkit_pidfile_opts; size: u32, flags: u32, mode: u32, timeout_ms: i32);
    fn flags(&self) -> u32 {
        self.flags
    }
}

impl pidkit_pidfile_opts {
    fn to_core(self) -> Result<Options> {
        let has = |f: u32| self.flags & f != 0;
        let wait = if !has(PIDKIT_PIDFILE_WAIT) {
            Wait::No
        } else {
            match self.timeout_ms {
                -1 => Wait::Forever,
                0 => Wait::No,
                t if t > 0 => Wait::For(Duration::from_millis(t as u64)),
                t => {
                    return Err(Error::new(
                        Errno::EINVAL,
                        format!("pidkit_pidfile_opts: timeout_ms {t} (use -1 to wait forever)"),
                    ))
                }
            }
        };
        Ok(Options {
            write_pid: !has(PIDKIT_PIDFILE_NO_WRITE),
            wait,
            inherit: has(PIDKIT_PIDFILE_INHERIT),
            keep_file: has(PIDKIT_PIDFILE_KEEP_FILE),
            strict: has(PIDKIT_PIDFILE_STRICT),
            mode: if self.mode == 0 { 0o644 } else { self.mode },
        })
    }
}

/// An acquired pidfile: the open, flock-locked file. Opaque.
#[allow(non_camel_case_types)]
pub struct pidkit_pidfile {
    pub(crate) inner: Pidfile,
}

/// Acquires the pidfile at `path` as a single-instance lock and, unless
/// PIDKIT_PIDFILE_NO_WRITE, writes the caller's pid into it ("PID\n").
///
/// Returns 0 and sets `*out` to a handle the caller releases with
/// pidkit_pidfile_release. Errors:
/// - -EEXIST: another live process holds it; `*holder` (if not NULL) = the
///   pid in the file (0 if none is written yet; during a takeover it may
///   briefly still be the previous owner's).
/// - -ELOOP: `path` is a symbolic link (never followed).
/// - -EINVAL: `path` names a directory, FIFO, socket or device (never
///   blocks), bad flags or options, NULL `path` or `out`.
/// - -ETIMEDOUT: PIDKIT_PIDFILE_WAIT ran out of time; `*holder` as for -EEXIST.
/// - -EPERM: a PIDKIT_PIDFILE_STRICT check failed; or, in any mode, a
///   symbolic link on the directory part of `path` is owned by neither root
///   nor the caller's euid, or lies in a directory that another user can
///   write (it may lead anywhere: nothing behind it is created or changed);
///   or the file has more than one hard link (another name of it may be
///   someone else's file: nothing is written).
/// - other -errno from the system (-EACCES, -ENOSPC, -EROFS, -EMFILE, ...).
///
/// A stale file (exists, not locked: its owner died) is taken over,
/// whatever pid it names. Nothing at the path is modified before the lock
/// is held, so on any failure a held file keeps its content; a failed write
/// removes the file rather than leave one that claims a dead owner.
///
/// Hostile paths: the directory part of `path` is resolved once (a link on
/// it followed only when root or the caller's euid owns it and no other
/// user can write the directory holding it, e.g. /var/run -> /run), and the
/// handle keeps that directory's descriptor (close-on-exec) beside the
/// pidfile's: every later step (the re-check after the lock, the hard-link
/// count, release's unlink) works relative to it, so renaming, replacing
/// or swapping a directory on the path, before or while the handle is
/// held, never makes pidkit create, truncate, write or remove a file
/// outside the directory in which it opened the pidfile.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `opts` is NULL or points to
/// `opts->size` readable bytes; `out` and `holder` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pidkit_pidfile_acquire(
    path: *const c_char,
    opts: *const pidkit_pidfile_opts,
    out: *mut *mut pidkit_pidfile,
    holder: *mut pid_t,
) -> c_int {
    ffi_entry!("pidkit_pidfile_acquire", {
        // SAFETY: per this function's contract.
        let path = unsafe { c_str("pidkit_pidfile_acquire", "path", path) }?;
        non_null!("pidkit_pidfile_acquire", out);
        // SAFETY: per this function's contract.
        let opts = unsafe { read_opts(opts) }?.to_core()?;
        let inner = pidfile::acquire(path, &opts).inspect_err(|e| {
            if let (Some(h), false) = (e.holder(), holder.is_null()) {
                // SAFETY: holder is non-NULL and writable (the contract);
                // written only on the documented -EEXIST / -ETIMEDOUT.
                unsafe { *holder = h };
            }
        })?;
        // SAFETY: out is non-NULL and writable.
        unsafe { *out = Box::into_raw(Box::new(pidkit_pidfile { inner })) };
        Ok(0)
    })
}

/// (Re)writes the calling process's pid into the pidfile and makes the
/// calling process its owner (the one whose release removes the file): for
/// PIDKIT_PIDFILE_NO_WRITE, or a forked child taking over. The file is
/// truncated, then the pid written with one write, so a reader sees either
/// nothing or the whole pid. -EINVAL for NULL.
///
/// # Safety
/// `pf` is NULL or a live handle from pidkit_pidfile_acquire.
#[no_mangle]
pub unsafe extern "C" fn pidkit_pidfile_write(pf: *mut pidkit_pidfile) -> c_int {
    ffi_entry!("pidkit_pidfile_write", {
        non_null!("pidkit_pidfile_write", pf);
        // SAFETY: non-NULL live handle, used by one thread at a time.
        unsafe { &mut *pf }.inner.write().map(|()| 0)
    })
}

/// Removes the file if the calling process owns the handle and the path
/// still names the locked file, then unlocks, closes and frees the handle.
/// A forked child that did not take ownership (see pidkit_pidfile_write)
/// only closes its copy and never unlocks the owner's lock; so does the
/// former owner after a forked child took over with pidkit_pidfile_write,
/// and the original process after pidkit_detach handed the pidfile to the
/// daemon. The handle is freed even when an error is returned (e.g. the
/// unlink failed). NULL -> 0.
///
/// # Safety
/// `pf` is NULL or a live handle from pidkit_pidfile_acquire, not used again.
#[no_mangle]
pub unsafe extern "C" fn pidkit_pidfile_release(pf: *mut pidkit_pidfile) -> c_int {
    ffi_entry!("pidkit_pidfile_release", {
        if pf.is_null() {
            return Ok(0);
        }
        // SAFETY: a handle made by Box::into_raw in pidkit_pidfile_acquire,
        // ownership handed back by the caller.
        let pf = unsafe { Box::from_raw(pf) };
        pf.inner.release().map(|()| 0)
    })
}

/// The locked descriptor (owned by the handle: do not close it). -EINVAL
/// for NULL.
///
/// # Safety
/// `pf` is NULL or a live handle from pidkit_pidfile_acquire.
#[no_mangle]
pub unsafe extern "C" fn pidkit_pidfile_fd(pf: *const pidkit_pidfile) -> c_int {
    ffi_entry!("pidkit_pidfile_fd", {
        non_null!("pidkit_pidfile_fd", pf);
        // SAFETY: non-NULL live handle.
        Ok(unsafe { &*pf }.inner.fd())
    })
}

/// 1: the pidfile is held by a live process (`*holder` = its pid, 0 if it
/// has not written it yet, and 0 when the pid written in the file is not a
/// process that carries the lock, as far as /proc lets the caller see: a
/// holder may write any pid into its file, and `kill $(pidkit status f)`
/// must not reach a bystander); 0: not held (absent or stale). A pid written in
/// a stale file never makes it "held", however alive that pid is. Never
/// creates, changes or removes anything: a non-blocking shared lock, dropped
/// at once, tells whether an exclusive one is held (a concurrent acquire
/// that meets this probe retries instead of failing; /proc/locks would not
/// do: in a container it leaves out the lock a daemon inherited from the
/// process that detached it). -ELOOP for a
/// symlink, -EINVAL for a non-regular file or NULL `path`, -EPERM for a
/// link on the directory part that is not followed, or a file with more
/// than one hard link (as for acquire: another name may make it someone
/// else's file, whose holder must not be named or signalled).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `holder` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pidkit_pidfile_check(path: *const c_char, holder: *mut pid_t) -> c_int {
    ffi_entry!("pidkit_pidfile_check", {
        // SAFETY: per this function's contract.
        let path = unsafe { c_str("pidkit_pidfile_check", "path", path) }?;
        match pidfile::check(path)? {
            Some(h) => {
                if !holder.is_null() {
                    // SAFETY: non-NULL and writable.
                    unsafe { *holder = h };
                }
                Ok(1)
            }
            None => Ok(0),
        }
    })
}

/// Stores in `*pid` the pid written in the pidfile, held or not. -ENOENT
/// when it does not exist; -EBADMSG for content that is not one decimal pid
/// (surrounding whitespace allowed; empty, signs, zero, overflow, trailing
/// garbage or two numbers are not); -ELOOP for a symlink; -EINVAL for NULL
/// arguments or a non-regular file.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `pid` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pidkit_pidfile_read(path: *const c_char, pid: *mut pid_t) -> c_int {
    ffi_entry!("pidkit_pidfile_read", {
        // SAFETY: per this function's contract.
        let path = unsafe { c_str("pidkit_pidfile_read", "path", path) }?;
        non_null!("pidkit_pidfile_read", pid);
        let p = pidfile::read(path)?;
        // SAFETY: non-NULL and writable.
        unsafe { *pid = p };
        Ok(0)
    })
}

/// Sends `sig` to the holder of the pidfile, only while the file is held;
/// `*holder` = the pid signalled. -ESRCH when it is not held (absent,
/// stale, or no pid written yet) or the holder is gone; -EINVAL for a
/// signal number outside 0..64; -EPERM when the caller may not signal the
/// holder. `sig` 0 checks without signalling. Signals through a pidfd opened before the lock is
/// checked again, so a recycled pid is never signalled (on kernels without
/// pidfds, kill(2) right after that re-check). The process the pid in the
/// file names must also carry the lock (its /proc/PID/fdinfo shows it):
/// when a holder died while a child it forked keeps the lock, the file
/// names a dead (perhaps recycled) pid, and that is -ESRCH, not a signal to
/// whoever has that pid now. Where /proc does not let the caller look into
/// the process (another user's), the pid in the locked file is trusted.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `holder` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pidkit_pidfile_kill(
    path: *const c_char,
    sig: c_int,
    holder: *mut pid_t,
) -> c_int {
    ffi_entry!("pidkit_pidfile_kill", {
        // SAFETY: per this function's contract.
        let path = unsafe { c_str("pidkit_pidfile_kill", "path", path) }?;
        let pid = pidfile::kill(path, sig)?;
        if !holder.is_null() {
            // SAFETY: non-NULL and writable.
            unsafe { *holder = pid };
        }
        Ok(0)
    })
}
