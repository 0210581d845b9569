//! Records → RRsets the way Route 53 holds them, and the pre-flight checks of every rule the
//! API enforces. In the default mode a problem is fatal (all are listed); `--lenient` drops
//! what Route 53 cannot hold and reports each drop.

use crate::name::Name;
use crate::parser::{Data, Problem, Record};
use crate::rtype::{Class, RType};
use opsbox_common::escape;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Route 53's limits.
pub const MAX_VALUES: usize = 400;
pub const MAX_TXT_VALUE: usize = 4000;
pub const RRSET_QUOTA: usize = 10_000;

/// An alias target as Route 53 takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTarget {
    pub zone_id: String,
    pub dns_name: String,
    pub evaluate: bool,
}

/// One RRset: (name, type, set identifier) with a TTL and values (Route 53 text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRset {
    pub name: Name,
    pub rtype: RType,
    pub ttl: u32,
    pub values: Vec<String>,
    pub alias: Option<Box<AliasTarget>>,
    /// Routing fields (`SetIdentifier`, `Weight`, `GeoLocation`, …), Route 53's names.
    pub routing: Option<Map<String, Value>>,
    pub file: u32,
    pub line: u32,
    pub col: u32,
}

impl RRset {
    pub fn set_id(&self) -> Option<&str> {
        self.routing.as_ref()?.get("SetIdentifier")?.as_str()
    }
    pub fn key(&self) -> (Name, u16, Option<String>) {
        (
            self.name.clone(),
            self.rtype.code,
            self.set_id().map(str::to_string),
        )
    }
    /// Same content: TTL (not for aliases), value set, alias, routing.
    pub fn same(&self, o: &RRset) -> bool {
        let mut a = self.values.clone();
        let mut b = o.values.clone();
        a.sort();
        b.sort();
        a == b
            && self.alias == o.alias
            && self.routing == o.routing
            && (self.alias.is_some() || self.ttl == o.ttl)
    }
    pub fn label(&self) -> String {
        match self.set_id() {
            Some(id) => format!("{} {} ({id})", self.name.to_r53(), self.rtype.name()),
            None => format!("{} {}", self.name.to_r53(), self.rtype.name()),
        }
    }
    /// The number of ResourceRecord elements and Value characters.
    pub fn cost(&self) -> (usize, usize) {
        if self.alias.is_some() {
            return (1, 0);
        }
        (
            self.values.len(),
            self.values.iter().map(|v| v.chars().count()).sum(),
        )
    }
}

/// Conversion settings.
#[derive(Debug, Clone, Default)]
pub struct BuildOpts {
    pub lenient: bool,
    pub with_soa: bool,
    pub with_apex_ns: bool,
    /// Replaces cli53's `$self` in alias targets.
    pub zone_id: Option<String>,
}

/// The result: RRsets in canonical order, plus what was dropped and what is wrong.
#[derive(Debug, Default)]
pub struct Zone {
    pub apex: Option<Name>,
    pub rrsets: Vec<RRset>,
    /// Fatal problems (default mode).
    pub problems: Vec<Problem>,
    /// Drops in lenient mode (`FILE:LINE: what and why`).
    pub dropped: Vec<Problem>,
    /// What lenient mode changed instead of dropping (TTL 1).
    pub fixed: Vec<Problem>,
    pub warnings: Vec<Problem>,
    /// Warnings past [`crate::parser::MAX_WARNINGS`], counted only.
    pub warnings_over: usize,
}

impl Zone {
    fn issue(&mut self, lenient: bool, (file, line, col): (usize, u32, u32), msg: String) {
        let p = Problem {
            file,
            line,
            col,
            msg,
        };
        if lenient {
            self.dropped.push(p);
        } else {
            self.problems.push(p);
        }
    }
    fn warn(&mut self, (file, line, col): (usize, u32, u32), msg: String) {
        if self.warnings.len() >= crate::parser::MAX_WARNINGS {
            self.warnings_over += 1;
            return;
        }
        self.warnings.push(Problem {
            file,
            line,
            col,
            msg,
        });
    }
}

