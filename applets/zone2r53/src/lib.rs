//! `zone2r53`: convert BIND zone files into Route 53 change batches.

pub mod lexer;
pub mod name;
pub mod parser;
pub mod rdata;
pub mod rtype;
pub mod svcb;

use argh::FromArgs;
use opsbox_common::{Error, ExitCode, cli};

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "zone2r53";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str = "convert BIND zone files into Route 53 change batches";

#[derive(FromArgs, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// convert BIND zone files into Route 53 change batches.
struct Opts {}

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    let _opts: Opts = cli::parse(&[NAME], &args)?;
    Err(Error::new(
        opsbox_common::exit::SOFTWARE,
        "not implemented yet",
    ))
}
