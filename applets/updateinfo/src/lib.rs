//! `updateinfo`: convert CEFS errata.xml into yum updateinfo.xml and inject it into repodata.

use argh::FromArgs;
use opsbox_common::{Error, ExitCode, cli};

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "updateinfo";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str =
    "convert CEFS errata.xml into yum updateinfo.xml and inject it into repodata";

#[derive(FromArgs, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// convert CEFS errata.xml into yum updateinfo.xml and inject it into repodata.
struct Opts {}

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    let _opts: Opts = cli::parse(&[NAME], &args)?;
    Err(Error::new(
        opsbox_common::exit::SOFTWARE,
        "not implemented yet",
    ))
}
