//! Change batches under Route 53's limits: at most 1,000 ResourceRecord elements and 32,000
//! Value characters per request, an UPSERT counted twice on both; an RRset never split;
//! DELETEs first, alias targets before the aliases, a DELETE and the CREATE replacing it kept
//! in one batch.

use crate::zone::RRset;
use serde::Serialize;
use serde_json::{Map, Value};

pub const MAX_RECORDS: usize = 1000;
pub const MAX_CHARS: usize = 32000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Delete,
    Create,
    Upsert,
}

impl Action {
    pub fn parse(s: &str) -> Result<Action, String> {
        match s.to_ascii_uppercase().as_str() {
            "CREATE" => Ok(Action::Create),
            "UPSERT" => Ok(Action::Upsert),
            "DELETE" => Ok(Action::Delete),
            _ => Err(format!("'{s}' is not CREATE, UPSERT or DELETE")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "CREATE",
            Action::Upsert => "UPSERT",
            Action::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub action: Action,
    pub rrset: RRset,
    /// For a diff's UPSERT: what it replaces (shown by the plan, not sent).
    pub old: Option<Box<RRset>>,
}

/// Changes that go into one request together (one change, or a DELETE with its CREATE).
#[derive(Debug, Clone)]
pub struct Unit(pub Vec<Change>);

impl Unit {
    pub fn one(action: Action, rrset: RRset) -> Unit {
        Unit(vec![Change {
            action,
            rrset,
            old: None,
        }])
    }
    fn cost(&self) -> (usize, usize) {
        self.0.iter().fold((0, 0), |(r, c), ch| {
            let (r1, c1) = ch.rrset.cost();
            let k = if ch.action == Action::Upsert { 2 } else { 1 };
            (r + k * r1, c + k * c1)
        })
    }
    fn rank(&self) -> u8 {
        let alias = self.0.iter().any(|c| c.rrset.alias.is_some());
        match (self.0.len(), self.0[0].action, alias) {
            (1, Action::Delete, _) => 0,
            (n, _, false) if n > 1 => 1,
            (_, _, false) => 2,
            _ => 3,
        }
    }
}

/// Items in order and where each batch of them ends (no vector per batch: fewer large
/// allocations on big zones).
pub struct Batches<T> {
    pub items: Vec<T>,
    pub ends: Vec<usize>,
}

impl<T> Batches<T> {
    /// The batches in order.
    pub fn batches(&self) -> impl Iterator<Item = &[T]> {
        let mut start = 0;
        self.ends.iter().map(move |&e| {
            let b = &self.items[start..e];
            start = e;
            b
        })
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// The changes of the batches, in order.
pub type Packed = Batches<Change>;

/// [`pack_flat`], each batch a vector of its own.
pub fn pack(
    units: Vec<Unit>,
    max_records: usize,
    max_chars: usize,
) -> Result<Vec<Vec<Change>>, String> {
    let p = pack_flat(units, max_records, max_chars)?;
    Ok(p.batches().map(<[Change]>::to_vec).collect())
}

/// An order of items (their indices) cut into batches.
pub type Cut = Batches<u32>;

/// What [`cut`] needs to know of the items it orders and packs.
pub trait Items {
    /// How many items (named so because the slice impl has `len` too).
    fn count(&self) -> usize;
    /// 0 deletes, 1 replacements, 2 plain changes, 3 aliases.
    fn rank(&self, i: usize) -> u8;
    /// The alias record set item `i` creates or changes, if any.
    fn alias(&self, i: usize) -> Option<&RRset>;
    /// ResourceRecord elements and Value characters, an UPSERT counting twice; and whether
    /// an UPSERT is in it.
    fn cost(&self, i: usize) -> (usize, usize, bool);
    fn label(&self, i: usize) -> String;
}

/// Order the items (deletes, replacements, plain changes, aliases with their targets
/// first) and cut them greedily into batches under the limits.
pub fn cut<I: Items + ?Sized>(
    items: &I,
    max_records: usize,
    max_chars: usize,
) -> Result<Cut, String> {
    let n = items.count();
    // aliases whose target is another alias in this set go after it (bounded depth)
    let alias_names: Vec<String> = (0..n)
        .filter_map(|i| items.alias(i))
        .map(|s| s.name.to_r53())
        .collect();
    let depth = |i: usize| -> usize {
        let mut d = 0;
        let mut cur = items
            .alias(i)
            .and_then(|s| s.alias.as_ref())
            .map(|a| a.dns_name.clone());
        while let Some(t) = cur {
            if d >= 16 || !alias_names.contains(&t) {
                break;
            }
            d += 1;
            cur = (0..n)
                .filter_map(|k| items.alias(k))
                .find(|s| s.name.to_r53() == t)
                .and_then(|s| s.alias.as_ref())
                .map(|a| a.dns_name.clone());
        }
        d
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    if (0..n).any(|i| items.rank(i) != 2) {
        let depths: Vec<usize> = (0..n)
            .map(|i| if items.rank(i) == 3 { depth(i) } else { 0 })
            .collect();
        order.sort_by_key(|&i| (items.rank(i as usize), depths[i as usize]));
    }
    let mut ends: Vec<usize> = Vec::new();
    let (mut recs, mut chars) = (0usize, 0usize);
    for (k, &i) in order.iter().enumerate() {
        let (r, c, upsert) = items.cost(i as usize);
        if r > max_records || c > max_chars {
            return Err(format!(
                "{}: {r} records and {c} value characters do not fit in one request (limits {max_records} and {max_chars}{})",
                items.label(i as usize),
                if upsert {
                    ", an UPSERT counting twice"
                } else {
                    ""
                }
            ));
        }
        if recs + r > max_records || chars + c > max_chars {
            ends.push(k);
            recs = 0;
            chars = 0;
        }
        recs += r;
        chars += c;
    }
    if n > 0 {
        ends.push(n);
    }
    Ok(Batches { items: order, ends })
}

impl Items for [Unit] {
    fn count(&self) -> usize {
        self.len()
    }
    fn rank(&self, i: usize) -> u8 {
        self[i].rank()
    }
    fn alias(&self, i: usize) -> Option<&RRset> {
        self[i]
            .0
            .iter()
            .find(|c| c.rrset.alias.is_some() && c.action != Action::Delete)
            .map(|c| &c.rrset)
    }
    fn cost(&self, i: usize) -> (usize, usize, bool) {
        let (r, c) = self[i].cost();
        (r, c, self[i].0.iter().any(|c| c.action == Action::Upsert))
    }
    fn label(&self, i: usize) -> String {
        self[i].0[0].rrset.label()
    }
}

/// Record sets all sent with one action (convert): no vector of changes is made.
pub struct Sets<'a> {
    pub sets: &'a [RRset],
    /// The action of each set.
    pub action: &'a dyn Fn(&RRset) -> Action,
}

impl Items for Sets<'_> {
    fn count(&self) -> usize {
        self.sets.len()
    }
    fn rank(&self, i: usize) -> u8 {
        let s = &self.sets[i];
        match ((self.action)(s), s.alias.is_some()) {
            (Action::Delete, _) => 0,
            (_, false) => 2,
            _ => 3,
        }
    }
    fn alias(&self, i: usize) -> Option<&RRset> {
        let s = &self.sets[i];
        (s.alias.is_some() && (self.action)(s) != Action::Delete).then_some(s)
    }
    fn cost(&self, i: usize) -> (usize, usize, bool) {
        let s = &self.sets[i];
        let (r, c) = s.cost();
        let up = (self.action)(s) == Action::Upsert;
        let k = if up { 2 } else { 1 };
        (k * r, k * c, up)
    }
    fn label(&self, i: usize) -> String {
        self.sets[i].label()
    }
}

/// Order units (deletes, replacements, plain changes, aliases with their targets first) and
/// pack them greedily into batches under the limits.
pub fn pack_flat(units: Vec<Unit>, max_records: usize, max_chars: usize) -> Result<Packed, String> {
    let c = cut(units.as_slice(), max_records, max_chars)?;
    let mut taken: Vec<Option<Unit>> = units.into_iter().map(Some).collect();
    let mut changes: Vec<Change> = Vec::with_capacity(taken.len());
    let mut ends: Vec<usize> = Vec::with_capacity(c.ends.len());
    for b in c.batches() {
        for &i in b {
            if let Some(u) = taken[i as usize].take() {
                changes.extend(u.0);
            }
        }
        ends.push(changes.len());
    }
    // DELETEs first in each batch (stable: a replacement's CREATE stays after its DELETE)
    let mut start = 0;
    for &e in &ends {
        let b = &mut changes[start..e];
        if !b.is_sorted_by_key(|c| c.action != Action::Delete) {
            b.sort_by_key(|c| c.action != Action::Delete);
        }
        start = e;
    }
    Ok(Batches {
        items: changes,
        ends,
    })
}

#[derive(Serialize)]
struct ValueJson<'a> {
    #[serde(rename = "Value")]
    value: &'a str,
}

#[derive(Serialize)]
struct AliasJson<'a> {
    #[serde(rename = "HostedZoneId")]
    zone: &'a str,
    #[serde(rename = "DNSName")]
    name: &'a str,
    #[serde(rename = "EvaluateTargetHealth")]
    evaluate: bool,
}

/// A name as a JSON string in Route 53's form, written without an intermediate String.
struct NameJson<'a>(&'a crate::name::Name);

impl Serialize for NameJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&crate::name::R53(self.0))
    }
}

