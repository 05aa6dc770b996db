//! C ABI for process-id queries.

use super::{ffi_entry, member_ends};
use crate::error::Error;
use crate::ids;
use libc::pid_t;
use nix::errno::Errno;
use std::os::raw::c_int;

/// One row of `ps -o comm,pid,ppid,pgid,sid` and more: what psutil's
/// name/status/cpu_times/memory_info report.
///
/// Set `size` to `sizeof(pidkit_proc_info)` (PIDKIT_PROC_INFO_INIT does):
/// a member is written only if it lies wholly within `size`, so a caller
/// compiled against an older, shorter struct gets only what it knows; a
/// larger `size` is fine and the bytes past the known members stay
/// untouched. A `size` too small to hold `pid` .. `sid` is -EINVAL.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct pidkit_proc_info {
    /// Set by the caller to sizeof(pidkit_proc_info).
    pub size: u32,
    /// Process id.
    pub pid: pid_t,
    /// Parent process id.
    pub ppid: pid_t,
    /// Process group id.
    pub pgid: pid_t,
    /// Session id.
    pub sid: pid_t,
    /// Foreground process group of its terminal, -1 if none.
    pub tpgid: pid_t,
    /// Device number of the controlling terminal, 0 = no controlling terminal.
    pub tty_nr: i32,
    /// State: 'R' running, 'S' sleeping, 'D' disk sleep, 'Z' zombie, 'T' stopped, ...
    pub state: std::os::raw::c_char,
    /// Real uid.
    pub uid: u32,
    /// Number of threads.
    pub num_threads: u32,
    /// Start time in clock ticks after boot: with pid, a process's identity.
    pub start_time: u64,
    /// CPU time in user mode, clock ticks (sysconf(_SC_CLK_TCK) per second).
    pub utime: u64,
    /// CPU time in kernel mode, clock ticks.
    pub stime: u64,
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// Virtual memory size in bytes.
    pub vsize_bytes: u64,
    /// NUL-terminated command name.
    pub comm: [std::os::raw::c_char; 32],
}

const PROC_INFO_ENDS: &[usize] = member_ends!(pidkit_proc_info;
    size: u32, pid: pid_t, ppid: pid_t, pgid: pid_t, sid: pid_t, tpgid: pid_t, tty_nr: i32,
    state: std::os::raw::c_char, uid: u32, num_threads: u32, start_time: u64, utime: u64,
    stime: u64, rss_bytes: u64, vsize_bytes: u64, comm: [std::os::raw::c_char; 32]);

/// The smallest `size` that holds `pid`, `ppid`, `pgid` and `sid`.
pub(crate) const PROC_INFO_MIN_SIZE: usize = std::mem::offset_of!(pidkit_proc_info, sid) + 4;

impl pidkit_proc_info {
    fn from_core(i: &ids::ProcInfo, size: u32) -> pidkit_proc_info {
        let mut comm = [0 as std::os::raw::c_char; 32];
        for (d, s) in comm.iter_mut().zip(i.comm.iter()) {
            *d = *s as std::os::raw::c_char;
        }
        pidkit_proc_info {
            size,
            pid: i.pid,
            ppid: i.ppid,
            pgid: i.pgid,
            sid: i.sid,
            tpgid: i.tpgid,
            tty_nr: i.tty_nr,
            state: i.state as std::os::raw::c_char,
            uid: i.uid,
            num_threads: i.num_threads,
            start_time: i.start_time,
            utime: i.utime,
            stime: i.stime,
            rss_bytes: i.rss_bytes,
            vsize_bytes: i.vsize_bytes,
            comm,
        }
    }
}

/// End of the `uid` member: a row of at least this size shows the real uid.
pub(crate) const PROC_INFO_UID_END: usize =
    std::mem::offset_of!(pidkit_proc_info, uid) + std::mem::size_of::<u32>();

