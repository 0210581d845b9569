//! The command line: subcommands and what each one does.

use crate::inventory::{self, Format};
use crate::ops::{self, Backend, Bundle};
use crate::policy::{self, Extra, Policy};
use crate::render::{self, Source};
use crate::{NAME, addr::Net};
use argh::FromArgs;
use opsbox_common::diag::Diag;
use opsbox_common::{Error, ExitCode, ResultExt, cli, exit, input, output};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

const SUBS: &[&str] = &[
    "render", "check", "apply", "confirm", "rollback", "diff", "persist", "__trial", "__guard",
];

/// Exit code of a refused apply (lockout, empty peer set, pending guard).
const REFUSED: u8 = 2;
const DEFAULT_STATE: &str = "/var/lib/genfw";

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Commands:
  render     print the firewall of this host (default when no command is given)
  check      validate strictly and have the kernel check the rules in a throwaway namespace
  apply      load the rules atomically, optionally with a rollback guard
  confirm    keep the rules of a guarded apply (run it from a new SSH connection)
  rollback   restore the rules from before the last apply, now
  diff       compare the live rules with the inventory; exit 1 on drift
  persist    install a boot hook that loads only genfw's rules

Run 'genfw COMMAND --help' for the options of each command; see genfw(8)."
)]
/// generate, check and apply each host's firewall from the fleet inventory.
struct Top {}

