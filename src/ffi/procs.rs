//! C ABI for process handles, listings and signalling a set of processes.

use super::ids::{pidkit_proc_info, write_row, PROC_INFO_MIN_SIZE, PROC_INFO_UID_END};
use super::{ffi_entry, member_ends, non_null, read_opts, OptsStruct};
use crate::error::{Error, Result};
use crate::procs::{self, Filter, KillOptions, KillReport, Process};
use libc::pid_t;
use nix::errno::Errno;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::raw::c_int;
use std::time::Duration;

/// A pinned process: a pidfd (or, where the kernel has none, its pid and
/// start time, checked before every use). Opaque; free it with
/// pidkit_proc_close.
#[allow(non_camel_case_types)]
pub struct pidkit_proc {
    pub(crate) inner: Process,
}

/// Opens a handle on the process with this pid (0 = the caller) and sets
/// `*out`. A zombie can be opened. -ESRCH: no such process (also for a
/// thread id that is not a process); -EINVAL: pid < 0 or `out` NULL;
/// -EXDEV: without pidfds, /proc belongs to another pid namespace.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_open(pid: pid_t, out: *mut *mut pidkit_proc) -> c_int {
    ffi_entry!("pidkit_proc_open", {
        non_null!("pidkit_proc_open", out);
        let inner = Process::open(pid)?;
        // SAFETY: out is non-NULL and writable.
        unsafe { *out = Box::into_raw(Box::new(pidkit_proc { inner })) };
        Ok(0)
    })
}

/// A handle from a pidfd the caller already has (clone3 CLONE_PIDFD,
/// SCM_RIGHTS, pidfd_open): the handle keeps its own duplicate; the
/// caller's descriptor stays the caller's. -EBADF / -EINVAL for a
/// descriptor that is not a pidfd; -ESRCH when its process has been reaped.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_open_pidfd(pidfd: c_int, out: *mut *mut pidkit_proc) -> c_int {
    ffi_entry!("pidkit_proc_open_pidfd", {
        non_null!("pidkit_proc_open_pidfd", out);
        if pidfd < 0 {
            return Err(Error::new(
                Errno::EBADF,
                format!("pidkit_proc_open_pidfd: descriptor {pidfd} is not open"),
            ));
        }
        // SAFETY: only borrowed for the call (dup'ed, never closed); an
        // unopened number makes the dup fail with EBADF.
        let fd = unsafe { BorrowedFd::borrow_raw(pidfd) };
        let inner = Process::from_pidfd(fd)?;
        // SAFETY: out is non-NULL and writable.
        unsafe { *out = Box::into_raw(Box::new(pidkit_proc { inner })) };
        Ok(0)
    })
}

/// A handle's process, checked for NULL.
///
/// # Safety
/// `p` is NULL or a live handle from pidkit_proc_open*.
unsafe fn handle<'a>(func: &str, p: *const pidkit_proc) -> Result<&'a Process> {
    if p.is_null() {
        return Err(Error::new(Errno::EINVAL, format!("{func}: p is NULL")));
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { &(*p).inner })
}

/// The pid of the pinned process. -EINVAL for NULL.
///
/// # Safety
/// `p` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_pid(p: *const pidkit_proc) -> pid_t {
    ffi_entry!("pidkit_proc_pid", {
        // SAFETY: per this function's contract.
        Ok(unsafe { handle("pidkit_proc_pid", p) }?.pid())
    })
}

/// Its pidfd, owned by the handle (close-on-exec): poll(2) reports POLLIN
/// once the process has exited. Do not close it; pidkit_proc_close does.
/// -ENOSYS where the kernel has no pidfds; -EINVAL for NULL.
///
/// # Safety
/// `p` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_fd(p: *const pidkit_proc) -> c_int {
    ffi_entry!("pidkit_proc_fd", {
        // SAFETY: per this function's contract.
        let p = unsafe { handle("pidkit_proc_fd", p) }?;
        p.pidfd().map(|fd| fd.as_raw_fd()).ok_or_else(|| {
            Error::new(
                Errno::ENOSYS,
                format!(
                    "pidkit_proc_fd: pid {} has no pidfd (the kernel has no pidfd_open)",
                    p.pid()
                ),
            )
        })
    })
}

