//! The CEFS errata.xml reader: `<opt>` holding one element per advisory (named after it,
//! `CESA-2013--1764`), its scalar fields as attributes and its lists (`os_arch`,
//! `os_release`, `packages`) as child elements; the CDN's variant has the lists as
//! attributes too. `<meta>` is skipped. Streaming: one advisory in memory at a time.

use crate::frag::Frag;
use crate::stream::limits;
use crate::xml::{Src, attributes, name_str};
use opsbox_common::Result;
use quick_xml::events::{BytesStart, Event};

/// One advisory as read (all text unescaped): its texts back to back in one buffer, the
/// fields and list items as ranges of it. Cleared and refilled advisory after advisory,
/// it allocates nothing once its buffers have grown.
#[derive(Debug, Default)]
pub struct Raw {
    /// (UTF-8: only whole `str`s are put in it)
    text: Frag,
    name: (u32, u32),
    /// Byte offset of its start tag, and that offset's line and column.
    pub off: u64,
    pub line: u64,
    pub col: u64,
    fields: [Option<(u32, u32)>; 9],
    lists: [Vec<(u32, u32)>; 3],
    /// The advisory's start tag (name and attributes, between `<` and `>`) until
    /// [`Raw::read_tag`] has read its attributes, and the length of its name.
    tag: String,
    name_len: usize,
    /// The error of reading the start tag, when the parsing thread read it ahead.
    early: Option<opsbox_common::Error>,
}

/// The texts of a [`Raw`], to read its fields from.
#[derive(Clone, Copy)]
pub struct View<'a> {
    raw: &'a Raw,
    text: &'a str,
}

impl<'a> View<'a> {
    fn range(&self, (a, b): (u32, u32)) -> &'a str {
        self.text.get(a as usize..b as usize).unwrap_or("")
    }

    /// The element name, e.g. `CESA-2013--1764`.
    pub fn name(&self) -> &'a str {
        self.range(self.raw.name)
    }

    /// A scalar field's text (the last one given); `None` for a list field.
    pub fn get(&self, f: Field) -> Option<&'a str> {
        self.raw.fields.get(f as usize)?.map(|r| self.range(r))
    }

    /// A list field's items: the words (split at white space) of every occurrence; empty
    /// for a scalar field. (Split here, on the converting side, not while parsing.)
    pub fn list(self, f: Field) -> Words<'a> {
        let texts = list_index(f).map_or(&[][..], |i| &self.raw.lists[i][..]);
        Words {
            view: self,
            texts: texts.iter(),
            split: None,
        }
    }

    /// A list field's texts as they are (each occurrence whole).
    pub fn texts(self, f: Field) -> impl Iterator<Item = &'a str> {
        let texts = list_index(f).map_or(&[][..], |i| &self.raw.lists[i][..]);
        texts.iter().map(move |&r| self.range(r))
    }
}

/// The items of a list field: the words of each of its texts, split at white space
/// (`char::is_whitespace`). The usual text is one word, and is taken whole.
pub struct Words<'a> {
    view: View<'a>,
    texts: std::slice::Iter<'a, (u32, u32)>,
    split: Option<std::str::SplitWhitespace<'a>>,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        loop {
            if let Some(w) = self.split.as_mut().and_then(Iterator::next) {
                return Some(w);
            }
            let v = self.view.range(*self.texts.next()?);
            // printable ASCII only: no white space of any kind
            if v.bytes().all(|b| b > b' ' && b < 0x7f) {
                self.split = None;
                if !v.is_empty() {
                    return Some(v);
                }
            } else {
                self.split = Some(v.split_whitespace());
            }
        }
    }
}

/// A field of an advisory: the scalar ones come first, then the lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
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

/// The index of a list field among the lists.
fn list_index(f: Field) -> Option<usize> {
    (f as usize).checked_sub(Field::OsRelease as usize)
}

impl Raw {
    /// An empty advisory with room for a usual one (growing is allocating anew).
    fn with_room() -> Self {
        Raw {
            text: Frag::with_capacity(4096),
            lists: std::array::from_fn(|_| Vec::with_capacity(16)),
            ..Raw::default()
        }
    }

    fn clear(&mut self) {
        self.early = None;
        self.text.clear();
        self.tag.clear();
        self.name = (0, 0);
        self.fields = [None; 9];
        for l in &mut self.lists {
            l.clear();
        }
    }

