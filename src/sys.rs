//! Before the fork: system helpers of the calling process, shared by the
//! core modules (opening stdio files and the working directory, moving
//! descriptors above 2, /proc/self/status, EINTR retries, reaping). What
//! runs after a fork, in the forked processes, is in `child.rs`. Helpers
//! marked "async-signal-safe" allocate nothing and take no lock.

use nix::errno::Errno;
use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes bytes and decimal numbers into a fixed buffer and NUL-terminates.
/// Async-signal-safe. Overflow is remembered and reported by `as_cstr`/`bytes`.
pub(crate) struct StackWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> StackWriter<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        StackWriter {
            buf,
            len: 0,
            overflow: false,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        // Keep one byte for the NUL.
        if self.overflow || bytes.len() >= self.buf.len() - self.len {
            self.overflow = true;
            return;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    pub(crate) fn push_u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    /// The bytes written as a C string; None on overflow or an inner NUL.
    pub(crate) fn as_cstr(&mut self) -> Option<&CStr> {
        if self.overflow {
            return None;
        }
        self.buf[self.len] = 0;
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).ok()
    }
}

/// open(2) with O_CLOEXEC|O_NOCTTY added, retrying EINTR. Async-signal-safe.
pub(crate) fn open_cloexec(path: &CStr, flags: i32) -> Result<OwnedFd, Errno> {
    open_raw(path, flags | libc::O_CLOEXEC, 0)
}

