//! Pidfiles as single-instance locks.
//!
//! The file holds the owner's pid in decimal and a newline. Ownership is an
//! exclusive `flock(2)` on the open file, held for the owner's life and
//! dropped by the kernel when it dies: a file that exists but is not locked
//! is stale and is taken over. The lock, not the pid in the file, says who
//! holds it, so a recycled pid never blocks a start (Python's `pid` and
//! python-daemon decide by `kill(pid, 0)` and can be blocked forever).
//!
//! Failure modes of other implementations this module avoids, each tested:
//! - fcntl/POSIX locks vanish when *any* descriptor of the file is closed:
//!   `flock` locks belong to the open file description instead;
//! - following a symlink at the pidfile path (libbsd; tinyproxy
//!   CVE-2017-11747, unbound CVE-2020-28935): opened with `O_NOFOLLOW`;
//! - truncating before locking (the Rust `daemonize` crate) wipes the
//!   owner's pid: nothing is modified before the lock is held;
//! - unlinking after unlocking (Python `pid`) deletes a newcomer's file:
//!   the file is removed only while locked, and only if the path still names
//!   the locked file;
//! - a forked child's exit handler deleting the parent's pidfile: only the
//!   owning process removes or unlocks.

use crate::error::{Context, Error, Result, Shown};
use crate::path::{self, Located};
use crate::sys;
use nix::errno::Errno;
use nix::sys::stat::{fstat, FileStat, SFlag};
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

/// How long [`acquire`] waits for a holder to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    /// Fail at once with EEXIST.
    #[default]
    No,
    /// Wait at most this long, then fail with ETIMEDOUT.
    For(Duration),
    /// Wait until the holder goes.
    Forever,
}

/// Options for [`acquire`]. The default locks and writes the pid, fails at
/// once when held, closes on exec, removes the file on release, mode 0644.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Write the caller's pid at once (else later, with [`Pidfile::write`]).
    pub write_pid: bool,
    /// Whether and how long to wait for a holder.
    pub wait: Wait,
    /// Keep the descriptor (and so the lock) across exec.
    pub inherit: bool,
    /// Release unlocks but does not remove the file.
    pub keep_file: bool,
    /// Refuse (EPERM) a world-writable or foreign-owned file, a
    /// world-writable parent directory without the sticky bit, or a
    /// directory component that is a symlink owned by another user.
    pub strict: bool,
    /// Permissions of a new file (the umask applies).
    pub mode: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            write_pid: true,
            wait: Wait::No,
            inherit: false,
            keep_file: false,
            strict: false,
            mode: 0o644,
        }
    }
}

/// An owned (or, after a fork, copied) pidfile lock.
#[derive(Debug)]
pub struct Pidfile {
    fd: Option<OwnedFd>,
    /// The directory that held the pidfile at acquire (O_PATH,
    /// close-on-exec): every later step works relative to it, so renaming
    /// a directory on the path can never move a step elsewhere.
    dir: OwnedFd,
    /// The pidfile's name in `dir`.
    leaf: CString,
    /// The path as given, made absolute at acquire when the cwd allowed:
    /// for messages and [`Pidfile::path`] only, never resolved again.
    path: CString,
    dev: u64,
    ino: u64,
    /// The process whose release removes the file; 0 once handed over.
    owner: i32,
    keep_file: bool,
}

/// The path as it appears in messages (control characters escaped).
fn shown(path: &CStr) -> Shown<'_> {
    Shown(path.to_bytes())
}

/// How often acquire re-opens a path that was replaced or removed between
/// open and lock before it gives up (a holder releasing in a tight loop).
const MAX_REOPEN: u32 = 1000;

