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

/// Order units (deletes, replacements, plain changes, aliases with their targets first) and
/// pack them greedily into batches under the limits.
pub fn pack(
    units: Vec<Unit>,
    max_records: usize,
    max_chars: usize,
) -> Result<Vec<Vec<Change>>, String> {
    // aliases whose target is another alias in this set go after it (bounded depth)
    let alias_names: Vec<String> = units
        .iter()
        .flat_map(|u| u.0.iter())
        .filter(|c| c.rrset.alias.is_some() && c.action != Action::Delete)
        .map(|c| c.rrset.name.to_r53())
        .collect();
    let depth = |u: &Unit| -> usize {
        let mut d = 0;
        let mut cur =
            u.0.iter()
                .find_map(|c| c.rrset.alias.as_ref())
                .map(|a| a.dns_name.clone());
        while let Some(t) = cur {
            if d >= 16 || !alias_names.contains(&t) {
                break;
            }
            d += 1;
            cur = units
                .iter()
                .flat_map(|x| x.0.iter())
                .find(|c| c.rrset.name.to_r53() == t && c.rrset.alias.is_some())
                .and_then(|c| c.rrset.alias.as_ref())
                .map(|a| a.dns_name.clone());
        }
        d
    };
    let depths: Vec<usize> = units
        .iter()
        .map(|u| if u.rank() == 3 { depth(u) } else { 0 })
        .collect();
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by_key(|&i| (units[i].rank(), depths[i]));
    let mut taken: Vec<Option<Unit>> = units.into_iter().map(Some).collect();
    let mut batches: Vec<Vec<Change>> = Vec::new();
    let mut cur: Vec<Change> = Vec::with_capacity(max_records.min(taken.len() + 1));
    let (mut recs, mut chars) = (0usize, 0usize);
    for i in order {
        let Some(u) = taken[i].take() else { continue };
        let (r, c) = u.cost();
        if r > max_records || c > max_chars {
            let label = u.0[0].rrset.label();
            return Err(format!(
                "{label}: {r} records and {c} value characters do not fit in one request (limits {max_records} and {max_chars}{})",
                if u.0.iter().any(|c| c.action == Action::Upsert) {
                    ", an UPSERT counting twice"
                } else {
                    ""
                }
            ));
        }
        if recs + r > max_records || chars + c > max_chars {
            let next = Vec::with_capacity(cur.len());
            batches.push(std::mem::replace(&mut cur, next));
            recs = 0;
            chars = 0;
        }
        recs += r;
        chars += c;
        cur.extend(u.0);
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    for b in &mut batches {
        b.sort_by_key(|c| c.action != Action::Delete);
    }
    Ok(batches)
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

#[derive(Serialize)]
struct ChangeJson<'a> {
    #[serde(rename = "Action")]
    action: &'static str,
    #[serde(rename = "ResourceRecordSet")]
    rrset: RRsetJson<'a>,
}

#[derive(Serialize)]
struct BatchJson<'a> {
    #[serde(rename = "Comment")]
    comment: String,
    #[serde(rename = "Changes")]
    changes: Vec<ChangeJson<'a>>,
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
    let b = BatchJson {
        comment: format!("zone2r53 {what}: batch {n} of {total}"),
        changes: batch
            .iter()
            .map(|c| ChangeJson {
                action: c.action.as_str(),
                rrset: rrset_json(&c.rrset),
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *w, &b).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
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
