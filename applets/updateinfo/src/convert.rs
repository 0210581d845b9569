//! CEFS advisory → updateinfo `<update>` records, one per (advisory, release), spooled to
//! a temporary file as they are made (memory does not grow with the input: only the
//! sort keys stay in memory), then written out sorted by id per release.

use crate::cefs::Raw;
use crate::frag::Frag;
use crate::rpm::{Nevra, Primary, dist_release};
use crate::xml::Src;
use opsbox_common::diag::Diag;
use opsbox_common::{Error, Result, ResultExt};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

/// The advisory types of updateinfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Security,
    Bugfix,
    Enhancement,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Security => "security",
            Kind::Bugfix => "bugfix",
            Kind::Enhancement => "enhancement",
        }
    }
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "security" | "cesa" => Ok(Kind::Security),
            "bugfix" | "ceba" => Ok(Kind::Bugfix),
            "enhancement" | "ceea" => Ok(Kind::Enhancement),
            _ => Err(format!("'{s}' is not one of security, bugfix, enhancement")),
        }
    }
    /// CEFS `type` attribute.
    fn from_cefs(s: &str) -> Option<Self> {
        let t = s.trim();
        let is = |w: &str| t.eq_ignore_ascii_case(w);
        if is("security advisory") {
            Some(Kind::Security)
        } else if is("bug fix advisory") || is("bugfix advisory") {
            Some(Kind::Bugfix)
        } else if is("product enhancement advisory") || is("enhancement advisory") {
            Some(Kind::Enhancement)
        } else {
            None
        }
    }
    /// From the id prefix (`CESA`, `CEBA`, `CEEA`).
    fn from_prefix(id: &str) -> Option<Self> {
        match id.split('-').next()? {
            "CESA" => Some(Kind::Security),
            "CEBA" => Some(Kind::Bugfix),
            "CEEA" => Some(Kind::Enhancement),
            _ => None,
        }
    }
}

/// The severities updateinfo consumers know, case-normalised.
pub fn severity(s: &str) -> Option<&'static str> {
    let t = s.trim();
    ["Low", "Moderate", "Important", "Critical"]
        .into_iter()
        .find(|w| t.eq_ignore_ascii_case(w))
}

/// `YYYY-MM-DD HH:MM:SS` (a bare date gets `00:00:00`), checked field by field.
pub fn issued_date(s: &str) -> Option<String> {
    let s = s.trim();
    let full = if s.len() == 10 {
        format!("{s} 00:00:00")
    } else {
        s.to_string()
    };
    let b = full.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = &full[r];
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if y < 1970
        || !(1..=12).contains(&mo)
        || d < 1
        || d > mdays[mo as usize - 1]
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    Some(full)
}

/// Append `s` escaped for XML text (`attr`: for a double-quoted attribute value).
/// Characters XML 1.0 does not allow are dropped. Text between the characters that need
/// a look is copied in whole runs.
pub fn escape(out: &mut Frag, s: &str, attr: bool) {
    // bytes that need a look: controls, markup, and 0xEF (U+FFFE/U+FFFF start so); in
    // attribute values also quotes, and newlines and tabs (normalised away otherwise)
    const fn table(attr: bool) -> [bool; 256] {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 0x20 {
            t[i] = attr || !(i == b'\n' as usize || i == b'\t' as usize);
            i += 1;
        }
        t[b'&' as usize] = true;
        t[b'<' as usize] = true;
        t[b'>' as usize] = true;
        t[b'"' as usize] = attr;
        t[0xef] = true;
        t
    }
    static TEXT: [bool; 256] = table(false);
    static ATTR: [bool; 256] = table(true);
    let special = if attr { &ATTR } else { &TEXT };
    let b = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    loop {
        // skip eight clean bytes at a time, then look at the next few one by one
        i += clean_prefix(&b[i..], attr);
        let stop = (i + 8).min(b.len());
        while i < stop && !special[b[i] as usize] {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        if i == stop {
            continue;
        }
        let (rep, len): (&[u8], usize) = match b[i] {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'"' => (b"&quot;", 1),
            b'\n' => (b"&#10;", 1),
            b'\t' => (b"&#9;", 1),
            b'\r' => (b"&#13;", 1),
            // U+FFFE and U+FFFF (EF BF BE, EF BF BF) are not XML characters
            0xef if b.get(i + 1) == Some(&0xbf) && matches!(b.get(i + 2), Some(0xbe | 0xbf)) => {
                (b"", 3)
            }
            0xef => {
                i += 1;
                continue;
            }
            // the other controls are not XML characters
            _ => (b"", 1),
        };
        out.put(&b[start..i]);
        out.put(rep);
        i += len;
        start = i;
    }
    out.put(&b[start..]);
}

/// How many leading bytes of `b` are, eight at a time, surely free of anything [`escape`]
/// looks at (controls, `& < >`, 0xEF, and `"` in attribute values): a multiple of 8.
fn clean_prefix(b: &[u8], attr: bool) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // non-zero if some byte of x is below n (n <= 0x80): exact as a whole, not per byte
    let below = |x: u64, n: u8| x.wrapping_sub(n as u64 * ONES) & !x & HIGH;
    let has = |x: u64, c: u8| below(x ^ (c as u64 * ONES), 1);
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(w);
        let hit = below(x, 0x20)
            | has(x, b'&')
            | has(x, b'<')
            | has(x, b'>')
            | has(x, 0xef)
            | if attr { has(x, b'"') } else { 0 };
        if hit != 0 {
            break;
        }
        i += 8;
    }
    i
}