/// Acquires the pidfile at `path`.
///
/// The directory part is resolved once (see [`crate::path`]: a symbolic
/// link on it is followed only when root or the caller owns it and no other
/// user can write its directory); everything after works relative to that
/// directory. Uncontended, with the pid written, this is openat2 (the
/// directory), openat, fstat, flock, fstatat, getpid, pwrite (plus
/// ftruncate when a stale file had content): the pidfile is never modified
/// before the lock is held and its single link checked.
pub fn acquire(path: &CStr, opts: &Options) -> Result<Pidfile> {
    // Permission bits only: a setuid/setgid/sticky pidfile makes no sense.
    if opts.mode & !0o777 != 0 {
        return Err(Error::new(
            Errno::EINVAL,
            format!(
                "pidfile {}: invalid mode {:#o} (permission bits 0777 only)",
                shown(path),
                opts.mode
            ),
        ));
    }
    if opts.strict && opts.mode & 0o002 != 0 {
        return Err(Error::new(
            Errno::EPERM,
            format!(
                "pidfile {}: strict mode refuses a world-writable mode {:#o}",
                shown(path),
                opts.mode
            ),
        ));
    }
    let at = locate(path)?;
    if opts.strict {
        check_parent_dir(&at.dir, path)?;
    }
    let deadline = match opts.wait {
        Wait::For(d) => Some(Instant::now() + d),
        _ => None,
    };
    let mut oflags = libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    if opts.inherit {
        oflags &= !libc::O_CLOEXEC;
    }
    for _ in 0..MAX_REOPEN {
        let fd = open_pidfile(&at, path, oflags, opts.mode as libc::mode_t, opts.inherit)?;
        let st = fstat(fd.as_raw_fd()).context(|| format!("fstat pidfile {}", shown(path)))?;
        require_regular(&st, path)?;
        if opts.strict {
            check_file_owner(&st, path)?;
        }
        // A second name before the lock too: never wait on, or name as the
        // holder, the lock of a file that another name makes someone else's
        // (a link to another daemon's held pidfile).
        refuse_hard_links(&st, path)?;
        lock(&fd, path, opts.wait, deadline)?;
        // The holder we waited for (or a releasing one) may have unlinked or
        // replaced the name between our open and our lock: the lock must be
        // on the file the name designates now, else start over.
        let now = match path::stat_at(&at.dir, &at.leaf) {
            Ok(now) if now.st_dev == st.st_dev && now.st_ino == st.st_ino => now,
            Ok(_) | Err(Errno::ENOENT) => continue,
            Err(e) => return Err(Error::sys(e, format!("stat pidfile {}", shown(path)))),
        };
        // Another name of this file may be someone else's (a hard link to
        // root's file made where fs.protected_hardlinks is 0): never write
        // through it. Judged under the lock, on the file the name holds.
        refuse_hard_links(&now, path)?;
        let pf = Pidfile {
            fd: Some(fd),
            dir: at.dir,
            leaf: at.leaf.into_owned(),
            path: absolute(path),
            dev: st.st_dev,
            ino: st.st_ino,
            owner: crate::ids::getpid(),
            keep_file: opts.keep_file,
        };
        // The size from the re-check is the size under our lock. Skipping
        // the truncate of an empty file saves ~100 us on ext4.
        let had_content = now.st_size > 0;
        let written = if opts.write_pid {
            sys::rewrite_pid(pf.raw_fd(), pf.owner, had_content)
        } else if had_content {
            // A stale pid must not be reported as the holder of a lock that
            // has no pid written yet.
            truncate(pf.raw_fd())
        } else {
            Ok(())
        };
        if let Err(e) = written {
            // Leave no file that claims a dead owner: we hold the lock, so
            // the file is ours to remove.
            let _ = pf.remove_if_ours();
            return Err(Error::sys(
                e,
                format!("write pid to pidfile {}", shown(path)),
            ));
        }
        return Ok(pf);
    }
    Err(Error::new(
        Errno::EAGAIN,
        format!(
            "pidfile {} keeps being replaced while it is locked; giving up",
            shown(path)
        ),
    ))
}

/// -EPERM for a pidfile with more than one hard link: another name of it
/// may be someone else's file (made where fs.protected_hardlinks is 0), and
/// pidkit never writes to, waits on or names the holder of such a file.
fn refuse_hard_links(st: &FileStat, path: &CStr) -> Result<()> {
    if st.st_nlink > 1 {
        return Err(Error::new(
            Errno::EPERM,
            format!(
                "pidfile {} has {} hard links: another name of it may be someone else's \
                 file, not using it",
                shown(path),
                st.st_nlink
            ),
        ));
    }
    Ok(())
}

/// The pidfile's directory, resolved once, and its name there.
fn locate(path: &CStr) -> Result<Located<'_>> {
    let at = path::locate(path, "pidfile")?;
    if at.trailing_slash {
        return Err(Error::new(
            Errno::EINVAL,
            format!("pidfile {} ends in '/': not a regular file", shown(path)),
        ));
    }
    Ok(at)
}

fn open_pidfile(
    at: &Located,
    path: &CStr,
    oflags: i32,
    mode: libc::mode_t,
    inherit: bool,
) -> Result<OwnedFd> {
    let fd = path::openat(&at.dir, &at.leaf, oflags, mode).map_err(|e| open_failed(e, path))?;
    if inherit {
        // path::openat always adds O_CLOEXEC; INHERIT keeps the lock across exec.
        // SAFETY: F_SETFD on the descriptor just opened.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
    }
    Ok(fd)
}

/// Why opening the pidfile's name failed, as acquire, check, read and kill
/// all say it.
fn open_failed(e: Errno, path: &CStr) -> Error {
    match e {
        Errno::ELOOP => Error::new(
            e,
            format!(
                "pidfile {} is a symbolic link (never followed)",
                shown(path)
            ),
        ),
        Errno::EISDIR => Error::new(
            Errno::EINVAL,
            format!("pidfile {} is a directory, not a regular file", shown(path)),
        ),
        // open(2) of a socket, or of a device without a driver.
        Errno::ENXIO => Error::new(
            Errno::EINVAL,
            format!(
                "pidfile {} is a socket or device, not a regular file",
                shown(path)
            ),
        ),
        e => Error::sys(e, format!("open pidfile {}", shown(path))),
    }
}

fn require_regular(st: &FileStat, path: &CStr) -> Result<()> {
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    let what = match kind {
        SFlag::S_IFREG => return Ok(()),
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFSOCK => "a socket",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        _ => "not a regular file",
    };
    Err(Error::new(
        Errno::EINVAL,
        format!("pidfile {} is {what}, not a regular file", shown(path)),
    ))
}

