//! Runs before any fork: resolving a caller's path once, safely, into a
//! directory descriptor that every later step works relative to.
//!
//! Root often opens paths that another user can influence: a daemon's
//! pidfile in a directory a service user can write, a log file beside it.
//! Resolving such a path again at every step (open, stat, unlink) lets a
//! user who can rename a directory on it swap in a symbolic link between
//! two steps, so that each step lands somewhere else (issue 13's
//! RENAME_EXCHANGE race overwrote and deleted root's files that way).
//! Here the directory part is resolved once, into an `O_PATH` descriptor;
//! the caller then uses `openat`/`fstatat`/`unlinkat` on it, so nothing a
//! user renames later can move a step outside that directory.
//!
//! While the directory part is resolved, a symbolic link is followed only
//! if root or the caller's euid owns it and no other user can write the
//! directory that holds it (its owner is root or the caller and it has no
//! group or other write bit); any other link is EPERM. So root's
//! `/var/run -> /run` is followed, and a link a service user planted in its
//! own directory is not (the kernel's `fs.protected_symlinks` says the same
//! for sticky directories only, and is not always on).
//!
//! The fast path is one `openat2(RESOLVE_NO_SYMLINKS)`: no link on the path
//! means nothing to judge. Only when it meets a link (ELOOP), or the kernel
//! has no openat2 (Linux < 5.6, seccomp), is the path walked component by
//! component with `O_PATH|O_NOFOLLOW`, each link judged by its own
//! descriptor and read through it (`readlinkat(fd, "")`), so the link that
//! is followed is the one that was judged.

use crate::error::{Error, Result, Shown};
use crate::sys;
use nix::errno::Errno;
use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Links followed in one resolution before ELOOP, as the kernel's limit.
const MAX_LINKS: u32 = 40;

/// procfs's magic number (statfs(2)): its links are made by the kernel.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// A path split into its resolved directory and its last component.
#[derive(Debug)]
pub(crate) struct Located<'a> {
    /// The directory that held the last component when it was resolved
    /// (`O_PATH`, close-on-exec).
    pub(crate) dir: OwnedFd,
    /// The last component: no '/', never empty (borrowed from the caller's
    /// path unless it ended in '/').
    pub(crate) leaf: Cow<'a, CStr>,
    /// Whether the caller's path ended in '/' (it then names a directory).
    pub(crate) trailing_slash: bool,
}

/// Splits `path` into its directory part and last component and resolves
/// the directory as the module doc says. `what` names the path in
/// messages ("pidfile", "stdout file").
pub(crate) fn locate<'a>(path: &'a CStr, what: &str) -> Result<Located<'a>> {
    let b = path.to_bytes();
    if b.is_empty() {
        return Err(Error::new(Errno::ENOENT, format!("{what} path is empty")));
    }
    let (start, trimmed_len) = leaf_span(b);
    if trimmed_len == 0 {
        // "/" or "//": the root directory itself.
        return Err(Error::new(
            Errno::EISDIR,
            format!("{what} {} is the root directory", Shown(b)),
        ));
    }
    let dir: &[u8] = if start == 0 { b"." } else { &b[..start] };
    let trailing_slash = trimmed_len < b.len();
    // The leaf is the tail of the caller's string, NUL included: borrowed,
    // no copy, unless a trailing '/' has to be cut off.
    let leaf = if trailing_slash {
        Cow::Owned(CString::new(&b[start..trimmed_len]).map_err(|_| nul_in(what, b))?)
    } else {
        let tail = path.to_bytes_with_nul().get(start..).unwrap_or(b"\0");
        Cow::Borrowed(CStr::from_bytes_with_nul(tail).map_err(|_| nul_in(what, b))?)
    };
    let dir = resolve_dir(dir, path, what)?;
    Ok(Located {
        dir,
        leaf,
        trailing_slash,
    })
}

