//! The sd_notify protocol without libsystemd: one datagram of
//! newline-separated `KEY=VALUE` lines to the AF_UNIX socket named by
//! `$NOTIFY_SOCKET` (a path, or an abstract name written with a leading
//! '@'). Used for `Type=notify` services; see sd_notify(3).

use crate::error::{Error, Result};
use nix::errno::Errno;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (e.g. `"READY=1"`, `"STATUS=loading\n"`, `"WATCHDOG=1"`)
/// to the service manager. `Ok(false)` when `$NOTIFY_SOCKET` is not set
/// (not running under a manager that listens), `Ok(true)` when sent.
pub fn notify(state: &[u8]) -> Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(socket) => send_to(&socket, state).map(|()| true),
        None => Ok(false),
    }
}

/// Sends one datagram to the notify socket `socket`.
pub fn send_to(socket: &OsString, state: &[u8]) -> Result<()> {
    let name = socket.as_bytes();
    let shown = String::from_utf8_lossy(name);
    if state.is_empty() {
        return Err(Error::new(Errno::EINVAL, "notify: empty state"));
    }
    // SAFETY: a zeroed sockaddr_un is valid (family set below).
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let abstract_name = name.first() == Some(&b'@');
    if name.is_empty() || name.len() > addr.sun_path.len() || (name[0] != b'/' && !abstract_name) {
        return Err(Error::new(
            Errno::EINVAL,
            format!("notify: NOTIFY_SOCKET={shown} is not a socket path or @name"),
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    if abstract_name {
        addr.sun_path[0] = 0;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + name.len() + usize::from(!abstract_name);
    // SAFETY: socket() with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::sys(Errno::last(), "notify: socket"));
    }
    // SAFETY: socket() just returned this descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: state and addr are valid for the lengths given.
    crate::sys::retry_eintr(|| unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            state.as_ptr().cast(),
            state.len(),
            libc::MSG_NOSIGNAL,
            (&addr as *const libc::sockaddr_un).cast(),
            len as libc::socklen_t,
        )
    })
    .map(drop)
    .map_err(|e| Error::sys(e, format!("notify: send to {shown}")))
}
