//! Detaching the caller into a new session, as systemd's daemon(7) says:
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
//! Everything that allocates (opening files, the channel, the list of
//! descriptors to keep) happens before the first fork; after it only
//! async-signal-safe calls run until the daemon returns to its caller.

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
    /// READY=1 (else it is unset, so children do not inherit it).
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

/// A message on the readiness channel: three native-endian i32s.
#[derive(Clone, Copy)]
struct Msg {
    kind: i32,
    step: i32,
    value: i32,
}

const MSG_PID: i32 = 1;
const MSG_FAILED: i32 = 2;
const MSG_READY: i32 = 3;

/// Setup steps in the forked processes, for the original's error message.
#[derive(Clone, Copy)]
#[repr(i32)]
enum Step {
    Setsid = 1,
    Fork = 2,
    Stdio = 3,
    Chdir = 4,
    CloseFds = 5,
    Pidfile = 6,
}

/// Adds the path a failed step was about to the message (the forked
/// processes report only the step and the errno).
fn name_the_path(e: Error, opts: &Options<'_>) -> Error {
    let shown = |p: &CStr| String::from_utf8_lossy(p.to_bytes()).into_owned();
    let path = if e.message().contains(step_name(Step::Chdir as i32)) {
        opts.workdir.map(shown)
    } else if e.message().contains(step_name(Step::Pidfile as i32)) {
        opts.pidfile.as_ref().map(|pf| shown(pf.path()))
    } else {
        None
    };
    match path {
        Some(p) => Error::new(e.errno(), format!("{} ({})", e.message(), p)).with_holder_of(&e),
        None => e,
    }
}

fn step_name(step: i32) -> &'static str {
    match step {
        1 => "setsid in the child",
        2 => "second fork",
        3 => "redirecting stdio in the daemon",
        4 => "changing the daemon's working directory",
        5 => "closing descriptors in the daemon",
        6 => "writing the daemon's pid into the pidfile",
        _ => "an unknown step",
    }
}

impl Msg {
    fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.kind.to_ne_bytes());
        b[4..8].copy_from_slice(&self.step.to_ne_bytes());
        b[8..].copy_from_slice(&self.value.to_ne_bytes());
        b
    }

    fn from_bytes(b: &[u8; 12]) -> Msg {
        let word = |i: usize| i32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Msg {
            kind: word(0),
            step: word(4),
            value: word(8),
        }
    }
}

/// Sends one message; MSG_NOSIGNAL so that a gone reader is EPIPE, not a
/// SIGPIPE that would kill the daemon. Async-signal-safe.
fn send_msg(fd: RawFd, msg: Msg) -> std::result::Result<(), Errno> {
    let b = msg.to_bytes();
    // SAFETY: b is valid for its length.
    sys::retry_eintr(|| unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) })
        .map(drop)
}

/// Reports a failed setup step and leaves. Async-signal-safe.
fn fail(channel: RawFd, step: Step, e: Errno) -> ! {
    let _ = send_msg(
        channel,
        Msg {
            kind: MSG_FAILED,
            step: step as i32,
            value: e as i32,
        },
    );
    // SAFETY: _exit never returns and runs no user code.
    unsafe { libc::_exit(1) }
}

/// State of a daemon made by [`detach`], for [`ready`]: the channel's
/// descriptor (-1: nobody listens), and the daemon's pid (0: this process
/// was not made by detach; a forked child of the daemon has another pid).
static READY_CHANNEL: AtomicI32 = AtomicI32::new(-1);
static DAEMON_PID: AtomicI32 = AtomicI32::new(0);
static REPORTED: AtomicI32 = AtomicI32::new(0);
static KEEP_NOTIFY_SOCKET: AtomicI32 = AtomicI32::new(0);
/// The daemon's copy of the plan it was made from: kept reachable rather
/// than freed (freeing after a fork of a threaded caller could meet a lock
/// held by a thread that does not exist here) or forgotten (a leak).
static DAEMON_PLAN: AtomicPtr<Plan> = AtomicPtr::new(std::ptr::null_mut());

