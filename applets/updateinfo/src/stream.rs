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

/// Limits of every input (stated in updateinfo(8)); checked as bytes are read, before
/// anything is buffered.
pub mod limits {
    /// One XML token: a tag with its attributes, a text node, a comment, CDATA, a PI.
    pub const TOKEN: u64 = 1 << 20;
    /// An element name.
    pub const NAME: usize = 1024;
    /// Attributes of one element (duplicates are looked for among them all).
    pub const ATTRIBUTES: usize = 256;
    /// Elements open at once.
    pub const DEPTH: usize = 64;
    /// One CEFS advisory, start tag to end tag.
    pub const ADVISORY: u64 = 1 << 20;
    /// A compressed input may expand this many times (past [`RATIO_FREE`] bytes).
    pub const RATIO: u64 = 250;
    pub const RATIO_FREE: u64 = 16 << 20;
    /// The zstd window (its decoder keeps that much history).
    pub const ZSTD_WINDOW: u64 = 16 << 20;
    /// The xz dictionary, in KiB (xz -6, the default, uses 8 MiB; -9 64 MiB).
    pub const XZ_MEM_KB: u32 = 16 << 10;
}

/// `Read` for a wrapper whose work is in its `BufRead` side: every byte passes through
/// `fill_buf`/`consume`, so what they count or note sees all of it.
fn read_through_buffer<R: BufRead>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let avail = r.fill_buf()?;
    let n = avail.len().min(buf.len());
    buf[..n].copy_from_slice(&avail[..n]);
    r.consume(n);
    Ok(n)
}

/// Counts the bytes consumed from the compressed side, for the expansion ratio.
struct Counted<R> {
    inner: R,
    n: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_through_buffer(self, buf)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.n
            .fetch_add(amt as u64, std::sync::atomic::Ordering::Relaxed);
        self.inner.consume(amt);
    }
}

/// Wrap `raw` in the decompressor its first bytes call for. Returns the format found.
/// Every format reads concatenated members/streams/frames (all legal in their formats)
/// and refuses anything else after the compressed data.
pub fn decompress<R: BufRead + Send + 'static>(
    raw: R,
) -> io::Result<(Compression, Box<dyn BufRead + Send>)> {
    decompress_counted(raw).map(|(c, r, _)| (c, r))
}

/// [`decompress`], with the count of compressed bytes read so far (`None` for plain input).
#[allow(clippy::type_complexity)]
pub fn decompress_counted<R: BufRead + Send + 'static>(
    mut raw: R,
) -> io::Result<(
    Compression,
    Box<dyn BufRead + Send>,
    Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
)> {
    let head = raw.fill_buf()?;
    let kind = Compression::sniff(head);
    if kind == Compression::None {
        return Ok((kind, Box::new(raw), None));
    }
    let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let raw = Counted {
        inner: raw,
        n: n.clone(),
    };
    let big = 1 << 16;
    let r: Box<dyn BufRead + Send> = match kind {
        Compression::None => unreachable!(),
        Compression::Gz => Box::new(BufReader::with_capacity(
            big,
            Strict(flate2::bufread::MultiGzDecoder::new(raw)),
        )),
        Compression::Bz2 => Box::new(BufReader::with_capacity(
            big,
            Strict(bzip2::bufread::MultiBzDecoder::new(raw)),
        )),
        Compression::Zst => Box::new(BufReader::with_capacity(big, Zstd::new(raw)?)),
        Compression::Xz => Box::new(BufReader::with_capacity(
            big,
            Strict(lzma_rust2::XzReader::new_mem_limit(
                raw,
                true,
                limits::XZ_MEM_KB,
            )),
        )),
    };
    Ok((kind, r, Some(n)))
}

/// A decoder's errors, all as bad data (65) with a plain message.
struct Strict<R>(R);

impl<R: Read> Read for Strict<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(bad_data)
    }
}

fn bad_data(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::Interrupted || e.raw_os_error().is_some() {
        // reading the file itself failed: an I/O error, not bad data
        return e;
    }
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return io::Error::new(
            io::ErrorKind::InvalidData,
            "truncated compressed data (or data after its end)",
        );
    }
    io::Error::new(io::ErrorKind::InvalidData, opsbox_common::io_reason(&e))
}

/// zstd: every frame in turn (concatenated frames are one stream; skippable frames are
/// skipped), the window limited to [`limits::ZSTD_WINDOW`], anything else after the last
/// frame refused.
struct Zstd<R> {
    src: Eof<R>,
    dec: ruzstd::decoding::FrameDecoder,
    done: bool,
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

fn zstd_error(e: impl std::fmt::Display) -> io::Error {
    // (ruzstd's messages end in the Debug text of the cause: keep the words before it)
    let text = e.to_string();
    let words = text.split(['(', '{']).next().unwrap_or("").trim_end();
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {words}"))
}

/// A `BufRead` that notes when its input ended.
struct Eof<R> {
    inner: R,
    hit: bool,
}

impl<R: BufRead> Read for Eof<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_through_buffer(self, buf)
    }
}