    /// Its texts, checked as UTF-8 once (they are: only whole `str`s are put in).
    pub fn view(&self) -> View<'_> {
        View {
            raw: self,
            text: std::str::from_utf8(self.text.as_bytes()).unwrap_or(""),
        }
    }

    /// The element name, e.g. `CESA-2013--1764`.
    pub fn name(&self) -> &str {
        self.view().name()
    }

    /// A scalar field's text (the last one given); `None` for a list field.
    pub fn get(&self, f: Field) -> Option<&str> {
        self.view().get(f)
    }

    /// A list field's items (see [`View::list`]).
    pub fn list(&self, f: Field) -> Words<'_> {
        self.view().list(f)
    }

    /// Where the text of a field begins (then push its text, then [`Raw::end`]).
    fn begin(&self) -> usize {
        self.text.len()
    }

    /// The field `f` is the text pushed since `start`: a scalar field's value, or one more
    /// text of a list field.
    fn end(&mut self, f: Field, start: usize) {
        let r = (start as u32, self.text.len() as u32);
        match list_index(f) {
            Some(li) => self.lists[li].push(r),
            None => self.fields[f as usize] = Some(r),
        }
    }

    /// Read the attributes of the start tag into fields (an error names `input`, and the
    /// line and column in it).
    pub fn read_tag(&mut self, input: &str) -> Result<()> {
        if let Some(e) = self.early.take() {
            return Err(e);
        }
        if self.tag.is_empty() {
            return Ok(());
        }
        let tag = std::mem::take(&mut self.tag);
        let e = BytesStart::from_content(tag.as_str(), self.name_len);
        let (line, col) = (self.line, self.col);
        // `d` bytes after the tag's `<` (which is at line:col)
        let at = |d: u64, msg: String| {
            let before = tag
                .as_bytes()
                .get(..(d as usize).saturating_sub(1))
                .unwrap_or(b"");
            let (l, c) = match memchr::memrchr(b'\n', before) {
                None => (line, col + d),
                Some(nl) => (
                    line + memchr::memchr_iter(b'\n', before).count() as u64,
                    (before.len() - nl) as u64,
                ),
            };
            opsbox_common::Error::at(input, l, c, msg)
        };
        let r = attributes(&e, at, |k, v| {
            if let Some(f) = field(k) {
                self.set(f, &v);
            }
            Ok(())
        });
        drop(e);
        self.tag = tag;
        self.tag.clear();
        r
    }

    /// Set field `f` to `v`.
    fn set(&mut self, f: Field, v: &str) {
        let start = self.begin();
        self.text.put(v.as_bytes());
        self.end(f, start);
    }
}

/// Read every advisory of `src`, calling `each` for it (it may take the advisory, leaving
/// another `Raw` in its place). Returns how many were read.
/// Fatal: malformed XML, a root other than `<opt>`, no advisory at all.
pub fn read(src: &mut Src, each: impl FnMut(&mut Raw) -> Result<()>) -> Result<usize> {
    read_with(src, false, each)
}

