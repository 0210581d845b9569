//! CEFS advisory → updateinfo `<update>` records, one per (advisory, release), sorted by
//! (release, id) with an external merge sort: records are kept in memory up to a fixed
//! budget, then written to a temporary file sorted, as one run, with their keys in a
//! second file; the output merges the runs, reading each one front to back. Memory does
//! not grow with the input, and a small input never touches a temporary file.

use crate::cefs::{Field, Raw, View};
use crate::frag::Frag;
use crate::rpm::{Nevra, Primary, dist_release};
use crate::warnings::Diag;
use opsbox_common::escape::quote;
use opsbox_common::{Error, Result, ResultExt};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
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

/// An advisory id (`CESA-2013:1764`), kept inline: ids are short, and the sort keys of
/// every record carry one.
pub type Id = heapless::String<48>;

/// The id of an advisory element: its name with `--` → `:` (`CESA-2013--1764` →
/// `CESA-2013:1764`); printable ASCII, at most 48 bytes.
pub fn advisory_id(name: &str) -> Option<Id> {
    let mut id = Id::new();
    let mut rest = name;
    while let Some(p) = rest.find("--") {
        id.push_str(&rest[..p]).ok()?;
        id.push(':').ok()?;
        rest = &rest[p + 2..];
    }
    id.push_str(rest).ok()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic())).then_some(id)
}

/// The severities updateinfo consumers know, case-normalised.
pub fn severity(s: &str) -> Option<&'static str> {
    let t = s.trim();
    ["Low", "Moderate", "Important", "Critical"]
        .into_iter()
        .find(|w| t.eq_ignore_ascii_case(w))
}

/// `YYYY-MM-DD HH:MM:SS` (a bare date gets `00:00:00`), checked field by field.
pub fn issued_date(s: &str) -> Option<heapless::String<19>> {
    let s = s.trim();
    let mut full = heapless::String::<19>::new();
    full.push_str(s).ok()?;
    if s.len() == 10 {
        full.push_str(" 00:00:00").ok()?;
    }
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

struct Entry {
    release: u32,
    id: Id,
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
    /// The input's name in messages.
    input: String,
    filters: &'a Filters,
    primary: Option<&'a Primary>,
    diag: &'a Diag,
    strict: bool,
    /// The records of the current run, back to back (an entry's `off` is into this until
    /// it is spilled, then into `spool`).
    frag: Frag,
    entries: Vec<Entry>,
    pub stats: Stats,
    /// The spilled runs: records in `spool`, keys in `runs`, each run's byte ranges in
    /// both. Spilled once `chunk` keys or `budget` bytes of records are in memory.
    spool: Option<BufWriter<File>>,
    spool_off: u64,
    rec_bounds: Vec<(u64, u64)>,
    runs: Option<BufWriter<File>>,
    run_bounds: Vec<(u64, u64)>,
    /// Each run's keys of each release: (release, start, end) in the runs file.
    run_segs: Vec<Vec<(u32, u64, u64)>>,
    runs_off: u64,
    chunk: usize,
    budget: usize,
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
    sorted: Vec<(u32, Nevra<'static>, &'static str)>,
    order: Vec<u32>,
    srcs: Vec<(&'static Nevra<'static>, &'static str)>,
    out: Vec<Pkg<'static>>,
    hrefs: Vec<String>,
}

/// An empty vector in `v`'s memory, for elements of the same layout with other lifetimes
/// (collecting in place keeps the allocation; the closure never runs).
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

/// The releases one advisory may have packages for (each gets a copy of its texts).
pub const MAX_RELEASES: usize = 32;

/// Sort keys kept in memory before a run is spilled.
const CHUNK: usize = 16384;
/// Bytes of records kept in memory before a run is spilled.
const BUDGET: usize = 4 << 20;
/// What the readers of the runs' records may buffer, all together.
const MERGE_BUFFERS: usize = 2 << 20;

fn key_cmp(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    a.release
        .cmp(&b.release)
        .then_with(|| cmp_bytes(a.id.as_bytes(), b.id.as_bytes()))
        .then(a.seq.cmp(&b.seq))
}

const SEVERITIES: [&str; 4] = ["Low", "Moderate", "Important", "Critical"];

/// The counts of the kept records, made in key order (release by release) and put into
/// [`Stats`] at the end.
#[derive(Default)]
struct Tally {
    duplicates: usize,
    releases: Vec<ReleaseTally>,
}

#[derive(Default)]
struct ReleaseTally {
    release: u32,
    advisories: usize,
    packages: usize,
    /// By `Kind as usize`.
    kinds: [usize; 3],
    /// None, then [`SEVERITIES`].
    severities: [usize; 5],
}

impl Tally {
    fn into_stats(self, stats: &mut Stats) {
        stats.duplicates += self.duplicates;
        for t in self.releases {
            let rs = stats.releases.entry(t.release).or_default();
            rs.advisories += t.advisories;
            rs.packages += t.packages;
            let kinds = [Kind::Security, Kind::Bugfix, Kind::Enhancement];
            for (k, n) in kinds.iter().zip(t.kinds).filter(|(_, n)| *n > 0) {
                *rs.types.entry(k.name()).or_default() += n;
            }
            let names = std::iter::once("none").chain(SEVERITIES);
            for (s, n) in names.zip(t.severities).filter(|(_, n)| *n > 0) {
                *rs.severities.entry(s).or_default() += n;
            }
        }
    }
}

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
        let h: [u8; 30] = r
            .take(30)?
            .try_into()
            .map_err(|_| Error::io("temporary file: corrupt key"))?;
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let mut off = [0u8; 8];
        off.copy_from_slice(&h[8..16]);
        let id_len = u32_at(26) as usize;
        if id_len > Id::new().capacity() {
            return Err(Error::io("temporary file: corrupt key"));
        }
        let id = std::str::from_utf8(r.take(id_len)?)
            .ok()
            .and_then(|s| Id::try_from(s).ok())
            .ok_or_else(|| Error::io("temporary file: corrupt key"))?;
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
            id,
        })
    }
}

