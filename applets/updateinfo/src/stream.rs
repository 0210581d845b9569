//! Byte streams: compression detected by magic bytes (gzip, bzip2, xz, zstd), compressors
//! for the metadata we write, checksums, and line/column tracking for error positions.

use opsbox_common::{Error, Result};
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};

/// A compression format of repository metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gz,
    Bz2,
    Xz,
    Zst,
}

impl Compression {
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "none" => Ok(Compression::None),
            "gz" | "gzip" => Ok(Compression::Gz),
            "bz2" | "bzip2" => Ok(Compression::Bz2),
            "xz" => Ok(Compression::Xz),
            "zst" | "zstd" => Ok(Compression::Zst),
            _ => Err(format!("'{s}' is not one of gz, xz, bz2, zst, none")),
        }
    }
    /// The file-name suffix (with its dot), empty for none.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gz => ".gz",
            Compression::Bz2 => ".bz2",
            Compression::Xz => ".xz",
            Compression::Zst => ".zst",
        }
    }
    /// From a metadata file name (`…-primary.xml.zst`).
    pub fn from_name(name: &str) -> Self {
        for c in [
            Compression::Gz,
            Compression::Bz2,
            Compression::Xz,
            Compression::Zst,
        ] {
            if name.ends_with(c.suffix()) {
                return c;
            }
        }
        Compression::None
    }
    /// From the first bytes of a stream.
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gz
        } else if head.starts_with(b"BZh") {
            Compression::Bz2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zst
        } else {
            Compression::None
        }
    }
}

/// Wrap `raw` in the decompressor its first bytes call for. Returns the format found.
pub fn decompress<R: BufRead + Send + 'static>(
    mut raw: R,
) -> io::Result<(Compression, Box<dyn BufRead + Send>)> {
    let head = raw.fill_buf()?;
    let kind = Compression::sniff(head);
    let big = 1 << 16;
    let r: Box<dyn BufRead + Send> = match kind {
        Compression::None => Box::new(raw),
        Compression::Gz => Box::new(BufReader::with_capacity(
            big,
            flate2::bufread::MultiGzDecoder::new(raw),
        )),
        Compression::Bz2 => Box::new(BufReader::with_capacity(
            big,
            bzip2::bufread::MultiBzDecoder::new(raw),
        )),
        Compression::Zst => Box::new(BufReader::with_capacity(
            big,
            ruzstd::decoding::StreamingDecoder::new(raw)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?,
        )),
        Compression::Xz => Box::new(BufReader::with_capacity(big, xz_reader(raw)?)),
    };
    Ok((kind, r))
}

/// lzma-rs decodes xz only from a reader into a writer: run it in a thread that writes
/// into a pipe, and read the other end. Its error, if any, is the reader's last error.
fn xz_reader<R: BufRead + Send + 'static>(mut raw: R) -> io::Result<ThreadReader> {
    let (rd, mut wr) = io::pipe()?;
    let handle = std::thread::spawn(move || -> io::Result<()> {
        let mut out = io::BufWriter::with_capacity(1 << 16, &mut wr);
        match lzma_rs::xz_decompress(&mut raw, &mut out) {
            Ok(()) => out.flush(),
            // the reader stopped early (a fatal error upstream): not our error
            Err(lzma_rs::error::Error::IoError(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                Ok(())
            }
            Err(lzma_rs::error::Error::IoError(e)) => Err(e),
            Err(e) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("xz: {e}"),
            )),
        }
    });
    Ok(ThreadReader {
        pipe: rd,
        handle: Some(handle),
    })
}

struct ThreadReader {
    pipe: io::PipeReader,
    handle: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Read for ThreadReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.pipe.read(buf)?;
        if n == 0
            && let Some(h) = self.handle.take()
        {
            return match h.join() {
                Ok(Ok(())) => Ok(0),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(io::Error::other("xz decoder failed")),
            };
        }
        Ok(n)
    }
}