/// A character XML 1.0 allows.
pub fn legal(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

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
    pub duplicates: usize,
}

struct Entry {
    release: u32,
    id: Box<str>,
    seq: u32,
    off: u64,
    len: u32,
    kind: Kind,
    severity: Option<&'static str>,
    packages: u32,
}

struct Pkg<'a> {
    n: Nevra<'a>,
    file: &'a str,
    epoch: &'a str,
    src: Option<&'a str>,
}

pub struct Converter<'a> {
    filters: &'a Filters,
    primary: Option<&'a Primary>,
    diag: &'a Diag,
    strict: bool,
    spool: BufWriter<File>,
    off: u64,
    entries: Vec<Entry>,
    frag: Frag,
    pub stats: Stats,
    /// Sorted runs of sort keys spilled to a temporary file once `chunk` are in memory
    /// (an external merge sort: memory does not grow with the input).
    runs: Option<BufWriter<File>>,
    run_bounds: Vec<(u64, u64)>,
    runs_off: u64,
    chunk: usize,
    /// Input order of the records (the first of duplicates is kept).
    seq: u32,
    reuse: Reuse,
}

/// The per-advisory lists, kept empty between advisories so that their memory is reused
/// (musl's allocator gives emptied pages back at once: allocating them anew per advisory
/// costs an mmap and a munmap).
#[derive(Default)]
struct Reuse {
    os_releases: Vec<u32>,
    pkgs: Vec<(u32, Nevra<'static>, &'static str)>,
    srcs: Vec<(&'static Nevra<'static>, &'static str)>,
    out: Vec<Pkg<'static>>,
}

/// An empty vector in `v`'s memory, for elements of the same layout with other lifetimes
/// (collecting in place keeps the allocation; the closure never runs).
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

/// Sort keys kept in memory before a run is spilled.
const CHUNK: usize = 16384;

fn key_cmp(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    a.release
        .cmp(&b.release)
        .then_with(|| cmp_bytes(a.id.as_bytes(), b.id.as_bytes()))
        .then(a.seq.cmp(&b.seq))
}

const SEVERITIES: [&str; 4] = ["Low", "Moderate", "Important", "Critical"];

impl Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.release.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.off.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.packages.to_le_bytes());
        out.push(self.kind as u8);
        out.push(
            self.severity
                .and_then(|s| SEVERITIES.iter().position(|x| *x == s))
                .map_or(0, |i| i as u8 + 1),
        );
        out.extend_from_slice(&(self.id.len() as u32).to_le_bytes());
        out.extend_from_slice(self.id.as_bytes());
    }

    fn decode(r: &mut RunReader) -> Result<Entry> {
        let mut h = [0u8; 30];
        r.read_exact(&mut h)?;
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let mut off = [0u8; 8];
        off.copy_from_slice(&h[8..16]);
        let mut id = vec![0u8; u32_at(26) as usize];
        r.read_exact(&mut id)?;
        Ok(Entry {
            release: u32_at(0),
            seq: u32_at(4),
            off: u64::from_le_bytes(off),
            len: u32_at(16),
            packages: u32_at(20),
            kind: match h[24] {
                0 => Kind::Security,
                1 => Kind::Bugfix,
                _ => Kind::Enhancement,
            },
            severity: match h[25] {
                0 => None,
                n => SEVERITIES.get(n as usize - 1).copied(),
            },
            id: String::from_utf8_lossy(&id).into(),
        })
    }
}

