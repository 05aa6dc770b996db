//! Before the fork (and the original's side after it): detaching the
//! caller into a new session, as systemd's daemon(7) says:
//! fork, setsid, fork again (so the daemon can never acquire a controlling
//! terminal), stdio on /dev/null or given files, every other descriptor
//! closed with close_range, signal dispositions and mask reset, umask set,
//! working directory changed; and a readiness channel back to the original
//! process, which learns whether the daemon came up.
//!
//! The anchors get parts of this wrong: glibc daemon(3) forks once and
//! reports errors only inside the child; python-daemon closes descriptors in
//! a loop up to RLIMIT_NOFILE and cannot tell the original that the daemon
//! failed; the Rust `daemonize` crate exits 0 even when the pidfile lock
//! failed; libdaemon's return-value pipe is read with select(), which breaks
//! for descriptors >= 1024 (here: a blocking recv, fine for any number).
//!
//! Before the fork (and in the original process after it): everything
//! that allocates (opening files, the channel, the list of descriptors to
//! keep) happens here before the first fork; what the forked processes run
//! until the daemon returns to its caller is `child.rs`'s
//! `detach_child`, async-signal-safe throughout.

use crate::child::{self, Report, Step};
use crate::error::{Context, Error, Result};
use crate::pidfile::Pidfile;
use crate::sys;
use nix::errno::Errno;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

/// What [`detach`] does; the default is the full daemon(7) recipe.
#[derive(Debug, Default)]
pub struct Options<'a> {
    /// The original returns once the daemon exists, without waiting for
    /// its readiness report.
    pub no_wait: bool,
    /// The original `_exit()`s inside the call: 0 if the daemon reported
    /// ready, 1 if not (daemon(3) style).
    pub exit_parent: bool,
    /// One fork only: the daemon leads its session.
    pub single_fork: bool,
    /// Keep the working directory.
    pub keep_cwd: bool,
    /// Keep the umask.
    pub keep_umask: bool,
    /// Leave descriptors 0, 1, 2 as they are.
    pub keep_stdio: bool,
    /// Close no descriptors.
    pub keep_all_fds: bool,
    /// Detach even though other threads exist (only the calling thread
    /// survives the fork).
    pub allow_threads: bool,
    /// Working directory of the daemon (None = "/").
    pub workdir: Option<&'a CStr>,
    /// The daemon's umask (unless `keep_umask`).
    pub umask: u32,
    /// stdin file (None = /dev/null).
    pub stdin_path: Option<&'a CStr>,
    /// stdout file, opened for append, created 0644 (None = /dev/null).
    pub stdout_path: Option<&'a CStr>,
    /// stderr file, opened for append, created 0644 (None = /dev/null).
    pub stderr_path: Option<&'a CStr>,
    /// Extra descriptors to keep open.
    pub keep_fds: &'a [RawFd],
    /// A pidfile to hand over: the daemon's pid is written into it before
    /// the original returns, and the daemon becomes its owner.
    pub pidfile: Option<&'a mut Pidfile>,
    /// Leave `$NOTIFY_SOCKET` set in the daemon after [`ready`] has sent
    /// READY=1 (else it is unset while the daemon has one thread, so its
    /// children do not inherit it; see [`ready`]).
    pub keep_notify_socket: bool,
}

/// Which of the two processes [`detach`] returned in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detached {
    /// In the daemon. Report with [`ready`].
    Daemon,
    /// In the original process: the daemon's pid, once it reported ready.
    Original(i32),
}

/// State of a daemon made by [`detach`], for [`ready`]: written once by
/// the daemon as it returns, all of it zero-initialised and together (one
/// page of .bss: each page a forked process writes costs it a page fault).
struct DaemonState {
    /// The readiness channel's descriptor + 1 (0: nobody listens).
    channel: AtomicI32,
    /// The daemon's pid (0: this process was not made by detach; a forked
    /// child of the daemon has another pid).
    pid: AtomicI32,
    /// 1 once [`ready`] ran.
    reported: AtomicI32,
    /// 1: leave $NOTIFY_SOCKET set after READY=1.
    keep_notify_socket: AtomicI32,
    /// The plan the daemon was made from, parked here by the daemon so
    /// that its copy stays reachable rather than freed (freeing after a
    /// fork of a threaded caller could meet a lock held by a thread that
    /// does not exist there) or forgotten (a leak). The original frees its
    /// own copy and never writes here.
    plan: AtomicPtr<Plan>,
}

