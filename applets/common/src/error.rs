use std::fmt;
use std::io;

/// The exit codes of the whole binary (sysexits.h meanings from 64 on).
pub mod exit {
    /// Success; for a question, "no" (nothing to do).
    pub const OK: u8 = 0;
    /// First of the codes an applet may give a documented meaning (1 to 3).
    pub const ANSWER_1: u8 = 1;
    pub const ANSWER_2: u8 = 2;
    pub const ANSWER_3: u8 = 3;
    /// The command was used wrongly: bad option, missing argument.
    pub const USAGE: u8 = 64;
    /// The input data was incorrect.
    pub const DATAERR: u8 = 65;
    /// An input file did not exist or was not readable.
    pub const NOINPUT: u8 = 66;
    /// A required external tool or device is unavailable.
    pub const UNAVAILABLE: u8 = 69;
    /// An internal error (a bug): should never be seen.
    pub const SOFTWARE: u8 = 70;
    /// An output file could not be created.
    pub const CANTCREAT: u8 = 73;
    /// Any other I/O error.
    pub const IOERR: u8 = 74;
    /// Not permitted (e.g. needs root).
    pub const NOPERM: u8 = 77;
    /// The applet name is unknown.
    pub const NOTFOUND: u8 = 127;
}

/// An applet's failure: an exit code and, unless it is a quiet exit, one line of text.
///
/// The dispatcher prints it as `APPLET: MESSAGE` (plus an optional hint line) on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: u8,
    message: Option<String>,
    hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Error {
            code,
            message: Some(one_line(message.into())),
            hint: None,
        }
    }
    /// Exit with `code` and print nothing (help was shown, reader went away, `-q`).
    pub fn quiet(code: u8) -> Self {
        Error {
            code,
            message: None,
            hint: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(exit::USAGE, message)
    }
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(exit::DATAERR, message)
    }
    /// A data error at a position: `FILE:LINE:COL: message` (`col` 0 leaves it out).
    pub fn at(file: &str, line: u64, col: u64, message: impl fmt::Display) -> Self {
        Self::data(position(file, line, col, message))
    }
    pub fn noinput(message: impl Into<String>) -> Self {
        Self::new(exit::NOINPUT, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(exit::UNAVAILABLE, message)
    }
    pub fn cantcreat(message: impl Into<String>) -> Self {
        Self::new(exit::CANTCREAT, message)
    }
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(exit::IOERR, message)
    }
    /// An I/O error with what we were doing: `context: reason`. A broken pipe is a quiet 0.
    pub fn from_io(context: impl fmt::Display, err: &io::Error) -> Self {
        Self::from_io_code(exit::IOERR, context, err)
    }
    /// As [`Error::from_io`] with a chosen code (66 for inputs, 73 for outputs).
    pub fn from_io_code(code: u8, context: impl fmt::Display, err: &io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            return Self::quiet(exit::OK);
        }
        Self::new(code, format!("{context}: {}", io_reason(err)))
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(one_line(hint.into()));
        self
    }
    /// Prefix the message with what was being done: `context: message`.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        if let Some(m) = self.message.take() {
            self.message = Some(one_line(format!("{context}: {m}")));
        }
        self
    }
    pub fn code(&self) -> u8 {
        self.code
    }
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    pub fn exit_code(&self) -> std::process::ExitCode {
        std::process::ExitCode::from(self.code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message.as_deref().unwrap_or(""))
    }
}

impl std::error::Error for Error {}

/// Plain `?` on an I/O error: exit 74 (a broken pipe: quiet exit 0).
impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            return Self::quiet(exit::OK);
        }
        Self::io(io_reason(&err))
    }
}

/// Attach context to I/O results: `file.read(..).ctx("reading x")?`.
pub trait ResultExt<T> {
    /// `context: reason`, exit 74.
    fn ctx(self, context: impl fmt::Display) -> Result<T>;
    /// `context: reason` with the given exit code.
    fn ctx_code(self, code: u8, context: impl fmt::Display) -> Result<T>;
}

impl<T> ResultExt<T> for io::Result<T> {
    fn ctx(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::from_io(context, &e))
    }
    fn ctx_code(self, code: u8, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::from_io_code(code, context, &e))
    }
}

/// The reason text of an I/O error, without Rust's ` (os error N)` suffix, lower-cased
/// the way `strerror` reads in a sentence (`No such file or directory`).
pub fn io_reason(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

fn position(file: &str, line: u64, col: u64, message: impl fmt::Display) -> String {
    match (line, col) {
        (0, _) => format!("{file}: {message}"),
        (l, 0) => format!("{file}:{l}: {message}"),
        (l, c) => format!("{file}:{l}:{c}: {message}"),
    }
}

/// Messages are one line: trailing space goes, and every control character left (a
/// newline, CR or ESC from the input) is escaped ([`crate::escape::controls`]), so no input
/// can forge a second line or drive the terminal.
fn one_line(s: String) -> String {
    crate::escape::controls(s.trim_end()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_reason_drops_os_error_suffix() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&e), "No such file or directory");
        let e = Error::from_io_code(exit::NOINPUT, "x.zone", &e);
        assert_eq!(e.message(), Some("x.zone: No such file or directory"));
        assert_eq!(e.code(), 66);
    }

    #[test]
    fn broken_pipe_is_quiet_success() {
        let e: Error = io::Error::from(io::ErrorKind::BrokenPipe).into();
        assert_eq!((e.code(), e.message()), (0, None));
    }

    #[test]
    fn positions_and_one_line() {
        assert_eq!(Error::at("f", 3, 16, "bad").message(), Some("f:3:16: bad"));
        assert_eq!(Error::at("f", 3, 0, "bad").message(), Some("f:3: bad"));
        assert_eq!(Error::at("f", 0, 0, "bad").message(), Some("f: bad"));
        assert_eq!(Error::usage("a\n  b\n").message(), Some("a\\n  b"));
        assert_eq!(
            Error::data("x\x1b[2J\rzone2r53: /etc/passwd:1:1: forged").message(),
            Some("x\\e[2J\\rzone2r53: /etc/passwd:1:1: forged")
        );
        assert_eq!(Error::data("m").context("ctx").message(), Some("ctx: m"));
    }
}
