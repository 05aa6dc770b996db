//! Processes you can name safely: handles pinned by a pidfd, one-pass
//! listings of /proc, and signalling a whole session, process group or tree.
//!
//! A pid names a process only until it is reaped; then the kernel may give
//! it to another. [`Process`] pins one process with a pidfd (Linux 5.3) or,
//! where the kernel has none, with its pid and start time, checked before
//! every use. [`processes`] reads /proc once. [`kill`] opens each member it
//! found, re-checks it, and only then signals it, scanning again until no
//! new member shows up (`kill -9 -SID` reaches only the process group whose
//! id is the session id; [`kill`] with [`Filter::session`] reaches the
//! session's other groups too).
//!
//! ```no_run
//! use pidkit::procs::{self, Filter, KillOptions};
//! use std::time::Duration;
//! // `ps xao comm,pid,ppid,pgid,sid` for my session
//! let sid = pidkit::ids::getsid(0)?;
//! for p in procs::processes(&Filter::new().session(sid))? {
//!     println!("{:?} {} {} {} {}", String::from_utf8_lossy(p.comm_bytes()), p.pid, p.ppid, p.pgid, p.sid);
//! }
//! // SIGTERM a whole session, wait up to 5 s, then SIGKILL what is left.
//! let opts = KillOptions { wait: true, timeout: Some(Duration::from_secs(5)), escalate: Some(libc::SIGKILL) };
//! let report = procs::kill(&Filter::new().session(4242), libc::SIGTERM, &opts)?;
//! assert_eq!(report.alive, 0);
//! # Ok::<(), pidkit::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::ids::{self, ProcInfo};
use crate::sys;
use nix::errno::Errno;
use std::collections::HashSet;
use std::rc::Rc;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `PF_KTHREAD` in `/proc/PID/stat`'s flags: a kernel thread.
const PF_KTHREAD: u32 = 0x0020_0000;
/// Scans `kill` makes at most before it reports `incomplete`.
const MAX_SCANS: u32 = 64;
/// Highest signal number the kernel knows (SIGRTMAX).
const SIG_MAX: i32 = 64;
/// Descriptors one wait batch holds at most (poll(2) is linear in them).
const WAIT_BATCH: usize = 1024;
/// A /proc/PID/stat line is a few hundred bytes (comm is at most 64).
const STAT_BUF: usize = 1024;

fn check_signal(op: &str, sig: i32) -> Result<()> {
    if (0..=SIG_MAX).contains(&sig) {
        Ok(())
    } else {
        Err(Error::new(
            Errno::EINVAL,
            format!("{op}: invalid signal {sig}"),
        ))
    }
}

/// A kept descriptor of /proc, checked to belong to the caller's pid
/// namespace: `/proc/self` must name the caller, or every pid read from it
/// would be another namespace's.
struct ProcDir {
    fd: OwnedFd,
}

impl ProcDir {
    fn open(op: &str) -> Result<ProcDir> {
        let fd = sys::open_cloexec(c"/proc", libc::O_RDONLY | libc::O_DIRECTORY)
            .map_err(|e| Error::sys(e, format!("{op}: open /proc")))?;
        let mut link = [0u8; 32];
        // SAFETY: readlinkat writes at most link.len() bytes into link.
        let n = unsafe {
            libc::readlinkat(
                fd.as_raw_fd(),
                c"self".as_ptr(),
                link.as_mut_ptr().cast(),
                link.len(),
            )
        };
        let me = ids::getpid();
        let named = (n > 0).then(|| parse_pid(&link[..n as usize])).flatten();
        if named != Some(me) {
            return Err(Error::new(
                Errno::EXDEV,
                format!(
                    "{op}: /proc belongs to another pid namespace (/proc/self does not name pid {me})"
                ),
            ));
        }
        Ok(ProcDir { fd })
    }

    /// Opens `PID/NAME` below /proc.
    fn open_file(&self, pid: i32, name: &[u8]) -> std::result::Result<OwnedFd, Errno> {
        let mut buf = [0u8; 32];
        let mut w = sys::StackWriter::new(&mut buf);
        w.push_u64(pid as u64);
        w.push(b"/");
        w.push(name);
        let path = w.as_cstr().ok_or(Errno::ENAMETOOLONG)?;
        // SAFETY: path is a NUL-terminated string; the result is checked.
        let fd = sys::retry_eintr(|| unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                path.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY,
            ) as isize
        })?;
        // SAFETY: openat just returned this descriptor; nobody else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }

    /// One row of `pid`: `stat` parsed, plus the real uid from `status`
    /// when `with_uid`. `Ok(None)` when the process does not exist or
    /// vanished while being read. Both files are opened before either is
    /// read: a read fails once the process they were opened for has been
    /// reaped, so two successful reads name one process (never a row mixed
    /// from two). `keep` decides from `stat` alone whether the row is
    /// wanted; `status` is read only then.
    fn row(
        &self,
        pid: i32,
        with_uid: bool,
        keep: impl FnOnce(&ProcInfo) -> bool,
    ) -> std::result::Result<Option<ProcInfo>, Errno> {
        let gone = |e: Errno| match e {
            Errno::ENOENT | Errno::ESRCH => Ok(None),
            e => Err(e),
        };
        let stat = match self.open_file(pid, b"stat") {
            Ok(fd) => fd,
            Err(e) => return gone(e),
        };
        let status = match with_uid {
            false => None,
            true => match self.open_file(pid, b"status") {
                Ok(fd) => Some(fd),
                Err(e) => return gone(e),
            },
        };
        let mut buf = [0u8; STAT_BUF];
        let n = match sys::read_retry(&stat, &mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) => return gone(e),
        };
        let Some(mut info) = ids::parse_stat(&buf[..n], sys::page_size()) else {
            return Err(Errno::EBADMSG);
        };
        if !keep(&info) {
            return Ok(None);
        }
        if let Some(status) = status {
            let mut sbuf = [0u8; 4096];
            let n = match sys::read_retry(&status, &mut sbuf) {
                Ok(0) => return Ok(None),
                Ok(n) => n,
                Err(e) => return gone(e),
            };
            info.uid = ids::parse_status_uid(&sbuf[..n]).ok_or(Errno::EBADMSG)?;
        }
        Ok(Some(info))
    }

    /// Calls `each` with every pid /proc lists (processes, not threads),
    /// in the order the kernel lists them (ascending).
    fn each_pid(
        &self,
        buf: &mut [u8],
        mut each: impl FnMut(i32),
    ) -> std::result::Result<(), Errno> {
        let dirfd = self.fd.as_raw_fd();
        // SAFETY: rewinding a directory descriptor we own.
        if unsafe { libc::lseek(dirfd, 0, libc::SEEK_SET) } < 0 {
            return Err(Errno::last());
        }
        loop {
            // SAFETY: getdents64 writes at most buf.len() bytes into buf.
            let n = sys::retry_eintr(|| unsafe {
                libc::syscall(libc::SYS_getdents64, dirfd, buf.as_mut_ptr(), buf.len()) as isize
            })?;
            if n == 0 {
                return Ok(());
            }
            let mut off = 0;
            while off + 19 < n {
                // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name[]
                let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
                if reclen == 0 || off + reclen > n {
                    break;
                }
                let name = &buf[off + 19..off + reclen];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                if let Some(pid) = parse_pid(name) {
                    each(pid);
                }
                off += reclen;
            }
        }
    }
}

/// Whether an optional criterion holds for `v` (unset holds for all).
fn fits<T: PartialEq>(want: Option<T>, v: T) -> bool {
    want.map_or(true, |w| w == v)
}