/// Reads one run back with pread (runs share one file), `chunk` bytes at a time.
struct RunReader<'f> {
    file: &'f File,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    at: usize,
    /// How much to read at a time.
    chunk: usize,
}

impl RunReader<'_> {
    /// The next `n` bytes of the run, from the buffer (refilled when they are not all in
    /// it: what is left moves to the front, the rest is read after it).
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.buf.len() - self.at < n {
            self.buf.drain(..self.at);
            self.at = 0;
            let have = self.buf.len();
            let more = ((self.end - self.pos) as usize).min(self.chunk.max(n - have));
            if have + more < n {
                return Err(Error::io("temporary file: run ends early"));
            }
            self.buf.resize(have + more, 0);
            self.file
                .read_exact_at(&mut self.buf[have..], self.pos)
                .ctx("reading a temporary file")?;
            self.pos += more as u64;
        }
        self.at += n;
        Ok(&self.buf[self.at - n..self.at])
    }
}

/// Reads the records of one spilled run, which come in order: a buffer of what follows
/// the last record read, refilled with one pread.
struct RecReader<'f> {
    file: &'f File,
    /// The run's end in the file.
    end: u64,
    /// File offset of `buf[0]`.
    at: u64,
    buf: Vec<u8>,
    size: usize,
}

impl RecReader<'_> {
    fn get(&mut self, off: u64, len: usize) -> Result<&[u8]> {
        let have = off >= self.at && off + len as u64 <= self.at + self.buf.len() as u64;
        if !have {
            let n = (self.end.saturating_sub(off) as usize).min(self.size.max(len));
            if n < len {
                return Err(Error::io("temporary file: run ends early"));
            }
            self.buf.resize(n, 0);
            self.file
                .read_exact_at(&mut self.buf, off)
                .ctx("reading a temporary file")?;
            self.at = off;
        }
        let i = (off - self.at) as usize;
        Ok(&self.buf[i..i + len])
    }
}