/// Reads one run back with pread (runs share one file), 64 KiB at a time.
struct RunReader<'f> {
    file: &'f File,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    at: usize,
}

impl RunReader<'_> {
    fn read_exact(&mut self, out: &mut [u8]) -> Result<()> {
        let mut done = 0;
        while done < out.len() {
            if self.at == self.buf.len() {
                let n = ((self.end - self.pos) as usize).min(1 << 16);
                if n == 0 {
                    return Err(Error::io("temporary file: run ends early"));
                }
                self.buf.resize(n, 0);
                self.file
                    .read_exact_at(&mut self.buf, self.pos)
                    .ctx("reading a temporary file")?;
                self.pos += n as u64;
                self.at = 0;
            }
            let k = (self.buf.len() - self.at).min(out.len() - done);
            out[done..done + k].copy_from_slice(&self.buf[self.at..self.at + k]);
            self.at += k;
            done += k;
        }
        Ok(())
    }
}

/// Copies byte ranges of a file to a writer in large pieces: each range is read with pread
/// straight into one buffer (adjacent ranges in one read), which is written when full — no
/// copy through the writer's own buffer, and few system calls.
struct Gather<'f> {
    file: &'f File,
    buf: Vec<u8>,
    /// Bytes of `buf` filled.
    n: usize,
    /// The range not read yet (it fits after `n`).
    at: u64,
    len: usize,
    /// What a write error is said to be about (none: the caller's output).
    what: Option<&'static str>,
}

impl<'f> Gather<'f> {
    fn new(file: &'f File, what: Option<&'static str>) -> Self {
        Gather {
            file,
            what,
            buf: vec![0; 1 << 17],
            n: 0,
            at: 0,
            len: 0,
        }
    }

    fn add(&mut self, off: u64, len: usize, w: &mut dyn Write) -> Result<()> {
        if self.len > 0
            && self.at + self.len as u64 == off
            && self.n + self.len + len <= self.buf.len()
        {
            self.len += len;
            return Ok(());
        }
        self.read()?;
        if self.n + len > self.buf.len() {
            self.write(w)?;
            if len > self.buf.len() {
                self.buf.resize(len, 0);
            }
        }
        (self.at, self.len) = (off, len);
        Ok(())
    }

    fn read(&mut self) -> Result<()> {
        if self.len > 0 {
            self.file
                .read_exact_at(&mut self.buf[self.n..self.n + self.len], self.at)
                .ctx("reading a temporary file")?;
            self.n += self.len;
            self.len = 0;
        }
        Ok(())
    }

    fn finish(mut self, w: &mut dyn Write) -> Result<()> {
        self.read()?;
        self.write(w)
    }

    fn write(&mut self, w: &mut dyn Write) -> Result<()> {
        let r = w.write_all(&self.buf[..self.n]);
        self.n = 0;
        match (r, self.what) {
            (Err(e), Some(what)) => Err(Error::from_io(what, &e)),
            (r, _) => Ok(r?),
        }
    }
}

struct Head(Entry, usize);
impl PartialEq for Head {
    fn eq(&self, o: &Self) -> bool {
        key_cmp(&self.0, &o.0).is_eq()
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Head {
    // reversed: BinaryHeap is a max-heap
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        key_cmp(&o.0, &self.0)
    }
}

impl<'a> Converter<'a> {
    pub fn new(
        filters: &'a Filters,
        primary: Option<&'a Primary>,
        diag: &'a Diag,
        strict: bool,
    ) -> Result<Self> {
        let spool = tempfile::tempfile().ctx("creating a temporary file")?;
        Ok(Converter {
            filters,
            primary,
            diag,
            strict,
            spool: BufWriter::with_capacity(1 << 16, spool),
            off: 0,
            entries: Vec::new(),
            frag: Frag::new(),
            stats: Stats::default(),
            runs: None,
            run_bounds: Vec::new(),
            runs_off: 0,
            chunk: CHUNK,
            seq: 0,
            reuse: Reuse::default(),
        })
    }

