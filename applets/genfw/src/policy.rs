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

/// One `genfw_allow` rule: these networks may reach these ports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allow {
    pub nets: Vec<Net>,
    pub tcp: Vec<Ports>,
    pub udp: Vec<Ports>,
}

/// What the command line adds to the inventory's variables.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    pub mgmt: Vec<String>,
    pub public_tcp: Vec<String>,
    pub public_udp: Vec<String>,
    pub trust_iface: Vec<String>,
    pub allow: Vec<String>,
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
    /// `genfw_allow`: networks reaching chosen ports, in the order written.
    pub allow: Vec<Allow>,
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
    "genfw_allow",
];

/// "unknown variable", with the nearest known name when one is close.
pub fn unknown_variable(k: &str) -> String {
    // near: at most two edits, and fewer than a third of the name after genfw_
    let tail = k.len().saturating_sub(6);
    let near = VARIABLES
        .iter()
        .map(|v| (strsim::damerau_levenshtein(k, v), *v))
        .min()
        .filter(|(d, _)| *d <= 2 && d * 3 <= tail);
    let k = opsbox_common::escape::quote(k);
    match near {
        Some((_, v)) => format!("unknown variable {k} (did you mean {v}?)"),
        None => format!(
            "unknown variable {k} (genfw reads: {})",
            VARIABLES.join(", ")
        ),
    }
}

/// `genfw_allow`: a list of words: networks, then the ports they may reach
/// (`tcp/8080,8443`, `udp/53`; a bare port takes the protocol named before it); the next
/// network after ports starts another rule.
pub fn parse_allow(items: &[String], allow_any: bool) -> Result<Vec<Allow>, String> {
    let mut out: Vec<Allow> = Vec::new();
    let mut cur = Allow::default();
    let mut proto: Option<Proto> = None;
    let finish = |cur: &mut Allow, out: &mut Vec<Allow>| -> Result<(), String> {
        if cur.nets.is_empty() {
            return Ok(());
        }
        if cur.tcp.is_empty() && cur.udp.is_empty() {
            return Err(format!(
                "{} names no ports (write NETWORK tcp/PORT,... or udp/PORT,...)",
                cur.nets[0]
            ));
        }
        let mut a = std::mem::take(cur);
        addr::merge(&mut a.nets);
        a.tcp = sorted(a.tcp);
        a.udp = sorted(a.udp);
        out.push(a);
        Ok(())
    };
    for w in items.iter().flat_map(|i| crate::inventory::split_value(i)) {
        let (p, spec) = match w.split_once('/') {
            Some(("tcp", r)) => (Some(Proto::Tcp), Some(r)),
            Some(("udp", r)) => (Some(Proto::Udp), Some(r)),
            _ if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
                (proto, Some(w.as_str()))
            }
            _ => (None, None),
        };
        match (p, spec) {
            (Some(p), Some(spec)) => {
                if cur.nets.is_empty() {
                    return Err(format!(
                        "{}: ports before any network",
                        opsbox_common::escape::quote(&w)
                    ));
                }
                let ports = parse_ports(spec)?;
                proto = Some(p);
                match p {
                    Proto::Tcp => cur.tcp.push(ports),
                    Proto::Udp => cur.udp.push(ports),
                }
            }
            (None, Some(_)) => {
                return Err(format!(
                    "{}: name the protocol (tcp/{w} or udp/{w})",
                    opsbox_common::escape::quote(&w)
                ));
            }
            _ => {
                if proto.is_some() {
                    finish(&mut cur, &mut out)?;
                    proto = None;
                }
                cur.nets.push(addr::parse_net(&w, allow_any)?);
            }
        }
    }
    finish(&mut cur, &mut out)?;
    Ok(out)
}

/// The addresses of a host: `ansible_host` (or its name, if that is an address) and
/// `genfw_addrs`.
pub fn host_addrs(inv: &Inventory, name: &str, allow_any: bool) -> Result<Vec<Net>, Error> {
    let mut out = Vec::new();
    host_addrs_into(inv, name, allow_any, &mut out)?;
    Ok(out)
}