/// Resolves a whole path that must name a directory (a working directory),
/// following links by the same rule.
pub(crate) fn open_dir(path: &CStr, what: &str) -> Result<OwnedFd> {
    let b = path.to_bytes();
    if b.is_empty() {
        return Err(Error::new(Errno::ENOENT, format!("{what} path is empty")));
    }
    resolve_dir(b, path, what)
}

/// Opens a file (stdio of detach and spawn) by the same rules: the
/// directory resolved once; a link at the last component followed only by
/// the rule above (a log path may well be root's link to elsewhere); the
/// file is opened relative to the directory that held it.
pub(crate) fn open_file(
    path: &CStr,
    what: &str,
    flags: i32,
    mode: libc::mode_t,
) -> Result<OwnedFd> {
    let at = locate(path, what)?;
    let mut flags = flags | libc::O_CLOEXEC | libc::O_NOCTTY;
    if at.trailing_slash {
        flags |= libc::O_DIRECTORY;
    }
    let shown = Shown(path.to_bytes());
    let failed = |e: Errno| Error::sys(e, format!("open {what} {shown}"));
    let opened =
        |dir: &OwnedFd, leaf: &CStr, flags: i32| openat(dir, leaf, flags, mode).map_err(failed);
    match openat(&at.dir, &at.leaf, flags | libc::O_NOFOLLOW, mode) {
        Err(Errno::ELOOP) => {}
        r => return r.map_err(failed),
    }
    // The last component is a link (a log path may well be root's link to
    // elsewhere). Walk the path again with a trail, so that the link's
    // target, ".." included, is resolved from the directories walked.
    drop(at);
    let mut walk = Walk::new(path, what);
    let b = path.to_bytes();
    let (dir, leaf) = split_last(b);
    let mut trail = walk.start(dir)?;
    walk.walk_dir(&mut trail, dir)?;
    let mut leaf = CString::new(leaf).map_err(|_| nul_in(what, b))?;
    loop {
        let cur = trail
            .last()
            .ok_or_else(|| walk.sys(Errno::ENOENT, "empty walk"))?;
        match openat(cur, &leaf, flags | libc::O_NOFOLLOW, mode) {
            Err(Errno::ELOOP) => {}
            r => return r.map_err(failed),
        }
        let link = opened(cur, &leaf, libc::O_PATH | libc::O_NOFOLLOW)?;
        let st = fstat(&link).map_err(|e| walk.sys(e, "stat"))?;
        walk.judge_link(cur, &st, leaf.to_bytes())?;
        if on_procfs(cur) {
            // /dev/stdout -> /proc/self/fd/1 and the like: procfs's links
            // are the kernel's own (a magic link names an open file, not a
            // path), so the kernel follows them.
            return opened(cur, &leaf, flags);
        }
        walk.count_link()?;
        let target = readlink(&link).map_err(|e| walk.sys(e, "read link"))?;
        let (tdir, tleaf) = split_last(&target);
        if tleaf.is_empty() || tleaf == b"." || tleaf == b".." {
            return Err(Error::new(
                Errno::EISDIR,
                format!("{what} {shown} leads to a directory"),
            ));
        }
        walk.walk_dir(&mut trail, tdir)?;
        leaf = CString::new(tleaf).map_err(|_| nul_in(what, b))?;
    }
}

/// Where a path's last component starts and ends: trailing '/'s are not
/// part of it, and it starts after the last '/' before them (0: no '/').
fn leaf_span(p: &[u8]) -> (usize, usize) {
    let end = p.iter().rposition(|&c| c != b'/').map_or(0, |i| i + 1);
    let start = p
        .get(..end)
        .and_then(|t| t.iter().rposition(|&c| c == b'/'))
        .map_or(0, |i| i + 1);
    (start, end)
}

/// A path's directory part (with its trailing '/', "" when it has none) and
/// its last component (trailing '/'s cut off).
fn split_last(p: &[u8]) -> (&[u8], &[u8]) {
    match leaf_span(p) {
        (_, 0) if p.first() == Some(&b'/') => (b"/", b""),
        (start, end) => (
            p.get(..start).unwrap_or(b""),
            p.get(start..end).unwrap_or(b""),
        ),
    }
}