static DAEMON: DaemonState = DaemonState {
    channel: AtomicI32::new(0),
    pid: AtomicI32::new(0),
    reported: AtomicI32::new(0),
    keep_notify_socket: AtomicI32::new(0),
    plan: AtomicPtr::new(std::ptr::null_mut()),
};

/// Everything the forked processes need, prepared before the first fork;
/// owns the descriptors that [`Plan::child`] lends to `child.rs`.
struct Plan {
    /// Descriptors for 0, 1, 2 (all >= 3), or None with keep_stdio.
    stdio: Option<sys::Stdio>,
    /// Signals whose disposition is not SIG_DFL (bit n-1 for signal n).
    signals_to_reset: u64,
    /// The directory to fchdir into.
    workdir: Option<OwnedFd>,
    /// chdir("/") (no workdir given and the cwd not kept).
    chdir_root: bool,
    /// The daemon's umask, None to keep the caller's.
    umask: Option<libc::mode_t>,
    /// Sorted, deduplicated descriptors to keep; None = close nothing.
    keep: Option<KeepList>,
    /// The daemon's end of the readiness channel.
    theirs: OwnedFd,
    /// The original's end.
    ours: OwnedFd,
    /// The pidfile's descriptor, -1 for none.
    pidfile_fd: RawFd,
    single_fork: bool,
    no_wait: bool,
}

impl Plan {
    /// What `child::detach_child` reads, borrowing this plan.
    fn child(&self) -> child::DetachPlan<'_> {
        let raw = |fd: &Option<OwnedFd>| fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        child::DetachPlan {
            ours: self.ours.as_raw_fd(),
            theirs: self.theirs.as_raw_fd(),
            single_fork: self.single_fork,
            no_wait: self.no_wait,
            setup: child::Setup {
                stdio: self.stdio.as_ref().map_or([-1; 3], |s| s.fds),
                workdir: raw(&self.workdir),
                chdir_root: self.chdir_root,
                umask: self.umask,
                pidfile: self.pidfile_fd,
                // Decided by detach_child: the intermediate writes it with
                // NO_WAIT, else the daemon.
                pidfile_write: false,
                pidfile_inherit: false,
                keep: self.keep.as_ref().map(KeepList::as_slice),
                signals_to_reset: self.signals_to_reset,
            },
        }
    }
}