    /// A per-advisory data problem: a warning (the advisory is skipped), fatal with --strict.
    fn skip(&mut self, src: &Src, raw: &Raw, id: &str, reason: &str, detail: String) -> Result<()> {
        *self.stats.skipped.entry(reason.to_string()).or_default() += 1;
        let msg = format!("{}: {id}: {detail}; advisory skipped", src.pos(raw.off));
        if self.strict {
            return Err(Error::data(format!("{}: {id}: {detail}", src.pos(raw.off))));
        }
        self.diag.warn(msg);
        Ok(())
    }

    fn warn(&self, src: &Src, raw: &Raw, id: &str, detail: String) -> Result<()> {
        if self.strict {
            return Err(Error::data(format!("{}: {id}: {detail}", src.pos(raw.off))));
        }
        self.diag
            .warn(format!("{}: {id}: {detail}", src.pos(raw.off)));
        Ok(())
    }

    /// Map one advisory (possibly to several releases) and spool its records.
    pub fn add(&mut self, src: &Src, raw: &Raw) -> Result<()> {
        self.stats.read += 1;
        let id = raw.name.replace("--", ":");
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return self.skip(
                src,
                raw,
                &id,
                "bad id",
                format!("'{id}' is not an advisory id"),
            );
        }
        let kind = match raw.kind.as_deref().map(str::trim) {
            None | Some("") => return self.skip(src, raw, &id, "no type", "no type".into()),
            Some(t) => match Kind::from_cefs(t) {
                Some(k) => k,
                None => {
                    return self.skip(src, raw, &id, "unknown type", format!("unknown type '{t}'"));
                }
            },
        };
        if let Some(p) = Kind::from_prefix(&id)
            && p != kind
        {
            self.warn(
                src,
                raw,
                &id,
                format!(
                    "type '{}' disagrees with the id prefix; using {}",
                    kind.name(),
                    kind.name()
                ),
            )?;
        }
        let issued = match raw.issue_date.as_deref() {
            None => return self.skip(src, raw, &id, "no date", "no issue_date".into()),
            Some(d) => match issued_date(d) {
                Some(d) => d,
                None => {
                    return self.skip(
                        src,
                        raw,
                        &id,
                        "bad date",
                        format!("bad issue_date '{d}' (want YYYY-MM-DD HH:MM:SS)"),
                    );
                }
            },
        };
        let sev = match raw.severity.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => match severity(s) {
                Some(s) => Some(s),
                None => {
                    self.warn(src, raw, &id, format!("unknown severity '{s}' left out"))?;
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
        for r in &raw.os_release {
            match r.trim().parse::<u32>() {
                Ok(n) => os_releases.push(n),
                Err(_) => {
                    return self.skip(
                        src,
                        raw,
                        &id,
                        "bad os_release",
                        format!("os_release '{r}' is not a number"),
                    );
                }
            }
        }
        let mut pkgs: Vec<(u32, Nevra, &str)> = recycle(std::mem::take(&mut self.reuse.pkgs));
        for file in &raw.packages {
            let Some(n) = Nevra::from_filename(file) else {
                return self.skip(
                    src,
                    raw,
                    &id,
                    "bad package",
                    format!("'{file}' is not an RPM file name (name-version-release.arch.rpm)"),
                );
            };
            let rel = match dist_release(n.release) {
                Some(r) => r,
                None if os_releases.len() == 1 => os_releases[0],
                None => {
                    self.warn(
                        src,
                        raw,
                        &id,
                        format!(
                            "{file}: no dist tag (.elN) and several os_release: package left out"
                        ),
                    )?;
                    continue;
                }
            };
            pkgs.push((rel, n, file.rsplit('/').next().unwrap_or(file)));
        }
        if pkgs.is_empty() {
            return self.skip(src, raw, &id, "no packages", "no packages".into());
        }
        // (elements that compare equal are equal in every field: any sort will do)
        if !pkgs.is_sorted_by(|a, b| pkg_cmp(a, b).is_le()) {
            pkgs.sort_unstable_by(pkg_cmp);
        }
        pkgs.dedup_by(|a, b| pkg_cmp(a, b).is_eq());
        let reboot = raw.keywords.as_deref().is_some_and(|k| {
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
            for &(_, ref n, file) in group {
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
                            self.stats.packages_not_found += 1;
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
                    .find(|q| !is_src(&q.n) && q.src == Some(p.file) && q.epoch != "0")
                    .map(|q| q.epoch)
                {
                    out[i].epoch = e;
                }
            }
            // only source packages left (the binaries are not in the repo): nothing to update
            if out.iter().all(|p| is_src(&p.n)) {
                continue;
            }
            kept_any = true;
            self.record(&id, rel, kind, sev, &issued, raw, &out, reboot)?;
        }
        if !kept_any {
            self.stats.filtered += 1;
        }
        // (the lists that borrow from `pkgs` first)
        let (srcs, out) = (recycle(srcs), recycle(out));
        self.reuse = Reuse {
            os_releases,
            pkgs: recycle(pkgs),
            srcs,
            out,
        };
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        id: &str,
        rel: u32,
        kind: Kind,
        sev: Option<&'static str>,
        issued: &str,
        raw: &Raw,
        pkgs: &[Pkg],
        reboot: bool,
    ) -> Result<()> {
        let w = &mut self.frag;
        w.clear();
        w.put(b"  <update");
        if let Some(from) = raw.from.as_deref().filter(|s| !s.trim().is_empty()) {
            w.put(b" from=\"");
            escape(w, from.trim(), true);
            w.byte(b'"');
        }
        w.put(b" status=\"final\" type=\"");
        w.put(kind.name().as_bytes());
        w.put(b"\" version=\"");
        escape(
            w,
            raw.release
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or("1"),
            true,
        );
        w.put(b"\">\n    <id>");
        escape(w, id, false);
        w.put(b"</id>\n    <title>");
        let title = raw
            .synopsis
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(id);
        escape(w, title, false);
        w.put(b"</title>\n    <issued date=\"");
        w.put(issued.as_bytes());
        w.put(b"\"/>\n");
        if let Some(s) = sev {
            w.put(b"    <severity>");
            w.put(s.as_bytes());
            w.put(b"</severity>\n");
        }
        let desc = raw
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty() && !d.eq_ignore_ascii_case("not available"))
            .unwrap_or(title);
        w.put(b"    <description>");
        escape(w, desc, false);
        w.put(b"</description>\n");
        let refs = references(raw.references.as_deref().unwrap_or(""), id);
        if refs.is_empty() {
            w.put(b"    <references/>\n");
        } else {
            w.put(b"    <references>\n");
            for r in &refs {
                w.put(b"      <reference href=\"");
                escape(w, &r.href, true);
                w.put(b"\"");
                if let Some(i) = &r.id {
                    w.put(b" id=\"");
                    escape(w, i, true);
                    w.put(b"\" title=\"");
                    escape(w, i, true);
                    w.put(b"\"");
                }
                w.put(b" type=\"");
                w.put(r.kind.as_bytes());
                w.put(b"\"/>\n");
            }
            w.put(b"    </references>\n");
        }
        w.put(b"    <pkglist>\n      <collection short=\"centos-");
        w.num(rel);
        w.put(b"\">\n        <name>CentOS ");
        w.num(rel);
        w.put(b"</name>\n");
        for p in pkgs {
            // (the parts of a file name need no escaping: Nevra::from_filename)
            w.put(b"        <package name=\"");
            w.put(p.n.name.as_bytes());
            w.put(b"\" version=\"");
            w.put(p.n.version.as_bytes());
            w.put(b"\" release=\"");
            w.put(p.n.release.as_bytes());
            w.put(b"\" epoch=\"");
            escape(w, p.epoch, true);
            w.put(b"\" arch=\"");
            w.put(p.n.arch.as_bytes());
            w.put(b"\"");
            if let Some(s) = p.src {
                w.put(b" src=\"");
                escape(w, s, true);
                w.put(b"\"");
            }
            w.put(b">\n          <filename>");
            w.put(p.file.as_bytes());
            w.put(b"</filename>\n");
            if reboot {
                w.put(b"          <reboot_suggested>True</reboot_suggested>\n");
            }
            w.put(b"        </package>\n");
        }
        w.put(b"      </collection>\n    </pkglist>\n  </update>\n");
        self.spool
            .write_all(w.as_bytes())
            .ctx("writing a temporary file")?;
        self.entries.push(Entry {
            release: rel,
            id: id.into(),
            seq: self.seq,
            off: self.off,
            len: w.len() as u32,
            kind,
            severity: sev,
            packages: pkgs.len() as u32,
        });
        self.off += w.len() as u64;
        self.seq += 1;
        if self.entries.len() >= self.chunk {
            self.spill()?;
        }
        Ok(())
    }

    /// Sort the keys in memory and write them out as one run.
    fn spill(&mut self) -> Result<()> {
        if self.runs.is_none() {
            let f = tempfile::tempfile().ctx("creating a temporary file")?;
            self.runs = Some(BufWriter::with_capacity(1 << 16, f));
        }
        self.entries.sort_unstable_by(key_cmp);
        let mut bytes = Vec::with_capacity(64);
        let start = self.runs_off;
        if let Some(w) = self.runs.as_mut() {
            for e in &self.entries {
                bytes.clear();
                e.encode(&mut bytes);
                w.write_all(&bytes).ctx("writing a temporary file")?;
                self.runs_off += bytes.len() as u64;
            }
        }
        self.run_bounds.push((start, self.runs_off));
        self.entries.clear();
        Ok(())
    }

    /// Count one kept record (after duplicates are dropped); false for a duplicate.
    fn keep(stats: &mut Stats, diag: &Diag, last: &mut Option<(u32, Box<str>)>, e: &Entry) -> bool {
        if let Some((r, id)) = last.as_ref()
            && *r == e.release
            && **id == *e.id
        {
            stats.duplicates += 1;
            diag.warn(format!(
                "{}: advisory appears more than once for release {}: keeping the first",
                e.id, e.release
            ));
            return false;
        }
        *last = Some((e.release, e.id.clone()));
        let rs = stats.releases.entry(e.release).or_default();
        rs.advisories += 1;
        rs.packages += e.packages as usize;
        *rs.types.entry(e.kind.name()).or_default() += 1;
        *rs.severities
            .entry(e.severity.unwrap_or("none"))
            .or_default() += 1;
        true
    }

    /// Sort, drop duplicate ids (keeping the first), count.
    pub fn finish(mut self) -> Result<Spooled> {
        if self.runs.is_some() && !self.entries.is_empty() {
            self.spill()?;
        }
        self.spool.flush().ctx("writing a temporary file")?;
        let spool = std::mem::replace(
            &mut self.spool,
            BufWriter::new(tempfile::tempfile().ctx("creating a temporary file")?),
        );
        let file = spool
            .into_inner()
            .map_err(|e| Error::from_io("writing a temporary file", e.error()))?;
        if self.runs.is_some() {
            return self.merge(file);
        }
        let mut last = None;
        self.entries.sort_unstable_by(key_cmp);
        let mut kept: Vec<Entry> = Vec::with_capacity(self.entries.len());
        for e in std::mem::take(&mut self.entries) {
            if Self::keep(&mut self.stats, self.diag, &mut last, &e) {
                kept.push(e);
            }
        }
        Ok(Spooled {
            file,
            order: Order::Mem(kept),
            stats: self.stats,
        })
    }

    /// Merge the runs once for the counts and the duplicates; the records stay where they
    /// are (each [`Spooled::write_release`] merges the keys again and copies its records
    /// straight to its output: no sorted copy of the whole spool is made).
    fn merge(mut self, spool: File) -> Result<Spooled> {
        let runs = match self.runs.take() {
            Some(w) => w
                .into_inner()
                .map_err(|e| Error::from_io("writing a temporary file", e.error()))?,
            None => return Err(Error::io("no runs to merge")),
        };
        let mut releases = Vec::new();
        let mut last = None;
        let (stats, diag) = (&mut self.stats, self.diag);
        merge_runs(&runs, &self.run_bounds, |e| {
            if Self::keep(stats, diag, &mut last, e) && releases.last() != Some(&e.release) {
                releases.push(e.release);
            }
            Ok(())
        })?;
        Ok(Spooled {
            file: spool,
            order: Order::Runs {
                file: runs,
                bounds: std::mem::take(&mut self.run_bounds),
                releases,
            },
            stats: self.stats,
        })
    }
}

/// Call `f` for every key of the sorted runs (in `file`, at `bounds`), in key order.
fn merge_runs(
    file: &File,
    bounds: &[(u64, u64)],
    mut f: impl FnMut(&Entry) -> Result<()>,
) -> Result<()> {
    let mut readers: Vec<RunReader> = bounds
        .iter()
        .map(|&(pos, end)| RunReader {
            file,
            pos,
            end,
            buf: Vec::new(),
            at: 0,
        })
        .collect();
    let mut heap = std::collections::BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if r.pos < r.end {
            heap.push(Head(Entry::decode(r)?, i));
        }
    }
    while let Some(Head(e, i)) = heap.pop() {
        let r = &mut readers[i];
        if r.pos < r.end || r.at < r.buf.len() {
            heap.push(Head(Entry::decode(r)?, i));
        }
        f(&e)?;
    }
    Ok(())
}

/// Byte-string order without musl's `memcmp` (a call, then a loop byte by byte): eight
/// bytes at a time. The order of `str`'s `Ord`.
fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
        x.copy_from_slice(&a[i..i + 8]);
        y.copy_from_slice(&b[i..i + 8]);
        if x != y {
            return u64::from_be_bytes(x).cmp(&u64::from_be_bytes(y));
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && cmp_bytes(a.as_bytes(), b.as_bytes()).is_eq()
}

fn is_src(n: &Nevra) -> bool {
    n.arch.as_bytes() == b"src"
}

/// The order of `(release, Nevra, file)` tuples' `Ord`, by [`cmp_bytes`].
fn pkg_cmp(x: &(u32, Nevra, &str), y: &(u32, Nevra, &str)) -> Ordering {
    x.0.cmp(&y.0)
        .then_with(|| cmp_bytes(x.1.name.as_bytes(), y.1.name.as_bytes()))
        .then_with(|| cmp_bytes(x.1.version.as_bytes(), y.1.version.as_bytes()))
        .then_with(|| cmp_bytes(x.1.release.as_bytes(), y.1.release.as_bytes()))
        .then_with(|| cmp_bytes(x.1.arch.as_bytes(), y.1.arch.as_bytes()))
        .then_with(|| cmp_bytes(x.2.as_bytes(), y.2.as_bytes()))
}

/// The source RPM of a binary package, from the advisory's own `.src.rpm` files: the one
/// with the same version-release (the longest name that prefixes the binary's, if several).
fn guess_src<'a>(n: &Nevra, srcs: &[(&Nevra, &'a str)]) -> Option<&'a str> {
    srcs.iter()
        .filter(|(s, _)| {
            same(s.version, n.version)
                && same(s.release, n.release)
                && n.name
                    .as_bytes()
                    .get(..s.name.len())
                    .is_some_and(|p| cmp_bytes(p, s.name.as_bytes()).is_eq())
        })
        .max_by_key(|(s, _)| s.name.len())
        .map(|(_, f)| *f)
}

