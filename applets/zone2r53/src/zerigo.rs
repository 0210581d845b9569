//! Zerigo DNS API 1.1 `<hosts>` documents → records: `hostname` (nil = apex), `host-type`,
//! `data`, `ttl` (nil = the zone default), `priority` (MX, SRV). URL and REDIRECT are Zerigo
//! web redirects, not DNS data: reported and skipped.

use crate::lexer::Token;
use crate::name::{Escapes, Name};
use crate::parser::{Data, Parsed, Problem, Record};
use crate::rdata::{self, Ctx};
use crate::rtype::{Class, RType};
use quick_xml::Reader;
use quick_xml::events::Event;

/// Does this input look like XML (after a BOM and blank space)?
pub fn looks_like(head: &[u8]) -> bool {
    let h = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    h.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

#[derive(Default, Debug)]
struct Host {
    line: u32,
    col: u32,
    fields: Vec<(String, Option<String>)>,
}

impl Host {
    fn get(&self, k: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(a, _)| a == k)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Line and column (1-based, in bytes) of a byte offset.
fn line_of(doc: &[u8], pos: u64) -> (u32, u32) {
    let p = (pos as usize).min(doc.len());
    let before = &doc[..p];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count() as u32;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, (p - start + 1) as u32)
}

/// Input text for a message, escaped and shortened.
fn q(s: &str) -> String {
    opsbox_common::escape::quote(s)
}

fn hosts(doc: &[u8]) -> Result<Vec<Host>, ((u32, u32), String)> {
    let text = std::str::from_utf8(doc).map_err(|e| {
        (
            line_of(doc, e.valid_up_to() as u64),
            format!("not UTF-8: {e}"),
        )
    })?;
    let mut r = Reader::from_str(text);
    let mut out = Vec::new();
    let mut cur: Option<Host> = None;
    let mut field: Option<(String, bool)> = None;
    let mut value = String::new();
    let mut depth = 0usize;
    let mut root_seen = false;
    loop {
        let pos = r.buffer_position();
        let ev = r.read_event().map_err(|e| {
            (
                line_of(doc, r.error_position()),
                format!(
                    "XML: {}",
                    opsbox_common::escape::quote_max(&e.to_string(), 200)
                ),
            )
        })?;
        match ev {
            Event::Start(e) => {
                depth += 1;
                if depth > 3 {
                    return Err((
                        line_of(doc, pos),
                        "XML nested deeper than hosts/host/field".into(),
                    ));
                }
                let name = e.name().as_ref().to_string();
                match depth {
                    1 => {
                        if name != "hosts" {
                            return Err((
                                line_of(doc, pos),
                                format!("expected <hosts>, found element {}", q(&name)),
                            ));
                        }
                        root_seen = true;
                    }
                    2 => {
                        let (line, col) = line_of(doc, pos);
                        cur = Some(Host {
                            line,
                            col,
                            fields: Vec::new(),
                        })
                    }
                    _ => {
                        let nil = e
                            .attributes()
                            .flatten()
                            .any(|a| a.key.as_ref() == "nil" && &*a.value == "true");
                        field = Some((name, nil));
                        value.clear();
                    }
                }
            }
            Event::Empty(e) => {
                if depth == 2
                    && let Some(h) = cur.as_mut()
                {
                    h.fields.push((e.name().as_ref().to_string(), None));
                } else if depth == 0 && e.name().as_ref() == "hosts" {
                    root_seen = true;
                }
            }
            Event::Text(t) if field.is_some() => value.push_str(&t.xml10_content()),
            Event::CData(t) if field.is_some() => value.push_str(&t.xml10_content()),
            Event::GeneralRef(g) if field.is_some() => {
                let c = match g.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    _ => match &*g.into_inner() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => {
                            return Err((
                                line_of(doc, pos),
                                format!("unknown entity {}", q(&format!("&{other};"))),
                            ));
                        }
                    },
                };
                value.push(c);
            }
            Event::End(_) => {
                match depth {
                    3 => {
                        if let (Some((name, nil)), Some(h)) = (field.take(), cur.as_mut()) {
                            let v = if nil {
                                None
                            } else {
                                Some(std::mem::take(&mut value))
                            };
                            h.fields.push((name, v));
                        }
                    }
                    2 => out.extend(cur.take()),
                    _ => {}
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        return Err(((1, 1), "no <hosts> element".into()));
    }
    Ok(out)
}

/// Parse a Zerigo document. `origin`: the zone (else derived from a host's `fqdn` and
/// `hostname`); `default_ttl` for hosts whose TTL is nil.
pub fn parse(
    file: &str,
    doc: &[u8],
    origin: Option<Name>,
    default_ttl: u32,
) -> (Parsed, Option<Name>) {
    let mut p = Parsed {
        files: vec![file.to_string()],
        ..Parsed::default()
    };
    let list = match hosts(doc) {
        Ok(l) => l,
        Err(((line, col), msg)) => {
            p.problems.push(Problem {
                file: 0,
                line,
                col,
                msg,
            });
            p.fatal = true;
            return (p, origin);
        }
    };
    let origin = origin.or_else(|| {
        list.iter().find_map(|h| {
            let fqdn = h.get("fqdn")?;
            let base = match h.get("hostname") {
                Some(hn) => fqdn.strip_prefix(hn)?.strip_prefix('.')?,
                None => fqdn,
            };
            Name::parse(
                format!("{}.", base.trim_end_matches('.')).as_bytes(),
                None,
                Escapes::Decimal,
            )
            .ok()
            .map(|x| x.0)
        })
    });
    let Some(zone) = origin.clone() else {
        p.problems.push(Problem {
            file: 0,
            line: 0,
            col: 0,
            msg: "cannot tell the zone's name: give --origin".into(),
        });
        return (p, None);
    };
    for h in &list {
        if let Err(msg) = host(&mut p, h, &zone, default_ttl) {
            p.problems.push(Problem {
                file: 0,
                line: h.line,
                col: h.col,
                msg,
            });
        }
    }
    (p, origin)
}

fn host(p: &mut Parsed, h: &Host, zone: &Name, default_ttl: u32) -> Result<(), String> {
    let t = h
        .get("host-type")
        .ok_or("host without host-type")?
        .to_ascii_uppercase();
    let owner = match h.get("hostname") {
        None | Some("") | Some("@") => zone.clone(),
        Some(n) => Name::parse(n.as_bytes(), Some(zone), Escapes::Decimal)?.0,
    };
    if t == "URL" || t == "REDIRECT" {
        p.warnings.push(Problem {
            file: 0,
            line: h.line,
            col: h.col,
            msg: format!(
                "{} {t}: a Zerigo web redirect, not DNS data: skipped",
                owner.to_r53()
            ),
        });
        return Ok(());
    }
    let data = h.get("data").ok_or("host without data")?;
    let ttl = match h.get("ttl") {
        Some(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("bad ttl {}", q(s)))?
            .min(crate::parser::MAX_TTL) as u32,
        None => default_ttl,
    };
    let rtype = RType::parse(&t).ok_or_else(|| format!("unknown host-type {}", q(&t)))?;
    let tok = |s: &str, quoted: bool| Token {
        text: s.as_bytes().to_vec(),
        quoted,
        line: h.line,
        col: h.col,
    };
    let fq = |s: &str| {
        if s.ends_with('.') {
            s.to_string()
        } else {
            format!("{s}.")
        }
    };
    let mut toks = Vec::new();
    match t.as_str() {
        "MX" => {
            toks.push(tok(h.get("priority").unwrap_or("0"), false));
            toks.push(tok(&fq(data.trim()), false));
        }
        "SRV" => {
            let parts: Vec<&str> = data.split_whitespace().collect();
            if parts.len() == 3 {
                toks.push(tok(h.get("priority").unwrap_or("0"), false));
            }
            for (i, x) in parts.iter().enumerate() {
                toks.push(tok(
                    &if i + 1 == parts.len() {
                        fq(x)
                    } else {
                        x.to_string()
                    },
                    false,
                ));
            }
        }
        "CNAME" | "NS" | "PTR" => toks.push(tok(&fq(data.trim()), false)),
        "TXT" | "SPF" => {
            let mut esc = String::new();
            for c in data.chars() {
                if c == '"' || c == '\\' {
                    esc.push('\\');
                }
                esc.push(c);
            }
            toks.push(tok(&esc, true));
        }
        _ => toks.extend(data.split_whitespace().map(|x| tok(x, false))),
    }
    let d = if rtype.route53() {
        let root = Name::root();
        let mut ctx = Ctx::new(Some(&root), Escapes::Decimal);
        ctx.split_long = true;
        let w = rdata::from_text(&rtype, &toks, &mut ctx)
            .and_then(|w| rdata::render(&rtype, &w, Escapes::Octal))
            .map_err(|e| format!("{} {t}: {e}", owner.to_r53()))?;
        Data::Value(w)
    } else {
        Data::Unsupported(t.clone())
    };
    p.records.push(Record {
        file: 0,
        line: h.line,
        col: h.col,
        owner,
        ttl,
        class: Class::In,
        rtype,
        data: d,
        routing: None,
        relative_targets: Vec::new(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_list() {
        let doc = br#"<?xml version="1.0"?>
<hosts type="array">
  <host><data>172.16.16.1</data><fqdn>www.example.com</fqdn><host-type>A</host-type><hostname>www</hostname><ttl type="integer" nil="true"/></host>
  <host><data>mail.example.com</data><fqdn>example.com</fqdn><host-type>MX</host-type><hostname nil="true"/><priority>10</priority><ttl>600</ttl></host>
  <host><data>v=spf1 &amp; "x"</data><host-type>TXT</host-type><hostname>t</hostname></host>
  <host><data>http://x/</data><host-type>URL</host-type><hostname>r</hostname></host>
</hosts>"#;
        let (p, o) = parse("z.xml", doc, None, 3600);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(o.unwrap().to_r53(), "example.com.");
        assert_eq!(p.records.len(), 3);
        assert_eq!(p.records[0].ttl, 3600);
        assert_eq!(p.records[1].owner.to_r53(), "example.com.");
        assert_eq!(p.records[1].ttl, 600);
        let Data::Value(w) = &p.records[2].data else {
            panic!()
        };
        assert_eq!(w, "\"v=spf1 & \\\"x\\\"\"");
        assert_eq!(p.warnings.len(), 1);
        let (p, _) = parse("z.xml", b"<hosts><host>", None, 1);
        assert!(!p.problems.is_empty());
    }
}