impl<'a> Converter<'a> {
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
            spool: None,
            spool_off: 0,
            rec_bounds: Vec::new(),
            entries: Vec::new(),
            // (allocated, not touched: a run never grows it, unless one record is huge)
            frag: Frag::with_capacity(BUDGET + (1 << 16)),
            stats: Stats::default(),
            runs: None,
            run_bounds: Vec::new(),
            run_segs: Vec::new(),
            runs_off: 0,
            chunk: CHUNK,
            budget: BUDGET,
            seq: 0,
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
        let mut pkgs: Vec<(u32, Nevra, &str)> = recycle(std::mem::take(&mut self.reuse.pkgs));
        for file in v.list(Field::Packages) {
            let Some(n) = Nevra::from_filename(file) else {
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
            pkgs.push((rel, n, base));
        }
        if pkgs.is_empty() {
            return self.skip(raw, &id, "no packages", "no packages".into());
        }
        // (elements that compare equal are equal in every field: any sort will do; sorting
        // their indices moves 4 bytes where an element is 88)
        let mut sorted: Vec<(u32, Nevra, &str)> = recycle(std::mem::take(&mut self.reuse.sorted));
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
        let w = &mut self.frag;
        let start = w.len();
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
        let len = u32::try_from(w.len() - start)
            .map_err(|_| Error::data(format!("{id}: advisory too large")))?;
        self.entries.push(Entry {
            release: rel,
            id: id.clone(),
            seq: self.seq,
            off: start as u64,
            len,
            kind,
            severity: sev,
            packages: pkgs.len() as u32,
        });
        self.seq += 1;
        if self.entries.len() >= self.chunk || self.frag.len() >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Sort what is in memory and write it out as one run: the records, in order, to the
    /// spool, and their keys to the runs file.
    fn spill(&mut self) -> Result<()> {
        fn temp(w: &mut Option<BufWriter<File>>) -> Result<&mut BufWriter<File>> {
            if w.is_none() {
                let f = tempfile::tempfile().ctx("creating a temporary file")?;
                *w = Some(BufWriter::with_capacity(1 << 18, f));
            }
            w.as_mut().ok_or_else(|| Error::io("temporary file"))
        }
        self.entries.sort_unstable_by(key_cmp);
        let spool = temp(&mut self.spool)?;
        let rec_start = self.spool_off;
        for e in &mut self.entries {
            let at = e.off as usize;
            spool
                .write_all(&self.frag.as_bytes()[at..at + e.len as usize])
                .ctx("writing a temporary file")?;
            e.off = self.spool_off;
            self.spool_off += e.len as u64;
        }
        self.rec_bounds.push((rec_start, self.spool_off));
        let runs = temp(&mut self.runs)?;
        let mut bytes = Vec::with_capacity(64);
        let start = self.runs_off;
        let mut segs: Vec<(u32, u64, u64)> = Vec::new();
        for e in &self.entries {
            bytes.clear();
            e.encode(&mut bytes);
            runs.write_all(&bytes).ctx("writing a temporary file")?;
            match segs.last_mut() {
                Some(seg) if seg.0 == e.release => {}
                _ => segs.push((e.release, self.runs_off, self.runs_off)),
            }
            self.runs_off += bytes.len() as u64;
            if let Some(seg) = segs.last_mut() {
                seg.2 = self.runs_off;
            }
        }
        self.run_bounds.push((start, self.runs_off));
        self.run_segs.push(segs);
        self.entries.clear();
        self.frag.clear();
        Ok(())
    }

    /// Count one kept record (after duplicates are dropped); false for a duplicate. The
    /// records come in key order.
    fn keep(tally: &mut Tally, diag: &Diag, last: &mut Option<(u32, Id)>, e: &Entry) -> bool {
        if let Some((r, id)) = last.as_ref()
            && *r == e.release
            && *id == e.id
        {
            tally.duplicates += 1;
            diag.warn(format!(
                "{}: advisory appears more than once for release {}: keeping the first",
                e.id, e.release
            ));
            return false;
        }
        *last = Some((e.release, e.id.clone()));
        if tally.releases.last().is_none_or(|t| t.release != e.release) {
            tally.releases.push(ReleaseTally {
                release: e.release,
                ..ReleaseTally::default()
            });
        }
        if let Some(t) = tally.releases.last_mut() {
            t.advisories += 1;
            t.packages += e.packages as usize;
            t.kinds[e.kind as usize] += 1;
            let sev = e
                .severity
                .and_then(|s| SEVERITIES.iter().position(|x| *x == s));
            t.severities[sev.map_or(0, |i| i + 1)] += 1;
        }
        true
    }

    /// Sort, drop duplicate ids (keeping the first), count.
    pub fn finish(mut self) -> Result<Spooled> {
        if self.runs.is_none() {
            // it all fit in memory
            let mut last = None;
            self.entries.sort_unstable_by(key_cmp);
            let mut kept: Vec<Entry> = Vec::with_capacity(self.entries.len());
            let mut tally = Tally::default();
            for e in std::mem::take(&mut self.entries) {
                if Self::keep(&mut tally, self.diag, &mut last, &e) {
                    kept.push(e);
                }
            }
            tally.into_stats(&mut self.stats);
            return Ok(Spooled {
                order: Order::Mem {
                    records: std::mem::take(&mut self.frag),
                    entries: kept,
                },
                stats: self.stats,
            });
        }
        if !self.entries.is_empty() {
            self.spill()?;
        }
        let done = |w: Option<BufWriter<File>>| -> Result<File> {
            w.ok_or_else(|| Error::io("temporary file"))?
                .into_inner()
                .map_err(|e| Error::from_io("writing a temporary file", e.error()))
        };
        let (spool, runs) = (done(self.spool.take())?, done(self.runs.take())?);
        // merge the keys once for the counts and the duplicates; each
        // Spooled::write_release merges them again and copies its records
        let mut releases = Vec::new();
        let mut last = None;
        let mut tally = Tally::default();
        let diag = self.diag;
        merge_runs(&runs, &self.run_bounds, |e, _| {
            if Self::keep(&mut tally, diag, &mut last, e) && releases.last() != Some(&e.release) {
                releases.push(e.release);
            }
            Ok(())
        })?;
        tally.into_stats(&mut self.stats);
        Ok(Spooled {
            order: Order::Runs {
                spool,
                rec_bounds: std::mem::take(&mut self.rec_bounds),
                keys: runs,
                key_segs: std::mem::take(&mut self.run_segs),
                releases,
            },
            stats: self.stats,
        })
    }
}

/// Call `f` for every key of the sorted runs (in `file`, at `bounds`), in key order, with
/// the number of its run.
fn merge_runs(
    file: &File,
    bounds: &[(u64, u64)],
    mut f: impl FnMut(&Entry, usize) -> Result<()>,
) -> Result<()> {
    let mut readers: Vec<RunReader> = bounds
        .iter()
        .map(|&(pos, end)| RunReader {
            file,
            pos,
            end,
            buf: Vec::new(),
            at: 0,
            chunk: (MERGE_BUFFERS / 4 / bounds.len().max(1)).clamp(1 << 12, 1 << 16),
        })
        .collect();
    // each run's next key, and a min-heap of run numbers ordered by them (moving 4-byte
    // numbers, not keys)
    let mut heads: Vec<Option<Entry>> = Vec::with_capacity(readers.len());
    for r in &mut readers {
        heads.push(if r.pos < r.end {
            Some(Entry::decode(r)?)
        } else {
            None
        });
    }
    let less =
        |heads: &[Option<Entry>], a: u32, b: u32| match (&heads[a as usize], &heads[b as usize]) {
            (Some(x), Some(y)) => key_cmp(x, y).is_lt(),
            (x, _) => x.is_some(),
        };
    let mut heap: Vec<u32> = (0..heads.len() as u32)
        .filter(|&i| heads[i as usize].is_some())
        .collect();
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, i, |a, b| less(&heads, a, b));
    }
    while let Some(&i) = heap.first() {
        let run = i as usize;
        let r = &mut readers[run];
        let next = if r.pos < r.end || r.at < r.buf.len() {
            Some(Entry::decode(r)?)
        } else {
            None
        };
        let Some(e) = std::mem::replace(&mut heads[run], next) else {
            break;
        };
        if heads[run].is_none() {
            heap.swap_remove(0);
        }
        sift_down(&mut heap, 0, |a, b| less(&heads, a, b));
        f(&e, run)?;
    }
    Ok(())
}

