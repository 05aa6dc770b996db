//! After the fork: the only code that runs between fork/clone and exec
//! (spawn) or the daemon's return (detach), in the forked processes.
//!
//! Both callers prepare a plan before the fork (files opened, descriptors
//! moved above 2, the list of descriptors to keep sorted) and then run
//! [`fork_detach`] (the fork and [`detach_child`]) or clone into
//! [`spawn_intermediate`] / [`spawn_program`], which
//! share one setup sequence ([`setup`]: pidfile, stdio, working directory,
//! umask, descriptors, signals), one [`Step`] enum and one failure report
//! ([`Failure`]: the step and the errno, sent by [`fail`] through the
//! caller's [`Sink`]).
//!
//! What runs here may run in the child of a multi-threaded process, on the
//! caller's memory (spawn's CLONE_VM): only async-signal-safe system calls,
//! no allocation, no lock, no formatting, and no panic path. The lints
//! below make the last one checked rather than promised (`make check` runs
//! clippy): no indexing or slicing that can panic, no unwrap/expect/panic.
//! The entry points are `#[inline(never)]` and every function on the path
//! is placed in one text section, `.text.pidkit_child`, so that the forked
//! processes fault in few code pages of the library (a fork maps the
//! library's text anew: each page it runs is a page fault); nothing from
//! std runs on it (core only, and libc's system call wrappers).
#![deny(
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::os::raw::{c_char, c_void};
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// A setup step of the forked processes that can fail. One enum for detach
/// and spawn; the number is what travels on the readiness channel or in
/// the shared outcome block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum Step {
    /// setsid() in the process that is to lead the new session.
    Setsid = 1,
    /// The second fork (detach) or the clone of the program process (spawn).
    Fork = 2,
    /// Writing the new process's pid into the pidfile (or keeping its lock
    /// across exec).
    Pidfile = 3,
    /// dup2 of the prepared files onto 0, 1, 2.
    Stdio = 4,
    /// fchdir to the prepared working directory, or chdir("/").
    Chdir = 5,
    /// Closing every descriptor not kept.
    CloseFds = 6,
    /// execve of the program (spawn).
    Exec = 7,
}

impl Step {
    /// The step numbered `raw`, as sent by [`Failure::encode`].
    pub(crate) fn from_raw(raw: i32) -> Option<Step> {
        Some(match raw {
            1 => Step::Setsid,
            2 => Step::Fork,
            3 => Step::Pidfile,
            4 => Step::Stdio,
            5 => Step::Chdir,
            6 => Step::CloseFds,
            7 => Step::Exec,
            _ => return None,
        })
    }
}

/// A failed step and its errno: what a forked process reports before it
/// leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The step that failed.
    pub(crate) step: Step,
    /// Its errno (a raw number: nix's conversion is left to the reader, in
    /// the original process).
    pub(crate) errno: i32,
}

/// What travels on detach's readiness channel: one SOCK_SEQPACKET message
/// of four native-endian i32s (kind, step, errno or status, pid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// The daemon's pid (NO_WAIT: sent as soon as the daemon exists).
    Pid(i32),
    /// A setup step failed.
    Failed(Failure),
    /// The daemon's readiness report: its pid and 0 or -errno.
    Ready {
        /// The daemon's pid.
        pid: i32,
        /// 0 (ready) or -errno (failed).
        status: i32,
    },
}

/// Size of one message on the readiness channel.
pub(crate) const REPORT_LEN: usize = 16;

const KIND_PID: i32 = 1;
const KIND_FAILED: i32 = 2;
const KIND_READY: i32 = 3;