fn check_file_owner(st: &FileStat, path: &CStr) -> Result<()> {
    if st.st_mode & 0o002 != 0 {
        return Err(Error::new(
            Errno::EPERM,
            format!("pidfile {} is world-writable (strict mode)", shown(path)),
        ));
    }
    let euid = nix::unistd::geteuid().as_raw();
    if st.st_uid != euid && st.st_uid != 0 {
        return Err(Error::new(
            Errno::EPERM,
            format!(
                "pidfile {} is owned by uid {}, neither the caller (uid {euid}) nor root (strict mode)",
                shown(path),
                st.st_uid
            ),
        ));
    }
    Ok(())
}

/// Strict mode: the directory that will hold the pidfile (the one resolved,
/// not a name looked up again) must not be world-writable without the
/// sticky bit.
fn check_parent_dir(dir: &OwnedFd, path: &CStr) -> Result<()> {
    let st = path::fstat(dir)
        .map_err(|e| Error::sys(e, format!("stat the directory of pidfile {}", shown(path))))?;
    if st.st_mode & 0o002 != 0 && st.st_mode & libc::S_ISVTX == 0 {
        return Err(Error::new(
            Errno::EPERM,
            format!(
                "the directory of pidfile {} is world-writable without the sticky bit (strict mode)",
                shown(path)
            ),
        ));
    }
    Ok(())
}

/// A Rust path as a C string (paths are bytes; only NUL is refused).
pub(crate) fn path_cstring(path: &std::path::Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::new(
            Errno::EINVAL,
            format!(
                "path {} contains a NUL byte",
                Shown(path.as_os_str().as_bytes())
            ),
        )
    })
}

/// `path` made absolute against the current directory, for messages and
/// [`Pidfile::path`]; as given when the cwd cannot be had (a cwd longer
/// than PATH_MAX): the handle itself never looks the path up again.
fn absolute(path: &CStr) -> CString {
    let b = path.to_bytes();
    if b.first() == Some(&b'/') {
        return path.to_owned();
    }
    let Ok(cwd) = nix::unistd::getcwd() else {
        return path.to_owned();
    };
    let mut v = cwd.as_os_str().as_bytes().to_vec();
    if v.last() != Some(&b'/') {
        v.push(b'/');
    }
    v.extend_from_slice(b);
    CString::new(v).unwrap_or_else(|_| path.to_owned())
}

/// Takes the exclusive lock, waiting as `wait` says.
///
/// A finite wait polls with a short backoff (1 ms doubling to 25 ms): a
/// blocking flock can only be given a timeout by a signal, and a library
/// must not install signal handlers or timers in its host. The backoff
/// wakes at most 40 times a second and notices a release within 25 ms. An
/// unbounded wait is a plain blocking flock: the kernel wakes us the moment
/// the holder's lock goes.
///
/// Trying once, a refusal by shared locks alone is no holder: it is
/// [`check`]'s momentary probe (a holder's lock is always exclusive), so it
/// is retried with a short backoff (20 us doubling, 100 ms in all at most)
/// instead of reported as -EEXIST.
fn lock(fd: &OwnedFd, path: &CStr, wait: Wait, deadline: Option<Instant>) -> Result<()> {
    let raw = fd.as_raw_fd();
    let mut backoff = Duration::from_millis(1);
    let mut probe_backoff = Duration::from_micros(20);
    let mut probe_waited = Duration::ZERO;
    loop {
        let attempt =
            try_lock(raw).map_err(|e| Error::sys(e, format!("lock pidfile {}", shown(path))))?;
        if let Attempt::Got = attempt {
            return Ok(());
        }
        match (wait, deadline) {
            (Wait::Forever, _) => {
                return flock(raw, libc::LOCK_EX)
                    .context(|| format!("wait for the lock on pidfile {}", shown(path)));
            }
            (Wait::For(total), Some(deadline)) => {
                let now = Instant::now();
                if now >= deadline {
                    let holder = read_holder(raw);
                    return Err(Error::new(
                        Errno::ETIMEDOUT,
                        format!(
                            "pidfile {} is still {} after {} ms",
                            shown(path),
                            held_by(holder),
                            total.as_millis()
                        ),
                    )
                    .with_holder(holder));
                }
                std::thread::sleep(backoff.min(deadline - now));
                backoff = (backoff * 2).min(Duration::from_millis(25));
            }
            _ if matches!(attempt, Attempt::Shared)
                && probe_waited < Duration::from_millis(100) =>
            {
                std::thread::sleep(probe_backoff);
                probe_waited += probe_backoff;
                probe_backoff = (probe_backoff * 2).min(Duration::from_millis(10));
            }
            _ => {
                let holder = read_holder(raw);
                // One format, straight into the message: this is the path
                // every refused start takes.
                let message = match attempt {
                    Attempt::Shared => format!(
                        "pidfile {} is kept locked (shared) by other processes for over 100 ms",
                        shown(path)
                    ),
                    _ if holder > 0 => held_message(path, holder),
                    _ => format!(
                        "pidfile {} is held by another process (no pid written yet)",
                        shown(path)
                    ),
                };
                return Err(Error::new(Errno::EEXIST, message).with_holder(holder));
            }
        }
    }
}

/// "pidfile PATH is held by pid N", built without the formatting
/// machinery: it is the message of every refused start (the contended
/// acquire), whose cost is otherwise all system calls.
fn held_message(path: &CStr, holder: i32) -> String {
    let b = path.to_bytes();
    let mut m = String::with_capacity(b.len() + 32);
    m.push_str("pidfile ");
    match shown(path).plain() {
        Some(plain) => m.push_str(plain),
        None => {
            use std::fmt::Write;
            let _ = write!(m, "{}", shown(path));
        }
    }
    m.push_str(" is held by pid ");
    let mut digits = [0u8; 24];
    let mut w = sys::StackWriter::new(&mut digits);
    w.push_u64(u64::from(holder.unsigned_abs()));
    m.push_str(w.as_cstr().and_then(|c| c.to_str().ok()).unwrap_or("?"));
    m
}