/// [`host_addrs`] appended to `out` (no allocation per host when `out` has room).
pub fn host_addrs_into(
    inv: &Inventory,
    name: &str,
    allow_any: bool,
    out: &mut Vec<Net>,
) -> Result<(), Error> {
    host_addrs_with(inv, name, inv.hosts.get(name), allow_any, out)
}

/// [`host_addrs_into`] for a host already looked up.
fn host_addrs_with(
    inv: &Inventory,
    name: &str,
    host: Option<&crate::inventory::Host>,
    allow_any: bool,
    out: &mut Vec<Net>,
) -> Result<(), Error> {
    let line = host.map(|h| h.line).unwrap_or(0);
    match inv.var_with(name, host, "ansible_host") {
        Some(v) => {
            for w in &v.items {
                out.push(net_val(inv, v, w, allow_any)?);
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
                        "host {} has no ansible_host and its name is not an address (genfw does not resolve names)",
                        opsbox_common::escape::text(name)
                    ),
                ));
            }
        },
    }
    if let Some(v) = inv.var_with(name, host, "genfw_addrs") {
        for w in &v.items {
            out.push(net_val(inv, v, w, allow_any)?);
        }
    }
    Ok(())
}

fn net_val(inv: &Inventory, v: &Val, w: &str, allow_any: bool) -> Result<Net, Error> {
    addr::parse_net(w, allow_any).map_err(|m| inv.err_val(v, m))
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
        .map(|w| parse_ports(w).map_err(|m| inv.err_val(v, format!("{what}: {m}"))))
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

/// Build the policy of `me`. Warnings (merged duplicates and overlaps) go to `warn`;
/// errors are all listed (unknown variables, hosts without addresses), up to
/// [`crate::yaml::ERRORS_MAX`].
pub fn build(
    inv: &Inventory,
    me: &str,
    extra: &Extra,
    warn: &mut dyn FnMut(String),
) -> Result<Policy, Error> {
    let mut errs = crate::yaml::Errors::default();
    match build_with(inv, me, extra, warn, &mut errs) {
        Ok(p) => {
            errs.finish(&inv.file)?;
            Ok(p)
        }
        Err(e) => {
            errs.push(e);
            errs.finish(&inv.file).map(|_| Policy::default())
        }
    }
}

fn build_with(
    inv: &Inventory,
    me: &str,
    extra: &Extra,
    warn: &mut dyn FnMut(String),
    errs: &mut crate::yaml::Errors,
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
            errs.push(inv.err_val(v, unknown_variable(k)));
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
            p.mgmt.push(net_val(inv, v, w, allow_any)?);
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
            _ => return Err(inv.err_val(v, "genfw_ssh_port: one port")),
        }
    }
    if let Some(v) = vars.get("genfw_log") {
        p.log |= match v.items.first().map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("true" | "yes" | "1" | "on") => true,
            Some("false" | "no" | "0" | "off") | None => false,
            Some(o) => return Err(inv.err_val(v, format!("genfw_log: '{o}' is not a boolean"))),
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
                parse_ports(spec).map_err(|m| inv.err_val(v, format!("genfw_peer_ports: {m}")))?;
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
    if let Some(v) = vars.get("genfw_allow") {
        p.allow = parse_allow(&v.items, allow_any)
            .map_err(|m| inv.err_val(v, format!("genfw_allow: {m}")))?;
    }
    for w in &extra.allow {
        p.allow.extend(
            parse_allow(std::slice::from_ref(w), allow_any)
                .map_err(|m| Error::usage(format!("--allow: {m}")))?,
        );
    }
    let mut ifaces: BTreeSet<String> = BTreeSet::new();
    // commas only: quotes and spaces are part of the name (and refused)
    for w in extra.trust_iface.iter().flat_map(|w| w.split(',')) {
        let w = w.to_string();
        names::iface(&w).map_err(|m| Error::usage(format!("--trust-iface: {m}")))?;
        ifaces.insert(w);
    }
    if let Some(v) = vars.get("genfw_trust_iface") {
        for w in &v.items {
            names::iface(w).map_err(|m| inv.err_val(v, format!("genfw_trust_iface: {m}")))?;
            ifaces.insert(w.clone());
        }
    }
    p.trust_iface = ifaces.into_iter().collect();

    // peers: members of the peer groups, not this host
    let groups: Vec<String> = match vars.get("genfw_peer_groups") {
        Some(v) => {
            for g in &v.items {
                if g != "all" && !inv.groups.contains_key(g) {
                    return Err(inv.err_val(v, format!("genfw_peer_groups: no group '{g}'")));
                }
            }
            v.items.clone()
        }
        None => vec!["all".to_string()],
    };
    let mut picked = BTreeSet::new();
    // (name, host) pairs: no second lookup per member
    let members: Vec<(&str, Option<&crate::inventory::Host>)> = if groups.iter().any(|g| g == "all")
    {
        inv.hosts
            .iter()
            .map(|(k, h)| (k.as_str(), Some(h)))
            .collect()
    } else {
        for g in &groups {
            picked.extend(inv.members(g));
        }
        picked
            .iter()
            .map(|k| (k.as_str(), inv.hosts.get(k)))
            .collect()
    };
    let mine = host_addrs(inv, me, allow_any).unwrap_or_else(|e| {
        errs.push(e);
        Vec::new()
    });
    // every host without a usable address is listed, not only the first
    p.peers.reserve(members.len());
    let mut addrs = Vec::with_capacity(4);
    for (h, host) in members.into_iter().filter(|(h, _)| *h != me) {
        addrs.clear();
        match host_addrs_with(inv, h, host, allow_any, &mut addrs) {
            Ok(()) => p.peers.extend(addrs.iter().filter(|a| !mine.contains(a))),
            Err(e) => errs.push(e),
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

/// A transport protocol a rule names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// Which rule lets a new connection in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    Loopback,
    /// A management network, to the SSH port.
    Mgmt,
    Peer,
    /// The `genfw_allow` rule with this index.
    Allow(usize),
    Public,
    /// A trusted interface (the name as written, wildcard included).
    Trusted(String),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Loopback => f.write_str("loopback"),
            Why::Mgmt => f.write_str("management network to SSH"),
            Why::Peer => f.write_str("peer"),
            Why::Allow(i) => write!(f, "genfw_allow rule {}", i + 1),
            Why::Public => f.write_str("public port"),
            Why::Trusted(i) => write!(f, "trusted interface {i}"),
        }
    }
}

