//! The C ABI, as docs/API.md (the contract) specifies it: argument checks,
//! conversions and error codes only. Every
//! exported function's body is wrapped in [`ffi_entry!`], which catches
//! panics, records `pidkit_last_error()` and maps the core's `Result` to the
//! C return value. Every system call lives in the core modules.

use crate::error::{Error, Result};
use nix::errno::Errno;
use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

// In the order of docs/API.md, the additions (notify) last: cbindgen writes the
// header in this order. rustfmt.toml keeps rustfmt from sorting it.
pub mod ids;
pub mod pidfile;
pub mod detach;
pub mod spawn;
pub mod procs;
pub mod notify;

/// Wraps the body of every exported function: `ffi_entry!("name", { ... })`.
/// The body evaluates to a `Result<T>`; `Ok(v)` is returned as is, `Err(e)`
/// becomes `T::on_error` (`-errno`) with the message in `pidkit_last_error()`,
/// and a panic becomes `T::on_panic()` (`-ENOTRECOVERABLE`): it never
/// unwinds into C and never aborts the host.
macro_rules! ffi_entry {
    ($name:literal, $body:block) => {
        $crate::ffi::boundary($name, move || -> $crate::error::Result<_> { $body })
    };
}
pub(crate) use ffi_entry;

/// Returns `-EINVAL` from the enclosing `ffi_entry!` body when a required
/// pointer argument is NULL, with a message naming the function and argument.
macro_rules! non_null {
    ($func:literal, $arg:ident) => {
        if $arg.is_null() {
            return Err($crate::error::Error::new(
                nix::errno::Errno::EINVAL,
                concat!($func, ": ", stringify!($arg), " is NULL"),
            ));
        }
    };
}
pub(crate) use non_null;

/// What an exported function returns on an error and on a panic.
pub(crate) trait FfiReturn: Sized {
    fn on_error(e: &Error) -> Self;
    fn on_panic() -> Self;
}

impl FfiReturn for c_int {
    fn on_error(e: &Error) -> c_int {
        -(e.errno() as c_int)
    }
    fn on_panic() -> c_int {
        -(Errno::ENOTRECOVERABLE as c_int)
    }
}

impl FfiReturn for *const c_char {
    fn on_error(_: &Error) -> *const c_char {
        c"".as_ptr()
    }
    fn on_panic() -> *const c_char {
        c"".as_ptr()
    }
}

/// Longest message kept (longer ones are cut); the buffer never moves, so a
/// pointer from pidkit_last_error() stays valid for the thread's life and
/// only its content changes.
const LAST_ERROR_CAP: usize = 1024;