impl Report {
    fn encode(self) -> [u8; REPORT_LEN] {
        let (kind, step, value, pid) = match self {
            Report::Pid(pid) => (KIND_PID, 0, 0, pid),
            Report::Failed(f) => (KIND_FAILED, f.step as i32, f.errno, 0),
            Report::Ready { pid, status } => (KIND_READY, 0, status, pid),
        };
        let mut b = [0u8; REPORT_LEN];
        let words = [kind, step, value, pid];
        for (chunk, w) in b.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_ne_bytes());
        }
        b
    }

    /// Decodes a message (in the original process); None for an unknown
    /// kind or step.
    pub(crate) fn decode(b: &[u8; REPORT_LEN]) -> Option<Report> {
        let mut words = [0i32; 4];
        for (w, chunk) in words.iter_mut().zip(b.chunks_exact(4)) {
            let mut four = [0u8; 4];
            four.copy_from_slice(chunk);
            *w = i32::from_ne_bytes(four);
        }
        let [kind, step, value, pid] = words;
        match kind {
            KIND_PID => Some(Report::Pid(pid)),
            KIND_FAILED => Some(Report::Failed(Failure {
                step: Step::from_raw(step)?,
                errno: value,
            })),
            KIND_READY => Some(Report::Ready { pid, status: value }),
            _ => None,
        }
    }
}

