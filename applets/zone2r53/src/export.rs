//! Route 53's JSON → a zone file: `$ORIGIN`, names relative to it, decimal escapes, stable
//! order; alias records in cli53's `AWS ALIAS` syntax and routing as cli53's comments, so
//! converting the export gives the same RRsets back.

use crate::lexer::Lexer;
use crate::name::{Escapes, Name};
use crate::r53json::Current;
use crate::rdata::{self, Ctx};
use crate::zone::{RRset, cmp_canonical};
use serde_json::Value;
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

fn routing_comment(s: &RRset) -> String {
    let Some(m) = &s.routing else {
        return String::new();
    };
    let id = m.get("SetIdentifier").and_then(Value::as_str).unwrap_or("");
    let q = |v: &Value| match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    let mut c = String::from(" ; AWS");
    if let Some(w) = m.get("Weight") {
        let _ = write!(c, " routing=\"WEIGHTED\" weight={w}");
    } else if let Some(r) = m.get("Region") {
        let _ = write!(c, " routing=\"LATENCY\" region={}", q(r));
    } else if let Some(f) = m.get("Failover") {
        let _ = write!(c, " routing=\"FAILOVER\" failover={}", q(f));
    } else if let Some(Value::Object(g)) = m.get("GeoLocation") {
        c.push_str(" routing=\"GEOLOCATION\"");
        for (k, f) in [
            ("ContinentCode", "continentCode"),
            ("CountryCode", "countryCode"),
            ("SubdivisionCode", "subdivisionCode"),
        ] {
            if let Some(v) = g.get(k) {
                let _ = write!(c, " {f}={}", q(v));
            }
        }
    } else if m.contains_key("MultiValueAnswer") {
        c.push_str(" routing=\"MULTIVALUE\"");
    }
    if let Some(h) = m.get("HealthCheckId") {
        let _ = write!(c, " healthCheckId={}", q(h));
    }
    let _ = write!(c, " identifier=\"{id}\"");
    c
}

/// The zone file text and warnings. `zone_id`: an alias into this zone is written as
/// `$self`. A record set whose value does not parse is written as a comment and warned about.
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
                s.label()
            );
            continue;
        }
        let owner = s.name.render(Escapes::Decimal, Some(origin));
        let t = s.rtype.name();
        if let Some(a) = &s.alias {
            let zid = if Some(a.zone_id.as_str()) == zone_id {
                "$self"
            } else {
                a.zone_id.as_str()
            };
            let target = crate::r53json::name(&a.dns_name)?.render(Escapes::Decimal, None);
            let _ = writeln!(
                out,
                "{owner} 0 AWS ALIAS {t} {target} {zid} {}{}",
                a.evaluate,
                routing_comment(s)
            );
            continue;
        }
        for v in &s.values {
            let dv = value_decimal(s, v).map_err(|e| format!("{} value '{v}': {e}", s.label()))?;
            let _ = writeln!(out, "{owner} {} IN {t} {dv}{}", s.ttl, routing_comment(s));
        }
    }
    for c in sets.iter().filter(|c| c.traffic_policy) {
        let _ = writeln!(
            out,
            "; traffic policy record not exported: {}",
            c.rrset.label()
        );
    }
    Ok((out, warnings))
}
