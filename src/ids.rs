//! Process ids: pid, ppid, tid, pgid, sid, liveness, and one parsed
//! `/proc/PID/stat` row (what `ps -o comm,pid,ppid,pgid,sid` shows, and the
//! name/status/CPU/memory figures psutil reports).

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::{self, Pid};
use std::os::fd::OwnedFd;

/// The calling process's pid.
pub fn getpid() -> i32 {
    unistd::getpid().as_raw()
}

/// The calling process's parent pid.
pub fn getppid() -> i32 {
    unistd::getppid().as_raw()
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    unistd::gettid().as_raw()
}

fn target(pid: i32, what: &str) -> Result<Option<Pid>> {
    match pid {
        0 => Ok(None),
        p if p < 0 => Err(Error::new(
            Errno::EINVAL,
            format!("{what}: invalid pid {p}"),
        )),
        p => Ok(Some(Pid::from_raw(p))),
    }
}

fn who(pid: i32) -> String {
    if pid == 0 {
        "the caller".to_string()
    } else {
        format!("pid {pid}")
    }
}

/// getpgid(2) and getsid(2) without an error message: the id, or None
/// when the call fails or `pid` < 0 (the caller then asks [`getpgid`] or
/// [`getsid`] for the error). Nothing on this path can panic: an integer
/// check and one system call, no indexing, no allocation, no formatting
/// (the lints below check what they can), so the C ABI calls it outside its
/// panic boundary, whose thread-local bookkeeping costs about as much as
/// the system call itself.
#[deny(
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]
#[inline]
pub(crate) fn id_of(pid: i32, which: IdQuery) -> Option<i32> {
    if pid < 0 {
        return None;
    }
    // SAFETY: getpgid and getsid take a pid and touch no memory of ours.
    let r = unsafe {
        match which {
            IdQuery::Pgid => libc::getpgid(pid),
            IdQuery::Sid => libc::getsid(pid),
        }
    };
    (r >= 0).then_some(r)
}

/// Which id [`id_of`] asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IdQuery {
    /// The process group (getpgid).
    Pgid,
    /// The session (getsid).
    Sid,
}

/// The process group of `pid` (0 = the caller).
pub fn getpgid(pid: i32) -> Result<i32> {
    let p = target(pid, "getpgid")?;
    unistd::getpgid(p)
        .map(Pid::as_raw)
        .context(|| format!("getpgid of {}", who(pid)))
}

/// The session of `pid` (0 = the caller).
pub fn getsid(pid: i32) -> Result<i32> {
    let p = target(pid, "getsid")?;
    unistd::getsid(p)
        .map(Pid::as_raw)
        .context(|| format!("getsid of {}", who(pid)))
}

/// Whether a process with this pid exists (a zombie counts; so does one we
/// may not signal: EPERM means it exists).
pub fn alive(pid: i32) -> Result<bool> {
    if pid <= 0 {
        return Err(Error::new(
            Errno::EINVAL,
            format!("alive: invalid pid {pid}"),
        ));
    }
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(Error::sys(e, format!("alive: kill(pid {pid}, 0)"))),
    }
}

/// Makes the caller the leader of a new session; returns the new sid.
pub fn setsid() -> Result<i32> {
    unistd::setsid().map(Pid::as_raw).map_err(|e| match e {
        Errno::EPERM => Error::new(
            e,
            "setsid: the caller already leads a process group (fork first: only a non-leader may start a session)",
        ),
        e => Error::sys(e, "setsid"),
    })
}

/// One parsed row of `/proc/PID/stat` plus the real uid from
/// `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcInfo {
    /// Process id.
    pub pid: i32,
    /// Parent process id.
    pub ppid: i32,
    /// Process group id.
    pub pgid: i32,
    /// Session id.
    pub sid: i32,
    /// Foreground process group of its terminal, -1 if none.
    pub tpgid: i32,
    /// Device number of its controlling terminal, 0 if none.
    pub tty_nr: i32,
    /// State letter: 'R', 'S', 'D', 'Z', 'T', ...
    pub state: u8,
    /// Real uid.
    pub uid: u32,
    /// Number of threads.
    pub num_threads: u32,
    /// Start time in clock ticks after boot: with the pid, an identity.
    pub start_time: u64,
    /// CPU time in user mode, clock ticks.
    pub utime: u64,
    /// CPU time in kernel mode, clock ticks.
    pub stime: u64,
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// Virtual memory size in bytes.
    pub vsize_bytes: u64,
    /// Command name, NUL-padded (at most 31 bytes used).
    pub comm: [u8; 32],
    /// The kernel's per-process flags (`PF_*`, the ninth field of `stat`):
    /// `PF_KTHREAD` (0x0020_0000) marks a kernel thread.
    pub flags: u32,
}

impl ProcInfo {
    /// The command name as bytes, without the NUL padding.
    pub fn comm_bytes(&self) -> &[u8] {
        let n = self
            .comm
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.comm.len());
        &self.comm[..n]
    }
}

