//! `updateinfo check`: read an updateinfo.xml the way libsolv does and report what a
//! consumer would get wrong: duplicate ids, dates it cannot parse, epoch 0 where the
//! repository's primary says otherwise, reference types outside the schema, control
//! characters, unknown update types.

use crate::rpm::{Nevra, Primary};
use crate::xml::Src;
use crate::xmlesc::legal;
use opsbox_common::Result;
use opsbox_common::escape::quote;
use quick_xml::events::Event;
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: String,
    pub id: String,
    pub what: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub updates: usize,
    pub problems: Vec<Problem>,
}

/// libsolv's date rule: all digits (seconds), or `YYYY-MM-DD` with an optional time.
pub fn libsolv_date_ok(d: &str) -> bool {
    let d = d.trim();
    if !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()) {
        return true;
    }
    if d.len() == 10 {
        return crate::advisory::issued_date(d).is_some();
    }
    if d.len() == 19 {
        let mut s = d.to_string();
        s.replace_range(10..11, " ");
        return crate::advisory::issued_date(&s).is_some();
    }
    false
}

const REF_TYPES: [&str; 5] = ["bugzilla", "cve", "redhat", "self", "other"];
const UPDATE_TYPES: [&str; 5] = ["security", "bugfix", "enhancement", "newpackage", "feature"];

