//! Route 53's own JSON (`aws route53 list-resource-record-sets --output json`) → RRsets,
//! normalised the way we render ours: octal escapes read, trailing dots added, run-together
//! TXT strings split, values re-rendered.

use crate::lexer::Lexer;
use crate::name::{Escapes, Name};
use crate::rdata::{self, Ctx};
use crate::rtype::RType;
use crate::zone::{AliasTarget, RRset};
use opsbox_common::escape::quote;
use serde_json::{Map, Value};

/// Routing fields we carry (Route 53's names).
pub const ROUTING_KEYS: &[&str] = &[
    "SetIdentifier",
    "Weight",
    "Region",
    "GeoLocation",
    "Failover",
    "MultiValueAnswer",
    "HealthCheckId",
    "CidrRoutingConfig",
    "GeoProximityLocation",
];

/// An RRset read from Route 53, and whether it belongs to a traffic policy.
pub struct Current {
    pub rrset: RRset,
    pub traffic_policy: bool,
    /// A value that did not parse: an error only if the record set is used.
    pub bad: Option<String>,
}

/// A Route 53 name (octal escapes, maybe no trailing dot).
pub fn name(s: &str) -> Result<Name, String> {
    Name::parse(s.as_bytes(), Some(&Name::root()), Escapes::Octal).map(|x| x.0)
}

/// A Route 53 value of type `t` → our normal text.
pub fn value(t: &RType, v: &str) -> Result<String, String> {
    let mut lx = Lexer::new(v.as_bytes());
    let toks = match lx.next_entry() {
        Ok(Some(e)) => e.tokens,
        Ok(None) => return Err("empty value".into()),
        Err(e) => return Err(e.msg),
    };
    if lx.next_entry().map_err(|e| e.msg)?.is_some() {
        return Err("a value spans several lines".into());
    }
    let root = Name::root();
    let mut ctx = Ctx::new(Some(&root), Escapes::Octal);
    ctx.split_long = false;
    let w = rdata::from_text(t, &toks, &mut ctx)?;
    rdata::render(t, &w, Escapes::Octal)
}

/// Parse the whole document (`{"ResourceRecordSets": [...]}` or a bare array).
pub fn parse(doc: &[u8]) -> Result<Vec<Current>, String> {
    let v: Value = serde_json::from_slice(doc).map_err(|e| format!("not JSON: {e}"))?;
    let list = match &v {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("ResourceRecordSets") {
            Some(Value::Array(a)) => a,
            _ => return Err("no ResourceRecordSets array".into()),
        },
        _ => return Err("expected an object with ResourceRecordSets".into()),
    };
    let sets: Vec<Current> = list
        .iter()
        .enumerate()
        .map(|(i, r)| one(r).map_err(|e| format!("ResourceRecordSets[{i}]: {e}")))
        .collect::<Result<_, _>>()?;
    // one entry per (name, type, set identifier), as Route 53 lists them
    let mut seen = std::collections::HashSet::with_capacity(sets.len());
    for (i, c) in sets.iter().enumerate() {
        if !seen.insert(c.rrset.key()) {
            return Err(format!(
                "ResourceRecordSets[{i}]: {} listed twice",
                quote(&c.rrset.label())
            ));
        }
    }
    Ok(sets)
}