/// Everything the forked processes need, prepared before the first fork.
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
    keep: Option<Vec<RawFd>>,
    /// The daemon's end of the readiness channel.
    theirs: OwnedFd,
    /// The original's end.
    ours: OwnedFd,
    pidfile_fd: Option<RawFd>,
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
    let signals_to_reset = if opts.allow_threads {
        u64::MAX
    } else {
        status.non_default_signals
    };
    if !opts.allow_threads {
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
    }
    if let Some(pf) = opts.pidfile.as_deref_mut() {
        pf.move_above_stdio()?;
    }
    let mut plan = Box::new(prepare(&opts)?);
    plan.signals_to_reset = signals_to_reset;
    let single = opts.single_fork;
    // A raw pointer from here on: the forked processes park it in a static
    // at once (so that it stays reachable in the intermediate and in a
    // daemon that leaves through _exit, and nothing there calls the
    // allocator); the original takes it back after the wait.
    let plan = Box::into_raw(plan);

    // SAFETY: fork has no preconditions; the child runs only
    // async-signal-safe code (in_child) until it returns as the daemon.
    let child = unsafe { libc::fork() };
    if child < 0 {
        let e = Errno::last();
        // SAFETY: no fork happened: the plan is still ours alone.
        drop(unsafe { Box::from_raw(plan) });
        return Err(Error::sys(e, "detach: fork"));
    }
    if child == 0 {
        DAEMON_PLAN.store(plan, Ordering::SeqCst);
        // Nothing reads the static: without this, link-time optimisation
        // drops it and the store, and the plan is "lost" again.
        std::hint::black_box(&DAEMON_PLAN);
        // SAFETY: this process's copy of the plan, parked above, never freed.
        let plan = unsafe { &*plan };
        let me = in_child(plan, single, opts.no_wait);
        // Now the daemon. Record the readiness state and the pidfile's new
        // owner, then return to the caller.
        if let Some(pf) = opts.pidfile {
            pf.set_owner(me);
        }
        let channel = plan.theirs.as_raw_fd();
        READY_CHANNEL.store(if opts.no_wait { -1 } else { channel }, Ordering::SeqCst);
        if opts.no_wait {
            // Nobody listens after the pid: close our end now.
            // SAFETY: closing the daemon's own copy of the channel.
            unsafe { libc::close(channel) };
        }
        DAEMON_PID.store(me, Ordering::SeqCst);
        REPORTED.store(0, Ordering::SeqCst);
        KEEP_NOTIFY_SOCKET.store(i32::from(opts.keep_notify_socket), Ordering::SeqCst);
        return Ok(Detached::Daemon);
    }

    // The original. Only the daemon's end of the channel is closed now (so
    // that its exit is EOF here); everything else is freed after the wait:
    // touching the heap now would copy pages the daemon still shares.
    // SAFETY: the original's own copy of the plan, taken back exactly once.
    let plan = unsafe { Box::from_raw(plan) };
    // SAFETY: our copy of the daemon's end; the OwnedFd is forgotten below.
    unsafe { libc::close(plan.theirs.as_raw_fd()) };
    let outcome = wait_for_daemon(&plan.ours, child, single, opts.no_wait)
        .map_err(|e| name_the_path(e, &opts));
    let Plan { theirs, .. } = *plan;
    std::mem::forget(theirs);
    match outcome {
        Ok(pid) => {
            if let Some(pf) = opts.pidfile {
                pf.disown();
            }
            if opts.exit_parent {
                // SAFETY: _exit ends the process, as the caller asked.
                unsafe { libc::_exit(0) };
            }
            Ok(Detached::Original(pid))
        }
        Err(e) => {
            if let Some(pf) = opts.pidfile {
                // The original still owns the pidfile: its pid goes back in.
                let restored = pf.write();
                if opts.exit_parent {
                    pf.remove_now();
                }
                if let Err(w) = restored {
                    return Err(Error::new(
                        e.errno(),
                        format!("{}; and then {}", e.message(), w.message()),
                    ));
                }
            }
            if opts.exit_parent {
                // SAFETY: as above.
                unsafe { libc::_exit(1) };
            }
            Err(e)
        }
    }
}