thread_local! {
    static LAST_ERROR: RefCell<[u8; LAST_ERROR_CAP]> = const { RefCell::new([0; LAST_ERROR_CAP]) };
    /// >0 while this thread runs inside an entry point: the panic hook then
    /// keeps quiet (the library never prints) and records the panic instead.
    static IN_BOUNDARY: Cell<u32> = const { Cell::new(0) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub(crate) fn set_last_error(message: &str) {
    LAST_ERROR.with(|e| {
        let mut buf = e.borrow_mut();
        let mut n = message.len().min(LAST_ERROR_CAP - 1);
        while !message.is_char_boundary(n) {
            n -= 1;
        }
        for (d, s) in buf.iter_mut().zip(message.as_bytes()[..n].iter()) {
            // Paths cannot hold NUL, but a message must not end early.
            *d = if *s == 0 { b'?' } else { *s };
        }
        buf[n] = 0;
    });
}

fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_BOUNDARY.with(Cell::get) > 0 {
                let text = match info.location() {
                    Some(l) => format!(
                        "{} at {}:{}",
                        payload_text(info.payload()),
                        l.file(),
                        l.line()
                    ),
                    None => payload_text(info.payload()),
                };
                PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// The panic boundary behind [`ffi_entry!`].
pub(crate) fn boundary<T: FfiReturn>(name: &str, body: impl FnOnce() -> Result<T>) -> T {
    install_quiet_panic_hook();
    // One thread-local lookup for both updates (__tls_get_addr in a shared
    // object is most of this function's cost around a 150 ns system call).
    let r = IN_BOUNDARY.with(|depth| {
        depth.set(depth.get() + 1);
        let r = catch_unwind(AssertUnwindSafe(body));
        depth.set(depth.get().saturating_sub(1));
        r
    });
    match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_last_error(e.message());
            T::on_error(&e)
        }
        Err(payload) => {
            let detail = PANIC_MESSAGE
                .with(|m| m.borrow_mut().take())
                .unwrap_or_else(|| payload_text(payload.as_ref()));
            set_last_error(&format!(
                "{name}: internal fault in pidkit (please report this bug): {detail}"
            ));
            T::on_panic()
        }
    }
}

/// A required C string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn c_str<'a>(func: &str, arg: &str, p: *const c_char) -> Result<&'a CStr> {
    if p.is_null() {
        return Err(Error::new(Errno::EINVAL, format!("{func}: {arg} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    Ok(unsafe { CStr::from_ptr(p) })
}

/// An optional C string argument (NULL = None).
///
/// # Safety
/// As for [`c_str`].
pub(crate) unsafe fn opt_c_str<'a>(p: *const c_char) -> Option<&'a CStr> {
    // SAFETY: per the contract, a non-NULL p is a valid C string.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) })
}

/// An extensible options struct: `uint32_t size` first, `uint32_t flags`
/// second, then members that are only ever appended.
///
/// # Safety
/// The implementor is `#[repr(C)]`, starts with `size: u32, flags: u32`,
/// is valid when zero-filled, and `MEMBER_ENDS` lists the end offset of
/// every member in declaration order.
pub(crate) unsafe trait OptsStruct: Copy {
    /// Name used in error messages.
    const NAME: &'static str;
    /// Every flag bit this version knows.
    const KNOWN_FLAGS: u32;
    /// End offset (offset + size) of each member, in order.
    const MEMBER_ENDS: &'static [usize];
    fn flags(&self) -> u32;
}

/// Largest options `size` accepted, as openat2(2) does with its page limit.
const MAX_OPTS_SIZE: u32 = 4096;

/// Reads a caller's options struct by its `size` field: NULL means all
/// defaults; members that lie wholly within `size` are copied, the rest stay
/// zero; bytes past what this version knows must be zero (-E2BIG);
/// unknown flags are -EINVAL.
///
/// # Safety
/// `p` is NULL or points to at least `(*p).size` readable bytes.
pub(crate) unsafe fn read_opts<T: OptsStruct>(p: *const T) -> Result<T> {
    // SAFETY: T is valid when zero-filled (OptsStruct contract).
    let mut out: T = unsafe { std::mem::zeroed() };
    let known = std::mem::size_of::<T>();
    if p.is_null() {
        return Ok(out);
    }
    // SAFETY: the caller's struct starts with a u32 size.
    let size = unsafe { std::ptr::read_unaligned(p.cast::<u32>()) };
    if size < 8 {
        return Err(Error::new(
            Errno::EINVAL,
            format!(
                "{}: size {} is too small to hold size and flags",
                T::NAME,
                size
            ),
        ));
    }
    if size > MAX_OPTS_SIZE {
        return Err(Error::new(
            Errno::E2BIG,
            format!(
                "{}: size {} is larger than {}",
                T::NAME,
                size,
                MAX_OPTS_SIZE
            ),
        ));
    }
    let size = size as usize;
    if size > known {
        // SAFETY: the caller guarantees `size` readable bytes.
        let tail = unsafe { std::slice::from_raw_parts(p.cast::<u8>().add(known), size - known) };
        if let Some(i) = tail.iter().position(|&b| b != 0) {
            return Err(Error::new(
                Errno::E2BIG,
                format!(
                    "{}: byte {} is set, but this pidkit ({}) knows only the first {} bytes",
                    T::NAME,
                    known + i,
                    crate::VERSION,
                    known
                ),
            ));
        }
    }
    let n = T::MEMBER_ENDS
        .iter()
        .copied()
        .filter(|&e| e <= size)
        .max()
        .unwrap_or(0);
    // SAFETY: n <= size (readable in the caller's struct) and n <= size_of::<T>().
    unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), (&mut out as *mut T).cast::<u8>(), n) };
    let unknown = out.flags() & !T::KNOWN_FLAGS;
    if unknown != 0 {
        return Err(Error::new(
            Errno::EINVAL,
            format!("{}: unknown flag bits {:#x}", T::NAME, unknown),
        ));
    }
    Ok(out)
}

/// `offset + size` of each listed member, for [`OptsStruct::MEMBER_ENDS`].
macro_rules! member_ends {
    ($t:ty; $($field:ident: $fty:ty),* $(,)?) => {
        &[$(std::mem::offset_of!($t, $field) + std::mem::size_of::<$fty>()),*]
    };
}
pub(crate) use member_ends;

/// The library version, "MAJOR.MINOR.PATCH". The string is static.
#[no_mangle]
pub extern "C" fn pidkit_version() -> *const c_char {
    ffi_entry!("pidkit_version", {
        Ok(concat!(env!("CARGO_PKG_VERSION"), "\0")
            .as_ptr()
            .cast::<c_char>())
    })
}

/// The message of the calling thread's last failed pidkit call, or "" if
/// none failed yet. Successful calls do not clear it. The pointer stays
/// valid for the life of the calling thread; its content is replaced by the
/// next failing call on that thread (copy it if you need it longer).
#[no_mangle]
pub extern "C" fn pidkit_last_error() -> *const c_char {
    ffi_entry!("pidkit_last_error", {
        Ok(LAST_ERROR.with(|e| e.borrow().as_ptr().cast::<c_char>()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_enotrecoverable_with_a_message() {
        let r: c_int = boundary("pidkit_test", || -> Result<c_int> { panic!("boom {}", 42) });
        assert_eq!(r, -(libc::ENOTRECOVERABLE));
        // SAFETY: pidkit_last_error returns a valid C string.
        let msg = unsafe { CStr::from_ptr(pidkit_last_error()) }
            .to_str()
            .unwrap()
            .to_string();
        assert!(msg.starts_with("pidkit_test: internal fault"), "{msg}");
        assert!(msg.contains("boom 42"), "{msg}");
        // The boundary stays usable afterwards.
        let r: c_int = boundary("pidkit_test", || Ok(7));
        assert_eq!(r, 7);
    }

    #[test]
    fn an_error_becomes_minus_errno_and_a_message() {
        let r: c_int = boundary("pidkit_test", || -> Result<c_int> {
            Err(Error::new(Errno::EEXIST, "pidfile /x is held by pid 1"))
        });
        assert_eq!(r, -libc::EEXIST);
        // SAFETY: as above.
        let msg = unsafe { CStr::from_ptr(pidkit_last_error()) };
        assert_eq!(msg.to_str().unwrap(), "pidfile /x is held by pid 1");
    }

    #[test]
    fn last_error_is_per_thread() {
        set_last_error("main thread message");
        std::thread::spawn(|| {
            // SAFETY: as above.
            assert_eq!(
                unsafe { CStr::from_ptr(pidkit_last_error()) }.to_bytes(),
                b""
            );
        })
        .join()
        .unwrap();
    }
}
