//! `genfw apply` and its safety nets: the lockout check (the SSH session this runs under,
//! judged by the policy's own admission model), the snapshot, the detached rollback
//! guard; `confirm` and `rollback`.

use crate::NAME;
use crate::cli::{ApplyOpts, StateOpts};
use crate::load::{self, summary};
use crate::lockout;
use crate::ops::{self, Backend};
use crate::policy::{Policy, Proto};
use crate::state::{self, Pending, Record, State, backend_name};
use opsbox_common::diag::Diag;
use opsbox_common::{Error, ExitCode, ResultExt, output};
use std::io::Write;
use std::path::PathBuf;

/// Exit code of a refused apply (lockout, empty peer set, pending guard).
pub(crate) const REFUSED: u8 = 2;
/// The guard `--force` starts when the session would be cut and no `--confirm` is given.
pub(crate) const FORCE_GUARD: u64 = 60;

/// Would the new rules let this SSH session's packets in? `Ok(None)`: yes, or no session;
/// `Ok(Some(why))`: it would be cut.
pub(crate) fn lockout_check(p: &Policy, s: &lockout::Session) -> Option<String> {
    let iface = s.iface.as_deref().unwrap_or("");
    match p.admits(&s.client_net(), iface, Proto::Tcp, s.local_port) {
        Some(_) => None,
        None => Some(format!(
            "this SSH session ({}) would be cut by the new rules of host {}",
            s.describe(),
            opsbox_common::escape::text(&p.host)
        )),
    }
}