fn parse_pid(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 || name[0] == b'0' {
        return None;
    }
    let mut v: i64 = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    i32::try_from(v).ok()
}

/// Which processes a listing or a kill is about: a process matches when
/// every criterion that is set does. Ids are explicit and > 0 (use
/// `ids::getsid(0)` for "my session"): 0 never means "the caller's".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    /// Session id.
    pub sid: Option<i32>,
    /// Process group id.
    pub pgid: Option<i32>,
    /// Parent pid.
    pub ppid: Option<i32>,
    /// Descendants of this pid: its children, their children and so on
    /// (not the process itself).
    pub ancestor: Option<i32>,
    /// Real uid.
    pub uid: Option<u32>,
}

impl Filter {
    /// A filter with no criterion: every process (for [`processes`] only;
    /// [`kill`] refuses it).
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Members of session `sid`.
    pub fn session(mut self, sid: i32) -> Filter {
        self.sid = Some(sid);
        self
    }

    /// Members of process group `pgid`.
    pub fn group(mut self, pgid: i32) -> Filter {
        self.pgid = Some(pgid);
        self
    }

    /// Children of `ppid`.
    pub fn parent(mut self, ppid: i32) -> Filter {
        self.ppid = Some(ppid);
        self
    }

    /// Descendants of `pid` (not `pid` itself).
    pub fn descendants_of(mut self, pid: i32) -> Filter {
        self.ancestor = Some(pid);
        self
    }

    /// Processes whose real uid is `uid`.
    pub fn uid(mut self, uid: u32) -> Filter {
        self.uid = Some(uid);
        self
    }