/// A name that looks like a fully qualified name missing its trailing dot: its text ends
/// with the zone's name (`www.example.com` in `example.com.`).
fn looks_fqdn(text: &str, apex: &Name) -> bool {
    let a = apex.render(crate::name::Escapes::Decimal, None);
    let a = a.trim_end_matches('.');
    let t = text.to_ascii_lowercase();
    !a.is_empty() && (t == a || t.ends_with(&format!(".{a}")))
}

/// A provider export's placeholder name server (`REPLACE&ME$WITH^YOUR@NAMESERVER.`):
/// "replace", or special characters (octal-escaped) in the target.
fn placeholder(r: &Record) -> bool {
    match &r.data {
        Data::Value(v) => v.contains("replace") || v.contains('\\'),
        _ => false,
    }
}

/// A name shown in Route 53's form, rendered only when a message needs it.
struct Show<'a>(&'a Name);

impl std::fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::name::R53(self.0).fmt(f)
    }
}

/// Builds RRsets record by record, while the parser reads (records are not kept).
/// Until the apex is known (`--origin`, else the first SOA's owner, else the first
/// `$ORIGIN` at the end) records wait.
pub struct Builder {
    z: Zone,
    o: BuildOpts,
    apex: Option<Name>,
    pending: Vec<Record>,
    /// (name, type, set id) → RRset, by a 64-bit hash; the rare different keys with the
    /// same hash go to `overflow`.
    index: HashMap<u64, u32>,
    overflow: HashMap<(Name, u16, Option<String>), usize>,
    sets: Vec<RRset>,
    /// value sets of large RRsets, for folding duplicates without a quadratic scan
    big: HashMap<usize, std::collections::HashSet<String>>,
}

impl crate::parser::Sink for Builder {
    fn record(&mut self, r: Record) {
        self.add(r);
    }
}

impl Builder {
    pub fn new(apex: Option<Name>, o: &BuildOpts) -> Builder {
        Builder {
            z: Zone::default(),
            o: o.clone(),
            apex,
            pending: Vec::new(),
            index: HashMap::new(),
            overflow: HashMap::new(),
            sets: Vec::new(),
            big: HashMap::new(),
        }
    }

    pub fn add(&mut self, r: Record) {
        if self.apex.is_none() {
            if r.rtype.code == 6 && matches!(r.data, Data::Value(_)) {
                self.apex = Some(r.owner.clone());
                for p in std::mem::take(&mut self.pending) {
                    self.add_one(p);
                }
            } else {
                self.pending.push(r);
                return;
            }
        }
        self.add_one(r);
    }

    /// All records are in: `origin` (the first `$ORIGIN`) is the apex if none is known yet.
    pub fn finish(mut self, origin: Option<Name>) -> Zone {
        if self.apex.is_none() {
            self.apex = origin;
        }
        for p in std::mem::take(&mut self.pending) {
            self.add_one(p);
        }
        let Builder {
            mut z,
            o,
            apex,
            sets,
            index,
            overflow,
            big,
            ..
        } = self;
        drop((index, overflow, big));
        z.apex = apex.clone();
        validate(&mut z, sets, apex.as_ref(), o.lenient);
        z
    }

