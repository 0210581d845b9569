//! CEFS advisory → updateinfo `<update>` records, one per (advisory, release): the
//! mapping of an advisory's fields and packages, and the text of each record (sorted and
//! written out by [`crate::spool`]).

use crate::advisory::{Id, Kind, advisory_id, each_reference, issued_date, severity};
use crate::cefs::{Field, Raw, View};
use crate::frag::Frag;
use crate::record;
use crate::rpm::{Nevra, Primary, dist_release};
use crate::spool::{Entry, Sorter, Spooled, prefix};
use crate::warnings::Diag;
use crate::xmlesc::escape;
use opsbox_common::escape::quote;
use opsbox_common::{Error, Result};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// What to keep.
#[derive(Debug, Default)]
pub struct Filters {
    pub releases: Vec<u32>,
    pub arches: Vec<String>,
    pub types: Vec<Kind>,
    pub severities: Vec<&'static str>,
    pub only_present: bool,
}

#[derive(Debug, Default, Clone)]
pub struct ReleaseStats {
    pub advisories: usize,
    pub packages: usize,
    pub types: BTreeMap<&'static str, usize>,
    pub severities: BTreeMap<&'static str, usize>,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub read: usize,
    pub releases: BTreeMap<u32, ReleaseStats>,
    /// Advisories skipped, by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Advisories left out by --type/--severity/--release/--arch/--only-present.
    pub filtered: usize,
    pub packages_looked_up: usize,
    pub packages_not_found: usize,
    /// The distinct packages not found (file names), the first [`MISSING_KEPT`] in order.
    pub missing: BTreeSet<String>,
    /// More distinct packages were missing than are kept.
    pub missing_truncated: bool,
    pub duplicates: usize,
}

/// Missing package names kept for the report (memory stays bounded).
pub const MISSING_KEPT: usize = 10_000;

impl Stats {
    /// Note a package the repository does not hold.
    fn missing(&mut self, file: &str) {
        self.packages_not_found += 1;
        let file = file.strip_suffix(".rpm").unwrap_or(file);
        if self.missing.contains(file) {
            return;
        }
        if self.missing.len() < MISSING_KEPT {
            self.missing.insert(file.to_string());
        } else {
            self.missing_truncated = true;
            if self.missing.last().is_some_and(|l| l.as_str() > file) {
                self.missing.pop_last();
                self.missing.insert(file.to_string());
            }
        }
    }

    /// The missing packages for a line of text: the first few, then how many more.
    pub fn missing_short(&self) -> String {
        const SHOWN: usize = 5;
        let mut t: Vec<String> = self
            .missing
            .iter()
            .take(SHOWN)
            .map(|m| opsbox_common::escape::text(m).into_owned())
            .collect();
        let distinct = self.missing.len();
        if distinct > SHOWN || self.missing_truncated {
            let more = if self.missing_truncated {
                format!("{}+", distinct - SHOWN)
            } else {
                (distinct - SHOWN).to_string()
            };
            t.push(format!("and {more} more (--stats --json lists them)"));
        }
        t.join(", ")
    }
}

struct Pkg<'a> {
    n: Nevra<'a>,
    file: &'a str,
    epoch: &'a str,
    src: Option<&'a str>,
    /// Epoch or src came from the repository (and are escaped); else they are "0" and a
    /// file name of the advisory, which need no escaping.
    repo: bool,
}

pub struct Converter<'a> {
    /// The input's name in messages.
    input: String,
    filters: &'a Filters,
    primary: Option<&'a Primary>,
    diag: &'a Diag,
    strict: bool,
    pub stats: Stats,
    /// The records made, to be sorted.
    pub(crate) sorter: Sorter,
    reuse: Reuse,
}

/// The per-advisory lists, kept empty between advisories so that their memory is reused
/// (musl's allocator gives emptied pages back at once: allocating them anew per advisory
/// costs an mmap and a munmap).
#[derive(Default)]
struct Reuse {
    os_releases: Vec<u32>,
    pkgs: Vec<Item<'static>>,
    sorted: Vec<Item<'static>>,
    order: Vec<u32>,
    srcs: Vec<(&'static Nevra<'static>, &'static str)>,
    out: Vec<Pkg<'static>>,
    hrefs: Vec<String>,
    /// Escaped epochs and srcs.
    scratch: Frag,
}

/// An empty vector in `v`'s memory, for elements of the same layout with other lifetimes
/// (collecting in place keeps the allocation; the closure never runs).
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

/// The releases one advisory may have packages for (each gets a copy of its texts).
pub const MAX_RELEASES: usize = 32;

impl<'a> Converter<'a> {
    /// Sort the records, drop duplicate ids (keeping the first), count.
    pub fn finish(self) -> Result<Spooled> {
        self.sorter.finish(self.stats, self.diag)
    }