/// Restore the min-heap order of `heap` (by `less`) below position `i`.
fn sift_down(heap: &mut [u32], mut i: usize, less: impl Fn(u32, u32) -> bool) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut m = i;
        if l < heap.len() && less(heap[l], heap[m]) {
            m = l;
        }
        if r < heap.len() && less(heap[r], heap[m]) {
            m = r;
        }
        if m == i {
            return;
        }
        heap.swap(i, m);
        i = m;
    }
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

/// CEFS `references` (URLs separated by spaces) → typed references, each given to `f` as
/// (href, id, type), the first of each href only: Red Hat errata become `redhat` with the
/// RHSA id and the canonical href, the CentOS announcement `self` (with the advisory's
/// id), the rest `other`. `seen` is scratch space, reused from call to call. Returns how
/// many were given.
pub fn each_reference(
    s: &str,
    id: &str,
    seen: &mut Vec<String>,
    mut f: impl FnMut(&str, Option<&str>, &'static str),
) -> usize {
    let mut n = 0;
    for url in s.split_whitespace() {
        let mut canonical = heapless::String::<80>::new();
        let (href, rid, kind) = match redhat_id(url) {
            Some(rh)
                if canonical
                    .push_str("https://access.redhat.com/errata/")
                    .and_then(|()| canonical.push_str(&rh))
                    .is_ok() =>
            {
                (canonical.as_str(), Some(rh), "redhat")
            }
            _ if url.contains("lists.centos.org") => (url, None, "self"),
            _ => (url, None, "other"),
        };
        if seen[..n].iter().any(|h| h == href) {
            continue;
        }
        match seen.get_mut(n) {
            Some(h) => {
                h.clear();
                h.push_str(href);
            }
            None => seen.push(href.to_string()),
        }
        n += 1;
        let rid = match kind {
            "self" => Some(id),
            _ => rid.as_deref(),
        };
        f(href, rid, kind);
    }
    n
}

/// `RHSA-2012:0370` from `…/RHSA-2012-0370.html` or `…/RHSA-2012:0370`.
fn redhat_id(url: &str) -> Option<heapless::String<32>> {
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
                let mut rh = heapless::String::<32>::new();
                let ok = rh.push_str(&url[at..at + 9]).is_ok()
                    && rh.push(':').is_ok()
                    && rh.push_str(&url[at + 10..at + 10 + n]).is_ok();
                if ok {
                    return Some(rh);
                }
            }
        }
        i = at + 1;
    }
    None
}

