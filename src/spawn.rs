//! Before the clone (and the caller's side after it): spawning a program
//! into its own session, fully detached from the
//! caller (double fork), with exec errors reported synchronously and an
//! optional pidfile held by the program from its first instruction.
//!
//! `posix_spawn` with `POSIX_SPAWN_SETSID` leaves the program as the
//! caller's child; `daemonize(1)` and start-stop-daemon `--background`
//! cannot report an exec failure to the caller. Here the call returns the
//! program's pid once its exec succeeded, or the exec's errno.
//!
//! # Why the vfork-style clone is safe here
//!
//! Both levels are `clone(CLONE_VM | CLONE_VFORK)` on stacks of their own,
//! as glibc's posix_spawn does for its one level: no page tables are
//! copied, which makes a spawn from a large process several times cheaper
//! than fork. The caller's thread is suspended until the intermediate
//! exits; the intermediate is suspended until the program execs or exits.
//! So at any time exactly one of the three runs on the shared memory on
//! behalf of this call, and it touches only its own stack, the plan
//! prepared before the clone (read-only), and the result block. Other
//! threads of the caller do run meanwhile, so the children take no lock
//! and call no allocator: only async-signal-safe system calls. All signals
//! are blocked around the clone so that no handler of the caller runs on a
//! child's stack; the program resets every disposition to SIG_DFL before
//! it unblocks them for exec. Where the kernel or a seccomp filter refuses
//! CLONE_VM, it falls back to CLONE_VFORK alone (a copied address space,
//! like fork), with the result block in MAP_SHARED memory so that it works
//! the same either way.

use crate::child::{self, Outcome, SpawnPlan, Step};
use crate::error::{Context, Error, Result};
use crate::pidfile::{self, Pidfile};
use crate::sys;
use nix::errno::Errno;
use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::raw::{c_char, c_void};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

/// What [`spawn`] does; the default: PATH is not searched, cwd "/", stdio
/// on /dev/null, double fork, no pidfile.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options<'a> {
    /// Look argv\[0\] up in PATH (envp's PATH when envp is given and sets
    /// one, else the caller's), as execvp does but in the caller, before
    /// any fork. No /bin/sh fallback on ENOEXEC.
    pub search_path: bool,
    /// Keep the caller's working directory.
    pub keep_cwd: bool,
    /// Keep the caller's descriptors 0, 1, 2.
    pub inherit_stdio: bool,
    /// Keep the caller's stdin (`stdin_path` is ignored).
    pub inherit_stdin: bool,
    /// Keep the caller's stdout (`stdout_path` is ignored).
    pub inherit_stdout: bool,
    /// Keep the caller's stderr (`stderr_path` is ignored).
    pub inherit_stderr: bool,
    /// One level only: the program stays the caller's child.
    pub no_double_fork: bool,
    /// Working directory (None = "/").
    pub workdir: Option<&'a CStr>,
    /// stdin file (None = /dev/null).
    pub stdin_path: Option<&'a CStr>,
    /// stdout file, append, created 0644 (None = /dev/null).
    pub stdout_path: Option<&'a CStr>,
    /// stderr file, append, created 0644 (None = /dev/null).
    pub stderr_path: Option<&'a CStr>,
    /// A pidfile the program holds, locked and naming it, from before its
    /// first instruction.
    pub pidfile: Option<&'a CStr>,
}

const STACK_SIZE: usize = 128 * 1024;

/// Stacks for both children and the outcome block, in one mapping:
/// [guard | program stack | guard | intermediate stack | outcome].
///
/// The mapping is MAP_SHARED, so that the outcome block also reaches the
/// caller when the clone turns out fork-like (the CLONE_VM fallback, or
/// valgrind, which runs CLONE_VM|CLONE_VFORK as a plain fork). One is kept
/// for the next call (a fresh mmap, two mprotects and the first-touch page
/// faults cost ~30 us a call), tagged with the pid of the process that
/// made it: a forked child of the caller shares the pages and must never
/// use them, so it unmaps its view and makes its own.
struct Region {
    base: *mut c_void,
    len: usize,
    /// The process that mapped it.
    owner: i32,
}