/// Detaches the caller into a new session (see the module docs). Returns
/// twice, like fork: [`Detached::Daemon`] in the daemon and
/// [`Detached::Original`] with the daemon's pid in the original, once the
/// daemon reported ready with [`ready`] (at once with `no_wait`). Errors in
/// the original: the failure the daemon reported, ECHILD if it died before
/// reporting, or why detaching failed (EBUSY: other threads run).
///
/// Unlike the `daemonize` crate, a daemon that fails its setup makes the
/// original fail too, with the daemon's errno:
///
/// ```
/// use pidkit::detach::{detach, ready, Detached, Options};
/// match detach(Options::default()) {
///     Ok(Detached::Daemon) => {
///         // Setup failed in the daemon: say so, and leave.
///         ready(-libc::EIO).unwrap();
///         unsafe { libc::_exit(1) };
///     }
///     Ok(Detached::Original(pid)) => unreachable!("daemon {pid} reported a failure"),
///     Err(e) => {
///         assert_eq!(e.errno(), nix::errno::Errno::EIO);
///         assert!(e.message().contains("the daemon reported failure"));
///     }
/// }
/// ```
pub fn detach(mut opts: Options<'_>) -> Result<Detached> {
    let signals_to_reset = check(&opts)?;
    if let Some(pf) = opts.pidfile.as_deref_mut() {
        pf.move_above_stdio()?;
    }
    let plan = Box::new(prepare(&opts, signals_to_reset)?);
    // A raw pointer from here on: the daemon parks its copy in a static
    // (nothing after the fork calls the allocator); the original takes its
    // own back after the wait.
    let plan = Box::into_raw(plan);
    // SAFETY: the plan is alive until the original takes it back below;
    // the view is used only in the forked processes.
    let view = unsafe { &*plan }.child();

    // The fork itself is in child.rs: the forked processes run only its
    // async-signal-safe code until the daemon returns here.
    let forked = child::fork_detach(&view);
    let child = match forked {
        Ok(child::Forked::Daemon(me)) => return Ok(become_daemon(me, plan, &view, opts)),
        Ok(child::Forked::Original(pid)) => Ok(pid),
        Err(e) => Err(Error::sys(Errno::from_raw(e), "detach: fork")),
    };
    // SAFETY: the original's own copy of the plan, taken back exactly once
    // (also when the fork failed).
    let plan = unsafe { Box::from_raw(plan) };
    let child = child?;
    // Only the daemon's end of the channel is closed now (so that its exit
    // is EOF here); everything else is freed after the wait: touching the
    // heap now would copy pages the daemon still shares.
    let Plan { theirs, .. } = &*plan;
    // SAFETY: our copy of the daemon's end; the OwnedFd is forgotten below.
    unsafe { libc::close(theirs.as_raw_fd()) };
    let outcome = wait_for_daemon(&plan.ours, child, opts.single_fork, opts.no_wait)
        .map_err(|f| f.into_error(&opts));
    let Plan { theirs, .. } = *plan;
    std::mem::forget(theirs);
    finish_original(outcome, opts)
}

/// The checks before anything is opened: the umask, and the other threads
/// (EBUSY unless allowed). Returns the signals the daemon resets.
fn check(opts: &Options<'_>) -> Result<u64> {
    if opts.umask & !0o777 != 0 {
        return Err(Error::new(
            Errno::EINVAL,
            format!("detach: invalid umask {:#o}", opts.umask),
        ));
    }
    // One read of /proc/self/status: the thread count, and which signals
    // have a handler or are ignored, so the daemon resets only those (62
    // rt_sigaction calls otherwise). With other threads allowed, one of them
    // may install a handler after the read: reset them all.
    let status = sys::self_status("detach")?;
    if opts.allow_threads {
        return Ok(u64::MAX);
    }
    let threads = status.threads;
    if threads > 1 {
        return Err(Error::new(
            Errno::EBUSY,
            format!(
                "detach: {threads} threads are running and fork keeps only the caller \
                 (pass PIDKIT_DETACH_ALLOW_THREADS to detach anyway)"
            ),
        ));
    }
    Ok(status.non_default_signals)
}

/// In the daemon, once `child::detach_child` returned: record the
/// readiness state and the pidfile's new owner.
fn become_daemon(
    me: i32,
    plan: *mut Plan,
    view: &child::DetachPlan<'_>,
    opts: Options<'_>,
) -> Detached {
    DAEMON.plan.store(plan, Ordering::SeqCst);
    // Nothing reads the slot: without this, link-time optimisation drops it
    // and the store, and the daemon's plan is "lost" again.
    std::hint::black_box(&DAEMON.plan);
    if let Some(pf) = opts.pidfile {
        pf.set_owner(me);
    }
    let listens = !opts.no_wait;
    DAEMON
        .channel
        .store(if listens { view.theirs + 1 } else { 0 }, Ordering::SeqCst);
    if !listens {
        // Nobody listens after the pid: close our end now.
        // SAFETY: closing the daemon's own copy of the channel.
        unsafe { libc::close(view.theirs) };
    }
    DAEMON.pid.store(me, Ordering::SeqCst);
    DAEMON.reported.store(0, Ordering::SeqCst);
    DAEMON
        .keep_notify_socket
        .store(i32::from(opts.keep_notify_socket), Ordering::SeqCst);
    Detached::Daemon
}

