//! `genfw check` (one host, or `--all` of them), `genfw diff`, and the hidden `__trial`
//! that loads rules inside a throwaway namespace.

use crate::cli::{CheckOpts, DiffOpts};
use crate::load::{self, summary};
use crate::ops::{self, Backend};
use crate::policy;
use crate::state::State;
use opsbox_common::diag::Diag;
use opsbox_common::{Error, ExitCode, escape, exit, output};
use std::io::Write;
use std::path::Path;

pub(crate) fn check_cmd(o: CheckOpts, diag: &Diag) -> Result<ExitCode, Error> {
    let c = o.common();
    let backend = c.format.unwrap_or(Backend::Nft);
    if o.all {
        if c.host.is_some() {
            return Err(Error::usage("check: --all and --host exclude each other"));
        }
        return check_all(&o, backend, diag);
    }
    let l = load::load(&c, diag)?;
    let b = load::bundle(backend, &l.read, &l.policy, None);
    ops::trial(&b, false)?;
    let mut w = output::stdout();
    if o.json {
        let v = serde_json::json!({
            "host": l.policy.host,
            "ok": true,
            "peers": l.policy.peers.len(),
            "mgmt": l.policy.mgmt.len(),
        });
        writeln!(w, "{v}")?;
    } else {
        writeln!(
            w,
            "ok: {}; the kernel accepted the rules",
            summary(&l.policy)
        )?;
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Every host of the inventory: its policy built and its rules loaded in a namespace.
fn check_all(o: &CheckOpts, backend: Backend, diag: &Diag) -> Result<ExitCode, Error> {
    let c = o.common();
    let r = load::read(&c, diag)?;
    let extra = &c.extra;
    let mut results = Vec::new();
    for host in r.inv.hosts.keys() {
        // warnings (merged duplicates) are the same for every host: said once, by check
        let res = policy::build(&r.inv, host, extra, &mut |_| {}).and_then(|p| {
            ops::trial(&load::bundle(backend, &r, &p, None), false)?;
            Ok(p)
        });
        // several errors of one host: its listed lines go with it
        let listed = crate::yaml::take_listed();
        if res.as_ref().is_err_and(|e| e.code() == exit::UNAVAILABLE) {
            // no nft or no namespace: nothing else will work either
            return res.map(|_| ExitCode::SUCCESS);
        }
        results.push((host.clone(), res, listed));
    }
    let failed = results.iter().filter(|(_, r, _)| r.is_err()).count();
    let mut w = output::stdout();
    if o.json {
        let hosts: Vec<_> = results
            .iter()
            .map(|(h, r, listed)| match r {
                Ok(p) => serde_json::json!({
                    "host": h, "ok": true, "peers": p.peers.len(), "mgmt": p.mgmt.len(),
                }),
                Err(e) => serde_json::json!({
                    "host": h, "ok": false, "error": e.message().unwrap_or("failed"),
                    "errors": listed,
                }),
            })
            .collect();
        let v = serde_json::json!({
            "inventory": r.file,
            "sha256": r.sha256,
            "hosts": hosts,
            "ok": results.len() - failed,
            "failed": failed,
        });
        writeln!(w, "{v}")?;
    } else {
        for (h, res, listed) in &results {
            match res {
                Ok(p) => writeln!(w, "ok: {}", summary(p))?,
                Err(e) => {
                    writeln!(
                        w,
                        "FAILED: host {}: {}",
                        escape::text(h),
                        escape::text(e.message().unwrap_or("failed"))
                    )?;
                    for l in listed {
                        writeln!(w, "  {}", escape::text(l))?;
                    }
                }
            }
        }
        writeln!(
            w,
            "{} hosts: {} ok, {failed} failed",
            results.len(),
            results.len() - failed
        )?;
    }
    w.flush()?;
    Ok(if failed > 0 {
        ExitCode::from(exit::DATAERR)
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn diff_cmd(o: DiffOpts, diag: &Diag) -> Result<ExitCode, Error> {
    let c = o.common();
    let state = State::new(o.state_dir.as_deref());
    let backend = state.backend(c.format);
    let l = load::load(&c, diag)?;
    let want = ops::trial(&load::bundle(backend, &l.read, &l.policy, None), true)?;
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

pub(crate) fn trial_cmd(args: &[String]) -> Result<ExitCode, Error> {
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
