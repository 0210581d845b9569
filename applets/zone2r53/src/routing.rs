//! Route 53 routing fields and cli53's comment syntax for them
//! (`; AWS routing="WEIGHTED" weight=1 identifier="One"`): reading the comment, writing it,
//! and Route 53's own grammar for every field, so a value that could break out of the
//! comment (a newline, a quote) is refused on the way out and on the way in.

use opsbox_common::escape;
use serde_json::{Map, Value};
use std::fmt::Write;

/// The longest `SetIdentifier` Route 53 takes.
pub const MAX_SET_ID: usize = 128;
/// Route 53's continent codes.
const CONTINENTS: &[&str] = &["AF", "AN", "AS", "EU", "OC", "NA", "SA"];

/// `SetIdentifier`: 1 to 128 characters; here also no `"`, no `\` and no control character
/// (they cannot be written inside cli53's quoted comment value).
pub fn set_identifier(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n == 0 || n > MAX_SET_ID {
        return Err(format!(
            "SetIdentifier {} is not 1 to {MAX_SET_ID} characters",
            escape::quote(s)
        ));
    }
    if s.contains(['"', '\\']) || escape::text(s) != s {
        return Err(format!(
            "SetIdentifier {} holds a quote, a backslash or a control character, which a zone file comment cannot carry",
            escape::quote(s)
        ));
    }
    Ok(())
}

/// An alias target's `HostedZoneId`: 1 to 32 letters and digits (`Z2FDTNDATAQYW2`).
pub fn zone_id(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "HostedZoneId {} is not 1 to 32 letters and digits",
            escape::quote(s)
        ));
    }
    Ok(())
}

/// An AWS region name: `us-east-1`, `us-gov-west-1`, `ap-southeast-2`.
pub fn region(s: &str) -> Result<(), String> {
    let ok = s.len() <= 64 && {
        let parts: Vec<&str> = s.split('-').collect();
        parts.len() >= 3
            && parts[0].len() == 2
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[parts.len() - 1].len() <= 2
            && !parts[parts.len() - 1].is_empty()
            && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
    };
    if !ok {
        return Err(format!(
            "Region {} is not an AWS region name (like us-east-1)",
            escape::quote(s)
        ));
    }
    Ok(())
}

/// `Failover`: PRIMARY or SECONDARY.
pub fn failover(s: &str) -> Result<(), String> {
    if s != "PRIMARY" && s != "SECONDARY" {
        return Err(format!(
            "Failover {} is not PRIMARY or SECONDARY",
            escape::quote(s)
        ));
    }
    Ok(())
}

/// A `HealthCheckId`: a UUID (`8-4-4-4-12` hexadecimal digits).
pub fn health_check_id(s: &str) -> Result<(), String> {
    let groups: Vec<&str> = s.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(format!("HealthCheckId {} is not a UUID", escape::quote(s)));
    }
    Ok(())
}

/// A `GeoLocation` code: the field (Route 53's name) and its value.
pub fn geo_code(field: &str, s: &str) -> Result<(), String> {
    let alnum = |max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    let ok = match field {
        "ContinentCode" => CONTINENTS.contains(&s),
        "CountryCode" => s == "*" || alnum(2),
        "SubdivisionCode" => alnum(3),
        _ => false,
    };
    if !ok {
        return Err(format!(
            "GeoLocation {field} {} is not a Route 53 code",
            escape::quote(s)
        ));
    }
    Ok(())
}

const GEO: [(&str, &str); 3] = [
    ("ContinentCode", "continentCode"),
    ("CountryCode", "countryCode"),
    ("SubdivisionCode", "subdivisionCode"),
];

/// Routing kinds this syntax cannot express (Route 53's field, and what to call it).
pub const UNEXPRESSED: &[(&str, &str)] = &[
    ("CidrRoutingConfig", "CIDR routing"),
    ("GeoProximityLocation", "geoproximity routing"),
];

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, String> {
    match m.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!(
            "{k} {} is not a string",
            escape::quote(&other.to_string())
        )),
    }
}