/// Parses the content of `/proc/PID/stat` (the rss field in pages is
/// multiplied by `page_size`). `None` for anything that is not a complete
/// stat line: the kernel ends it with a newline, so a line without one was
/// cut short. The command name may hold spaces and parentheses, so the
/// fields are read after the LAST ')'.
pub fn parse_stat(buf: &[u8], page_size: u64) -> Option<ProcInfo> {
    if buf.last() != Some(&b'\n') {
        return None;
    }
    let open = buf.iter().position(|&b| b == b'(')?;
    let close = buf.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid = parse_i64(trim(&buf[..open]))?;
    let comm = &buf[open + 1..close];
    let mut fields = buf[close + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty());
    let mut next = || fields.next().map(trim);

    let state_field = next()?;
    if state_field.len() != 1 {
        return None;
    }
    let mut info = ProcInfo {
        state: state_field[0],
        ..ProcInfo::default()
    };
    info.pid = to_i32(pid)?;
    info.ppid = to_i32(parse_i64(next()?)?)?;
    info.pgid = to_i32(parse_i64(next()?)?)?;
    info.sid = to_i32(parse_i64(next()?)?)?;
    info.tty_nr = to_i32(parse_i64(next()?)?)?;
    info.tpgid = to_i32(parse_i64(next()?)?)?;
    // Kernels print flags as an unsigned 32-bit number.
    info.flags = u32::try_from(parse_u64(next()?)?).ok()?;
    // minflt cminflt majflt cmajflt
    for _ in 0..4 {
        next()?;
    }
    info.utime = parse_u64(next()?)?;
    info.stime = parse_u64(next()?)?;
    // cutime cstime priority nice
    for _ in 0..4 {
        next()?;
    }
    info.num_threads = u32::try_from(parse_i64(next()?)?).ok()?;
    next()?; // itrealvalue
    info.start_time = parse_u64(next()?)?;
    info.vsize_bytes = parse_u64(next()?)?;
    info.rss_bytes = u64::try_from(parse_i64(next()?)?)
        .ok()?
        .checked_mul(page_size)?;
    let n = comm.len().min(info.comm.len() - 1);
    info.comm[..n].copy_from_slice(&comm[..n]);
    Some(info)
}

/// The real uid from the content of `/proc/PID/status` ("Uid:\treal\teff...").
pub fn parse_status_uid(buf: &[u8]) -> Option<u32> {
    let line = buf
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"Uid:"))?;
    let real = line[4..]
        .split(|&b| b == b'\t' || b == b' ')
        .find(|f| !f.is_empty())?;
    u32::try_from(parse_u64(real)?).ok()
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

fn parse_i64(s: &[u8]) -> Option<i64> {
    match s.split_first()? {
        (b'-', rest) => i64::try_from(parse_u64(rest)?).ok().map(|v| -v),
        _ => i64::try_from(parse_u64(s)?).ok(),
    }
}

fn to_i32(v: i64) -> Option<i32> {
    i32::try_from(v).ok()
}

/// Reads one parsed stat row for `pid` (0 = the caller).
///
/// For another process, both files are opened before either is read: a
/// read of a /proc file of a process that has been reaped fails with
/// ESRCH, so a successful read of `stat` after `status` was opened proves
/// both name the same process, even if the pid is recycled right after (no
/// torn identity, no half-filled row). For the caller, the real uid comes
/// from getuid() instead of `status`, whose generation costs as much as
/// `stat`'s.
pub fn proc_info(pid: i32) -> Result<ProcInfo> {
    if pid < 0 {
        return Err(Error::new(
            Errno::EINVAL,
            format!("proc_info: invalid pid {pid}"),
        ));
    }
    let gone = || {
        Error::new(
            Errno::ESRCH,
            format!("proc_info: no process with pid {pid}"),
        )
    };
    let mut path = PathBuf64::new();
    let stat_fd = open_proc(&mut path, pid, b"stat").map_err(|e| proc_err(e, pid, &gone))?;
    let status_fd = match pid {
        0 => None,
        _ => Some(open_proc(&mut path, pid, b"status").map_err(|e| proc_err(e, pid, &gone))?),
    };

    let mut buf = [0u8; 2048];
    let n = read_once(&stat_fd, &mut buf).map_err(|e| proc_err(e, pid, &gone))?;
    let mut info = parse_stat(&buf[..n], crate::sys::page_size()).ok_or_else(|| {
        Error::new(
            Errno::EBADMSG,
            format!("proc_info: cannot parse /proc/{pid}/stat"),
        )
    })?;
    info.uid = match status_fd {
        None => nix::unistd::getuid().as_raw(),
        Some(fd) => {
            let mut sbuf = [0u8; 4096];
            let n = read_once(&fd, &mut sbuf).map_err(|e| proc_err(e, pid, &gone))?;
            parse_status_uid(&sbuf[..n]).ok_or_else(|| {
                Error::new(
                    Errno::EBADMSG,
                    format!("proc_info: no Uid line in /proc/{pid}/status"),
                )
            })?
        }
    };
    Ok(info)
}