    /// Whether no criterion is set (every process matches).
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    fn check(&self, op: &str) -> Result<()> {
        for (name, id) in [
            ("sid", self.sid),
            ("pgid", self.pgid),
            ("ppid", self.ppid),
            ("ancestor", self.ancestor),
        ] {
            if let Some(id) = id.filter(|&id| id <= 0) {
                return Err(Error::new(
                    Errno::EINVAL,
                    format!(
                        "{op}: filter {name} {id} is not a process id (ids are explicit and > 0)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The criteria that `stat` alone decides (not uid, not descendants).
    fn matches_stat(&self, i: &ProcInfo) -> bool {
        fits(self.sid, i.sid) && fits(self.pgid, i.pgid) && fits(self.ppid, i.ppid)
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = self.sid {
            parts.push(format!("sid {v}"));
        }
        if let Some(v) = self.pgid {
            parts.push(format!("pgid {v}"));
        }
        if let Some(v) = self.ppid {
            parts.push(format!("ppid {v}"));
        }
        if let Some(v) = self.ancestor {
            parts.push(format!("descendants of {v}"));
        }
        if let Some(v) = self.uid {
            parts.push(format!("uid {v}"));
        }
        if parts.is_empty() {
            "every process".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// One matching process of a scan, with its depth below the filter's
/// ancestor (0 without one).
struct Found {
    info: ProcInfo,
    depth: u32,
}

/// The one /proc scan behind [`processes`] and [`kill`]: every matching
/// process in ascending pid order. `with_uid` reads each kept row's real
/// uid (a uid filter always does). `skip` drops a process before its
/// `status` is read.
fn scan(
    dir: &ProcDir,
    filter: &Filter,
    with_uid: bool,
    dents: &mut [u8],
    skip: &dyn Fn(&ProcInfo) -> bool,
) -> Result<Vec<Found>> {
    let with_uid = with_uid || filter.uid.is_some();
    let mut rows: Vec<(ProcInfo, bool)> = Vec::new();
    let mut failure = None;
    let tree = filter.ancestor.is_some();
    dir.each_pid(dents, |pid| {
        if failure.is_some() {
            return;
        }
        let mut direct = false;
        let r = dir.row(pid, with_uid, |i| {
            direct = filter.matches_stat(i) && !skip(i);
            // A tree filter needs every process's ppid link.
            direct || tree
        });
        match r {
            Ok(Some(info)) => {
                let direct = direct && fits(filter.uid, info.uid);
                if direct || tree {
                    rows.push((info, direct));
                }
            }
            Ok(None) => {}
            Err(e) => failure = Some((pid, e)),
        }
    })
    .map_err(|e| Error::sys(e, "list /proc"))?;
    if let Some((pid, e)) = failure {
        return Err(Error::sys(e, format!("read /proc/{pid}/stat")));
    }
    // /proc lists in ascending order already; the sort only guards it.
    if !rows.windows(2).all(|w| w[0].0.pid < w[1].0.pid) {
        rows.sort_unstable_by_key(|r| r.0.pid);
    }
    let Some(ancestor) = filter.ancestor else {
        return Ok(rows
            .into_iter()
            .map(|(info, _)| Found { info, depth: 0 })
            .collect());
    };
    let depths = tree_depths(&rows, ancestor);
    Ok(rows
        .into_iter()
        .zip(depths)
        .filter_map(|((info, direct), d)| (direct && d > 0).then_some(Found { info, depth: d }))
        .collect())
}

/// For each row (sorted by pid), its depth below `ancestor` following the
/// ppid links: 1 for a child, 2 for a grandchild, 0 for a non-descendant.
fn tree_depths(rows: &[(ProcInfo, bool)], ancestor: i32) -> Vec<u32> {
    const UNKNOWN: u32 = u32::MAX;
    const VISITING: u32 = u32::MAX - 1;
    let mut depth = vec![UNKNOWN; rows.len()];
    let index = |pid: i32| rows.binary_search_by_key(&pid, |r| r.0.pid).ok();
    let mut chain = Vec::new();
    for start in 0..rows.len() {
        chain.clear();
        let mut at = Some(start);
        // The depth of whatever sits above the chain: None = not under the
        // ancestor (top of the tree, an unknown parent, a cycle).
        let base: Option<u32> = loop {
            let Some(a) = at else { break None };
            let info = &rows[a].0;
            if info.pid == ancestor {
                break Some(0);
            }
            match depth[a] {
                UNKNOWN => {}
                VISITING | 0 => break None,
                d => break Some(d),
            }
            depth[a] = VISITING;
            chain.push(a);
            // The ancestor may have exited (or be outside the rows): its
            // children still say so until they are reparented.
            if info.ppid == ancestor {
                break Some(0);
            }
            at = index(info.ppid);
        };
        for (k, &c) in chain.iter().rev().enumerate() {
            depth[c] = base.map_or(0, |b| b + 1 + k as u32);
        }
    }
    for d in &mut depth {
        if *d >= VISITING {
            *d = 0;
        }
    }
    depth
}

/// Every process matching `filter`, in ascending pid order, from one scan
/// of /proc (one read of `/proc/PID/stat` per process, plus `status` for
/// the real uid). Kernel threads are listed, as `ps -e` shows them; a
/// process that exits during the scan is left out, never half read.
/// -EINVAL for an id <= 0 in the filter; -EXDEV when /proc belongs to
/// another pid namespace.
pub fn processes(filter: &Filter) -> Result<Vec<ProcInfo>> {
    list(filter, true)
}

/// [`processes`], reading the real uid only when `with_uid` (or the filter
/// needs it); without it `uid` is 0.
pub(crate) fn list(filter: &Filter, with_uid: bool) -> Result<Vec<ProcInfo>> {
    filter.check("list processes")?;
    let dir = ProcDir::open("list processes")?;
    let mut dents = vec![0u8; 32 * 1024];
    Ok(scan(&dir, filter, with_uid, &mut dents, &|_| false)?
        .into_iter()
        .map(|f| f.info)
        .collect())
}

/// How [`kill`] goes about it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KillOptions {
    /// Return only when every signalled process has exited (a zombie has
    /// exited), scanning once more afterwards for members forked meanwhile.
    pub wait: bool,
    /// With `wait`: how long to wait; None = forever.
    pub timeout: Option<Duration>,
    /// With `wait` and a timeout: sent to those still alive when the
    /// timeout has passed, which are then waited for once more up to the
    /// timeout; members that show only then (forked during the first wait)
    /// get it at once, scan after scan, and count in `escalated`.
    pub escalate: Option<i32>,
}

/// What [`kill`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KillReport {
    /// Processes that received the signal.
    pub signalled: u32,
    /// Matching processes the caller may not signal (EPERM).
    pub refused: u32,
    /// With `wait`: signalled processes still running at the end (> 0
    /// means the wait timed out).
    pub alive: u32,
    /// Processes sent the escalation signal.
    pub escalated: u32,
    /// The 64th scan still found new members.
    pub incomplete: bool,
}

/// One signalled process: its identity, and its pidfd while descriptors
/// allow (reopened, and re-checked, for the wait otherwise).
struct Member {
    pid: i32,
    start_time: u64,
    pidfd: Option<OwnedFd>,
    exited: bool,
}

enum Sent {
    Yes(Member),
    Refused,
    Gone,
}

/// Signals every process matching `filter` (see the module docs): each
/// through a pidfd opened after the scan and re-checked (same start time,
/// and still matching; parent and descendant membership is judged at the
/// scan). Descendants are signalled children first. pid 1, the caller,
/// kernel threads and zombies (already exited) never match; nothing is
/// ever reaped. A stopped member
/// also gets SIGCONT after a signal other than SIGKILL and SIGCONT.
///
/// Errors: -EINVAL for an empty filter (every process: never), an id <= 0,
/// a bad signal or options; -EPERM when processes matched but none could
/// be signalled; -EXDEV when /proc belongs to another pid namespace. With
/// `wait`, a timeout is not an error: `alive` in the report says how many
/// are left.
pub fn kill(filter: &Filter, sig: i32, opts: &KillOptions) -> Result<KillReport> {
    let op = "kill processes";
    if filter.is_empty() {
        return Err(Error::new(
            Errno::EINVAL,
            format!("{op}: a filter without criteria would mean every process"),
        ));
    }
    filter.check(op)?;
    check_signal(op, sig)?;
    if let Some(e) = opts.escalate {
        if !opts.wait || opts.timeout.is_none() {
            return Err(Error::new(
                Errno::EINVAL,
                format!("{op}: escalation signal {e} needs a wait with a timeout"),
            ));
        }
        check_signal(op, e)?;
    }
    let dir = ProcDir::open(op)?;
    let mut k = Killer {
        dir: Rc::new(dir),
        filter: *filter,
        me: ids::getpid(),
        seen: HashSet::new(),
        tree: HashSet::new(),
        members: Vec::new(),
        report: KillReport::default(),
        scans: 0,
        keep_fds: opts.wait,
        escalating: false,
        fd_limit: soft_fd_limit(),
        dents: vec![0u8; 32 * 1024],
    };
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut first = true;
    let mut timed_out = false;
    loop {
        let new = k.signal_new(sig, opts.wait)?;
        if !opts.wait || (!first && new == 0) {
            break;
        }
        first = false;
        if !k.wait_members(deadline)? {
            timed_out = true;
            break;
        }
        if k.report.incomplete {
            break;
        }
    }
    if timed_out {
        if let (Some(esc), Some(t)) = (opts.escalate, opts.timeout) {
            k.escalate(esc)?;
            // Members forked while the first wait ran (or inside fork(2)
            // when `esc` arrived) show only now: they get `esc` at once,
            // scan after scan, within the same second timeout.
            k.escalating = true;
            let deadline = Instant::now() + t;
            while k.wait_members(Some(deadline))? && !k.report.incomplete {
                if k.signal_new(esc, true)? == 0 {
                    break;
                }
            }
        }
    }
    if opts.wait {
        k.report.alive = k.members.iter().filter(|m| !m.exited).count() as u32;
    }
    if k.report.signalled == 0 && k.report.refused > 0 {
        return Err(Error::new(
            Errno::EPERM,
            format!(
                "{op} ({}): {} matched, none may be signalled by this caller",
                filter.describe(),
                k.report.refused
            ),
        ));
    }
    Ok(k.report)
}

struct Killer {
    dir: Rc<ProcDir>,
    filter: Filter,
    me: i32,
    /// (pid, start time) of every member met so far, signalled or refused.
    seen: HashSet<(i32, u64)>,
    /// pids of the members met so far: a probed process whose parent is
    /// one of them descends from the filter's ancestor.
    tree: HashSet<i32>,
    members: Vec<Member>,
    report: KillReport,
    scans: u32,
    keep_fds: bool,
    /// After the timeout: members met now are sent the escalation signal
    /// and counted in `escalated`.
    escalating: bool,
    /// The soft RLIMIT_NOFILE at the start.
    fd_limit: u64,
    dents: Vec<u8>,
}

impl Killer {
    /// Scans until a scan finds no new member, signalling each new one.
    /// Returns how many new members (signalled or refused) it met.
    fn signal_new(&mut self, sig: i32, once: bool) -> Result<u32> {
        let mut met = 0;
        loop {
            if self.scans == MAX_SCANS {
                self.report.incomplete = true;
                return Ok(met);
            }
            self.scans += 1;
            // Pids handed out from here on are above `base` (until they
            // wrap around): follow_new looks at those.
            let base = last_pid();
            let new = match self.filter.ancestor {
                Some(_) => self.scan_tree(sig)?,
                None => self.scan_stream(sig)?,
            };
            if new == 0 {
                // Nothing new in the listing; a forking member may have
                // moved on to a pid past it.
                let followed = self.follow_new(sig, base)?;
                met += followed;
                if followed == 0 || once {
                    return Ok(met);
                }
                continue;
            }
            met += new;
            met += self.follow_new(sig, base)?;
            // With a wait, the scan after it finds what was forked meanwhile.
            if once {
                return Ok(met);
            }
        }
    }

    /// One scan for a filter that /proc/PID/stat decides (no ancestor):
    /// each new member is pinned, re-checked and signalled as soon as the
    /// scan reaches it, so members already signalled exit on the other CPUs
    /// while the scan goes on. Returns how many new members it met.
    fn scan_stream(&mut self, sig: i32) -> Result<u32> {
        let dir = Rc::clone(&self.dir);
        let mut dents = std::mem::take(&mut self.dents);
        let (me, filter) = (self.me, self.filter);
        let mut met = 0;
        let mut failure = None;
        let listed = dir.each_pid(&mut dents, |pid| {
            if failure.is_some() {
                return;
            }
            let seen = &self.seen;
            let row = dir.row(pid, filter.uid.is_some(), |i| {
                filter.matches_stat(i) && !excluded(i, me) && !seen.contains(&(i.pid, i.start_time))
            });
            match row {
                Ok(Some(info)) if fits(filter.uid, info.uid) => match self.meet(&info, sig) {
                    Ok(n) => met += n,
                    Err(e) => failure = Some(e),
                },
                Ok(_) => {}
                Err(e) => failure = Some(Error::sys(e, format!("read /proc/{pid}/stat"))),
            }
        });
        self.dents = dents;
        listed.map_err(|e| Error::sys(e, "list /proc"))?;
        match failure {
            Some(e) => Err(e),
            None => Ok(met),
        }
    }

    /// One scan for a descendants filter: the ppid links need the whole
    /// listing first. Children are signalled before their parents.
    fn scan_tree(&mut self, sig: i32) -> Result<u32> {
        let me = self.me;
        let seen = &self.seen;
        let mut found = scan(&self.dir, &self.filter, false, &mut self.dents, &|i| {
            excluded(i, me) || seen.contains(&(i.pid, i.start_time))
        })?;
        // Children before parents: a parent that dies first would have
        // its children reparented, and a supervisor among them could
        // restart what was just killed.
        found.sort_by_key(|f| std::cmp::Reverse(f.depth));
        // Pin and re-check them all first, then signal them all, deepest
        // first.
        let mut met = 0;
        let mut pinned = Vec::new();
        for f in found {
            if !self.seen.insert((f.info.pid, f.info.start_time)) {
                continue;
            }
            self.tree.insert(f.info.pid);
            met += 1;
            let p = loop {
                match self.pin(&f.info)? {
                    Pin::Room(p) => break p,
                    Pin::Full if !pinned.is_empty() => self.deliver(&mut pinned, sig)?,
                    Pin::Full => {
                        return Err(Error::sys(
                            Errno::EMFILE,
                            format!("kill: pidfd_open of pid {}", f.info.pid),
                        ))
                    }
                }
            };
            let Some(p) = p else { continue };
            let full = p.pidfd.as_ref().is_some_and(|fd| !self.below_reserve(fd));
            pinned.push(p);
            if full {
                self.deliver(&mut pinned, sig)?;
            }
        }
        self.deliver(&mut pinned, sig)?;
        Ok(met)
    }

    /// Signals the pinned members, in order, and records them.
    fn deliver(&mut self, pinned: &mut Vec<Pinned>, sig: i32) -> Result<()> {
        for p in pinned.drain(..) {
            match self.send_pinned(p, sig)? {
                Sent::Yes(m) => self.record(m),
                Sent::Refused => self.report.refused += 1,
                Sent::Gone => {}
            }
        }
        Ok(())
    }

    /// Counts a member just signalled and keeps it for the wait.
    fn record(&mut self, m: Member) {
        match self.escalating {
            true => self.report.escalated += 1,
            false => self.report.signalled += 1,
        }
        self.members.push(m);
    }

    /// Signals one member found by a scan or a probe (once per process).
    fn meet(&mut self, info: &ProcInfo, sig: i32) -> Result<u32> {
        if !self.seen.insert((info.pid, info.start_time)) {
            return Ok(0);
        }
        self.tree.insert(info.pid);
        let sent = match self.pin(info)? {
            Pin::Room(Some(p)) => self.send_pinned(p, sig)?,
            Pin::Room(None) => Sent::Gone,
            Pin::Full => {
                return Err(Error::sys(
                    Errno::EMFILE,
                    format!("kill: pidfd_open of pid {}", info.pid),
                ))
            }
        };
        match sent {
            Sent::Yes(m) => self.record(m),
            Sent::Refused => self.report.refused += 1,
            Sent::Gone => {}
        }
        Ok(1)
    }

    /// Looks at the pids handed out since the scan (up to the namespace's
    /// `ns_last_pid`) and signals the new members among them at once, round
    /// after round while new ones appear (`base`: ns_last_pid before the
    /// scan). A whole scan of /proc takes
    /// milliseconds; a chain of forks (each link forks and exits) moves on
    /// in a fraction of that, so scans alone would always find a link that
    /// is already gone. Pids are handed out in increasing order, so the
    /// new ones are found by probing only those above `base`.
    fn follow_new(&mut self, sig: i32, base: Option<i32>) -> Result<u32> {
        let mut met = 0;
        let Some(mut highest) = base else {
            return Ok(met);
        };
        let mut quiet = 0;
        for _ in 0..FOLLOW_ROUNDS {
            let Some(last) = last_pid() else {
                return Ok(met);
            };
            // No pid handed out since we last looked: nothing new exists
            // (a process is listed before its pid can be handed out again).
            // Far ahead, or wrapped around: the next scan sees them.
            if last <= highest || last - highest > FOLLOW_SPAN {
                return Ok(met);
            }
            // Any process of the set in the range, a zombie too (a link
            // that has just forked and exited), says the set is still
            // forking: look again.
            let mut active = false;
            // Newest first: the live end of a chain of forks is the last pid.
            // The last few pids again too: a pid is handed out before its
            // process shows in /proc, so a probe may have come too early.
            for pid in ((highest - FOLLOW_OVERLAP).max(1)..=last).rev() {
                let (me, filter, tree, seen) = (self.me, self.filter, &self.tree, &self.seen);
                let mut of_set = false;
                let row = self
                    .dir
                    .row(pid, filter.uid.is_some(), |i| {
                        of_set = filter.matches_stat(i)
                            && filter
                                .ancestor
                                .map_or(true, |a| i.ppid == a || tree.contains(&i.ppid));
                        of_set && !excluded(i, me) && !seen.contains(&(i.pid, i.start_time))
                    })
                    .map_err(|e| Error::sys(e, format!("kill: read /proc/{pid}/stat")))?;
                active |= of_set;
                let Some(info) = row.filter(|i| fits(filter.uid, i.uid)) else {
                    continue;
                };
                met += self.meet(&info, sig)?;
            }
            highest = highest.max(last);
            // The set may have moved on past `last` while we looked, or a
            // child may still be on its way into /proc: give up only after
            // a few rounds without a trace of it.
            quiet = if active { 0 } else { quiet + 1 };
            if quiet == FOLLOW_QUIET_ROUNDS {
                return Ok(met);
            }
        }
        Ok(met)
    }

    /// Opens `row`'s process and re-checks it: None when it is gone or no
    /// longer matches.
    fn pin(&mut self, row: &ProcInfo) -> Result<Pin> {
        let pid = row.pid;
        let pidfd = match self.open_pidfd(pid)? {
            Opened::Fd(fd) => Some(fd),
            Opened::NoPidfd => None,
            Opened::Gone => return Ok(Pin::Room(None)),
            Opened::Full => return Ok(Pin::Full),
        };
        // Re-check after the pidfd pins a process: a row read now that has
        // the scan's start time is the scanned process (or one that got its
        // pid within the same clock tick, which the pidfd then tells apart:
        // signalling a reaped pidfd's process fails with ESRCH).
        let filter = self.filter;
        let now = self
            .dir
            .row(pid, filter.uid.is_some(), |i| {
                i.start_time == row.start_time
                    && fits(filter.sid, i.sid)
                    && fits(filter.pgid, i.pgid)
            })
            .map_err(|e| Error::sys(e, format!("kill: read /proc/{pid}/stat")))?;
        let Some(now) = now.filter(|i| fits(filter.uid, i.uid)) else {
            return Ok(Pin::Room(None));
        };
        Ok(Pin::Room(Some(Pinned {
            pid,
            start_time: row.start_time,
            pidfd,
            stopped: matches!(now.state, b'T' | b't'),
        })))
    }

    /// Signals a pinned process.
    fn send_pinned(&mut self, p: Pinned, sig: i32) -> Result<Sent> {
        let pid = p.pid;
        match send(p.pidfd.as_ref(), pid, sig) {
            Ok(()) => {}
            Err(Errno::EPERM) => return Ok(Sent::Refused),
            Err(Errno::ESRCH) => return Ok(Sent::Gone),
            Err(e) => return Err(Error::sys(e, format!("kill: signal {sig} to pid {pid}"))),
        }
        if p.stopped && !matches!(sig, 0 | libc::SIGKILL | libc::SIGCONT) {
            // A stopped process would not act on the signal until
            // continued (systemd sends SIGCONT after SIGTERM too).
            let _ = send(p.pidfd.as_ref(), pid, libc::SIGCONT);
        }
        let keep = self.keep_fds && p.pidfd.as_ref().is_some_and(|fd| self.below_reserve(fd));
        Ok(Sent::Yes(Member {
            pid,
            start_time: p.start_time,
            pidfd: p.pidfd.filter(|_| keep),
            exited: false,
        }))
    }

    /// pidfd_open, making room when descriptors run out: kept pidfds are
    /// closed (the wait reopens them in batches).
    fn open_pidfd(&mut self, pid: i32) -> Result<Opened> {
        loop {
            match sys::pidfd_open(pid) {
                Ok(fd) => return Ok(Opened::Fd(fd)),
                Err(Errno::ESRCH) => return Ok(Opened::Gone),
                Err(Errno::ENOSYS) => return Ok(Opened::NoPidfd),
                Err(Errno::EMFILE) | Err(Errno::ENFILE) if self.drop_kept_fds() => continue,
                Err(Errno::EMFILE) | Err(Errno::ENFILE) => return Ok(Opened::Full),
                Err(e) => return Err(Error::sys(e, format!("kill: pidfd_open of pid {pid}"))),
            }
        }
    }

    /// Whether a pidfd may be kept: descriptors are handed out lowest
    /// first, so its number tells how many are in use, and FD_RESERVE stay
    /// free for /proc reads and the caller's other threads.
    fn below_reserve(&self, fd: &OwnedFd) -> bool {
        (fd.as_raw_fd() as u64) + FD_RESERVE < self.fd_limit
    }

    /// Closes every kept pidfd; false when there was none.
    fn drop_kept_fds(&mut self) -> bool {
        let mut any = false;
        for m in &mut self.members {
            any |= m.pidfd.take().is_some();
        }
        any
    }

    /// Sends `sig` to every member still alive.
    fn escalate(&mut self, sig: i32) -> Result<()> {
        for i in 0..self.members.len() {
            if self.members[i].exited {
                continue;
            }
            if self.members[i].pidfd.is_none() {
                let (pid, start) = (self.members[i].pid, self.members[i].start_time);
                match self.reopen(pid, start)? {
                    Reopened::Fd(fd) => self.members[i].pidfd = Some(fd),
                    Reopened::Exited => {
                        self.members[i].exited = true;
                        continue;
                    }
                    Reopened::NoPidfd => {}
                    Reopened::NoRoom => {}
                }
            }
            let m = &self.members[i];
            if self.members[i].pidfd.is_none() && !self.same_process(m.pid, m.start_time)? {
                self.members[i].exited = true;
                continue;
            }
            if send(self.members[i].pidfd.as_ref(), self.members[i].pid, sig).is_ok() {
                self.report.escalated += 1;
            }
            if self.members.iter().filter(|m| m.pidfd.is_some()).count() >= WAIT_BATCH {
                self.drop_kept_fds();
            }
        }
        Ok(())
    }

    /// Whether `pid` is still the process that started at `start` and has
    /// not exited (the fallback without pidfds: a zombie has exited).
    fn same_process(&self, pid: i32, start: u64) -> Result<bool> {
        let row = self
            .dir
            .row(pid, false, |i| i.start_time == start)
            .map_err(|e| Error::sys(e, format!("kill: read /proc/{pid}/stat")))?;
        Ok(row.is_some_and(|i| i.state != b'Z' && i.state != b'X'))
    }

    /// A pidfd for a member whose kept one was closed: opened, then the
    /// start time checked (the pid may name another process by now).
    fn reopen(&self, pid: i32, start: u64) -> Result<Reopened> {
        let fd = match sys::pidfd_open(pid) {
            Ok(fd) => fd,
            Err(Errno::ESRCH) => return Ok(Reopened::Exited),
            Err(Errno::ENOSYS) => return Ok(Reopened::NoPidfd),
            Err(Errno::EMFILE) | Err(Errno::ENFILE) => return Ok(Reopened::NoRoom),
            Err(e) => return Err(Error::sys(e, format!("kill: pidfd_open of pid {pid}"))),
        };
        if !self.below_reserve(&fd) {
            return Ok(Reopened::NoRoom);
        }
        Ok(match self.same_process(pid, start)? {
            true => Reopened::Fd(fd),
            false => Reopened::Exited,
        })
    }

    /// Waits until every member has exited or `deadline` passed (false).
    /// Their pidfds are watched with one epoll instance (each registered
    /// once: a poll(2) of a thousand descriptors on every wake-up would
    /// cost more than the exits), never more of them at a time than the
    /// descriptor limit allows: a pidfd closed at its member's exit makes
    /// room for the next member's, reopened and re-checked.
    #[allow(clippy::needless_range_loop)] // the loop body reopens through &mut self
    fn wait_members(&mut self, deadline: Option<Instant>) -> Result<bool> {
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(Error::sys(Errno::last(), "kill: epoll_create1"));
        }
        // SAFETY: a fresh descriptor owned by nobody else.
        let ep = unsafe { OwnedFd::from_raw_fd(ep) };
        let mut watched = vec![false; self.members.len()];
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            let mut unpinned = false; // members watched through /proc only
            let mut room = true;
            let mut any_watched = false;
            for i in 0..self.members.len() {
                if self.members[i].exited {
                    continue;
                }
                if watched[i] {
                    any_watched = true;
                    continue;
                }
                if self.members[i].pidfd.is_none() && room {
                    let (pid, start) = (self.members[i].pid, self.members[i].start_time);
                    match self.reopen(pid, start)? {
                        Reopened::Fd(fd) => self.members[i].pidfd = Some(fd),
                        Reopened::Exited => {
                            self.members[i].exited = true;
                            continue;
                        }
                        Reopened::NoPidfd => {}
                        Reopened::NoRoom => room = false,
                    }
                }
                let m = &self.members[i];
                match &m.pidfd {
                    Some(fd) => {
                        let mut ev = libc::epoll_event {
                            events: libc::EPOLLIN as u32,
                            u64: i as u64,
                        };
                        // SAFETY: valid epoll and pidfd descriptors, one event.
                        if unsafe {
                            libc::epoll_ctl(
                                ep.as_raw_fd(),
                                libc::EPOLL_CTL_ADD,
                                fd.as_raw_fd(),
                                &mut ev,
                            )
                        } < 0
                        {
                            return Err(Error::sys(
                                Errno::last(),
                                format!("kill: epoll_ctl pidfd of pid {}", m.pid),
                            ));
                        }
                        watched[i] = true;
                        any_watched = true;
                    }
                    // Its turn comes when a watched member's descriptor closes.
                    None if !room && any_watched => {}
                    None => {
                        if !self.same_process(m.pid, m.start_time)? {
                            self.members[i].exited = true;
                        } else {
                            unpinned = true;
                        }
                    }
                }
            }
            if self.members.iter().all(|m| m.exited) {
                return Ok(true);
            }
            let remaining = match deadline {
                None => None,
                Some(d) => d
                    .checked_duration_since(Instant::now())
                    .filter(|r| !r.is_zero()),
            };
            let expired = deadline.is_some() && remaining.is_none();
            // Without a pidfd for someone, /proc is looked at again soon
            // (the only way on a kernel without pidfds).
            let pause = match (unpinned || !any_watched, remaining) {
                _ if expired => Some(Duration::ZERO),
                (true, r) => Some(r.map_or(POLL_PAUSE, |r| r.min(POLL_PAUSE))),
                (false, r) => r,
            };
            if any_watched {
                let ms = pause.map_or(-1, |d| {
                    let ms = d.as_millis().min(i32::MAX as u128) as i32;
                    if ms == 0 && !d.is_zero() {
                        1
                    } else {
                        ms
                    }
                });
                // SAFETY: events has room for events.len() entries.
                let n = unsafe {
                    libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), events.len() as i32, ms)
                };
                if n < 0 && Errno::last() != Errno::EINTR {
                    return Err(Error::sys(Errno::last(), "kill: epoll_wait"));
                }
                for ev in events.iter().take(n.max(0) as usize) {
                    let i = ev.u64 as usize;
                    self.members[i].exited = true;
                    // Closing the pidfd takes it out of the epoll set.
                    self.members[i].pidfd = None;
                    watched[i] = false;
                }
            } else if !expired {
                sleep(pause.unwrap_or(POLL_PAUSE));
            }
            if expired {
                // One last look at those without a pidfd, then give up.
                for m in self
                    .members
                    .iter_mut()
                    .filter(|m| !m.exited && m.pidfd.is_none())
                {
                    let row = self
                        .dir
                        .row(m.pid, false, |i| i.start_time == m.start_time)
                        .map_err(|e| Error::sys(e, format!("kill: read /proc/{}/stat", m.pid)))?;
                    m.exited = !row.is_some_and(|i| i.state != b'Z' && i.state != b'X');
                }
                return Ok(self.members.iter().all(|m| m.exited));
            }
        }
    }
}

/// Rounds of [`Killer::follow_new`] per scan, and the widest pid range it
/// probes in one round (beyond it, a full scan is cheaper).
const FOLLOW_ROUNDS: u32 = 10_000;
const FOLLOW_SPAN: i32 = 4096;
const FOLLOW_QUIET_ROUNDS: u32 = 8;
const FOLLOW_OVERLAP: i32 = 2;

/// pid 1, the caller and kernel threads are never members; nor is a
/// zombie, which has exited already (a signal does nothing to it).
fn excluded(i: &ProcInfo, me: i32) -> bool {
    i.pid == 1 || i.pid == me || i.flags & PF_KTHREAD != 0 || i.state == b'Z' || i.state == b'X'
}

/// Descriptors kept free when pidfds are held for a wait.
const FD_RESERVE: u64 = 16;

fn soft_fd_limit() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit we own.
    match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } {
        0 => rl.rlim_cur,
        _ => 1024,
    }
}

/// The last pid handed out in our pid namespace; None where it cannot be
/// read.
fn last_pid() -> Option<i32> {
    let fd = sys::open_cloexec(c"/proc/sys/kernel/ns_last_pid", libc::O_RDONLY).ok()?;
    let mut buf = [0u8; 16];
    let n = sys::read_retry(&fd, &mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    text.trim().parse().ok()
}

enum Opened {
    Fd(OwnedFd),
    NoPidfd,
    Gone,
    /// Out of descriptors, with none of ours to close.
    Full,
}

/// A member opened and re-checked, not yet signalled.
struct Pinned {
    pid: i32,
    start_time: u64,
    pidfd: Option<OwnedFd>,
    stopped: bool,
}

enum Pin {
    /// Pinned, or None: gone or no longer matching.
    Room(Option<Pinned>),
    /// No descriptor left: signal the pinned ones first.
    Full,
}

enum Reopened {
    Fd(OwnedFd),
    Exited,
    NoPidfd,
    NoRoom,
}

/// How often /proc is looked at where no pidfd can tell (old kernels).
const POLL_PAUSE: Duration = Duration::from_millis(10);

fn sleep(d: Duration) {
    // std's sleep resumes after EINTR with the time left.
    std::thread::sleep(d);
}

/// Signals through the pidfd, or with kill(2) where there is none.
fn send(pidfd: Option<&OwnedFd>, pid: i32, sig: i32) -> std::result::Result<(), Errno> {
    match pidfd {
        Some(fd) => sys::pidfd_send_signal(fd.as_raw_fd(), sig),
        None => sys::kill(pid, sig),
    }
}

/// One process, pinned: its pid cannot come to mean another process for
/// this handle. With a pidfd (Linux 5.3) the kernel guarantees it; without,
/// the pid's start time is compared before every use (its resolution is one
/// clock tick). Dropping the handle closes the pidfd; it never signals,
/// waits or reaps.
#[derive(Debug)]
pub struct Process {
    pid: i32,
    start_time: u64,
    pidfd: Option<OwnedFd>,
    is_self: bool,
    /// Set once this handle reaped it: its pid may be anyone's now.
    reaped: AtomicBool,
}

impl Process {
    /// Opens the process with this pid (0 = the caller). A zombie can be
    /// opened. -ESRCH: no such process (also for a thread id that is not a
    /// process); -EINVAL: pid < 0; -EXDEV: without pidfds, /proc belongs to
    /// another pid namespace.
    pub fn open(pid: i32) -> Result<Process> {
        if pid < 0 {
            return Err(Error::new(
                Errno::EINVAL,
                format!("open process: invalid pid {pid}"),
            ));
        }
        let me = ids::getpid();
        let pid = if pid == 0 { me } else { pid };
        let none = || {
            Error::new(
                Errno::ESRCH,
                format!("open process: no process with pid {pid}"),
            )
        };
        let pidfd = match sys::pidfd_open(pid) {
            Ok(fd) => Some(fd),
            // A thread id that does not lead its thread group: EINVAL
            // before Linux 6.9, ENOENT since.
            Err(Errno::ESRCH) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => return Err(none()),
            Err(Errno::ENOSYS) => None,
            Err(e) => {
                return Err(Error::sys(
                    e,
                    format!("open process: pidfd_open of pid {pid}"),
                ))
            }
        };
        Process::pin(pid, pidfd, "open process")
    }

    /// A handle from a pidfd the caller already has (clone3 CLONE_PIDFD,
    /// SCM_RIGHTS, pidfd_open): the handle keeps its own duplicate.
    /// -EBADF: not an open descriptor; -EINVAL: not a pidfd; -ESRCH: its
    /// process has been reaped, or is not visible in our pid namespace.
    pub fn from_pidfd(fd: BorrowedFd<'_>) -> Result<Process> {
        let raw = fd.as_raw_fd();
        let op = "open process from pidfd";
        // SAFETY: fcntl on a descriptor the caller lends us; the result is ours.
        let dup = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 3) };
        if dup < 0 {
            return Err(Error::sys(Errno::last(), format!("{op}: descriptor {raw}")));
        }
        // SAFETY: F_DUPFD_CLOEXEC returned a fresh descriptor owned by nobody else.
        let dup = unsafe { OwnedFd::from_raw_fd(dup) };
        // fdinfo of a pidfd has a "Pid:" line (-1 once reaped, 0 when the
        // process is outside our pid namespace); other descriptors have none.
        let pid = fdinfo_pid(dup.as_raw_fd())
            .map_err(|e| Error::sys(e, format!("{op}: descriptor {raw}")))?;
        let pid = match pid {
            None => {
                return Err(Error::new(Errno::EINVAL, format!("{op}: descriptor {raw} is not a pidfd")))
            }
            Some(p) if p <= 0 => {
                return Err(Error::new(
                    Errno::ESRCH,
                    format!("{op}: the process of descriptor {raw} has been reaped or is outside this pid namespace"),
                ))
            }
            Some(p) => p,
        };
        Process::pin(pid, Some(dup), op)
    }