/// The region kept between calls (null: none kept, or in use), and the pid
/// of the process that mapped it.
static SPARE_REGION: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static SPARE_REGION_OWNER: AtomicI32 = AtomicI32::new(0);

impl Region {
    fn len() -> usize {
        let page = sys::page_size() as usize;
        2 * page + 2 * STACK_SIZE + page
    }

    /// The kept region if this process made it, else a new one.
    fn take() -> Result<Region> {
        let me = crate::ids::getpid();
        let base = SPARE_REGION.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if base.is_null() {
            return Region::new(me);
        }
        if SPARE_REGION_OWNER.load(Ordering::Acquire) != me {
            // Inherited across a fork: the pages are shared with the parent.
            // SAFETY: unmapping this process's view only.
            unsafe { libc::munmap(base, Region::len()) };
            return Region::new(me);
        }
        let region = Region {
            base,
            len: Region::len(),
            owner: me,
        };
        // SAFETY: the outcome block lies inside the mapping and nobody else
        // uses this region now.
        unsafe {
            std::ptr::write_bytes(
                region.outcome().cast_mut().cast::<u8>(),
                0,
                std::mem::size_of::<Outcome>(),
            )
        };
        Ok(region)
    }

    fn new(owner: i32) -> Result<Region> {
        let page = sys::page_size() as usize;
        let len = Region::len();
        // SAFETY: an anonymous mapping with no address hint.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::sys(
                Errno::last(),
                "spawn: mmap for the child stacks",
            ));
        }
        let region = Region { base, len, owner };
        // Guard pages below each stack: an overflow faults instead of
        // writing over the other stack.
        for off in [0, page + STACK_SIZE] {
            // SAFETY: a page inside our own mapping.
            if unsafe { libc::mprotect(region.at(off), page, libc::PROT_NONE) } < 0 {
                return Err(Error::sys(Errno::last(), "spawn: mprotect guard page"));
            }
        }
        Ok(region)
    }

    fn at(&self, off: usize) -> *mut c_void {
        // SAFETY: callers pass offsets within the mapping.
        unsafe { self.base.cast::<u8>().add(off).cast() }
    }

    fn program_stack_top(&self) -> *mut c_void {
        self.at(sys::page_size() as usize + STACK_SIZE)
    }

    fn intermediate_stack_top(&self) -> *mut c_void {
        self.at(2 * sys::page_size() as usize + 2 * STACK_SIZE)
    }

    fn outcome(&self) -> *const Outcome {
        self.intermediate_stack_top().cast::<Outcome>()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // Keep it unless another is kept already. The owner is stored while
        // the slot is still empty to us: a racing take() in another thread
        // that sees the pointer also sees the matching owner, since both
        // come from this process.
        SPARE_REGION_OWNER.store(self.owner, Ordering::Release);
        if SPARE_REGION
            .compare_exchange(
                std::ptr::null_mut(),
                self.base,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            return;
        }
        // SAFETY: unmapping our own mapping; no child uses it any more.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Starts `argv` in a new session and returns its pid once exec succeeded.
/// `envp` None inherits the caller's environment.
pub fn spawn(argv: &[&CStr], envp: Option<&[&CStr]>, opts: &Options<'_>) -> Result<i32> {
    if argv.is_empty() {
        return Err(Error::new(Errno::EINVAL, "spawn: argv is empty"));
    }
    let argv_ptrs: Vec<*const c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    let env_ptrs: Option<Vec<*const c_char>> = envp.map(|env| {
        env.iter()
            .map(|e| e.as_ptr())
            .chain([std::ptr::null()])
            .collect()
    });
    let envp = env_ptrs.as_ref().map_or(std::ptr::null(), |e| e.as_ptr());
    // SAFETY: both arrays are NULL-terminated, point to live C strings, and
    // outlive the call.
    unsafe { spawn_raw(argv_ptrs.as_ptr(), envp, opts) }
}

/// [`spawn`] on C arrays, without copying them: the C ABI's path, which
/// allocates nothing for argv and envp (a spawn from a process whose
/// other threads hammer malloc then never waits for the allocator's locks).
/// `envp` NULL passes the caller's `environ` as it is at the call, as
/// execv(3) and posix_spawn(3) with `environ` do; like them, it must not
/// race with setenv(3) in another thread.
///
/// # Safety
/// `argv` is a non-empty NULL-terminated array of NUL-terminated strings;
/// `envp` is NULL or such an array; both outlive the call.
pub(crate) unsafe fn spawn_raw(
    argv: *const *const c_char,
    envp: *const *const c_char,
    opts: &Options<'_>,
) -> Result<i32> {
    // SAFETY: per the contract, argv[0] is a valid C string.
    let name = unsafe { CStr::from_ptr(*argv) };
    // SAFETY: per the contract.
    let program = unsafe { resolve(name, envp, opts.search_path) }?;
    let envp = if envp.is_null() { environ() } else { envp };
    let files = Prepared::open(opts)?;
    let region = Region::take()?;
    let pidfile_fd = files.pidfile.as_ref().map_or(-1, Pidfile::fd);
    let mut keep = [0, 1, 2, pidfile_fd];
    let n_keep = if pidfile_fd >= 0 { 4 } else { 3 };
    keep[..n_keep].sort_unstable();
    let plan = SpawnPlan {
        program: program.as_ptr(),
        argv,
        envp,
        outcome: region.outcome(),
        program_stack: region.program_stack_top(),
        clone_flags: libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
        setup: child::Setup {
            stdio: files.stdio(),
            workdir: files.workdir.as_ref().map_or(-1, AsRawFd::as_raw_fd),
            chdir_root: !opts.keep_cwd && opts.workdir.is_none(),
            umask: None,
            pidfile: pidfile_fd,
            pidfile_write: true,
            pidfile_inherit: true,
            keep: Some(&keep[..n_keep]),
            // All of them: reading which ones are set would cost a /proc
            // read that takes as long as the 62 rt_sigaction calls it saves.
            signals_to_reset: u64::MAX,
        },
    };
    let (pid, failure) = run_children(&plan, &region, opts.no_double_fork)?;
    files.finish(failure.is_none());
    match failure {
        None => Ok(pid),
        Some(f) => {
            let path = match f.step {
                Step::Exec => Some(&*program),
                Step::Pidfile => opts.pidfile,
                Step::Chdir => Some(opts.workdir.unwrap_or(c"/")),
                _ => None,
            };
            Err(sys::child_failure("spawn", f, path))
        }
    }
}

/// What the caller opens before the first clone: the stdio files, the
/// working directory and the locked pidfile.
struct Prepared {
    stdio: Option<sys::Stdio>,
    /// Streams the program inherits from the caller (stdin, stdout, stderr).
    inherit: [bool; 3],
    workdir: Option<OwnedFd>,
    pidfile: Option<Pidfile>,
}

impl Prepared {
    fn open(opts: &Options<'_>) -> Result<Prepared> {
        let inherit = [
            opts.inherit_stdio || opts.inherit_stdin,
            opts.inherit_stdio || opts.inherit_stdout,
            opts.inherit_stdio || opts.inherit_stderr,
        ];
        let mut paths = [opts.stdin_path, opts.stdout_path, opts.stderr_path];
        for (path, inherited) in paths.iter_mut().zip(inherit) {
            if inherited {
                // Not opened: the shared /dev/null copy stands in, unused.
                *path = None;
            }
        }
        let stdio = match inherit {
            [true, true, true] => None,
            _ => Some(sys::open_stdio("spawn", paths)?),
        };
        let workdir = match (opts.keep_cwd, opts.workdir) {
            (false, Some(dir)) => Some(sys::open_workdir("spawn", dir)?),
            _ => None,
        };
        // Locked now, written by the program itself (its own pid) before exec.
        let pidfile = match opts.pidfile {
            Some(path) => {
                let o = pidfile::Options {
                    write_pid: false,
                    ..pidfile::Options::default()
                };
                let mut pf = pidfile::acquire(path, &o)?;
                pf.move_above_stdio()?;
                Some(pf)
            }
            None => None,
        };
        Ok(Prepared {
            stdio,
            inherit,
            workdir,
            pidfile,
        })
    }

    /// What to dup2 onto 0, 1, 2 (-1: inherited).
    fn stdio(&self) -> [RawFd; 3] {
        let mut fds = self.stdio.as_ref().map_or([-1; 3], |s| s.fds);
        for (fd, inherited) in fds.iter_mut().zip(self.inherit) {
            if inherited {
                *fd = -1;
            }
        }
        fds
    }

    /// After the children are done: close our copies, and hand the
    /// pidfile to the program (started) or remove it (failed: the program
    /// wrote its own pid, and none may name a dead one).
    fn finish(self, started: bool) {
        if let Some(mut pf) = self.pidfile {
            if started {
                // The program owns the lock now; our copy only closes.
                pf.disown();
            } else {
                pf.remove_now();
            }
        }
    }
}

/// Runs the children (the intermediate then the program, or the program
/// alone with `no_double_fork`) and returns the program's pid and the
/// failure they recorded, once they are done; both levels are reaped
/// unless the program runs (as the caller's child with `no_double_fork`).
fn run_children(
    plan: &SpawnPlan<'_>,
    region: &Region,
    no_double_fork: bool,
) -> Result<(i32, Option<child::Failure>)> {
    let entry: extern "C" fn(*mut c_void) -> i32 = if no_double_fork {
        child::spawn_program
    } else {
        child::spawn_intermediate
    };
    let mut child = clone_blocked(
        entry,
        region.intermediate_stack_top(),
        plan,
        plan.clone_flags,
    );
    if let Err(Errno::EINVAL | Errno::ENOSYS | Errno::EPERM) = child {
        // A seccomp filter or an old kernel refusing CLONE_VM: fork-like
        // copies instead (still suspended until exec, still no allocation),
        // reporting through the shared region. The plan is read-only to the
        // children, so the flags change here, before the retry.
        let fallback = SpawnPlan {
            clone_flags: libc::CLONE_VFORK | libc::SIGCHLD,
            setup: plan.setup,
            ..*plan
        };
        child = clone_blocked(
            entry,
            region.intermediate_stack_top(),
            &fallback,
            fallback.clone_flags,
        );
    }
    let child = child.map_err(|e| Error::sys(e, "spawn: clone"))?;

    // SAFETY: the outcome block lives in the region we own.
    let outcome = unsafe { &*region.outcome() };
    if !no_double_fork {
        // The intermediate has exited (vfork semantics) or, where the clone
        // ran without them (valgrind makes CLONE_VFORK a plain fork), is
        // about to: reap it before reading what it wrote.
        sys::reap(child);
    }
    let failure = outcome.failure();
    let pid = if no_double_fork {
        child
    } else {
        outcome.pid.load(Ordering::SeqCst)
    };
    if no_double_fork && failure.is_some() {
        // A program that failed before or at exec has exited: reap it.
        sys::reap(child);
    }
    Ok((pid, failure))
}

/// clone(2) with every signal blocked in the calling thread, so that no
/// handler of the caller can run on a child's stack before the child resets
/// the dispositions.
fn clone_blocked(
    entry: extern "C" fn(*mut c_void) -> i32,
    stack_top: *mut c_void,
    plan: &SpawnPlan<'_>,
    flags: i32,
) -> std::result::Result<i32, Errno> {
    // SAFETY: sigset_t is plain data; sigfillset initialises it.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointers.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: the stack is ours and unused, `plan` outlives the child's use
    // of it (we are suspended until the child execs or exits), and the
    // child runs only async-signal-safe code.
    let pid = unsafe {
        libc::clone(
            entry,
            stack_top,
            flags,
            (plan as *const SpawnPlan<'_>).cast_mut().cast(),
        )
    };
    let err = Errno::last();
    // SAFETY: restoring the caller's mask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid < 0 {
        Err(err)
    } else {
        Ok(pid)
    }
}

/// The C library's `environ`.
fn environ() -> *const *const c_char {
    extern "C" {
        static environ: *const *const c_char;
    }
    // SAFETY: reading the pointer the C library maintains.
    unsafe { environ }
}

/// The program to exec, as an absolute path: relative paths (and relative
/// or empty PATH entries) resolve against the caller's working directory
/// now, since the program process changes directory before it execs. An
/// absolute argv\[0\] is used as it is, without a copy.
///
/// # Safety
/// `envp` is NULL or a NULL-terminated array of C strings.
unsafe fn resolve<'a>(
    name: &'a CStr,
    envp: *const *const c_char,
    search_path: bool,
) -> Result<Cow<'a, CStr>> {
    let bytes = name.to_bytes();
    if bytes.is_empty() {
        return Err(Error::new(Errno::ENOENT, "spawn: argv[0] is empty"));
    }
    if bytes[0] == b'/' {
        return Ok(Cow::Borrowed(name));
    }
    if !search_path || bytes.contains(&b'/') {
        return absolute(bytes).map(Cow::Owned);
    }
    // SAFETY: per the contract.
    let from_env = unsafe { env_path(envp) };
    let path = from_env
        .map(<[u8]>::to_vec)
        .or_else(|| std::env::var_os("PATH").map(|p| p.as_bytes().to_vec()))
        .unwrap_or_else(|| b"/bin:/usr/bin".to_vec());
    let mut denied = false;
    for dir in path.split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut candidate = dir.to_vec();
        candidate.push(b'/');
        candidate.extend_from_slice(bytes);
        let candidate = absolute(&candidate)?;
        match nix::sys::stat::stat(candidate.as_c_str()) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {
                // SAFETY: access on a valid C string.
                if unsafe { libc::access(candidate.as_ptr(), libc::X_OK) } == 0 {
                    return Ok(Cow::Owned(candidate));
                }
                denied = true;
            }
            Ok(_) => {}
            Err(Errno::EACCES) => denied = true,
            Err(_) => {}
        }
    }
    let shown = String::from_utf8_lossy(bytes);
    Err(if denied {
        Error::new(
            Errno::EACCES,
            format!("spawn: {shown} is in PATH but not executable: permission denied"),
        )
    } else {
        Error::new(Errno::ENOENT, format!("spawn: {shown} not found in PATH"))
    })
}

