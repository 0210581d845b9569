//! `ser2tcp`: bridge a serial port to TCP.

use argh::FromArgs;
use opsbox_common::{Error, ExitCode, cli};

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "ser2tcp";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str = "bridge a serial port to TCP";

#[derive(FromArgs, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// bridge a serial port to TCP.
struct Opts {}

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    let _opts: Opts = cli::parse(&[NAME], &args)?;
    Err(Error::new(
        opsbox_common::exit::SOFTWARE,
        "not implemented yet",
    ))
}