/// Sends `sig` to the pinned process. 0: sent (sig 0 checks only;
/// signalling a zombie succeeds and does nothing). -ESRCH once the process
/// has been reaped, even when its pid names another process by now: that
/// process never receives anything. -EINVAL: bad signal or NULL; -EPERM.
///
/// # Safety
/// `p` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_signal(p: *mut pidkit_proc, sig: c_int) -> c_int {
    ffi_entry!("pidkit_proc_signal", {
        // SAFETY: per this function's contract.
        unsafe { handle("pidkit_proc_signal", p) }?.signal(sig)?;
        Ok(0)
    })
}

/// Waits until the process has exited: any process, not only the caller's
/// children, and without a polling loop where pidfds exist (poll(2) on the
/// pidfd). 0: it has exited; if it is the caller's child and not yet
/// reaped, this call reaps it (waitid P_PIDFD: never a recycled pid) and
/// `*status` gets the waitpid(2) status; in every other case (another
/// process's child, already reaped, SIGCHLD ignored) `*status` = -1.
/// -ETIMEDOUT. -EDEADLK for a handle on the caller itself. `timeout_ms` -1
/// = forever, 0 = look once; other negative values -EINVAL. A signal
/// handler running meanwhile does not end the wait.
///
/// # Safety
/// `p` is NULL or a live handle; `status` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_wait(
    p: *mut pidkit_proc,
    timeout_ms: c_int,
    status: *mut c_int,
) -> c_int {
    ffi_entry!("pidkit_proc_wait", {
        // SAFETY: per this function's contract.
        let p = unsafe { handle("pidkit_proc_wait", p) }?;
        let timeout = timeout("pidkit_proc_wait", timeout_ms)?;
        let st = p.wait(timeout)?.unwrap_or(-1);
        if !status.is_null() {
            // SAFETY: status is non-NULL and writable (the contract).
            unsafe { *status = st };
        }
        Ok(0)
    })
}

fn timeout(func: &str, ms: c_int) -> Result<Option<Duration>> {
    match ms {
        -1 => Ok(None),
        t if t >= 0 => Ok(Some(Duration::from_millis(t as u64))),
        t => Err(Error::new(
            Errno::EINVAL,
            format!("{func}: timeout_ms {t} (use -1 to wait forever)"),
        )),
    }
}

/// Fills `*out` as pidkit_proc_info_get does, for the pinned process (a
/// zombie too). -ESRCH once it has been reaped: never the row of another
/// process that has its pid. -EINVAL for NULL or `out->size` too small for
/// pid..sid.
///
/// # Safety
/// `p` is NULL or a live handle; `out` is NULL or points to `out->size`
/// writable bytes.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_query(
    p: *const pidkit_proc,
    out: *mut pidkit_proc_info,
) -> c_int {
    ffi_entry!("pidkit_proc_query", {
        // SAFETY: per this function's contract.
        let p = unsafe { handle("pidkit_proc_query", p) }?;
        non_null!("pidkit_proc_query", out);
        // SAFETY: out is non-NULL and starts with its u32 size.
        let size = unsafe { std::ptr::read_unaligned(out.cast::<u32>()) } as usize;
        if size < PROC_INFO_MIN_SIZE {
            return Err(Error::new(
                Errno::EINVAL,
                format!("pidkit_proc_query: out->size {size} is too small (at least {PROC_INFO_MIN_SIZE})"),
            ));
        }
        let info = p.query()?;
        // SAFETY: out points to `size` writable bytes (the contract).
        unsafe { write_row(out.cast::<u8>(), size, &info, None) };
        Ok(0)
    })
}

