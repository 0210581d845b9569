//! A set of files written into one directory atomically and durably, together: each is
//! written under a temporary name (writeback started as it is written), then all are
//! fsynced in one pass, then renamed into place, then the directory is fsynced once.
//!
//! One fsync per file while writing it (what [`opsbox_common::output::AtomicFile`] does)
//! makes the file system commit its journal once per file; here the first fsync of the pass
//! commits them all and the others find nothing left to do. A reader never sees half a
//! file; after a crash each name holds its old or its new content, and after [`Set::commit`]
//! returns, all are the new ones on disk. Dropped without commit, the temporary files are
//! removed.

use opsbox_common::{Error, Result, ResultExt, exit};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Files being written into `dir`.
pub struct Set {
    dir: PathBuf,
    /// (temporary path, final path)
    files: Vec<(PathBuf, PathBuf)>,
}

impl Set {
    pub fn new(dir: &Path) -> Set {
        Set {
            dir: dir.to_path_buf(),
            files: Vec::new(),
        }
    }

    /// Write `name` (a file name in the directory) with `bytes`, under a temporary name.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let dest = self.dir.join(name);
        let shown = dest.display().to_string();
        let mut n = 0u32;
        let (tmp, mut f) = loop {
            let tmp = self
                .dir
                .join(format!(".{name}.tmp{}.{n}", std::process::id()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)
            {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(Error::from_io_code(exit::CANTCREAT, &shown, &e)),
            }
        };
        self.files.push((tmp, dest));
        f.write_all(bytes).ctx_code(exit::CANTCREAT, &shown)?;
        // start writing back now (POSIX_FADV_DONTNEED starts writeback of dirty pages on
        // Linux), so the fsync pass finds the data on its way
        let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed);
        Ok(())
    }

    /// Take over the files of another set (of the same directory).
    pub fn merge(&mut self, mut other: Set) {
        self.files.append(&mut other.files);
    }

    /// fsync every file, rename each into place, fsync the directory.
    pub fn commit(mut self) -> Result<()> {
        for (tmp, dest) in &self.files {
            File::open(tmp)
                .and_then(|f| f.sync_all())
                .ctx_code(exit::CANTCREAT, dest.display())?;
        }
        let mut files = std::mem::take(&mut self.files);
        files.sort_by(|a, b| a.1.cmp(&b.1));
        for (i, (tmp, dest)) in files.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, dest) {
                // the ones not yet renamed go; those renamed are whole new files
                for (t, _) in &files[i..] {
                    let _ = std::fs::remove_file(t);
                }
                return Err(Error::from_io_code(exit::CANTCREAT, dest.display(), &e));
            }
        }
        opsbox_common::output::sync_dir(&self.dir);
        Ok(())
    }
}

impl Drop for Set {
    fn drop(&mut self) {
        for (tmp, _) in &self.files {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_or_nothing_in_place() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "old").unwrap();
        {
            let mut s = Set::new(d.path());
            s.add("a", b"new a").unwrap();
            s.add("b", b"new b").unwrap();
            // dropped without commit
        }
        let names = |d: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(d.path()), ["a"]);
        assert_eq!(std::fs::read_to_string(d.path().join("a")).unwrap(), "old");
        let mut s = Set::new(d.path());
        s.add("a", b"new a").unwrap();
        s.add("b", b"new b").unwrap();
        s.commit().unwrap();
        assert_eq!(names(d.path()), ["a", "b"]);
        assert_eq!(
            std::fs::read_to_string(d.path().join("b")).unwrap(),
            "new b"
        );
    }
}
