//! From an inventory and "which host am I" to the policy of that host: management
//! networks, peers, public ports, trusted interfaces.

use crate::addr::{self, Net};
use crate::inventory::{Inventory, Val, Vars};
use crate::names;
use opsbox_common::Error;
use std::collections::BTreeSet;

/// A port or port range, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ports(pub u16, pub u16);

impl std::fmt::Display for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == self.1 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{}-{}", self.0, self.1)
        }
    }
}

/// What the command line adds to the inventory's variables.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    pub host: Option<String>,
    pub mgmt: Vec<String>,
    pub public_tcp: Vec<String>,
    pub public_udp: Vec<String>,
    pub trust_iface: Vec<String>,
    pub allow_any: bool,
    pub log: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub host: String,
    pub mgmt: Vec<Net>,
    pub peers: Vec<Net>,
    pub public_tcp: Vec<Ports>,
    pub public_udp: Vec<Ports>,
    /// None: peers reach every port.
    pub peer_tcp: Option<Vec<Ports>>,
    pub peer_udp: Option<Vec<Ports>>,
    pub trust_iface: Vec<String>,
    pub ssh_port: u16,
    pub log: bool,
}

/// Every variable genfw reads (documented in genfw(8)).
pub const VARIABLES: &[&str] = &[
    "genfw_mgmt",
    "genfw_public_tcp",
    "genfw_public_udp",
    "genfw_peer_groups",
    "genfw_peer_ports",
    "genfw_trust_iface",
    "genfw_ssh_port",
    "genfw_log",
    "genfw_addrs",
];

/// The addresses of a host: `ansible_host` (or its name, if that is an address) and
/// `genfw_addrs`.
pub fn host_addrs(inv: &Inventory, name: &str, allow_any: bool) -> Result<Vec<Net>, Error> {
    let host = inv.hosts.get(name);
    let line = host.map(|h| h.line).unwrap_or(0);
    let mut out = Vec::new();
    match inv.var_with(name, host, "ansible_host") {
        Some(v) => {
            for w in &v.items {
                out.push(net(inv, v.line, w, allow_any)?);
            }
        }
        None => match addr::parse_net(name, allow_any) {
            Ok(n) => out.push(n),
            // a plain list names hosts by address: its mistakes are address mistakes
            Err(m) if inv.by_address || !m.contains("hostnames are not resolved") => {
                return Err(inv.err(line, m));
            }
            Err(_) => {
                return Err(inv.err(
                    line,
                    format!(
                        "host '{name}' has no address (hostnames are not resolved; set ansible_host=)"
                    ),
                ));
            }
        },
    }
    if let Some(v) = inv.var_with(name, host, "genfw_addrs") {
        for w in &v.items {
            out.push(net(inv, v.line, w, allow_any)?);
        }
    }
    Ok(out)
}

fn net(inv: &Inventory, line: u64, w: &str, allow_any: bool) -> Result<Net, Error> {
    addr::parse_net(w, allow_any).map_err(|m| inv.err(line, m))
}

/// Which host of the inventory has one of `local` as its address.
pub fn find_self(inv: &Inventory, local: &[Net], allow_any: bool) -> Result<String, Error> {
    let mut found = Vec::new();
    for name in inv.hosts.keys() {
        let addrs = host_addrs(inv, name, allow_any)?;
        if addrs.iter().any(|a| a.is_host() && local.contains(a)) {
            found.push(name.clone());
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::data(format!(
            "{}: no host of the inventory has a local address of this machine; name it with --host",
            inv.file
        ))),
        _ => Err(Error::data(format!(
            "{}: several hosts have local addresses of this machine ({}); name one with --host",
            inv.file,
            found.join(", ")
        ))),
    }
}

fn ports_of(inv: &Inventory, v: &Val, what: &str) -> Result<Vec<Ports>, Error> {
    v.items
        .iter()
        .map(|w| parse_ports(w).map_err(|m| inv.err(v.line, format!("{what}: {m}"))))
        .collect()
}

pub fn parse_ports(w: &str) -> Result<Ports, String> {
    let one = |s: &str| -> Result<u16, String> {
        match s.parse::<u16>() {
            Ok(p) if p > 0 && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
            _ => Err(format!(
                "'{w}' is not a port from 1 to 65535 (or a range A-B)"
            )),
        }
    };
    match w.split_once(['-', ':']) {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(format!("'{w}': range runs backwards"));
            }
            Ok(Ports(a, b))
        }
        None => one(w).map(|p| Ports(p, p)),
    }
}

fn sorted(mut v: Vec<Ports>) -> Vec<Ports> {
    v.sort();
    v.dedup();
    v
}

