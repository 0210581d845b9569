//! `genfw persist`: the rules and a boot hook that loads only genfw's own rules, from
//! systemd (a oneshot unit before network-pre.target) or ifupdown (an if-pre-up.d script
//! that logs a failed load and never keeps an interface down). Everything is decided and
//! checked before the first file is written.

use crate::cli::PersistOpts;
use crate::load;
use crate::ops::{self, Bundle};
use crate::state::State;
use opsbox_common::diag::Diag;
use opsbox_common::{Error, ExitCode, ResultExt, exit, output};
use std::io::Write;
use std::path::{Path, PathBuf};

fn tool_path(prog: &str) -> String {
    ops::which(prog)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| format!("/usr/sbin/{prog}"))
}

/// The commands that load the persisted rules (the iptables jump added when missing).
fn loads(b: &Bundle, d: &str) -> Vec<String> {
    match b {
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
    }
}

/// The ifupdown hook: each load runs on its own; a failure is logged (syslog through
/// logger, and stderr) and the hook still exits 0, so the interface comes up.
pub(crate) fn ifupdown_hook(loads: &[String]) -> String {
    let mut s = String::from(
        "#!/bin/sh\n# installed by genfw persist: loads only genfw's own rules (idempotent).\n# Never fails: a failed load is logged and the interface still comes up.\n",
    );
    for l in loads {
        s.push_str(&format!(
            "{l} || {{ msg=\"genfw: boot load failed (exit $?): {}\"; echo \"$msg\" >&2; logger -t genfw \"$msg\" 2>/dev/null; }}\n",
            l.replace(['"', '$', '`', '\\'], "_")
        ));
    }
    s.push_str("exit 0\n");
    s
}

pub(crate) fn persist_cmd(o: PersistOpts, diag: &Diag) -> Result<ExitCode, Error> {
    let c = o.common();
    let state = State::new(o.state_dir.as_deref());
    let backend = state.backend(c.format);
    let root = PathBuf::from(o.root.as_deref().unwrap_or("/"));
    // decide everything before writing anything
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
                "persist: --init {}: expected auto, systemd or ifupdown",
                opsbox_common::escape::quote(k)
            )));
        }
    };
    let l = load::load(&c, diag)?;
    let b = load::bundle(backend, &l.read, &l.policy, None);
    // validate before installing anything that runs at boot
    ops::trial(&b, false)?;
    let d = "/etc/genfw";
    let loads = loads(&b, d);
    let (hook_dir, hook_name, hook, mode) = if kind == "systemd" {
        let mut unit = String::from(
            "# installed by genfw persist: loads only genfw's own rules, before the network\n[Unit]\nDescription=genfw firewall (table inet genfw / chain GENFW-INPUT)\nDefaultDependencies=no\nBefore=network-pre.target\nWants=network-pre.target\nAfter=local-fs.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n",
        );
        for l in &loads {
            unit.push_str(&format!("ExecStart={l}\n"));
        }
        unit.push_str("\n[Install]\nWantedBy=sysinit.target\n");
        (
            root.join("etc/systemd/system"),
            "genfw.service",
            unit,
            0o644,
        )
    } else {
        (
            root.join("etc/network/if-pre-up.d"),
            "genfw",
            ifupdown_hook(&loads),
            0o755,
        )
    };
    let conf = root.join("etc/genfw");
    for dir in [&conf, &hook_dir] {
        std::fs::create_dir_all(dir).ctx_code(exit::CANTCREAT, dir.display())?;
    }
    if kind == "systemd" {
        let wants = hook_dir.join("sysinit.target.wants");
        std::fs::create_dir_all(&wants).ctx_code(exit::CANTCREAT, wants.display())?;
    }
    // the rules first, then the hook that loads them: a hook never points at nothing
    ops::save(&conf, &b)?;
    let hook_path = hook_dir.join(hook_name);
    write_mode(&hook_path, hook.as_bytes(), mode)?;
    let mut w = output::stdout();
    if kind == "systemd" {
        let link = hook_dir.join("sysinit.target.wants/genfw.service");
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink("../genfw.service", &link)
                .ctx_code(exit::CANTCREAT, link.display())?;
        }
        writeln!(
            w,
            "installed {} (enabled; loads {d} at boot)",
            hook_path.display()
        )?;
    } else {
        writeln!(
            w,
            "installed {} (loads {d} before interfaces come up)",
            hook_path.display()
        )?;
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// An atomic write, then the file mode.
fn write_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    output::write_atomic(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .ctx_code(exit::CANTCREAT, path.display())
}
