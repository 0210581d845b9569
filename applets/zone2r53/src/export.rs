//! Route 53's JSON → a zone file: `$ORIGIN`, names relative to it, decimal escapes, stable
//! order; alias records in cli53's `AWS ALIAS` syntax and routing as cli53's comments, so
//! converting the export gives the same RRsets back.

use crate::lexer::Lexer;
use crate::name::{Escapes, Name};
use crate::r53json::Current;
use crate::rdata::{self, Ctx};
use crate::zone::{RRset, cmp_canonical};
use opsbox_common::escape;
use std::fmt::Write;

/// The zone's origin: the SOA owner, else the shortest name.
pub fn guess_origin(sets: &[Current]) -> Option<Name> {
    sets.iter()
        .find(|c| c.rrset.rtype.name() == "SOA")
        .or_else(|| sets.iter().min_by_key(|c| c.rrset.name.labels().len()))
        .map(|c| c.rrset.name.clone())
}

fn value_decimal(s: &RRset, v: &str) -> Result<String, String> {
    let mut lx = Lexer::new(v.as_bytes());
    let toks = lx
        .next_entry()
        .map_err(|e| e.msg)?
        .map(|e| e.tokens)
        .unwrap_or_default();
    let root = Name::root();
    let mut ctx = Ctx::new(Some(&root), Escapes::Octal);
    let w = rdata::from_text(&s.rtype, &toks, &mut ctx)?;
    rdata::render(&s.rtype, &w, Escapes::Decimal)
}

/// cli53's routing comment for `s` (empty without routing), every field checked against
/// Route 53's grammar: a value that cannot be written safely is an error naming the set.
fn routing_comment(s: &RRset) -> Result<String, String> {
    match &s.routing {
        None => Ok(String::new()),
        Some(m) => crate::routing::to_comment(m).map_err(|e| format!("{}: {e}", shown(s))),
    }
}

/// An RRset's label, escaped for a message or a comment line.
fn shown(s: &RRset) -> String {
    escape::text(&s.label()).into_owned()
}

/// The zone file text and warnings. `zone_id`: an alias into this zone is written as
/// `$self`. A record set whose value does not parse, or whose routing has no zone file
/// syntax (CIDR, geoproximity), is written as a comment and warned about; a routing field or
/// an alias zone id outside Route 53's grammar (which could break out of its comment) is an
/// error.
pub fn export(
    sets: &[Current],
    origin: &Name,
    zone_id: Option<&str>,
) -> Result<(String, Vec<String>), String> {
    let mut warnings = Vec::new();
    let mut list: Vec<&Current> = sets.iter().filter(|c| !c.traffic_policy).collect();
    list.sort_by(|a, b| cmp_canonical(&a.rrset, &b.rrset));
    let mut out = String::new();
    let _ = writeln!(out, "$ORIGIN {}", origin.render(Escapes::Decimal, None));
    for c in list {
        let s = &c.rrset;
        if let Some(bad) = &c.bad {
            warnings.push(format!("not exported: {bad}"));
            let _ = writeln!(
                out,
                "; not exported (its value does not parse): {}",
                shown(s)
            );
            continue;
        }
        if let Some((k, what)) = s.routing.as_ref().and_then(|m| {
            crate::routing::UNEXPRESSED
                .iter()
                .find(|(k, _)| m.contains_key(*k))
        }) {
            warnings.push(format!(
                "not exported: {}: {what} ({k}) has no zone file syntax",
                shown(s)
            ));
            let _ = writeln!(out, "; not exported ({what}): {}", shown(s));
            continue;
        }
        let comment = routing_comment(s)?;
        let owner = s.name.render(Escapes::Decimal, Some(origin));
        let t = s.rtype.name();
        if let Some(a) = &s.alias {
            let zid = if Some(a.zone_id.as_str()) == zone_id {
                "$self"
            } else {
                crate::routing::zone_id(&a.zone_id).map_err(|e| format!("{}: {e}", shown(s)))?;
                a.zone_id.as_str()
            };
            let target = crate::r53json::name(&a.dns_name)?.render(Escapes::Decimal, None);
            let _ = writeln!(
                out,
                "{owner} 0 AWS ALIAS {t} {target} {zid} {}{}",
                a.evaluate, comment
            );
            continue;
        }
        for v in &s.values {
            let dv = value_decimal(s, v)
                .map_err(|e| format!("{} value {}: {e}", shown(s), escape::quote(v)))?;
            let _ = writeln!(out, "{owner} {} IN {t} {dv}{comment}", s.ttl);
        }
    }
    for c in sets.iter().filter(|c| c.traffic_policy) {
        let _ = writeln!(
            out,
            "; traffic policy record not exported: {}",
            shown(&c.rrset)
        );
    }
    Ok((out, warnings))
}