/// Frees the handle and closes its pidfd. Never signals, waits or reaps.
/// NULL -> 0.
///
/// # Safety
/// `p` is NULL or a live handle, not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_close(p: *mut pidkit_proc) -> c_int {
    ffi_entry!("pidkit_proc_close", {
        if !p.is_null() {
            // SAFETY: a handle made by Box::into_raw in pidkit_proc_open*,
            // given back exactly once (the contract).
            drop(unsafe { Box::from_raw(p) });
        }
        Ok(0)
    })
}

/// Filter member `sid` applies: members of this session.
pub const PIDKIT_PROC_MATCH_SID: u32 = 1 << 0;
/// Filter member `pgid` applies: members of this process group.
pub const PIDKIT_PROC_MATCH_PGID: u32 = 1 << 1;
/// Filter member `ppid` applies: children of this process.
pub const PIDKIT_PROC_MATCH_PPID: u32 = 1 << 2;
/// Filter member `ancestor` applies: its children, their children and so
/// on (not `ancestor` itself).
pub const PIDKIT_PROC_MATCH_DESCENDANTS: u32 = 1 << 3;
/// Filter member `uid` applies: processes with this real uid.
pub const PIDKIT_PROC_MATCH_UID: u32 = 1 << 4;

/// Not a criterion: pidkit_proc_list does not read the real uid, so a
/// listing reads only each process's /proc/PID/stat (the uid is only in
/// /proc/PID/status, whose text costs the kernel more than stat's: about
/// half of a full listing's time). Rows' `uid` is then written as
/// UINT32_MAX, unless PIDKIT_PROC_MATCH_UID applies (the uid is read to
/// match it, and shown). pidkit_proc_kill ignores it; alone it is no
/// criterion there (-EINVAL).
pub const PIDKIT_PROC_NO_UID: u32 = 1 << 5;

const MATCH_FLAGS: u32 = PIDKIT_PROC_MATCH_SID
    | PIDKIT_PROC_MATCH_PGID
    | PIDKIT_PROC_MATCH_PPID
    | PIDKIT_PROC_MATCH_DESCENDANTS
    | PIDKIT_PROC_MATCH_UID;

/// Which processes pidkit_proc_list and pidkit_proc_kill are about: a
/// process matches when every member whose flag is set matches. Ids are
/// explicit and > 0 (pass getsid(0) for "my session"): an id <= 0 under an
/// applying flag is -EINVAL, so a 0 that came from a failed or unknown
/// lookup can never mean "the caller's" or "all". Initialize with
/// PIDKIT_PROC_FILTER_INIT.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct pidkit_proc_filter {
    /// sizeof(pidkit_proc_filter) as the caller was compiled.
    pub size: u32,
    /// PIDKIT_PROC_MATCH_*: which members below apply.
    pub flags: u32,
    /// PIDKIT_PROC_MATCH_SID: session id.
    pub sid: pid_t,
    /// PIDKIT_PROC_MATCH_PGID: process group id.
    pub pgid: pid_t,
    /// PIDKIT_PROC_MATCH_PPID: parent pid.
    pub ppid: pid_t,
    /// PIDKIT_PROC_MATCH_DESCENDANTS: its children, their children and so
    /// on (not ancestor itself).
    pub ancestor: pid_t,
    /// PIDKIT_PROC_MATCH_UID: real uid.
    pub uid: u32,
}

// SAFETY: repr(C), starts with size and flags, valid when zeroed, and the
// member list below is complete and in order.
unsafe impl OptsStruct for pidkit_proc_filter {
    const NAME: &'static str = "pidkit_proc_filter";
    const KNOWN_FLAGS: u32 = MATCH_FLAGS | PIDKIT_PROC_NO_UID;
    const MEMBER_ENDS: &'static [usize] = member_ends!(pidkit_proc_filter;
        size: u32, flags: u32, sid: pid_t, pgid: pid_t, ppid: pid_t, ancestor: pid_t, uid: u32);
    fn flags(&self) -> u32 {
        self.flags
    }
}

