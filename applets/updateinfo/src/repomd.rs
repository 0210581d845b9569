//! `repodata/repomd.xml`: read its records, and replace (or add) the `updateinfo` record
//! the way modifyrepo does, natively and crash-safely.

use crate::stream::{self, Compression, Compressor, Hashing, Sum};
use crate::warnings::Diag;
use crate::xml::Src;
use opsbox_common::{Error, Result, ResultExt, exit, output};
use quick_xml::events::Event;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One `<data>` record and where it is in the file.
#[derive(Debug, Default, Clone)]
pub struct Record {
    pub kind: String,
    pub start: usize,
    pub end: usize,
    pub checksum_type: String,
    pub checksum: String,
    pub location: String,
    /// Line and column of its `<location>` in repomd.xml.
    pub location_at: (u64, u64),
    pub timestamp: u64,
}

impl Record {
    /// Open the file this record names, inside `repo` (see [`open_in`]); errors name the
    /// `<location>` in `md`.
    pub fn open(&self, md: &Repomd, repo: &Path) -> Result<(File, String)> {
        let name = repo.join(&self.location).display().to_string();
        match open_in(repo, &self.location, METADATA_MAX) {
            Ok(f) => Ok((f, name)),
            Err(Refused::Missing(e)) => Err(Error::from_io_code(exit::NOINPUT, &name, &e)),
            Err(Refused::Bad(why)) => Err(Error::at(
                &md.path.display().to_string(),
                self.location_at.0,
                self.location_at.1,
                format!(
                    "location {} {why}",
                    opsbox_common::escape::quote(&self.location)
                ),
            )),
        }
    }
}

/// The largest repomd.xml read.
pub const REPOMD_MAX: u64 = 1 << 20;
/// The largest metadata file (as stored, compressed) a repomd.xml may name.
pub const METADATA_MAX: u64 = 1 << 30;

/// Why a file of a repository cannot be opened.
#[derive(Debug)]
pub enum Refused {
    /// Missing or unreadable (exit 66).
    Missing(std::io::Error),
    /// Not a file of the repository: the reason (exit 65).
    Bad(String),
}

/// Why `href` (a `location href` of repomd.xml) cannot name a file inside the repository,
/// from its text alone: empty, absolute, with a `..` component or a NUL.
pub fn href_problem(href: &str) -> Option<&'static str> {
    if href.is_empty() {
        Some("is empty")
    } else if href.starts_with('/') {
        Some("is an absolute path, not one inside the repository")
    } else if href.split('/').any(|c| c == "..") {
        Some("leaves the repository (a '..' component)")
    } else if href.contains('\0') {
        Some("holds a NUL character")
    } else {
        None
    }
}

/// Open `repo/href` for reading, confined to the repository: `href` relative and without
/// `..` ([`href_problem`]), no symbolic link leading out of `repo` (the path is resolved
/// and must stay under `repo`'s own resolved path), a regular file only (opened without
/// blocking and checked with fstat, so a FIFO cannot hang and a device is refused), at
/// most `limit` bytes.
pub fn open_in(repo: &Path, href: &str, limit: u64) -> std::result::Result<File, Refused> {
    if let Some(why) = href_problem(href) {
        return Err(Refused::Bad(why.into()));
    }
    let root = fs::canonicalize(repo).map_err(Refused::Missing)?;
    let real = fs::canonicalize(repo.join(href)).map_err(Refused::Missing)?;
    if !real.starts_with(&root) {
        return Err(Refused::Bad(format!(
            "leads out of the repository through a symbolic link (to {})",
            opsbox_common::escape::quote(&real.display().to_string())
        )));
    }
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(&real)
        .map_err(Refused::Missing)?;
    let m = f.metadata().map_err(Refused::Missing)?;
    if !m.is_file() {
        return Err(Refused::Bad(
            "is not a regular file (a directory, FIFO, socket or device)".into(),
        ));
    }
    if m.len() > limit {
        return Err(Refused::Bad(format!(
            "is larger than {limit} bytes ({} bytes)",
            m.len()
        )));
    }
    Ok(f)
}

