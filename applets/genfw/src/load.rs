//! From the command line's options to a host's policy and its rule files: reading the
//! inventory, finding the host, building the policy, rendering the bundle; and
//! `genfw render`, which prints it.

use crate::cli::{Common, RenderOpts};
use crate::inventory::{self, Inventory};
use crate::ops::{self, Backend, Bundle};
use crate::policy::{self, Policy};
use crate::render::{self, Source};
use opsbox_common::diag::Diag;
use opsbox_common::{Error, ExitCode, ResultExt, exit, input, output};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// An inventory read, with what the rule headers say about it.
pub(crate) struct Read {
    pub file: String,
    /// The path as given (for the state file), `-` for stdin.
    pub path: String,
    pub sha256: String,
    pub inv: Inventory,
}

/// The inventory read, the host chosen, its policy.
pub(crate) struct Loaded {
    pub read: Read,
    pub policy: Policy,
}

pub(crate) fn read(c: &Common, diag: &Diag) -> Result<Read, Error> {
    let path = c.inventory.as_deref().ok_or_else(|| {
        Error::usage("no inventory given (-i FILE)")
            .with_hint("Try 'genfw --help' for more information.")
    })?;
    let file = input::display_name(path).to_string();
    let (inv, sha256) = inventory::load(path, &file, c.inventory_format)?;
    if inv.hosts.is_empty() {
        return Err(Error::data(format!("{file}: no hosts in the inventory")));
    }
    for w in &inv.warnings {
        diag.warn(w);
    }
    let sha256 = Sha256::digest(&sha256)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Read {
        file,
        path: path.to_string(),
        sha256,
        inv,
    })
}

/// The inventory name of the host these options select.
pub(crate) fn which_host(c: &Common, r: &Read) -> Result<String, Error> {
    let inv = &r.inv;
    Ok(match &c.host {
        Some(h) => match inv.resolve(h) {
            Some(name) => name.to_string(),
            None => match crate::addr::parse_net(h, false) {
                // an address names the host that has it
                Ok(a) => policy::find_self(inv, &[a], c.extra.allow_any)?,
                Err(_) => {
                    return Err(Error::data(format!(
                        "{}: no host {} in the inventory",
                        r.file,
                        opsbox_common::escape::quote(h)
                    )));
                }
            },
        },
        None => policy::find_self(inv, &crate::local::addresses(), c.extra.allow_any)?,
    })
}

pub(crate) fn load(c: &Common, diag: &Diag) -> Result<Loaded, Error> {
    let read = read(c, diag)?;
    let me = which_host(c, &read)?;
    let policy = policy::build(&read.inv, &me, &c.extra, &mut |w| diag.warn(w))?;
    Ok(Loaded { read, policy })
}

/// The bundle for `l` in `backend`; `existing` = ipsets already in the kernel (None:
/// standalone files).
pub(crate) fn bundle(
    backend: Backend,
    read: &Read,
    p: &Policy,
    existing: Option<&[String]>,
) -> Bundle {
    let src = Source {
        inventory: &read.file,
        sha256: &read.sha256,
    };
    match backend {
        Backend::Nft => Bundle::Nft(render::nft(p, &src)),
        Backend::Ipt => {
            let r = render::iptables(p, &src, existing);
            Bundle::Ipt {
                ipset: r.ipset,
                v4: r.v4,
                v6: r.v6,
            }
        }
    }
}

pub(crate) fn summary(p: &Policy) -> String {
    let v4 = p.peers.iter().filter(|n| n.is_v4()).count();
    format!(
        "host {}: {} peers ({} IPv4, {} IPv6), {} management networks",
        opsbox_common::escape::text(&p.host),
        p.peers.len(),
        v4,
        p.peers.len() - v4,
        p.mgmt.len()
    )
}

pub(crate) fn render_cmd(o: RenderOpts, diag: &Diag) -> Result<ExitCode, Error> {
    let c = o.common();
    let l = load(&c, diag)?;
    let b = bundle(c.format.unwrap_or(Backend::Nft), &l.read, &l.policy, None);
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