impl pidkit_proc_filter {
    fn to_core(self) -> Filter {
        let has = |f: u32| self.flags & f != 0;
        Filter {
            sid: has(PIDKIT_PROC_MATCH_SID).then_some(self.sid),
            pgid: has(PIDKIT_PROC_MATCH_PGID).then_some(self.pgid),
            ppid: has(PIDKIT_PROC_MATCH_PPID).then_some(self.ppid),
            ancestor: has(PIDKIT_PROC_MATCH_DESCENDANTS).then_some(self.ancestor),
            uid: has(PIDKIT_PROC_MATCH_UID).then_some(self.uid),
        }
    }
}

/// Lists the processes matching `filter` (NULL = every process) in
/// ascending pid order into `rows`: an array of `max_rows` elements of
/// `row_size` bytes (sizeof(pidkit_proc_info) of the caller; members are
/// written by the same rules as pidkit_proc_info_get's `size`, and each
/// written row's `size` is set to the smaller of `row_size` and the
/// library's own sizeof(pidkit_proc_info), so a newer caller learns which
/// members an older library filled; `row_size` too small for pid..sid is
/// -EINVAL). Returns how many processes matched, which may exceed
/// `max_rows`: then only the first `max_rows` are written (call again with
/// a larger array, as with snprintf). `rows` NULL with `max_rows` 0 only
/// counts.
///
/// /proc is read once: per process one read of /proc/PID/stat (and of
/// /proc/PID/status for the real uid, only when a row shows `uid` or the
/// filter asks for it, and not with PIDKIT_PROC_NO_UID). Kernel threads are listed, as `ps -e` shows them;
/// a process that exits during the scan is left out; a row is never
/// half-filled or mixed from two processes. -EXDEV: /proc belongs to
/// another pid namespace; -EINVAL: an id <= 0 under an applying flag, bad
/// filter flags, `rows` NULL with `max_rows` > 0.
///
/// # Safety
/// `filter` is NULL or points to `filter->size` readable bytes; `rows` is
/// NULL or points to `max_rows * row_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_list(
    filter: *const pidkit_proc_filter,
    rows: *mut pidkit_proc_info,
    row_size: usize,
    max_rows: usize,
) -> c_int {
    ffi_entry!("pidkit_proc_list", {
        // SAFETY: per this function's contract.
        let opts = unsafe { read_opts(filter) }?;
        let no_uid = opts.flags & PIDKIT_PROC_NO_UID != 0;
        let filter = opts.to_core();
        if max_rows > 0 {
            non_null!("pidkit_proc_list", rows);
            if row_size < PROC_INFO_MIN_SIZE {
                return Err(Error::new(
                    Errno::EINVAL,
                    format!("pidkit_proc_list: row_size {row_size} is too small (at least {PROC_INFO_MIN_SIZE})"),
                ));
            }
            if row_size.checked_mul(max_rows).is_none() {
                return Err(Error::new(
                    Errno::EINVAL,
                    format!("pidkit_proc_list: {max_rows} rows of {row_size} bytes overflow"),
                ));
            }
        }
        let with_uid = max_rows > 0 && row_size >= PROC_INFO_UID_END && !no_uid;
        let mut found = procs::list(&filter, with_uid)?;
        if no_uid && filter.uid.is_none() {
            // Not read: say so rather than show uid 0 (root).
            for info in found.iter_mut() {
                info.uid = u32::MAX;
            }
        }
        let own = std::mem::size_of::<pidkit_proc_info>();
        let shown = row_size.min(own) as u32;
        for (i, info) in found.iter().take(max_rows).enumerate() {
            // SAFETY: row i lies within the caller's max_rows * row_size bytes.
            unsafe {
                write_row(
                    rows.cast::<u8>().add(i * row_size),
                    row_size,
                    info,
                    Some(shown),
                )
            };
        }
        c_int::try_from(found.len()).map_err(|_| {
            Error::new(
                Errno::EOVERFLOW,
                format!(
                    "pidkit_proc_list: {} processes do not fit an int",
                    found.len()
                ),
            )
        })
    })
}