pub struct Reference {
    pub href: String,
    pub id: Option<String>,
    pub kind: &'static str,
}

/// CEFS `references` (URLs separated by spaces) → typed references: Red Hat errata become
/// `redhat` with the RHSA id and the canonical href, the CentOS announcement `self`, the
/// rest `other`.
pub fn references(s: &str, id: &str) -> Vec<Reference> {
    let mut out: Vec<Reference> = Vec::new();
    for url in s.split_whitespace() {
        let r = if let Some(rh) = redhat_id(url) {
            Reference {
                href: format!("https://access.redhat.com/errata/{rh}"),
                id: Some(rh),
                kind: "redhat",
            }
        } else if url.contains("lists.centos.org") {
            Reference {
                href: url.to_string(),
                id: Some(id.to_string()),
                kind: "self",
            }
        } else {
            Reference {
                href: url.to_string(),
                id: None,
                kind: "other",
            }
        };
        if !out.iter().any(|o| o.href == r.href) {
            out.push(r);
        }
    }
    out
}

/// `RHSA-2012:0370` from `…/RHSA-2012-0370.html` or `…/RHSA-2012:0370`.
fn redhat_id(url: &str) -> Option<String> {
    let b = url.as_bytes();
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&b[i..], b"RH") {
        let at = i + p;
        let t = &b[at..];
        if t.len() >= 10
            && matches!(t[2], b'S' | b'B' | b'E')
            && t[3] == b'A'
            && t[4] == b'-'
            && t[5..9].iter().all(u8::is_ascii_digit)
            && matches!(t[9], b'-' | b':')
        {
            let n = t[10..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n > 0 {
                let year = &url[at + 5..at + 9];
                let num = &url[at + 10..at + 10 + n];
                return Some(format!("RH{}A-{year}:{num}", t[2] as char));
            }
        }
        i = at + 1;
    }
    None
}