fn nul_in(what: &str, b: &[u8]) -> Error {
    Error::new(
        Errno::EINVAL,
        format!("{what} path {} contains a NUL byte", Shown(b)),
    )
}

/// The directory `dir` names, resolved by the rule: `openat2` without
/// links first, the component walk when that meets a link.
fn resolve_dir(dir: &[u8], path: &CStr, what: &str) -> Result<OwnedFd> {
    // The directory part NUL-terminated on the stack: no allocation on the
    // path every acquire takes (a longer one is copied to the heap).
    let mut buf = [0u8; 256];
    let heap;
    let c: &CStr = match buf.get_mut(..dir.len()) {
        Some(head) if dir.len() < 256 => {
            head.copy_from_slice(dir);
            CStr::from_bytes_until_nul(&buf).map_err(|_| nul_in(what, path.to_bytes()))?
        }
        _ => {
            heap = CString::new(dir).map_err(|_| nul_in(what, path.to_bytes()))?;
            &heap
        }
    };
    // A ".." is resolved from the directories this call walked (see
    // Walk::walk_dir), never by the kernel's lookup of a parent that a
    // user may have moved meanwhile: such a path always takes the walk.
    let tried = if has_dotdot(dir) {
        Err(Errno::ENOSYS)
    } else {
        openat2_no_symlinks(c)
    };
    match tried {
        Ok(fd) => return Ok(fd),
        Err(Errno::ELOOP) | Err(Errno::ENOSYS) | Err(Errno::EPERM) | Err(Errno::EAGAIN) => {}
        Err(e) if dir == path.to_bytes() => {
            return Err(Error::sys(e, format!("{what} {}", Shown(dir))))
        }
        Err(e) => {
            return Err(Error::sys(
                e,
                format!(
                    "{what} {}: directory {}",
                    Shown(path.to_bytes()),
                    Shown(dir)
                ),
            ))
        }
    }
    let mut walk = Walk::new(path, what);
    let mut trail = walk.start(dir)?;
    walk.walk_dir(&mut trail, dir)?;
    walk.last(trail)
}

/// Whether a path has a ".." component.
fn has_dotdot(p: &[u8]) -> bool {
    p.split(|&c| c == b'/').any(|c| c == b"..")
}

/// The directories a walk went through, outermost first: ".." pops it,
/// so the parent is the directory the walk came from, whatever a user
/// renamed since (a ".." looked up again could lead anywhere: issue 13's
/// attacker moved a directory under root's "a/b/../.." into another one).
type Trail = Vec<OwnedFd>;

fn cwd(walk: &Walk<'_>) -> Result<OwnedFd> {
    sys::open_cloexec(c".", libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| walk.sys(e, "open the working directory"))
}

/// One component-by-component resolution: the link budget and what the
/// messages name.
struct Walk<'a> {
    path: &'a CStr,
    what: &'a str,
    links: u32,
    euid: u32,
}