/// [`read`]; with `parallel`, advisories are handed to `each` with their start tag unread
/// (the caller calls [`Raw::read_tag`]).
fn read_with(
    src: &mut Src,
    parallel: bool,
    mut each: impl FnMut(&mut Raw) -> Result<()>,
) -> Result<usize> {
    let mut buf = Vec::with_capacity(1 << 12);
    let mut raw = Raw::with_room();
    let mut count = 0usize;
    let mut root_seen = false;
    let mut in_adv = false;
    let mut in_meta = false;
    // the field being read from a child element, and where its text starts
    let mut cur: Option<(Field, usize)> = None;
    loop {
        let depth_before = src.depth();
        let (off, ev) = src.next(&mut buf)?;
        if in_adv && off - raw.off > limits::ADVISORY {
            return Err(opsbox_common::Error::at(
                &src.name,
                raw.line,
                raw.col,
                format!(
                    "advisory {} is longer than {} bytes",
                    opsbox_common::escape::quote(raw.name()),
                    limits::ADVISORY
                ),
            ));
        }
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
                        start_advisory(src, off, e, &mut raw);
                        if !parallel {
                            raw.read_tag(&src.name)?;
                        }
                        if empty {
                            count += 1;
                            each(&mut raw)?;
                        } else {
                            in_adv = true;
                        }
                    }
                    2 if in_adv => {
                        cur = field(e.name().as_ref().as_bytes()).map(|f| (f, raw.begin()));
                        if empty && let Some((f, start)) = cur.take() {
                            raw.end(f, start);
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
                    each(&mut raw)?;
                }
                1 if in_meta => in_meta = false,
                2 if in_adv => {
                    if let Some((f, start)) = cur.take() {
                        raw.end(f, start);
                    }
                }
                _ => {}
            },
            Event::Text(t) => {
                if cur.is_some() {
                    raw.text.put(t.xml10_content().as_bytes());
                } else if src.depth() == 0 && !t.trim_ascii().is_empty() {
                    return Err(src.at(off, "text outside the root element"));
                }
            }
            Event::CData(t) => {
                if cur.is_some() {
                    raw.text.put(t.xml10_content().as_bytes());
                }
            }
            Event::GeneralRef(r) => {
                let c = src.reference(off, &r)?;
                if cur.is_some() {
                    raw.text.put(c.encode_utf8(&mut [0; 4]).as_bytes());
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

/// Advisories handed from the parsing thread to the caller's at a time, and the most
/// text a batch holds (whichever comes first): with at most four batches on their way,
/// memory stays bounded whatever the advisories' sizes.
const BATCH: usize = 64;
const BATCH_BYTES: usize = 1 << 20;

/// [`read`] on a thread of its own, `each` on the caller's: parsing and converting run
/// side by side, advisories passed in batches (the `Raw`s and their buffers go back and
/// forth, so nothing is allocated per advisory). Errors are those of [`read`] in document
/// order: `each` sees every advisory before a fatal parse error, and its own error ends
/// the parsing.
pub fn read_parallel(mut src: Src, mut each: impl FnMut(&Raw) -> Result<()>) -> Result<usize> {
    use std::sync::mpsc;
    let input = src.name.clone();
    let name = input.clone();
    std::thread::scope(|s| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<Raw>>(2);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<Raw>>();
        let parser = std::thread::Builder::new()
            .name("parse".into())
            .spawn_scoped(s, move || {
                let mut batch: Vec<Raw> = Vec::with_capacity(BATCH);
                let mut spare: Vec<Raw> = Vec::new();
                let mut bytes = 0;
                let res = read_with(&mut src, true, |raw| {
                    // (one that held a huge advisory is let go: memory stays bounded)
                    let mut slot = spare
                        .pop()
                        .filter(|r| r.text.capacity() <= 1 << 13 && r.tag.capacity() <= 1 << 16)
                        .unwrap_or_else(Raw::with_room);
                    std::mem::swap(raw, &mut slot);
                    bytes += slot.text.len() + slot.tag.len();
                    batch.push(slot);
                    if batch.len() == BATCH || bytes >= BATCH_BYTES {
                        bytes = 0;
                        let next = match empty_rx.try_recv() {
                            Ok(mut empties) => {
                                spare.append(&mut empties);
                                empties
                            }
                            Err(_) => Vec::with_capacity(BATCH),
                        };
                        let mut full = std::mem::replace(&mut batch, next);
                        // while the converting side is behind, read start tags here (an
                        // error is kept in its advisory: it is reported in order)
                        let mut ahead = 0;
                        loop {
                            full = match full_tx.try_send(full) {
                                Ok(()) => break,
                                Err(mpsc::TrySendError::Full(f)) => f,
                                // the other side stopped at an error of its own: it reports that
                                Err(mpsc::TrySendError::Disconnected(_)) => {
                                    return Err(opsbox_common::Error::quiet(1));
                                }
                            };
                            let Some(raw) = full.get_mut(ahead) else {
                                full_tx
                                    .send(full)
                                    .map_err(|_| opsbox_common::Error::quiet(1))?;
                                break;
                            };
                            if let Err(e) = raw.read_tag(&name) {
                                raw.early = Some(e);
                            }
                            ahead += 1;
                        }
                    }
                    Ok(())
                });
                if !batch.is_empty() {
                    let _ = full_tx.send(batch);
                }
                res
            });
        let parser = parser.map_err(|e| {
            opsbox_common::Error::io(format!(
                "cannot start the parsing thread: {}",
                opsbox_common::io_reason(&e)
            ))
        })?;
        let mut failed = None;
        for mut batch in full_rx {
            let mut one = |raw: &mut Raw| raw.read_tag(&input).and_then(|()| each(raw));
            if let Some(e) = batch.iter_mut().find_map(|raw| one(raw).err()) {
                failed = Some(e);
                break;
            }
            let _ = empty_tx.send(batch);
        }
        let parsed = parser
            .join()
            .unwrap_or_else(|_| Err(opsbox_common::Error::io("the parsing thread failed")));
        match failed {
            Some(e) => Err(e),
            None => parsed,
        }
    })
}

/// A new advisory: its name and position; its start tag is kept whole, its attributes are
/// read by [`Raw::read_tag`] (on the converting side, with `read_parallel`).
fn start_advisory(src: &Src, off: u64, e: &BytesStart, raw: &mut Raw) {
    raw.clear();
    raw.text
        .put(name_str(e.name().as_ref().as_bytes()).as_bytes());
    raw.name = (0, raw.text.len() as u32);
    raw.off = off;
    (raw.line, raw.col) = src.line_col(off);
    raw.tag.push_str(e);
    raw.name_len = e.name().as_ref().len();
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
        read(&mut src, |r| {
            v.push(std::mem::take(r));
            Ok(())
        })?;
        Ok(v)
    }

    /// Everything of an advisory, as one text.
    fn summary(r: &Raw) -> String {
        let mut t = format!("{} @{}:{}:{}", r.name(), r.off, r.line, r.col);
        let names = "type severity synopsis description issue_date references release \
                     keywords from os_release os_arch packages";
        for f in names.split_whitespace().filter_map(|n| field(n.as_bytes())) {
            match list_index(f) {
                None => t += &format!(" {f:?}={:?}", r.get(f)),
                Some(_) => t += &format!(" {f:?}={:?}", r.list(f).collect::<Vec<_>>()),
            }
        }
        t
    }

    fn list(r: &Raw, f: Field) -> Vec<&str> {
        r.list(f).collect()
    }

    /// `read` and `read_parallel` (with `each` failing at advisory `fail_at`) give the
    /// same advisories, then the same error.
    fn both(doc: &str, fail_at: Option<usize>) -> (Vec<String>, Option<String>) {
        let src = || Src::new(Box::new(std::io::Cursor::new(doc.to_string())), "t.xml");
        let run = |parallel: bool| {
            let mut seen = Vec::new();
            let mut each = |r: &Raw| {
                if Some(seen.len()) == fail_at {
                    return Err(opsbox_common::Error::data(format!("stop at {}", r.name())));
                }
                seen.push(summary(r));
                Ok(())
            };
            let res = if parallel {
                read_parallel(src(), &mut each)
            } else {
                read(&mut src(), |r| each(r))
            };
            (seen, res.err().map(|e| format!("{e:?}")))
        };
        let (a, b) = (run(false), run(true));
        assert_eq!(a, b);
        a
    }

    #[test]
    fn the_parsing_thread_reads_alike_and_fails_alike() {
        let mut doc = String::from("<opt>\n");
        for i in 0..(3 * BATCH + 5) {
            doc += &format!(
                "<CESA-1--{i} type=\"t\" packages=\"a-1-{i}.el7.x86_64.rpm b\"><os_arch>x</os_arch><keywords>k &amp; {i}</keywords></CESA-1--{i}>\n"
            );
        }
        let whole = format!("{doc}</opt>\n");
        let (seen, err) = both(&whole, None);
        assert_eq!((seen.len(), err), (3 * BATCH + 5, None));
        assert!(seen[7].contains("Keywords=Some(\"k & 7\")"), "{}", seen[7]);
        // a parse error after them all: every advisory first, then the error
        let (seen, err) = both(&format!("{doc}<bad attr=x/></opt>"), None);
        assert_eq!(seen.len(), 3 * BATCH + 5);
        assert!(err.unwrap().contains("t.xml:"));
        // the caller's error wins over a later parse error, and stops the parsing
        for at in [0, 5, BATCH, 2 * BATCH + 1] {
            let (seen, err) = both(&format!("{doc}<bad attr=x/></opt>"), Some(at));
            assert_eq!(seen.len(), at);
            assert!(err.unwrap().contains(&format!("stop at CESA-1--{at}")));
        }
    }

    #[test]
    fn start_tags_read_ahead_fail_in_order() {
        // a slow converting side: the parsing thread reads start tags ahead, one with a
        // duplicate attribute among them; its error comes after every advisory before it
        let bad = 3 * BATCH + 7;
        let mut doc = String::from("<opt>\n");
        for i in 0..(5 * BATCH) {
            let dup = if i == bad { " type=\"u\"" } else { "" };
            doc += &format!("<CESA-1--{i} type=\"t\"{dup} packages=\"a-1-{i}.el7.x86_64.rpm\"/>\n");
        }
        doc += "</opt>\n";
        let want = read(
            &mut Src::new(Box::new(std::io::Cursor::new(doc.clone())), "t.xml"),
            |_| Ok(()),
        )
        .unwrap_err();
        let mut seen = 0;
        let got = read_parallel(
            Src::new(Box::new(std::io::Cursor::new(doc)), "t.xml"),
            |r| {
                std::thread::sleep(std::time::Duration::from_micros(300));
                assert_eq!(r.get(Field::Kind), Some("t"));
                seen += 1;
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!((seen, format!("{got:?}")), (bad, format!("{want:?}")));
        assert!(
            format!("{got:?}").contains("duplicate attribute"),
            "{got:?}"
        );
    }

    #[test]
    fn field_names_and_only_them() {
        let names = "type severity synopsis description issue_date references release \
                     keywords from os_release os_arch packages";
        for n in names.split_whitespace() {
            let f = field(n.as_bytes()).unwrap();
            assert_eq!(format!("{f:?}") == "Kind", n == "type");
        }
        for other in [
            "",
            "typ",
            "types",
            "Type",
            "type\0",
            "os_releasex",
            "descriptionnnnnnn",
        ] {
            assert_eq!(field(other.as_bytes()), None, "{other:?}");
        }
    }

    #[test]
    fn children_and_attributes_read_alike() {
        let a = parse(r#"<opt><CEBA-1--2 type="Bug Fix Advisory" os_arch="x86_64" os_release="7" packages="a-1-1.el7.x86_64.rpm"/></opt>"#).unwrap();
        let b = parse("<opt>\n <CEBA-1--2 type=\"Bug Fix Advisory\">\n  <os_arch>x86_64</os_arch><os_release>7</os_release>\n  <packages>a-1-1.el7.x86_64.rpm</packages>\n </CEBA-1--2>\n <meta><author>x</author></meta>\n</opt>").unwrap();
        assert_eq!(a.len(), 1);
        for f in [Field::OsRelease, Field::OsArch, Field::Packages] {
            assert_eq!(list(&a[0], f), list(&b[0], f));
        }
        assert_eq!(list(&a[0], Field::Packages), ["a-1-1.el7.x86_64.rpm"]);
        assert_eq!(b[0].off, 7);
    }

    #[test]
    fn lists_split_on_every_kind_of_white_space() {
        let doc = "<opt><A-1--1 packages=\"a&#9;b&#10;c&#11;d&#12;e&#13;f g\u{a0}h\u{2003}i\"><packages> j&#11;k  l </packages></A-1--1></opt>";
        let r = parse(doc).unwrap();
        assert_eq!(
            list(&r[0], Field::Packages),
            ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]
        );
        let r = parse("<opt><A-1--1 packages=\" x \ty\"/></opt>").unwrap();
        assert_eq!(list(&r[0], Field::Packages), ["x", "y"]);
    }

    #[test]
    fn fatal_errors_have_positions() {
        let e = parse("<opt>\n<A-1--1 synopsis=\"x &foo; y\"/></opt>").unwrap_err();
        assert_eq!(e.message(), Some("t.xml:2:1: unknown entity &foo;"));
        // (an attribute the converter does not read is checked all the same)
        let e = parse("<opt>\n<A-1--1 notes=\"x &foo; y\"/></opt>").unwrap_err();
        assert_eq!(e.message(), Some("t.xml:2:1: unknown entity &foo;"));
        let e = parse("<opt><A-1--1><packages>a&foo;b</packages></A-1--1></opt>").unwrap_err();
        assert_eq!(e.message(), Some("t.xml:1:25: unknown entity &foo;"));
        let e =
            parse("<opt>\n  <A-1--1>\n    <packages>a</packagez>\n</A-1--1></opt>").unwrap_err();
        assert!(e.message().unwrap().starts_with("t.xml:3:16: "), "{e:?}");
        // a start tag over several lines (its attributes are read apart from the parsing)
        for doc in [
            "<opt>\n<A-1--1\ttype=\"x\"\n  \n   type=\"y\"/>\n</opt>",
            "<opt>\n<A-1--1 type=\"x\"\n   type=\"y\"></A-1--1>\n</opt>",
        ] {
            let e = parse(doc).unwrap_err();
            let want = if doc.contains("  \n") {
                "t.xml:4:4: "
            } else {
                "t.xml:3:4: "
            };
            assert!(e.message().unwrap().starts_with(want), "{e:?}");
            assert!(
                e.message().unwrap().contains("duplicate attribute"),
                "{e:?}"
            );
            assert_eq!(both(doc, None).1, Some(format!("{e:?}")));
        }
        let e = parse("<opt>\n<A-1--1 a=\"1\"\n b=\"&x;\"/></opt>").unwrap_err();
        assert_eq!(e.message(), Some("t.xml:2:1: unknown entity &x;"));
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