fn prepare(opts: &Options<'_>) -> Result<Plan> {
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
    let pidfile_fd = opts.pidfile.as_ref().map(|pf| pf.fd());
    let keep = if opts.keep_all_fds {
        None
    } else {
        let mut keep: Vec<RawFd> = vec![0, 1, 2, theirs.as_raw_fd()];
        keep.extend_from_slice(opts.keep_fds);
        keep.extend(pidfile_fd);
        // The pidfile's directory: the daemon's release unlinks relative to it.
        keep.extend(opts.pidfile.as_ref().map(|pf| pf.dir_fd()));
        keep.sort_unstable();
        keep.dedup();
        Some(keep)
    };
    let chdir_root = !opts.keep_cwd && opts.workdir.is_none();
    let umask = (!opts.keep_umask).then_some(opts.umask as libc::mode_t);
    Ok(Plan {
        stdio,
        signals_to_reset: u64::MAX,
        workdir,
        chdir_root,
        umask,
        keep,
        theirs,
        ours,
        pidfile_fd,
    })
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

/// The forked side: setsid, second fork (the intermediate writes the pid
/// file and reports the daemon's pid, then leaves), then the daemon's
/// setup. Returns only in the daemon, with its pid. Async-signal-safe
/// throughout.
fn in_child(plan: &Plan, single_fork: bool, no_wait: bool) -> i32 {
    let channel = plan.theirs.as_raw_fd();
    // SAFETY: closing the original's end in this process only.
    unsafe { libc::close(plan.ours.as_raw_fd()) };
    // SAFETY: setsid has no preconditions.
    if unsafe { libc::setsid() } < 0 {
        fail(channel, Step::Setsid, Errno::last());
    }
    if !single_fork {
        // SAFETY: fork in the single-threaded intermediate.
        let daemon = unsafe { libc::fork() };
        if daemon < 0 {
            fail(channel, Step::Fork, Errno::last());
        }
        if daemon > 0 {
            // The intermediate. With NO_WAIT the original returns on the
            // daemon's pid, so it writes the pidfile and reports the pid;
            // otherwise the daemon does both with its readiness report,
            // which saves the original a wake-up.
            if no_wait {
                if let Some(fd) = plan.pidfile_fd {
                    if let Err(e) = sys::rewrite_pid(fd, daemon, true) {
                        // SAFETY: kill the daemon we just made; it has not reported.
                        unsafe { libc::kill(daemon, libc::SIGKILL) };
                        fail(channel, Step::Pidfile, e);
                    }
                }
                let _ = send_msg(
                    channel,
                    Msg {
                        kind: MSG_PID,
                        step: 0,
                        value: daemon,
                    },
                );
            }
            // SAFETY: the intermediate's work is done.
            unsafe { libc::_exit(0) };
        }
    }
    // The daemon writes its own pid into the pidfile before it can report
    // ready, so the file names the daemon when the original returns (a
    // service manager with Type=forking reads it then).
    let me = crate::ids::getpid();
    if single_fork || !no_wait {
        if let Some(fd) = plan.pidfile_fd {
            if let Err(e) = sys::rewrite_pid(fd, me, true) {
                fail(channel, Step::Pidfile, e);
            }
        }
    }
    if single_fork && no_wait {
        let _ = send_msg(
            channel,
            Msg {
                kind: MSG_PID,
                step: 0,
                value: me,
            },
        );
    }

    // The daemon.
    if let Some(stdio) = &plan.stdio {
        for (target, &fd) in stdio.fds.iter().enumerate() {
            // SAFETY: dup2 onto 0, 1, 2 from descriptors >= 3 we prepared.
            if unsafe { libc::dup2(fd, target as RawFd) } < 0 {
                fail(channel, Step::Stdio, Errno::last());
            }
        }
        stdio.close_copies();
    }
    if let Some(dir) = &plan.workdir {
        // SAFETY: fchdir to the directory we opened before the fork.
        if unsafe { libc::fchdir(dir.as_raw_fd()) } < 0 {
            fail(channel, Step::Chdir, Errno::last());
        }
        // SAFETY: as above.
        unsafe { libc::close(dir.as_raw_fd()) };
    }
    // SAFETY: chdir with a static path.
    if plan.chdir_root && unsafe { libc::chdir(c"/".as_ptr()) } < 0 {
        fail(channel, Step::Chdir, Errno::last());
    }
    if let Some(mask) = plan.umask {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask) };
    }
    if let Some(keep) = &plan.keep {
        if let Err(e) = sys::close_all_except(keep) {
            fail(channel, Step::CloseFds, e);
        }
    }
    sys::reset_signals(plan.signals_to_reset);
    me
}