/// Sends one report; MSG_NOSIGNAL so that a gone reader is EPIPE, not a
/// SIGPIPE that would kill the daemon. Err holds the errno.
#[link_section = ".text.pidkit_child"]
pub(crate) fn send_report(channel: RawFd, report: Report) -> Result<(), i32> {
    let b = report.encode();
    loop {
        // SAFETY: b is valid for its length.
        let r = unsafe { libc::send(channel, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(());
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// Written by spawn's children, read by the caller after they are done
/// (in the MAP_SHARED region, so that it also works when the clone turns
/// out fork-like).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The program's pid (set by the intermediate).
    pub(crate) pid: AtomicI32,
    /// The failing step ([`Step`] as i32), 0 if none.
    pub(crate) step: AtomicI32,
    /// Its errno.
    pub(crate) errno: AtomicI32,
}

impl Outcome {
    /// The failure the children recorded, if any.
    pub(crate) fn failure(&self) -> Option<Failure> {
        Step::from_raw(self.step.load(Ordering::SeqCst)).map(|step| Failure {
            step,
            errno: self.errno.load(Ordering::SeqCst),
        })
    }
}

/// Where a forked process reports a failed step: detach's readiness
/// channel, or spawn's shared outcome block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sink {
    /// The daemon's end of the readiness channel.
    Channel(RawFd),
    /// The outcome block, alive while the caller is suspended.
    Shared(*const Outcome),
}

/// Reports `step` failed with `errno` and leaves the process (_exit 1 for
/// detach, 127 for spawn, as a shell does for a program it cannot run).
#[link_section = ".text.pidkit_child"]
pub(crate) fn fail(sink: Sink, step: Step, errno: i32) -> ! {
    let failure = Failure { step, errno };
    let code = match sink {
        Sink::Channel(fd) => {
            let _ = send_report(fd, Report::Failed(failure));
            1
        }
        Sink::Shared(outcome) => {
            // SAFETY: the outcome block outlives the children (the caller
            // is suspended until they exec or exit).
            let outcome = unsafe { &*outcome };
            outcome.errno.store(errno, Ordering::SeqCst);
            outcome.step.store(step as i32, Ordering::SeqCst);
            127
        }
    };
    // SAFETY: _exit never returns and runs no user code (no atexit, no
    // stdio flush of the caller's buffers).
    unsafe { libc::_exit(code) }
}

/// The calling thread's errno.
#[link_section = ".text.pidkit_child"]
fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// What both callers ask of the new process, prepared before the fork.
/// Every descriptor is >= 3 (moved there before the fork), so no dup2 onto
/// 0..2 clobbers one of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setup<'a> {
    /// Descriptors to dup2 onto 0, 1, 2 (the same one may appear twice:
    /// one /dev/null for every default stream); -1 keeps that stream.
    pub(crate) stdio: [RawFd; 3],
    /// The directory to fchdir into, -1 for none.
    pub(crate) workdir: RawFd,
    /// chdir("/") (no workdir given and the cwd not kept).
    pub(crate) chdir_root: bool,
    /// The new umask, None to keep the caller's.
    pub(crate) umask: Option<libc::mode_t>,
    /// The pidfile's descriptor, -1 for none.
    pub(crate) pidfile: RawFd,
    /// Write this process's pid into the pidfile.
    pub(crate) pidfile_write: bool,
    /// Keep the pidfile's lock across exec (clear FD_CLOEXEC).
    pub(crate) pidfile_inherit: bool,
    /// Descriptors to keep, sorted ascending, no duplicates; None = close
    /// nothing.
    pub(crate) keep: Option<&'a [RawFd]>,
    /// Signals to reset to SIG_DFL, bit n-1 for signal n.
    pub(crate) signals_to_reset: u64,
}

/// The setup sequence of a new process, for detach's daemon and spawn's
/// program alike: pidfile, stdio, working directory, umask, descriptors,
/// signals. `me` is this process's pid. Leaves through [`fail`] on error.
#[link_section = ".text.pidkit_child"]
pub(crate) fn setup(s: &Setup<'_>, me: i32, sink: Sink) {
    if s.pidfile >= 0 {
        if s.pidfile_write {
            if let Err(e) = rewrite_pid(s.pidfile, me, true) {
                fail(sink, Step::Pidfile, e);
            }
        }
        // The lock must survive exec: clear FD_CLOEXEC in this process only.
        // SAFETY: fcntl on the pidfile descriptor.
        if s.pidfile_inherit && unsafe { libc::fcntl(s.pidfile, libc::F_SETFD, 0) } < 0 {
            fail(sink, Step::Pidfile, errno());
        }
    }
    for (target, &fd) in (0..).zip(&s.stdio) {
        // SAFETY: dup2 from a prepared descriptor >= 3 onto 0, 1 or 2.
        if fd >= 0 && unsafe { libc::dup2(fd, target) } < 0 {
            fail(sink, Step::Stdio, errno());
        }
    }
    // Our copies of the stdio files are not needed any more: closing them
    // now leaves descriptors free for the /proc/self/fd listing that
    // replaces close_range on old kernels (a caller at its fd limit).
    let [a, b, c] = s.stdio;
    for (fd, earlier) in [(a, [-1, -1]), (b, [a, -1]), (c, [a, b])] {
        if fd > 2 && !earlier.contains(&fd) {
            // SAFETY: a prepared copy, closed in this process only.
            unsafe { libc::close(fd) };
        }
    }
    if s.workdir >= 0 {
        // SAFETY: fchdir to the directory opened before the fork.
        if unsafe { libc::fchdir(s.workdir) } < 0 {
            fail(sink, Step::Chdir, errno());
        }
        // SAFETY: as above; this process's copy only.
        unsafe { libc::close(s.workdir) };
    } else if s.chdir_root {
        // On the stack: a static path would make the kernel read (and the
        // process fault in) a page of the library's read-only data.
        let root = [b'/' as c_char, 0];
        // SAFETY: chdir with a NUL-terminated path.
        if unsafe { libc::chdir(root.as_ptr()) } < 0 {
            fail(sink, Step::Chdir, errno());
        }
    }
    if let Some(mask) = s.umask {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask) };
    }
    if let Some(keep) = s.keep {
        if let Err(e) = close_all_except(keep) {
            fail(sink, Step::CloseFds, e);
        }
    }
    reset_signals(s.signals_to_reset);
}

/// What detach's forked processes need, prepared before the fork.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DetachPlan<'a> {
    /// The original's end of the readiness channel (closed here).
    pub(crate) ours: RawFd,
    /// The daemon's end.
    pub(crate) theirs: RawFd,
    /// One fork only: the daemon leads its session.
    pub(crate) single_fork: bool,
    /// The original returns on the daemon's pid, without a readiness report.
    pub(crate) no_wait: bool,
    /// The daemon's setup (`pidfile_write` is decided here).
    pub(crate) setup: Setup<'a>,
}