fn proc_err(e: Errno, pid: i32, gone: &dyn Fn() -> Error) -> Error {
    match e {
        // ENOENT: no such /proc entry; ESRCH: it died between open and read;
        // a read of 0 bytes is reported as ESRCH too.
        Errno::ENOENT | Errno::ESRCH => gone(),
        e => Error::sys(e, format!("proc_info: reading /proc/{pid}")),
    }
}

/// "/proc/self/NAME" or "/proc/PID/NAME" in a stack buffer: no allocation.
struct PathBuf64 {
    buf: [u8; 64],
}

impl PathBuf64 {
    fn new() -> Self {
        PathBuf64 { buf: [0; 64] }
    }
}

fn open_proc(path: &mut PathBuf64, pid: i32, name: &[u8]) -> std::result::Result<OwnedFd, Errno> {
    let mut w = crate::sys::StackWriter::new(&mut path.buf);
    w.push(b"/proc/");
    if pid == 0 {
        w.push(b"self");
    } else {
        w.push_u64(pid as u64);
    }
    w.push(b"/");
    w.push(name);
    let cpath = w.as_cstr().ok_or(Errno::ENAMETOOLONG)?;
    crate::sys::open_cloexec(cpath, libc::O_RDONLY)
}

/// One read of a /proc file; 0 bytes means the process is gone.
fn read_once(fd: &OwnedFd, buf: &mut [u8]) -> std::result::Result<usize, Errno> {
    let n = crate::sys::read_retry(fd, buf)?;
    if n == 0 {
        return Err(Errno::ESRCH);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = b"4242 (a) b (c) S 1 4242 4242 34817 4300 4194560 100 0 0 0 7 3 0 0 20 0 2 0 123456 10485760 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn parses_a_comm_with_spaces_and_parens() {
        let i = parse_stat(LINE, 4096).unwrap();
        assert_eq!(i.pid, 4242);
        assert_eq!(i.comm_bytes(), b"a) b (c");
        assert_eq!(i.state, b'S');
        assert_eq!(
            (i.ppid, i.pgid, i.sid, i.tty_nr, i.tpgid),
            (1, 4242, 4242, 34817, 4300)
        );
        assert_eq!((i.utime, i.stime, i.num_threads), (7, 3, 2));
        assert_eq!(i.start_time, 123456);
        assert_eq!(i.vsize_bytes, 10485760);
        assert_eq!(i.rss_bytes, 300 * 4096);
        assert_eq!(i.flags, 4194560);
    }

    #[test]
    fn negative_tpgid_is_kept() {
        let l = b"7 (x) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 6 7 0\n";
        let i = parse_stat(l, 4096).unwrap();
        assert_eq!(i.tpgid, -1);
        assert_eq!(i.tty_nr, 0);
    }

    #[test]
    fn rejects_truncated_and_garbage_lines() {
        for n in 0..LINE.len() - 60 {
            assert!(
                parse_stat(&LINE[..n], 4096).is_none(),
                "accepted a prefix of {n} bytes"
            );
        }
        assert!(parse_stat(b"x (a) S 1 2 3", 4096).is_none());
        assert!(parse_stat(b") ( S", 4096).is_none());
        assert!(parse_stat(b"", 4096).is_none());
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes() {
        // A fixed-seed xorshift generator: reproducible, no dependency.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let alphabet = b"0123456789 ()-SRZ\n\t";
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 200) as usize;
            let mut v = Vec::with_capacity(len);
            let mut y = x;
            for _ in 0..len {
                y ^= y << 13;
                y ^= y >> 7;
                y ^= y << 17;
                v.push(if y & 1 == 0 {
                    alphabet[(y >> 8) as usize % alphabet.len()]
                } else {
                    (y >> 16) as u8
                });
            }
            let _ = parse_stat(&v, 4096);
            let _ = parse_status_uid(&v);
            // Mutations of a valid line too.
            let mut m = LINE.to_vec();
            let i = (x >> 20) as usize % m.len();
            m[i] = (x >> 40) as u8;
            let _ = parse_stat(&m, 4096);
        }
    }

    #[test]
    fn status_uid() {
        let s = b"Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1001\t1000\t1000\nGid:\t5\t5\t5\t5\n";
        assert_eq!(parse_status_uid(s), Some(1000));
        assert_eq!(parse_status_uid(b"Name:\tx\n"), None);
    }

    #[test]
    fn self_info_matches_syscalls() {
        let i = proc_info(0).unwrap();
        assert_eq!(i.pid, getpid());
        assert_eq!(i.ppid, getppid());
        assert_eq!(i.sid, getsid(0).unwrap());
        assert_eq!(i.pgid, getpgid(0).unwrap());
        assert_eq!(i.uid, nix::unistd::getuid().as_raw());
        assert!(i.num_threads >= 1);
    }

    #[test]
    fn bad_pids() {
        assert_eq!(getsid(-1).unwrap_err().errno(), Errno::EINVAL);
        assert_eq!(getpgid(-5).unwrap_err().errno(), Errno::EINVAL);
        assert_eq!(alive(0).unwrap_err().errno(), Errno::EINVAL);
        assert_eq!(proc_info(-1).unwrap_err().errno(), Errno::EINVAL);
        assert!(alive(1).unwrap());
    }
}
