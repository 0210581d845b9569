//! Inputs: a path, or `-` for standard input.

use crate::{Error, Result, exit};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

/// How a path is named in messages: `<stdin>` for `-`.
pub fn display_name(path: &str) -> &str {
    if path == "-" { "<stdin>" } else { path }
}

/// Open an input for buffered reading. A missing or unreadable file is exit 66.
pub fn open(path: &str) -> Result<Box<dyn BufRead>> {
    if path == "-" {
        return Ok(Box::new(BufReader::with_capacity(1 << 16, io::stdin())));
    }
    let f = open_file(path)?;
    Ok(Box::new(BufReader::with_capacity(1 << 16, f)))
}

/// Open a regular file for reading (directories are refused up front), exit 66 on failure.
pub fn open_file(path: &str) -> Result<File> {
    let f = File::open(path).ctx_noinput(path)?;
    match f.metadata() {
        Ok(m) if m.is_dir() => Err(Error::noinput(format!("{path}: is a directory"))),
        _ => Ok(f),
    }
}

/// Read a whole input into memory (`-` = stdin).
pub fn read_all(path: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == "-" {
        io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .map_err(|e| Error::from_io_code(exit::NOINPUT, "<stdin>", &e))?;
    } else {
        open_file(path)?
            .read_to_end(&mut buf)
            .map_err(|e| Error::from_io_code(exit::NOINPUT, path, &e))?;
    }
    Ok(buf)
}

trait NoInput<T> {
    fn ctx_noinput(self, path: &str) -> Result<T>;
}
impl<T> NoInput<T> for io::Result<T> {
    fn ctx_noinput(self, path: &str) -> Result<T> {
        self.map_err(|e| Error::from_io_code(exit::NOINPUT, path, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_directory_are_noinput() {
        let e = open("/nonexistent/zone").err().unwrap();
        assert_eq!(e.code(), 66);
        assert_eq!(
            e.message(),
            Some("/nonexistent/zone: No such file or directory")
        );
        let e = open("/").err().unwrap();
        assert_eq!((e.code(), e.message()), (66, Some("/: is a directory")));
    }
}
