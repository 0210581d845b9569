//! `genfw`: generate, check and apply each host's firewall from the fleet inventory.
//!
//! Peers (the other hosts of the inventory) get in, management networks reach SSH,
//! `genfw_allow` networks reach their ports, a few public ports are open to all,
//! everything else is dropped — for IPv4 and IPv6, as one nftables table (`inet genfw`)
//! or as ipsets plus one iptables chain (`GENFW-INPUT`).
//!
//! Module map (data flows top to bottom):
//! - [`cli`]: the command line, one options struct per subcommand, and the dispatch.
//! - `inventory`: list, hosts, INI, YAML and JSON inventories to hosts/groups/variables.
//! - `addr`: strict addresses and networks; `names`: interface names and comment text.
//! - `policy`: one host's policy from the inventory, and the one admission model
//!   (`Policy::admits`) that the renderer's tests, the lockout check and the kernel
//!   tests share.
//! - `render`: the nft file, or the ipset + iptables-restore files.
//! - `load`: options → inventory → policy → bundle; `genfw render`.
//! - `check`: `check` (one host or `--all`), `diff`, the in-namespace `__trial`.
//! - `apply`: `apply`, the rollback guard, `confirm`, `rollback`; `lockout`: the SSH
//!   session this runs under, from /proc.
//! - `persist`: rules and boot hook; `status`: what is loaded and pending; `state`: the
//!   state directory.
//! - `ops`: the kernel side (nft, ipset, iptables-restore, unshare); `local`: this
//!   machine's addresses.

mod addr;
mod apply;
mod check;
mod cli;
mod inventory;
mod load;
mod local;
mod lockout;
mod names;
mod ops;
mod persist;
mod policy;
mod render;
mod state;
mod status;

use opsbox_common::{Error, ExitCode};

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "genfw";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str = "generate, check and apply each host's firewall from the fleet inventory";

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    cli::main(args)
}