/// Converted records, sorted: in memory, or in sorted runs in temporary files.
pub struct Spooled {
    order: Order,
    pub stats: Stats,
}

enum Order {
    /// The records and their sorted keys (duplicates dropped).
    Mem { records: Frag, entries: Vec<Entry> },
    /// Sorted runs: the records in `spool` (at `rec_bounds`), their keys in `keys` (each
    /// release's at `key_segs`), and the releases they have.
    Runs {
        spool: File,
        rec_bounds: Vec<(u64, u64)>,
        keys: File,
        key_segs: Vec<Vec<(u32, u64, u64)>>,
        releases: Vec<u32>,
    },
}

impl Spooled {
    /// The releases that have records, in order.
    pub fn releases(&self) -> Vec<u32> {
        match &self.order {
            Order::Mem { entries, .. } => {
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
            Order::Mem { records, entries } => {
                let start = entries.partition_point(|e| e.release < rel);
                for e in entries[start..].iter().take_while(|e| e.release == rel) {
                    let at = e.off as usize;
                    w.write_all(&records.as_bytes()[at..at + e.len as usize])?;
                }
            }
            Order::Runs {
                spool,
                rec_bounds,
                keys,
                key_segs,
                ..
            } => {
                let size = (MERGE_BUFFERS / rec_bounds.len().max(1)).clamp(1 << 12, 1 << 18);
                let mut readers: Vec<RecReader> = rec_bounds
                    .iter()
                    .map(|&(_, end)| RecReader {
                        file: spool,
                        end,
                        at: 0,
                        buf: Vec::new(),
                        size,
                    })
                    .collect();
                // the first of each id (as in Converter::finish)
                let mut last: Option<Id> = None;
                // only this release's keys of each run
                let bounds: Vec<(u64, u64)> = key_segs
                    .iter()
                    .map(|segs| {
                        segs.iter()
                            .find(|s| s.0 == rel)
                            .map_or((0, 0), |s| (s.1, s.2))
                    })
                    .collect();
                merge_runs(keys, &bounds, |e, run| {
                    if e.release != rel || last.as_ref() == Some(&e.id) {
                        return Ok(());
                    }
                    last = Some(e.id.clone());
                    let r = readers
                        .get_mut(run)
                        .ok_or_else(|| Error::io("temporary file: no such run"))?;
                    Ok(w.write_all(r.get(e.off, e.len as usize)?)?)
                })?;
            }
        }
        w.write_all(b"</updates>\n")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::Src;

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

    fn convert_with_chunk(doc: &str, chunk: usize, budget: usize) -> (Vec<u8>, Vec<u8>, Stats) {
        let diag = Diag::new("test").quiet(true);
        let filters = Filters::default();
        let mut conv = Converter::new(&filters, None, &diag, false, "in").unwrap();
        conv.chunk = chunk;
        conv.budget = budget;
        let mut src = Src::new(Box::new(std::io::Cursor::new(doc.to_string())), "in");
        crate::cefs::read(&mut src, |raw| conv.add(raw)).unwrap();
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

    proptest::proptest! {
        #[test]
        fn byte_order_is_str_order(a in "[a-c\\-._\\u{e9}]{0,20}", b in "[a-c\\-._\\u{e9}]{0,20}") {
            proptest::prop_assert_eq!(cmp_bytes(a.as_bytes(), b.as_bytes()), a.cmp(&b));
            proptest::prop_assert_eq!(cmp_bytes(a.as_bytes(), a.as_bytes()), Ordering::Equal);
        }
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