pub fn check(src: &mut Src, primary: Option<&Primary>) -> Result<Report> {
    let mut rep = Report::default();
    let mut buf = Vec::with_capacity(1 << 12);
    let mut ids: HashSet<String> = HashSet::new();
    let mut id = String::new();
    let mut id_at = String::new();
    let mut in_id = false;
    let mut root = false;
    let problem = |rep: &mut Report, at: String, id: &str, what: String| {
        rep.problems.push(Problem {
            at,
            id: id.to_string(),
            what,
        })
    };
    loop {
        let (off, ev) = src.next(&mut buf)?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name();
                if !root {
                    root = true;
                    if local.as_ref().as_bytes() != b"updates" {
                        return Err(
                            src.at(off, "root element is not <updates>: not an updateinfo.xml")
                        );
                    }
                    continue;
                }
                let mut attrs: Vec<(Vec<u8>, String)> = Vec::new();
                src.attrs(off, e, |k, v| {
                    attrs.push((k.to_vec(), v.into_owned()));
                    Ok(())
                })?;
                let get = |k: &[u8]| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
                for (k, v) in &attrs {
                    if v.chars()
                        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r') || !legal(c))
                    {
                        problem(
                            &mut rep,
                            src.pos(off),
                            &id,
                            format!(
                                "control character in attribute {}",
                                String::from_utf8_lossy(k)
                            ),
                        );
                    }
                }
                match local.as_ref().as_bytes() {
                    b"update" => {
                        src.forget_before(off);
                        rep.updates += 1;
                        id.clear();
                        id_at = src.pos(off);
                        match get(b"type") {
                            Some(t) if UPDATE_TYPES.contains(&t) => {}
                            Some(t) => problem(
                                &mut rep,
                                src.pos(off),
                                "",
                                format!("unknown update type {}", quote(t)),
                            ),
                            None => {
                                problem(&mut rep, src.pos(off), "", "update without a type".into())
                            }
                        }
                    }
                    b"id" => in_id = true,
                    b"issued" | b"updated" => match get(b"date") {
                        Some(d) if libsolv_date_ok(d) => {}
                        Some(d) => problem(
                            &mut rep,
                            src.pos(off),
                            &id,
                            format!(
                                "date {} is not one libsolv can read (it becomes 0: 1970)",
                                quote(d)
                            ),
                        ),
                        None if local.as_ref().as_bytes() == b"issued" => {
                            problem(&mut rep, src.pos(off), &id, "issued without a date".into())
                        }
                        None => {}
                    },
                    b"reference" => match get(b"type") {
                        Some(t) if REF_TYPES.contains(&t) => {}
                        Some(t) => problem(
                            &mut rep,
                            src.pos(off),
                            &id,
                            format!(
                                "reference type {} is not one of {}",
                                quote(t),
                                REF_TYPES.join(", ")
                            ),
                        ),
                        None => problem(
                            &mut rep,
                            src.pos(off),
                            &id,
                            "reference without a type".into(),
                        ),
                    },
                    b"package" => {
                        if let Some(p) = primary {
                            let (n, v, r, a) =
                                (get(b"name"), get(b"version"), get(b"release"), get(b"arch"));
                            if let (Some(n), Some(v), Some(r), Some(a)) = (n, v, r, a) {
                                let file = format!("{n}-{v}-{r}.{a}.rpm");
                                if let Some(nv) = Nevra::from_filename(&file)
                                    && let Some(k) = p.get(&nv)
                                {
                                    let e = get(b"epoch").filter(|e| !e.is_empty()).unwrap_or("0");
                                    if e != &*k.epoch {
                                        problem(
                                            &mut rep,
                                            src.pos(off),
                                            &id,
                                            format!(
                                                "{n}-{v}-{r}.{a}: epoch {e} here, {} in the repository",
                                                k.epoch
                                            ),
                                        );
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
                if matches!(ev, Event::Empty(_)) {
                    in_id = false;
                }
            }
            Event::Text(t) => {
                let t = t.xml10_content();
                if t.chars()
                    .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
                {
                    problem(
                        &mut rep,
                        src.pos(off),
                        &id,
                        "control character in text".into(),
                    );
                }
                if in_id {
                    id.push_str(t.trim());
                }
            }
            Event::GeneralRef(r) => {
                let c = src.reference(off, &r)?;
                if !legal(c) || (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
                    problem(
                        &mut rep,
                        src.pos(off),
                        &id,
                        format!("control character &{}; in text", &*r),
                    );
                }
                if in_id {
                    id.push(c);
                }
            }
            Event::End(ref e) if e.local_name().as_ref().as_bytes() == b"id" && in_id => {
                in_id = false;
                if id.is_empty() {
                    problem(&mut rep, id_at.clone(), "", "empty id".into());
                } else if !ids.insert(id.clone()) {
                    problem(
                        &mut rep,
                        id_at.clone(),
                        &id,
                        "duplicate id (libsolv keeps only one)".into(),
                    );
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !root {
        return Err(src.at(0, "no root element: not an updateinfo.xml"));
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_the_original_gets_wrong() {
        let doc = r#"<updates>
<update type="security"><id>A:1</id><issued date="2099-01-02 03:04:05"/><references><reference href="x" type="CEFS"/></references>
<pkglist><collection><package name="epochy" version="2.0" release="2.el7" epoch="0" arch="noarch"/></collection></pkglist></update>
<update type="security"><id>A:1</id><issued date="Jan 2"/></update>
</updates>"#;
        let prim = r#"<metadata><package><name>epochy</name><arch>noarch</arch><version epoch="1" ver="2.0" rel="2.el7"/></package></metadata>"#;
        let mut p = Primary::default();
        p.load(&mut Src::new(
            Box::new(std::io::Cursor::new(prim.to_string())),
            "p",
        ))
        .unwrap();
        let mut src = Src::new(Box::new(std::io::Cursor::new(doc.to_string())), "u");
        let r = check(&mut src, Some(&p)).unwrap();
        let whats: Vec<&str> = r.problems.iter().map(|p| p.what.as_str()).collect();
        assert_eq!(r.updates, 2);
        assert_eq!(whats.len(), 4, "{whats:?}");
        assert!(whats[0].starts_with("reference type \"CEFS\""));
        assert!(whats[1].contains("epoch 0 here, 1 in the repository"));
        assert!(whats[2].starts_with("duplicate id"));
        assert!(whats[3].starts_with("date \"Jan 2\""));
        assert!(libsolv_date_ok("1700000000") && libsolv_date_ok("2012-01-01"));
    }
}
