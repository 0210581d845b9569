//! The CEFS errata.xml reader: `<opt>` holding one element per advisory (named after it,
//! `CESA-2013--1764`), its scalar fields as attributes and its lists (`os_arch`,
//! `os_release`, `packages`) as child elements; the CDN's variant has the lists as
//! attributes too. `<meta>` is skipped. Streaming: one advisory in memory at a time.

use crate::xml::{Src, name_str};
use opsbox_common::Result;
use quick_xml::events::{BytesStart, Event};

/// One advisory as read (all text unescaped).
#[derive(Debug, Default, Clone)]
pub struct Raw {
    /// The element name, e.g. `CESA-2013--1764`.
    pub name: String,
    /// Byte offset of its start tag ([`Src::pos`] makes it `FILE:LINE:COL` while the
    /// advisory is being handled).
    pub off: u64,
    pub kind: Option<String>,
    pub severity: Option<String>,
    pub synopsis: Option<String>,
    pub description: Option<String>,
    pub issue_date: Option<String>,
    pub references: Option<String>,
    pub release: Option<String>,
    pub keywords: Option<String>,
    pub from: Option<String>,
    pub os_release: Vec<String>,
    pub os_arch: Vec<String>,
    pub packages: Vec<String>,
    /// Strings of earlier advisories, reused (no allocation per field once warmed up).
    pool: Vec<String>,
}

#[derive(Clone, Copy)]
enum Field {
    Kind,
    Severity,
    Synopsis,
    Description,
    IssueDate,
    References,
    Release,
    Keywords,
    From,
    OsRelease,
    OsArch,
    Packages,
}

fn field(name: &[u8]) -> Option<Field> {
    Some(match name {
        b"type" => Field::Kind,
        b"severity" => Field::Severity,
        b"synopsis" => Field::Synopsis,
        b"description" => Field::Description,
        b"issue_date" => Field::IssueDate,
        b"references" => Field::References,
        b"release" => Field::Release,
        b"keywords" => Field::Keywords,
        b"from" => Field::From,
        b"os_release" => Field::OsRelease,
        b"os_arch" => Field::OsArch,
        b"packages" => Field::Packages,
        _ => return None,
    })
}

impl Raw {
    fn clear(&mut self) {
        self.name.clear();
        for o in [
            &mut self.kind,
            &mut self.severity,
            &mut self.synopsis,
            &mut self.description,
            &mut self.issue_date,
            &mut self.references,
            &mut self.release,
            &mut self.keywords,
            &mut self.from,
        ] {
            self.pool.extend(o.take());
        }
        self.pool.append(&mut self.os_release);
        self.pool.append(&mut self.os_arch);
        self.pool.append(&mut self.packages);
    }

    fn string(pool: &mut Vec<String>, v: &str) -> String {
        match pool.pop() {
            Some(mut s) => {
                s.clear();
                s.push_str(v);
                s
            }
            None => v.to_string(),
        }
    }

    fn set(&mut self, f: Field, v: &str) {
        let pool = &mut self.pool;
        let one = |o: &mut Option<String>, pool: &mut Vec<String>| {
            pool.extend(o.take());
            *o = Some(Self::string(pool, v));
        };
        let list = |l: &mut Vec<String>, pool: &mut Vec<String>| {
            // ASCII without a vertical tab (the one ASCII character `char::is_whitespace`
            // has and `is_ascii_whitespace` has not): the same words, without decoding
            if v.is_ascii() && !v.as_bytes().contains(&0x0b) {
                for w in v.split_ascii_whitespace() {
                    l.push(Self::string(pool, w));
                }
            } else {
                for w in v.split_whitespace() {
                    l.push(Self::string(pool, w));
                }
            }
        };
        match f {
            Field::Kind => one(&mut self.kind, pool),
            Field::Severity => one(&mut self.severity, pool),
            Field::Synopsis => one(&mut self.synopsis, pool),
            Field::Description => one(&mut self.description, pool),
            Field::IssueDate => one(&mut self.issue_date, pool),
            Field::References => one(&mut self.references, pool),
            Field::Release => one(&mut self.release, pool),
            Field::Keywords => one(&mut self.keywords, pool),
            Field::From => one(&mut self.from, pool),
            Field::OsRelease => list(&mut self.os_release, pool),
            Field::OsArch => list(&mut self.os_arch, pool),
            Field::Packages => list(&mut self.packages, pool),
        }
    }
}