/// Converted records, sorted, in a temporary file.
pub struct Spooled {
    file: File,
    order: Order,
    pub stats: Stats,
}

enum Order {
    /// Sorted keys of the records in the spool file.
    Mem(Vec<Entry>),
    /// Sorted runs of keys in `file` (at `bounds`), and the releases they have.
    Runs {
        file: File,
        bounds: Vec<(u64, u64)>,
        releases: Vec<u32>,
    },
}

impl Spooled {
    /// The releases that have records, in order.
    pub fn releases(&self) -> Vec<u32> {
        match &self.order {
            Order::Mem(entries) => {
                let mut r: Vec<u32> = entries.iter().map(|e| e.release).collect();
                r.dedup();
                r
            }
            Order::Runs { releases, .. } => releases.clone(),
        }
    }

    /// Write the updateinfo.xml of one release.
    pub fn write_release(&self, rel: u32, w: &mut dyn Write) -> Result<()> {
        w.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n")?;
        match &self.order {
            Order::Mem(entries) => {
                let start = entries.partition_point(|e| e.release < rel);
                let mut g = Gather::new(&self.file, None);
                for e in entries[start..].iter().take_while(|e| e.release == rel) {
                    g.add(e.off, e.len as usize, w)?;
                }
                g.finish(w)?;
            }
            Order::Runs { file, bounds, .. } => {
                // the first of each id (as in Converter::merge)
                let mut g = Gather::new(&self.file, None);
                let mut last: Option<Box<str>> = None;
                merge_runs(file, bounds, |e| {
                    if e.release != rel || last.as_deref() == Some(&*e.id) {
                        return Ok(());
                    }
                    last = Some(e.id.clone());
                    g.add(e.off, e.len as usize, w)
                })?;
                g.finish(w)?;
            }
        }
        w.write_all(b"</updates>\n")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn reference_types() {
        let r = references(
            "https://rhn.redhat.com/errata/RHSA-2012-0370.html http://lists.centos.org/pipermail/x.html https://example.org/a",
            "CESA-2012:0370",
        );
        let got: Vec<(&str, Option<&str>, &str)> = r
            .iter()
            .map(|r| (r.href.as_str(), r.id.as_deref(), r.kind))
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
            let mut conv = Converter::new(&filters, None, &diag, true).unwrap();
            let mut src = Src::new(Box::new(std::io::Cursor::new(doc)), "in");
            crate::cefs::read(&mut src, |s, raw| conv.add(s, raw)).unwrap();
            let sp = conv.finish().unwrap();
            let mut out = Vec::new();
            sp.write_release(7, &mut out).unwrap();
            let want: String = syn.chars().filter(|c| legal(*c)).collect::<String>();
            let want = want.trim();
            let want = if want.is_empty() { "CESA-2099:0001" } else { want };
            proptest::prop_assert_eq!(titles(&out), vec![want.to_string()]);
        }
    }