    fn add_one(&mut self, mut r: Record) {
        let (f, l) = (r.file, r.line);
        let at = (f, l, r.col);
        let owner = Show(&r.owner);
        let tname: std::borrow::Cow<'static, str> = match &r.data {
            Data::Unsupported(t) => std::borrow::Cow::Owned(t.clone()),
            _ => r.rtype.name(),
        };
        if let Class::Other(_) = r.class {
            self.z.issue(
                self.o.lenient,
                at,
                format!(
                    "{owner} {tname}: class {}: Route 53 holds only IN",
                    r.class.show()
                ),
            );
            return;
        }
        let at_apex = self.apex.as_ref() == Some(&r.owner);
        if let Some(a) = &self.apex
            && !r.owner.is_under(a)
        {
            self.z.issue(
                self.o.lenient,
                at,
                format!("{owner} {tname}: outside the zone {}", a.to_r53()),
            );
            return;
        }
        if let Data::Unsupported(t) = &r.data {
            {
                let why = match t.as_str() {
                "ALIAS" => "PowerDNS's ALIAS is not a DNS type (a Route 53 alias record is its equivalent)".to_string(),
                "DNSKEY" | "RRSIG" | "NSEC" | "NSEC3" | "NSEC3PARAM" | "CDS" | "CDNSKEY" => {
                    format!("type {t}: Route 53 does not hold it (it signs the zone itself)")
                }
                _ if RType::parse(t).is_some() => format!("type {t}: Route 53 does not hold it"),
                _ => format!("unknown type {t}"),
            };
                self.z.issue(self.o.lenient, at, format!("{owner}: {why}"));
                return;
            }
        }
        let t: &str = &tname;
        if t == "SOA" {
            if !at_apex {
                self.z.issue(
                    self.o.lenient,
                    at,
                    format!("{owner} SOA: an SOA is only at the zone apex"),
                );
                return;
            }
            if !self.o.with_soa {
                return;
            }
        }
        if t == "NS" && at_apex && !self.o.with_apex_ns {
            return;
        }
        if t == "NS" && placeholder(&r) {
            self.z.issue(
                self.o.lenient,
                at,
                format!("{owner} NS: a placeholder name server (provider export), not a real one"),
            );
            return;
        }
        if let Some(a) = &self.apex
            && let Some((bad, became)) = r.relative_targets.iter().find(|x| looks_fqdn(&x.0, a))
        {
            let bad = escape::quote(bad);
            self.z.issue(
                self.o.lenient,
                at,
                format!("{owner} {t}: target {bad} has no trailing dot, so it means {became}; add the dot"),
            );
            return;
        }
        // `web.example.net` in example.com.: the classic mistake, but it may be meant
        for (text, became) in &r.relative_targets {
            let text = escape::quote(text);
            self.z.warn(
                at,
                format!("{owner} {t}: target {text} has no trailing dot, so it means {became}; if it is a name outside the zone, end it with a dot"),
            );
        }
        let mut ttl = r.ttl;
        if ttl == 1 {
            if self.o.lenient {
                ttl = 300;
                self.z.fixed.push(Problem {
                    file: f,
                    line: l,
                    col: r.col,
                    msg: format!("{owner} {t}: TTL 1 (a provider's \"automatic\") set to 300"),
                });
            } else {
                self.z.warn(
                    at,
                    format!("{owner} {t}: TTL 1 (Cloudflare's \"automatic\"?); --lenient sets 300"),
                );
            }
        }
        let data = std::mem::replace(&mut r.data, Data::Unsupported(String::new()));
        let (value, alias) = match data {
            Data::Value(v) => (Some(v), None),
            Data::Alias(a) => {
                let zone_id = if a.zone_id == "$self" {
                    match &self.o.zone_id {
                        Some(id) => id.clone(),
                        None => {
                            self.z.issue(
                                self.o.lenient,
                                at,
                                format!("{owner} {t}: alias to $self needs --zone-id"),
                            );
                            return;
                        }
                    }
                } else {
                    a.zone_id.clone()
                };
                (
                    None,
                    Some(Box::new(AliasTarget {
                        zone_id,
                        dns_name: a.target.to_r53(),
                        evaluate: a.evaluate,
                    })),
                )
            }
            _ => return,
        };
        let set_id = r
            .routing
            .as_ref()
            .and_then(|m| m.get("SetIdentifier"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let code = r.rtype.code;
        let h = {
            use std::hash::{Hash, Hasher};
            let mut hs = std::collections::hash_map::DefaultHasher::new();
            (&r.owner, code, &set_id).hash(&mut hs);
            hs.finish()
        };
        let found = match self.index.get(&h) {
            Some(&i) => {
                let s = &self.sets[i as usize];
                if s.name == r.owner && s.rtype.code == code && s.set_id() == set_id.as_deref() {
                    Some(i as usize)
                } else {
                    self.overflow
                        .get(&(r.owner.clone(), code, set_id.clone()))
                        .copied()
                }
            }
            None => None,
        };
        match found {
            Some(i) => {
                let s = &mut self.sets[i];
                if s.alias.is_some() || alias.is_some() {
                    let label = s.label();
                    self.z.issue(
                        self.o.lenient,
                        at,
                        format!("{label}: an alias record and other records of the same type"),
                    );
                    return;
                }
                if s.ttl != ttl {
                    let (first, label) = (s.ttl, s.label());
                    self.z.warn(at, format!("{label}: TTL {ttl} differs from the RRset's first TTL {first}; using {first}"));
                }
                let s = &mut self.sets[i];
                if let Some(v) = value {
                    if s.values.len() < 32 {
                        if !s.values.contains(&v) {
                            s.values.push(v);
                        }
                    } else {
                        let seen = self
                            .big
                            .entry(i)
                            .or_insert_with(|| s.values.iter().cloned().collect());
                        if seen.insert(v.clone()) {
                            s.values.push(v);
                        }
                    }
                }
            }
            None => {
                let at = self.sets.len();
                match self.index.entry(h) {
                    std::collections::hash_map::Entry::Occupied(_) => {
                        self.overflow.insert((r.owner.clone(), code, set_id), at);
                    }
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(at as u32);
                    }
                }
                self.sets.push(RRset {
                    name: r.owner,
                    rtype: r.rtype,
                    ttl,
                    values: value.into_iter().collect(),
                    alias,
                    routing: r.routing.map(|b| *b),
                    file: f as u32,
                    line: l,
                    col: r.col,
                });
            }
        }
    }
}

