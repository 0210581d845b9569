//! The external sort of the converted records: sorted by (release, id), kept in memory
//! up to a fixed budget, then written to a temporary file sorted, as one run, with their
//! keys in a second file; each output merges the runs, reading each one front to back.
//! Memory does not grow with the input, and a small input never touches a temporary file.

use crate::advisory::{Id, Kind};
use crate::convert::Stats;
use crate::frag::Frag;
use crate::warnings::Diag;
use opsbox_common::{Error, Result, ResultExt};
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

/// One converted record: its sort key, where its text is, and what the counts need.
pub(crate) struct Entry {
    pub(crate) release: u32,
    pub(crate) id: Id,
    pub(crate) seq: u32,
    pub(crate) off: u64,
    pub(crate) len: u32,
    pub(crate) kind: Kind,
    pub(crate) severity: Option<&'static str>,
    pub(crate) packages: u32,
}

/// Sort keys kept in memory before a run is spilled.
pub(crate) const CHUNK: usize = 16384;
/// Bytes of records kept in memory before a run is spilled.
pub(crate) const BUDGET: usize = 4 << 20;
/// What the readers of the runs' records may buffer, all together.
const MERGE_BUFFERS: usize = 2 << 20;

fn key_cmp(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    a.release
        .cmp(&b.release)
        .then_with(|| a.id.as_str().cmp(b.id.as_str()))
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

/// The records as they are made, sorted by an external merge sort.
pub(crate) struct Sorter {
    /// The records of the current run, back to back (an entry's `off` is into this until
    /// it is spilled, then into `spool`).
    pub(crate) frag: Frag,
    entries: Vec<Entry>,
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
    pub(crate) chunk: usize,
    pub(crate) budget: usize,
    /// Input order of the records (the first of duplicates is kept).
    seq: u32,
}

impl Sorter {
    pub(crate) fn new() -> Self {
        Sorter {
            // (allocated, not touched: a run never grows it, unless one record is huge)
            frag: Frag::with_capacity(BUDGET + (1 << 16)),
            entries: Vec::new(),
            spool: None,
            spool_off: 0,
            rec_bounds: Vec::new(),
            runs: None,
            run_bounds: Vec::new(),
            run_segs: Vec::new(),
            runs_off: 0,
            chunk: CHUNK,
            budget: BUDGET,
            seq: 0,
        }
    }

    /// Add the record whose text was just written to `frag` at `e.off`.
    pub(crate) fn push(&mut self, mut e: Entry) -> Result<()> {
        e.seq = self.seq;
        self.seq += 1;
        self.entries.push(e);
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
    pub(crate) fn finish(mut self, mut stats: Stats, diag: &Diag) -> Result<Spooled> {
        if self.runs.is_none() {
            // it all fit in memory
            let mut last = None;
            self.entries.sort_unstable_by(key_cmp);
            let mut kept: Vec<Entry> = Vec::with_capacity(self.entries.len());
            let mut tally = Tally::default();
            for e in std::mem::take(&mut self.entries) {
                if Self::keep(&mut tally, diag, &mut last, &e) {
                    kept.push(e);
                }
            }
            tally.into_stats(&mut stats);
            return Ok(Spooled {
                order: Order::Mem {
                    records: std::mem::take(&mut self.frag),
                    entries: kept,
                },
                stats,
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
        merge_runs(&runs, &self.run_bounds, |e, _| {
            if Self::keep(&mut tally, diag, &mut last, e) && releases.last() != Some(&e.release) {
                releases.push(e.release);
            }
            Ok(())
        })?;
        tally.into_stats(&mut stats);
        Ok(Spooled {
            order: Order::Runs {
                spool,
                rec_bounds: std::mem::take(&mut self.rec_bounds),
                keys: runs,
                key_segs: std::mem::take(&mut self.run_segs),
                releases,
            },
            stats,
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
    // each run's next key, in a min-heap
    let mut heap = BinaryHeap::with_capacity(readers.len());
    for (run, r) in readers.iter_mut().enumerate() {
        if r.pos < r.end {
            heap.push(Head(Entry::decode(r)?, run));
        }
    }
    while let Some(mut top) = heap.peek_mut() {
        let run = top.1;
        let r = &mut readers[run];
        let e = if r.pos < r.end || r.at < r.buf.len() {
            let next = Entry::decode(r)?;
            std::mem::replace(&mut top.0, next)
        } else {
            PeekMut::pop(top).0
        };
        f(&e, run)?;
    }
    Ok(())
}

/// A run's next key in the merge heap, least first.
struct Head(Entry, usize);

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        key_cmp(&other.0, &self.0)
    }
}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Head {}

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
