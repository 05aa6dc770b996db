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
    let trimmed_len = b.iter().rposition(|&c| c != b'/').map_or(0, |i| i + 1);
    if trimmed_len == 0 {
        // "/" or "//": the root directory itself.
        return Err(Error::new(
            Errno::EISDIR,
            format!("{what} {} is the root directory", Shown(b)),
        ));
    }
    let start = b[..trimmed_len]
        .iter()
        .rposition(|&c| c == b'/')
        .map_or(0, |i| i + 1);
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
    let mut walk = Walk::new(path, what);
    let (mut dir, mut leaf) = (at.dir, at.leaf);
    loop {
        match openat(&dir, &leaf, flags | libc::O_NOFOLLOW, mode) {
            Err(Errno::ELOOP) => {}
            r => return r.map_err(|e| Error::sys(e, format!("open {what} {shown}"))),
        }
        // The last component is a link: judge it, then open what it names.
        let link = openat(&dir, &leaf, libc::O_PATH | libc::O_NOFOLLOW, 0)
            .map_err(|e| Error::sys(e, format!("open {what} {shown}")))?;
        let st = fstat(&link).map_err(|e| walk.sys(e, "stat"))?;
        walk.judge_link(&dir, &st, leaf.to_bytes())?;
        if on_procfs(&dir) {
            // /dev/stdout -> /proc/self/fd/1 and the like: procfs's links
            // are the kernel's own (a magic link names an open file, not a
            // path), so the kernel follows them.
            return openat(&dir, &leaf, flags, mode)
                .map_err(|e| Error::sys(e, format!("open {what} {shown}")));
        }
        walk.count_link()?;
        let target = readlink(&link).map_err(|e| walk.sys(e, "read link"))?;
        // The target is resolved from the link's directory, every link on
        // it judged the same way.
        let (d, l) = walk.locate_from(Some(&dir), &target)?;
        (dir, leaf) = (d, Cow::Owned(l));
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
    let tried = openat2_no_symlinks(c);
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
    let start = if dir.first() == Some(&b'/') {
        None
    } else {
        Some(cwd(&walk)?)
    };
    walk.dir_from(start.as_ref(), dir)
}

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

    /// Walks `rel` from `start` (None = "/") and returns the directory's
    /// descriptor and the last component of `rel`.
    fn locate_from(&mut self, start: Option<&OwnedFd>, rel: &[u8]) -> Result<(OwnedFd, CString)> {
        let trimmed_len = rel.iter().rposition(|&c| c != b'/').map_or(0, |i| i + 1);
        let trimmed = &rel[..trimmed_len];
        let (dir, leaf): (&[u8], &[u8]) = match trimmed.iter().rposition(|&c| c == b'/') {
            Some(i) => (&rel[..i + 1], &trimmed[i + 1..]),
            None if rel.first() == Some(&b'/') => (b"/", trimmed),
            None => (b"", trimmed),
        };
        if leaf.is_empty() {
            return Err(Error::new(
                Errno::EISDIR,
                format!(
                    "{} {} names a directory",
                    self.what,
                    Shown(self.path.to_bytes())
                ),
            ));
        }
        let start = if dir.first() == Some(&b'/') {
            None
        } else {
            start
        };
        let d = self.dir_from(start, dir)?;
        let leaf = CString::new(leaf).map_err(|_| nul_in(self.what, self.path.to_bytes()))?;
        Ok((d, leaf))
    }

    /// Resolves `rel` (every component a directory) from `start` (None =
    /// the root directory; an absolute `rel` always starts there).
    fn dir_from(&mut self, start: Option<&OwnedFd>, rel: &[u8]) -> Result<OwnedFd> {
        let mut cur = match start {
            Some(fd) if rel.first() != Some(&b'/') => {
                dup(fd).map_err(|e| self.sys(e, "duplicate a directory descriptor"))?
            }
            _ => sys::open_cloexec(c"/", libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|e| self.sys(e, "open /"))?,
        };
        for comp in rel.split(|&c| c == b'/') {
            if comp.is_empty() || comp == b"." {
                continue;
            }
            let name = CString::new(comp).map_err(|_| nul_in(self.what, self.path.to_bytes()))?;
            let fd = openat(&cur, &name, libc::O_PATH | libc::O_NOFOLLOW, 0).map_err(|e| {
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
                libc::S_IFDIR => cur = fd,
                libc::S_IFLNK => {
                    self.judge_link(&cur, &st, comp)?;
                    self.count_link()?;
                    if on_procfs(&cur) {
                        // /proc/self and its kind: the kernel's links.
                        let followed = openat(&cur, &name, libc::O_PATH | libc::O_DIRECTORY, 0)
                            .map_err(|e| self.sys(e, "follow a /proc link"))?;
                        cur = followed;
                        continue;
                    }
                    let target = readlink(&fd).map_err(|e| self.sys(e, "read link"))?;
                    cur = self.dir_from(Some(&cur), &target)?;
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
        Ok(cur)
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

/// fstatat(dir, name, AT_SYMLINK_NOFOLLOW).
pub(crate) fn stat_at(dir: &OwnedFd, name: &CStr) -> std::result::Result<libc::stat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstatat writes one struct stat into `st`; name is NUL-terminated.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(Errno::last());
    }
    // SAFETY: fstatat succeeded, so it filled the struct.
    Ok(unsafe { st.assume_init() })
}

/// fstat(2) of a descriptor.
pub(crate) fn fstat(fd: &impl AsRawFd) -> std::result::Result<libc::stat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one struct stat into `st`.
    if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(Errno::last());
    }
    // SAFETY: fstat succeeded, so it filled the struct.
    Ok(unsafe { st.assume_init() })
}

/// unlinkat(dir, name, 0).
pub(crate) fn unlink_at(dir: &OwnedFd, name: &CStr) -> std::result::Result<(), Errno> {
    // SAFETY: name is NUL-terminated; dir is open.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

fn dup(fd: &OwnedFd) -> std::result::Result<OwnedFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC on an open descriptor returns a fresh one.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the new descriptor is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
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
