//! Conventions shared by every opsbox applet.
//!
//! * [`Error`] carries a one-line message and a sysexits-style exit code ([`exit`]).
//! * [`cli::parse`] runs argh without its process-exiting `from_env`.
//! * [`input`] opens inputs (`-` is stdin); [`output`] writes outputs atomically.
//! * [`time`] gives Unix seconds and UTC timestamps for logs and state files.
//! * [`diag`] reports non-fatal problems while the applet carries on.
//! * [`net`]: addresses and networks, parsed strictly, IPv4-mapped IPv6 peers as IPv4.
//! * [`escape`] is the one output-escaping rule: input reaching a terminal, a `KEY: value`
//!   line, a comment or a shell script (and every error or warning line) is escaped.
//!
//! Applets never use `println!` (it panics on a closed pipe): they write to
//! [`output::stdout`] and propagate I/O errors, which [`Error`] turns into a quiet
//! exit 0 when the reader went away (`applet | head`).

pub mod cli;
pub mod diag;
mod error;
pub mod escape;
pub mod input;
pub mod net;
pub mod output;
pub mod time;

pub use error::{Error, Result, ResultExt, exit, io_reason};
pub use std::process::ExitCode;