impl<R: BufRead> BufRead for Eof<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let b = self.inner.fill_buf()?;
        if b.is_empty() {
            self.hit = true;
        }
        Ok(b)
    }
    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
    }
}

impl<R: BufRead> Zstd<R> {
    fn new(src: R) -> io::Result<Self> {
        let mut src = Eof {
            inner: src,
            hit: false,
        };
        let mut dec = ruzstd::decoding::FrameDecoder::new();
        dec.set_max_window_size(limits::ZSTD_WINDOW);
        dec.init(&mut src).map_err(zstd_error)?;
        Ok(Zstd {
            src,
            dec,
            done: false,
        })
    }

    /// After a frame: skip skippable frames; `true` if another zstd frame starts.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            let mut head = [0u8; 8];
            let got = fill_up(&mut self.src, &mut head[..4])?;
            if got == 0 {
                return Ok(false);
            }
            if got == 4 && head[..4] == ZSTD_MAGIC {
                return Ok(true);
            }
            if got == 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18] {
                if fill_up(&mut self.src, &mut head[4..8])? != 4 {
                    return Err(zstd_error("truncated skippable frame"));
                }
                let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as u64;
                let skipped = io::copy(&mut (&mut self.src).take(len), &mut io::sink())?;
                if skipped != len {
                    return Err(zstd_error("truncated skippable frame"));
                }
                continue;
            }
            return Err(zstd_error("data after the last frame"));
        }
    }
}

/// Read until `buf` is full or the input ends; how many bytes were read.
fn fill_up<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        loop {
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            if self.dec.can_collect() > 0 {
                return self.dec.read(buf).map_err(zstd_error);
            }
            if !self.dec.is_finished() {
                if let Err(e) = self
                    .dec
                    .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBlocks(1))
                {
                    return Err(if self.src.hit {
                        io::Error::new(io::ErrorKind::InvalidData, "truncated compressed data")
                    } else {
                        zstd_error(e)
                    });
                }
                continue;
            }
            if let (Some(want), Some(got)) = (
                self.dec.get_checksum_from_data(),
                self.dec.get_calculated_checksum(),
            ) && want != got
            {
                return Err(zstd_error("checksum mismatch"));
            }
            // the frame is done: the magic of the next one was read by next_frame
            if !self.next_frame()? {
                self.done = true;
                return Ok(0);
            }
            let magic = io::Cursor::new(ZSTD_MAGIC);
            self.dec
                .reset(magic.chain(&mut self.src))
                .map_err(zstd_error)?;
        }
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
                    let mut w =
                        lzma_rust2::XzWriter::new(&mut out, lzma_rust2::XzOptions::with_preset(6))?;
                    io::copy(&mut src, &mut w)?;
                    w.finish()?;
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

/// A limit of [`limits`] that the input went past: the reason, for the message.
#[derive(Debug)]
pub struct OverLimit(pub String);

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for OverLimit {}

/// The [`OverLimit`] inside an I/O error, if that is what it is.
pub fn over_limit(e: &io::Error) -> Option<&OverLimit> {
    e.get_ref()?.downcast_ref::<OverLimit>()
}

