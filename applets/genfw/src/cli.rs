//! The command line: one options struct per subcommand (so each `--help` shows only its
//! own options; `--opt=value` is split by `opsbox_common::cli::parse`), and the dispatch
//! to each job.

use crate::inventory::Format;
use crate::ops::Backend;
use crate::policy::Extra;
use crate::{NAME, apply, check, load, persist, status};
use argh::FromArgs;
use opsbox_common::diag::Diag;
use opsbox_common::{Error, ExitCode, cli};

const SUBS: &[&str] = &[
    "render", "check", "apply", "confirm", "rollback", "diff", "persist", "status", "__trial",
    "__guard",
];

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Commands:
  render     print the firewall of this host (default when no command is given)
  check      validate strictly and have the kernel check the rules in a throwaway namespace
             (--all: every host of the inventory)
  apply      load the rules atomically, optionally with a rollback guard
  confirm    keep the rules of a guarded apply (run it from a new SSH connection)
  rollback   restore the rules from before the last apply, now
  diff       compare the live rules with the inventory; exit 1 on drift
  persist    install a boot hook that loads only genfw's rules
  status     what is loaded, from which inventory, and whether a guard is pending

Run 'genfw COMMAND --help' for the options of each command; see genfw(8)."
)]
/// generate, check and apply each host's firewall from the fleet inventory.
struct Top {}

/// The options every inventory-reading command shares.
#[derive(Clone, Debug, Default)]
pub(crate) struct Common {
    pub inventory: Option<String>,
    pub inventory_format: Option<Format>,
    pub host: Option<String>,
    pub format: Option<Backend>,
    /// What the command line adds to the inventory's variables.
    pub extra: Extra,
}

