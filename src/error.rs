//! The one error type of the core: an errno and a message saying what failed.

use nix::errno::Errno;
use std::fmt;

/// A failed operation: the system error number it maps to and a
/// human-readable message naming the operation and its object
/// (`"pidfile /run/food.pid is held by pid 4242"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    errno: Errno,
    message: String,
    holder: Option<i32>,
}

/// The result of every fallible core operation.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with `errno` and a message (lower case, no trailing period).
    pub fn new(errno: Errno, message: impl Into<String>) -> Error {
        Error {
            errno,
            message: message.into(),
            holder: None,
        }
    }

    /// The same error, naming the process in the way (a pidfile's holder:
    /// its pid, or 0 when it has not written one yet).
    pub fn with_holder(mut self, holder: i32) -> Error {
        self.holder = Some(holder);
        self
    }

    /// For -EEXIST and -ETIMEDOUT from a pidfile: the holder's pid (0 if it
    /// has not written it yet).
    pub fn holder(&self) -> Option<i32> {
        self.holder
    }

    /// A failed system call: the message is `what` followed by the
    /// errno's description (`"open pidfile /x.pid: permission denied"`).
    pub fn sys(errno: Errno, what: impl fmt::Display) -> Error {
        Error {
            errno,
            message: format!("{}: {}", what, describe(errno)),
            holder: None,
        }
    }

    /// The errno this error maps to (`-errno` at the C boundary).
    pub fn errno(&self) -> Errno {
        self.errno
    }

    /// The errno as a plain number (`libc::EEXIST`, ...), for callers that
    /// do not depend on nix. (A conversion to `std::io::Error` keeps the
    /// message and the errno's `ErrorKind`, not the number.)
    ///
    /// ```
    /// let e = pidkit::ids::getsid(-1).unwrap_err();
    /// assert_eq!(e.raw_os_error(), libc::EINVAL);
    /// let io = std::io::Error::from(e);
    /// assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(io.to_string().contains("invalid pid"));
    /// ```
    pub fn raw_os_error(&self) -> i32 {
        self.errno as i32
    }

    /// The whole message, as `pidkit_last_error()` returns it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::new(
            std::io::Error::from_raw_os_error(e.errno as i32).kind(),
            e.to_string(),
        )
    }
}

/// Attaches context to a bare `nix` result: `fstat(fd).context(|| format!("..."))`.
pub trait Context<T> {
    /// Wraps the errno with the message the closure builds (only on failure).
    fn context<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T> Context<T> for nix::Result<T> {
    fn context<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::sys(e, f()))
    }
}

/// strerror-like text in lower case ("no such file or directory").
pub fn describe(errno: Errno) -> String {
    let d = errno.desc();
    let mut out = String::with_capacity(d.len());
    let mut chars = d.chars();
    match (chars.next(), chars.clone().next()) {
        // "No such file" -> "no such file", but "I/O error" stays.
        (Some(c), Some(n)) if n.is_lowercase() || n == ' ' => out.extend(c.to_lowercase()),
        (Some(c), _) => out.push(c),
        (None, _) => {}
    }
    out.push_str(chars.as_str());
    out
}

/// A path (or any byte string from outside) as it appears in a message:
/// valid UTF-8 as it is, control characters and the backslash escaped as
/// `ls -b` does (`\n`, `\t`, `\\`, `\x1b`), other bytes as `\xHH`. A path
/// with a newline can then never fake a line of its own in a log.
pub(crate) struct Shown<'a>(pub(crate) &'a [u8]);

impl<'a> Shown<'a> {
    /// The bytes as they are, when nothing in them needs escaping
    /// (printable ASCII but the backslash): the usual path, shown with one
    /// write and no per-character work.
    pub(crate) fn plain(&self) -> Option<&'a str> {
        if self
            .0
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\')
        {
            std::str::from_utf8(self.0).ok()
        } else {
            None
        }
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(plain) = self.plain() {
            return f.write_str(plain);
        }
        for chunk in self.0.utf8_chunks() {
            let valid = chunk.valid();
            let mut plain = 0;
            for (i, c) in valid.char_indices() {
                let esc: Option<&str> = match c {
                    '\n' => Some("\\n"),
                    '\t' => Some("\\t"),
                    '\r' => Some("\\r"),
                    '\\' => Some("\\\\"),
                    c if c.is_control() => None,
                    _ => continue,
                };
                f.write_str(&valid[plain..i])?;
                match esc {
                    Some(s) => f.write_str(s)?,
                    None => {
                        let mut buf = [0u8; 4];
                        for b in c.encode_utf8(&mut buf).bytes() {
                            write!(f, "\\x{b:02x}")?;
                        }
                    }
                }
                plain = i + c.len_utf8();
            }
            f.write_str(&valid[plain..])?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Shown;

    #[test]
    fn shown_escapes_what_could_fake_a_line() {
        assert_eq!(Shown(b"/run/x.pid").to_string(), "/run/x.pid");
        assert_eq!(Shown(b"a\nb").to_string(), "a\\nb");
        assert_eq!(Shown(b"a\\b\t\x1b\x7f").to_string(), "a\\\\b\\t\\x1b\\x7f");
        assert_eq!(Shown(b"caf\xc3\xa9 \xff").to_string(), "caf\u{e9} \\xff");
    }
}