/// Writes `info` into a caller's row of `size` bytes: every member that
/// lies wholly within `size`; `size` itself only when `set_size` is given
/// (a listing tells the caller which members it filled).
///
/// # Safety
/// `dst` points to `size` writable bytes (any alignment) and
/// `size >= PROC_INFO_MIN_SIZE`.
pub(crate) unsafe fn write_row(
    dst: *mut u8,
    size: usize,
    info: &ids::ProcInfo,
    set_size: Option<u32>,
) {
    let full = pidkit_proc_info::from_core(info, set_size.unwrap_or(0));
    let n = PROC_INFO_ENDS
        .iter()
        .copied()
        .filter(|&e| e <= size)
        .max()
        .unwrap_or(0);
    let start = if set_size.is_some() {
        0
    } else {
        std::mem::size_of::<u32>()
    };
    // SAFETY: bytes [start, n) lie within both `full` and the caller's `size` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&full as *const pidkit_proc_info).cast::<u8>().add(start),
            dst.add(start),
            n - start,
        )
    };
}

// The id getters below skip the panic boundary on their success path:
// getpid, getppid and gettid are one system call that cannot fail, and
// getpgid/getsid call ids::id_of (one system call and an integer check,
// nothing that can panic) and enter the boundary only to word an error.

/// The caller's process id. Never fails.
#[no_mangle]
pub extern "C" fn pidkit_getpid() -> pid_t {
    ids::getpid()
}

/// The caller's parent process id. Never fails.
#[no_mangle]
pub extern "C" fn pidkit_getppid() -> pid_t {
    ids::getppid()
}

/// The calling thread's id. Never fails.
#[no_mangle]
pub extern "C" fn pidkit_gettid() -> pid_t {
    ids::gettid()
}

/// The process group id of `pid` (0 = the caller). -ESRCH: no such process;
/// -EPERM: it is in another session and the system forbids the query;
/// -EINVAL: pid < 0.
#[no_mangle]
pub extern "C" fn pidkit_getpgid(pid: pid_t) -> pid_t {
    if let Some(pgid) = ids::id_of(pid, ids::IdQuery::Pgid) {
        return pgid;
    }
    ffi_entry!("pidkit_getpgid", { ids::getpgid(pid) })
}

/// The session id of `pid` (0 = the caller). -ESRCH: no such process;
/// -EPERM: it is in another session and the system forbids the query;
/// -EINVAL: pid < 0.
#[no_mangle]
pub extern "C" fn pidkit_getsid(pid: pid_t) -> pid_t {
    if let Some(sid) = ids::id_of(pid, ids::IdQuery::Sid) {
        return sid;
    }
    ffi_entry!("pidkit_getsid", { ids::getsid(pid) })
}

/// 1 if a process with this pid exists (a zombie counts, and so does one the
/// caller may not signal: EPERM means it exists), 0 if none, -EINVAL for
/// pid <= 0. A pid says nothing about identity: use a pidfile's lock or
/// pidkit_proc_info's start_time for that.
#[no_mangle]
pub extern "C" fn pidkit_alive(pid: pid_t) -> c_int {
    ffi_entry!("pidkit_alive", { ids::alive(pid).map(c_int::from) })
}

/// Makes the caller the leader of a new session (and of a new process group
/// in it) without a controlling terminal. Returns the new session id (the
/// caller's pid), or -EPERM if the caller already leads a process group.
#[no_mangle]
pub extern "C" fn pidkit_setsid() -> c_int {
    ffi_entry!("pidkit_setsid", { ids::setsid() })
}

/// Fills `*out` from /proc/PID/stat and the real uid from /proc/PID/status
/// (pid 0 = the caller), one read of each file and no allocation.
/// -ESRCH when the process does not exist or vanished while being read
/// (never a half-filled struct: `*out` is written only on success);
/// -EINVAL for pid < 0, a NULL `out`, or `out->size` too small for pid..sid.
///
/// # Safety
/// `out` is NULL or points to `out->size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn pidkit_proc_info_get(pid: pid_t, out: *mut pidkit_proc_info) -> c_int {
    ffi_entry!("pidkit_proc_info_get", {
        super::non_null!("pidkit_proc_info_get", out);
        // SAFETY: out is non-NULL and, per the API, points to at least out->size bytes.
        let size = unsafe { std::ptr::read_unaligned(out.cast::<u32>()) };
        if (size as usize) < PROC_INFO_MIN_SIZE {
            return Err(Error::new(
                Errno::EINVAL,
                format!("pidkit_proc_info_get: out->size {size} is too small (at least {PROC_INFO_MIN_SIZE})"),
            ));
        }
        let info = ids::proc_info(pid)?;
        // SAFETY: out points to `size` writable bytes (the contract).
        unsafe { write_row(out.cast::<u8>(), size as usize, &info, None) };
        Ok(0)
    })
}