    /// Reads the start time that identifies the process and checks that the
    /// pidfd (if any) still pins it afterwards.
    fn pin(pid: i32, pidfd: Option<OwnedFd>, op: &str) -> Result<Process> {
        let none = || Error::new(Errno::ESRCH, format!("{op}: no process with pid {pid}"));
        let me = ids::getpid();
        let dir = match (&pidfd, pid == me) {
            // The start-time fallback reads pids from /proc: they must be ours.
            (None, _) => Some(ProcDir::open(op)?),
            (Some(_), _) => ProcDir::open(op).ok(),
        };
        let Some(dir) = dir else {
            return Err(Error::new(
                Errno::EXDEV,
                format!("{op}: /proc belongs to another pid namespace"),
            ));
        };
        let info = dir
            .row(pid, false, |_| true)
            .map_err(|e| Error::sys(e, format!("{op}: read /proc/{pid}/stat")))?
            .ok_or_else(none)?;
        match &pidfd {
            Some(fd) => {
                // Still unreaped after the read: the row was its own.
                if let Err(Errno::ESRCH) = sys::pidfd_send_signal(fd.as_raw_fd(), 0) {
                    return Err(none());
                }
            }
            None => {
                if !is_process(&dir, pid)
                    .map_err(|e| Error::sys(e, format!("{op}: read /proc/{pid}/status")))?
                {
                    return Err(none());
                }
            }
        }
        Ok(Process {
            pid,
            start_time: info.start_time,
            pidfd,
            is_self: pid == me,
            reaped: AtomicBool::new(false),
        })
    }

    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Its start time (clock ticks after boot), read when it was opened.
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    /// Its pidfd, owned by the handle (close-on-exec): poll(2) reports
    /// POLLIN once the process has exited. None where the kernel has no
    /// pidfds.
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.pidfd.as_ref().map(|fd| fd.as_fd())
    }

    fn reaped_error(&self, op: &str) -> Error {
        Error::new(
            Errno::ESRCH,
            format!(
                "{op}: pid {} has been reaped (its pid may name another process now)",
                self.pid
            ),
        )
    }

    /// Sends `sig` (0 checks only; a zombie accepts signals and ignores
    /// them). -ESRCH once the process has been reaped, even when its pid
    /// names another process by now: that one never receives anything.
    pub fn signal(&self, sig: i32) -> Result<()> {
        let op = "signal process";
        check_signal(op, sig)?;
        if self.reaped.load(Ordering::Acquire) {
            return Err(self.reaped_error(op));
        }
        let r = match &self.pidfd {
            Some(fd) => sys::pidfd_send_signal(fd.as_raw_fd(), sig),
            None => {
                if !self.still_same(op)? {
                    return Err(self.reaped_error(op));
                }
                // The window between the check and kill(2) is the fallback's
                // limit: only a pidfd closes it.
                sys::kill(self.pid, sig)
            }
        };
        r.map_err(|e| match e {
            Errno::ESRCH => self.reaped_error(op),
            e => Error::sys(e, format!("{op}: signal {sig} to pid {}", self.pid)),
        })
    }

    /// Without a pidfd: whether the pid still names the process opened.
    fn still_same(&self, op: &str) -> Result<bool> {
        let dir = ProcDir::open(op)?;
        let row = dir
            .row(self.pid, false, |i| i.start_time == self.start_time)
            .map_err(|e| Error::sys(e, format!("{op}: read /proc/{}/stat", self.pid)))?;
        Ok(row.is_some())
    }

    /// The process's current row (as [`ids::proc_info`], a zombie too);
    /// -ESRCH once it has been reaped: never the row of another process
    /// that has its pid.
    pub fn query(&self) -> Result<ProcInfo> {
        let op = "query process";
        if self.reaped.load(Ordering::Acquire) {
            return Err(self.reaped_error(op));
        }
        if self.pidfd.is_none() {
            // The fallback trusts /proc's pids: they must be ours.
            ProcDir::open(op)?;
        }
        let info = ids::proc_info(self.pid).map_err(|e| match e.errno() {
            Errno::ESRCH => self.reaped_error(op),
            _ => e,
        })?;
        if info.start_time != self.start_time {
            return Err(self.reaped_error(op));
        }
        if let Some(fd) = &self.pidfd {
            // Unreaped after the read: the row was its own (a pid reused
            // within the same clock tick has the same start time).
            if let Err(Errno::ESRCH) = sys::pidfd_send_signal(fd.as_raw_fd(), 0) {
                return Err(self.reaped_error(op));
            }
        }
        Ok(info)
    }

    /// Waits until the process has exited (any process, not only the
    /// caller's children; poll(2) on the pidfd, no polling loop where
    /// pidfds exist). `timeout` None = forever, zero = look once.
    ///
    /// `Ok(Some(status))`: it was the caller's child and this call reaped
    /// it (`status` as waitpid(2) gives it). `Ok(None)`: it has exited and
    /// is not ours to reap (or was already reaped). -ETIMEDOUT; -EDEADLK
    /// for the caller itself. A signal handler running meanwhile does not
    /// end the wait.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Option<i32>> {
        let op = "wait for process";
        if self.is_self {
            return Err(Error::new(
                Errno::EDEADLK,
                format!(
                    "{op}: pid {} is the caller, which cannot wait for its own exit",
                    self.pid
                ),
            ));
        }
        if self.reaped.load(Ordering::Acquire) {
            return Ok(None);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        match &self.pidfd {
            Some(fd) => self.wait_pidfd(fd, deadline, op),
            None => self.wait_fallback(deadline, op),
        }
    }

    fn timed_out(&self, op: &str) -> Error {
        Error::new(
            Errno::ETIMEDOUT,
            format!("{op}: pid {} is still running", self.pid),
        )
    }

    fn wait_pidfd(&self, fd: &OwnedFd, deadline: Option<Instant>, op: &str) -> Result<Option<i32>> {
        loop {
            // P_PIDFD (Linux 5.4) reaps exactly this process, never a
            // recycled pid that is again our child. ECHILD: not our child
            // (or already reaped, or SIGCHLD ignored).
            let mut child = true;
            match reap_pidfd(fd) {
                Ok(Some(status)) => {
                    self.reaped.store(true, Ordering::Release);
                    return Ok(Some(status));
                }
                Ok(None) => {}
                Err(Errno::ECHILD) | Err(Errno::EINVAL) => child = false,
                Err(e) => return Err(Error::sys(e, format!("{op}: waitid of pid {}", self.pid))),
            }
            let ms = match deadline {
                None => -1,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    None => 0,
                    Some(r) => {
                        r.as_millis().min(i32::MAX as u128) as i32
                            + i32::from(r.subsec_micros() % 1000 != 0)
                    }
                },
            };
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, ms) };
            if r < 0 {
                match Errno::last() {
                    // A signal handler ran: wait again for the time left.
                    Errno::EINTR => continue,
                    e => {
                        return Err(Error::sys(
                            e,
                            format!("{op}: poll pidfd of pid {}", self.pid),
                        ))
                    }
                }
            }
            if r == 0 {
                if ms == 0 || deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(self.timed_out(op));
                }
                continue;
            }
            if !child {
                return Ok(None);
            }
            // Exited and ours: the next waitid reaps it.
            match reap_pidfd(fd) {
                Ok(Some(status)) => {
                    self.reaped.store(true, Ordering::Release);
                    return Ok(Some(status));
                }
                // Another thread reaped it, or it was auto-reaped.
                Ok(None) | Err(Errno::ECHILD) => return Ok(None),
                Err(e) => return Err(Error::sys(e, format!("{op}: waitid of pid {}", self.pid))),
            }
        }
    }

    /// Without pidfds: the caller's child is reaped with waitpid after its
    /// start time is checked (only we can reap our child, so its pid stays
    /// its own until then); anyone else is looked at in /proc every few
    /// milliseconds (a zombie has exited).
    fn wait_fallback(&self, deadline: Option<Instant>, op: &str) -> Result<Option<i32>> {
        let dir = ProcDir::open(op)?;
        let me = ids::getpid();
        let mut pause = Duration::from_millis(1);
        loop {
            let row = dir
                .row(self.pid, false, |i| i.start_time == self.start_time)
                .map_err(|e| Error::sys(e, format!("{op}: read /proc/{}/stat", self.pid)))?;
            match row {
                None => return Ok(None),
                Some(i) if i.ppid == me => {
                    let mut status = 0;
                    // SAFETY: waitpid on our own child, checked just now.
                    let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
                    if r == self.pid {
                        self.reaped.store(true, Ordering::Release);
                        return Ok(Some(status));
                    }
                    if r < 0 && Errno::last() == Errno::ECHILD && i.state == b'Z' {
                        return Ok(None);
                    }
                }
                Some(i) if i.state == b'Z' || i.state == b'X' => return Ok(None),
                Some(_) => {}
            }
            let now = Instant::now();
            let step = match deadline {
                None => pause,
                Some(d) if now >= d => return Err(self.timed_out(op)),
                Some(d) => pause.min(d - now),
            };
            sleep(step);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// waitid(P_PIDFD, WEXITED|WNOHANG): Some(waitpid-style status) when it
/// reaped the process, None when it has not exited yet.
fn reap_pidfd(fd: &OwnedFd) -> std::result::Result<Option<i32>, Errno> {
    // SAFETY: zeroed siginfo_t is valid; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    sys::retry_eintr(|| {
        // SAFETY: a valid id type, descriptor and siginfo buffer.
        unsafe {
            libc::waitid(
                libc::P_PIDFD,
                fd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            ) as isize
        }
    })?;
    // SAFETY: waitid filled info (or left it zeroed: si_pid 0).
    let (pid, code, st) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(match code {
        libc::CLD_EXITED => (st & 0xff) << 8,
        libc::CLD_DUMPED => (st & 0x7f) | 0x80,
        _ => st & 0x7f,
    }))
}