/// In the original, once the outcome is known: hand the pidfile over (or
/// put our pid back into it), and leave with EXIT_PARENT.
fn finish_original(outcome: Result<i32>, opts: Options<'_>) -> Result<Detached> {
    let outcome = match (outcome, opts.pidfile) {
        (Ok(pid), Some(pf)) => {
            pf.disown();
            Ok(pid)
        }
        (Err(e), Some(pf)) => {
            // The original still owns the pidfile: its pid goes back in.
            let restored = pf.write();
            if opts.exit_parent {
                pf.remove_now();
            }
            Err(match restored {
                Ok(()) => e,
                Err(w) => Error::new(
                    e.errno(),
                    format!("{}; and then {}", e.message(), w.message()),
                ),
            })
        }
        (outcome, None) => outcome,
    };
    if opts.exit_parent {
        // SAFETY: _exit ends the process, as the caller asked.
        unsafe { libc::_exit(i32::from(outcome.is_err())) };
    }
    outcome.map(Detached::Original)
}

fn prepare(opts: &Options<'_>, signals_to_reset: u64) -> Result<Plan> {
    for (i, &fd) in opts.keep_fds.iter().enumerate() {
        // SAFETY: F_GETFD only queries the descriptor table.
        if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(Error::new(
                Errno::EBADF,
                format!("detach: keep_fds[{i}] = {fd} is not an open descriptor"),
            ));
        }
    }
    let stdio = match opts.keep_stdio {
        true => None,
        false => Some(sys::open_stdio(
            "detach",
            [opts.stdin_path, opts.stdout_path, opts.stderr_path],
        )?),
    };
    let workdir = match (opts.keep_cwd, opts.workdir) {
        (false, Some(dir)) => Some(sys::open_workdir("detach", dir)?),
        _ => None,
    };
    let (ours, theirs) = channel()?;
    let pidfile_fd = opts.pidfile.as_ref().map_or(-1, |pf| pf.fd());
    let keep = if opts.keep_all_fds {
        None
    } else {
        let pidfile = (pidfile_fd >= 0).then_some(pidfile_fd);
        // The pidfile's directory: the daemon's release unlinks relative to it.
        let pidfile_dir = opts.pidfile.as_ref().map(|pf| pf.dir_fd());
        let fixed = [0, 1, 2, theirs.as_raw_fd()];
        Some(KeepList::new(
            fixed
                .iter()
                .chain(opts.keep_fds)
                .chain(pidfile.as_ref())
                .chain(pidfile_dir.as_ref()),
        ))
    };
    Ok(Plan {
        stdio,
        signals_to_reset,
        workdir,
        chdir_root: !opts.keep_cwd && opts.workdir.is_none(),
        umask: (!opts.keep_umask).then_some(opts.umask as libc::mode_t),
        keep,
        theirs,
        ours,
        pidfile_fd,
        single_fork: opts.single_fork,
        no_wait: opts.no_wait,
    })
}

/// The descriptors the daemon keeps, sorted and without duplicates: in
/// the plan itself while they fit (the common case: 0, 1, 2, the channel,
/// a pidfile and a few more), so that detach allocates nothing for them.
enum KeepList {
    Inline([RawFd; 16], usize),
    Heap(Vec<RawFd>),
}

impl KeepList {
    fn new<'a>(fds: impl Iterator<Item = &'a RawFd> + Clone) -> KeepList {
        let mut inline = [0; 16];
        let mut n = 0;
        for (slot, &fd) in inline.iter_mut().zip(fds.clone()) {
            *slot = fd;
            n += 1;
        }
        let mut list = if n == fds.clone().count() {
            KeepList::Inline(inline, n)
        } else {
            KeepList::Heap(fds.copied().collect())
        };
        let fds = match &mut list {
            KeepList::Inline(a, n) => &mut a[..*n],
            KeepList::Heap(v) => v.as_mut_slice(),
        };
        fds.sort_unstable();
        let mut kept = 0;
        for i in 0..fds.len() {
            if kept == 0 || fds[i] != fds[kept - 1] {
                fds[kept] = fds[i];
                kept += 1;
            }
        }
        match &mut list {
            KeepList::Inline(_, n) => *n = kept,
            KeepList::Heap(v) => v.truncate(kept),
        }
        list
    }

    fn as_slice(&self) -> &[RawFd] {
        match self {
            KeepList::Inline(a, n) => &a[..*n],
            KeepList::Heap(v) => v,
        }
    }
}

