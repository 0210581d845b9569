//! `needs-restart`: find processes and services still running deleted or replaced files.

use argh::FromArgs;
use opsbox_common::{Error, ExitCode, cli};

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "needs-restart";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str = "find processes and services still running deleted or replaced files";

#[derive(FromArgs, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// find processes and services still running deleted or replaced files.
struct Opts {}

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    let _opts: Opts = cli::parse(&[NAME], &args)?;
    Err(Error::new(
        opsbox_common::exit::SOFTWARE,
        "not implemented yet",
    ))
}