/// open(2) with O_NOCTTY added, retrying EINTR. Async-signal-safe.
pub(crate) fn open_raw(path: &CStr, flags: i32, mode: libc::mode_t) -> Result<OwnedFd, Errno> {
    // SAFETY: path is a valid NUL-terminated string for the call's duration.
    let fd = retry_eintr(|| unsafe {
        libc::open(path.as_ptr(), flags | libc::O_NOCTTY, mode as libc::c_uint) as isize
    })?;
    // SAFETY: open just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Makes a system call until a signal no longer interrupts it: its result
/// (>= 0), or the errno of its failure. `call` returns the raw system call's
/// value (-1 with errno set on failure). Async-signal-safe when `call` is:
/// nothing here allocates.
pub(crate) fn retry_eintr(mut call: impl FnMut() -> isize) -> Result<usize, Errno> {
    loop {
        let r = call();
        if r >= 0 {
            return Ok(r as usize);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// One read(2), retrying EINTR. Async-signal-safe.
pub(crate) fn read_retry(fd: &OwnedFd, buf: &mut [u8]) -> Result<usize, Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: read into a buffer we own, at most its length.
    retry_eintr(|| unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// Waits for our child `pid` to exit, retrying EINTR (ECHILD, e.g. with
/// SIGCHLD ignored or another thread's wait(-1), ends the wait too).
pub(crate) fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && Errno::last() == Errno::EINTR {}
}

static PAGE_SIZE: AtomicU64 = AtomicU64::new(0);

/// The page size, asked once.
pub(crate) fn page_size() -> u64 {
    match PAGE_SIZE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf has no preconditions.
            let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let v = if v > 0 { v as u64 } else { 4096 };
            PAGE_SIZE.store(v, Ordering::Relaxed);
            v
        }
        v => v,
    }
}

/// What /proc/self/status says about the calling process that fork must
/// care about: how many threads run, and which signals are ignored or
/// caught (so that the child resets only those, not all 64).
pub(crate) struct SelfStatus {
    pub(crate) threads: u32,
    /// Bit n-1 set: signal n is not SIG_DFL.
    pub(crate) non_default_signals: u64,
}

/// Reads /proc/self/status once (one open, one read, one close); `op`
/// names the operation in messages.
pub(crate) fn self_status(op: &str) -> Result<SelfStatus, crate::Error> {
    let what = |e: Errno| crate::Error::sys(e, format!("{op}: read /proc/self/status"));
    let fd = open_cloexec(c"/proc/self/status", libc::O_RDONLY).map_err(what)?;
    let mut buf = [0u8; 4096];
    let n = read_retry(&fd, &mut buf).map_err(what)?;
    parse_self_status(&buf[..n]).ok_or_else(|| {
        crate::Error::new(
            Errno::EBADMSG,
            format!("{op}: cannot parse /proc/self/status (Threads, SigIgn, SigCgt)"),
        )
    })
}

/// Parses the Threads, SigIgn and SigCgt lines of /proc/PID/status.
pub(crate) fn parse_self_status(buf: &[u8]) -> Option<SelfStatus> {
    let field = |name: &[u8]| {
        buf.split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(name))
            .map(|v| std::str::from_utf8(v).unwrap_or("").trim())
    };
    let threads = field(b"Threads:")?.parse().ok()?;
    let ignored = u64::from_str_radix(field(b"SigIgn:")?, 16).ok()?;
    let caught = u64::from_str_radix(field(b"SigCgt:")?, 16).ok()?;
    Some(SelfStatus {
        threads,
        non_default_signals: ignored | caught,
    })
}

/// Descriptors a new process gets as stdin, stdout, stderr: the given
/// files (stdin read-only; stdout and stderr for append, created 0644 under
/// the caller's umask) or /dev/null (opened once for every stream left at
/// the default), opened before any fork and moved above 2 so that dup2 onto
/// 0..2 never clobbers one of them.
pub(crate) struct Stdio {
    /// What to dup2 onto 0, 1, 2.
    pub(crate) fds: [RawFd; 3],
    /// Owns the descriptors in `fds` (fewer than three when /dev/null is shared).
    owned: Vec<OwnedFd>,
}

/// Opens the stdio of a new process; `op` names the operation in messages
/// ("detach", "spawn").
pub(crate) fn open_stdio(op: &str, paths: [Option<&CStr>; 3]) -> Result<Stdio, crate::Error> {
    use std::os::fd::AsRawFd;
    let mut stdio = Stdio {
        fds: [-1; 3],
        owned: Vec::with_capacity(3),
    };
    let mut null: RawFd = -1;
    for (i, (path, what)) in paths.iter().zip(["stdin", "stdout", "stderr"]).enumerate() {
        let (path, flags) = match path {
            None if null >= 0 => {
                stdio.fds[i] = null;
                continue;
            }
            None => (c"/dev/null", libc::O_RDWR),
            Some(p) if i == 0 => (*p, libc::O_RDONLY),
            Some(p) => (*p, libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND),
        };
        let opened = if path == c"/dev/null" {
            open_raw(path, flags | libc::O_CLOEXEC, 0o644)
                .map_err(|e| crate::Error::sys(e, format!("{op}: open {what} /dev/null")))
        } else {
            // The caller's path, resolved once by the hostile-path rules: root
            // opens it with O_CREAT|O_APPEND, so a directory another user
            // can rename must not be able to redirect it.
            open_stdio_file(path, what, flags)
                .map_err(|e| crate::Error::new(e.errno(), format!("{op}: {}", e.message())))
        };
        let fd = above_stdio(opened?).map_err(|e| {
            crate::Error::sys(
                e,
                format!("{op}: open {what} {}", crate::error::Shown(path.to_bytes())),
            )
        })?;
        stdio.fds[i] = fd.as_raw_fd();
        if path == c"/dev/null" && flags == libc::O_RDWR {
            null = fd.as_raw_fd();
        }
        stdio.owned.push(fd);
    }
    Ok(stdio)
}

/// One stdio file by the hostile-path rules. Opened with O_NONBLOCK, so
/// that a FIFO another user put at the path never blocks the call (no
/// reader: ENXIO at once), then made blocking again for the program. A
/// regular file with more than one hard link is refused: another name of
/// it may be someone else's file (a log path linked to root's secrets
/// where fs.protected_hardlinks is 0).
fn open_stdio_file(path: &CStr, what: &str, flags: i32) -> Result<OwnedFd, crate::Error> {
    use std::os::fd::AsRawFd;
    let fd = crate::path::open_file(path, what, flags | libc::O_NONBLOCK, 0o644)?;
    let st = crate::path::fstat(&fd).map_err(|e| {
        crate::Error::sys(
            e,
            format!("stat {what} {}", crate::error::Shown(path.to_bytes())),
        )
    })?;
    if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_nlink > 1 {
        return Err(crate::Error::new(
            Errno::EPERM,
            format!(
                "{what} {} has {} hard links: another name of it may be someone else's file, \
                 not using it",
                crate::error::Shown(path.to_bytes()),
                st.st_nlink
            ),
        ));
    }
    // SAFETY: F_GETFL/F_SETFL on the descriptor just opened.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if fl < 0 || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK) } < 0 {
        return Err(crate::Error::sys(
            Errno::last(),
            format!(
                "{what} {}: clear O_NONBLOCK",
                crate::error::Shown(path.to_bytes())
            ),
        ));
    }
    Ok(fd)
}

