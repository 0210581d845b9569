//! The properties the fuzz targets check (see `fuzz` in lib.rs): a zone parsed, written
//! back as zone text and parsed again gives the same RRsets; Route 53's JSON exported and
//! converted back gives the same RRsets (never one more); every message is one line
//! without control characters. They panic when a property fails.

use crate::name::{Escapes, Name};
use crate::parser::{Options, Parsed, Parser};
use crate::r53json::Current;
use crate::zone::{self, BuildOpts, RRset, Zone};

const ZONE_ID: &str = "ZFUZZ";

fn build_opts(lenient: bool) -> BuildOpts {
    BuildOpts {
        lenient,
        with_soa: true,
        with_apex_ns: true,
        zone_id: Some(ZONE_ID.into()),
    }
}

/// Parse zone text under `origin` (no `$INCLUDE`: nothing outside the bytes is read).
fn parse_zone(text: &[u8], origin: &Name, lenient: bool) -> (Parsed, Zone) {
    let opts = Options {
        origin: Some(origin.clone()),
        no_include: true,
        include_dir: None,
        split_long_txt: lenient,
    };
    let mut b = zone::Builder::new(Some(origin.clone()), &build_opts(lenient));
    let p = Parser::new(opts).parse_into("f", text, None, &mut b);
    let z = b.finish(p.first_origin.clone());
    (p, z)
}

fn one_line(what: &str, m: &str) {
    assert!(
        !m.chars().any(|c| c.is_control()),
        "{what} is not one clean line: {m:?}"
    );
}

fn messages(p: &Parsed, z: &Zone) {
    for x in p
        .problems
        .iter()
        .chain(&p.warnings)
        .chain(&z.problems)
        .chain(&z.warnings)
        .chain(&z.dropped)
        .chain(&z.fixed)
    {
        one_line("a message", &p.show(x));
    }
}

/// A comparable form of RRsets: (name, type, set id) → sorted values, TTL (not for
/// aliases), alias, routing.
fn canon(sets: &[RRset]) -> Vec<String> {
    let mut v: Vec<String> = sets
        .iter()
        .map(|s| {
            let mut vals = s.values.clone();
            vals.sort();
            format!(
                "{} {} {:?} ttl={} {:?} {:?} {:?}",
                s.name.to_r53(),
                s.rtype.code,
                s.set_id(),
                if s.alias.is_some() { 0 } else { s.ttl },
                vals,
                s.alias,
                s.routing
            )
        })
        .collect();
    v.sort();
    v
}

/// Each record on its own: (name, type, set id, TTL, value or alias, routing).
fn records(sets: &[RRset]) -> Vec<String> {
    let mut v = Vec::new();
    for s in sets {
        let head = format!(
            "{} {} {:?} ttl={} {:?}",
            s.name.to_r53(),
            s.rtype.code,
            s.set_id(),
            if s.alias.is_some() { 0 } else { s.ttl },
            s.routing
        );
        match &s.alias {
            Some(a) => v.push(format!("{head} {a:?}")),
            None => v.extend(s.values.iter().map(|x| format!("{head} {x}"))),
        }
    }
    v.sort();
    v
}

fn wrap(sets: &[RRset]) -> Vec<Current> {
    sets.iter()
        .map(|s| Current {
            rrset: s.clone(),
            traffic_policy: false,
            bad: None,
        })
        .collect()
}

/// Zone text: parsed (strict and lenient), every message one clean line; what parsed
/// cleanly, written back as zone text and parsed again, is the same RRsets.
pub fn zone_round_trip(data: &[u8]) {
    let origin = Name::parse(b"fz.", None, Escapes::Decimal)
        .expect("origin")
        .0;
    for lenient in [false, true] {
        let (p, z) = parse_zone(data, &origin, lenient);
        messages(&p, &z);
        if p.fatal || !p.problems.is_empty() || !z.problems.is_empty() {
            continue;
        }
        let (text, warnings) = crate::export::export(&wrap(&z.rrsets), &origin, Some(ZONE_ID))
            .unwrap_or_else(|e| panic!("parsed RRsets do not export: {e}"));
        assert!(warnings.is_empty(), "export warned: {warnings:?}");
        let (p2, z2) = parse_zone(text.as_bytes(), &origin, lenient);
        assert!(
            p2.problems.is_empty() && z2.problems.is_empty(),
            "the export does not parse: {:?} {:?}\n{text}",
            p2.problems,
            z2.problems
        );
        assert_eq!(canon(&z2.rrsets), canon(&z.rrsets), "\n{text}");
    }
}

