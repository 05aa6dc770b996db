//! C ABI for the sd_notify protocol.

use super::{c_str, ffi_entry};
use crate::notify;
use std::os::raw::{c_char, c_int};

/// Sends `state` to the service manager, as sd_notify(3) does but without
/// libsystemd: one datagram to the AF_UNIX socket named by `$NOTIFY_SOCKET`
/// (a path, or an abstract name written `@name`). `state` is one or more
/// newline-separated assignments such as "READY=1", "STATUS=loading
/// config", "RELOADING=1", "STOPPING=1", "WATCHDOG=1", "MAINPID=4242".
/// Returns 1 when sent, 0 when NOTIFY_SOCKET is not set (no manager
/// listens: nothing to do), -EINVAL for NULL or empty `state` or a
/// malformed NOTIFY_SOCKET, other -errno when the send fails (e.g.
/// -ECONNREFUSED, -ENOENT when the socket is gone).
///
/// # Safety
/// `state` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pidkit_notify(state: *const c_char) -> c_int {
    ffi_entry!("pidkit_notify", {
        // SAFETY: per this function's contract.
        let state = unsafe { c_str("pidkit_notify", "state", state) }?;
        notify::notify(state.to_bytes()).map(c_int::from)
    })
}