/// Route 53's routing fields → cli53's comment (` ; AWS routing=… identifier="…"`), every
/// field checked against Route 53's grammar first. `Ok(None)`: no routing. Fields the syntax
/// cannot carry (CIDR, geoproximity) are an error naming them.
pub fn to_comment(m: &Map<String, Value>) -> Result<String, String> {
    for (k, what) in UNEXPRESSED {
        if m.contains_key(*k) {
            return Err(format!("{what} ({k}) has no zone file syntax"));
        }
    }
    let id = str_field(m, "SetIdentifier")?;
    let kinds: Vec<&str> = [
        "Weight",
        "Region",
        "Failover",
        "GeoLocation",
        "MultiValueAnswer",
    ]
    .into_iter()
    .filter(|k| m.contains_key(*k))
    .collect();
    let mut c = String::from(" ; AWS");
    match kinds.as_slice() {
        [] => return Err("SetIdentifier without a routing policy".into()),
        [_, _, ..] => {
            return Err(format!(
                "more than one routing policy ({})",
                kinds.join(", ")
            ));
        }
        ["Weight"] => {
            let w = m
                .get("Weight")
                .and_then(Value::as_u64)
                .filter(|w| *w <= 255)
                .ok_or_else(|| {
                    format!(
                        "Weight {} is not 0 to 255",
                        escape::quote(&m["Weight"].to_string())
                    )
                })?;
            let _ = write!(c, " routing=\"WEIGHTED\" weight={w}");
        }
        ["Region"] => {
            let r = str_field(m, "Region")?.unwrap_or_default();
            region(r)?;
            let _ = write!(c, " routing=\"LATENCY\" region=\"{r}\"");
        }
        ["Failover"] => {
            let f = str_field(m, "Failover")?.unwrap_or_default();
            failover(f)?;
            let _ = write!(c, " routing=\"FAILOVER\" failover=\"{f}\"");
        }
        ["GeoLocation"] => {
            let Some(Value::Object(g)) = m.get("GeoLocation") else {
                return Err("GeoLocation is not an object".into());
            };
            if let Some(k) = g.keys().find(|k| !GEO.iter().any(|(f, _)| f == k)) {
                return Err(format!("GeoLocation field {} unknown", escape::quote(k)));
            }
            c.push_str(" routing=\"GEOLOCATION\"");
            for (k, f) in GEO {
                if let Some(v) = str_field(g, k)? {
                    geo_code(k, v)?;
                    let _ = write!(c, " {f}=\"{v}\"");
                }
            }
            if g.is_empty() {
                return Err("GeoLocation without a code".into());
            }
        }
        _ => {
            if m.get("MultiValueAnswer") != Some(&Value::Bool(true)) {
                return Err("MultiValueAnswer is not true".into());
            }
            c.push_str(" routing=\"MULTIVALUE\"");
        }
    }
    if let Some(h) = str_field(m, "HealthCheckId")? {
        health_check_id(h)?;
        let _ = write!(c, " healthCheckId=\"{h}\"");
    }
    let id = id.ok_or("a routing policy without SetIdentifier")?;
    set_identifier(id)?;
    let _ = write!(c, " identifier=\"{id}\"");
    Ok(c)
}

