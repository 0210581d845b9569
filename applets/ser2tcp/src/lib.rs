//! `ser2tcp`: bridge a serial port to TCP, in one event loop, without resetting the
//! Arduino on the other end.
//!
//! * [`opts`] reads the command line (ser2tcp's and tcp_serial_redirect.py's forms).
//! * [`serial`] opens and configures the port; [`bridge`] runs the loop.
//! * [`telnet`] is RFC 2217's framing, [`rfc2217`] what its commands mean (pure: the
//!   answers, the limits, telling a telnet client by its first bytes).
//! * `opsbox_common::net` is the `--allow` networks, [`log`] the log (with its rate limit).

pub mod bridge;
pub mod log;
pub mod opts;
pub mod rfc2217;
pub mod serial;
pub mod telnet;

use opsbox_common::{Error, ExitCode};

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "ser2tcp";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str = "bridge a serial port to TCP";

/// The command tree shell completions are made from (`opsbox --completions`).
pub fn info() -> opsbox_common::cli::Info {
    opsbox_common::cli::info::<opts::Opts>(NAME, ABOUT, vec![])
}

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    let config = opts::parse(&args)?;
    bridge::run(&config)
}
