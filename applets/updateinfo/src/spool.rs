//! The external sort of the converted records, and the writing of the sorted files.
//! Records (compact until written: [`crate::record`]) are kept in memory up to a fixed
//! budget, then written to a temporary file sorted by (release, id), as one run, with their
//! keys in a second file. [`Sorter::finish`] merges the keys once: the counts, the
//! duplicates, each release's file size, and [`Cursor`]s where each release starts and
//! where half of the output is. The writers start from those: two threads write the two
//! halves at once, every record at its place in its file, and a third commits each file as
//! soon as it is whole. Memory does not grow with the
//! input (at most about 64 MiB: [`BUDGET`] of records, [`CHUNK`] keys, the readers' and
//! writers' buffers), and an input whose records fit never touches a temporary file.

use crate::advisory::{Id, Kind};
use crate::convert::Stats;
use crate::frag::Frag;
use crate::record;
use crate::warnings::Diag;
use opsbox_common::output::AtomicFile;
use opsbox_common::{Error, Result, ResultExt};
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

/// One converted record: its sort key, where its bytes are, the length of its XML, and
/// what the counts need.
pub(crate) struct Entry {
    pub(crate) release: u32,
    pub(crate) id: Id,
    /// The id's first 16 bytes as a number (set by [`Sorter::push`]): most comparisons
    /// end there.
    pub(crate) prefix: u128,
    pub(crate) seq: u32,
    pub(crate) off: u64,
    pub(crate) len: u32,
    pub(crate) out: u32,
    pub(crate) kind: Kind,
    pub(crate) severity: Option<&'static str>,
    pub(crate) packages: u32,
}

/// Sort keys kept in memory before a run is spilled.
pub(crate) const CHUNK: usize = 1 << 16;
/// Bytes of records kept in memory before a run is spilled.
pub(crate) const BUDGET: usize = 32 << 20;
/// What the readers of the runs' keys and records may buffer, all together, per writer.
const MERGE_BUFFERS: usize = 2 << 20;
/// XML a writer gathers before each write.
const WRITE_BUF: usize = 1 << 20;
/// Below this much XML, one thread writes it all.
const PARALLEL_FROM: u64 = 4 << 20;

/// The start and the end of every updateinfo.xml.
const HEAD: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n";
const FOOT: &[u8] = b"</updates>\n";

fn key_cmp(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    a.release
        .cmp(&b.release)
        .then(a.prefix.cmp(&b.prefix))
        .then_with(|| a.id.as_str().cmp(b.id.as_str()))
        .then(a.seq.cmp(&b.seq))
}