/// What one non-blocking attempt at the exclusive lock met.
#[derive(Clone, Copy)]
enum Attempt {
    /// The lock is ours.
    Got,
    /// Another open file holds the exclusive lock: a holder.
    Exclusive,
    /// Only shared locks refused us: [`check`]'s probes, never a holder.
    Shared,
}

/// One non-blocking attempt at the exclusive lock. When refused, a shared
/// attempt tells an exclusive holder (which refuses it too) from shared
/// probes (which admit it); from there the lock is converted to exclusive,
/// which succeeds if the probes have gone meanwhile. A conversion refused
/// has dropped our shared lock (flock(2): conversion is not atomic); it is
/// unlocked explicitly all the same, so we never keep a shared lock that
/// would in turn refuse an acquirer.
fn try_lock(fd: RawFd) -> std::result::Result<Attempt, Errno> {
    match flock(fd, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => return Ok(Attempt::Got),
        Err(Errno::EWOULDBLOCK) => {}
        Err(e) => return Err(e),
    }
    match flock(fd, libc::LOCK_SH | libc::LOCK_NB) {
        Ok(()) => {}
        Err(Errno::EWOULDBLOCK) => return Ok(Attempt::Exclusive),
        Err(e) => return Err(e),
    }
    match flock(fd, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => Ok(Attempt::Got),
        Err(Errno::EWOULDBLOCK) => {
            let _ = flock(fd, libc::LOCK_UN);
            Ok(Attempt::Shared)
        }
        Err(e) => {
            let _ = flock(fd, libc::LOCK_UN);
            Err(e)
        }
    }
}

fn held_by(holder: i32) -> String {
    if holder > 0 {
        format!("held by pid {holder}")
    } else {
        "held by another process (no pid written yet)".to_string()
    }
}

/// flock(2), retrying EINTR. nix's `Flock` unlocks when dropped, which must
/// never happen in a forked child that shares the owner's lock, so the call
/// is made directly.
fn flock(fd: RawFd, op: i32) -> std::result::Result<(), Errno> {
    // SAFETY: flock on a descriptor the caller owns.
    sys::retry_eintr(|| unsafe { libc::flock(fd, op) } as isize).map(drop)
}