/// Build the zone from parsed records, the apex given.
pub fn build(records: Vec<Record>, apex: Option<Name>, o: &BuildOpts) -> Zone {
    let fixed = apex.is_some();
    let mut b = Builder::new(apex, o);
    for r in records {
        if fixed {
            b.add_one(r);
        } else {
            b.pending.push(r);
        }
    }
    b.finish(None)
}

/// What Route 53 refuses about one RRset, given the types at its name.
fn refusal(s: &RRset, types: &[u16], apex: Option<&Name>) -> Option<String> {
    let t = s.rtype.name();
    let why = if t == "CNAME" && apex == Some(&s.name) {
        "a CNAME cannot be at the zone apex".to_string()
    } else if t == "CNAME" && s.values.len() > 1 {
        format!("a CNAME has one value, not {}", s.values.len())
    } else if t == "CNAME" && types.iter().any(|&c| c != s.rtype.code) {
        "a CNAME cannot share its name with other records".to_string()
    } else if t == "DS" && (apex == Some(&s.name) || !types.contains(&2)) {
        "DS only at a delegation (a name below the apex with NS records)".to_string()
    } else if s.values.len() > MAX_VALUES {
        format!(
            "{} values (Route 53 holds at most {MAX_VALUES})",
            s.values.len()
        )
    } else if let Some(n) = (t == "TXT" || t == "SPF")
        .then(|| s.values.iter().map(|v| v.chars().count()).max())
        .flatten()
        .filter(|n| *n > MAX_TXT_VALUE)
    {
        format!("a value of {n} characters (Route 53 takes at most {MAX_TXT_VALUE})")
    } else {
        return None;
    };
    Some(format!("{}: {why}", s.label()))
}

/// RFC 9460 2.4.2 on an SVCB/HTTPS RRset: one AliasMode record, not mixed with ServiceMode
/// records (which recipients then ignore). SHOULDs: a warning.
fn svcb_rrset_note(s: &RRset) -> Option<String> {
    if !matches!(s.rtype.code, 64 | 65) {
        return None;
    }
    let alias = s.values.iter().filter(|v| v.starts_with("0 ")).count();
    let service = s.values.len() - alias;
    if alias > 1 {
        Some(format!(
            "{}: {alias} AliasMode records; an RRset SHOULD have only one (RFC 9460 2.4.2)",
            s.label()
        ))
    } else if alias == 1 && service > 0 {
        Some(format!(
            "{}: AliasMode and ServiceMode records together; recipients ignore the {service} ServiceMode one(s) (RFC 9460 2.4.2)",
            s.label()
        ))
    } else {
        None
    }
}