#[derive(Debug)]
pub struct Repomd {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub records: Vec<Record>,
    /// Where the end tag `</repomd>` starts.
    pub end_tag: usize,
}

impl Repomd {
    /// Read `REPO/repodata/repomd.xml`.
    pub fn load(repo: &Path) -> Result<Self> {
        let path = repo.join("repodata/repomd.xml");
        let name = path.display().to_string();
        let f = match open_in(repo, "repodata/repomd.xml", REPOMD_MAX) {
            Ok(f) => f,
            Err(Refused::Missing(e)) => return Err(Error::from_io_code(exit::NOINPUT, &name, &e)),
            Err(Refused::Bad(why)) => return Err(Error::data(format!("{name}: {why}"))),
        };
        let mut bytes = Vec::new();
        f.take(REPOMD_MAX)
            .read_to_end(&mut bytes)
            .ctx_code(exit::NOINPUT, &name)?;
        Self::parse(path, bytes)
    }

    /// Read the records of a repomd.xml's text (`path` names it in messages).
    pub fn parse(path: PathBuf, bytes: Vec<u8>) -> Result<Self> {
        let name = path.display().to_string();
        let mut src = Src::new(Box::new(std::io::Cursor::new(bytes.clone())), &name);
        let mut buf = Vec::new();
        let mut records = Vec::new();
        let mut cur: Option<Record> = None;
        let mut field = 0u8; // 1 checksum, 2 timestamp
        let mut text = String::new();
        let mut end_tag = None;
        let mut root = false;
        loop {
            let (off, ev) = src.next(&mut buf)?;
            match ev {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let local = e.local_name();
                    if !root {
                        root = true;
                        if local.as_ref().as_bytes() != b"repomd" {
                            return Err(src.at(off, "root element is not <repomd>"));
                        }
                        continue;
                    }
                    match local.as_ref().as_bytes() {
                        b"data" => {
                            // records directly in <repomd> only: one anywhere else would
                            // not be where a new one is put, nor be read back
                            let depth = src.depth() + usize::from(matches!(ev, Event::Empty(_)));
                            if depth != 2 {
                                return Err(
                                    src.at(off, "a <data> record not directly inside <repomd>")
                                );
                            }
                            let mut r = Record {
                                start: off as usize,
                                ..Record::default()
                            };
                            src.attrs(off, e, |k, v| {
                                if k == b"type" {
                                    r.kind = v.into_owned();
                                }
                                Ok(())
                            })?;
                            if matches!(ev, Event::Empty(_)) {
                                r.end = src.position() as usize;
                                records.push(r);
                            } else {
                                cur = Some(r);
                            }
                        }
                        b"checksum" if cur.is_some() => {
                            field = 1;
                            text.clear();
                            if let Some(r) = cur.as_mut() {
                                src.attrs(off, e, |k, v| {
                                    if k == b"type" {
                                        r.checksum_type = v.into_owned();
                                    }
                                    Ok(())
                                })?;
                            }
                        }
                        b"timestamp" if cur.is_some() => {
                            field = 2;
                            text.clear();
                        }
                        b"location" => {
                            let at = src.line_col(off);
                            if let Some(r) = cur.as_mut() {
                                r.location_at = at;
                                src.attrs(off, e, |k, v| {
                                    if k == b"href" {
                                        r.location = v.into_owned();
                                    }
                                    Ok(())
                                })?;
                            }
                        }
                        _ => {}
                    }
                }
                Event::Text(t) if field != 0 => text.push_str(&t.xml10_content()),
                Event::End(ref e) => {
                    let local = e.local_name();
                    match local.as_ref().as_bytes() {
                        b"checksum" if field == 1 => {
                            if let Some(r) = cur.as_mut() {
                                r.checksum = text.trim().to_string();
                            }
                            field = 0;
                        }
                        b"timestamp" if field == 2 => {
                            if let Some(r) = cur.as_mut() {
                                // integer or float seconds
                                let t = text.trim();
                                let whole = t.split('.').next().unwrap_or("");
                                r.timestamp = whole.parse().unwrap_or(0);
                            }
                            field = 0;
                        }
                        b"data" => {
                            if let Some(mut r) = cur.take() {
                                r.end = src.position() as usize;
                                records.push(r);
                            }
                        }
                        b"repomd" if src.depth() == 0 => end_tag = Some(off as usize),
                        _ => {}
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let Some(end_tag) = end_tag else {
            let (l, c) = line_col(&bytes, bytes.len());
            return Err(Error::at(&name, l, c, "no </repomd>"));
        };
        Ok(Repomd {
            path,
            bytes,
            records,
            end_tag,
        })
    }

    pub fn record(&self, kind: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.kind == kind)
    }

    /// The record of `kind`, or an error at `</repomd>` saying there is none.
    pub fn need(&self, kind: &str) -> Result<&Record> {
        self.record(kind).ok_or_else(|| {
            let (l, c) = line_col(&self.bytes, self.end_tag);
            Error::at(
                &self.path.display().to_string(),
                l,
                c,
                format!("no {kind} record"),
            )
        })
    }

    /// The repomd.xml with `new` (a complete `<data …>…</data>` text) in place of the record
    /// of its type, or added after the last record. Every other byte stays as it was.
    pub fn with_record(&self, kind: &str, make: impl Fn(&str) -> String) -> Vec<u8> {
        let b = &self.bytes;
        let (at, end, lead) = match self.record(kind) {
            Some(r) => (r.start, r.end, String::new()),
            None => {
                let at = self.records.last().map_or(self.end_tag, |r| r.end);
                (at, at, String::from("\n"))
            }
        };
        // the indentation of the record (or of the last one)
        let anchor = self
            .record(kind)
            .or(self.records.last())
            .map_or(at, |r| r.start);
        let line_start = b[..anchor]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        let indent: String = String::from_utf8_lossy(&b[line_start..anchor])
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect();
        let indent = if indent.is_empty() {
            "  ".to_string()
        } else {
            indent
        };
        let mut out = Vec::with_capacity(b.len() + 512);
        out.extend_from_slice(&b[..at]);
        if self.records.is_empty() && self.record(kind).is_none() {
            out.extend_from_slice(indent.as_bytes());
            out.extend_from_slice(make(&indent).as_bytes());
            out.push(b'\n');
        } else {
            out.extend_from_slice(lead.as_bytes());
            if !lead.is_empty() {
                out.extend_from_slice(indent.as_bytes());
            }
            out.extend_from_slice(make(&indent).as_bytes());
        }
        out.extend_from_slice(&b[end..]);
        out
    }
}

/// 1-based line and byte column of `off` in `bytes`.
fn line_col(bytes: &[u8], off: usize) -> (u64, u64) {
    let before = &bytes[..off.min(bytes.len())];
    let line = memchr::memchr_iter(b'\n', before).count() as u64 + 1;
    let start = memchr::memrchr(b'\n', before).map_or(0, |p| p + 1);
    (line, (before.len() - start) as u64 + 1)
}

/// How to write the metadata file.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub compression: Compression,
    pub sum: Sum,
    /// `<checksum>-updateinfo.xml.gz` (true) or `updateinfo.xml.gz`.
    pub unique: bool,
}

impl Style {
    /// The style of a repository's existing `primary` record.
    pub fn of_primary(md: &Repomd) -> Option<Style> {
        let p = md.record("primary")?;
        let base = p.location.rsplit('/').next().unwrap_or("");
        Some(Style {
            compression: Compression::from_name(base),
            sum: Sum::parse(&p.checksum_type).ok()?,
            unique: !p.checksum.is_empty() && base.starts_with(&format!("{}-", p.checksum)),
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    Updated { location: String, size: u64 },
}

/// Put the updateinfo text read from `input` into `repo`: new metadata file (temp, fsync,
/// rename), then the new repomd.xml (temp, fsync, rename), then the old file goes.
pub fn inject(repo: &Path, input: &mut dyn Read, style: Style, diag: &Diag) -> Result<Outcome> {
    let md = Repomd::load(repo)?;
    let dir = repo.join("repodata");
    let dirname = dir.display().to_string();
    clean_stale_temps(&dir);
    let tmp = dir.join(format!(".updateinfo.tmp{}", std::process::id()));
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .ctx_code(
            exit::CANTCREAT,
            format!("{dirname}: cannot create the new file"),
        )?;
    let guard = TempGuard(Some(tmp.clone()));
    let packed = Hashing::new(BufWriter::with_capacity(1 << 16, f), style.sum);
    let mut comp =
        Compressor::new(style.compression, packed).ctx_code(exit::CANTCREAT, tmp.display())?;
    let mut open = Hashing::new(&mut comp, style.sum);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(stream::read_error("updateinfo input", &e)),
        };
        open.write_all(&buf[..n])
            .ctx_code(exit::CANTCREAT, tmp.display())?;
    }
    let (open_sum, open_size) = (open.hasher.hex(), open.bytes);
    let packed = comp.finish().ctx_code(exit::CANTCREAT, tmp.display())?;
    let (sum, size) = (packed.hasher.hex(), packed.bytes);
    let file = packed
        .inner
        .into_inner()
        .map_err(|e| Error::from_io_code(exit::CANTCREAT, tmp.display(), e.error()))?;
    file.sync_all().ctx_code(exit::CANTCREAT, tmp.display())?;
    drop(file);

    let base = if style.unique {
        format!("{sum}-updateinfo.xml{}", style.compression.suffix())
    } else {
        format!("updateinfo.xml{}", style.compression.suffix())
    };
    let location = format!("repodata/{base}");
    let old = md.record("updateinfo").cloned();
    if let Some(o) = &old
        && o.checksum == sum
        && o.checksum_type == style.sum.name()
        && o.location == location
        && open_in(repo, &o.location, u64::MAX).is_ok()
    {
        drop(guard); // removes the temporary file
        return Ok(Outcome::Unchanged);
    }

    let now = match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let ts = md
        .records
        .iter()
        .map(|r| r.timestamp)
        .max()
        .unwrap_or(0)
        .max(now);
    let compressed = style.compression != Compression::None;
    let new = md.with_record("updateinfo", |i| {
        let mut s = format!(
            "<data type=\"updateinfo\">\n{i}{i}<checksum type=\"{t}\">{sum}</checksum>\n",
            t = style.sum.name()
        );
        if compressed {
            s += &format!("{i}{i}<open-checksum type=\"{t}\">{open_sum}</open-checksum>\n", t = style.sum.name());
        }
        s += &format!("{i}{i}<location href=\"{location}\"/>\n{i}{i}<timestamp>{ts}</timestamp>\n{i}{i}<size>{size}</size>\n");
        if compressed {
            s += &format!("{i}{i}<open-size>{open_size}</open-size>\n");
        }
        s += &format!("{i}</data>");
        s
    });
    // what is written must read back, with the record just made
    let back = Repomd::parse(md.path.clone(), new.clone()).map_err(|e| {
        Error::data(format!(
            "{}: the new repomd.xml would not read back, nothing written: {}",
            md.path.display(),
            e.message().unwrap_or("")
        ))
    })?;
    if back.records.len() != md.records.len() + usize::from(old.is_none())
        || back.record("updateinfo").map(|r| &r.location) != Some(&location)
    {
        return Err(Error::data(format!(
            "{}: the updateinfo record would not read back from the new repomd.xml (records nested where they are not looked for?): nothing written",
            md.path.display()
        )));
    }
    let dest = dir.join(&base);
    fs::rename(&tmp, &dest).ctx_code(exit::CANTCREAT, dest.display())?;
    std::mem::forget(guard);
    output::sync_dir(&dir);
    crash_point("after-data");
    output::write_atomic(&md.path, &new)?;
    crash_point("after-repomd");
    // the old file goes last, unless something still names it
    if let Some(o) = old
        && o.location != location
        && href_problem(&o.location).is_none()
        && o.location.starts_with("repodata/")
        && !o.location[9..].contains('/')
        && !md
            .records
            .iter()
            .any(|r| r.kind != "updateinfo" && r.location == o.location)
    {
        let _ = fs::remove_file(repo.join(&o.location));
        output::sync_dir(&dir);
    }
    if md.path.with_file_name("repomd.xml.asc").exists() {
        diag.warn(format!(
            "{dirname}/repomd.xml.asc: now stale: sign repomd.xml again"
        ));
    }
    Ok(Outcome::Updated { location, size })
}

/// Debug builds only: `OPSBOX_UPDATEINFO_CRASH=POINT` aborts there, to test that a crash
/// at that point leaves a consistent repository.
fn crash_point(point: &str) {
    if cfg!(debug_assertions) && std::env::var("OPSBOX_UPDATEINFO_CRASH").is_ok_and(|p| p == point)
    {
        std::process::abort();
    }
}

/// Temporary files of runs that were killed.
fn clean_stale_temps(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name();
            let n = n.to_string_lossy();
            // ours, and those of the atomic repomd.xml writes (`.repomd.xml.tmpPID.N`)
            let pid = n.strip_prefix(".updateinfo.tmp").or_else(|| {
                n.strip_prefix(".repomd.xml.tmp")
                    .and_then(|r| r.split('.').next())
            });
            if let Some(pid) = pid
                && let Ok(pid) = pid.parse::<u32>()
                && (pid == std::process::id() || !Path::new(&format!("/proc/{pid}")).exists())
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

struct TempGuard(Option<PathBuf>);
impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">abc</checksum>
    <location href="repodata/abc-primary.xml.zst"/>
    <timestamp>1700000005</timestamp>
  </data>
</repomd>
"#;

    #[test]
    fn records_nested_anywhere_but_in_repomd_are_refused() {
        for doc in [
            "<repomd>\n<data type=\"primary\"><data type=\"other\"/></data></repomd>",
            "<repomd>\n<x><data type=\"primary\"></data></x></repomd>",
        ] {
            let e = Repomd::parse(PathBuf::from("r.xml"), doc.as_bytes().to_vec()).unwrap_err();
            assert!(
                e.message()
                    .unwrap()
                    .contains("not directly inside <repomd>"),
                "{e:?}"
            );
            assert!(e.message().unwrap().starts_with("r.xml:2:"), "{e:?}");
        }
        // an empty record is one
        let md = Repomd::parse(
            PathBuf::from("r.xml"),
            b"<repomd><data type=\"a\" x=\">\"/></repomd>".to_vec(),
        )
        .unwrap();
        assert_eq!(md.records.len(), 1);
        assert_eq!(
            &md.bytes[md.records[0].start..md.records[0].end],
            b"<data type=\"a\" x=\">\"/>"
        );
    }

    #[test]
    fn records_and_insertion() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("repodata")).unwrap();
        fs::write(dir.path().join("repodata/repomd.xml"), MD).unwrap();
        let md = Repomd::load(dir.path()).unwrap();
        assert_eq!(md.records.len(), 1);
        let p = md.record("primary").unwrap();
        assert_eq!(
            (p.timestamp, p.location.as_str()),
            (1700000005, "repodata/abc-primary.xml.zst")
        );
        let st = Style::of_primary(&md).unwrap();
        assert_eq!(
            (st.compression, st.sum, st.unique),
            (Compression::Zst, Sum::Sha256, true)
        );
        let new = String::from_utf8(md.with_record("updateinfo", |i| {
            format!("<data type=\"updateinfo\">\n{i}</data>")
        }))
        .unwrap();
        assert!(
            new.contains("  </data>\n  <data type=\"updateinfo\">\n  </data>\n</repomd>\n"),
            "{new}"
        );
        assert!(new.starts_with(&MD[..MD.find("</data>").unwrap()]));
    }
}