/// An options struct: the shared inventory options plus the subcommand's own.
macro_rules! opts {
    ($(#[$m:meta])* struct $name:ident { $($(#[$fm:meta])* $f:ident : [$($t:tt)*],)* }) => {
        $(#[$m])*
        #[derive(FromArgs, argh::ArgsInfo, Debug, Default)]
        #[argh(help_triggers("-h", "--help"))]
        pub(crate) struct $name {
            /// the inventory: a plain list, a hosts file, an Ansible INI or YAML inventory or
            /// the JSON of ansible-inventory --list ('-' = stdin)
            #[argh(option, short = 'i')]
            pub inventory: Option<String>,
            /// the inventory's format: auto (default), list, hosts, ini, yaml or json
            #[argh(option, from_str_fn(inv_format))]
            pub inventory_format: Option<Option<Format>>,
            /// this host's name in the inventory (default: the host with a local address)
            #[argh(option)]
            pub host: Option<String>,
            /// rules format: nft (default; for diff and persist: what the last apply used)
            /// or iptables (ipset + iptables-restore files)
            #[argh(option, short = 'f', from_str_fn(backend))]
            pub format: Option<Backend>,
            /// add a management network allowed to SSH (repeatable; adds to genfw_mgmt)
            #[argh(option)]
            pub mgmt: Vec<String>,
            /// add TCP ports open to all (e.g. 80,443; adds to genfw_public_tcp)
            #[argh(option)]
            pub public_tcp: Vec<String>,
            /// add UDP ports open to all (adds to genfw_public_udp)
            #[argh(option)]
            pub public_udp: Vec<String>,
            /// add a trusted interface (repeatable; adds to genfw_trust_iface)
            #[argh(option)]
            pub trust_iface: Vec<String>,
            /// add networks that may reach ports, e.g. '10.8.0.0/24 tcp/8080,8443'
            /// (repeatable; adds to genfw_allow)
            #[argh(option)]
            pub allow: Vec<String>,
            /// accept /0 networks (the whole Internet) in the inventory
            #[argh(switch)]
            pub allow_any: bool,
            /// log dropped packets (rate-limited), as genfw_log=true does
            #[argh(switch)]
            pub log: bool,
            /// no warnings, no progress lines
            #[argh(switch, short = 'q')]
            pub quiet: bool,
            $($(#[$fm])* pub $f: $($t)*,)*
        }

        impl $name {
            pub(crate) fn common(&self) -> Common {
                Common {
                    inventory: self.inventory.clone(),
                    inventory_format: self.inventory_format.flatten(),
                    host: self.host.clone(),
                    format: self.format,
                    extra: Extra {
                        mgmt: self.mgmt.clone(),
                        public_tcp: self.public_tcp.clone(),
                        public_udp: self.public_udp.clone(),
                        trust_iface: self.trust_iface.clone(),
                        allow: self.allow.clone(),
                        allow_any: self.allow_any,
                        log: self.log,
                    },
                }
            }
        }
    };
}

opts! {
    /// print the firewall of this host.
    struct RenderOpts {
        /// write to this file (for iptables: a directory) instead of stdout
        #[argh(option, short = 'o')]
        output: [Option<String>],
    }
}

opts! {
    /// validate strictly and have the kernel check the rules in a throwaway namespace.
    struct CheckOpts {
        /// check every host of the inventory: one line each and a summary
        #[argh(switch)]
        all: [bool],
        /// print the result as JSON
        #[argh(switch)]
        json: [bool],
    }
}

opts! {
    /// load the rules atomically, optionally with a rollback guard.
    struct ApplyOpts {
        /// allow an empty peer set
        #[argh(switch)]
        allow_empty: [bool],
        /// roll back after SECONDS unless 'genfw confirm' runs
        #[argh(option, from_str_fn(seconds))]
        confirm: [Option<u64>],
        /// apply although the SSH session running this would be cut (a rollback guard
        /// is then always started: --confirm, or 60 s)
        #[argh(switch)]
        force: [bool],
        /// where snapshots and the guard's state live (default /var/lib/genfw)
        #[argh(option)]
        state_dir: [Option<String>],
    }
}

opts! {
    /// compare the live rules with the inventory; exit 1 on drift.
    struct DiffOpts {
        /// where the last apply's state lives (default /var/lib/genfw)
        #[argh(option)]
        state_dir: [Option<String>],
    }
}

opts! {
    /// install a boot hook that loads only genfw's rules.
    struct PersistOpts {
        /// install under this root directory instead of /
        #[argh(option)]
        root: [Option<String>],
        /// boot hook kind: auto (default), systemd or ifupdown
        #[argh(option)]
        init: [Option<String>],
        /// where the last apply's state lives (default /var/lib/genfw)
        #[argh(option)]
        state_dir: [Option<String>],
    }
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// confirm or roll back a guarded apply.
pub(crate) struct StateOpts {
    /// where snapshots and the guard's state live (default /var/lib/genfw)
    #[argh(option)]
    pub state_dir: Option<String>,
    /// no progress lines
    #[argh(switch, short = 'q')]
    pub quiet: bool,
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// show what is loaded, from which inventory, and whether a guard is pending.
pub(crate) struct StatusOpts {
    /// where the state lives (default /var/lib/genfw)
    #[argh(option)]
    pub state_dir: Option<String>,
    /// print the status as JSON
    #[argh(switch)]
    pub json: bool,
}

fn inv_format(s: &str) -> Result<Option<Format>, String> {
    Format::parse(s)
}

fn backend(s: &str) -> Result<Backend, String> {
    match s {
        "nft" | "nftables" => Ok(Backend::Nft),
        "iptables" | "ipt" => Ok(Backend::Ipt),
        _ => Err(format!("'{s}': expected nft or iptables")),
    }
}

fn seconds(s: &str) -> Result<u64, String> {
    cli::number_in(s, 1, 86_400)
}

/// The command tree shell completions are made from (`opsbox --completions`).
pub(crate) fn info() -> cli::Info {
    use argh::ArgsInfo;
    let subs = vec![
        ("render", RenderOpts::get_args_info()),
        ("check", CheckOpts::get_args_info()),
        ("apply", ApplyOpts::get_args_info()),
        ("confirm", StateOpts::get_args_info()),
        ("rollback", StateOpts::get_args_info()),
        ("diff", DiffOpts::get_args_info()),
        ("persist", PersistOpts::get_args_info()),
        ("status", StatusOpts::get_args_info()),
    ];
    cli::info::<Top>(NAME, crate::ABOUT, subs)
}

pub(crate) fn main(args: Vec<String>) -> Result<ExitCode, Error> {
    let (sub, rest) = cli::subcommand(&args, SUBS);
    let diag = |q: bool| Diag::new(NAME).quiet(q);
    match sub {
        None if args.is_empty() || args[0] == "-h" || args[0] == "--help" => {
            let _: Top = cli::parse(&[NAME], &args)?;
            Err(Error::usage("no command given")
                .with_hint("Try 'genfw --help' for more information."))
        }
        // `genfw -i FILE`: render, with errors and hints naming plain `genfw`
        None => {
            let o: RenderOpts = cli::parse(&[NAME], rest)?;
            load::render_cmd(o, &diag(false))
        }
        Some("render") => {
            let o: RenderOpts = cli::parse(&[NAME, "render"], rest)?;
            let d = diag(o.quiet);
            load::render_cmd(o, &d)
        }
        Some("check") => {
            let o: CheckOpts = cli::parse(&[NAME, "check"], rest)?;
            let d = diag(o.quiet);
            check::check_cmd(o, &d)
        }
        Some("apply") => {
            let o: ApplyOpts = cli::parse(&[NAME, "apply"], rest)?;
            let d = diag(o.quiet);
            apply::apply_cmd(o, &d)
        }
        Some("diff") => {
            let o: DiffOpts = cli::parse(&[NAME, "diff"], rest)?;
            let d = diag(o.quiet);
            check::diff_cmd(o, &d)
        }
        Some("persist") => {
            let o: PersistOpts = cli::parse(&[NAME, "persist"], rest)?;
            let d = diag(o.quiet);
            persist::persist_cmd(o, &d)
        }
        Some("confirm") => apply::confirm_cmd(cli::parse(&[NAME, "confirm"], rest)?),
        Some("rollback") => apply::rollback_cmd(cli::parse(&[NAME, "rollback"], rest)?),
        Some("status") => status::status_cmd(cli::parse(&[NAME, "status"], rest)?),
        Some("__trial") => check::trial_cmd(rest),
        Some("__guard") => apply::guard_cmd(rest),
        Some(_) => unreachable!("subcommand() returns one of SUBS"),
    }
}