/// The readiness channel: a SOCK_SEQPACKET pair (one message per report,
/// EOF when every writer is gone), both ends >= 3 and close-on-exec.
fn channel() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: socketpair writes two descriptors into fds.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } < 0
    {
        return Err(Error::sys(
            Errno::last(),
            "detach: readiness channel (socketpair)",
        ));
    }
    // SAFETY: socketpair just returned these two descriptors.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let a = sys::above_stdio(a).context(|| "detach: move readiness channel".to_string())?;
    let b = sys::above_stdio(b).context(|| "detach: move readiness channel".to_string())?;
    Ok((a, b))
}

/// Why the original did not get a ready daemon, as typed facts until the
/// message is made (by [`WaitError::into_error`], which adds the path the
/// failed step was about).
enum WaitError {
    /// A setup step failed in the forked processes.
    Step(child::Failure),
    /// The daemon reported -errno with [`ready`].
    Reported(Errno),
    /// Anything else, already worded.
    Other(Error),
}

impl WaitError {
    fn into_error(self, opts: &Options<'_>) -> Error {
        match self {
            WaitError::Step(f) => {
                let path = match f.step {
                    Step::Chdir => Some(opts.workdir.unwrap_or(c"/")),
                    Step::Pidfile => opts.pidfile.as_ref().map(|pf| pf.path()),
                    _ => None,
                };
                sys::child_failure("detach", f, path)
            }
            WaitError::Reported(e) => Error::sys(e, "detach: the daemon reported failure"),
            WaitError::Other(e) => e,
        }
    }
}

/// The original's side: read reports until the outcome is known, and reap
/// the intermediate (or a failed single-fork daemon) so no zombie is left.
fn wait_for_daemon(
    ours: &OwnedFd,
    child: i32,
    single_fork: bool,
    no_wait: bool,
) -> std::result::Result<i32, WaitError> {
    let mut daemon_pid: Option<i32> = None;
    let outcome = loop {
        let mut b = [0u8; child::REPORT_LEN];
        // SAFETY: recv into a buffer we own, at most its length.
        let read = sys::retry_eintr(|| unsafe {
            libc::recv(ours.as_raw_fd(), b.as_mut_ptr().cast(), b.len(), 0)
        });
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                break Err(WaitError::Other(Error::sys(
                    e,
                    "detach: reading the readiness channel",
                )))
            }
        };
        if n == 0 {
            // Every writer is gone without a verdict.
            let what = if no_wait && daemon_pid.is_none() && !single_fork {
                "detach: the intermediate process died before reporting the daemon's pid"
            } else {
                "detach: the daemon exited before reporting readiness"
            };
            break Err(WaitError::Other(Error::new(Errno::ECHILD, what)));
        }
        if n != b.len() {
            continue;
        }
        match Report::decode(&b) {
            Some(Report::Pid(pid)) if no_wait => break Ok(pid),
            Some(Report::Pid(pid)) => daemon_pid = Some(pid),
            Some(Report::Failed(f)) => break Err(WaitError::Step(f)),
            Some(Report::Ready { pid, status: 0 }) => break Ok(pid),
            Some(Report::Ready { status, .. }) => {
                break Err(WaitError::Reported(Errno::from_raw(-status)))
            }
            None => {}
        }
    };
    if !single_fork || outcome.is_err() {
        reap(child, single_fork && outcome.is_err());
    }
    outcome
}