impl<'a> Walk<'a> {
    fn new(path: &'a CStr, what: &'a str) -> Walk<'a> {
        Walk {
            path,
            what,
            links: 0,
            euid: nix::unistd::geteuid().as_raw(),
        }
    }

    fn sys(&self, e: Errno, step: &str) -> Error {
        Error::sys(
            e,
            format!("{} {}: {step}", self.what, Shown(self.path.to_bytes())),
        )
    }

    /// Counts one more link followed: ELOOP past the kernel's own limit.
    fn count_link(&mut self) -> Result<()> {
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(Error::new(
                Errno::ELOOP,
                format!(
                    "{} {}: too many levels of symbolic links",
                    self.what,
                    Shown(self.path.to_bytes())
                ),
            ));
        }
        Ok(())
    }

    /// The trail a walk of `rel` starts with: the working directory for a
    /// relative path (an absolute one starts over at "/" in walk_dir).
    fn start(&self, rel: &[u8]) -> Result<Trail> {
        if rel.first() == Some(&b'/') {
            return Ok(Vec::new());
        }
        Ok(vec![cwd(self)?])
    }

    /// The walk's result: the innermost directory.
    fn last(&self, mut trail: Trail) -> Result<OwnedFd> {
        trail
            .pop()
            .ok_or_else(|| self.sys(Errno::ENOENT, "empty walk"))
    }

    /// Walks `rel` (every component a directory) on from the trail's last
    /// directory (an absolute `rel` starts over at "/"), judging each link
    /// and following it by its text, read through its own descriptor.
    fn walk_dir(&mut self, trail: &mut Trail, rel: &[u8]) -> Result<()> {
        if rel.first() == Some(&b'/') || trail.is_empty() {
            trail.clear();
            trail.push(
                sys::open_cloexec(c"/", libc::O_PATH | libc::O_DIRECTORY)
                    .map_err(|e| self.sys(e, "open /"))?,
            );
        }
        for comp in rel.split(|&c| c == b'/') {
            if comp.is_empty() || comp == b"." {
                continue;
            }
            if comp == b".." {
                if trail.len() > 1 {
                    trail.pop();
                } else if let Some(top) = trail.first_mut() {
                    // Above where the walk started (the caller's cwd, or
                    // "/" whose parent is itself): the kernel's "..".
                    *top = openat(top, c"..", libc::O_PATH | libc::O_DIRECTORY, 0)
                        .map_err(|e| self.sys(e, "open .."))?;
                }
                continue;
            }
            let name = CString::new(comp).map_err(|_| nul_in(self.what, self.path.to_bytes()))?;
            let cur = trail
                .last()
                .ok_or_else(|| self.sys(Errno::ENOENT, "empty walk"))?;
            let fd = openat(cur, &name, libc::O_PATH | libc::O_NOFOLLOW, 0).map_err(|e| {
                Error::sys(
                    e,
                    format!(
                        "{} {}: directory component {}",
                        self.what,
                        Shown(self.path.to_bytes()),
                        Shown(comp)
                    ),
                )
            })?;
            let st = fstat(&fd).map_err(|e| self.sys(e, "stat a directory component"))?;
            match st.st_mode & libc::S_IFMT {
                libc::S_IFDIR => trail.push(fd),
                libc::S_IFLNK => {
                    self.judge_link(cur, &st, comp)?;
                    self.count_link()?;
                    if on_procfs(cur) {
                        // /proc/self and its kind: the kernel's links.
                        let followed = openat(cur, &name, libc::O_PATH | libc::O_DIRECTORY, 0)
                            .map_err(|e| self.sys(e, "follow a /proc link"))?;
                        trail.push(followed);
                        continue;
                    }
                    let target = readlink(&fd).map_err(|e| self.sys(e, "read link"))?;
                    self.walk_dir(trail, &target)?;
                }
                _ => {
                    return Err(Error::new(
                        Errno::ENOTDIR,
                        format!(
                            "{} {}: component {} is not a directory",
                            self.what,
                            Shown(self.path.to_bytes()),
                            Shown(comp)
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    /// The rule: a link is followed only if root or the caller's euid owns
    /// it and no other user can write the directory `holder` that holds it.
    fn judge_link(&self, holder: &OwnedFd, link: &libc::stat, name: &[u8]) -> Result<()> {
        let trusted = |uid: u32| uid == 0 || uid == self.euid;
        if !trusted(link.st_uid) {
            return Err(Error::new(
                Errno::EPERM,
                format!(
                    "{} {}: symbolic link {} is owned by uid {} (only links owned by root or \
                     the caller, uid {}, are followed)",
                    self.what,
                    Shown(self.path.to_bytes()),
                    Shown(name),
                    link.st_uid,
                    self.euid
                ),
            ));
        }
        let dir = fstat(holder).map_err(|e| self.sys(e, "stat the directory of a link"))?;
        if !trusted(dir.st_uid) || dir.st_mode & 0o022 != 0 {
            return Err(Error::new(
                Errno::EPERM,
                format!(
                    "{} {}: symbolic link {} is in a directory that other users can write \
                     (owner uid {}, mode {:04o}): not followed",
                    self.what,
                    Shown(self.path.to_bytes()),
                    Shown(name),
                    dir.st_uid,
                    dir.st_mode & 0o7777
                ),
            ));
        }
        Ok(())
    }
}

/// openat2(dir, RESOLVE_NO_SYMLINKS) for a directory, relative to the cwd.
fn openat2_no_symlinks(dir: &CStr) -> std::result::Result<OwnedFd, Errno> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: openat2 reads the NUL-terminated path and `how` (its size
    // passed) for the call's duration only.
    let fd = sys::retry_eintr(|| unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            dir.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        ) as isize
    })?;
    // SAFETY: openat2 returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// openat(2) relative to `dir`, retrying EINTR.
pub(crate) fn openat(
    dir: &OwnedFd,
    name: &CStr,
    flags: i32,
    mode: libc::mode_t,
) -> std::result::Result<OwnedFd, Errno> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is open.
    let fd = sys::retry_eintr(|| unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOCTTY,
            mode as libc::c_uint,
        ) as isize
    })?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// fstatat(dir, name, AT_SYMLINK_NOFOLLOW): what `name` in `dir` is now.
pub(crate) fn stat_at(dir: &OwnedFd, name: &CStr) -> std::result::Result<libc::stat, Errno> {
    nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// fstat(2) of a descriptor.
pub(crate) fn fstat(fd: &impl AsRawFd) -> std::result::Result<libc::stat, Errno> {
    nix::sys::stat::fstat(fd.as_raw_fd())
}

/// The target of the link `fd` (an O_PATH|O_NOFOLLOW descriptor of it):
/// the very link that was judged, however the name is renamed meanwhile.
fn readlink(fd: &OwnedFd) -> std::result::Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(Errno::last());
    }
    let n = n as usize;
    if n >= buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    buf.truncate(n);
    Ok(buf)
}

fn on_procfs(dir: &OwnedFd) -> bool {
    let mut sfs = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs writes one struct statfs.
    if unsafe { libc::fstatfs(dir.as_raw_fd(), sfs.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: fstatfs succeeded.
    let sfs = unsafe { sfs.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    let magic = sfs.f_type as i64;
    magic == PROC_SUPER_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_splits_the_last_component() {
        let at = locate(c"/tmp/x.pid", "pidfile").unwrap();
        assert_eq!(at.leaf.to_bytes(), b"x.pid");
        assert!(!at.trailing_slash);
        let at = locate(c"x.pid", "pidfile").unwrap();
        assert_eq!(at.leaf.to_bytes(), b"x.pid");
        let at = locate(c"/tmp//", "pidfile").unwrap();
        assert_eq!(at.leaf.to_bytes(), b"tmp");
        assert!(at.trailing_slash);
        assert_eq!(locate(c"", "pidfile").unwrap_err().errno(), Errno::ENOENT);
        assert_eq!(locate(c"/", "pidfile").unwrap_err().errno(), Errno::EISDIR);
    }

    #[test]
    fn a_foreign_link_is_refused_and_an_own_link_followed() {
        let base = std::env::temp_dir().join(format!("pidkit-path-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("real")).unwrap();
        std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::os::unix::fs::symlink("real", base.join("link")).unwrap();
        let p = crate::pidfile::path_cstring(&base.join("link/x.pid")).unwrap();
        // Our own link in our own directory (not writable by others): followed.
        let at = locate(&p, "pidfile").unwrap();
        let st = fstat(&at.dir).unwrap();
        let real = std::fs::metadata(base.join("real")).unwrap();
        assert_eq!(st.st_ino, std::os::unix::fs::MetadataExt::ino(&real));
        // The same link in a directory others can write: refused.
        std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let e = locate(&p, "pidfile").unwrap_err();
        assert_eq!(e.errno(), Errno::EPERM, "{}", e.message());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
