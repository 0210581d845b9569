//! Opening a `$INCLUDE`d file: regular files only. The path is checked before it is
//! opened (no device is opened at all), opened without blocking (a FIFO swapped in
//! meanwhile cannot hang the parse) and checked again on the open descriptor; files of the
//! kernel's pseudo filesystems (`/proc`, `/sys`, ...) are refused too, so their contents
//! (an environment, keys) never reach a message.

use rustix::fs::{FileType, OFlags};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Pseudo filesystems whose "regular" files are not zone files (statfs magic numbers).
const PSEUDO_FS: &[(u64, &str)] = &[
    (0x9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x6265_6570, "configfs"),
    (0xde5e_81e4, "efivarfs"),
    (0xcafe_4a11, "bpf"),
    (0x6165_676c, "pstore"),
];

fn kind(t: std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Open `path` for `$INCLUDE`; the error is the reason, without the path.
pub fn open(path: &Path) -> Result<File, String> {
    let refuse = |what: &str| format!("{what}: $INCLUDE reads regular files only");
    let m = std::fs::metadata(path).map_err(|e| opsbox_common::io_reason(&e))?;
    if let Some(k) = kind(m.file_type()) {
        return Err(refuse(k));
    }
    let f = OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
        .open(path)
        .map_err(|e| opsbox_common::io_reason(&e))?;
    let st = rustix::fs::fstat(&f).map_err(|e| opsbox_common::io_reason(&e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(refuse("not a regular file (it changed while being opened)"));
    }
    if let Ok(fs) = rustix::fs::fstatfs(&f) {
        let t = fs.f_type as u64;
        if let Some((_, name)) = PSEUDO_FS.iter().find(|(m, _)| *m == t) {
            return Err(refuse(&format!("a file of the {name} filesystem")));
        }
    }
    // reads of a regular file never block; the flag is left as it is
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("z");
        std::fs::write(&f, "a A 192.0.2.1\n").unwrap();
        assert!(open(&f).is_ok());
        assert!(open(d.path()).unwrap_err().contains("a directory"));
        assert!(
            open(Path::new("/dev/zero"))
                .unwrap_err()
                .contains("character device")
        );
        let e = open(Path::new("/proc/self/environ")).unwrap_err();
        assert!(e.contains("proc filesystem"), "{e}");
        let fifo = d.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        assert!(open(&fifo).unwrap_err().contains("a FIFO"));
        assert!(
            open(&d.path().join("none"))
                .unwrap_err()
                .contains("No such file")
        );
    }
}