/// Read every advisory of `src`, calling `each` for it. Returns how many were read.
/// Fatal: malformed XML, a root other than `<opt>`, no advisory at all.
pub fn read(src: &mut Src, mut each: impl FnMut(&Src, &Raw) -> Result<()>) -> Result<usize> {
    let mut buf = Vec::with_capacity(1 << 12);
    let mut raw = Raw::default();
    let mut count = 0usize;
    let mut root_seen = false;
    let mut in_adv = false;
    let mut in_meta = false;
    let mut cur: Option<Field> = None;
    let mut text = String::new();
    loop {
        let depth_before = src.depth();
        let (off, ev) = src.next(&mut buf)?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                match depth_before {
                    0 => {
                        if root_seen {
                            return Err(src.at(off, "a second root element"));
                        }
                        if e.name().as_ref().as_bytes() != b"opt" {
                            return Err(src.at(
                                off,
                                format!(
                                    "root element is <{}>, not <opt>: not a CEFS errata file",
                                    name_str(e.name().as_ref().as_bytes())
                                ),
                            ));
                        }
                        root_seen = true;
                        if empty {
                            break;
                        }
                    }
                    1 => {
                        if e.name().as_ref().as_bytes() == b"meta" {
                            in_meta = !empty;
                            continue;
                        }
                        src.forget_before(off);
                        start_advisory(src, off, e, &mut raw)?;
                        if empty {
                            count += 1;
                            each(src, &raw)?;
                        } else {
                            in_adv = true;
                        }
                    }
                    2 if in_adv => {
                        cur = field(e.name().as_ref().as_bytes());
                        text.clear();
                        if empty && let Some(f) = cur.take() {
                            raw.set(f, "");
                        }
                    }
                    _ => {}
                }
            }
            Event::End(_) => match src.depth() {
                // the depth after the end tag
                1 if in_adv => {
                    in_adv = false;
                    count += 1;
                    each(src, &raw)?;
                }
                1 if in_meta => in_meta = false,
                2 if in_adv => {
                    if let Some(f) = cur.take() {
                        raw.set(f, &text);
                    }
                }
                _ => {}
            },
            Event::Text(t) => {
                if cur.is_some() {
                    text.push_str(&t.xml10_content());
                } else if src.depth() == 0 && !t.trim_ascii().is_empty() {
                    return Err(src.at(off, "text outside the root element"));
                }
            }
            Event::CData(t) => {
                if cur.is_some() {
                    text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = src.reference(off, &r)?;
                if cur.is_some() {
                    text.push(c);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !root_seen {
        return Err(src.at(0, "no root element: not a CEFS errata file"));
    }
    if count == 0 {
        return Err(src.at(
            0,
            "no advisories in the file (an empty or cut-short download?)",
        ));
    }
    Ok(count)
}

fn start_advisory(src: &Src, off: u64, e: &BytesStart, raw: &mut Raw) -> Result<()> {
    raw.clear();
    raw.name.push_str(&name_str(e.name().as_ref().as_bytes()));
    raw.off = off;
    src.attrs(off, e, |k, v| {
        if let Some(f) = field(k) {
            raw.set(f, &v);
        }
        Ok(())
    })
}

trait TrimAscii {
    fn trim_ascii(&self) -> &str;
}
impl TrimAscii for quick_xml::events::BytesText<'_> {
    fn trim_ascii(&self) -> &str {
        self.as_ref().trim_ascii()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(doc: &str) -> Result<Vec<Raw>> {
        let mut src = Src::new(Box::new(std::io::Cursor::new(doc.to_string())), "t.xml");
        let mut v = Vec::new();
        read(&mut src, |_, r| {
            v.push(r.clone());
            Ok(())
        })?;
        Ok(v)
    }

    #[test]
    fn children_and_attributes_read_alike() {
        let a = parse(r#"<opt><CEBA-1--2 type="Bug Fix Advisory" os_arch="x86_64" os_release="7" packages="a-1-1.el7.x86_64.rpm"/></opt>"#).unwrap();
        let b = parse("<opt>\n <CEBA-1--2 type=\"Bug Fix Advisory\">\n  <os_arch>x86_64</os_arch><os_release>7</os_release>\n  <packages>a-1-1.el7.x86_64.rpm</packages>\n </CEBA-1--2>\n <meta><author>x</author></meta>\n</opt>").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(
            (&a[0].os_release, &a[0].os_arch, &a[0].packages),
            (&b[0].os_release, &b[0].os_arch, &b[0].packages)
        );
        assert_eq!(a[0].packages, vec!["a-1-1.el7.x86_64.rpm"]);
        assert_eq!(b[0].off, 7);
    }

    #[test]
    fn lists_split_on_every_kind_of_white_space() {
        let doc = "<opt><A-1--1 packages=\"a&#9;b&#10;c&#11;d&#12;e&#13;f g\u{a0}h\u{2003}i\"><packages> j&#11;k  l </packages></A-1--1></opt>";
        let r = parse(doc).unwrap();
        assert_eq!(
            r[0].packages,
            ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]
        );
        let r = parse("<opt><A-1--1 packages=\" x \ty\"/></opt>").unwrap();
        assert_eq!(r[0].packages, ["x", "y"]);
    }

    #[test]
    fn fatal_errors_have_positions() {
        let e = parse("<opt>\n<A-1--1 synopsis=\"x &foo; y\"/></opt>").unwrap_err();
        assert_eq!(e.message(), Some("t.xml:2:1: unknown entity &foo;"));
        let e = parse("<opt><A-1--1><packages>a&foo;b</packages></A-1--1></opt>").unwrap_err();
        assert_eq!(e.message(), Some("t.xml:1:25: unknown entity &foo;"));
        let e =
            parse("<opt>\n  <A-1--1>\n    <packages>a</packagez>\n</A-1--1></opt>").unwrap_err();
        assert!(e.message().unwrap().starts_with("t.xml:3:16: "), "{e:?}");
        let e = parse("<opt>\n  <A-1--1 type=\"x\" type=\"y\"/>\n</opt>").unwrap_err();
        assert!(
            e.message()
                .unwrap()
                .starts_with("t.xml:2:20: duplicate attribute"),
            "{e:?}"
        );
        let e = parse("<opt>\n  <A-1--1 type=\"x\">\n    <packages>a").unwrap_err();
        assert!(
            e.message().unwrap().contains("unexpected end of file"),
            "{e:?}"
        );
        let e = parse("<updates><update/></updates>").unwrap_err();
        assert!(e.message().unwrap().contains("not <opt>"), "{e:?}");
        let e = parse("<opt>\n<meta/>\n</opt>").unwrap_err();
        assert!(e.message().unwrap().contains("no advisories"), "{e:?}");
        assert_eq!(e.code(), 65);
    }
}