/// The "Pid:" line of /proc/self/fdinfo/FD: None when there is none (not
/// a pidfd).
fn fdinfo_pid(fd: RawFd) -> std::result::Result<Option<i32>, Errno> {
    let mut path = [0u8; 48];
    let mut w = sys::StackWriter::new(&mut path);
    w.push(b"/proc/self/fdinfo/");
    w.push_u64(fd as u64);
    let cpath = w.as_cstr().ok_or(Errno::ENAMETOOLONG)?;
    let f = sys::open_cloexec(cpath, libc::O_RDONLY)?;
    let mut buf = [0u8; 1024];
    let n = sys::read_retry(&f, &mut buf)?;
    Ok(status_field(&buf[..n], b"Pid:"))
}

/// A numeric field ("Tgid:", "Pid:") of a /proc status-like text.
fn status_field(buf: &[u8], name: &[u8]) -> Option<i32> {
    let line = buf
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(name))?;
    let v = std::str::from_utf8(line).ok()?.trim();
    v.parse().ok()
}

/// Whether `pid` leads its thread group (a thread id also has a /proc
/// entry, though /proc does not list it).
fn is_process(dir: &ProcDir, pid: i32) -> std::result::Result<bool, Errno> {
    let fd = match dir.open_file(pid, b"status") {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ESRCH) => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut buf = [0u8; 4096];
    let n = match sys::read_retry(&fd, &mut buf) {
        Ok(n) => n,
        Err(Errno::ESRCH) => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(status_field(&buf[..n], b"Tgid:") == Some(pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: i32, ppid: i32) -> (ProcInfo, bool) {
        (
            ProcInfo {
                pid,
                ppid,
                ..ProcInfo::default()
            },
            true,
        )
    }

    #[test]
    fn depths_follow_the_ppid_links() {
        // 1 -> 10 -> 11 -> 12, 10 -> 13, 1 -> 20 -> 21
        let rows = [
            row(1, 0),
            row(10, 1),
            row(11, 10),
            row(12, 11),
            row(13, 10),
            row(20, 1),
            row(21, 20),
        ];
        assert_eq!(tree_depths(&rows, 10), vec![0, 0, 1, 2, 1, 0, 0]);
        assert_eq!(tree_depths(&rows, 1), vec![0, 1, 2, 3, 2, 1, 2]);
        assert_eq!(tree_depths(&rows, 99), vec![0; 7]);
        // Rows visited parents-last too.
        let rows = [row(1, 0), row(5, 30), row(30, 40), row(40, 1)];
        assert_eq!(tree_depths(&rows, 40), vec![0, 2, 1, 0]);
    }

    #[test]
    fn pid_names() {
        assert_eq!(parse_pid(b"4242"), Some(4242));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b"042"), None);
        assert_eq!(parse_pid(b"99999999999"), None);
    }

    #[test]
    fn bad_filters_and_signals() {
        let e = kill(&Filter::new(), libc::SIGTERM, &KillOptions::default()).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL);
        let e = kill(
            &Filter::new().session(0),
            libc::SIGTERM,
            &KillOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL);
        assert!(e.message().contains("sid 0"), "{e}");
        let e = processes(&Filter::new().group(-3)).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL);
        let e = kill(&Filter::new().session(1), 65, &KillOptions::default()).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL);
        let o = KillOptions {
            escalate: Some(libc::SIGKILL),
            ..KillOptions::default()
        };
        assert_eq!(
            kill(&Filter::new().session(1), libc::SIGTERM, &o)
                .unwrap_err()
                .errno(),
            Errno::EINVAL
        );
    }

    #[test]
    fn listing_has_self_in_pid_order() {
        let all = processes(&Filter::new()).unwrap();
        assert!(all.windows(2).all(|w| w[0].pid < w[1].pid));
        let me = all
            .iter()
            .find(|p| p.pid == ids::getpid())
            .expect("self listed");
        assert_eq!(me.uid, nix::unistd::getuid().as_raw());
        // In a pid namespace whose session leader lives outside (CI runs
        // there), getsid(0) is 0: no session filter can name ours, so the
        // session part is checked only where the id is visible.
        let sid = ids::getsid(0).unwrap();
        assert_eq!(sid, me.sid);
        if sid > 0 {
            let mine = processes(&Filter::new().session(sid)).unwrap();
            assert!(mine.iter().any(|p| p.pid == ids::getpid()));
            assert!(mine.iter().all(|p| p.sid == sid));
        }
        // Our child is found by its parent in every namespace.
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let kids = processes(&Filter::new().parent(ids::getpid())).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(kids.iter().any(|p| p.pid == child.id() as i32), "{kids:?}");
        assert!(kids.iter().all(|p| p.ppid == ids::getpid()));
    }

    #[test]
    fn self_handle() {
        let p = Process::open(0).unwrap();
        assert_eq!(p.pid(), ids::getpid());
        p.signal(0).unwrap();
        assert_eq!(
            p.wait(Some(Duration::ZERO)).unwrap_err().errno(),
            Errno::EDEADLK
        );
        assert_eq!(p.query().unwrap().pid, ids::getpid());
        assert_eq!(Process::open(-1).unwrap_err().errno(), Errno::EINVAL);
    }

    #[test]
    fn child_exit_is_reaped_once() {
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        let p = Process::open(child.id() as i32).unwrap();
        let st = p.wait(None).unwrap().expect("our child is reaped");
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 7, "{st:#x}");
        assert_eq!(p.wait(Some(Duration::ZERO)).unwrap(), None);
        assert_eq!(p.signal(0).unwrap_err().errno(), Errno::ESRCH);
        assert_eq!(p.query().unwrap_err().errno(), Errno::ESRCH);
        std::mem::forget(child); // already reaped
    }
}
