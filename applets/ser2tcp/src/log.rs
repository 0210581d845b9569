//! The bridge's log: `ser2tcp: message` lines on stderr, or timestamped lines appended to
//! `--log FILE` (reopened on SIGHUP, for logrotate).

use opsbox_common::time::utc_now;
use opsbox_common::{Error, ResultExt, exit};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::time::{Duration, Instant};

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

/// A rate limit for one kind of log line: at most `per_sec` lines in each second, the
/// rest counted and reported in one line once that second is over.
#[derive(Debug)]
pub struct Limit {
    per_sec: u32,
    window: Option<Instant>,
    used: u32,
    held: u64,
}

impl Limit {
    pub fn new(per_sec: u32) -> Limit {
        Limit {
            per_sec,
            window: None,
            used: 0,
            held: 0,
        }
    }

    /// Whether a line may be logged at `now`; if not, it is counted.
    pub fn admit(&mut self, now: Instant) -> bool {
        if self
            .window
            .is_none_or(|w| now >= w + Duration::from_secs(1))
        {
            self.window = Some(now);
            self.used = 0;
        }
        if self.used < self.per_sec {
            self.used += 1;
            true
        } else {
            self.held += 1;
            false
        }
    }

    /// When the count of held-back lines is due (none held: never).
    pub fn deadline(&self) -> Option<Instant> {
        match (self.held, self.window) {
            (0, _) | (_, None) => None,
            (_, Some(w)) => Some(w + Duration::from_secs(1)),
        }
    }

    /// The number of lines held back, once their second is over (then counting restarts).
    pub fn due(&mut self, now: Instant) -> Option<u64> {
        if self.deadline().is_some_and(|d| now >= d) {
            Some(std::mem::take(&mut self.held))
        } else {
            None
        }
    }
}

fn append(p: &str) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

#[cfg(test)]
mod tests {
    use super::Limit;
    use std::time::{Duration, Instant};

    #[test]
    fn limit_counts_what_it_holds_back() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut l = Limit::new(3);
        let admitted = (0..1000).filter(|i| l.admit(ms(i / 10))).count();
        assert_eq!(admitted, 3);
        assert_eq!(l.due(ms(999)), None);
        assert_eq!(l.deadline(), Some(ms(1000)));
        assert_eq!(l.due(ms(1000)), Some(997));
        assert_eq!(l.due(ms(1001)), None);
        // a new second: three more
        assert!((0..3).all(|_| l.admit(ms(1500))));
        assert!(!l.admit(ms(1500)));
        assert_eq!(l.due(ms(2600)), Some(1));
        assert_eq!(l.deadline(), None);
    }
}
