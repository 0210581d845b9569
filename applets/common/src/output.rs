//! Outputs: written to a temporary file in the destination's directory, flushed, fsynced
//! and renamed into place, so a reader never sees half a file; `-` is standard output.
//! A destination that exists and is not a regular file (`/dev/null`, a FIFO, a terminal,
//! `/dev/stdout`) is written to directly: it is never replaced.

use crate::{Error, Result, ResultExt, exit};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Buffered, locked standard output. Write with `write!`/`writeln!` and `?` (never
/// `println!`, which panics when the reader has gone).
pub fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(1 << 16, io::stdout().lock())
}

/// A file being written under a temporary name; [`AtomicFile::commit`] puts it in place.
/// Dropped without commit, the temporary file is removed and the destination is untouched.
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
    /// Bytes written, and how many of them the kernel was told to start writing back.
    written: u64,
    kicked: u64,
    /// Writing straight into a device or FIFO (nothing to rename, nothing to remove).
    direct: bool,
}

/// Start writing back every this many bytes, so the fsync of a large file has little
/// left to wait for.
const WRITEBACK: u64 = 2 << 20;

impl AtomicFile {
    /// Start writing `dest` (mode 0644 before umask, or the mode of the file it replaces).
    pub fn create(dest: impl AsRef<Path>) -> Result<Self> {
        let dest = dest.as_ref().to_path_buf();
        let name = dest
            .file_name()
            .ok_or_else(|| Error::cantcreat(format!("{}: not a file name", dest.display())))?
            .to_string_lossy()
            .into_owned();
        let dir = parent_dir(&dest);
        if let Ok(m) = fs::metadata(&dest)
            && !m.is_file()
            && !m.is_dir()
        {
            let f = OpenOptions::new()
                .write(true)
                .open(&dest)
                .ctx_code(exit::CANTCREAT, dest.display())?;
            return Ok(AtomicFile {
                tmp: dest.clone(),
                dest,
                file: Some(BufWriter::with_capacity(1 << 16, f)),
                written: 0,
                kicked: 0,
                direct: true,
            });
        }
        let mode = fs::metadata(&dest)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
            .unwrap_or(0o644);
        let mut n = 0u32;
        loop {
            let tmp = dir.join(format!(".{name}.tmp{}.{n}", std::process::id()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)
            {
                Ok(f) => {
                    return Ok(AtomicFile {
                        dest,
                        tmp,
                        file: Some(BufWriter::with_capacity(1 << 16, f)),
                        written: 0,
                        kicked: 0,
                        direct: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(Error::from_io_code(exit::CANTCREAT, dest.display(), &e)),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.dest
    }

    /// Whether [`AtomicFile::write_at`] can be used: a temporary file is written, not a
    /// device or FIFO.
    pub fn positioned(&self) -> bool {
        !self.direct
    }

    /// Write `buf` at offset `off` (several threads may each write their own part of the
    /// file at once), and start writing it back (so the fsync of a large file has little
    /// left to wait for). Not to be mixed with `Write`, whose buffer it bypasses; only when
    /// [`AtomicFile::positioned`].
    pub fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        match &self.file {
            Some(w) if !self.direct => {
                w.get_ref().write_all_at(buf, off)?;
                start_writeback(w.get_ref(), off, buf.len() as u64);
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "not a regular file: cannot write at an offset",
            )),
        }
    }

    /// Flush, fsync, rename over the destination, fsync the directory.
    pub fn commit(mut self) -> Result<()> {
        let w = self.file.take().expect("commit once");
        let f = w
            .into_inner()
            .map_err(|e| Error::from_io_code(exit::CANTCREAT, self.dest.display(), e.error()))?;
        if self.direct {
            return Ok(());
        }
        f.sync_all()
            .ctx_code(exit::CANTCREAT, self.dest.display())?;
        drop(f);
        fs::rename(&self.tmp, &self.dest).ctx_code(exit::CANTCREAT, self.dest.display())?;
        sync_dir(&parent_dir(&self.dest));
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let w = self.file.as_mut().expect("not committed");
        let n = w.write(buf)?;
        self.written += n as u64;
        if !self.direct && self.written - self.kicked >= WRITEBACK {
            // what is written so far goes to the page cache, and its writeback starts
            w.flush()?;
            start_writeback(w.get_ref(), self.kicked, self.written - self.kicked);
            self.kicked = self.written;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

/// Start writing back `len` bytes of `f` from `off` (POSIX_FADV_DONTNEED starts it on
/// Linux, and drops only clean pages), so a later fsync has little left to wait for.
fn start_writeback(f: &File, off: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        f,
        off,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    );
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() && !self.direct {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Write `bytes` to `dest` atomically.
pub fn write_atomic(dest: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(dest.as_ref())?;
    f.write_all(bytes)
        .ctx_code(exit::CANTCREAT, dest.as_ref().display())?;
    f.commit()
}

/// Where an applet's main output goes: standard output (`-`) or a file written atomically.
pub enum Output {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File(AtomicFile),
}

impl Output {
    /// `-` (or no path) is stdout; anything else an [`AtomicFile`].
    pub fn create(path: Option<&str>) -> Result<Self> {
        match path {
            None | Some("-") => Ok(Output::Stdout(stdout())),
            Some(p) => Ok(Output::File(AtomicFile::create(p)?)),
        }
    }
    /// Finish: flush stdout, or put the file in place.
    pub fn commit(self) -> Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush().map_err(Error::from),
            Output::File(f) => f.commit(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File(f) => f.flush(),
        }
    }
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// fsync a directory so a rename in it is durable (best effort).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_and_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.json");
        fs::write(&dest, "old").unwrap();
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.write_all(b"half").unwrap();
            // dropped: not committed
        }
        assert_eq!(fs::read_to_string(&dest).unwrap(), "old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
        write_atomic(&dest, b"new").unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn devices_and_fifos_are_written_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        write_atomic("/dev/null", b"gone").unwrap();
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );

        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file");
    }

    #[test]
    fn a_large_file_is_whole_after_the_early_writebacks() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("big");
        let mut f = AtomicFile::create(&dest).unwrap();
        // pieces of odd sizes across several writeback points
        let mut want = Vec::new();
        let mut i = 0u32;
        while want.len() < 3 * WRITEBACK as usize + 12345 {
            let piece: Vec<u8> = (0..(i % 70_001) + 1).map(|k| (k ^ i) as u8).collect();
            f.write_all(&piece).unwrap();
            want.extend_from_slice(&piece);
            i += 1;
        }
        // writeback was started three times, each time for all written so far
        assert!(
            f.kicked >= 3 * WRITEBACK && f.kicked < 4 * WRITEBACK,
            "{}",
            f.kicked
        );
        f.commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), want);
    }

    #[test]
    fn unwritable_directory_is_cantcreat() {
        let e = AtomicFile::create("/nonexistent-dir/x").err().unwrap();
        assert_eq!(e.code(), 73);
        assert_eq!(
            e.message(),
            Some("/nonexistent-dir/x: No such file or directory")
        );
    }
}