/// Which side of [`fork_detach`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forked {
    /// In the daemon, set up, with its pid.
    Daemon(i32),
    /// In the original, with the first child's pid.
    Original(i32),
}

/// detach's fork: in the child, [`detach_child`] runs and only the daemon
/// returns, set up. Err holds fork's errno.
#[inline(never)]
#[link_section = ".text.pidkit_child"]
pub(crate) fn fork_detach(plan: &DetachPlan<'_>) -> Result<Forked, i32> {
    // SAFETY: fork has no preconditions; the child runs only the
    // async-signal-safe code of this module until the daemon returns.
    match unsafe { libc::fork() } {
        0 => Ok(Forked::Daemon(detach_child(plan))),
        pid if pid > 0 => Ok(Forked::Original(pid)),
        _ => Err(errno()),
    }
}

/// detach's forked side: setsid, second fork (the intermediate writes the
/// pidfile and reports the daemon's pid with NO_WAIT, then leaves), then
/// the daemon's setup. Returns only in the daemon, with its pid.
#[inline(never)]
#[link_section = ".text.pidkit_child"]
pub(crate) fn detach_child(plan: &DetachPlan<'_>) -> i32 {
    let sink = Sink::Channel(plan.theirs);
    // SAFETY: closing the original's end in this process only.
    unsafe { libc::close(plan.ours) };
    // SAFETY: setsid has no preconditions.
    if unsafe { libc::setsid() } < 0 {
        fail(sink, Step::Setsid, errno());
    }
    if !plan.single_fork {
        // SAFETY: fork in the single-threaded intermediate.
        let daemon = unsafe { libc::fork() };
        if daemon < 0 {
            fail(sink, Step::Fork, errno());
        }
        if daemon > 0 {
            // The intermediate. With NO_WAIT the original returns on the
            // daemon's pid, so it writes the pidfile and reports the pid;
            // otherwise the daemon does both with its readiness report,
            // which saves the original a wake-up.
            if plan.no_wait {
                if plan.setup.pidfile >= 0 {
                    if let Err(e) = rewrite_pid(plan.setup.pidfile, daemon, true) {
                        // SAFETY: kill the daemon we just made; it has not reported.
                        unsafe { libc::kill(daemon, libc::SIGKILL) };
                        fail(sink, Step::Pidfile, e);
                    }
                }
                let _ = send_report(plan.theirs, Report::Pid(daemon));
            }
            // SAFETY: the intermediate's work is done.
            unsafe { libc::_exit(0) };
        }
    }
    // The daemon writes its own pid into the pidfile before it can report
    // ready, so the file names the daemon when the original returns (a
    // service manager with Type=forking reads it then).
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let setup = Setup {
        pidfile_write: plan.single_fork || !plan.no_wait,
        ..plan.setup
    };
    self::setup(&setup, me, sink);
    if plan.single_fork && plan.no_wait {
        let _ = send_report(plan.theirs, Report::Pid(me));
    }
    me
}

/// What spawn's children need, prepared before the first clone; read-only
/// while they run.
#[derive(Debug)]
pub(crate) struct SpawnPlan<'a> {
    /// The program to exec (an absolute path).
    pub(crate) program: *const c_char,
    /// NULL-terminated argument vector.
    pub(crate) argv: *const *const c_char,
    /// NULL-terminated environment.
    pub(crate) envp: *const *const c_char,
    /// Where the children record the program's pid or a failure.
    pub(crate) outcome: *const Outcome,
    /// Top of the program's stack (double fork only).
    pub(crate) program_stack: *mut c_void,
    /// The clone flags of both levels.
    pub(crate) clone_flags: i32,
    /// The program's setup (always with `pidfile_write` and
    /// `pidfile_inherit`: the program holds the lock itself).
    pub(crate) setup: Setup<'a>,
}