/// The first 16 bytes of a text, zero-padded, big-endian: texts without a zero byte (ids,
/// package names) are ordered as these numbers are, and equal ones are equal texts when
/// both are 16 bytes at most.
pub(crate) fn prefix(id: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = id.len().min(16);
    b[..n].copy_from_slice(&id.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

fn corrupt(_: record::Corrupt) -> Error {
    Error::io("temporary file: corrupt record")
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

/// The fixed part of an encoded key.
const KEY_HEAD: usize = 34;

impl Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.release.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.off.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.packages.to_le_bytes());
        out.extend_from_slice(&self.out.to_le_bytes());
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
        let h: [u8; KEY_HEAD] = r
            .take(KEY_HEAD)?
            .try_into()
            .map_err(|_| Error::io("temporary file: corrupt key"))?;
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let mut off = [0u8; 8];
        off.copy_from_slice(&h[8..16]);
        let id_len = u32_at(30) as usize;
        if id_len > Id::new().capacity() {
            return Err(Error::io("temporary file: corrupt key"));
        }
        let id = std::str::from_utf8(r.take(id_len)?)
            .ok()
            .and_then(|s| Id::try_from(s).ok())
            .ok_or_else(|| Error::io("temporary file: corrupt key"))?;
        Ok(Entry {
            prefix: prefix(&id),
            release: u32_at(0),
            seq: u32_at(4),
            off: u64::from_le_bytes(off),
            len: u32_at(16),
            packages: u32_at(20),
            out: u32_at(24),
            kind: match h[28] {
                0 => Kind::Security,
                1 => Kind::Bugfix,
                _ => Kind::Enhancement,
            },
            severity: match h[29] {
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
    /// The offset in the file of the next byte not taken.
    fn offset(&self) -> u64 {
        self.pos - (self.buf.len() - self.at) as u64
    }

    /// Keys are left.
    fn more(&self) -> bool {
        self.pos < self.end || self.at < self.buf.len()
    }

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

/// The keys of sorted runs (each from a start to an end offset in one file), merged.
struct Merge<'f> {
    readers: Vec<RunReader<'f>>,
    /// Each run's next key, least first.
    heap: BinaryHeap<Head>,
}

/// A run's next key, the run's number and the key's offset.
struct Head(Entry, usize, u64);

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

impl<'f> Merge<'f> {
    fn new(file: &'f File, bounds: &[(u64, u64)]) -> Result<Self> {
        let chunk = (MERGE_BUFFERS / 4 / bounds.len().max(1)).clamp(1 << 12, 1 << 16);
        let mut readers: Vec<RunReader> = bounds
            .iter()
            .map(|&(pos, end)| RunReader {
                file,
                pos,
                end,
                buf: Vec::new(),
                at: 0,
                chunk,
            })
            .collect();
        let mut heap = BinaryHeap::with_capacity(readers.len());
        for (run, r) in readers.iter_mut().enumerate() {
            if r.more() {
                let at = r.offset();
                heap.push(Head(Entry::decode(r)?, run, at));
            }
        }
        Ok(Merge { readers, heap })
    }

    /// The next key (not taken).
    fn peek(&self) -> Option<&Entry> {
        self.heap.peek().map(|h| &h.0)
    }

    /// Where each run's keys not yet taken start: a merge from there goes on from here.
    fn positions(&self) -> Vec<u64> {
        let mut p: Vec<u64> = self.readers.iter().map(|r| r.end).collect();
        for h in &self.heap {
            p[h.1] = h.2;
        }
        p
    }

    /// Take the next key, and the number of its run.
    fn next(&mut self) -> Result<Option<(Entry, usize)>> {
        let Some(mut top) = self.heap.peek_mut() else {
            return Ok(None);
        };
        let run = top.1;
        let r = &mut self.readers[run];
        let e = if r.more() {
            let at = r.offset();
            let next = Entry::decode(r)?;
            top.2 = at;
            std::mem::replace(&mut top.0, next)
        } else {
            PeekMut::pop(top).0
        };
        Ok(Some((e, run)))
    }
}

/// Writes bytes of a release's file at an offset.
type Put<'a> = dyn Fn(u32, &[u8], u64) -> Result<()> + Sync + 'a;

/// A place in the sorted records, where a writer starts or stops.
#[derive(Clone, Debug, Default)]
struct Cursor {
    /// Records before it: kept ones (in memory), or every key, duplicates too (runs).
    index: usize,
    /// (runs) Where each run's keys from here on start.
    keys: Vec<u64>,
    /// The key before it: a record with the same (release, id) is a duplicate.
    prev: Option<(u32, Id)>,
    /// Its record's release, and where the record goes in its file ([`HEAD`]'s length:
    /// the first).
    release: u32,
    at: u64,
}

/// A release's file: its size, and where its records start.
struct Rel {
    release: u32,
    size: u64,
    start: Cursor,
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
    runs_off: u64,
    pub(crate) chunk: usize,
    pub(crate) budget: usize,
    /// Output below which one thread writes it all.
    pub(crate) parallel_from: u64,
    /// Input order of the records (the first of duplicates is kept).
    seq: u32,
    /// The XML of every record, duplicates too.
    total: u64,
}

impl Sorter {
    pub(crate) fn new() -> Self {
        Sorter {
            // (a run never grows it past that, unless one record is huge)
            frag: Frag::growing_huge(1 << 20, BUDGET + (1 << 16)),
            entries: Vec::new(),
            spool: None,
            spool_off: 0,
            rec_bounds: Vec::new(),
            runs: None,
            run_bounds: Vec::new(),
            runs_off: 0,
            chunk: CHUNK,
            budget: BUDGET,
            parallel_from: PARALLEL_FROM,
            seq: 0,
            total: 0,
        }
    }

    /// Add the record whose bytes were just written to `frag` at `e.off`.
    pub(crate) fn push(&mut self, mut e: Entry) -> Result<()> {
        self.total += u64::from(e.out);
        e.prefix = prefix(&e.id);
        e.seq = self.seq;
        self.seq += 1;
        self.entries.push(e);
        if self.entries.len() >= self.chunk || self.frag.len() >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// The entries' order: sorting their numbers moves 4 bytes where an entry is over 100.
    fn order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.entries.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            key_cmp(&self.entries[a as usize], &self.entries[b as usize])
        });
        order
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
        let order = self.order();
        let spool = temp(&mut self.spool)?;
        let rec_start = self.spool_off;
        for &i in &order {
            let e = &mut self.entries[i as usize];
            let at = e.off as usize;
            spool
                .write_all(&self.frag.as_bytes()[at..at + e.len as usize])
                .ctx("writing a temporary file")?;
            e.off = self.spool_off;
            self.spool_off += e.len as u64;
        }
        self.rec_bounds.push((rec_start, self.spool_off));
        let runs = temp(&mut self.runs)?;
        let mut bytes = Vec::with_capacity(96);
        let start = self.runs_off;
        for &i in &order {
            bytes.clear();
            self.entries[i as usize].encode(&mut bytes);
            runs.write_all(&bytes).ctx("writing a temporary file")?;
            self.runs_off += bytes.len() as u64;
        }
        self.run_bounds.push((start, self.runs_off));
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

    /// Sort, drop duplicate ids (keeping the first), count, and find where each release
    /// and the second half of the output start.
    pub(crate) fn finish(mut self, mut stats: Stats, diag: &Diag) -> Result<Spooled> {
        // half the XML: where the second writer starts (none for a small output)
        let half = if self.total >= self.parallel_from {
            self.total / 2
        } else {
            u64::MAX
        };
        let mut rels: Vec<Rel> = Vec::new();
        let mut split = None;
        let mut done = 0u64;
        let mut last = None;
        let mut tally = Tally::default();
        // before a kept record: a cursor if it starts a release or the second half
        let mut mark = |rels: &mut Vec<Rel>, e: &Entry, done: u64, at: &dyn Fn() -> Cursor| {
            let new = rels.last().is_none_or(|r| r.release != e.release);
            let second = split.is_none() && done >= half;
            if new || second {
                let mut c = at();
                c.release = e.release;
                c.at = match rels.last() {
                    Some(r) if !new => r.size,
                    _ => HEAD.len() as u64,
                };
                if new {
                    rels.push(Rel {
                        release: e.release,
                        size: HEAD.len() as u64,
                        start: c.clone(),
                    });
                }
                if second {
                    split = Some(c);
                }
            }
        };
        let order = if self.runs.is_none() {
            // it all fit in memory
            let order = self.order();
            let mut kept: Vec<u32> = Vec::with_capacity(order.len());
            for i in order {
                let e = &self.entries[i as usize];
                if Self::keep(&mut tally, diag, &mut last, e) {
                    let index = kept.len();
                    mark(&mut rels, e, done, &|| Cursor {
                        index,
                        ..Cursor::default()
                    });
                    if let Some(r) = rels.last_mut() {
                        r.size += e.out as u64;
                    }
                    done += e.out as u64;
                    kept.push(i);
                }
            }
            Order::Mem {
                records: std::mem::take(&mut self.frag),
                entries: std::mem::take(&mut self.entries),
                order: kept,
            }
        } else {
            if !self.entries.is_empty() {
                self.spill()?;
            }
            let done_with = |w: Option<BufWriter<File>>| -> Result<File> {
                w.ok_or_else(|| Error::io("temporary file"))?
                    .into_inner()
                    .map_err(|e| Error::from_io("writing a temporary file", e.error()))
            };
            let (spool, keys) = (done_with(self.spool.take())?, done_with(self.runs.take())?);
            let mut merge = Merge::new(&keys, &self.run_bounds)?;
            let mut index = 0;
            while let Some(e) = merge.peek() {
                let dup = last
                    .as_ref()
                    .is_some_and(|(r, id)| *r == e.release && *id == e.id);
                if !dup {
                    mark(&mut rels, e, done, &|| Cursor {
                        index,
                        keys: merge.positions(),
                        prev: last.clone(),
                        ..Cursor::default()
                    });
                }
                let Some((e, _)) = merge.next()? else { break };
                index += 1;
                if Self::keep(&mut tally, diag, &mut last, &e) {
                    if let Some(r) = rels.last_mut() {
                        r.size += e.out as u64;
                    }
                    done += e.out as u64;
                }
            }
            drop(merge);
            Order::Runs {
                spool,
                rec_bounds: std::mem::take(&mut self.rec_bounds),
                keys,
                key_bounds: std::mem::take(&mut self.run_bounds),
            }
        };
        for r in &mut rels {
            r.size += FOOT.len() as u64;
        }
        tally.into_stats(&mut stats);
        Ok(Spooled {
            order,
            rels,
            split,
            stats,
        })
    }
}

/// Converted records, sorted: in memory, or in sorted runs in temporary files.
pub struct Spooled {
    order: Order,
    /// The releases that have records, in order.
    rels: Vec<Rel>,
    /// Where the second half of the output starts.
    split: Option<Cursor>,
    pub stats: Stats,
}

enum Order {
    /// The records, their keys, and the order of the kept ones (duplicates dropped).
    Mem {
        records: Frag,
        entries: Vec<Entry>,
        order: Vec<u32>,
    },
    /// Sorted runs: the records in `spool` (each run's at `rec_bounds`), their keys in
    /// `keys` (at `key_bounds`).
    Runs {
        spool: File,
        rec_bounds: Vec<(u64, u64)>,
        keys: File,
        key_bounds: Vec<(u64, u64)>,
    },
}

impl Spooled {
    /// The releases that have records, in order.
    pub fn releases(&self) -> Vec<u32> {
        self.rels.iter().map(|r| r.release).collect()
    }

    /// Whether the writing is shared by two threads.
    #[cfg(test)]
    pub(crate) fn in_halves(&self) -> bool {
        self.split.is_some()
    }

    /// The size of a release's updateinfo.xml (0 for a release without records).
    pub fn size(&self, rel: u32) -> u64 {
        self.rels
            .iter()
            .find(|r| r.release == rel)
            .map_or(0, |r| r.size)
    }

    /// Call `f` with every kept record from `from` on, in order (its key and its bytes),
    /// until `to`, the end, or `f` gives false.
    fn walk(
        &self,
        from: &Cursor,
        to: Option<&Cursor>,
        mut f: impl FnMut(&Entry, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let end = to.map_or(usize::MAX, |c| c.index);
        match &self.order {
            Order::Mem {
                records,
                entries,
                order,
            } => {
                let end = end.min(order.len());
                for &i in order.get(from.index..end).unwrap_or(&[]) {
                    let e = &entries[i as usize];
                    let at = e.off as usize;
                    let rec = records
                        .as_bytes()
                        .get(at..at + e.len as usize)
                        .ok_or_else(|| Error::io("a record out of its buffer"))?;
                    if !f(e, rec)? {
                        break;
                    }
                }
            }
            Order::Runs {
                spool,
                rec_bounds,
                keys,
                key_bounds,
            } => {
                let bounds: Vec<(u64, u64)> = key_bounds
                    .iter()
                    .enumerate()
                    .map(|(i, &(start, end))| (from.keys.get(i).copied().unwrap_or(start), end))
                    .collect();
                let mut merge = Merge::new(keys, &bounds)?;
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
                let mut last = from.prev.clone();
                let mut index = from.index;
                while index < end {
                    let Some((e, run)) = merge.next()? else { break };
                    index += 1;
                    if last
                        .as_ref()
                        .is_some_and(|(r, id)| *r == e.release && *id == e.id)
                    {
                        continue;
                    }
                    last = Some((e.release, e.id.clone()));
                    let r = readers
                        .get_mut(run)
                        .ok_or_else(|| Error::io("temporary file: no such run"))?;
                    if !f(&e, r.get(e.off, e.len as usize)?)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Write the updateinfo.xml of one release.
    pub fn write_release(&self, rel: u32, w: &mut dyn Write) -> Result<()> {
        w.write_all(HEAD)?;
        if let Some(r) = self.rels.iter().find(|r| r.release == rel) {
            let mut buf = Frag::with_capacity(WRITE_BUF + (1 << 16));
            self.walk(&r.start, None, |e, rec| {
                if e.release != rel {
                    return Ok(false);
                }
                record::expand(rec, &mut buf).map_err(corrupt)?;
                if buf.len() >= WRITE_BUF {
                    w.write_all(buf.as_bytes())?;
                    buf.clear();
                }
                Ok(true)
            })?;
            w.write_all(buf.as_bytes())?;
        }
        w.write_all(FOOT)?;
        Ok(())
    }

    /// Write and commit the updateinfo.xml of each release of `files` (which
    /// [`AtomicFile::positioned`] says can be written at offsets): every record straight to
    /// its place, the first half of the output by this thread and the second by another
    /// when there are two CPUs; a third commits (fsyncs and renames) each file as soon as
    /// its last byte is written, while the others write on. Each file is replaced whole or
    /// not at all; the first error is reported.
    pub fn write_files(&self, files: Vec<(u32, AtomicFile)>) -> Result<()> {
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let two = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
        let split = self.split.as_ref().filter(|_| two);
        // the writers still to finish each file: two for the one the second half starts in
        let parts: Vec<AtomicUsize> = files
            .iter()
            .map(|(rel, _)| {
                let inside = split.is_some_and(|c| c.release == *rel && c.at != HEAD.len() as u64);
                AtomicUsize::new(if inside { 2 } else { 1 })
            })
            .collect();
        let rels: Vec<u32> = files.iter().map(|f| f.0).collect();
        let slots: Vec<Mutex<Option<AtomicFile>>> = files
            .into_iter()
            .map(|(_, f)| Mutex::new(Some(f)))
            .collect();
        let put = |rel: u32, bytes: &[u8], at: u64| -> Result<()> {
            let Some(i) = rels.iter().position(|r| *r == rel) else {
                return Ok(());
            };
            let slot = slots[i]
                .lock()
                .map_err(|_| Error::io("a writing thread failed"))?;
            match slot.as_ref() {
                Some(f) => f.write_at(bytes, at).ctx(f.path().display()),
                None => Err(Error::io("a file written after it was committed")),
            }
        };
        let (tx, rx) = std::sync::mpsc::channel::<usize>();
        let tx = Mutex::new(Some(tx));
        let done = |rel: u32| {
            if let Some(i) = rels.iter().position(|r| *r == rel)
                && parts[i].fetch_sub(1, Ordering::AcqRel) == 1
                && let Ok(tx) = tx.lock()
                && let Some(tx) = tx.as_ref()
            {
                let _ = tx.send(i);
            }
        };
        std::thread::scope(|s| {
            let committer = std::thread::Builder::new()
                .name("commit".into())
                .spawn_scoped(s, || {
                    let mut first = Ok(());
                    for i in rx {
                        let f = slots[i].lock().ok().and_then(|mut f| f.take());
                        if let Some(f) = f
                            && let Err(e) = f.commit()
                            && first.is_ok()
                        {
                            first = Err(e);
                        }
                    }
                    first
                })
                .ctx("starting a committing thread")?;
            let written = (|| {
                for &rel in &rels {
                    if !self.rels.iter().any(|r| r.release == rel) {
                        put(rel, &[HEAD, FOOT].concat(), 0)?;
                        done(rel);
                    }
                }
                let Some(first) = self.rels.first() else {
                    return Ok(());
                };
                match split {
                    None => self.write_span(&first.start, None, &put, &done),
                    Some(split) => {
                        let second = std::thread::Builder::new()
                            .name("write".into())
                            .spawn_scoped(s, || self.write_span(split, None, &put, &done))
                            .ctx("starting a writing thread")?;
                        let one = self.write_span(&first.start, Some(split), &put, &done);
                        let two = second
                            .join()
                            .unwrap_or_else(|_| Err(Error::io("the writing thread failed")));
                        one.and(two)
                    }
                }
            })();
            // (no more files to commit: the committer ends)
            if let Ok(mut tx) = tx.lock() {
                tx.take();
            }
            let committed = committer
                .join()
                .unwrap_or_else(|_| Err(Error::io("the committing thread failed")));
            written.and(committed)
        })
    }

    /// Write the records from `from` to `to` (or the end) at their places with `put`
    /// (release, bytes, offset): a release's head by whoever writes its first record, its
    /// foot by whoever writes its last; `done` is told when this writer is done with a
    /// release.
    fn write_span(
        &self,
        from: &Cursor,
        to: Option<&Cursor>,
        put: &Put,
        done: &(dyn Fn(u32) + Sync),
    ) -> Result<()> {
        let mut buf = Frag::with_capacity(WRITE_BUF + (1 << 16));
        // the release being written, and where in its file `buf` goes
        let mut cur: Option<(u32, u64)> = None;
        let flush = |cur: &mut Option<(u32, u64)>, buf: &mut Frag| -> Result<()> {
            if let Some((rel, at)) = cur {
                put(*rel, buf.as_bytes(), *at)?;
                *at += buf.len() as u64;
            }
            buf.clear();
            Ok(())
        };
        self.walk(from, to, |e, rec| {
            if cur.as_ref().map(|c| c.0) != Some(e.release) {
                let at = match cur {
                    Some((rel, _)) => {
                        buf.put(FOOT);
                        flush(&mut cur, &mut buf)?;
                        done(rel);
                        buf.put(HEAD);
                        0
                    }
                    None if from.at == HEAD.len() as u64 => {
                        buf.put(HEAD);
                        0
                    }
                    None => from.at,
                };
                cur = Some((e.release, at));
            }
            record::expand(rec, &mut buf).map_err(corrupt)?;
            if buf.len() >= WRITE_BUF {
                flush(&mut cur, &mut buf)?;
            }
            Ok(true)
        })?;
        // the last release's foot, unless the other half goes on with it
        if cur.is_some() && to.is_none_or(|t| t.at == HEAD.len() as u64) {
            buf.put(FOOT);
        }
        flush(&mut cur, &mut buf)?;
        if let Some((rel, _)) = cur {
            done(rel);
        }
        Ok(())
    }
}