#[derive(FromArgs, argh::ArgsInfo, Debug, Default)]
#[argh(help_triggers("-h", "--help"))]
/// render, check, apply, diff or persist the firewall of this host from the inventory.
struct Opts {
    /// the inventory: a plain list, a hosts file, an Ansible INI inventory or the JSON of
    /// ansible-inventory --list ('-' = stdin)
    #[argh(option, short = 'i')]
    inventory: Option<String>,
    /// the inventory's format: auto (default), list, hosts, ini or json
    #[argh(option, from_str_fn(inv_format))]
    inventory_format: Option<Option<Format>>,
    /// this host's name in the inventory (default: the host with a local address)
    #[argh(option)]
    host: Option<String>,
    /// output format: nft (default) or iptables (ipset + iptables-restore files)
    #[argh(option, short = 'f', from_str_fn(backend))]
    format: Option<Backend>,
    /// render: write to this file (for iptables: a directory) instead of stdout
    #[argh(option, short = 'o')]
    output: Option<String>,
    /// add a management network allowed to SSH (repeatable; adds to genfw_mgmt)
    #[argh(option)]
    mgmt: Vec<String>,
    /// add TCP ports open to all (e.g. 80,443; adds to genfw_public_tcp)
    #[argh(option)]
    public_tcp: Vec<String>,
    /// add UDP ports open to all (adds to genfw_public_udp)
    #[argh(option)]
    public_udp: Vec<String>,
    /// add a trusted interface (repeatable; adds to genfw_trust_iface)
    #[argh(option)]
    trust_iface: Vec<String>,
    /// accept /0 networks (the whole Internet) in the inventory
    #[argh(switch)]
    allow_any: bool,
    /// log dropped packets (rate-limited), as genfw_log=true does
    #[argh(switch)]
    log: bool,
    /// apply: allow an empty peer set
    #[argh(switch)]
    allow_empty: bool,
    /// apply: roll back after SECONDS unless 'genfw confirm' runs
    #[argh(option, from_str_fn(seconds))]
    confirm: Option<u64>,
    /// where snapshots and the guard's state live (default /var/lib/genfw)
    #[argh(option)]
    state_dir: Option<String>,
    /// persist: install under this root directory instead of /
    #[argh(option)]
    root: Option<String>,
    /// persist: boot hook kind: auto (default), systemd or ifupdown
    #[argh(option)]
    init: Option<String>,
    /// no warnings, no progress lines
    #[argh(switch, short = 'q')]
    quiet: bool,
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// confirm or roll back a guarded apply.
struct StateOpts {
    /// where snapshots and the guard's state live (default /var/lib/genfw)
    #[argh(option)]
    state_dir: Option<String>,
    /// no progress lines
    #[argh(switch, short = 'q')]
    quiet: bool,
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

/// The command tree shell completions are made from.
pub fn info() -> cli::Info {
    use argh::ArgsInfo;
    let subs = ["render", "check", "apply", "diff", "persist"]
        .map(|s| (s, Opts::get_args_info()))
        .into_iter()
        .chain(["confirm", "rollback"].map(|s| (s, StateOpts::get_args_info())))
        .collect();
    cli::info::<Top>(NAME, crate::ABOUT, subs)
}

pub fn main(args: Vec<String>) -> Result<ExitCode, Error> {
    let (sub, rest) = cli::subcommand(&args, SUBS);
    let rest = rest.to_vec();
    match sub {
        None if args.is_empty() || args[0] == "-h" || args[0] == "--help" => {
            let _: Top = cli::parse(&[NAME], &args)?;
            Err(Error::usage("no command given")
                .with_hint("Try 'genfw --help' for more information."))
        }
        // `genfw -i FILE`: render, with errors and hints naming plain `genfw`
        None => with_opts("", &rest, render_cmd),
        Some("render") => with_opts("render", &rest, render_cmd),
        Some("check") => with_opts("check", &rest, check_cmd),
        Some("apply") => with_opts("apply", &rest, apply_cmd),
        Some("diff") => with_opts("diff", &rest, diff_cmd),
        Some("persist") => with_opts("persist", &rest, persist_cmd),
        Some("confirm") => confirm_cmd(cli::parse(&[NAME, "confirm"], &rest)?),
        Some("rollback") => rollback_cmd(cli::parse(&[NAME, "rollback"], &rest)?),
        Some("__trial") => trial_cmd(&rest),
        Some("__guard") => guard_cmd(&rest),
        Some(_) => unreachable!("subcommand() returns one of SUBS"),
    }
}

fn with_opts(
    sub: &'static str,
    args: &[String],
    f: fn(Opts, &Diag) -> Result<ExitCode, Error>,
) -> Result<ExitCode, Error> {
    let cmd: &[&str] = if sub.is_empty() {
        &[NAME]
    } else {
        &[NAME, sub]
    };
    let o: Opts = cli::parse(cmd, args)?;
    let sub = if sub.is_empty() { "render" } else { sub };
    let only = |set: bool, opt: &str, subs: &[&str]| -> Result<(), Error> {
        if set && !subs.contains(&sub) {
            return Err(
                Error::usage(format!("{sub}: {opt} is for genfw {} only", subs.join("/")))
                    .with_hint(format!("Try 'genfw {sub} --help' for more information.")),
            );
        }
        Ok(())
    };
    only(o.output.is_some(), "-o/--output", &["render"])?;
    only(o.confirm.is_some(), "--confirm", &["apply"])?;
    only(o.allow_empty, "--allow-empty", &["apply"])?;
    only(o.root.is_some(), "--root", &["persist"])?;
    only(o.init.is_some(), "--init", &["persist"])?;
    only(o.state_dir.is_some(), "--state-dir", &["apply"])?;
    let diag = Diag::new(NAME).quiet(o.quiet);
    f(o, &diag)
}

/// The inventory read, the host chosen, its policy, and the header's source.
struct Loaded {
    file: String,
    sha256: String,
    policy: Policy,
}

fn load(o: &Opts, diag: &Diag) -> Result<Loaded, Error> {
    let path = o.inventory.as_deref().ok_or_else(|| {
        Error::usage("no inventory given (-i FILE)")
            .with_hint("Try 'genfw --help' for more information.")
    })?;
    let bytes = input::read_all(path)?;
    let file = input::display_name(path).to_string();
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::data(format!("{file}: not UTF-8 text (byte {})", e.valid_up_to())))?;
    let inv = inventory::parse(&file, text, o.inventory_format.flatten())?;
    if inv.hosts.is_empty() {
        return Err(Error::data(format!("{file}: no hosts in the inventory")));
    }
    for w in &inv.warnings {
        diag.warn(w);
    }
    let me = match &o.host {
        Some(h) if inv.resolve(h).is_some() => inv.resolve(h).unwrap_or(h).to_string(),
        Some(h) => match crate::addr::parse_net(h, false) {
            // an address names the host that has it
            Ok(a) => policy::find_self(&inv, &[a], o.allow_any)?,
            Err(_) => {
                return Err(Error::data(format!(
                    "{file}: no host '{h}' in the inventory"
                )));
            }
        },
        None => policy::find_self(&inv, &crate::local::addresses(), o.allow_any)?,
    };
    let extra = Extra {
        host: Some(me.clone()),
        mgmt: o.mgmt.clone(),
        public_tcp: o.public_tcp.clone(),
        public_udp: o.public_udp.clone(),
        trust_iface: o.trust_iface.clone(),
        allow_any: o.allow_any,
        log: o.log,
    };
    let policy = policy::build(&inv, &me, &extra, &mut |w| diag.warn(w))?;
    let sha256 = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Loaded {
        file,
        sha256,
        policy,
    })
}