fn validate(z: &mut Zone, mut sets: Vec<RRset>, apex: Option<&Name>, lenient: bool) {
    sort_canonical(&mut sets);
    // the RRsets of one name are adjacent now: judge each with the types at its name
    let mut verdicts: Vec<Option<String>> = Vec::with_capacity(sets.len());
    let mut types: Vec<u16> = Vec::new();
    let mut i = 0;
    while i < sets.len() {
        let mut j = i + 1;
        while j < sets.len() && sets[j].name == sets[i].name {
            j += 1;
        }
        types.clear();
        types.extend(sets[i..j].iter().map(|s| s.rtype.code));
        verdicts.extend(sets[i..j].iter().map(|s| refusal(s, &types, apex)));
        i = j;
    }
    for (s, v) in sets.iter().zip(&verdicts) {
        if let Some(m) = v {
            z.issue(lenient, (s.file as usize, s.line, s.col), m.clone());
        } else if let Some(w) = svcb_rrset_note(s) {
            z.warn((s.file as usize, s.line, s.col), w);
        }
    }
    let mut k = 0;
    sets.retain(|_| {
        k += 1;
        verdicts[k - 1].is_none()
    });
    let keep = sets;
    if keep.len() > RRSET_QUOTA {
        let msg = format!(
            "{} RRsets: above Route 53's default quota of {RRSET_QUOTA} per hosted zone",
            keep.len()
        );
        z.warn((0, 0, 0), msg);
    }
    z.rrsets = keep;
}

/// Sort RRsets in canonical order: keys computed once into one buffer, indices sorted,
/// then the RRsets permuted in place (no second vector of RRsets).
fn sort_canonical(sets: &mut [RRset]) {
    let mut arena: Vec<u8> = Vec::with_capacity(sets.len() * 24);
    let mut at: Vec<u32> = Vec::with_capacity(sets.len() + 1);
    for s in sets.iter() {
        at.push(arena.len() as u32);
        s.name.canonical_key(&mut arena);
    }
    at.push(arena.len() as u32);
    let key = |i: u32| &arena[at[i as usize] as usize..at[i as usize + 1] as usize];
    let mut order: Vec<u32> = (0..sets.len() as u32).collect();
    // (name, type, set id) are unique: an unstable sort is deterministic
    order.sort_unstable_by(|&a, &b| {
        let (x, y) = (&sets[a as usize], &sets[b as usize]);
        key(a)
            .cmp(key(b))
            .then(x.rtype.code.cmp(&y.rtype.code))
            .then_with(|| x.set_id().cmp(&y.set_id()))
    });
    drop((arena, at));
    // sets[i] = old sets[order[i]], following each cycle of the permutation
    for start in 0..order.len() {
        let mut cur = start;
        loop {
            let next = order[cur] as usize;
            order[cur] = cur as u32;
            if next == start || next == cur {
                break;
            }
            sets.swap(cur, next);
            cur = next;
        }
    }
}