/// `[{"Value": …}, …]` over the values, without a vector of wrappers.
struct ValuesJson<'a>(&'a [String]);

impl Serialize for ValuesJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|v| ValueJson { value: v }))
    }
}

#[derive(Serialize)]
struct RRsetJson<'a> {
    #[serde(rename = "Name")]
    name: NameJson<'a>,
    #[serde(rename = "Type")]
    rtype: std::borrow::Cow<'static, str>,
    #[serde(flatten)]
    routing: &'a Map<String, Value>,
    #[serde(rename = "TTL", skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
    #[serde(rename = "ResourceRecords", skip_serializing_if = "Option::is_none")]
    records: Option<ValuesJson<'a>>,
    #[serde(rename = "AliasTarget", skip_serializing_if = "Option::is_none")]
    alias: Option<AliasJson<'a>>,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// The JSON of one RRset as Route 53 takes it.
pub fn rrset_value(s: &RRset) -> Value {
    serde_json::to_value(rrset_json(s)).unwrap_or(Value::Null)
}

fn rrset_json(s: &RRset) -> RRsetJson<'_> {
    RRsetJson {
        name: NameJson(&s.name),
        rtype: s.rtype.name(),
        routing: s.routing.as_ref().unwrap_or(&EMPTY),
        ttl: if s.alias.is_some() { None } else { Some(s.ttl) },
        records: if s.alias.is_some() {
            None
        } else {
            Some(ValuesJson(&s.values))
        },
        alias: s.alias.as_ref().map(|a| AliasJson {
            zone: &a.zone_id,
            name: &a.dns_name,
            evaluate: a.evaluate,
        }),
    }
}