/// The bundle for `l`; `existing` = ipsets already in the kernel (None: standalone).
fn bundle(o: &Opts, l: &Loaded, existing: Option<&[String]>) -> Bundle {
    let src = Source {
        inventory: &l.file,
        sha256: &l.sha256,
    };
    match o.format.unwrap_or(Backend::Nft) {
        Backend::Nft => Bundle::Nft(render::nft(&l.policy, &src)),
        Backend::Ipt => {
            let r = render::iptables(&l.policy, &src, existing);
            Bundle::Ipt {
                ipset: r.ipset,
                v4: r.v4,
                v6: r.v6,
            }
        }
    }
}

fn render_cmd(o: Opts, diag: &Diag) -> Result<ExitCode, Error> {
    let l = load(&o, diag)?;
    let b = bundle(&o, &l, None);
    match (&b, o.output.as_deref()) {
        (Bundle::Nft(text), out) => {
            let mut w = output::Output::create(out)?;
            w.write_all(text.as_bytes())
                .ctx_code(exit::CANTCREAT, out.unwrap_or("<stdout>"))?;
            w.commit()?;
        }
        (_, Some(dir)) if dir != "-" => ops::save(Path::new(dir), &b)?,
        (Bundle::Ipt { ipset, v4, v6 }, _) => {
            let mut w = output::stdout();
            for (name, text) in [("genfw.ipset", ipset), ("genfw.v4", v4), ("genfw.v6", v6)] {
                writeln!(w, "# ==> {name} <==")?;
                w.write_all(text.as_bytes())?;
            }
            w.flush()?;
        }
        (Bundle::IptRemove, _) => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn summary(p: &Policy) -> String {
    let v4 = p.peers.iter().filter(|n| n.is_v4()).count();
    format!(
        "host {}: {} peers ({} IPv4, {} IPv6), {} management networks",
        p.host,
        p.peers.len(),
        v4,
        p.peers.len() - v4,
        p.mgmt.len()
    )
}

fn check_cmd(o: Opts, diag: &Diag) -> Result<ExitCode, Error> {
    let l = load(&o, diag)?;
    let b = bundle(&o, &l, None);
    ops::trial(&b, false)?;
    let mut w = output::stdout();
    writeln!(
        w,
        "ok: {}; the kernel accepted the rules",
        summary(&l.policy)
    )?;
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn state_dir(s: &Option<String>) -> PathBuf {
    PathBuf::from(s.as_deref().unwrap_or(DEFAULT_STATE))
}

/// Whether a client at `ip` reaching local `port`/tcp gets through `p`.
pub fn accepts(p: &Policy, ip: &Net, port: u16) -> bool {
    let inside = |list: &[Net]| list.iter().any(|n| n.contains(ip));
    let in_ports = |ps: &[policy::Ports]| ps.iter().any(|r| r.0 <= port && port <= r.1);
    (port == p.ssh_port && inside(&p.mgmt))
        || (inside(&p.peers) && p.peer_tcp.as_deref().is_none_or(in_ports))
        || in_ports(&p.public_tcp)
}

fn lockout_check(p: &Policy) -> Result<(), Error> {
    let Ok(conn) = std::env::var("SSH_CONNECTION") else {
        return Ok(());
    };
    let w: Vec<&str> = conn.split_whitespace().collect();
    let (Some(ip), Some(port)) = (w.first(), w.get(3)) else {
        return Ok(());
    };
    let Ok(client) = crate::addr::parse_net(ip.trim_start_matches("::ffff:"), false)
        .or_else(|_| crate::addr::parse_net(ip, false))
    else {
        return Ok(());
    };
    let port: u16 = port.parse().unwrap_or(22);
    if accepts(p, &client, port) {
        return Ok(());
    }
    Err(Error::new(
        REFUSED,
        format!(
            "refusing to apply: this SSH session ({ip} to port {port}) would not be accepted by the new rules; add its network to genfw_mgmt"
        ),
    ))
}

fn apply_cmd(o: Opts, diag: &Diag) -> Result<ExitCode, Error> {
    let l = load(&o, diag)?;
    let backend = o.format.unwrap_or(Backend::Nft);
    if l.policy.peers.is_empty() && !o.allow_empty {
        return Err(Error::new(
            REFUSED,
            format!(
                "refusing to apply: the peer set of host {} is empty (--allow-empty if that is meant)",
                l.policy.host
            ),
        ));
    }
    lockout_check(&l.policy)?;
    let state = state_dir(&o.state_dir);
    if state.join("pending").exists() {
        return Err(Error::new(
            REFUSED,
            "refusing to apply: a guarded apply is pending; run 'genfw confirm' or 'genfw rollback' first",
        ));
    }
    warn_neighbours(diag);
    // the kernel's own reading of what we want, checked in a throwaway namespace first
    let want = ops::trial(&bundle(&o, &l, None), true)?;
    let live = ops::dump(backend)?;
    let mut w = output::stdout();
    if want == live {
        ops::save(&state.join("applied"), &bundle(&o, &l, None))?;
        writeln!(w, "unchanged: {}", summary(&l.policy))?;
        w.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let snap = ops::snapshot(backend)?;
    ops::save(&state.join("snapshot"), &snap)?;
    let existing = match backend {
        Backend::Ipt => Some(ops::existing_sets()?),
        Backend::Nft => None,
    };
    let b = bundle(&o, &l, existing.as_deref());
    if let Err(e) = ops::load(&b) {
        // nft loads are one transaction; the iptables side may be half done: put it back
        if backend == Backend::Ipt {
            let _ = ops::load(&snap);
        }
        return Err(e);
    }
    ops::save(&state.join("applied"), &bundle(&o, &l, None))?;
    writeln!(w, "applied: {}", summary(&l.policy))?;
    if let Some(secs) = o.confirm {
        let token = format!("{}.{}", std::process::id(), now_nanos());
        output::write_atomic(state.join("pending"), token.as_bytes())?;
        spawn_guard(&state, &token, secs)?;
        writeln!(
            w,
            "rollback guard: the previous rules come back in {secs} s unless 'genfw confirm' runs (from a new SSH connection)"
        )?;
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Our own program, called as the multiplexer so any install name works.
fn self_command() -> Result<std::process::Command, Error> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().ctx("cannot find the running program")?;
    let mut c = std::process::Command::new(exe);
    c.arg0("opsbox").arg(NAME);
    Ok(c)
}

/// Start the rollback guard: a new session, no terminal, SIGHUP ignored, stdio on
/// /dev/null, so it outlives the SSH session that started it.
fn spawn_guard(state: &Path, token: &str, secs: u64) -> Result<(), Error> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let mut c = self_command()?;
    c.arg("__guard")
        .arg(state)
        .arg(token)
        .arg(secs.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls (setsid, sigaction) between fork and exec.
    unsafe {
        c.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGHUP,
                nix::sys::signal::SigHandler::SigIgn,
            )
            .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = c.spawn().ctx("starting the rollback guard")?;
    output::write_atomic(state.join("guard.pid"), child.id().to_string().as_bytes())?;
    Ok(())
}

fn guard_cmd(args: &[String]) -> Result<ExitCode, Error> {
    let [state, token, secs] = args else {
        return Err(Error::usage("__guard STATE TOKEN SECONDS"));
    };
    let secs: u64 = secs
        .parse()
        .map_err(|_| Error::usage("__guard: bad SECONDS"))?;
    let state = PathBuf::from(state);
    std::thread::sleep(std::time::Duration::from_secs(secs));
    let pending = state.join("pending");
    if std::fs::read_to_string(&pending).ok().as_deref() != Some(token.as_str()) {
        return Ok(ExitCode::SUCCESS); // confirmed, rolled back, or superseded
    }
    // the rename decides between us and a confirm racing with us
    let taken = state.join("pending.guard");
    if std::fs::rename(&pending, &taken).is_err() {
        return Ok(ExitCode::SUCCESS);
    }
    let res = restore_snapshot(&state);
    let _ = std::fs::remove_file(&taken);
    let note = match &res {
        Ok(()) => "rolled back: not confirmed in time\n".to_string(),
        Err(e) => format!("rollback failed: {e}\n"),
    };
    let _ = output::write_atomic(state.join("guard.log"), note.as_bytes());
    res.map(|_| ExitCode::SUCCESS)
}

fn restore_snapshot(state: &Path) -> Result<(), Error> {
    match ops::restore_from(&state.join("snapshot"))? {
        Some(b) => ops::load(&b),
        None => Err(Error::noinput(format!(
            "{}: no snapshot to roll back to",
            state.join("snapshot").display()
        ))),
    }
}

fn confirm_cmd(o: StateOpts) -> Result<ExitCode, Error> {
    let state = state_dir(&o.state_dir);
    let mut w = output::stdout();
    match std::fs::remove_file(state.join("pending")) {
        Ok(()) => {
            if !o.quiet {
                writeln!(w, "confirmed: the new rules stay")?;
            }
            w.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !o.quiet {
                writeln!(
                    w,
                    "nothing to confirm (no guarded apply pending, or already rolled back)"
                )?;
            }
            w.flush()?;
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(Error::from_io(state.join("pending").display(), &e)),
    }
}

fn rollback_cmd(o: StateOpts) -> Result<ExitCode, Error> {
    let state = state_dir(&o.state_dir);
    restore_snapshot(&state)?;
    let _ = std::fs::remove_file(state.join("pending"));
    let mut w = output::stdout();
    if !o.quiet {
        writeln!(w, "rolled back to the rules from before the last apply")?;
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn diff_cmd(o: Opts, diag: &Diag) -> Result<ExitCode, Error> {
    let l = load(&o, diag)?;
    let backend = o.format.unwrap_or(Backend::Nft);
    let want = ops::trial(&bundle(&o, &l, None), true)?;
    let live = ops::dump(backend)?;
    let mut w = output::stdout();
    let (mut i, mut j) = (0, 0);
    let mut drift = false;
    // both sorted: a merge walk
    while i < want.len() || j < live.len() {
        match (want.get(i), live.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                writeln!(w, "+ {a}")?;
                i += 1;
                drift = true;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                writeln!(w, "- {b}")?;
                j += 1;
                drift = true;
            }
            (Some(a), None) => {
                writeln!(w, "+ {a}")?;
                i += 1;
                drift = true;
            }
            (None, None) => break,
        }
    }
    w.flush()?;
    if drift {
        if live.is_empty() {
            diag.note("drift: genfw's rules are not loaded");
        }
        Ok(ExitCode::from(1))
    } else {
        diag.note(format!("in sync: {}", summary(&l.policy)));
        Ok(ExitCode::SUCCESS)
    }
}

fn trial_cmd(args: &[String]) -> Result<ExitCode, Error> {
    let [dir, mode] = args else {
        return Err(Error::usage("__trial DIR load|dump"));
    };
    let b = ops::restore_from(Path::new(dir))?
        .ok_or_else(|| Error::noinput(format!("{dir}: empty")))?;
    ops::load(&b)?;
    if mode != "dump" {
        return Ok(ExitCode::SUCCESS);
    }
    let lines = ops::dump(b.backend())?;
    let mut w = output::stdout();
    for l in lines {
        writeln!(w, "{l}")?;
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(prog))
            .find(|f| f.is_file())
    })
}

fn tool_path(prog: &str) -> String {
    which(prog)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| format!("/usr/sbin/{prog}"))
}

fn persist_cmd(o: Opts, diag: &Diag) -> Result<ExitCode, Error> {
    let l = load(&o, diag)?;
    let root = PathBuf::from(o.root.as_deref().unwrap_or("/"));
    let b = bundle(&o, &l, None);
    // validate before installing anything that runs at boot
    ops::trial(&b, false)?;
    let conf = root.join("etc/genfw");
    ops::save(&conf, &b)?;
    let d = "/etc/genfw";
    let loads: Vec<String> = match &b {
        Bundle::Nft(_) => vec![format!("{} -f {d}/genfw.nft", tool_path("nft"))],
        _ => {
            let ipt = tool_path("iptables");
            let ip6t = tool_path("ip6tables");
            vec![
                format!("{} restore -f {d}/genfw.ipset", tool_path("ipset")),
                format!("{} --noflush {d}/genfw.v4", tool_path("iptables-restore")),
                format!("{} --noflush {d}/genfw.v6", tool_path("ip6tables-restore")),
                format!(
                    "/bin/sh -c '{ipt} -C INPUT -j GENFW-INPUT 2>/dev/null || {ipt} -I INPUT 1 -j GENFW-INPUT'"
                ),
                format!(
                    "/bin/sh -c '{ip6t} -C INPUT -j GENFW-INPUT 2>/dev/null || {ip6t} -I INPUT 1 -j GENFW-INPUT'"
                ),
            ]
        }
    };
    let kind = match o.init.as_deref().unwrap_or("auto") {
        "auto" if root.join("run/systemd/system").is_dir() => "systemd",
        "auto" if root.join("etc/network").is_dir() => "ifupdown",
        "auto" => {
            return Err(Error::unavailable(
                "neither systemd nor ifupdown found; choose with --init systemd|ifupdown",
            ));
        }
        k @ ("systemd" | "ifupdown") => k,
        k => {
            return Err(Error::usage(format!(
                "persist: --init '{k}': expected auto, systemd or ifupdown"
            )));
        }
    };
    let mut w = output::stdout();
    if kind == "systemd" {
        let unit_dir = root.join("etc/systemd/system");
        let mut unit = String::from(
            "# installed by genfw persist: loads only genfw's own rules, before the network\n[Unit]\nDescription=genfw firewall (table inet genfw / chain GENFW-INPUT)\nDefaultDependencies=no\nBefore=network-pre.target\nWants=network-pre.target\nAfter=local-fs.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n",
        );
        for l in &loads {
            unit.push_str(&format!("ExecStart={l}\n"));
        }
        unit.push_str("\n[Install]\nWantedBy=sysinit.target\n");
        std::fs::create_dir_all(unit_dir.join("sysinit.target.wants"))
            .ctx_code(exit::CANTCREAT, unit_dir.display())?;
        output::write_atomic(unit_dir.join("genfw.service"), unit.as_bytes())?;
        let link = unit_dir.join("sysinit.target.wants/genfw.service");
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink("../genfw.service", &link)
                .ctx_code(exit::CANTCREAT, link.display())?;
        }
        writeln!(
            w,
            "installed {} (enabled; loads {d} at boot)",
            unit_dir.join("genfw.service").display()
        )?;
    } else {
        let hook = root.join("etc/network/if-pre-up.d/genfw");
        let mut s = String::from(
            "#!/bin/sh\n# installed by genfw persist: loads only genfw's own rules (idempotent)\nset -e\n",
        );
        for l in &loads {
            s.push_str(l);
            s.push('\n');
        }
        std::fs::create_dir_all(root.join("etc/network/if-pre-up.d"))
            .ctx_code(exit::CANTCREAT, root.display())?;
        output::write_atomic(&hook, s.as_bytes())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
            .ctx_code(exit::CANTCREAT, hook.display())?;
        writeln!(
            w,
            "installed {} (loads {d} before interfaces come up)",
            hook.display()
        )?;
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Other firewall managers that fight over the same hooks.
fn warn_neighbours(diag: &Diag) {
    if std::fs::read_to_string("/etc/ufw/ufw.conf")
        .is_ok_and(|t| t.lines().any(|l| l.trim() == "ENABLED=yes"))
    {
        diag.warn("ufw is enabled: its rules and genfw's both apply (a packet must pass both)");
    }
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "firewalld")
            {
                diag.warn("firewalld is running: it may reload and drop genfw's rules");
                break;
            }
        }
    }
    let holds = |prog: &str| {
        ops::run(prog, &[], None).is_ok_and(|r| r.ok && r.out.lines().any(|l| l.starts_with("-A ")))
    };
    if which("iptables-legacy-save").is_some()
        && which("iptables-nft-save").is_some()
        && holds("iptables-legacy-save")
        && holds("iptables-nft-save")
    {
        diag.warn("both the legacy and the nft iptables backends hold rules: check which one your tools use");
    }
}