/// A writer that compresses into `out`. Call [`Compressor::finish`] at the end.
pub enum Compressor<W: Write> {
    None(W),
    Gz(flate2::write::GzEncoder<W>),
    Bz2(bzip2::write::BzEncoder<W>),
    /// xz and zstd encoders work from a reader: spool the input to a temporary file.
    Spool(Compression, std::fs::File, W),
}

impl<W: Write> Compressor<W> {
    pub fn new(kind: Compression, out: W) -> io::Result<Self> {
        Ok(match kind {
            Compression::None => Compressor::None(out),
            // mtime 0 and no file name: the same input gives the same bytes
            Compression::Gz => Compressor::Gz(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(out, flate2::Compression::default()),
            ),
            Compression::Bz2 => Compressor::Bz2(bzip2::write::BzEncoder::new(
                out,
                bzip2::Compression::best(),
            )),
            Compression::Xz | Compression::Zst => {
                Compressor::Spool(kind, tempfile::tempfile()?, out)
            }
        })
    }

    /// Flush everything and return the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gz(e) => e.finish(),
            Compressor::Bz2(e) => e.finish(),
            Compressor::Spool(kind, mut f, mut out) => {
                use std::io::Seek;
                f.flush()?;
                f.seek(io::SeekFrom::Start(0))?;
                let mut src = BufReader::with_capacity(1 << 16, f);
                if kind == Compression::Xz {
                    lzma_rs::xz_compress(&mut src, &mut out)?;
                } else {
                    // ruzstd's encoder unwraps I/O results: hand it a reader and a writer
                    // that never fail, and look at their errors afterwards.
                    let mut rd = NoFail::new(src);
                    let mut wr = NoFail::new(&mut out);
                    ruzstd::encoding::compress(
                        &mut rd,
                        &mut wr,
                        ruzstd::encoding::CompressionLevel::Fastest,
                    );
                    rd.check()?;
                    wr.check()?;
                }
                Ok(out)
            }
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gz(e) => e.write(buf),
            Compressor::Bz2(e) => e.write(buf),
            Compressor::Spool(_, f, _) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gz(e) => e.flush(),
            Compressor::Bz2(e) => e.flush(),
            Compressor::Spool(_, f, _) => f.flush(),
        }
    }
}

/// Swallows I/O errors (remembering the first) so a library that unwraps cannot panic.
struct NoFail<T> {
    inner: T,
    err: Option<io::Error>,
}

impl<T> NoFail<T> {
    fn new(inner: T) -> Self {
        NoFail { inner, err: None }
    }
    fn check(&mut self) -> io::Result<()> {
        match self.err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<T: Read> Read for NoFail<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.err.is_some() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                self.err = Some(e);
                Ok(0)
            }
        }
    }
}

impl<T: Write> Write for NoFail<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.err.is_none()
            && let Err(e) = self.inner.write_all(buf)
        {
            self.err = Some(e);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.err.is_none()
            && let Err(e) = self.inner.flush()
        {
            self.err = Some(e);
        }
        Ok(())
    }
}

