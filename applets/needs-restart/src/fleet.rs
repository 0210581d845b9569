//! `needs-restart fleet`: many hosts' `--json` outputs in, one fleet view out.
use opsbox_common::{Error, ExitCode};

pub(crate) fn run(_args: &[String]) -> Result<ExitCode, Error> {
    Err(Error::usage("fleet: not yet"))
}