fn one(r: &Value) -> Result<Current, String> {
    let o = r.as_object().ok_or("not an object")?;
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    let n = s("Name").ok_or("no Name")?;
    let t = s("Type").ok_or("no Type")?;
    let rtype = RType::parse(t)
        .filter(RType::route53)
        .ok_or_else(|| format!("type {} is not a Route 53 type", quote(t)))?;
    let owner = name(n).map_err(|e| format!("Name {}: {e}", quote(n)))?;
    let ttl = match o.get("TTL") {
        Some(v) => v
            .as_u64()
            .filter(|t| *t <= 2_147_483_647)
            .ok_or("bad TTL")? as u32,
        None => 0,
    };
    let mut values = Vec::new();
    let mut bad = None;
    if let Some(rr) = o.get("ResourceRecords") {
        for x in rr.as_array().ok_or("ResourceRecords is not an array")? {
            let v = x
                .get("Value")
                .and_then(Value::as_str)
                .ok_or("a ResourceRecord without Value")?;
            match value(&rtype, v) {
                Ok(nv) if !values.contains(&nv) => values.push(nv),
                Ok(_) => {}
                Err(e) => bad = Some(format!("{} {t} value {}: {e}", quote(n), quote(v))),
            }
        }
    }
    let alias = match o.get("AliasTarget") {
        Some(a) => {
            let dns = a
                .get("DNSName")
                .and_then(Value::as_str)
                .ok_or("AliasTarget without DNSName")?;
            Some(Box::new(AliasTarget {
                zone_id: a
                    .get("HostedZoneId")
                    .and_then(Value::as_str)
                    .ok_or("AliasTarget without HostedZoneId")?
                    .to_string(),
                dns_name: name(dns)?.to_r53(),
                evaluate: a
                    .get("EvaluateTargetHealth")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }))
        }
        None => None,
    };
    let traffic_policy = o.contains_key("TrafficPolicyInstanceId");
    if alias.is_none() && !traffic_policy && !o.contains_key("TTL") {
        return Err("no TTL".into());
    }
    if alias.is_some() && o.contains_key("ResourceRecords") {
        // Route 53 holds one or the other; exporting one would lose the other
        return Err("both AliasTarget and ResourceRecords".into());
    }
    if values.is_empty() && bad.is_none() && alias.is_none() && !traffic_policy {
        // nothing to export or compare: Route 53 never lists such a set
        return Err("neither ResourceRecords nor AliasTarget".into());
    }
    let mut routing = Map::new();
    for k in ROUTING_KEYS {
        if let Some(v) = o.get(*k) {
            routing.insert((*k).to_string(), v.clone());
        }
    }
    Ok(Current {
        rrset: RRset {
            name: owner,
            rtype,
            ttl,
            values,
            alias,
            routing: if routing.is_empty() {
                None
            } else {
                Some(routing)
            },
            file: 0,
            line: 0,
            col: 0,
        },
        traffic_policy,
        bad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let doc = br#"{"ResourceRecordSets":[
          {"Name":"\\052.Example.com","Type":"TXT","TTL":300,"ResourceRecords":[{"Value":"\"a\\011\"\"b\""}]},
          {"Name":"w.example.com.","Type":"A","SetIdentifier":"One","Weight":1,"TTL":60,"ResourceRecords":[{"Value":"1.2.3.4"}]},
          {"Name":"al.example.com.","Type":"A","AliasTarget":{"HostedZoneId":"Z1","DNSName":"w.example.com","EvaluateTargetHealth":false}},
          {"Name":"m.example.com.","Type":"MX","TTL":60,"ResourceRecords":[{"Value":"10 mail.example.com"}]}
        ]}"#;
        let v = parse(doc).unwrap();
        assert_eq!(v[0].rrset.name.to_r53(), "*.example.com.");
        assert_eq!(v[0].rrset.values, ["\"a\\011\" \"b\""]);
        assert_eq!(v[1].rrset.set_id(), Some("One"));
        assert_eq!(
            v[2].rrset.alias.as_ref().unwrap().dns_name,
            "w.example.com."
        );
        assert_eq!(v[3].rrset.values, ["10 mail.example.com."]);
        assert!(parse(b"{}").is_err());
        let v =
            parse(br#"[{"Name":"a.","Type":"A","TTL":1,"ResourceRecords":[{"Value":"1.2.3"}]}]"#)
                .unwrap();
        assert!(
            v[0].bad
                .as_ref()
                .unwrap()
                .contains("\"1.2.3\" is not an IPv4 address")
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any value text of any Route 53 type: a normal form or an error, never a panic.
        #[test]
        fn values_never_panic(t in 0usize..17, v in "[ -~]{0,80}", n in "[ -~]{0,40}") {
            let ty = RType::parse(crate::rtype::ROUTE53[t]).unwrap();
            let _ = value(&ty, &v);
            let _ = name(&n);
        }
    }
}