/// A checksum algorithm of repository metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sum {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Sum {
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "sha" | "sha1" => Ok(Sum::Sha1),
            "sha224" => Ok(Sum::Sha224),
            "sha256" => Ok(Sum::Sha256),
            "sha384" => Ok(Sum::Sha384),
            "sha512" => Ok(Sum::Sha512),
            _ => Err(format!(
                "'{s}' is not one of sha1, sha224, sha256, sha384, sha512"
            )),
        }
    }
    /// The name repomd.xml uses.
    pub fn name(self) -> &'static str {
        match self {
            Sum::Sha1 => "sha1",
            Sum::Sha224 => "sha224",
            Sum::Sha256 => "sha256",
            Sum::Sha384 => "sha384",
            Sum::Sha512 => "sha512",
        }
    }
    pub fn hasher(self) -> Hasher {
        use sha2::Digest;
        match self {
            Sum::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Sum::Sha224 => Hasher::Sha224(sha2::Sha224::new()),
            Sum::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Sum::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Sum::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

pub enum Hasher {
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn update(&mut self, b: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::Sha1(h) => h.update(b),
            Hasher::Sha224(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha384(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }
    /// Lower-case hex.
    pub fn hex(self) -> String {
        use sha2::Digest;
        let bytes: Vec<u8> = match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        hex(&bytes)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A writer (or reader) that hashes and counts what passes through.
pub struct Hashing<T> {
    pub inner: T,
    pub hasher: Hasher,
    pub bytes: u64,
}

impl<T> Hashing<T> {
    pub fn new(inner: T, sum: Sum) -> Self {
        Hashing {
            inner,
            hasher: sum.hasher(),
            bytes: 0,
        }
    }
}

impl<T: Write> Write for Hashing<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Read> Read for Hashing<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Newline offsets of the text read so far, to turn byte offsets into LINE:COL. Only the
/// newlines after the last [`Lines::forget_before`] are kept, so memory stays bounded.
#[derive(Debug)]
pub struct Lines {
    base_line: u64,
    base_off: u64,
    nl: VecDeque<u64>,
}

impl Lines {
    /// 1-based line and byte column of byte offset `off`.
    pub fn line_col(&self, off: u64) -> (u64, u64) {
        let k = self.nl.partition_point(|&p| p < off);
        let start = if k == 0 {
            self.base_off
        } else {
            self.nl[k - 1] + 1
        };
        (self.base_line + k as u64, off.saturating_sub(start) + 1)
    }
    /// Offsets before `off` will not be asked for again.
    pub fn forget_before(&mut self, off: u64) {
        while let Some(&p) = self.nl.front() {
            if p >= off {
                break;
            }
            self.base_line += 1;
            self.base_off = p + 1;
            self.nl.pop_front();
        }
    }
}

/// A `BufRead` that records where its newlines are (see [`Lines`]). Each buffer the inner
/// reader fills is scanned once, as a whole, when it is first seen (not piece by piece as
/// it is consumed): newlines past the consumed part are recorded early, which changes no
/// answer of [`Lines::line_col`] for a consumed offset.
pub struct Tracked<R> {
    inner: R,
    pos: u64,
    /// Newlines before this offset are recorded.
    scanned: u64,
    pub lines: Lines,
}

impl<R: BufRead> Tracked<R> {
    pub fn new(inner: R) -> Self {
        Tracked {
            inner,
            pos: 0,
            scanned: 0,
            lines: Lines {
                base_line: 1,
                base_off: 0,
                nl: VecDeque::new(),
            },
        }
    }
}

impl<R: BufRead> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tracked<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let buf = self.inner.fill_buf()?;
        let end = self.pos + buf.len() as u64;
        if end > self.scanned {
            let from = (self.scanned.saturating_sub(self.pos) as usize).min(buf.len());
            for i in memchr::memchr_iter(b'\n', &buf[from..]) {
                self.lines.nl.push_back(self.scanned + i as u64);
            }
            self.scanned = end;
        }
        Ok(buf)
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt as u64;
        self.inner.consume(amt);
    }
}

/// An I/O error while reading `name` as input data: a decompression failure is bad data
/// (65), anything else an input error (66 for the file, 74 otherwise).
pub fn read_error(name: &str, e: &io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof => {
            Error::data(format!(
                "{name}: corrupt compressed data: {}",
                opsbox_common::io_reason(e)
            ))
        }
        _ => Error::from_io(name, e),
    }
}

/// Read all of `r` into `w`.
pub fn copy<R: Read, W: Write>(r: &mut R, w: &mut W) -> io::Result<u64> {
    io::copy(r, w)
}

/// An input stream: a plain file read directly (the usual case, without a call through a
/// `dyn` at every step of the parser), or anything else.
pub enum Input {
    File(BufReader<std::fs::File>),
    Other(Box<dyn BufRead + Send>),
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::File(r) => r.read(buf),
            Input::Other(r) => r.read(buf),
        }
    }
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Input::File(r) => r.fill_buf(),
            Input::Other(r) => r.fill_buf(),
        }
    }
    fn consume(&mut self, n: usize) {
        match self {
            Input::File(r) => r.consume(n),
            Input::Other(r) => r.consume(n),
        }
    }
}