    pub fn new(
        filters: &'a Filters,
        primary: Option<&'a Primary>,
        diag: &'a Diag,
        strict: bool,
        input: &str,
    ) -> Result<Self> {
        Ok(Converter {
            input: input.to_string(),
            filters,
            primary,
            diag,
            strict,
            stats: Stats::default(),
            sorter: Sorter::new(),
            reuse: Reuse::default(),
        })
    }

    /// A per-advisory data problem: a warning (the advisory is skipped), fatal with --strict.
    fn skip(&mut self, raw: &Raw, id: &str, reason: &str, detail: String) -> Result<()> {
        *self.stats.skipped.entry(reason.to_string()).or_default() += 1;
        let pos = self.pos(raw);
        if self.strict {
            return Err(Error::data(format!("{pos}: {id}: {detail}")));
        }
        self.diag
            .warn(format!("{pos}: {id}: {detail}; advisory skipped"));
        Ok(())
    }

    fn warn(&self, raw: &Raw, id: &str, detail: String) -> Result<()> {
        let pos = self.pos(raw);
        if self.strict {
            return Err(Error::data(format!("{pos}: {id}: {detail}")));
        }
        self.diag.warn(format!("{pos}: {id}: {detail}"));
        Ok(())
    }

    /// `FILE:LINE:COL` of an advisory.
    fn pos(&self, raw: &Raw) -> String {
        format!("{}:{}:{}", self.input, raw.line, raw.col)
    }