/// Reaps `child`. The intermediate always exits at once; a failed
/// single-fork daemon normally too, but one that closed the channel by
/// exec'ing lives on: give it a moment, never block forever.
fn reap(child: i32, bounded: bool) {
    if !bounded {
        return sys::reap(child);
    }
    let mut status = 0;
    for _ in 0..100 {
        // SAFETY: as above.
        let r = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
        if r != 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// In the daemon: reports 0 (ready) or -errno (failed) to the waiting
/// original process. Once: later calls are EALREADY. EINVAL in a process
/// that [`detach`] did not create, or for a positive status. With
/// `no_wait`, or when the original is gone, it succeeds (nobody listens).
///
/// Under systemd (`$NOTIFY_SOCKET` set, `Type=notify`), it also sends
/// `READY=1\nMAINPID=<daemon pid>\n` (or `ERRNO=<e>\n` on failure) as one
/// datagram. Then, unless `keep_notify_socket`, it unsets `$NOTIFY_SOCKET`
/// so that the daemon's children do not inherit it, but only while the
/// daemon has this one thread: with other threads running, one of them may
/// be in getenv(3), and unsetenv(3) under its feet is undefined behaviour
/// (Rust 2024 makes `remove_var` unsafe for this reason), so the variable
/// then stays set. The original hears the report even when the datagram
/// cannot be sent; the send's error is then returned.
pub fn ready(status: i32) -> Result<()> {
    if !(-4095..=0).contains(&status) {
        return Err(Error::new(
            Errno::EINVAL,
            format!("detach_ready: status {status} is neither 0 nor -errno"),
        ));
    }
    let daemon = DAEMON.pid.load(Ordering::SeqCst);
    if daemon == 0 || daemon != crate::ids::getpid() {
        return Err(Error::new(
            Errno::EINVAL,
            "detach_ready: this process was not made by pidkit_detach",
        ));
    }
    if DAEMON.reported.swap(1, Ordering::SeqCst) != 0 {
        return Err(Error::new(
            Errno::EALREADY,
            "detach_ready: readiness was already reported",
        ));
    }
    // The service manager first: under Type=notify without PIDFile=, an
    // original that exits (told "ready") before READY=1/MAINPID= reaches
    // systemd makes it fail the start with Result=protocol (1 start in 100
    // idle, 22 in 300 loaded, in make check-systemd). The original waits a
    // datagram longer; nobody else is waiting on us.
    let notified = notify_manager(daemon, status);
    let channel = DAEMON.channel.swap(0, Ordering::SeqCst) - 1;
    if channel >= 0 {
        let sent = child::send_report(
            channel,
            Report::Ready {
                pid: daemon,
                status,
            },
        );
        // SAFETY: the channel is ours and used once.
        unsafe { libc::close(channel) };
        match sent.map_err(Errno::from_raw) {
            // The original is gone (EXIT_PARENT raced, or it was killed).
            Ok(()) | Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => {}
            Err(e) => {
                return Err(Error::sys(
                    e,
                    "detach_ready: reporting to the original process",
                ));
            }
        }
    }
    notified
}

fn notify_manager(daemon: i32, status: i32) -> Result<()> {
    let Some(socket) = std::env::var_os(crate::notify::NOTIFY_SOCKET) else {
        return Ok(());
    };
    let state = if status == 0 {
        format!("READY=1\nMAINPID={daemon}\n")
    } else {
        format!("ERRNO={}\n", -status)
    };
    let sent = crate::notify::send_to(&socket, state.as_bytes());
    if DAEMON.keep_notify_socket.load(Ordering::SeqCst) == 0 && only_thread() {
        // Sound: no other thread exists to read the environment meanwhile,
        // and none can appear but by this thread's own hand.
        std::env::remove_var(crate::notify::NOTIFY_SOCKET);
    }
    sent
}

/// Whether the calling thread is the process's only one (/proc/self/status
/// says Threads: 1). Unknown counts as no.
fn only_thread() -> bool {
    sys::self_status("detach_ready").is_ok_and(|s| s.threads == 1)
}

#[cfg(test)]
mod tests {
    use super::KeepList;

    #[test]
    fn keep_list_is_sorted_and_deduplicated_inline_or_on_the_heap() {
        let few = [0, 1, 2, 9, 5, 9, 2];
        let list = KeepList::new(few.iter());
        assert!(matches!(list, KeepList::Inline(..)));
        assert_eq!(list.as_slice(), [0, 1, 2, 5, 9]);
        let many: Vec<i32> = (0..40).rev().chain(0..40).collect();
        let list = KeepList::new(many.iter());
        assert!(matches!(list, KeepList::Heap(..)));
        assert_eq!(list.as_slice(), (0..40).collect::<Vec<_>>());
        assert_eq!(KeepList::new([].iter()).as_slice(), [0i32; 0]);
    }
}