/// spawn's intermediate: starts the program process and leaves, so that
/// the program is reparented and never the caller's child or zombie.
#[inline(never)]
#[link_section = ".text.pidkit_child"]
pub(crate) extern "C" fn spawn_intermediate(arg: *mut c_void) -> i32 {
    // SAFETY: arg is the caller's plan, alive while the caller is suspended.
    let plan = unsafe { &*arg.cast::<SpawnPlan<'_>>() };
    let sink = Sink::Shared(plan.outcome);
    // SAFETY: as for the first clone (spawn::clone_blocked); the program
    // stack is separate from ours, and we are suspended until it execs.
    let pid = unsafe { libc::clone(spawn_program, plan.program_stack, plan.clone_flags, arg) };
    if pid < 0 {
        fail(sink, Step::Fork, errno());
    }
    // SAFETY: as in fail().
    let outcome = unsafe { &*plan.outcome };
    outcome.pid.store(pid, Ordering::SeqCst);
    if outcome.step.load(Ordering::SeqCst) != 0 {
        // The program failed before or at exec: reap it here.
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
    // SAFETY: leaving the intermediate.
    unsafe { libc::_exit(0) }
}

/// spawn's program process: a new session (after the last fork), the
/// common setup, exec.
#[inline(never)]
#[link_section = ".text.pidkit_child"]
pub(crate) extern "C" fn spawn_program(arg: *mut c_void) -> i32 {
    // SAFETY: as in spawn_intermediate.
    let plan = unsafe { &*arg.cast::<SpawnPlan<'_>>() };
    let sink = Sink::Shared(plan.outcome);
    // SAFETY: setsid has no preconditions.
    if unsafe { libc::setsid() } < 0 {
        fail(sink, Step::Setsid, errno());
    }
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    setup(&plan.setup, me, sink);
    // SAFETY: program, argv and envp are NUL-terminated and NULL-terminated
    // arrays prepared before the clone.
    unsafe { libc::execve(plan.program, plan.argv, plan.envp) };
    fail(sink, Step::Exec, errno())
}

/// "PID\n" into `buf`; the number of bytes written.
#[link_section = ".text.pidkit_child"]
fn pid_text(pid: i32, buf: &mut [u8; 12]) -> usize {
    let mut digits = [0u8; 11];
    let mut v = pid.max(0).unsigned_abs();
    let mut n = 0;
    for d in digits.iter_mut() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
        if v == 0 {
            break;
        }
    }
    let mut len = 0;
    for (out, &d) in buf.iter_mut().zip(digits.iter().take(n).rev().chain(b"\n")) {
        *out = d;
        len += 1;
    }
    len
}

/// Writes "PID\n" at offset 0 of `fd` with one pwrite after truncating the
/// file (skipped when `truncate` is false): a reader sees either nothing
/// or the whole pid. Also used by the pidfile module before any fork.
/// Err holds the errno.
#[link_section = ".text.pidkit_child"]
pub(crate) fn rewrite_pid(fd: RawFd, pid: i32, truncate: bool) -> Result<(), i32> {
    // SAFETY: ftruncate on a descriptor the caller owns.
    if truncate && unsafe { libc::ftruncate(fd, 0) } < 0 {
        return Err(errno());
    }
    let mut buf = [0u8; 12];
    let len = pid_text(pid, &mut buf).min(buf.len());
    loop {
        // SAFETY: buf is valid for len <= buf.len() bytes.
        let n = unsafe { libc::pwrite(fd, buf.as_ptr().cast(), len, 0) };
        if n >= 0 {
            // A short write (a full disk) must not leave a partial pid behind.
            return if n as usize == len {
                Ok(())
            } else {
                Err(libc::ENOSPC)
            };
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// Closes every descriptor that is not in `keep` (sorted ascending, no
/// duplicates). Err holds the errno.
///
/// close_range(2) (Linux 5.9) closes each gap in one call; on ENOSYS (or
/// EPERM from a seccomp filter) the open descriptors are listed from
/// /proc/self/fd with getdents64 into a stack buffer. Never a loop up to
/// RLIMIT_NOFILE: python-daemon's loop takes seconds at a limit of 1M.
#[link_section = ".text.pidkit_child"]
pub(crate) fn close_all_except(keep: &[RawFd]) -> Result<(), i32> {
    match close_gaps(keep) {
        Err(libc::ENOSYS) | Err(libc::EPERM) => close_listed(keep),
        r => r,
    }
}

#[link_section = ".text.pidkit_child"]
fn close_gaps(keep: &[RawFd]) -> Result<(), i32> {
    let mut low: u32 = 0;
    for &k in keep {
        let Ok(k) = u32::try_from(k) else { continue };
        if k > low {
            close_range(low, k - 1)?;
        }
        low = k.saturating_add(1);
    }
    close_range(low, u32::MAX)
}

#[link_section = ".text.pidkit_child"]
fn close_range(first: u32, last: u32) -> Result<(), i32> {
    // SAFETY: close_range only closes descriptors; the caller has decided
    // that none in [first, last] is needed any more.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// Offset of d_reclen and of d_name in struct linux_dirent64 (u64 ino,
/// i64 off, u16 reclen, u8 type, name[]).
const DIRENT_RECLEN: usize = 16;
const DIRENT_NAME: usize = 19;

/// The records of one getdents64 buffer: each record's name (up to its
/// NUL). Stops at a record whose length is too short or runs past the
/// buffer, without panicking on a malformed one.
struct Dirents<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Dirents<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let reclen = match self.rest.get(DIRENT_RECLEN..DIRENT_RECLEN + 2) {
            Some(&[lo, hi]) => usize::from(u16::from_ne_bytes([lo, hi])),
            _ => return None,
        };
        // A record holds at least its header and a NUL.
        let (Some(record), Some(rest)) = (
            self.rest.get(..reclen).filter(|_| reclen > DIRENT_NAME),
            self.rest.get(reclen..),
        ) else {
            self.rest = &[];
            return None;
        };
        self.rest = rest;
        let name = record.get(DIRENT_NAME..).unwrap_or(&[]);
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(name.get(..end).unwrap_or(name))
    }
}

#[link_section = ".text.pidkit_child"]
fn close_listed(keep: &[RawFd]) -> Result<(), i32> {
    // SAFETY: open with a static path; the descriptor is closed below.
    let dirfd = unsafe {
        libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dirfd < 0 {
        return Err(errno());
    }
    let r = close_listed_in(dirfd, keep);
    // SAFETY: the descriptor opened above.
    unsafe { libc::close(dirfd) };
    r
}

#[link_section = ".text.pidkit_child"]
fn close_listed_in(dirfd: RawFd, keep: &[RawFd]) -> Result<(), i32> {
    // Closing while listing may make the kernel skip entries: list again
    // until a whole pass closes nothing.
    loop {
        let mut closed_any = false;
        // SAFETY: rewinding a directory descriptor we own.
        if unsafe { libc::lseek(dirfd, 0, libc::SEEK_SET) } < 0 {
            return Err(errno());
        }
        let mut buf = [0u8; 1024];
        loop {
            // SAFETY: getdents64 writes at most buf.len() bytes into buf.
            let n =
                unsafe { libc::syscall(libc::SYS_getdents64, dirfd, buf.as_mut_ptr(), buf.len()) };
            if n < 0 {
                return Err(errno());
            }
            let filled = buf.get(..n as usize).unwrap_or(&[]);
            if filled.is_empty() {
                break;
            }
            for name in (Dirents { rest: filled }) {
                let Some(fd) = parse_fd(name) else { continue };
                if fd != dirfd && keep.binary_search(&fd).is_err() {
                    // Only a close that worked counts: a descriptor that
                    // cannot be closed (EBADF: e.g. reserved by valgrind)
                    // would otherwise make us list again forever.
                    // SAFETY: closing a descriptor the caller asked us not to keep.
                    if unsafe { libc::close(fd) } == 0 {
                        closed_any = true;
                    }
                }
            }
        }
        if !closed_any {
            return Ok(());
        }
    }
}

/// A decimal descriptor number ("17"), None for "." and anything else.
#[link_section = ".text.pidkit_child"]
fn parse_fd(name: &[u8]) -> Option<RawFd> {
    if name.is_empty() || name.len() > 10 {
        return None;
    }
    let mut v: i64 = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    RawFd::try_from(v).ok()
}

/// Resets signal dispositions to SIG_DFL and empties the signal mask, as
/// daemon(7) asks. `which` has bit n-1 set for each signal n to reset
/// (u64::MAX: all). Dispositions are reset while the mask still blocks
/// what the caller blocked, so no inherited handler can run in the new
/// process.
#[link_section = ".text.pidkit_child"]
pub(crate) fn reset_signals(which: u64) {
    // The raw system call, because the C library's sigaction refuses its
    // own reserved real-time signals (32 and 33 in glibc) with EINVAL, and
    // an ignored one would stay ignored in the new process. An all-zero
    // kernel sigaction is SIG_DFL with no flags and an empty mask on every
    // architecture's layout.
    let dfl = [0u64; 4];
    for sig in 1..65 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || which & (1u64 << (sig - 1)) == 0 {
            continue;
        }
        // SAFETY: a valid (zeroed = SIG_DFL) kernel sigaction, no old
        // action requested, 8-byte kernel sigset.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
    let empty = 0u64;
    // SAFETY: an empty 8-byte kernel sigset; the raw call, as above (the C
    // library's sigprocmask would keep its reserved signals blocked anyway,
    // and the raw call touches no more of its code).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn pid_text_is_the_number_and_a_newline() {
        let mut b = [0u8; 12];
        let n = pid_text(4242, &mut b);
        assert_eq!(&b[..n], b"4242\n");
        let n = pid_text(i32::MAX, &mut b);
        assert_eq!(&b[..n], b"2147483647\n");
        let n = pid_text(0, &mut b);
        assert_eq!(&b[..n], b"0\n");
    }

    #[test]
    fn fd_names() {
        assert_eq!(parse_fd(b"17"), Some(17));
        assert_eq!(parse_fd(b"."), None);
        assert_eq!(parse_fd(b"99999999999"), None);
    }

    #[test]
    fn reports_round_trip() {
        for r in [
            Report::Pid(17),
            Report::Ready { pid: 4, status: -5 },
            Report::Failed(Failure {
                step: Step::Chdir,
                errno: libc::ENOENT,
            }),
        ] {
            assert_eq!(Report::decode(&r.encode()), Some(r));
        }
        let mut bad = Report::Pid(1).encode();
        bad[0] = 9;
        assert_eq!(Report::decode(&bad), None);
    }

    fn record(name: &[u8], reclen: u16) -> Vec<u8> {
        let mut r = vec![0u8; 19];
        r[16..18].copy_from_slice(&reclen.to_ne_bytes());
        r.extend_from_slice(name);
        r.resize(usize::from(reclen).max(r.len()), 0);
        r
    }

    #[test]
    fn dirents_stop_at_malformed_records_without_panicking() {
        let mut buf = record(b"3\0", 24);
        buf.extend(record(b"12\0", 24));
        let names: Vec<&[u8]> = Dirents { rest: &buf }.collect();
        assert_eq!(names, [&b"3"[..], &b"12"[..]]);
        // A record claiming more than the buffer, or less than its header.
        for reclen in [0u16, 5, 19, 200] {
            let mut buf = record(b"3\0", 24);
            buf[16..18].copy_from_slice(&reclen.to_ne_bytes());
            assert_eq!(Dirents { rest: &buf }.count(), 0, "reclen {reclen}");
        }
        // A truncated header.
        assert_eq!(Dirents { rest: &[0u8; 17] }.count(), 0);
    }
}