/// Return only when every signalled process has exited (a zombie has
/// exited), scanning once more afterwards.
pub const PIDKIT_KILL_WAIT: u32 = 1 << 0;

/// Options for pidkit_proc_kill. Initialize with PIDKIT_KILL_OPTS_INIT;
/// NULL options mean all defaults (signal, do not wait).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct pidkit_kill_opts {
    /// sizeof(pidkit_kill_opts) as the caller was compiled.
    pub size: u32,
    /// PIDKIT_KILL_* flags.
    pub flags: u32,
    /// PIDKIT_KILL_WAIT: how long to wait for the signalled processes to
    /// exit, in milliseconds; -1 = forever; 0 = look once. Other negative
    /// values -EINVAL; ignored without PIDKIT_KILL_WAIT.
    pub timeout_ms: i32,
    /// PIDKIT_KILL_WAIT with timeout_ms >= 0: sent to those still alive
    /// when timeout_ms has passed, then waited for once more up to
    /// timeout_ms; 0 = none. Without WAIT, or with timeout_ms -1: -EINVAL.
    pub escalate_sig: i32,
}

// SAFETY: repr(C), starts with size and flags, valid when zeroed, and the
// member list below is complete and in order.
unsafe impl OptsStruct for pidkit_kill_opts {
    const NAME: &'static str = "pidkit_kill_opts";
    const KNOWN_FLAGS: u32 = PIDKIT_KILL_WAIT;
    const MEMBER_ENDS: &'static [usize] =
        member_ends!(pidkit_kill_opts; size: u32, flags: u32, timeout_ms: i32, escalate_sig: i32);
    fn flags(&self) -> u32 {
        self.flags
    }
}

impl pidkit_kill_opts {
    fn to_core(self) -> Result<KillOptions> {
        let wait = self.flags & PIDKIT_KILL_WAIT != 0;
        let timeout = match wait {
            true => timeout("pidkit_kill_opts", self.timeout_ms)?,
            false => None,
        };
        if self.escalate_sig != 0 && (!wait || timeout.is_none()) {
            return Err(Error::new(
                Errno::EINVAL,
                format!(
                    "pidkit_kill_opts: escalate_sig {} needs PIDKIT_KILL_WAIT and a timeout_ms >= 0",
                    self.escalate_sig
                ),
            ));
        }
        Ok(KillOptions {
            wait,
            timeout,
            escalate: (self.escalate_sig != 0).then_some(self.escalate_sig),
        })
    }
}

/// What pidkit_proc_kill did. Set `size` (PIDKIT_KILL_RESULT_INIT does):
/// a member is written only if it lies wholly within `size`; a `size` too
/// small to hold `signalled` is -EINVAL.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct pidkit_kill_result {
    /// Set by the caller to sizeof(pidkit_kill_result).
    pub size: u32,
    /// Processes that received sig (the return value).
    pub signalled: u32,
    /// Matching processes the caller may not signal (EPERM).
    pub refused: u32,
    /// With PIDKIT_KILL_WAIT: still running at the end.
    pub alive: u32,
    /// Sent escalate_sig.
    pub escalated: u32,
    /// 1 when the 64th scan still found new members.
    pub incomplete: u32,
}

const KILL_RESULT_ENDS: &[usize] = member_ends!(pidkit_kill_result;
    size: u32, signalled: u32, refused: u32, alive: u32, escalated: u32, incomplete: u32);

