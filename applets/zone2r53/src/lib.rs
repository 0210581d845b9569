//! `zone2r53`: convert BIND zone files (and Zerigo XML) into Route 53 change batches that
//! the API accepts, offline; diff against and export from Route 53's JSON; push the batches
//! with the user's own AWS CLI.
//!
//! Modules: [`lexer`] (bytes → entries with positions), [`parser`] (directives, owners,
//! TTLs), [`include`] (opening `$INCLUDE`d files), [`rdata`]/[`svcb`] (record data per
//! type), [`routing`] (cli53's routing comments, Route 53's grammar for them), [`zone`]
//! (RRsets and Route 53's rules), [`batch`] (change batches under the limits), [`outdir`]
//! (batch files written and synced together), [`r53json`],
//! [`diff`], [`export`], [`zerigo`], [`push`] (applying batches through the AWS CLI).

pub mod batch;
pub mod diff;
pub mod export;
pub mod include;
pub mod lexer;
pub mod name;
pub mod outdir;
pub mod parser;
mod props;
pub mod push;
pub mod r53json;
pub mod rdata;
pub mod routing;
pub mod rtype;
pub mod svcb;
pub mod zerigo;
pub mod zone;

mod cmd;

use opsbox_common::{Error, ExitCode};

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "zone2r53";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str = "convert BIND zone files into Route 53 change batches";

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    cmd::run(args)
}

/// The command tree shell completions are made from (`opsbox --completions`).
pub fn info() -> opsbox_common::cli::Info {
    cmd::info()
}

/// Entry points of the fuzz targets (fuzz/fuzz_targets/zone2r53_*.rs); the properties are
/// in `props`.
#[doc(hidden)]
pub mod fuzz {
    /// Zone text: messages are clean lines; parsed → written back → parsed is the same.
    pub fn zone(data: &[u8]) {
        crate::props::zone_round_trip(data)
    }
    /// Route 53 JSON: export → convert gives the same RRsets, never one more.
    pub fn r53json(data: &[u8]) {
        crate::props::r53json_round_trip(data)
    }
    /// Zerigo XML: positioned, clean messages.
    pub fn zerigo(data: &[u8]) {
        crate::props::zerigo(data)
    }
}