/// One batch as the `--change-batch` JSON (pretty, with a trailing newline).
pub fn to_json(batch: &[Change], n: usize, total: usize, what: &str) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = write_json(&mut v, batch, n, total, what);
    v
}

/// As [`to_json`], straight into a writer (no whole-batch buffer).
pub fn write_json(
    w: &mut dyn std::io::Write,
    batch: &[Change],
    n: usize,
    total: usize,
    what: &str,
) -> std::io::Result<()> {
    write_json_of(
        w,
        &mut batch.iter().map(|c| (c.action, &c.rrset)),
        n,
        total,
        what,
    )
}

/// As [`write_json`], over (action, record set) pairs.
pub fn write_json_of(
    w: &mut dyn std::io::Write,
    batch: &mut dyn Iterator<Item = (Action, &RRset)>,
    n: usize,
    total: usize,
    what: &str,
) -> std::io::Result<()> {
    // one change a line: compact (about half the pretty form's bytes) and still readable
    // and greppable
    let comment = format!("zone2r53 {what}: batch {n} of {total}");
    w.write_all(b"{\"Comment\":")?;
    json_str(w, &comment)?;
    w.write_all(b",\"Changes\":[\n")?;
    let mut scratch = String::with_capacity(256);
    for (i, (action, s)) in batch.enumerate() {
        w.write_all(if i == 0 {
            b"{\"Action\":\""
        } else {
            b",\n{\"Action\":\""
        })?;
        w.write_all(action.as_str().as_bytes())?;
        w.write_all(b"\",\"ResourceRecordSet\":")?;
        write_rrset(w, s, &mut scratch)?;
        w.write_all(b"}")?;
    }
    w.write_all(b"\n]}\n")
}

fn json_str(w: &mut dyn std::io::Write, s: &str) -> std::io::Result<()> {
    serde_json::to_writer(w, s).map_err(std::io::Error::other)
}

