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
//! - `addr`: genfw's policy over the one address type, `opsbox_common::net::Net` (`/0`,
//!   IPv4-mapped); `names`: interface names and comment text.
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
mod props;
mod render;
mod state;
mod status;
mod yaml;

use opsbox_common::{Error, ExitCode};

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "genfw";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str = "generate, check and apply each host's firewall from the fleet inventory";

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    let res = cli::main(args);
    // errors listed in full (several in one inventory): each on its line, then the summary
    let listed = yaml::take_listed();
    if res.is_err() && !listed.is_empty() {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        for l in listed {
            let _ = writeln!(err, "{NAME}: {l}");
        }
    }
    res
}

/// The admission model, for the tests that hold the kernel to it.
#[doc(hidden)]
pub mod model {
    use crate::{addr, inventory, policy};

    /// For host `host` of the inventory `text` (format guessed): is a new connection from
    /// `src` arriving on `iface` to local `proto` ("tcp"/"udp") `port` let in, and by which
    /// rule (`None`: dropped)? `Err`: the inventory or the arguments are bad.
    pub fn admits(
        text: &str,
        host: &str,
        src: &str,
        iface: &str,
        proto: &str,
        port: u16,
    ) -> Result<Option<String>, String> {
        let msg = |e: opsbox_common::Error| e.message().unwrap_or("error").to_string();
        let inv = inventory::parse("inventory", text, None).map_err(msg)?;
        let p = policy::build(&inv, host, &policy::Extra::default(), &mut |_| {}).map_err(msg)?;
        let src = addr::parse_net(src, false)?;
        let proto = match proto {
            "tcp" => policy::Proto::Tcp,
            "udp" => policy::Proto::Udp,
            _ => return Err(format!("{proto}: tcp or udp")),
        };
        Ok(p.admits(&src, iface, proto, port).map(|w| w.to_string()))
    }
}

/// Fuzzing entry points (see fuzz/fuzz_targets/genfw_*.rs).
#[doc(hidden)]
pub mod fuzz {
    /// First byte: the format (auto, list, hosts, ini, yaml, json); the rest: the
    /// inventory. Asserts the rendered files' properties (see `props`).
    pub fn inventory(data: &[u8]) {
        crate::props::inventory(data)
    }
}

/// The command tree shell completions are made from (`opsbox --completions`).
pub fn info() -> opsbox_common::cli::Info {
    cli::info()
}