/// The original's side: read reports until the outcome is known, and reap
/// the intermediate (or a failed single-fork daemon) so no zombie is left.
fn wait_for_daemon(ours: &OwnedFd, child: i32, single_fork: bool, no_wait: bool) -> Result<i32> {
    let mut daemon_pid: Option<i32> = None;
    let mut outcome: Option<Result<()>> = None;
    loop {
        let done = match (&outcome, daemon_pid) {
            (Some(Err(_)), _) => true,
            (Some(Ok(())), Some(_)) => true,
            (None, Some(_)) if no_wait => true,
            _ => false,
        };
        if done {
            break;
        }
        let mut b = [0u8; 12];
        // SAFETY: recv into a buffer we own, at most its length.
        let read = sys::retry_eintr(|| unsafe {
            libc::recv(ours.as_raw_fd(), b.as_mut_ptr().cast(), b.len(), 0)
        });
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                outcome = Some(Err(Error::sys(e, "detach: reading the readiness channel")));
                break;
            }
        };
        if n == 0 {
            // Every writer is gone without a verdict.
            let what = if no_wait && daemon_pid.is_none() && !single_fork {
                "detach: the intermediate process died before reporting the daemon's pid"
            } else {
                "detach: the daemon exited before reporting readiness"
            };
            outcome = Some(Err(Error::new(Errno::ECHILD, what)));
            break;
        }
        if n != b.len() {
            continue;
        }
        let msg = Msg::from_bytes(&b);
        match msg.kind {
            MSG_PID => daemon_pid = Some(msg.value),
            MSG_FAILED => {
                let e = Errno::from_raw(msg.value);
                outcome = Some(Err(Error::sys(
                    e,
                    format!("detach: {} failed", step_name(msg.step)),
                )));
            }
            MSG_READY if msg.value == 0 => {
                daemon_pid = Some(msg.step);
                outcome = Some(Ok(()));
            }
            MSG_READY => {
                let e = Errno::from_raw(-msg.value);
                outcome = Some(Err(Error::sys(e, "detach: the daemon reported failure")));
            }
            _ => {}
        }
    }
    let failed = matches!(outcome, Some(Err(_)));
    if !single_fork || failed {
        reap(child, single_fork && failed);
    }
    match (outcome, daemon_pid) {
        (Some(Err(e)), _) => Err(e),
        (_, Some(pid)) => Ok(pid),
        (_, None) => Err(Error::new(
            Errno::ECHILD,
            "detach: no daemon pid was reported",
        )),
    }
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
/// datagram, then unsets `$NOTIFY_SOCKET` unless `keep_notify_socket`. The
/// original hears the report even when that send fails; the send's error
/// is then returned.
pub fn ready(status: i32) -> Result<()> {
    if !(-4095..=0).contains(&status) {
        return Err(Error::new(
            Errno::EINVAL,
            format!("detach_ready: status {status} is neither 0 nor -errno"),
        ));
    }
    let daemon = DAEMON_PID.load(Ordering::SeqCst);
    if daemon == 0 || daemon != crate::ids::getpid() {
        return Err(Error::new(
            Errno::EINVAL,
            "detach_ready: this process was not made by pidkit_detach",
        ));
    }
    if REPORTED.swap(1, Ordering::SeqCst) != 0 {
        return Err(Error::new(
            Errno::EALREADY,
            "detach_ready: readiness was already reported",
        ));
    }
    // The original first: it is waiting, the service manager is not.
    let channel = READY_CHANNEL.swap(-1, Ordering::SeqCst);
    if channel >= 0 {
        let sent = send_msg(
            channel,
            Msg {
                kind: MSG_READY,
                step: daemon,
                value: status,
            },
        );
        // SAFETY: the channel is ours and used once.
        unsafe { libc::close(channel) };
        match sent {
            // The original is gone (EXIT_PARENT raced, or it was killed).
            Ok(()) | Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => {}
            Err(e) => {
                let _ = notify_manager(daemon, status);
                return Err(Error::sys(
                    e,
                    "detach_ready: reporting to the original process",
                ));
            }
        }
    }
    notify_manager(daemon, status)
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
    if KEEP_NOTIFY_SOCKET.load(Ordering::SeqCst) == 0 {
        std::env::remove_var(crate::notify::NOTIFY_SOCKET);
    }
    sent
}