/// A buffered reader that records where its newlines are (see [`Lines`]), and enforces
/// the token size and the expansion ratio: a token (bytes consumed since
/// [`Tracked::start_token`]) longer than the limit is an [`OverLimit`] error before it is
/// handed on, so whoever buffers it never holds more than the limit. It holds the buffer
/// itself (the parser asks for it a few times per token: one layer, not two), and scans
/// each refill for newlines once, as a whole: newlines past the consumed part are recorded
/// early, which changes no answer of [`Lines::line_col`] for a consumed offset.
pub struct Tracked<R> {
    inner: R,
    buf: Box<[u8]>,
    /// `buf[at..filled]` is read and not consumed; `pos` is the offset of `buf[at]`.
    at: usize,
    filled: usize,
    pos: u64,
    pub lines: Lines,
    token_start: u64,
    token_limit: u64,
    /// Compressed bytes read so far (for the expansion ratio), if compressed.
    packed: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl<R: Read> Tracked<R> {
    pub fn new(inner: R) -> Self {
        Self::with_capacity(inner, 1 << 16)
    }

    /// With a buffer of `cap` bytes.
    pub fn with_capacity(inner: R, cap: usize) -> Self {
        Tracked {
            inner,
            buf: vec![0; cap.max(1)].into_boxed_slice(),
            at: 0,
            filled: 0,
            pos: 0,
            lines: Lines {
                base_line: 1,
                base_off: 0,
                nl: VecDeque::new(),
            },
            token_start: 0,
            token_limit: u64::MAX,
            packed: None,
        }
    }

    /// Limit tokens to `limit` bytes, and the expansion of a compressed input (whose
    /// compressed bytes are counted in `packed`).
    pub fn limited(
        mut self,
        limit: u64,
        packed: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    ) -> Self {
        self.token_limit = limit;
        self.packed = packed;
        self
    }

    /// A new token starts here.
    pub fn start_token(&mut self) {
        self.token_start = self.pos;
    }

    /// Read more into the (consumed) buffer, after checking the expansion ratio; record
    /// the newlines read.
    #[cold]
    fn refill(&mut self) -> io::Result<()> {
        if let Some(p) = &self.packed
            && self.pos > limits::RATIO_FREE
        {
            let packed = p.load(std::sync::atomic::Ordering::Relaxed).max(1);
            if self.pos / packed > limits::RATIO {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    OverLimit(format!(
                        "{} bytes expanded from {packed}: more than {} times (a decompression bomb?)",
                        self.pos,
                        limits::RATIO
                    )),
                ));
            }
        }
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        (self.at, self.filled) = (0, n);
        for i in memchr::memchr_iter(b'\n', &self.buf[..n]) {
            self.lines.nl.push_back(self.pos + i as u64);
        }
        Ok(())
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_through_buffer(self, buf)
    }
}

impl<R: Read> BufRead for Tracked<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let used = self.pos - self.token_start;
        if used > self.token_limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                OverLimit(format!(
                    "a token (tag, text, comment) longer than {} bytes",
                    self.token_limit
                )),
            ));
        }
        if self.at >= self.filled {
            self.refill()?;
        }
        let avail = &self.buf[self.at..self.filled];
        // at most one byte past the limit is handed on
        let room = (self.token_limit - used).saturating_add(1);
        Ok(&avail[..avail.len().min(usize::try_from(room).unwrap_or(usize::MAX))])
    }
    #[inline]
    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.filled - self.at);
        self.at += amt;
        self.pos += amt as u64;
    }
}

/// An I/O error while reading `name` as input data: a decompression failure is bad data
/// (65), anything else an input error (66 for the file, 74 otherwise).
pub fn read_error(name: &str, e: &io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof => {
            // (where it is found: before anything was decompressed)
            Error::at(
                name,
                1,
                1,
                format!("corrupt compressed data: {}", opsbox_common::io_reason(e)),
            )
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
    /// With the count of compressed bytes read, if compressed.
    Other(
        Box<dyn BufRead + Send>,
        Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    ),
}

impl Input {
    /// The count of compressed bytes read, if the input is compressed.
    pub fn packed(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        match self {
            Input::File(_) => None,
            Input::Other(_, p) => p.clone(),
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::File(r) => r.read(buf),
            Input::Other(r, _) => r.read(buf),
        }
    }
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Input::File(r) => r.fill_buf(),
            Input::Other(r, _) => r.fill_buf(),
        }
    }
    fn consume(&mut self, n: usize) {
        match self {
            Input::File(r) => r.consume(n),
            Input::Other(r, _) => r.consume(n),
        }
    }
}

/// Open an input path (`-` = stdin) and undo its compression (found by its first bytes).
pub fn open_input(path: &str) -> Result<(Compression, Input)> {
    let name = opsbox_common::input::display_name(path);
    if path == "-" {
        let stdin = BufReader::with_capacity(1 << 16, io::stdin());
        let (c, r, n) = decompress_counted(stdin).map_err(|e| read_error(name, &e))?;
        return Ok((c, Input::Other(r, n)));
    }
    open_file_input(opsbox_common::input::open_file(path)?, name)
}

/// [`open_input`] for a file already open (named `name` in messages).
pub fn open_file_input(file: std::fs::File, name: &str) -> Result<(Compression, Input)> {
    let mut file = BufReader::with_capacity(1 << 16, file);
    let head = file.fill_buf().map_err(|e| read_error(name, &e))?;
    match Compression::sniff(head) {
        Compression::None => Ok((Compression::None, Input::File(file))),
        _ => {
            let (c, r, n) = decompress_counted(file).map_err(|e| read_error(name, &e))?;
            Ok((c, Input::Other(r, n)))
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
        let mut t = Tracked::with_capacity(&text[..], 3);
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
