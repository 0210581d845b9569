//! The bridge's log: `ser2tcp: message` lines on stderr, or timestamped lines appended to
//! `--log FILE` (reopened on SIGHUP, for logrotate).

use opsbox_common::{Error, ResultExt, exit};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct Log {
    quiet: bool,
    path: Option<String>,
    file: Option<File>,
}

impl Log {
    /// Log to `path` (appending) or stderr; `quiet` keeps informational lines back.
    pub fn open(path: Option<&str>, quiet: bool) -> Result<Log, Error> {
        let file = match path {
            Some(p) => Some(append(p).ctx_code(exit::CANTCREAT, p)?),
            None => None,
        };
        Ok(Log {
            quiet,
            path: path.map(str::to_string),
            file,
        })
    }

    /// Reopen the log file (after logrotate moved it); keeps the old one if that fails.
    pub fn reopen(&mut self) {
        if let Some(p) = self.path.clone() {
            match append(&p) {
                Ok(f) => {
                    self.file = Some(f);
                    self.info("log reopened");
                }
                Err(e) => self.warn(format!(
                    "{p}: cannot reopen: {}",
                    opsbox_common::io_reason(&e)
                )),
            }
        }
    }

    /// An event (a client came or went, the device left or came back).
    pub fn info(&mut self, msg: impl std::fmt::Display) {
        if !self.quiet {
            self.line(&msg.to_string());
        }
    }

    /// Something the user should know even with `-q`.
    pub fn warn(&mut self, msg: impl std::fmt::Display) {
        self.line(&format!("warning: {msg}"));
    }

    fn line(&mut self, msg: &str) {
        match &mut self.file {
            Some(f) => {
                let _ = writeln!(
                    f,
                    "{} {}[{}]: {msg}",
                    utc_now(),
                    crate::NAME,
                    std::process::id()
                );
            }
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{}: {msg}", crate::NAME);
            }
        }
    }
}

fn append(p: &str) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc(secs)
}

fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_320_019_199), "2011-10-30T23:59:59Z");
    }
}