/// One RRset's JSON, the same document [`rrset_value`] gives (a test holds them equal),
/// written directly: names rendered into `scratch`, strings escaped by serde_json.
fn write_rrset(w: &mut dyn std::io::Write, s: &RRset, scratch: &mut String) -> std::io::Result<()> {
    scratch.clear();
    let _ = s.name.write(crate::name::Escapes::Octal, None, scratch);
    w.write_all(b"{\"Name\":")?;
    json_str(w, scratch)?;
    w.write_all(b",\"Type\":")?;
    json_str(w, &s.rtype.name())?;
    if let Some(m) = &s.routing {
        for (k, v) in m {
            w.write_all(b",")?;
            json_str(w, k)?;
            w.write_all(b":")?;
            serde_json::to_writer(&mut *w, v).map_err(std::io::Error::other)?;
        }
    }
    match &s.alias {
        None => {
            let mut digits = [0u8; 10];
            w.write_all(b",\"TTL\":")?;
            w.write_all(decimal(s.ttl, &mut digits))?;
            w.write_all(b",\"ResourceRecords\":[")?;
            for (i, v) in s.values.iter().enumerate() {
                w.write_all(if i == 0 {
                    b"{\"Value\":"
                } else {
                    b",{\"Value\":"
                })?;
                json_str(w, v)?;
                w.write_all(b"}")?;
            }
            w.write_all(b"]}")
        }
        Some(a) => {
            w.write_all(b",\"AliasTarget\":")?;
            serde_json::to_writer(
                &mut *w,
                &AliasJson {
                    zone: &a.zone_id,
                    name: &a.dns_name,
                    evaluate: a.evaluate,
                },
            )
            .map_err(std::io::Error::other)?;
            w.write_all(b"}")
        }
    }
}