    /// Map one advisory (possibly to several releases) and spool its records.
    pub fn add(&mut self, raw: &Raw) -> Result<()> {
        self.stats.read += 1;
        let v = raw.view();
        let Some(id) = advisory_id(v.name()) else {
            let id = v.name().replace("--", ":");
            return self.skip(
                raw,
                &id,
                "bad id",
                format!(
                    "{} is not an advisory id (printable ASCII, at most 48 bytes)",
                    quote(&id)
                ),
            );
        };
        let kind = match v.get(Field::Kind).map(str::trim) {
            None | Some("") => return self.skip(raw, &id, "no type", "no type".into()),
            Some(t) => match Kind::from_cefs(t) {
                Some(k) => k,
                None => {
                    return self.skip(
                        raw,
                        &id,
                        "unknown type",
                        format!("unknown type {}", quote(t)),
                    );
                }
            },
        };
        if let Some(p) = Kind::from_prefix(&id)
            && p != kind
        {
            self.warn(
                raw,
                &id,
                format!(
                    "type '{}' disagrees with the id prefix; using {}",
                    kind.name(),
                    kind.name()
                ),
            )?;
        }
        let issued = match v.get(Field::IssueDate) {
            None => return self.skip(raw, &id, "no date", "no issue_date".into()),
            Some(d) => match issued_date(d) {
                Some(d) => d,
                None => {
                    return self.skip(
                        raw,
                        &id,
                        "bad date",
                        format!("bad issue_date {} (want YYYY-MM-DD HH:MM:SS)", quote(d)),
                    );
                }
            },
        };
        let sev = match v.get(Field::Severity).map(str::trim) {
            None | Some("") => None,
            Some(s) => match severity(s) {
                Some(s) => Some(s),
                None => {
                    self.warn(raw, &id, format!("unknown severity {} left out", quote(s)))?;
                    None
                }
            },
        };
        let f = self.filters;
        if (!f.types.is_empty() && !f.types.contains(&kind))
            || (!f.severities.is_empty() && !sev.is_some_and(|s| f.severities.contains(&s)))
        {
            self.stats.filtered += 1;
            return Ok(());
        }
        let mut os_releases = std::mem::take(&mut self.reuse.os_releases);
        os_releases.clear();
        for r in v.list(Field::OsRelease) {
            match r.trim().parse::<u32>() {
                Ok(n) => os_releases.push(n),
                Err(_) => {
                    return self.skip(
                        raw,
                        &id,
                        "bad os_release",
                        format!("os_release {} is not a number", quote(r)),
                    );
                }
            }
        }
        let mut pkgs: Vec<Item> = recycle(std::mem::take(&mut self.reuse.pkgs));
        for (file, parsed) in files(v) {
            let Some(n) = parsed.or_else(|| Nevra::from_filename(file)) else {
                return self.skip(
                    raw,
                    &id,
                    "bad package",
                    format!(
                        "{} is not an RPM file name (name-version-release.arch.rpm)",
                        quote(file)
                    ),
                );
            };
            let rel = match dist_release(n.release) {
                Some(r) => r,
                None if os_releases.len() == 1 => os_releases[0],
                None => {
                    self.warn(
                        raw,
                        &id,
                        format!(
                            "{}: no dist tag (.elN) and several os_release: package left out",
                            quote(file)
                        ),
                    )?;
                    continue;
                }
            };
            let base = n.base_name(file);
            let key = prefix(n.name);
            pkgs.push((rel, n, base, key));
        }
        if pkgs.is_empty() {
            return self.skip(raw, &id, "no packages", "no packages".into());
        }
        // (elements that compare equal are equal in every field: any sort will do; sorting
        // their indices moves 4 bytes where an element is 88)
        let mut sorted: Vec<Item> = recycle(std::mem::take(&mut self.reuse.sorted));
        if !pkgs.is_sorted_by(|a, b| pkg_cmp(a, b).is_le()) {
            let order = &mut self.reuse.order;
            order.clear();
            order.extend(0..pkgs.len() as u32);
            order.sort_unstable_by(|&a, &b| pkg_cmp(&pkgs[a as usize], &pkgs[b as usize]));
            sorted.extend(order.iter().map(|&i| pkgs[i as usize].clone()));
            std::mem::swap(&mut pkgs, &mut sorted);
        }
        pkgs.dedup_by(|a, b| pkg_cmp(a, b).is_eq());
        // one record per release, each with the advisory's texts: a bounded number
        let releases = 1 + pkgs.windows(2).filter(|w| w[0].0 != w[1].0).count();
        if releases > MAX_RELEASES {
            return self.skip(
                raw,
                &id,
                "too many releases",
                format!("packages of {releases} releases (at most {MAX_RELEASES})"),
            );
        }
        let reboot = v.get(Field::Keywords).is_some_and(|k| {
            k.split(|c: char| c.is_whitespace() || c == ',')
                .any(|w| w == "reboot_suggested")
        });
        let mut kept_any = false;
        let mut srcs: Vec<(&Nevra, &str)> = recycle(std::mem::take(&mut self.reuse.srcs));
        let mut out: Vec<Pkg> = recycle(std::mem::take(&mut self.reuse.out));
        let mut i = 0;
        while i < pkgs.len() {
            let rel = pkgs[i].0;
            let j = i + pkgs[i..].iter().take_while(|p| p.0 == rel).count();
            let group = &pkgs[i..j];
            i = j;
            if !f.releases.is_empty() && !f.releases.contains(&rel) {
                continue;
            }
            srcs.clear();
            srcs.extend(group.iter().filter(|p| is_src(&p.1)).map(|p| (&p.1, p.2)));
            out.clear();
            for &(_, ref n, file, _) in group {
                if !f.arches.is_empty()
                    && n.arch != "noarch"
                    && !is_src(n)
                    && !f.arches.iter().any(|a| a == n.arch)
                {
                    continue;
                }
                let known = match self.primary {
                    Some(p) if !is_src(n) => {
                        self.stats.packages_looked_up += 1;
                        let k = p.get(n);
                        if k.is_none() {
                            self.stats.missing(file);
                            if f.only_present {
                                continue;
                            }
                        }
                        k
                    }
                    _ => None,
                };
                let src = match known {
                    Some(k) if !k.src.is_empty() => Some(&*k.src),
                    _ if is_src(n) => Some(file),
                    _ => guess_src(n, &srcs),
                };
                out.push(Pkg {
                    n: n.clone(),
                    file,
                    epoch: known.map_or("0", |k| &*k.epoch),
                    src,
                    repo: known.is_some(),
                });
            }
            // a source package has its binaries' epoch (repositories list no source RPMs)
            // (only source packages change, and only binaries are looked at)
            for i in 0..out.len() {
                let p = &out[i];
                if !is_src(&p.n) {
                    continue;
                }
                if let Some(e) = out
                    .iter()
                    .find(|q| {
                        !is_src(&q.n)
                            && q.src.is_some_and(|s| record::same(s, p.file))
                            && q.epoch != "0"
                    })
                    .map(|q| q.epoch)
                {
                    out[i].epoch = e;
                    out[i].repo = true;
                }
            }
            // only source packages left (the binaries are not in the repo): nothing to update
            if out.iter().all(|p| is_src(&p.n)) {
                continue;
            }
            kept_any = true;
            self.record(&id, rel, kind, sev, &issued, &v, &out, reboot)?;
        }
        if !kept_any {
            self.stats.filtered += 1;
        }
        // (the lists that borrow from `pkgs` first)
        let (srcs, out) = (recycle(srcs), recycle(out));
        self.reuse = Reuse {
            os_releases,
            pkgs: recycle(pkgs),
            sorted: recycle(sorted),
            order: std::mem::take(&mut self.reuse.order),
            srcs,
            out,
            hrefs: std::mem::take(&mut self.reuse.hrefs),
            scratch: std::mem::take(&mut self.reuse.scratch),
        };
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        id: &Id,
        rel: u32,
        kind: Kind,
        sev: Option<&'static str>,
        issued: &str,
        v: &View,
        pkgs: &[Pkg],
        reboot: bool,
    ) -> Result<()> {
        let w = &mut self.sorter.frag;
        let start = record::begin(w, reboot);
        w.put(b"  <update");
        if let Some(from) = v.get(Field::From).filter(|s| !s.trim().is_empty()) {
            w.put(b" from=\"");
            escape(w, from.trim(), true);
            w.byte(b'"');
        }
        w.put(b" status=\"final\" type=\"");
        w.put(kind.name().as_bytes());
        w.put(b"\" version=\"");
        escape(
            w,
            v.get(Field::Release)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or("1"),
            true,
        );
        w.put(b"\">\n    <id>");
        escape(w, id, false);
        w.put(b"</id>\n    <title>");
        let title = v
            .get(Field::Synopsis)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(id.as_str());
        escape(w, title, false);
        w.put(b"</title>\n    <issued date=\"");
        w.put(issued.as_bytes());
        w.put(b"\"/>\n");
        if let Some(s) = sev {
            w.put(b"    <severity>");
            w.put(s.as_bytes());
            w.put(b"</severity>\n");
        }
        let desc = v
            .get(Field::Description)
            .map(str::trim)
            .filter(|d| !d.is_empty() && !d.eq_ignore_ascii_case("not available"))
            .unwrap_or(title);
        w.put(b"    <description>");
        escape(w, desc, false);
        w.put(b"</description>\n");
        let refs_at = w.len();
        w.put(b"    <references>\n");
        let n = each_reference(
            v.get(Field::References).unwrap_or(""),
            id,
            &mut self.reuse.hrefs,
            |href, rid, kind| {
                w.put(b"      <reference href=\"");
                escape(w, href, true);
                w.put(b"\"");
                if let Some(i) = rid {
                    w.put(b" id=\"");
                    escape(w, i, true);
                    w.put(b"\" title=\"");
                    escape(w, i, true);
                    w.put(b"\"");
                }
                w.put(b" type=\"");
                w.put(kind.as_bytes());
                w.put(b"\"/>\n");
            },
        );
        if n == 0 {
            w.truncate(refs_at);
            w.put(b"    <references/>\n");
        } else {
            w.put(b"    </references>\n");
        }
        w.put(b"    <pkglist>\n      <collection short=\"centos-");
        w.num(rel);
        w.put(b"\">\n        <name>CentOS ");
        w.num(rel);
        w.put(b"</name>\n");
        let mut xml = record::packages(w, start);
        let mut prev = None;
        for p in pkgs {
            let t = record::Texts {
                epoch: p.epoch,
                src: p.src,
                prev,
                escape: p.repo,
                reboot,
            };
            let Some((len, src_len)) = record::package(w, &mut self.reuse.scratch, &p.n, p.file, t)
            else {
                return Err(Error::data(format!(
                    "{id}: {}: not a package file name",
                    quote(p.file)
                )));
            };
            xml += len;
            prev = p.src.zip(src_len);
        }
        let len = u32::try_from(w.len() - start)
            .map_err(|_| Error::data(format!("{id}: advisory too large")))?;
        self.sorter.push(Entry {
            release: rel,
            id: id.clone(),
            prefix: 0,
            seq: 0,
            off: start as u64,
            len,
            out: u32::try_from(xml)
                .map_err(|_| Error::data(format!("{id}: advisory too large")))?,
            kind,
            severity: sev,
            packages: pkgs.len() as u32,
        })
    }
}

/// The words of the `packages` texts (as [`View::list`] gives them), each with its
/// name-version-release.arch when it was read already: the usual text is one file name,
/// read whole (which checks every byte: no white space to split at), not scanned first.
fn files<'a>(v: View<'a>) -> impl Iterator<Item = (&'a str, Option<Nevra<'a>>)> {
    let mut texts = v.texts(Field::Packages);
    let mut split: Option<std::str::SplitWhitespace<'a>> = None;
    std::iter::from_fn(move || {
        loop {
            if let Some(w) = split.as_mut().and_then(Iterator::next) {
                return Some((w, None));
            }
            let t = texts.next()?;
            // (a directory part is not checked by the parse: that text is split first)
            if let Some(n) = Nevra::from_filename(t).filter(|n| n.base_name(t).len() == t.len()) {
                split = None;
                return Some((t, Some(n)));
            }
            split = Some(t.split_whitespace());
        }
    })
}

