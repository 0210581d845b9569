//! `genfw`: generate, check and apply each host's firewall from the fleet inventory.
//!
//! Peers (the other hosts of the inventory) get in, management networks reach SSH, a few
//! public ports are open to all, everything else is dropped — for IPv4 and IPv6, as one
//! nftables table (`inet genfw`) or as ipsets plus one iptables chain (`GENFW-INPUT`).

pub mod addr;
pub mod inventory;
pub mod local;
pub mod ops;
pub mod policy;
pub mod render;
mod run;

use opsbox_common::{Error, ExitCode};

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "genfw";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str = "generate, check and apply each host's firewall from the fleet inventory";

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    run::main(args)
}

/// The command tree shell completions are made from (`opsbox --completions`).
pub fn info() -> opsbox_common::cli::Info {
    run::info()
}