/// Whether an interface name matches a (validated) trusted name, `*` as a prefix wildcard.
pub fn iface_matches(pattern: &str, iface: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(stem) => iface.starts_with(stem),
        None => pattern == iface,
    }
}

impl Policy {
    /// The one model of admission: is a new connection (the first packet of it) from
    /// `src` (a host address), arriving on `iface`, to local `proto`/`port` let in, and by
    /// which rule? `None`: dropped. The rendered rules are this, in this order, for both
    /// backends (established traffic and ICMP aside); tests hold the kernel to it.
    pub fn admits(&self, src: &Net, iface: &str, proto: Proto, port: u16) -> Option<Why> {
        let inside = |list: &[Net]| list.iter().any(|n| n.contains(src));
        let in_ports = |ps: &[Ports]| ps.iter().any(|r| r.0 <= port && port <= r.1);
        if iface == "lo" {
            return Some(Why::Loopback);
        }
        if proto == Proto::Tcp && port == self.ssh_port && inside(&self.mgmt) {
            return Some(Why::Mgmt);
        }
        if inside(&self.peers) {
            let ports = match proto {
                Proto::Tcp => &self.peer_tcp,
                Proto::Udp => &self.peer_udp,
            };
            if ports.as_deref().is_none_or(in_ports) {
                return Some(Why::Peer);
            }
        }
        for (i, a) in self.allow.iter().enumerate() {
            let ports = match proto {
                Proto::Tcp => &a.tcp,
                Proto::Udp => &a.udp,
            };
            if inside(&a.nets) && in_ports(ports) {
                return Some(Why::Allow(i));
            }
        }
        let public = match proto {
            Proto::Tcp => &self.public_tcp,
            Proto::Udp => &self.public_udp,
        };
        if in_ports(public) {
            return Some(Why::Public);
        }
        self.trust_iface
            .iter()
            .find(|t| iface_matches(t, iface))
            .map(|t| Why::Trusted(t.clone()))
    }
}