/// Signals every process matching `filter`, each through a handle opened
/// after the scan and re-checked (same start time; and still matching,
/// except that PPID/DESCENDANTS membership is judged at the scan: a member
/// whose parent died meanwhile was reparented, not released). Descendants
/// are signalled children before parents. Scans again until a scan finds no
/// matching process it has not yet signalled, so members forked during the
/// call are reached too (at most 64 scans; `result->incomplete` says when
/// that was not enough); between scans the pids handed out since the scan
/// began (/proc/sys/kernel/ns_last_pid) are looked at too, so a chain of
/// short-lived forks cannot outrun the scans. pid 1, the caller, kernel
/// threads and zombies (they have exited already) never count as matches;
/// nothing is ever reaped. After a signal other than SIGKILL
/// and SIGCONT, a stopped member is also sent SIGCONT so that it can act
/// on it (as systemd does).
///
/// Returns how many processes were signalled (0: none matched). -EINVAL:
/// filter NULL or without a PIDKIT_PROC_MATCH_* flag (every process:
/// never), an id <= 0, bad signal or options, `result->size` too small.
/// -EPERM: processes matched but none could be signalled. -EXDEV: /proc is
/// not the caller's namespace's.
///
/// With PIDKIT_KILL_WAIT it then waits, without a polling loop where pidfds
/// exist, until every signalled process has exited (a zombie has exited),
/// and then scans again, treating members found now the same way; for any
/// number of processes with a bounded number of descriptors (never -EMFILE
/// because there are many); -ETIMEDOUT if some are still alive at the end
/// (`result->alive` says how many). `*result` (may be NULL) is written on
/// success and on -ETIMEDOUT.
///
/// # Safety
/// `filter` and `opts` are NULL or point to their `size` readable bytes;
/// `result` is NULL or points to `result->size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_kill(
    filter: *const pidkit_proc_filter,
    sig: c_int,
    opts: *const pidkit_kill_opts,
    result: *mut pidkit_kill_result,
) -> c_int {
    ffi_entry!("pidkit_proc_kill", {
        non_null!("pidkit_proc_kill", filter);
        // SAFETY: per this function's contract.
        let filter = unsafe { read_opts(filter) }?;
        if filter.flags == 0 {
            return Err(Error::new(
                Errno::EINVAL,
                "pidkit_proc_kill: filter has no PIDKIT_PROC_MATCH_* flag (that would be every process)",
            ));
        }
        let filter = filter.to_core();
        // SAFETY: per this function's contract.
        let opts = unsafe { read_opts(opts) }?.to_core()?;
        let result_size = match result.is_null() {
            true => None,
            false => {
                // SAFETY: result is non-NULL and starts with its u32 size.
                let size = unsafe { std::ptr::read_unaligned(result.cast::<u32>()) } as usize;
                if size < KILL_RESULT_ENDS[1] {
                    return Err(Error::new(
                        Errno::EINVAL,
                        format!(
                            "pidkit_proc_kill: result->size {size} is too small (at least {})",
                            KILL_RESULT_ENDS[1]
                        ),
                    ));
                }
                Some(size)
            }
        };
        let report = procs::kill(&filter, sig, &opts)?;
        if let Some(size) = result_size {
            // SAFETY: result points to `size` writable bytes (the contract).
            unsafe { write_result(result, size, &report) };
        }
        if opts.wait && report.alive > 0 {
            return Err(Error::new(
                Errno::ETIMEDOUT,
                format!(
                    "pidkit_proc_kill: {} of {} signalled processes still alive after the wait",
                    report.alive, report.signalled
                ),
            ));
        }
        c_int::try_from(report.signalled)
            .map_err(|_| Error::new(Errno::EOVERFLOW, "pidkit_proc_kill: count overflows"))
    })
}

/// Writes the members of `report` that lie wholly within `size`, leaving
/// the caller's `size` alone.
///
/// # Safety
/// `dst` points to `size` writable bytes.
unsafe fn write_result(dst: *mut pidkit_kill_result, size: usize, report: &KillReport) {
    let full = pidkit_kill_result {
        size: 0,
        signalled: report.signalled,
        refused: report.refused,
        alive: report.alive,
        escalated: report.escalated,
        incomplete: u32::from(report.incomplete),
    };
    let n = KILL_RESULT_ENDS
        .iter()
        .copied()
        .filter(|&e| e <= size)
        .max()
        .unwrap_or(0);
    let start = std::mem::size_of::<u32>();
    // SAFETY: bytes [start, n) lie within both `full` and the caller's `size` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&full as *const pidkit_kill_result).cast::<u8>().add(start),
            dst.cast::<u8>().add(start),
            n - start,
        )
    };
}