/// The value of PATH in `envp`, if it sets one.
///
/// # Safety
/// `envp` is NULL or a NULL-terminated array of C strings.
unsafe fn env_path<'a>(envp: *const *const c_char) -> Option<&'a [u8]> {
    if envp.is_null() {
        return None;
    }
    let mut p = envp;
    // SAFETY: per the contract, every entry up to the NULL is a C string.
    unsafe {
        while !(*p).is_null() {
            if let Some(v) = CStr::from_ptr(*p).to_bytes().strip_prefix(b"PATH=") {
                return Some(v);
            }
            p = p.add(1);
        }
    }
    None
}

fn absolute(path: &[u8]) -> Result<CString> {
    let mut v = Vec::with_capacity(path.len());
    if path.first() != Some(&b'/') {
        let cwd = nix::unistd::getcwd().context(|| "spawn: getcwd".to_string())?;
        v.extend_from_slice(cwd.as_os_str().as_bytes());
        if v.last() != Some(&b'/') {
            v.push(b'/');
        }
    }
    v.extend_from_slice(path);
    CString::new(v).map_err(|_| Error::new(Errno::EINVAL, "spawn: path contains a NUL byte"))
}

/// A builder for [`spawn`] with owned arguments, for Rust callers.
///
/// ```
/// let pid = pidkit::Spawn::new("sleep").arg("5").search_path(true).spawn().unwrap();
/// // The program leads a session of its own and is not our child.
/// assert_eq!(pidkit::ids::getsid(pid).unwrap(), pid);
/// assert_ne!(pidkit::proc_info(pid).unwrap().ppid, std::process::id() as i32);
/// # unsafe { libc::kill(pid, libc::SIGKILL) };
/// ```
#[derive(Debug, Clone, Default)]
pub struct Spawn {
    argv: Vec<CString>,
    env: Option<Vec<CString>>,
    search_path: bool,
    keep_cwd: bool,
    inherit_stdio: bool,
    no_double_fork: bool,
    workdir: Option<CString>,
    stdin: Option<CString>,
    stdout: Option<CString>,
    stderr: Option<CString>,
    pidfile: Option<CString>,
    error: Option<Error>,
}