fn truncate(fd: RawFd) -> std::result::Result<(), Errno> {
    // SAFETY: ftruncate on a descriptor the caller owns.
    if unsafe { libc::ftruncate(fd, 0) } == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// Reads the pid a pidfile holds without changing anything: `None` for
/// content that is not one decimal pid. Whitespace around the pid may be
/// of any length up to [`MAX_PIDFILE_READ`]; a pidfile is almost always
/// one short read.
fn read_pid_at(fd: RawFd) -> std::result::Result<Option<i32>, Errno> {
    let mut parser = PidParser::default();
    let mut buf = [0u8; 64];
    let mut offset: usize = 0;
    loop {
        // SAFETY: pread into a buffer we own, at most its length.
        let n = sys::retry_eintr(|| unsafe {
            libc::pread(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                offset as libc::off_t,
            )
        })?;
        // A short read of a regular file is its end: one pread for a pidfile.
        if !parser.feed(&buf[..n]) || n < buf.len() {
            return Ok(parser.finish());
        }
        offset += n;
        if offset >= MAX_PIDFILE_READ {
            // Not a pidfile: no pid needs a megabyte of blanks.
            return Ok(None);
        }
    }
}

/// How much of a file [`read_pid_at`] reads before it calls the content
/// garbage.
const MAX_PIDFILE_READ: usize = 1 << 20;

/// Whitespace around a pid: C's isspace in the "C" locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Incremental parser of pidfile content (see [`parse_pid`]), so that the
/// content can be read in pieces of any size.
#[derive(Default)]
struct PidParser {
    /// 0: blanks before the pid, 1: in its digits, 2: blanks after it,
    /// 3: not a pid.
    state: u8,
    digits: u8,
    value: u64,
}

impl PidParser {
    /// Takes the next piece; false once the content cannot be a pid.
    fn feed(&mut self, piece: &[u8]) -> bool {
        for &b in piece {
            self.state = match (self.state, b) {
                (0 | 2, b) if is_space(b) => self.state,
                (1, b) if is_space(b) => 2,
                (0 | 1, b'0'..=b'9') if self.digits < 10 => {
                    self.digits += 1;
                    self.value = self.value * 10 + u64::from(b - b'0');
                    1
                }
                _ => 3,
            };
            if self.state == 3 {
                return false;
            }
        }
        true
    }

    fn finish(&self) -> Option<i32> {
        match (self.state, i32::try_from(self.value)) {
            (1 | 2, Ok(pid)) if pid > 0 => Some(pid),
            _ => None,
        }
    }
}

/// The holder's pid for -EEXIST: what the file says, 0 when it holds no
/// pid yet (NO_WRITE, mid-write, or garbage).
fn read_holder(fd: RawFd) -> i32 {
    read_pid_at(fd).ok().flatten().unwrap_or(0)
}

/// Parses pidfile content: one decimal pid in 1..=i32::MAX with optional
/// surrounding whitespace (space, \t, \n, \v, \f, \r, as C's isspace).
/// Empty content, signs, zero, overflow, more than 10 digits, trailing
/// garbage and more than one number are rejected.
pub fn parse_pid(content: &[u8]) -> Option<i32> {
    let mut parser = PidParser::default();
    if parser.feed(content) {
        parser.finish()
    } else {
        None
    }
}

impl Pidfile {
    /// Acquires the pidfile at `path` with the default [`Options`]: lock it,
    /// write our pid, fail with EEXIST (and [`Error::holder`]) when another
    /// live process holds it. Released (and removed) when dropped.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("pidkit-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("app.pid");
    /// {
    ///     let pf = pidkit::Pidfile::acquire(&path).unwrap();
    ///     assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
    ///     // A second acquire (even from this process) is refused: the lock decides.
    ///     let e = pidkit::Pidfile::acquire(&path).unwrap_err();
    ///     assert_eq!(e.errno(), nix::errno::Errno::EEXIST);
    ///     assert_eq!(e.holder(), Some(std::process::id() as i32));
    ///     drop(pf);
    /// }
    /// assert!(!path.exists(), "released and removed when dropped");
    /// # std::fs::remove_dir(&dir).unwrap();
    /// ```
    pub fn acquire(path: impl AsRef<std::path::Path>) -> Result<Pidfile> {
        Pidfile::acquire_with(path, &Options::default())
    }

    /// Acquires the pidfile at `path` with `opts`.
    pub fn acquire_with(path: impl AsRef<std::path::Path>, opts: &Options) -> Result<Pidfile> {
        acquire(&path_cstring(path.as_ref())?, opts)
    }

    fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// The locked descriptor.
    pub fn fd(&self) -> RawFd {
        self.raw_fd()
    }

    /// The path, made absolute at acquire (for messages: the handle never
    /// looks it up again).
    pub fn path(&self) -> &CStr {
        &self.path
    }

    /// The descriptor of the directory that held the pidfile at acquire
    /// (O_PATH, close-on-exec). Release works relative to it; a daemon made
    /// by detach keeps it beside the pidfile's.
    pub fn dir_fd(&self) -> RawFd {
        self.dir.as_raw_fd()
    }

    /// (Re)writes the calling process's pid and makes the calling process
    /// the owner (the one whose release removes the file), e.g. a forked
    /// child taking over. Truncate, then one pwrite: a reader sees either
    /// nothing or the whole pid.
    pub fn write(&mut self) -> Result<()> {
        let pid = crate::ids::getpid();
        let st = fstat(self.raw_fd()).context(|| format!("fstat pidfile {}", shown(&self.path)))?;
        sys::rewrite_pid(self.raw_fd(), pid, st.st_size > 0)
            .map_err(|e| Error::sys(e, format!("write pid to pidfile {}", shown(&self.path))))?;
        self.owner = pid;
        Ok(())
    }

    /// Makes this copy of the handle a non-owning one: its release only
    /// closes the descriptor (used after the daemon took the pidfile over).
    pub(crate) fn disown(&mut self) {
        self.owner = 0;
    }

    /// Records that `pid` now owns the pidfile (written by detach's
    /// intermediate process for the daemon).
    pub(crate) fn set_owner(&mut self, pid: i32) {
        self.owner = pid;
    }

    /// Whether the calling process owns the lock: it is the recorded owner
    /// and no forked child has taken over by writing its own pid since.
    fn owned_by_caller(&self) -> bool {
        if self.owner == 0 || crate::ids::getpid() != self.owner {
            return false;
        }
        match read_pid_at(self.raw_fd()) {
            Ok(Some(pid)) => pid == self.owner,
            // Nothing written yet (NO_WRITE), garbage, or unreadable: no
            // other process took it over through this API.
            _ => true,
        }
    }

    /// Removes the file now if the path still names it (the original after
    /// a failed detach with EXIT_PARENT: it is about to die).
    pub(crate) fn remove_now(&self) {
        let _ = self.remove_if_ours();
    }

    /// Makes sure the descriptor is not 0, 1 or 2, which detach and spawn
    /// overwrite with dup2. The new descriptor shares the open file
    /// description, and so the lock.
    pub(crate) fn move_above_stdio(&mut self) -> Result<()> {
        if let Some(fd) = self.fd.take() {
            let cloexec = {
                // SAFETY: F_GETFD on a descriptor we own.
                let f = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
                f >= 0 && f & libc::FD_CLOEXEC != 0
            };
            let moved = sys::above_stdio(fd)
                .map_err(|e| Error::sys(e, "move pidfile descriptor above stdio"))?;
            if !cloexec {
                // SAFETY: clearing FD_CLOEXEC again for an INHERIT pidfile.
                unsafe { libc::fcntl(moved.as_raw_fd(), libc::F_SETFD, 0) };
            }
            self.fd = Some(moved);
        }
        // The directory descriptor too: a daemon keeps it, and dup2 onto
        // 0..2 must not replace it with a terminal or /dev/null.
        if self.dir.as_raw_fd() <= 2 {
            let dir = self.dir.try_clone().map_err(|e| {
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EMFILE));
                Error::sys(errno, "move pidfile directory descriptor above stdio")
            })?;
            self.dir = sys::above_stdio(dir)
                .map_err(|e| Error::sys(e, "move pidfile directory descriptor above stdio"))?;
        }
        Ok(())
    }

    /// Unlinks the pidfile's name, in the directory that held it at
    /// acquire, if that name still designates the locked file.
    fn remove_if_ours(&self) -> std::result::Result<(), Errno> {
        match path::stat_at(&self.dir, &self.leaf) {
            Ok(st) if st.st_dev == self.dev && st.st_ino == self.ino => {}
            Ok(_) | Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        }
        match nix::unistd::unlinkat(
            Some(self.dir.as_raw_fd()),
            self.leaf.as_c_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes the file if the calling process owns the handle and the path
    /// still names the locked file, then unlocks and closes. A forked child
    /// that did not take ownership only closes its copy: never LOCK_UN
    /// there, it would unlock the owner's lock too.
    pub fn release(mut self) -> Result<()> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<()> {
        let Some(fd) = self.fd.as_ref() else {
            return Ok(());
        };
        let mut result = Ok(());
        if self.owned_by_caller() {
            if self.keep_file {
                // The file stays; its lock must go now even if inherited
                // copies of the descriptor live on in children.
                result = flock(fd.as_raw_fd(), libc::LOCK_UN);
            } else {
                // An unlinked file blocks nobody, so closing is unlock enough.
                result = self.remove_if_ours();
            }
        }
        self.fd = None;
        result.map_err(|e| Error::sys(e, format!("release pidfile {}", shown(&self.path))))
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = self.release_inner();
    }
}

/// An existing pidfile opened for reading, with the directory that holds it.
struct Existing<'a> {
    fd: OwnedFd,
    st: FileStat,
    at: Located<'a>,
}