/// Route 53's JSON: read; exported, converted back: never an RRset Route 53 did not hold,
/// and all of them when the zone builds without problems.
pub fn r53json_round_trip(data: &[u8]) {
    let Ok(sets) = crate::r53json::parse(data) else {
        return;
    };
    let Some(origin) = crate::export::guess_origin(&sets) else {
        return;
    };
    let Ok((text, warnings)) = crate::export::export(&sets, &origin, Some(ZONE_ID)) else {
        return;
    };
    for w in &warnings {
        one_line("an export warning", w);
    }
    let (p, z) = parse_zone(text.as_bytes(), &origin, false);
    assert!(
        p.problems.is_empty() || !p.fatal,
        "the export stopped the parser: {:?}\n{text}",
        p.problems
    );
    let input: Vec<RRset> = sets
        .iter()
        .filter(|c| !c.traffic_policy)
        .map(|c| c.rrset.clone())
        .collect();
    let want = canon(&input);
    let got = canon(&z.rrsets);
    // record by record: a set can come back smaller when one of its records is refused
    // (the zone then has problems and is not sent), never with a record of its own
    let have = records(&input);
    for g in records(&z.rrsets) {
        assert!(have.contains(&g), "the export made {g}\n{text}");
    }
    let expressible = sets.iter().all(|c| {
        !c.traffic_policy
            && c.bad.is_none()
            && c.rrset.routing.as_ref().is_none_or(|m| {
                !m.contains_key("CidrRoutingConfig") && !m.contains_key("GeoProximityLocation")
            })
    });
    if expressible && p.problems.is_empty() && z.problems.is_empty() && warnings.is_empty() {
        assert_eq!(got, want, "\n{text}");
    }
}

/// Zerigo XML: problems and warnings are positioned, clean lines.
pub fn zerigo(data: &[u8]) {
    let (mut p, apex) = crate::zerigo::parse("f.xml", data, None, 3600);
    for x in p.problems.iter().chain(&p.warnings) {
        one_line("a message", &p.show(x));
        assert!(x.line == 0 || x.col >= 1, "{x:?}");
    }
    let z = zone::build(std::mem::take(&mut p.records), apex, &build_opts(true));
    messages(&p, &z);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The properties hold on the fixtures and the shared corpus (the fuzz seeds).
    #[test]
    fn seeds_hold_the_properties() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        for d in [
            "tests/fixtures/zone2r53",
            "tests/fixtures/zone2r53/r53json",
            "tests/fixtures/zone2r53/fuzz",
            "../shared/corpus/zones",
        ] {
            if let Ok(rd) = std::fs::read_dir(root.join(d)) {
                files.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        }
        let mut n = 0;
        for f in files {
            let Ok(m) = std::fs::metadata(&f) else {
                continue;
            };
            if !m.is_file() || m.len() > 256 << 10 {
                continue;
            }
            let data = std::fs::read(&f).unwrap();
            zone_round_trip(&data);
            zerigo(&data);
            r53json_round_trip(&data);
            n += 1;
        }
        assert!(n > 0);
        r53json_round_trip(
            br#"{"ResourceRecordSets":[
              {"Name":"fz.","Type":"SOA","TTL":900,"ResourceRecords":[{"Value":"ns.fz. h.fz. 1 2 3 4 5"}]},
              {"Name":"w.fz.","Type":"A","SetIdentifier":"a b","Weight":3,"TTL":60,"ResourceRecords":[{"Value":"192.0.2.1"}]},
              {"Name":"\\052.fz.","Type":"TXT","TTL":60,"ResourceRecords":[{"Value":"\"x\\011\" \"y\""}]},
              {"Name":"al.fz.","Type":"A","AliasTarget":{"HostedZoneId":"ZFUZZ","DNSName":"w.fz.","EvaluateTargetHealth":false}}
            ]}"#,
        );
    }
}