fn is_src(n: &Nevra) -> bool {
    matches!(n.arch.as_bytes(), [b's', b'r', b'c'])
}

/// A package of an advisory: its release, its name-version-release.arch, its file name,
/// and its name's [`prefix`] (equal prefixes of names of at most 16 bytes: equal names).
type Item<'a> = (u32, Nevra<'a>, &'a str, u128);

/// The order of `(release, name, version, release, arch, file)`: most comparisons end
/// at the release or the name's prefix.
fn pkg_cmp(x: &Item, y: &Item) -> Ordering {
    let short = |a: &str| a.len() <= 16;
    x.0.cmp(&y.0)
        .then(x.3.cmp(&y.3))
        .then_with(|| {
            if short(x.1.name) && short(y.1.name) {
                Ordering::Equal
            } else {
                x.1.name.cmp(y.1.name)
            }
        })
        .then_with(|| x.1.version.cmp(y.1.version))
        .then_with(|| x.1.release.cmp(y.1.release))
        .then_with(|| x.1.arch.cmp(y.1.arch))
        .then_with(|| x.2.cmp(y.2))
}

/// The source RPM of a binary package, from the advisory's own `.src.rpm` files: the one
/// with the same version-release (the longest name that prefixes the binary's, if several).
fn guess_src<'a>(n: &Nevra, srcs: &[(&Nevra, &'a str)]) -> Option<&'a str> {
    srcs.iter()
        .filter(|(s, _)| {
            s.version == n.version && s.release == n.release && n.name.starts_with(s.name)
        })
        .max_by_key(|(s, _)| s.name.len())
        .map(|(_, f)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::redhat_id;
    use crate::frag::Frag;
    use crate::spool::{BUDGET, CHUNK};
    use crate::xml::Src;
    use crate::xmlesc::legal;

    #[test]
    fn dates() {
        assert_eq!(
            issued_date("2012-03-07 23:16:09").as_deref(),
            Some("2012-03-07 23:16:09")
        );
        assert_eq!(
            issued_date("2012-03-07").as_deref(),
            Some("2012-03-07 00:00:00")
        );
        for bad in [
            "2012-02-30 00:00:00",
            "2012-3-7 1:2:3",
            "Thu Feb 11 2016",
            "",
            "2012-03-07T23:16:09",
        ] {
            assert_eq!(issued_date(bad), None, "{bad}");
        }
        assert_eq!(
            issued_date("2012-02-29 00:00:00").as_deref(),
            Some("2012-02-29 00:00:00")
        );
    }

    /// The references `each_reference` gives, as owned tuples.
    fn references(s: &str, id: &str) -> Vec<(String, Option<String>, &'static str)> {
        let mut v = Vec::new();
        let mut seen = vec![String::from("left over from an earlier call")];
        let n = each_reference(s, id, &mut seen, |h, i, k| {
            v.push((h.to_string(), i.map(str::to_string), k))
        });
        assert_eq!(n, v.len());
        v
    }

    #[test]
    fn reference_types() {
        // (the same Red Hat erratum twice, under two spellings: once)
        let r = references(
            "https://rhn.redhat.com/errata/RHSA-2012-0370.html http://lists.centos.org/pipermail/x.html https://example.org/a https://access.redhat.com/errata/RHSA-2012:0370 https://example.org/a",
            "CESA-2012:0370",
        );
        let got: Vec<(&str, Option<&str>, &str)> = r
            .iter()
            .map(|(h, i, k)| (h.as_str(), i.as_deref(), *k))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "https://access.redhat.com/errata/RHSA-2012:0370",
                    Some("RHSA-2012:0370"),
                    "redhat"
                ),
                (
                    "http://lists.centos.org/pipermail/x.html",
                    Some("CESA-2012:0370"),
                    "self"
                ),
                ("https://example.org/a", None, "other"),
            ]
        );
        assert_eq!(
            redhat_id("https://access.redhat.com/errata/RHBA-2018:0330").as_deref(),
            Some("RHBA-2018:0330")
        );
    }

    /// The `<title>` texts of an updateinfo document, as an XML parser reads them.
    fn titles(doc: &[u8]) -> Vec<String> {
        let mut src = Src::new(Box::new(std::io::Cursor::new(doc.to_vec())), "out");
        let (mut buf, mut out, mut cur) = (Vec::new(), Vec::new(), None::<String>);
        loop {
            let (off, ev) = src.next(&mut buf).unwrap();
            match ev {
                quick_xml::events::Event::Start(e) if e.name().as_ref() == "title" => {
                    cur = Some(String::new())
                }
                quick_xml::events::Event::Text(t) => {
                    if let Some(c) = cur.as_mut() {
                        c.push_str(&t.xml10_content())
                    }
                }
                quick_xml::events::Event::GeneralRef(r) => {
                    let ch = src.reference(off, &r).unwrap();
                    if let Some(c) = cur.as_mut() {
                        c.push(ch)
                    }
                }
                quick_xml::events::Event::End(e) if e.name().as_ref() == "title" => {
                    out.extend(cur.take())
                }
                quick_xml::events::Event::Eof => return out,
                _ => {}
            }
        }
    }

    /// Escaping one character at a time: what `escape` must give, run by run.
    fn escape_by_char(s: &str, attr: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for c in s.chars() {
            match c {
                '&' => out.extend_from_slice(b"&amp;"),
                '<' => out.extend_from_slice(b"&lt;"),
                '>' => out.extend_from_slice(b"&gt;"),
                '"' if attr => out.extend_from_slice(b"&quot;"),
                '\n' if attr => out.extend_from_slice(b"&#10;"),
                '\t' if attr => out.extend_from_slice(b"&#9;"),
                '\r' => out.extend_from_slice(b"&#13;"),
                c if legal(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                _ => {}
            }
        }
        out
    }

    proptest::proptest! {
        /// `files` gives the words `View::list` gives, each read as `from_filename` reads it.
        #[test]
        fn files_are_the_list_words(
            texts in proptest::collection::vec(
                "(([a-z]{1,3}|/| |\t|\u{a0})(-[0-9])?){0,4}(-1-1\\.el7\\.x86_64\\.rpm)?",
                0..4,
            ),
        ) {
            let mut doc = String::from("<opt><A-1--1>");
            for t in &texts {
                doc += "<packages>";
                doc += t;
                doc += "</packages>";
            }
            doc += "</A-1--1></opt>";
            let mut src = Src::new(Box::new(std::io::Cursor::new(doc)), "in");
            crate::cefs::read(&mut src, |raw| {
                let v = raw.view();
                let words: Vec<&str> = v.list(Field::Packages).collect();
                let got: Vec<&str> = files(v).map(|(w, _)| w).collect();
                assert_eq!(got, words);
                for (w, parsed) in files(v) {
                    if let Some(n) = parsed {
                        assert_eq!(Some(n), Nevra::from_filename(w));
                    }
                }
                Ok(())
            })
            .unwrap();
        }

        /// The prefix shortcut orders packages as the plain tuple order does.
        #[test]
        fn pkg_cmp_is_the_tuple_order(
            a in "[a-c]{1,3}(abcdefghijklmn)?[a-c]{0,3}-[0-2]{1,2}-[0-2]\\.el[67]\\.(src|noarch|x86_64)\\.rpm",
            b in "[a-c]{1,3}(abcdefghijklmn)?[a-c]{0,3}-[0-2]{1,2}-[0-2]\\.el[67]\\.(src|noarch|x86_64)\\.rpm",
            ra in 6u32..8, rb in 6u32..8,
        ) {
            let item = |f: &'static str, r: u32| {
                let n = Nevra::from_filename(f).unwrap();
                let key = prefix(n.name);
                (r, n, f, key)
            };
            let (a, b): (&'static str, &'static str) = (a.leak(), b.leak());
            let (x, y) = (item(a, ra), item(b, rb));
            let plain = |i: &Item<'static>| (i.0, i.1.name, i.1.version, i.1.release, i.1.arch, i.2);
            proptest::prop_assert_eq!(pkg_cmp(&x, &y), plain(&x).cmp(&plain(&y)));
            // and names equal in their first 16 bytes, one of them longer
            let (a, b) = ("abcdefghijklmnop-2-1.el7.x86_64.rpm", "abcdefghijklmnopq-1-1.el7.x86_64.rpm");
            let (x, y) = (item(a, ra), item(b, ra));
            proptest::prop_assert_eq!(pkg_cmp(&x, &y), plain(&x).cmp(&plain(&y)));
            proptest::prop_assert_eq!(pkg_cmp(&y, &x), Ordering::Greater);
        }

        #[test]
        fn escape_in_runs_is_escape_by_char(
            // (clean runs of every length around the characters that need a look)
            s in "([a-z0-9 ./]{0,19}|\\PC|[\\x00-\\x1f&<>\"'\\u{fffe}\\u{ffff}\\u{fffd}\\u{efff}])*",
            attr: bool,
        ) {
            let mut f = Frag::new();
            escape(&mut f, &s, attr);
            proptest::prop_assert_eq!(f.as_bytes(), &escape_by_char(&s, attr)[..]);
        }

        /// Any synopsis survives CEFS (escaped) → updateinfo → an XML parser: the same
        /// text, less what XML cannot carry, trimmed.
        #[test]
        fn any_synopsis_round_trips(syn in "(\\PC|[\\x00-\\x1f&<>\"'\\u{fffe}])*") {
            let mut attr = Frag::new();
            escape(&mut attr, &syn, true);
            // what a producer would write for characters XML has no escape for: nothing
            let doc = format!(
                "<opt><CESA-2099--0001 type=\"Security Advisory\" issue_date=\"2099-01-01 00:00:00\" os_release=\"7\" packages=\"a-1-1.el7.x86_64.rpm\" synopsis=\"{}\"/></opt>",
                String::from_utf8(attr.as_bytes().to_vec()).unwrap()
            );
            let diag = Diag::new("test").quiet(true);
            let filters = Filters::default();
            let mut conv = Converter::new(&filters, None, &diag, true, "in").unwrap();
            let mut src = Src::new(Box::new(std::io::Cursor::new(doc)), "in");
            crate::cefs::read(&mut src, |raw| conv.add(raw)).unwrap();
            let sp = conv.finish().unwrap();
            let mut out = Vec::new();
            sp.write_release(7, &mut out).unwrap();
            let want: String = syn.chars().filter(|c| legal(*c)).collect::<String>();
            let want = want.trim();
            let want = if want.is_empty() { "CESA-2099:0001" } else { want };
            proptest::prop_assert_eq!(titles(&out), vec![want.to_string()]);
        }
    }

    /// Convert `doc` (of releases 6 and 7) with runs of `chunk` keys and `budget` bytes;
    /// each release's file as written alone, after checking that the two writers (with
    /// the second starting half way) write the same files, and a file for a release
    /// without records.
    fn convert_with_chunk(doc: &str, chunk: usize, budget: usize) -> (Vec<u8>, Vec<u8>, Stats) {
        let diag = Diag::new("test").quiet(true);
        let filters = Filters::default();
        let mut conv = Converter::new(&filters, None, &diag, false, "in").unwrap();
        conv.sorter.chunk = chunk;
        conv.sorter.budget = budget;
        conv.sorter.parallel_from = 0;
        let mut src = Src::new(Box::new(std::io::Cursor::new(doc.to_string())), "in");
        crate::cefs::read(&mut src, |raw| conv.add(raw)).unwrap();
        let sp = conv.finish().unwrap();
        assert_eq!(sp.releases(), vec![6, 7]);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        sp.write_release(6, &mut a).unwrap();
        sp.write_release(7, &mut b).unwrap();
        assert_eq!(sp.size(6), a.len() as u64);
        assert_eq!(sp.size(7), b.len() as u64);
        assert!(sp.in_halves() || a.len() + b.len() < 300);
        let dir = tempfile::tempdir().unwrap();
        let path = |r: u32| dir.path().join(format!("{r}.xml"));
        let files: Vec<_> = [6, 7, 9]
            .into_iter()
            .map(|r| {
                (
                    r,
                    opsbox_common::output::AtomicFile::create(path(r)).unwrap(),
                )
            })
            .collect();
        sp.write_files(files).unwrap();
        let read = |r: u32| std::fs::read(path(r)).unwrap();
        assert!(
            read(6) == a && read(7) == b,
            "the two writers wrote other files"
        );
        assert_eq!(
            read(9),
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n</updates>\n"
        );
        (a, b, sp.stats)
    }

    #[test]
    fn two_writers_split_anywhere() {
        // the second writer starts in release 7, at its start, or in release 6
        for sixes in 1..10u32 {
            let mut doc = String::from("<opt>\n");
            for (i, rel) in (0..sixes).map(|_| 6).chain((0..5).map(|_| 7)).enumerate() {
                doc += &format!(
                    "<CESA-2099--{:04} type=\"Security Advisory\" issue_date=\"2099-01-01 00:00:00\" os_release=\"{rel}\" packages=\"p{i}-1-1.el{rel}.x86_64.rpm p{i}-1-1.el{rel}.src.rpm\"/>\n",
                    (i * 7) % 20
                );
            }
            doc += "</opt>\n";
            for (chunk, budget) in [(CHUNK, BUDGET), (2, BUDGET), (CHUNK, 1)] {
                let (a, b, _) = convert_with_chunk(&doc, chunk, budget);
                let count = |v: &[u8]| String::from_utf8_lossy(v).matches("<update ").count();
                assert_eq!((count(&a), count(&b)), (sixes as usize, 5));
            }
        }
    }

    #[test]
    fn external_sort_gives_the_in_memory_result() {
        let mut doc = String::from("<opt>\n");
        for i in 0..60u32 {
            let n = (i * 37) % 53; // out of order, with repeats (duplicates)
            let rel = 6 + n % 2;
            doc += &format!(
                "<CESA-2099--{n:04} type=\"Security Advisory\" issue_date=\"2099-01-01 00:00:00\" synopsis=\"s{i}\" severity=\"Low\" os_release=\"{rel}\" packages=\"p{n}-1-1.el{rel}.x86_64.rpm\"/>\n"
            );
        }
        doc += "</opt>\n";
        let (a6, a7, sa) = convert_with_chunk(&doc, CHUNK, BUDGET);
        // runs of 7 keys; runs of about 3 records (by bytes); a run per record
        for (chunk, budget) in [(7, BUDGET), (CHUNK, 2000), (CHUNK, 1)] {
            let (b6, b7, sb) = convert_with_chunk(&doc, chunk, budget);
            assert_eq!(
                (&a6, &a7),
                (&b6, &b7),
                "runs of {chunk} keys, {budget} bytes"
            );
            assert_eq!(
                (sa.duplicates, sa.releases.len()),
                (sb.duplicates, sb.releases.len())
            );
        }
        let (b6, b7, sb) = convert_with_chunk(&doc, 7, BUDGET);
        let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        let ids = |v: &[u8]| -> Vec<String> {
            text(v)
                .lines()
                .filter_map(|l| l.trim().strip_prefix("<id>"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(ids(&a6), ids(&b6));
        assert_eq!(ids(&a7), ids(&b7));
        assert!(a6 == b6 && a7 == b7, "same ids, different text");
        assert_eq!(sa.duplicates, 7);
        assert_eq!(
            (sa.duplicates, sa.releases.len()),
            (sb.duplicates, sb.releases.len())
        );
        assert_eq!(sa.releases[&7].advisories, sb.releases[&7].advisories);
        let text = String::from_utf8(a7).unwrap();
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("<id>"))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted);
        // the first of the duplicates is kept
        let six = String::from_utf8_lossy(&a6);
        assert!(six.contains("<title>s0</title>") && !six.contains("<title>s53</title>"));
    }

    #[test]
    fn missing_packages_are_named_shortly_and_kept_bounded() {
        let mut st = Stats::default();
        for i in (0..12).rev() {
            st.missing(&format!("p{i:02}-1-1.el7.x86_64.rpm"));
            st.missing(&format!("p{i:02}-1-1.el7.x86_64.rpm"));
        }
        assert_eq!(st.packages_not_found, 24);
        assert_eq!(
            st.missing_short(),
            "p00-1-1.el7.x86_64, p01-1-1.el7.x86_64, p02-1-1.el7.x86_64, p03-1-1.el7.x86_64, \
             p04-1-1.el7.x86_64, and 7 more (--stats --json lists them)"
        );
        let mut st = Stats::default();
        for i in (0..MISSING_KEPT + 3).rev() {
            st.missing(&format!("p{i:06}"));
        }
        assert_eq!(st.missing.len(), MISSING_KEPT);
        assert!(st.missing_truncated);
        // the first ones in order are kept
        assert_eq!(st.missing.first().map(String::as_str), Some("p000000"));
        assert_eq!(
            st.missing.last().map(String::as_str),
            Some(format!("p{:06}", MISSING_KEPT - 1).as_str())
        );
        assert!(
            st.missing_short()
                .ends_with("and 9995+ more (--stats --json lists them)")
        );
    }

    #[test]
    fn escaping_drops_illegal_characters() {
        let mut v = Frag::new();
        escape(&mut v, "a&b<c>\"d\"\u{1}\u{fffe}\r\n", true);
        assert_eq!(
            String::from_utf8(v.as_bytes().to_vec()).unwrap(),
            "a&amp;b&lt;c&gt;&quot;d&quot;&#13;&#10;"
        );
        let mut v = Frag::new();
        escape(&mut v, "x\"\ty\n", false);
        assert_eq!(
            String::from_utf8(v.as_bytes().to_vec()).unwrap(),
            "x\"\ty\n"
        );
    }
}