/// Build the policy of `me`. Warnings (merged duplicates and overlaps) go to `warn`.
pub fn build(
    inv: &Inventory,
    me: &str,
    extra: &Extra,
    warn: &mut dyn FnMut(String),
) -> Result<Policy, Error> {
    if !inv.hosts.contains_key(me) {
        return Err(Error::data(format!(
            "{}: no host '{me}' in the inventory",
            inv.file
        )));
    }
    let vars: Vars = inv.vars_of(me);
    for (k, v) in &vars {
        if k.starts_with("genfw_") && !VARIABLES.contains(&k.as_str()) {
            warn(format!(
                "{}:{}: unknown variable '{k}' ignored",
                inv.file, v.line
            ));
        }
    }
    let allow_any = extra.allow_any;
    let mut p = Policy {
        host: me.to_string(),
        ssh_port: 22,
        log: extra.log,
        ..Default::default()
    };
    if let Some(v) = vars.get("genfw_mgmt") {
        for w in &v.items {
            p.mgmt.push(net(inv, v.line, w, allow_any)?);
        }
    }
    for w in extra
        .mgmt
        .iter()
        .flat_map(|w| crate::inventory::split_value(w))
    {
        p.mgmt.push(
            addr::parse_net(&w, allow_any).map_err(|m| Error::usage(format!("--mgmt: {m}")))?,
        );
    }
    if p.mgmt.is_empty() {
        return Err(Error::data(format!(
            "{}: genfw_mgmt is not set for host '{me}': name the management/VPN networks allowed to SSH (or use --mgmt)",
            inv.file
        )));
    }
    for (key, list, cli) in [
        ("genfw_public_tcp", &mut p.public_tcp, &extra.public_tcp),
        ("genfw_public_udp", &mut p.public_udp, &extra.public_udp),
    ] {
        if let Some(v) = vars.get(key) {
            list.extend(ports_of(inv, v, key)?);
        }
        for w in cli {
            for w in crate::inventory::split_value(w) {
                list.push(parse_ports(&w).map_err(|m| {
                    Error::usage(format!("--{}: {m}", &key[6..].replace('_', "-")))
                })?);
            }
        }
        *list = sorted(std::mem::take(list));
    }
    if let Some(v) = vars.get("genfw_ssh_port") {
        let ps = ports_of(inv, v, "genfw_ssh_port")?;
        match ps.as_slice() {
            [Ports(a, b)] if a == b => p.ssh_port = *a,
            _ => return Err(inv.err(v.line, "genfw_ssh_port: one port")),
        }
    }
    if let Some(v) = vars.get("genfw_log") {
        p.log |= match v.items.first().map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("true" | "yes" | "1" | "on") => true,
            Some("false" | "no" | "0" | "off") | None => false,
            Some(o) => return Err(inv.err(v.line, format!("genfw_log: '{o}' is not a boolean"))),
        };
    }
    if let Some(v) = vars.get("genfw_peer_ports") {
        let (mut tcp, mut udp) = (Vec::new(), Vec::new());
        for w in &v.items {
            let (proto, spec) = match w.split_once('/') {
                Some((a, b)) if a == "tcp" || a == "udp" => (Some(a), b),
                Some((a, b)) if b == "tcp" || b == "udp" => (Some(b), a),
                _ => (None, w.as_str()),
            };
            let ports =
                parse_ports(spec).map_err(|m| inv.err(v.line, format!("genfw_peer_ports: {m}")))?;
            if proto != Some("udp") {
                tcp.push(ports);
            }
            if proto != Some("tcp") {
                udp.push(ports);
            }
        }
        p.peer_tcp = Some(sorted(tcp));
        p.peer_udp = Some(sorted(udp));
    }
    // the same rule for both sources: nothing unvalidated reaches a rule file
    let mut ifaces: BTreeSet<String> = BTreeSet::new();
    // commas only: quotes and spaces are part of the name (and refused)
    for w in extra.trust_iface.iter().flat_map(|w| w.split(',')) {
        let w = w.to_string();
        names::iface(&w).map_err(|m| Error::usage(format!("--trust-iface: {m}")))?;
        ifaces.insert(w);
    }
    if let Some(v) = vars.get("genfw_trust_iface") {
        for w in &v.items {
            names::iface(w).map_err(|m| inv.err(v.line, format!("genfw_trust_iface: {m}")))?;
            ifaces.insert(w.clone());
        }
    }
    p.trust_iface = ifaces.into_iter().collect();

    // peers: members of the peer groups, not this host
    let groups: Vec<String> = match vars.get("genfw_peer_groups") {
        Some(v) => {
            for g in &v.items {
                if g != "all" && !inv.groups.contains_key(g) {
                    return Err(inv.err(v.line, format!("genfw_peer_groups: no group '{g}'")));
                }
            }
            v.items.clone()
        }
        None => vec!["all".to_string()],
    };
    let mut picked = BTreeSet::new();
    let members: Vec<&str> = if groups.iter().any(|g| g == "all") {
        inv.hosts.keys().map(String::as_str).collect()
    } else {
        for g in &groups {
            picked.extend(inv.members(g));
        }
        picked.iter().map(String::as_str).collect()
    };
    let mine = host_addrs(inv, me, allow_any)?;
    for h in members.into_iter().filter(|h| *h != me) {
        for a in host_addrs(inv, h, allow_any)? {
            if !mine.contains(&a) {
                p.peers.push(a);
            }
        }
    }
    for (list, what) in [(&mut p.mgmt, "genfw_mgmt"), (&mut p.peers, "peers")] {
        let mut said = BTreeSet::new();
        for (gone, kept) in addr::merge(list) {
            if !said.insert(gone) {
                continue;
            }
            warn(if gone == kept {
                format!("{}: {what}: duplicate {gone} listed once", inv.file)
            } else {
                format!("{}: {what}: {gone} lies inside {kept}; merged", inv.file)
            });
        }
    }
    Ok(p)
}