impl Spawn {
    /// A program to start; `program` is also argv\[0\].
    pub fn new(program: impl AsRef<std::ffi::OsStr>) -> Spawn {
        Spawn::default().arg(program)
    }

    fn bytes(&mut self, s: &std::ffi::OsStr) -> Option<CString> {
        match CString::new(s.as_bytes()) {
            Ok(c) => Some(c),
            Err(_) => {
                self.error.get_or_insert(Error::new(
                    Errno::EINVAL,
                    "spawn: an argument contains a NUL byte",
                ));
                None
            }
        }
    }

    /// Appends an argument.
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Spawn {
        if let Some(c) = self.bytes(arg.as_ref()) {
            self.argv.push(c);
        }
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(self, args: I) -> Spawn {
        args.into_iter().fold(self, Spawn::arg)
    }

    /// Adds `KEY=value` to an explicit environment (without any call to
    /// `env`, the program inherits the caller's environment).
    pub fn env(
        mut self,
        key: impl AsRef<std::ffi::OsStr>,
        value: impl AsRef<std::ffi::OsStr>,
    ) -> Spawn {
        let mut kv = key.as_ref().as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(value.as_ref().as_bytes());
        if let Some(c) = self.bytes(std::ffi::OsStr::from_bytes(&kv)) {
            self.env.get_or_insert_with(Vec::new).push(c);
        }
        self
    }

    /// Look the program up in PATH (see [`Options::search_path`]).
    pub fn search_path(mut self, yes: bool) -> Spawn {
        self.search_path = yes;
        self
    }

    /// Keep the caller's working directory.
    pub fn keep_cwd(mut self, yes: bool) -> Spawn {
        self.keep_cwd = yes;
        self
    }

    /// Keep the caller's stdin, stdout and stderr.
    pub fn inherit_stdio(mut self, yes: bool) -> Spawn {
        self.inherit_stdio = yes;
        self
    }

    /// One fork only: the program stays the caller's child (reap it).
    pub fn no_double_fork(mut self, yes: bool) -> Spawn {
        self.no_double_fork = yes;
        self
    }

    fn path(&mut self, p: impl AsRef<std::path::Path>) -> Option<CString> {
        self.bytes(p.as_ref().as_os_str())
    }

    /// Working directory (default "/").
    pub fn workdir(mut self, dir: impl AsRef<std::path::Path>) -> Spawn {
        self.workdir = self.path(dir);
        self
    }

    /// stdin file (default /dev/null).
    pub fn stdin(mut self, file: impl AsRef<std::path::Path>) -> Spawn {
        self.stdin = self.path(file);
        self
    }

    /// stdout file, appended to (default /dev/null).
    pub fn stdout(mut self, file: impl AsRef<std::path::Path>) -> Spawn {
        self.stdout = self.path(file);
        self
    }

    /// stderr file, appended to (default /dev/null).
    pub fn stderr(mut self, file: impl AsRef<std::path::Path>) -> Spawn {
        self.stderr = self.path(file);
        self
    }

    /// A pidfile the program holds from its first instruction.
    pub fn pidfile(mut self, file: impl AsRef<std::path::Path>) -> Spawn {
        self.pidfile = self.path(file);
        self
    }

    /// Starts the program; its pid once exec succeeded.
    pub fn spawn(&self) -> Result<i32> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let argv: Vec<&CStr> = self.argv.iter().map(CString::as_c_str).collect();
        // Without an explicit environment, a snapshot taken through std's
        // environment lock, so that a concurrent std::env::set_var in
        // another thread cannot move `environ` under the children.
        let inherited: Vec<CString>;
        let owned = match &self.env {
            Some(env) => env,
            None => {
                inherited = std::env::vars_os()
                    .filter_map(|(k, v)| {
                        let mut kv = k.as_bytes().to_vec();
                        kv.push(b'=');
                        kv.extend_from_slice(v.as_bytes());
                        CString::new(kv).ok()
                    })
                    .collect();
                &inherited
            }
        };
        let env: Vec<&CStr> = owned.iter().map(CString::as_c_str).collect();
        let env = Some(env);
        let opts = Options {
            search_path: self.search_path,
            keep_cwd: self.keep_cwd,
            inherit_stdio: self.inherit_stdio,
            no_double_fork: self.no_double_fork,
            workdir: self.workdir.as_deref(),
            stdin_path: self.stdin.as_deref(),
            stdout_path: self.stdout.as_deref(),
            stderr_path: self.stderr.as_deref(),
            pidfile: self.pidfile.as_deref(),
            ..Options::default()
        };
        spawn(&argv, env.as_deref(), &opts)
    }
}