/// Opens an existing pidfile for reading without creating anything or
/// following a link at its name (the directory part by the rules of
/// [`crate::path`]); `None` when it does not exist.
fn open_existing(path: &CStr) -> Result<Option<Existing<'_>>> {
    let at = match locate(path) {
        Ok(at) => at,
        Err(e) if e.errno() == Errno::ENOENT => return Ok(None),
        Err(e) => return Err(e),
    };
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let fd = match path::openat(&at.dir, &at.leaf, flags, 0) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(open_failed(e, path)),
    };
    let st = fstat(fd.as_raw_fd()).context(|| format!("fstat pidfile {}", shown(path)))?;
    require_regular(&st, path)?;
    // check, read and kill would otherwise name, and kill signal, the
    // holder of whatever file a second name leads to.
    refuse_hard_links(&st, path)?;
    Ok(Some(Existing { fd, st, at }))
}

/// Whether the file behind `fd` is exclusively locked by someone: a
/// non-blocking shared lock on our own descriptor fails only under an
/// exclusive one, and is dropped at once when it succeeds. An acquire that
/// meets this probe retries instead of failing (see [`lock`]).
///
/// /proc/locks is no substitute: in a pid namespace (a container) the
/// kernel leaves out every lock whose taker has exited or is not visible
/// there, such as the lock a daemon inherited from the process that
/// detached it, and its device numbers differ from st_dev on btrfs
/// subvolumes and overlayfs.
fn is_held(fd: &OwnedFd) -> bool {
    match flock(fd.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) {
        Err(Errno::EWOULDBLOCK) => true,
        Ok(()) => {
            let _ = flock(fd.as_raw_fd(), libc::LOCK_UN);
            false
        }
        Err(_) => false,
    }
}