/// Open an input path (`-` = stdin) and undo its compression (found by its first bytes).
pub fn open_input(path: &str) -> Result<(Compression, Input)> {
    let name = opsbox_common::input::display_name(path);
    if path == "-" {
        let stdin = BufReader::with_capacity(1 << 16, io::stdin());
        let (c, r) = decompress(stdin).map_err(|e| read_error(name, &e))?;
        return Ok((c, Input::Other(r)));
    }
    let mut file = BufReader::with_capacity(1 << 16, opsbox_common::input::open_file(path)?);
    let head = file.fill_buf().map_err(|e| read_error(name, &e))?;
    match Compression::sniff(head) {
        Compression::None => Ok((Compression::None, Input::File(file))),
        _ => {
            let (c, r) = decompress(file).map_err(|e| read_error(name, &e))?;
            Ok((c, Input::Other(r)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compression_round_trips_and_is_sniffed() {
        let text = b"<updates>\n  <update/>\n</updates>\n".repeat(200);
        for kind in [
            Compression::None,
            Compression::Gz,
            Compression::Bz2,
            Compression::Xz,
            Compression::Zst,
        ] {
            let mut c = Compressor::new(kind, Vec::new()).unwrap();
            c.write_all(&text).unwrap();
            let packed = c.finish().unwrap();
            assert_eq!(Compression::sniff(&packed), kind);
            let (k, mut r) = decompress(io::Cursor::new(packed.clone())).unwrap();
            assert_eq!(k, kind);
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, text, "{kind:?}");
            // deterministic
            let mut c = Compressor::new(kind, Vec::new()).unwrap();
            c.write_all(&text).unwrap();
            assert_eq!(c.finish().unwrap(), packed, "{kind:?}");
        }
    }

    #[test]
    fn corrupt_xz_is_an_error_not_eof() {
        let mut c = Compressor::new(Compression::Xz, Vec::new()).unwrap();
        c.write_all(&[b'x'; 5000]).unwrap();
        let mut packed = c.finish().unwrap();
        packed.truncate(packed.len() / 2);
        let (_, mut r) = decompress(io::Cursor::new(packed)).unwrap();
        let mut back = Vec::new();
        assert!(r.read_to_end(&mut back).is_err());
    }

    #[test]
    fn lines_and_columns_across_small_buffers_and_partial_consumes() {
        let text = b"a\nbc\n\n\ndef\ng\nhijkl\n\nm";
        let naive = |off: usize| {
            let before = &text[..off];
            let line = before.iter().filter(|&&c| c == b'\n').count() as u64 + 1;
            let start = before
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |p| p + 1);
            (line, (off - start) as u64 + 1)
        };
        let mut t = Tracked::new(io::BufReader::with_capacity(3, &text[..]));
        let mut off = 0;
        loop {
            let n = t.fill_buf().unwrap().len().min(2);
            if n == 0 {
                break;
            }
            t.consume(n);
            off += n;
            for o in 0..=off {
                assert_eq!(t.lines.line_col(o as u64), naive(o), "at {o} after {off}");
            }
        }
        assert_eq!(off, text.len());
    }

    #[test]
    fn lines_and_columns() {
        let mut t = Tracked::new(io::Cursor::new(b"ab\ncd\n\nef".to_vec()));
        let mut s = String::new();
        t.read_to_string(&mut s).unwrap();
        assert_eq!(t.lines.line_col(0), (1, 1));
        assert_eq!(t.lines.line_col(4), (2, 2));
        assert_eq!(t.lines.line_col(7), (4, 1));
        t.lines.forget_before(5);
        assert_eq!(t.lines.line_col(8), (4, 2));
        assert_eq!(
            Sum::Sha256.hasher().hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
