//! `genfw status`: what is loaded now, what the last apply recorded (backend, host,
//! inventory and its hash, when), and whether a rollback guard is pending with its time
//! left.

use crate::cli::StatusOpts;
use crate::ops;
use crate::state::{self, State, backend_name};
use opsbox_common::{Error, ExitCode, escape, output};
use std::io::Write;

pub(crate) fn status_cmd(o: StatusOpts) -> Result<ExitCode, Error> {
    let st = State::new(o.state_dir.as_deref());
    let rec = st.record();
    let backend = st.backend(None);
    let live = ops::dump(backend)?;
    let rules = live.iter().filter(|l| is_rule(l)).count();
    let elems = live.len() - rules;
    let pending = st.pending();
    let now = state::now();
    let guard_pid: Option<u32> = std::fs::read_to_string(st.path("guard.pid"))
        .ok()
        .and_then(|t| t.trim().parse().ok());
    let guard_alive =
        guard_pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
    let mut w = output::stdout();
    if o.json {
        let v = serde_json::json!({
            "backend": backend_name(backend),
            "loaded": !live.is_empty(),
            "rules": rules,
            "set_elements": elems,
            "last_apply": rec.as_ref().map(|r| serde_json::json!({
                "host": r.host,
                "inventory": r.inventory,
                "sha256": r.sha256,
                "applied_at": r.applied_at,
                "applied_utc": state::utc(r.applied_at),
            })),
            "guard": pending.as_ref().map(|p| serde_json::json!({
                "deadline": p.deadline,
                "deadline_utc": state::utc(p.deadline),
                "seconds_left": p.deadline.saturating_sub(now),
                "pid": guard_pid,
                "running": guard_alive,
            })),
        });
        writeln!(w, "{v}")?;
    } else {
        if live.is_empty() {
            writeln!(w, "loaded: nothing of genfw's ({})", backend_name(backend))?;
        } else {
            writeln!(
                w,
                "loaded: {} ({rules} rules, {elems} set elements)",
                backend_name(backend)
            )?;
        }
        match &rec {
            Some(r) => writeln!(
                w,
                "last apply: host {} at {} from {} (sha256 {})",
                escape::text(&r.host),
                state::utc(r.applied_at),
                escape::text(&r.inventory),
                r.sha256
            )?,
            None => writeln!(w, "last apply: none recorded in {}", st.dir.display())?,
        }
        match &pending {
            Some(p) => writeln!(
                w,
                "guard: pending, rollback at {} ({} s left){}; run 'genfw confirm' to keep the rules",
                state::utc(p.deadline),
                p.deadline.saturating_sub(now),
                if guard_alive {
                    ""
                } else {
                    ", BUT the guard process is not running"
                }
            )?,
            None => writeln!(w, "guard: none pending")?,
        }
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A dump line that is a rule (the others are set elements).
fn is_rule(l: &str) -> bool {
    l.starts_with("chain ") || l.starts_with("v4 ") || l.starts_with("v6 ")
}
