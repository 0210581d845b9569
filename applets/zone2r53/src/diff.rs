//! The minimal changes from what Route 53 holds to what the zone file says.

use crate::batch::{Action, Change, Unit};
use crate::name::Name;
use crate::r53json::Current;
use crate::zone::{RRset, cmp_canonical};
use opsbox_common::escape;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// CREATE new RRsets; a changed one is DELETE (exact old values) + CREATE in one batch.
    Create,
    /// UPSERT new and changed RRsets; delete nothing.
    Upsert,
    /// As upsert, and DELETE what the zone file no longer has.
    Sync,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "create" => Ok(Mode::Create),
            "upsert" => Ok(Mode::Upsert),
            "sync" => Ok(Mode::Sync),
            _ => Err(format!("'{s}' is not create, upsert or sync")),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DiffOpts {
    pub with_soa: bool,
    pub with_apex_ns: bool,
    /// Also compare alias and routing-policy records.
    pub with_routing: bool,
}

/// Which RRsets the diff may look at.
fn considered(s: &RRset, apex: Option<&Name>, o: &DiffOpts) -> bool {
    let t = s.rtype.name();
    let at_apex = apex == Some(&s.name);
    if t == "SOA" && !o.with_soa {
        return false;
    }
    if t == "NS" && at_apex && !o.with_apex_ns {
        return false;
    }
    if (s.alias.is_some() || s.routing.is_some()) && !o.with_routing {
        return false;
    }
    true
}

/// The result: change units in canonical order, and the number of records deleted and
/// compared (for `--max-delete-pct`).
pub struct Diff {
    pub units: Vec<Unit>,
    pub deleted_records: usize,
    pub current_records: usize,
}

/// Fails when a record set it must compare has a value that does not parse.
pub fn diff(
    desired: &[RRset],
    current: &[Current],
    apex: Option<&Name>,
    mode: Mode,
    o: &DiffOpts,
) -> Result<Diff, String> {
    let used: Vec<&Current> = current
        .iter()
        .filter(|c| !c.traffic_policy && considered(&c.rrset, apex, o))
        .collect();
    if let Some(bad) = used.iter().find_map(|c| c.bad.as_ref()) {
        return Err(bad.clone());
    }
    let cur: Vec<&RRset> = used.iter().map(|c| &c.rrset).collect();
    let mut by_key: HashMap<_, &RRset> = cur.iter().map(|s| (s.key(), *s)).collect();
    let mut units = Vec::new();
    let mut deleted = 0;
    let current_records = cur.iter().map(|s| s.values.len().max(1)).sum();
    for d in desired.iter().filter(|s| considered(s, apex, o)) {
        let up = |r: &RRset| {
            if mode == Mode::Create {
                Unit::one(Action::Create, r.clone())
            } else {
                Unit::one(Action::Upsert, r.clone())
            }
        };
        match by_key.remove(&d.key()) {
            None => units.push(up(d)),
            Some(c) if c.same(d) => {}
            Some(c) => {
                if mode == Mode::Create && d.rtype.name() != "SOA" {
                    units.push(Unit(vec![
                        Change {
                            action: Action::Delete,
                            rrset: c.clone(),
                            old: None,
                        },
                        Change {
                            action: Action::Create,
                            rrset: d.clone(),
                            old: None,
                        },
                    ]));
                } else {
                    units.push(Unit(vec![Change {
                        action: Action::Upsert,
                        rrset: d.clone(),
                        old: Some(Box::new(c.clone())),
                    }]));
                }
            }
        }
    }
    if mode == Mode::Sync {
        let mut gone: Vec<&RRset> = by_key.into_values().collect();
        gone.sort_by(|a, b| cmp_canonical(a, b));
        // the API never lets a zone lose its SOA or its apex NS
        gone.retain(|g| {
            g.rtype.name() != "SOA" && !(g.rtype.name() == "NS" && apex == Some(&g.name))
        });
        for g in gone {
            deleted += g.values.len().max(1);
            units.push(Unit::one(Action::Delete, g.clone()));
        }
    }
    Ok(Diff {
        units,
        deleted_records: deleted,
        current_records,
    })
}

/// The readable plan: `+` create, `-` delete, `~` change (old → new).
pub fn plan(units: &[Unit]) -> String {
    let mut out = String::new();
    let show = |s: &RRset| -> String {
        match &s.alias {
            Some(a) => format!("ALIAS {} ({})", a.dns_name, escape::text(&a.zone_id)),
            None => format!("{} {}", s.ttl, s.values.join(" | ")),
        }
    };
    let label = |s: &RRset| escape::text(&s.label()).into_owned();
    let (mut create, mut update, mut delete) = (0usize, 0usize, 0usize);
    for u in units {
        match u.0.as_slice() {
            [d, c] if d.action == Action::Delete => {
                update += 1;
                out.push_str(&format!(
                    "~ {}: {} -> {}\n",
                    label(&c.rrset),
                    show(&d.rrset),
                    show(&c.rrset)
                ));
            }
            [c] if c.old.is_some() => {
                update += 1;
                let old = c.old.as_deref().map(show).unwrap_or_default();
                let line = format!("~ {}: {old} -> {}\n", label(&c.rrset), show(&c.rrset));
                out.push_str(&line);
            }
            [c] => {
                let sign = if c.action == Action::Delete {
                    delete += 1;
                    '-'
                } else {
                    create += 1;
                    '+'
                };
                out.push_str(&format!("{sign} {} {}\n", label(&c.rrset), show(&c.rrset)));
            }
            _ => {}
        }
    }
    out.push_str(&format!(
        "{create} to create, {update} to update, {delete} to delete\n"
    ));
    out
}