/// cli53's routing comment (the text after `AWS `) → Route 53's fields, each checked.
pub fn from_comment(c: &str) -> Result<Map<String, Value>, String> {
    let mut kv: Vec<(String, String)> = Vec::new();
    let mut rest = c.trim();
    while !rest.is_empty() {
        let (k, after) = rest.split_once('=').ok_or_else(|| {
            format!(
                "routing comment: expected key=value in {}",
                escape::quote(rest)
            )
        })?;
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').ok_or("routing comment: unterminated quote")?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        let k = k.trim().to_string();
        if kv.iter().any(|(a, _)| *a == k) {
            return Err(format!(
                "routing comment: {} given twice",
                escape::quote(&k)
            ));
        }
        kv.push((k, v));
        rest = next.trim_start();
    }
    let get = |k: &str| kv.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let mut m = Map::new();
    let kind = get("routing").ok_or("routing comment without routing=")?;
    let id = get("identifier").ok_or("routing comment without identifier=")?;
    set_identifier(&id)?;
    m.insert("SetIdentifier".into(), Value::String(id));
    match kind.as_str() {
        "WEIGHTED" => {
            let w: u64 = get("weight")
                .and_then(|w| w.parse().ok())
                .filter(|w| *w <= 255)
                .ok_or("WEIGHTED routing needs weight=0..255")?;
            m.insert("Weight".into(), w.into());
        }
        "LATENCY" => {
            let r = get("region").ok_or("LATENCY routing needs region=")?;
            region(&r)?;
            m.insert("Region".into(), r.into());
        }
        "FAILOVER" => {
            let f = get("failover").ok_or("FAILOVER routing needs failover=PRIMARY|SECONDARY")?;
            failover(&f)?;
            m.insert("Failover".into(), f.into());
        }
        "GEOLOCATION" => {
            let mut g = Map::new();
            for (f, k) in GEO {
                if let Some(v) = get(k) {
                    geo_code(f, &v)?;
                    g.insert(f.into(), v.into());
                }
            }
            if g.is_empty() {
                return Err(
                    "GEOLOCATION routing needs continentCode=, countryCode= or subdivisionCode="
                        .into(),
                );
            }
            m.insert("GeoLocation".into(), Value::Object(g));
        }
        "MULTIVALUE" => {
            m.insert("MultiValueAnswer".into(), true.into());
        }
        other => {
            return Err(format!("unknown routing policy {}", escape::quote(other)));
        }
    }
    if let Some(h) = get("healthCheckId") {
        health_check_id(&h)?;
        m.insert("HealthCheckId".into(), h.into());
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn grammar() {
        assert!(region("us-east-1").is_ok());
        assert!(region("us-gov-west-1").is_ok());
        assert!(region("ap-southeast-2").is_ok());
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us-east-1\n$INCLUDE /etc/passwd",
            "u-east-1",
        ] {
            assert!(region(bad).is_err(), "{bad}");
        }
        assert!(health_check_id("abcdef11-2222-3333-4444-555555fedcba").is_ok());
        assert!(health_check_id("abcdef11-2222-3333-4444-555555fedcbaX").is_err());
        assert!(health_check_id("x").is_err());
        assert!(geo_code("CountryCode", "*").is_ok());
        assert!(geo_code("CountryCode", "DE").is_ok());
        assert!(geo_code("CountryCode", "DEU").is_err());
        assert!(geo_code("SubdivisionCode", "CA").is_ok());
        assert!(geo_code("ContinentCode", "EU").is_ok());
        assert!(geo_code("ContinentCode", "XX").is_err());
        assert!(zone_id("Z2FDTNDATAQYW2").is_ok());
        assert!(zone_id("Z2 x").is_err());
        assert!(set_identifier("eu west #1").is_ok());
        for bad in ["", "a\"b", "a\\b", "a\nb", "a\u{2028}b"] {
            assert!(set_identifier(bad).is_err(), "{bad:?}");
        }
        assert!(set_identifier(&"x".repeat(129)).is_err());
    }

    #[test]
    fn comment_round_trip() {
        for m in [
            json!({"SetIdentifier": "One", "Weight": 10}),
            json!({"SetIdentifier": "a b", "Region": "eu-west-1", "HealthCheckId": "abcdef11-2222-3333-4444-555555fedcba"}),
            json!({"SetIdentifier": "p", "Failover": "PRIMARY"}),
            json!({"SetIdentifier": "g", "GeoLocation": {"ContinentCode": "EU", "CountryCode": "DE", "SubdivisionCode": "BE"}}),
            json!({"SetIdentifier": "d", "GeoLocation": {"CountryCode": "*"}}),
            json!({"SetIdentifier": "m", "MultiValueAnswer": true}),
        ] {
            let m = obj(m);
            let c = to_comment(&m).unwrap();
            assert!(!c.contains('\n'));
            let back = from_comment(c.strip_prefix(" ; AWS ").unwrap()).unwrap();
            assert_eq!(back, m, "{c}");
        }
    }

    #[test]
    fn crafted_values_refused() {
        let evil = "x\"\n$INCLUDE /etc/passwd\nevil 60 IN A 192.0.2.66\n; \"";
        for m in [
            json!({"SetIdentifier": evil, "Weight": 1}),
            json!({"SetIdentifier": "a", "Region": evil}),
            json!({"SetIdentifier": "a", "Failover": evil}),
            json!({"SetIdentifier": "a", "GeoLocation": {"CountryCode": evil}}),
            json!({"SetIdentifier": "a", "Weight": 1, "HealthCheckId": evil}),
            json!({"SetIdentifier": "a", "Weight": "1\n$INCLUDE /etc/passwd"}),
            json!({"SetIdentifier": "a", "Weight": 1, "Region": "us-east-1"}),
            json!({"SetIdentifier": "a", "CidrRoutingConfig": {"CollectionId": "c", "LocationName": "l"}}),
            json!({"SetIdentifier": "a", "GeoProximityLocation": {"AWSRegion": "us-east-1"}}),
        ] {
            let e = to_comment(&obj(m.clone())).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
            assert!(!e.contains('\u{1b}'), "{e}");
        }
        assert!(
            from_comment("routing=\"WEIGHTED\" weight=1 identifier=\"a\" identifier=\"b\"")
                .is_err()
        );
        assert!(from_comment("routing=\"LATENCY\" region=\"nowhere\" identifier=\"a\"").is_err());
    }
}