    fn convert_with_chunk(doc: &str, chunk: usize) -> (Vec<u8>, Vec<u8>, Stats) {
        let diag = Diag::new("test").quiet(true);
        let filters = Filters::default();
        let mut conv = Converter::new(&filters, None, &diag, false).unwrap();
        conv.chunk = chunk;
        let mut src = Src::new(Box::new(std::io::Cursor::new(doc.to_string())), "in");
        crate::cefs::read(&mut src, |s, raw| conv.add(s, raw)).unwrap();
        let sp = conv.finish().unwrap();
        assert_eq!(sp.releases(), vec![6, 7]);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        sp.write_release(6, &mut a).unwrap();
        sp.write_release(7, &mut b).unwrap();
        (a, b, sp.stats)
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
        let (a6, a7, sa) = convert_with_chunk(&doc, CHUNK);
        let (b6, b7, sb) = convert_with_chunk(&doc, 7);
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

    proptest::proptest! {
        #[test]
        fn byte_order_is_str_order(a in "[a-c\\-._\\u{e9}]{0,20}", b in "[a-c\\-._\\u{e9}]{0,20}") {
            proptest::prop_assert_eq!(cmp_bytes(a.as_bytes(), b.as_bytes()), a.cmp(&b));
            proptest::prop_assert_eq!(cmp_bytes(a.as_bytes(), a.as_bytes()), Ordering::Equal);
        }
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