/// `Some(holder)` when a live process holds the pidfile (holder 0 if it has
/// not written its pid yet, and 0 when the pid written in the file is not a
/// process that carries the lock, as far as /proc lets the caller see);
/// `None` when it is absent or stale. Never creates, changes or removes
/// anything: a momentary shared probe lock tells whether an exclusive one
/// is held.
pub fn check(path: &CStr) -> Result<Option<i32>> {
    // A holder may replace the file while we look (release + re-acquire):
    // look again when the name no longer designates what we examined.
    for _ in 0..8 {
        let Some(Existing { fd, st, at }) = open_existing(path)? else {
            return Ok(None);
        };
        if is_held(&fd) {
            let pid = read_holder(fd.as_raw_fd());
            // Whoever holds the lock can write any pid into the file: name
            // only a process that carries the lock, so `kill $(pidkit
            // status f)` never reaches a bystander.
            if pid > 0 && pid_holds_lock(pid, &st) == Some(false) {
                return Ok(Some(0));
            }
            return Ok(Some(pid));
        }
        match path::stat_at(&at.dir, &at.leaf) {
            Ok(now) if now.st_dev != st.st_dev || now.st_ino != st.st_ino => continue,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// The pid written in the pidfile, whether held or not.
pub fn read(path: &CStr) -> Result<i32> {
    let shown = shown(path);
    let Some(Existing { fd, .. }) = open_existing(path)? else {
        return Err(Error::new(
            Errno::ENOENT,
            format!("pidfile {shown} does not exist"),
        ));
    };
    match read_pid_at(fd.as_raw_fd()).context(|| format!("read pidfile {shown}"))? {
        Some(pid) => Ok(pid),
        None => Err(Error::new(
            Errno::EBADMSG,
            format!("pidfile {shown} does not hold one decimal pid"),
        )),
    }
}

/// Signals the holder of the pidfile, only while the file is held, through
/// a pidfd so that a recycled pid is never signalled. Returns the holder's
/// pid. `sig` 0 checks without signalling.
///
/// Without pidfds (Linux < 5.3) the lock is re-checked immediately before
/// kill(2); the remaining window is the few instructions between that check
/// and the kill, in which the holder would have to die and its pid be
/// reused.
pub fn kill(path: &CStr, sig: i32) -> Result<i32> {
    let shown = shown(path);
    if !(0..=64).contains(&sig) {
        return Err(Error::new(
            Errno::EINVAL,
            format!("kill pidfile {shown}: invalid signal {sig}"),
        ));
    }
    let Some(Existing { fd, st, .. }) = open_existing(path)? else {
        return Err(Error::new(
            Errno::ESRCH,
            format!("pidfile {shown} does not exist: nobody to signal"),
        ));
    };
    if !is_held(&fd) {
        return Err(Error::new(
            Errno::ESRCH,
            format!("pidfile {shown} is stale (not locked): nobody to signal"),
        ));
    }
    let pid = read_holder(fd.as_raw_fd());
    if pid == 0 {
        return Err(Error::new(
            Errno::ESRCH,
            format!("pidfile {shown} is held but holds no pid yet"),
        ));
    }
    let gone = || {
        Error::new(
            Errno::ESRCH,
            format!("pidfile {shown}: holder pid {pid} is gone"),
        )
    };
    // The pidfd pins the process that has this pid now; the lock re-check
    // after it proves that process is still the holder (a dead holder's
    // lock is gone), so a pid recycled in between is never signalled.
    let pidfd = match sys::pidfd_open(pid) {
        Ok(pidfd) => Some(pidfd),
        Err(Errno::ESRCH) => return Err(gone()),
        Err(Errno::ENOSYS) | Err(Errno::EPERM) => None,
        Err(e) => {
            return Err(Error::sys(
                e,
                format!("pidfile {shown}: pidfd_open(pid {pid})"),
            ))
        }
    };
    if !is_held(&fd) || read_holder(fd.as_raw_fd()) != pid {
        return Err(gone());
    }
    // The lock says who holds the file; the pid in it may name someone
    // else: a holder that died while a child it forked keeps the lock (the
    // file then names the dead pid, perhaps recycled by now). The process
    // the pidfd pins must be one that carries the lock.
    if pid_holds_lock(pid, &st) == Some(false) {
        return Err(Error::new(
            Errno::ESRCH,
            format!(
                "pidfile {shown} is held, but not by pid {pid} that it names \
                 (a process that inherited the lock holds it): nobody to signal"
            ),
        ));
    }
    let sent = match &pidfd {
        Some(pidfd) => match sys::pidfd_send_signal(pidfd.as_raw_fd(), sig) {
            Err(Errno::ENOSYS) => sys::kill(pid, sig),
            r => r,
        },
        None => sys::kill(pid, sig),
    };
    sent.map_err(|e| match e {
        Errno::ESRCH => gone(),
        e => Error::sys(
            e,
            format!("signal {sig} to pid {pid} holding pidfile {shown}"),
        ),
    })?;
    Ok(pid)
}

/// Whether process `pid` carries the exclusive flock on the file `st`
/// describes: one of its descriptors is the open file description that took
/// the lock, which /proc/PID/fdinfo/N shows with a FLOCK WRITE "lock:" line
/// (shown only for that description, and shown even where /proc/locks
/// hides the lock). `None` when /proc does not tell (no permission to look
/// into that process: another user's, or not dumpable).
fn pid_holds_lock(pid: i32, st: &FileStat) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    // dev_t and ino_t are not u64 on every target.
    #[allow(clippy::unnecessary_cast)]
    let (dev, ino) = (st.st_dev as u64, st.st_ino as u64);
    let entries = match std::fs::read_dir(format!("/proc/{pid}/fd")) {
        Ok(entries) => entries,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Some(false),
        Err(_) => return None,
    };
    for entry in entries.flatten() {
        let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // stat follows the magic link to the open file itself.
        let Ok(target) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if target.dev() != dev || target.ino() != ino {
            continue;
        }
        match std::fs::read(format!("/proc/{pid}/fdinfo/{n}")) {
            Ok(info) if fdinfo_has_exclusive_flock(&info) => return Some(true),
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => return None,
            Err(_) => {}
        }
    }
    Some(false)
}

/// Parses /proc/PID/fdinfo/N: does a "lock:" line name an exclusive flock?
fn fdinfo_has_exclusive_flock(info: &[u8]) -> bool {
    info.split(|&b| b == b'\n')
        .filter(|line| line.starts_with(b"lock:"))
        .any(|line| {
            let mut words = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty());
            words.any(|w| w == b"FLOCK") && words.any(|w| w == b"WRITE")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_pid_accepts_one_decimal_pid() {
        assert_eq!(parse_pid(b"42"), Some(42));
        assert_eq!(parse_pid(b"42\n"), Some(42));
        assert_eq!(parse_pid(b" \t42 \n"), Some(42));
        assert_eq!(parse_pid(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse_pid(b"0042"), Some(42));
        assert_eq!(
            parse_pid(b"\x0b42\x0c\r\n"),
            Some(42),
            "isspace's \\v and \\f"
        );
    }

    #[test]
    fn parse_pid_rejects_everything_else() {
        for bad in [
            &b""[..],
            b"\n",
            b"  ",
            b"0",
            b"00",
            b"-5",
            b"+5",
            b"abc",
            b"12abc",
            b"12 34",
            b"1\n2\n",
            b"2147483648",
            b"99999999999999",
            b"4.2",
            b"0x10",
            b"\x0042",
            b"42\x00",
        ] {
            assert_eq!(
                parse_pid(bad),
                None,
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn parse_pid_property_round_trip_and_no_panic() {
        // Fixed-seed generator: reproducible, no dependency.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let pid = (x % (i32::MAX as u64)) as i32 + 1;
            assert_eq!(parse_pid(format!("{pid}\n").as_bytes()), Some(pid));
            let len = (x >> 32) as usize % 16;
            let bytes: Vec<u8> = (0..len)
                .map(|i| b"0123456789 \n-+x\0"[((x >> (i * 4)) & 15) as usize])
                .collect();
            if let Some(p) = parse_pid(&bytes) {
                // Whatever is accepted is exactly digits with whitespace around.
                let s = String::from_utf8(bytes.clone()).unwrap();
                assert_eq!(
                    s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}')
                        .parse::<i32>()
                        .unwrap(),
                    p
                );
            }
        }
    }

    #[test]
    fn read_pid_at_reads_past_any_short_buffer() {
        let path = std::env::temp_dir().join(format!("pidkit-readpid-{}", std::process::id()));
        let at = |content: &[u8]| {
            std::fs::write(&path, content).unwrap();
            let f = std::fs::File::open(&path).unwrap();
            read_pid_at(f.as_raw_fd()).unwrap()
        };
        let mut long = vec![b' '; 8192];
        long.extend_from_slice(b"123\n");
        assert_eq!(
            at(&long),
            Some(123),
            "blanks before the pid, longer than one read"
        );
        let mut tail = b"123".to_vec();
        tail.extend(std::iter::repeat_n(b'\n', 5000));
        assert_eq!(at(&tail), Some(123), "blanks after it");
        let mut garbage = vec![b' '; 100];
        garbage.extend_from_slice(b"123 x");
        assert_eq!(at(&garbage), None);
        assert_eq!(
            at(&vec![b' '; MAX_PIDFILE_READ + 10]),
            None,
            "only blanks, a megabyte of them"
        );
        assert_eq!(at(b"4242\n"), Some(4242));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn try_lock_tells_holders_from_probes() {
        let path = std::env::temp_dir().join(format!("pidkit-trylock-{}", std::process::id()));
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map(OwnedFd::from)
                .unwrap()
        };
        let (ours, other) = (open(), open());
        flock(other.as_raw_fd(), libc::LOCK_SH).unwrap();
        assert!(matches!(try_lock(ours.as_raw_fd()), Ok(Attempt::Shared)));
        // We were left without a lock: the probe's holder can take it over.
        flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB).unwrap();
        assert!(matches!(try_lock(ours.as_raw_fd()), Ok(Attempt::Exclusive)));
        flock(other.as_raw_fd(), libc::LOCK_UN).unwrap();
        assert!(matches!(try_lock(ours.as_raw_fd()), Ok(Attempt::Got)));
        assert!(is_held(&other));
        flock(ours.as_raw_fd(), libc::LOCK_UN).unwrap();
        assert!(!is_held(&other));
        // The probe left nothing behind.
        assert!(matches!(try_lock(ours.as_raw_fd()), Ok(Attempt::Got)));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn fdinfo_lock_lines() {
        let held = b"pos:\t0\nflags:\t02100001\nmnt_id:\t27\nino:\t10010669\n\
lock:\t1: FLOCK  ADVISORY  WRITE 0 fe:00:10010669 0 EOF\n";
        assert!(fdinfo_has_exclusive_flock(held));
        assert!(!fdinfo_has_exclusive_flock(
            b"pos:\t0\nflags:\t02100000\nino:\t10010669\n"
        ));
        assert!(!fdinfo_has_exclusive_flock(
            b"lock:\t1: FLOCK  ADVISORY  READ 12 fe:00:1 0 EOF\n"
        ));
        assert!(!fdinfo_has_exclusive_flock(
            b"lock:\t1: POSIX  ADVISORY  WRITE 12 fe:00:1 0 EOF\n"
        ));
    }

    #[test]
    fn a_process_carries_the_lock_it_took() {
        let path = std::env::temp_dir().join(format!("pidkit-holds-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let st = fstat(file.as_raw_fd()).unwrap();
        let me = crate::ids::getpid();
        assert_eq!(pid_holds_lock(me, &st), Some(false), "open, not locked");
        flock(file.as_raw_fd(), libc::LOCK_EX).unwrap();
        assert_eq!(pid_holds_lock(me, &st), Some(true));
        let other = std::fs::File::open(&path).unwrap();
        flock(file.as_raw_fd(), libc::LOCK_UN).unwrap();
        flock(other.as_raw_fd(), libc::LOCK_SH).unwrap();
        assert_eq!(
            pid_holds_lock(me, &st),
            Some(false),
            "a shared lock is no holder's"
        );
        let _ = std::fs::remove_file(&path);
    }
}
