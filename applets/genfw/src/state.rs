//! The state directory (default /var/lib/genfw): what the last apply loaded and how
//! (`state.json`: backend, host, inventory and its hash, time), the snapshot it replaced,
//! the pending guard (`pending`: its token and deadline) and `guard.log`, one timestamped
//! line per apply, confirm and rollback.

use crate::ops::Backend;
use opsbox_common::{Error, escape, output};
use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) const DEFAULT_DIR: &str = "/var/lib/genfw";
/// guard.log is moved to guard.log.old when it passes this size.
pub(crate) const LOG_MAX: u64 = 1 << 20;

pub(crate) struct State {
    pub dir: PathBuf,
}

/// What `state.json` records of the last apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Record {
    pub backend: Option<Backend>,
    pub host: String,
    pub inventory: String,
    pub sha256: String,
    pub applied_at: u64,
}

/// A pending guard: the token it checks and when it fires (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub token: String,
    pub deadline: u64,
}

pub(crate) use opsbox_common::time::{now, utc};

pub(crate) fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Nft => "nft",
        Backend::Ipt => "iptables",
    }
}

impl State {
    pub fn new(dir: Option<&str>) -> State {
        State {
            dir: PathBuf::from(dir.unwrap_or(DEFAULT_DIR)),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The last apply's record, if any (an unreadable one counts as none).
    pub fn record(&self) -> Option<Record> {
        let t = std::fs::read_to_string(self.path("state.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&t).ok()?;
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        Some(Record {
            backend: match v["backend"].as_str() {
                Some("nft") => Some(Backend::Nft),
                Some("iptables") => Some(Backend::Ipt),
                _ => None,
            },
            host: s("host"),
            inventory: s("inventory"),
            sha256: s("sha256"),
            applied_at: v["applied_at"].as_u64().unwrap_or(0),
        })
    }

    pub fn save_record(&self, r: &Record) -> Result<(), Error> {
        let v = serde_json::json!({
            "backend": r.backend.map(backend_name),
            "host": r.host,
            "inventory": r.inventory,
            "sha256": r.sha256,
            "applied_at": r.applied_at,
            "applied_utc": utc(r.applied_at),
        });
        output::write_atomic(self.path("state.json"), format!("{v:#}\n").as_bytes())
    }

    /// The backend to compare with or persist: the one asked for, else the last apply's,
    /// else nft.
    pub fn backend(&self, asked: Option<Backend>) -> Backend {
        asked
            .or_else(|| self.record().and_then(|r| r.backend))
            .unwrap_or(Backend::Nft)
    }

    pub fn pending(&self) -> Option<Pending> {
        parse_pending(&std::fs::read_to_string(self.path("pending")).ok()?)
    }

    pub fn set_pending(&self, p: &Pending) -> Result<(), Error> {
        output::write_atomic(
            self.path("pending"),
            format!("{}\n{}\n", p.token, p.deadline).as_bytes(),
        )
    }

    /// One line in guard.log: time, what, outcome (escaped to one line). Errors writing
    /// the log are not the command's failure.
    pub fn log(&self, line: &str) {
        let p = self.path("guard.log");
        if std::fs::metadata(&p).is_ok_and(|m| m.len() > LOG_MAX) {
            let _ = std::fs::rename(&p, self.path("guard.log.old"));
        }
        let _ = std::fs::create_dir_all(&self.dir);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
        {
            let _ = writeln!(f, "{} {}", utc(now()), escape::text(line));
        }
    }
}

pub(crate) fn parse_pending(t: &str) -> Option<Pending> {
    let mut l = t.lines();
    let token = l.next()?.trim().to_string();
    let deadline = l.next().and_then(|d| d.trim().parse().ok()).unwrap_or(0);
    (!token.is_empty()).then_some(Pending { token, deadline })
}

pub(crate) fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending() {
        assert_eq!(
            parse_pending("12.34\n1700000000\n"),
            Some(Pending {
                token: "12.34".into(),
                deadline: 1_700_000_000
            })
        );
        assert_eq!(parse_pending(""), None);
    }

    #[test]
    fn record_round_trip_and_backend() {
        let t = tempfile::tempdir().unwrap();
        let s = State::new(t.path().to_str());
        assert_eq!(s.backend(None), Backend::Nft);
        let r = Record {
            backend: Some(Backend::Ipt),
            host: "web1".into(),
            inventory: "/etc/genfw/inv.yml".into(),
            sha256: "ab".into(),
            applied_at: 5,
        };
        s.save_record(&r).unwrap();
        assert_eq!(s.record(), Some(r));
        assert_eq!(s.backend(None), Backend::Ipt);
        assert_eq!(s.backend(Some(Backend::Nft)), Backend::Nft);
        s.log("apply web1: applied\nforged line");
        let log = std::fs::read_to_string(s.path("guard.log")).unwrap();
        assert_eq!(log.lines().count(), 1);
        assert!(
            log.ends_with(" apply web1: applied\\nforged line\n"),
            "{log}"
        );
    }
}