/// `v` in decimal, in `buf`.
fn decimal(mut v: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_writer_gives_the_rrset_json() {
        let mut sets = vec![rr("a.example.", 3, 5), rr("\\042x.example.", 1, 3)];
        sets[0].values[1] = "\"q\\\"uote\\\\\" \"\\010\"".into();
        sets[0].ttl = 0;
        sets[1].ttl = 4_294_967_295;
        let mut routed = rr("w.example.", 1, 3);
        let mut m = Map::new();
        m.insert("SetIdentifier".into(), "a \"b\"".into());
        m.insert("Weight".into(), 7.into());
        routed.routing = Some(m);
        let mut alias = rr("al.example.", 0, 2);
        alias.values.clear();
        alias.alias = Some(Box::new(AliasTarget {
            zone_id: "Z1".into(),
            dns_name: "a.example.".into(),
            evaluate: true,
        }));
        sets.push(routed);
        sets.push(alias);
        let batch: Vec<Change> = sets
            .iter()
            .map(|s| Change {
                action: Action::Upsert,
                rrset: s.clone(),
                old: None,
            })
            .collect();
        let doc: Value = serde_json::from_slice(&to_json(&batch, 2, 3, "diff")).unwrap();
        assert_eq!(doc["Comment"], "zone2r53 diff: batch 2 of 3");
        let got = doc["Changes"].as_array().unwrap();
        assert_eq!(got.len(), sets.len());
        for (g, s) in got.iter().zip(&sets) {
            assert_eq!(g["Action"], "UPSERT");
            assert_eq!(g["ResourceRecordSet"], rrset_value(s));
        }
        let mut b = [0u8; 10];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(4_294_967_295, &mut b), b"4294967295");
    }
    use crate::name::{Escapes, Name};
    use crate::rtype::RType;
    use crate::zone::AliasTarget;

    fn rr(name: &str, n: usize, len: usize) -> RRset {
        RRset {
            name: Name::parse(name.as_bytes(), None, Escapes::Decimal)
                .unwrap()
                .0,
            rtype: RType::parse("TXT").unwrap(),
            ttl: 300,
            values: (0..n)
                .map(|i| format!("\"{i:0w$}\"", w = len - 2))
                .collect(),
            alias: None,
            routing: None,
            file: 0,
            line: 0,
            col: 0,
        }
    }

    #[test]
    fn limits_hold() {
        let units: Vec<Unit> = (0..50)
            .map(|i| Unit::one(Action::Create, rr(&format!("a{i}.x."), 90, 10)))
            .collect();
        let b = pack(units, MAX_RECORDS, MAX_CHARS).unwrap();
        assert_eq!(b.len(), 5); // 11 RRsets (990 records) per batch
        for batch in &b {
            let r: usize = batch.iter().map(|c| c.rrset.values.len()).sum();
            assert!(r <= 1000);
        }
        let units: Vec<Unit> = (0..10)
            .map(|i| Unit::one(Action::Upsert, rr(&format!("a{i}.x."), 100, 100)))
            .collect();
        let b = pack(units, MAX_RECORDS, MAX_CHARS).unwrap();
        for batch in &b {
            let c: usize = batch.iter().map(|c| 2 * c.rrset.cost().1).sum();
            assert!(c <= 32000, "{c}");
        }
        assert_eq!(b.len(), 10); // 20,000 counted characters each: one per batch
        let e = pack(
            vec![Unit::one(Action::Upsert, rr("big.x.", 300, 100))],
            MAX_RECORDS,
            MAX_CHARS,
        )
        .unwrap_err();
        assert!(e.contains("UPSERT"), "{e}");
    }

    #[test]
    fn ordering() {
        let mut alias = rr("al.x.", 0, 2);
        alias.alias = Some(Box::new(AliasTarget {
            zone_id: "Z".into(),
            dns_name: "al2.x.".into(),
            evaluate: false,
        }));
        let mut alias2 = rr("al2.x.", 0, 2);
        alias2.alias = Some(Box::new(AliasTarget {
            zone_id: "Z".into(),
            dns_name: "t.x.".into(),
            evaluate: false,
        }));
        let units = vec![
            Unit::one(Action::Create, alias),
            Unit::one(Action::Create, alias2),
            Unit::one(Action::Create, rr("t.x.", 1, 3)),
            Unit(vec![
                Change {
                    action: Action::Delete,
                    rrset: rr("r.x.", 1, 3),
                    old: None,
                },
                Change {
                    action: Action::Create,
                    rrset: rr("r.x.", 2, 3),
                    old: None,
                },
            ]),
            Unit::one(Action::Delete, rr("d.x.", 1, 3)),
        ];
        let b = pack(units, MAX_RECORDS, MAX_CHARS).unwrap();
        let got: Vec<String> = b[0]
            .iter()
            .map(|c| format!("{} {}", c.action.as_str(), c.rrset.name.to_r53()))
            .collect();
        assert_eq!(
            got,
            [
                "DELETE d.x.",
                "DELETE r.x.",
                "CREATE r.x.",
                "CREATE t.x.",
                "CREATE al2.x.",
                "CREATE al.x."
            ]
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::name::{Escapes, Name};
    use crate::rtype::RType;
    use proptest::prelude::*;

    fn set(i: usize, n: usize, len: usize) -> RRset {
        RRset {
            name: Name::parse(format!("n{i}.x.").as_bytes(), None, Escapes::Decimal)
                .unwrap()
                .0,
            rtype: RType::parse("TXT").unwrap(),
            ttl: 60,
            values: (0..n).map(|k| format!("\"{k:0len$}\"")).collect(),
            alias: None,
            routing: None,
            file: 0,
            line: 0,
            col: 0,
        }
    }

    proptest! {
        /// Whatever the RRsets and actions, no batch exceeds 1,000 records or 32,000
        /// characters (UPSERT counted twice), every RRset is sent once and whole, and
        /// DELETEs lead each batch.
        #[test]
        fn batches_respect_the_limits(
            shapes in prop::collection::vec((1usize..=400, 1usize..=80, 0u8..3), 1..60),
            max_records in 1usize..=1000,
            max_chars in 1usize..=32000,
        ) {
            let units: Vec<Unit> = shapes
                .iter()
                .enumerate()
                .map(|(i, &(n, len, a))| {
                    let act = [Action::Create, Action::Upsert, Action::Delete][a as usize];
                    Unit::one(act, set(i, n, len))
                })
                .collect();
            let want = units.len();
            match pack(units, max_records, max_chars) {
                Ok(batches) => {
                    let mut seen = 0;
                    for b in &batches {
                        let (mut r, mut c) = (0, 0);
                        for ch in b {
                            let k = if ch.action == Action::Upsert { 2 } else { 1 };
                            r += k * ch.rrset.values.len();
                            c += k * ch.rrset.values.iter().map(|v| v.chars().count()).sum::<usize>();
                        }
                        prop_assert!(r <= max_records.min(MAX_RECORDS), "{r} records");
                        prop_assert!(c <= max_chars.min(MAX_CHARS), "{c} characters");
                        let first_other = b.iter().position(|c| c.action != Action::Delete).unwrap_or(b.len());
                        prop_assert!(b[first_other..].iter().all(|c| c.action != Action::Delete));
                        seen += b.len();
                    }
                    prop_assert_eq!(seen, want);
                }
                Err(e) => prop_assert!(e.contains("do not fit in one request"), "{}", e),
            }
        }
    }
}