pub(crate) fn apply_cmd(o: ApplyOpts, diag: &Diag) -> Result<ExitCode, Error> {
    let c = o.common();
    let l = load::load(&c, diag)?;
    let backend = c.format.unwrap_or(Backend::Nft);
    let state = State::new(o.state_dir.as_deref());
    let host = l.policy.host.clone();
    if l.policy.peers.is_empty() && !o.allow_empty {
        return Err(Error::new(
            REFUSED,
            format!(
                "refusing to apply: the peer set of host {} is empty (--allow-empty if that is meant)",
                opsbox_common::escape::text(&host)
            ),
        ));
    }
    let mut confirm = o.confirm;
    if let Some(s) = lockout::session()
        && let Some(why) = lockout_check(&l.policy, &s)
    {
        if !o.force {
            state.log(&format!("apply {host}: refused: {why}"));
            return Err(Error::new(
                REFUSED,
                format!("refusing to apply: {why}"),
            )
            .with_hint("Add the client's network to genfw_mgmt (or genfw_allow), or use --force: a rollback guard then restores the old rules unless 'genfw confirm' runs."));
        }
        diag.warn(format!("--force: {why}"));
        confirm.get_or_insert(FORCE_GUARD);
    }
    if state::exists(&state.path("pending")) {
        return Err(Error::new(
            REFUSED,
            "refusing to apply: a guarded apply is pending; run 'genfw confirm' or 'genfw rollback' first",
        ));
    }
    warn_neighbours(diag);
    // the kernel's own reading of what we want, checked in a throwaway namespace first
    let standalone = load::bundle(backend, &l.read, &l.policy, None);
    let want = ops::trial(&standalone, true)?;
    let live = ops::dump(backend)?;
    let record = Record {
        backend: Some(backend),
        host: host.clone(),
        inventory: inventory_path(&l.read.path),
        sha256: l.read.sha256.clone(),
        applied_at: state::now(),
    };
    let mut w = output::stdout();
    if want == live && confirm.is_none() {
        ops::save(&state.path("applied"), &standalone)?;
        state.save_record(&record)?;
        state.log(&format!(
            "apply {host}: unchanged ({})",
            backend_name(backend)
        ));
        writeln!(w, "unchanged: {}", summary(&l.policy))?;
        w.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let snap = ops::snapshot(backend)?;
    ops::save(&state.path("snapshot"), &snap)?;
    let existing = match backend {
        Backend::Ipt => Some(ops::existing_sets()?),
        Backend::Nft => None,
    };
    let b = load::bundle(backend, &l.read, &l.policy, existing.as_deref());
    if let Err(e) = ops::load(&b) {
        // nft loads are one transaction; the iptables side may be half done: put it back
        if backend == Backend::Ipt {
            let _ = ops::load(&snap);
        }
        state.log(&format!(
            "apply {host}: failed: {}",
            e.message().unwrap_or("")
        ));
        return Err(e);
    }
    ops::save(&state.path("applied"), &standalone)?;
    state.save_record(&record)?;
    writeln!(w, "applied: {}", summary(&l.policy))?;
    match confirm {
        Some(secs) => {
            let p = Pending {
                token: format!("{}.{}", std::process::id(), now_nanos()),
                deadline: state::now() + secs,
            };
            state.set_pending(&p)?;
            spawn_guard(&state.dir, &p.token, secs)?;
            state.log(&format!(
                "apply {host}: applied ({}), guard {secs} s, until {}",
                backend_name(backend),
                state::utc(p.deadline)
            ));
            writeln!(
                w,
                "rollback guard: the previous rules come back in {secs} s unless 'genfw confirm' runs (from a new SSH connection)"
            )?;
        }
        None => state.log(&format!(
            "apply {host}: applied ({})",
            backend_name(backend)
        )),
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The inventory as the state file remembers it: absolute when it is a file.
fn inventory_path(p: &str) -> String {
    if p == "-" {
        return "<stdin>".into();
    }
    std::path::absolute(p)
        .map(|a| a.display().to_string())
        .unwrap_or_else(|_| p.to_string())
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
fn spawn_guard(state: &std::path::Path, token: &str, secs: u64) -> Result<(), Error> {
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

pub(crate) fn guard_cmd(args: &[String]) -> Result<ExitCode, Error> {
    let [dir, token, secs] = args else {
        return Err(Error::usage("__guard STATE TOKEN SECONDS"));
    };
    let secs: u64 = secs
        .parse()
        .map_err(|_| Error::usage("__guard: bad SECONDS"))?;
    let state = State {
        dir: PathBuf::from(dir),
    };
    std::thread::sleep(std::time::Duration::from_secs(secs));
    if state.pending().map(|p| p.token).as_deref() != Some(token.as_str()) {
        return Ok(ExitCode::SUCCESS); // confirmed, rolled back, or superseded
    }
    // the rename decides between us and a confirm racing with us
    let taken = state.path("pending.guard");
    if std::fs::rename(state.path("pending"), &taken).is_err() {
        return Ok(ExitCode::SUCCESS);
    }
    let res = restore_snapshot(&state);
    let _ = std::fs::remove_file(&taken);
    let _ = std::fs::remove_file(state.path("guard.pid"));
    state.log(&match &res {
        Ok(()) => format!("guard: rolled back: not confirmed within {secs} s"),
        Err(e) => format!("guard: rollback FAILED: {}", e.message().unwrap_or("")),
    });
    res.map(|_| ExitCode::SUCCESS)
}

fn restore_snapshot(state: &State) -> Result<(), Error> {
    match ops::restore_from(&state.path("snapshot"))? {
        Some(b) => ops::load(&b),
        None => Err(Error::noinput(format!(
            "{}: no snapshot to roll back to",
            state.path("snapshot").display()
        ))),
    }
}

pub(crate) fn confirm_cmd(o: StateOpts) -> Result<ExitCode, Error> {
    let state = State::new(o.state_dir.as_deref());
    let mut w = output::stdout();
    match std::fs::remove_file(state.path("pending")) {
        Ok(()) => {
            let _ = std::fs::remove_file(state.path("guard.pid"));
            state.log("confirm: confirmed, the new rules stay");
            if !o.quiet {
                writeln!(w, "confirmed: the new rules stay")?;
            }
            w.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            state.log("confirm: nothing to confirm");
            if !o.quiet {
                writeln!(
                    w,
                    "nothing to confirm (no guarded apply pending, or already rolled back)"
                )?;
            }
            w.flush()?;
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(Error::from_io(state.path("pending").display(), &e)),
    }
}

pub(crate) fn rollback_cmd(o: StateOpts) -> Result<ExitCode, Error> {
    let state = State::new(o.state_dir.as_deref());
    if let Err(e) = restore_snapshot(&state) {
        state.log(&format!("rollback: FAILED: {}", e.message().unwrap_or("")));
        return Err(e);
    }
    let _ = std::fs::remove_file(state.path("pending"));
    state.log("rollback: rolled back by hand");
    let mut w = output::stdout();
    if !o.quiet {
        writeln!(w, "rolled back to the rules from before the last apply")?;
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
    if ops::which("iptables-legacy-save").is_some()
        && ops::which("iptables-nft-save").is_some()
        && holds("iptables-legacy-save")
        && holds("iptables-nft-save")
    {
        diag.warn("both the legacy and the nft iptables backends hold rules: check which one your tools use");
    }
}