/// A working directory opened (O_PATH) now, to fchdir into after the fork:
/// a relative path resolves against the caller's cwd at the call, and a
/// missing directory fails before any process is made.
pub(crate) fn open_workdir(op: &str, dir: &CStr) -> Result<OwnedFd, crate::Error> {
    // Resolved once by the hostile-path rules (see crate::path).
    let fd = crate::path::open_dir(dir, "working directory")
        .map_err(|e| crate::Error::new(e.errno(), format!("{op}: {}", e.message())))?;
    above_stdio(fd).map_err(|e| {
        crate::Error::sys(
            e,
            format!(
                "{op}: working directory {}",
                crate::error::Shown(dir.to_bytes())
            ),
        )
    })
}

/// Moves `fd` to a number >= 3 (keeping O_CLOEXEC), so that a later dup2
/// onto 0, 1 or 2 can never clobber it. Used before fork.
pub(crate) fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, Errno> {
    use std::os::fd::AsRawFd;
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: fcntl on a descriptor we own; the result is a new descriptor we then own.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(Errno::last());
    }
    // SAFETY: F_DUPFD_CLOEXEC returned a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Writes "PID\n" at offset 0 of `fd` after truncating it (unless
/// `truncate` is false), with one pwrite: the pidfile module's use of
/// [`crate::child::rewrite_pid`], which also runs after the fork.
pub(crate) fn rewrite_pid(fd: RawFd, pid: i32, truncate: bool) -> Result<(), Errno> {
    crate::child::rewrite_pid(fd, pid, truncate).map_err(Errno::from_raw)
}

/// The error for a setup step that failed in a forked process (reported
/// by `child::fail`), in the original process: `op` is "detach" or
/// "spawn", `path` the file or directory the step was about, if any.
pub(crate) fn child_failure(
    op: &str,
    f: crate::child::Failure,
    path: Option<&CStr>,
) -> crate::Error {
    use crate::child::Step;
    let what = match (f.step, op) {
        (Step::Setsid, _) => "setsid in the new session's leader",
        (Step::Fork, "spawn") => "clone of the program process",
        (Step::Fork, _) => "second fork",
        (Step::Pidfile, _) => "writing the new process's pid into pidfile",
        (Step::Stdio, _) => "redirecting stdio",
        (Step::Chdir, _) => "changing the working directory to",
        (Step::CloseFds, _) => "closing descriptors",
        (Step::Exec, _) => "exec",
    };
    let e = Errno::from_raw(f.errno);
    match path {
        Some(p) => crate::Error::sys(
            e,
            format!("{op}: {what} {}", String::from_utf8_lossy(p.to_bytes())),
        ),
        None => crate::Error::sys(e, format!("{op}: {what}")),
    }
}

/// pidfd_open(2) (Linux 5.3): a descriptor that pins the process that has
/// `pid` now. ENOSYS on older kernels.
pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(2) (Linux 5.1) with no siginfo and no flags.
pub(crate) fn pidfd_send_signal(pidfd: RawFd, sig: i32) -> Result<(), Errno> {
    // SAFETY: a NULL siginfo is allowed and means "as kill(2) would".
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// kill(2); the fallback where pidfds are missing.
pub(crate) fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_writer_overflow() {
        let mut b = [0u8; 4];
        let mut w = StackWriter::new(&mut b);
        w.push(b"abc");
        assert_eq!(w.as_cstr().map(CStr::to_bytes), Some(&b"abc"[..]));
        w.push(b"d");
        assert!(w.as_cstr().is_none());
    }

    #[test]
    fn self_status_fields() {
        let s = b"Name:\tx\nThreads:\t3\nSigQ:\t0/1\nSigPnd:\t0000000000000000\nSigBlk:\t0000000000010000\n\
SigIgn:\t0000000000001000\nSigCgt:\t0000000180000002\n";
        let st = parse_self_status(s).unwrap();
        assert_eq!(st.threads, 3);
        assert_eq!(st.non_default_signals, 0x1000 | 0x1_8000_0002);
        assert!(parse_self_status(b"Threads:\t1\n").is_none());
        let live = self_status("test").unwrap();
        assert!(live.threads >= 1);
    }
}