/// DNS canonical order (labels compared from the right), then type, then set identifier.
pub fn cmp_canonical(a: &RRset, b: &RRset) -> std::cmp::Ordering {
    a.name
        .cmp_canonical(&b.name)
        .then(a.rtype.code.cmp(&b.rtype.code))
        .then_with(|| a.set_id().cmp(&b.set_id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::Escapes;
    use crate::parser::{Options, Parsed, Parser};

    fn zone(s: &str, o: BuildOpts) -> (Parsed, Zone) {
        let origin = Name::parse(b"example.com.", None, Escapes::Decimal)
            .unwrap()
            .0;
        let p = Parser::new(Options {
            origin: Some(origin.clone()),
            ..Options::default()
        })
        .parse("t", s.as_bytes(), None);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let z = build(p.records.clone(), Some(origin), &o);
        (p, z)
    }

    #[test]
    fn rrsets_grouped_and_folded() {
        let (_, z) = zone(
            "$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nWWW A 1.2.3.4\nwww 60 A 1.2.3.5\nwww A 1.2.3.4\nb TXT \"x\"\n",
            BuildOpts::default(),
        );
        assert!(z.problems.is_empty(), "{:?}", z.problems);
        assert_eq!(z.rrsets.len(), 2);
        let w = &z.rrsets[1];
        assert_eq!((w.name.to_r53().as_str(), w.ttl), ("www.example.com.", 300));
        assert_eq!(w.values, ["1.2.3.4", "1.2.3.5"]);
        assert_eq!(z.warnings.len(), 1);
    }

    #[test]
    fn checks() {
        let src = "$TTL 300\n@ CNAME x.\nc CNAME x.\nc A 1.2.3.4\nd DS 1 2 3 AB\nsub NS ns.x.\nsub DS 1 2 3 AB\nl LOC 1 2 3 N 4 5 6 E 1m\nm MX 10 mail.example.com\n";
        let (_, z) = zone(src, BuildOpts::default());
        let msgs: Vec<&str> = z.problems.iter().map(|p| p.msg.as_str()).collect();
        assert_eq!(msgs.len(), 5, "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("apex")));
        assert!(msgs.iter().any(|m| m.contains("share its name")));
        assert!(msgs.iter().any(|m| m.contains("d.example.com. DS")));
        assert!(msgs.iter().any(|m| m.contains("LOC")));
        assert!(msgs.iter().any(|m| m.contains("trailing dot")));
        let (_, z) = zone(
            src,
            BuildOpts {
                lenient: true,
                ..BuildOpts::default()
            },
        );
        assert!(z.problems.is_empty());
        assert_eq!(z.dropped.len(), 5);
        let kept: Vec<String> = z.rrsets.iter().map(RRset::label).collect();
        assert_eq!(
            kept,
            [
                "c.example.com. A",
                "sub.example.com. NS",
                "sub.example.com. DS"
            ]
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::name::Escapes;
    use crate::parser::{Options, Parser};
    use crate::rdata::string_bytes;
    use proptest::prelude::*;

    proptest! {
        /// Whatever TXT strings and value counts a zone has, what zone2r53 keeps (lenient
        /// or not) has strings of at most 255 octets, values of at most 4,000 characters and
        /// at most 400 values per RRset.
        #[test]
        fn kept_rrsets_respect_route53(
            recs in prop::collection::vec((0usize..2, prop::collection::vec(0usize..700, 1..8)), 1..900),
            lenient in any::<bool>(),
        ) {
            let mut src = String::from("$ORIGIN p.test.\n$TTL 60\n");
            for (k, (name, lens)) in recs.iter().enumerate() {
                src.push_str(&format!("n{name} TXT"));
                for (j, l) in lens.iter().enumerate() {
                    let body: String = format!("{k}-{j}-").chars().chain(std::iter::repeat('x')).take(*l).collect();
                    src.push_str(&format!(" \"{body}\""));
                }
                src.push('\n');
            }
            let origin = Name::parse(b"p.test.", None, Escapes::Decimal).unwrap().0;
            let p = Parser::new(Options { split_long_txt: lenient, ..Options::default() }).parse("p", src.as_bytes(), None);
            let z = build(p.records, Some(origin), &BuildOpts { lenient, ..BuildOpts::default() });
            for s in &z.rrsets {
                prop_assert!(s.values.len() <= MAX_VALUES);
                for v in &s.values {
                    prop_assert!(v.chars().count() <= MAX_TXT_VALUE);
                    let mut lx = crate::lexer::Lexer::new(v.as_bytes());
                    for t in lx.next_entry().unwrap().unwrap().tokens {
                        prop_assert!(string_bytes(&t.text, Escapes::Octal).unwrap().len() <= 255);
                    }
                }
            }
        }
    }
}
