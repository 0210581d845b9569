//! `needs-restart fleet`: many hosts' `--json` outputs in (concatenated, in files or on
//! standard input), one fleet view out: per stale file and per unit, how many hosts and
//! which; totals; the hosts whose output was unreadable, truncated, UNKNOWN or missing.
//!
//! Streamed: a host's findings are held until its summary line names the host, then
//! folded into per-key tallies (host numbers, not names), so memory follows the number of
//! distinct files, units and hosts, not the input's size. [`Fleet`] is the fold, plain
//! data in and out; [`run`] reads and prints.

use argh::FromArgs;
use opsbox_common::{Error, ExitCode, cli, escape, exit, input, output};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write};

/// Longest input line (a host's finding or summary).
pub(crate) const LINE_MAX: usize = 1 << 20;
/// Most findings held for one host before its summary.
pub(crate) const HOST_FINDINGS_MAX: usize = 100_000;
/// Most hosts.
pub(crate) const HOSTS_MAX: usize = 1_000_000;

#[derive(FromArgs, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Input: `needs-restart --json` outputs of many hosts, concatenated (FILE or -, default
standard input); each host's summary line names it (`--host-id` sets the name).",
    error_code(0, "no host needs a restart, every output was whole"),
    error_code(1, "some host needs a restart (2: some host needs a reboot)"),
    error_code(
        3,
        "no restart needed, but some output was unreadable, truncated or UNKNOWN"
    ),
    error_code(64, "usage error; 66: an input cannot be opened; 74: I/O error")
)]
/// Read many hosts' `needs-restart --json` outputs and print the fleet view: per stale
/// file and per unit, how many hosts and which; totals; hosts with unreadable, truncated
/// or UNKNOWN output.
struct Opts {
    /// print JSON lines instead of text
    #[argh(switch)]
    json: bool,
    /// the hosts expected to answer, one a line: those without an output are listed
    #[argh(option, arg_name = "FILE")]
    hosts: Option<String>,
    /// the outputs (- for standard input; default standard input)
    #[argh(positional, from_str_fn(cli::path), arg_name = "FILE")]
    files: Vec<String>,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    // finding
    #[serde(borrow, default)]
    unit: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    service: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    exe: Option<Cow<'a, str>>,
    #[serde(default)]
    pids: Vec<IgnoredAny>,
    #[serde(borrow, default)]
    files: Vec<FileRef<'a>>,
    // summary
    #[serde(borrow, default)]
    host: Option<Cow<'a, str>>,
    #[serde(default)]
    exit: Option<u8>,
    #[serde(default)]
    unreadable: Option<u64>,
    #[serde(default)]
    reboot_needed: Option<bool>,
}

#[derive(Deserialize)]
struct FileRef<'a> {
    #[serde(borrow)]
    path: Cow<'a, str>,
}

/// One finding of a host, held until its summary.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    unit: String,
    processes: u64,
    files: Vec<String>,
}

/// Hosts (by number) and processes under one key.
#[derive(Debug, Default, Clone)]
struct Tally {
    hosts: Vec<u32>,
    processes: u64,
}

impl Tally {
    fn add(&mut self, host: u32, processes: u64) {
        if self.hosts.last() != Some(&host) {
            self.hosts.push(host);
        }
        self.processes += processes;
    }
}

/// The fleet so far.
#[derive(Debug, Default)]
pub(crate) struct Fleet {
    names: Vec<String>,
    ids: HashMap<String, u32>,
    files: HashMap<String, Tally>,
    units: HashMap<String, Tally>,
    /// (host or input position, what is wrong)
    problems: Vec<(String, String)>,
    /// hosts that answered with a whole output
    answered: u64,
    stale_hosts: u64,
    reboot_hosts: u64,
    findings: u64,
    processes: u64,
    // the block being read
    held: Vec<Held>,
    bad: Option<String>,
    block_start: Option<String>,
}

/// The key a finding is counted under in the per-unit view.
fn unit_key(l: &Line) -> String {
    match (&l.unit, &l.service, &l.exe) {
        (Some(u), _, _) => format!("{} {u}", l.kind.as_deref().unwrap_or("unit")),
        (None, Some(s), _) => format!("init-script {s}"),
        (None, None, Some(e)) => format!("process {e}"),
        (None, None, None) => "process ?".into(),
    }
}

impl Fleet {
    /// Take one input line; `at` names its place (`FILE:LINE`) for messages.
    pub(crate) fn line(&mut self, text: &[u8], at: &str) {
        if text.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if self.block_start.is_none() {
            self.block_start = Some(at.to_string());
        }
        let l: Line = match serde_json::from_slice(text) {
            Ok(l) => l,
            Err(e) => {
                self.bad
                    .get_or_insert_with(|| format!("{at}: not a needs-restart JSON line: {e}"));
                return;
            }
        };
        match l.ty.as_ref() {
            "finding" => {
                if self.held.len() >= HOST_FINDINGS_MAX {
                    self.bad.get_or_insert_with(|| {
                        format!("{at}: more than {HOST_FINDINGS_MAX} findings for one host")
                    });
                    return;
                }
                self.held.push(Held {
                    unit: unit_key(&l),
                    processes: l.pids.len() as u64,
                    files: l.files.iter().map(|f| f.path.to_string()).collect(),
                });
            }
            "summary" => self.summary(&l, at),
            other => {
                self.bad.get_or_insert_with(|| {
                    format!("{at}: unknown line type {}", escape::quote(other))
                });
            }
        }
    }

    fn host_id(&mut self, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(name) {
            return Some(*id);
        }
        if self.names.len() >= HOSTS_MAX {
            return None;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        Some(id)
    }

    fn summary(&mut self, l: &Line, at: &str) {
        let held = std::mem::take(&mut self.held);
        let bad = self.bad.take();
        self.block_start = None;
        let Some(host) = l.host.as_deref().filter(|h| !h.is_empty()) else {
            self.problems
                .push((at.to_string(), "a summary without a host".into()));
            return;
        };
        let known = self.ids.contains_key(host);
        let Some(id) = self.host_id(host) else {
            self.problems
                .push((host.to_string(), format!("more than {HOSTS_MAX} hosts")));
            return;
        };
        if known {
            self.problems
                .push((host.to_string(), format!("{at}: a second output (ignored)")));
            return;
        }
        if let Some(why) = bad {
            self.problems.push((host.to_string(), why));
            return;
        }
        self.answered += 1;
        if !held.is_empty() {
            self.stale_hosts += 1;
        }
        if l.reboot_needed == Some(true) || l.exit == Some(2) {
            self.reboot_hosts += 1;
        }
        match (l.exit, l.unreadable) {
            (Some(3), n) => self.problems.push((
                host.to_string(),
                format!("UNKNOWN (exit 3, {} unreadable processes)", n.unwrap_or(0)),
            )),
            (_, Some(n)) if n > 0 => self
                .problems
                .push((host.to_string(), format!("{n} unreadable processes"))),
            _ => {}
        }
        for h in held {
            self.findings += 1;
            self.processes += h.processes;
            self.units.entry(h.unit).or_default().add(id, h.processes);
            for f in h.files {
                self.files.entry(f).or_default().add(id, h.processes);
            }
        }
    }

    /// The end of one input: a block without its summary is a truncated output.
    pub(crate) fn end(&mut self, at: &str) {
        if let Some(start) = self.block_start.take() {
            let n = self.held.len();
            self.held.clear();
            let why = self.bad.take().map_or(String::new(), |b| format!("; {b}"));
            self.problems.push((
                start,
                format!("output ends at {at} without a summary ({n} findings dropped){why}"),
            ));
        }
    }

    /// Expected hosts that gave no output.
    pub(crate) fn missing(&mut self, expected: &[String]) {
        for h in expected {
            if !self.ids.contains_key(h.as_str()) {
                self.problems.push((h.clone(), "no output".into()));
            }
        }
    }

    fn sorted<'a>(&self, m: &'a HashMap<String, Tally>) -> Vec<(&'a String, &'a Tally)> {
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| b.1.hosts.len().cmp(&a.1.hosts.len()).then(a.0.cmp(b.0)));
        v
    }

    fn host_names(&self, t: &Tally) -> Vec<&str> {
        let mut v: Vec<&str> = t
            .hosts
            .iter()
            .map(|h| self.names[*h as usize].as_str())
            .collect();
        v.sort_unstable();
        v
    }

    /// The exit status: 2 a host needs a reboot, 1 a restart, 3 problems only, else 0.
    pub(crate) fn code(&self) -> u8 {
        if self.reboot_hosts > 0 {
            exit::ANSWER_2
        } else if self.stale_hosts > 0 {
            exit::ANSWER_1
        } else if !self.problems.is_empty() {
            exit::ANSWER_3
        } else {
            exit::OK
        }
    }

    /// The text view: one line per file, per unit, per problem, then the totals.
    pub(crate) fn text(&self) -> String {
        let mut s = String::new();
        for (what, m) in [("file", &self.files), ("unit", &self.units)] {
            for (k, t) in self.sorted(m) {
                let names: Vec<Cow<str>> =
                    self.host_names(t).into_iter().map(escape::text).collect();
                let _ = writeln!(
                    s,
                    "{what} {}: {} hosts, {} processes: {}",
                    escape::text(k),
                    t.hosts.len(),
                    t.processes,
                    names.join(" ")
                );
            }
        }
        for (h, why) in &self.problems {
            let _ = writeln!(s, "host {}: {}", escape::text(h), escape::text(why));
        }
        let _ = writeln!(
            s,
            "fleet: {} hosts answered, {} need a restart ({} a reboot): {} findings, {} processes; {} hosts with problems",
            self.answered,
            self.stale_hosts,
            self.reboot_hosts,
            self.findings,
            self.processes,
            self.problems.len()
        );
        s
    }

    /// The JSON view: `file`, `unit`, `problem` lines, then `totals`.
    pub(crate) fn json(&self) -> String {
        let mut s = String::new();
        for (what, m) in [("file", &self.files), ("unit", &self.units)] {
            for (k, t) in self.sorted(m) {
                let mut v = json!({"type": what, "hosts": t.hosts.len(), "processes": t.processes, "host_names": self.host_names(t)});
                if what == "file" {
                    v["path"] = json!(k);
                } else {
                    // "KIND NAME": kinds have no spaces
                    let (kind, name) = k.split_once(' ').unwrap_or(("unit", k));
                    v["kind"] = json!(kind);
                    v["unit"] = json!(name);
                }
                let _ = writeln!(s, "{v}");
            }
        }
        for (h, why) in &self.problems {
            let _ = writeln!(
                s,
                "{}",
                json!({"type": "problem", "host": h, "problem": why})
            );
        }
        let _ = writeln!(
            s,
            "{}",
            json!({"type": "totals", "answered": self.answered, "need_restart": self.stale_hosts,
                   "need_reboot": self.reboot_hosts, "findings": self.findings,
                   "processes": self.processes, "problems": self.problems.len(), "exit": self.code()})
        );
        s
    }
}

/// Read one line of at most [`LINE_MAX`] bytes into `buf` (without the newline). `Ok(None)`
/// at the end; `Ok(Some(false))` for a longer line, skipped to its end.
fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut any = false;
    let mut fits = true;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then_some(fits));
        }
        any = true;
        let (part, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if fits && buf.len() + part.len() <= LINE_MAX {
            buf.extend_from_slice(part);
        } else {
            fits = false;
            buf.clear();
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(fits));
        }
    }
}

/// `needs-restart fleet ARGS`.
pub(crate) fn run(args: &[String]) -> Result<ExitCode, Error> {
    let o: Opts = cli::parse(&[crate::NAME, "fleet"], args)?;
    let files = if o.files.is_empty() {
        vec!["-".to_string()]
    } else {
        o.files.clone()
    };
    let mut fleet = Fleet::default();
    let mut buf = Vec::with_capacity(1 << 16);
    for f in &files {
        let name = input::display_name(f);
        let mut r = input::open(f)?;
        let mut n = 0u64;
        loop {
            let got = read_line(&mut *r, &mut buf)
                .map_err(|e| Error::from_io_code(exit::IOERR, name, &e))?;
            let Some(fits) = got else { break };
            n += 1;
            let at = format!("{name}:{n}");
            if fits {
                fleet.line(&buf, &at);
            } else {
                fleet.line(b"\"too long\"", &at);
                if let Some(b) = &mut fleet.bad {
                    *b = format!("{at}: a line longer than {LINE_MAX} bytes");
                }
            }
        }
        fleet.end(&format!("{name}:{n}"));
    }
    if let Some(h) = &o.hosts {
        let text = String::from_utf8_lossy(&input::read_all(h)?).into_owned();
        let expected: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        fleet.missing(&expected);
    }
    let mut out = output::stdout();
    let text = if o.json { fleet.json() } else { fleet.text() };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::from(fleet.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(f: &mut Fleet, text: &str, name: &str) {
        for (i, l) in text.lines().enumerate() {
            f.line(l.as_bytes(), &format!("{name}:{}", i + 1));
        }
        f.end(&format!("{name}:{}", text.lines().count()));
    }

    fn finding(unit: &str, pids: usize, files: &[&str]) -> String {
        json!({"type": "finding", "unit": unit, "kind": "service", "pids": vec![1; pids],
               "files": files.iter().map(|p| json!({"path": p, "reason": "deleted"})).collect::<Vec<_>>()})
        .to_string()
    }

    fn summary(host: &str, exit: u8, unreadable: u64) -> String {
        json!({"type": "summary", "host": host, "exit": exit, "unreadable": unreadable}).to_string()
    }

    #[test]
    fn fleet_view() {
        let mut f = Fleet::default();
        let gnutls = "/usr/lib/libgnutls.so.30";
        let a = [
            finding("nginx.service", 3, &[gnutls]),
            finding("exim4.service", 1, &[gnutls, "/usr/lib/libssl.so.3"]),
            summary("web1", 1, 0),
            finding("nginx.service", 2, &[gnutls]),
            summary("web2", 1, 0),
            summary("db1", 0, 0),
            summary("db2", 3, 1),
            // a block with a broken line: the host is named, its findings not counted
            finding("nginx.service", 2, &[gnutls]),
            "{\"type\": \"finding\", \"unit\": ".into(),
            summary("web3", 1, 0),
            // truncated: no summary
            finding("nginx.service", 9, &[gnutls]),
        ]
        .join("\n");
        feed(&mut f, &a, "all.jsonl");
        f.missing(&["web1".into(), "web4".into()]);
        let t = f.text();
        assert_eq!(
            t,
            "file /usr/lib/libgnutls.so.30: 2 hosts, 6 processes: web1 web2\n\
             file /usr/lib/libssl.so.3: 1 hosts, 1 processes: web1\n\
             unit service nginx.service: 2 hosts, 5 processes: web1 web2\n\
             unit service exim4.service: 1 hosts, 1 processes: web1\n\
             host db2: UNKNOWN (exit 3, 1 unreadable processes)\n\
             host web3: all.jsonl:9: not a needs-restart JSON line: EOF while parsing a value at line 1 column 28\n\
             host all.jsonl:11: output ends at all.jsonl:11 without a summary (1 findings dropped)\n\
             host web4: no output\n\
             fleet: 4 hosts answered, 2 need a restart (0 a reboot): 3 findings, 6 processes; 4 hosts with problems\n"
        );
        assert_eq!(f.code(), 1);
        let j: Vec<serde_json::Value> = f
            .json()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(j[0]["path"], gnutls);
        assert_eq!(j[0]["host_names"], json!(["web1", "web2"]));
        assert_eq!(
            (&j[2]["kind"], &j[2]["unit"]),
            (&json!("service"), &json!("nginx.service"))
        );
        assert_eq!(j.last().unwrap()["type"], "totals");
        assert_eq!(j.last().unwrap()["answered"], 4);
    }

    #[test]
    fn hostile_names_and_answers() {
        let mut f = Fleet::default();
        let text = [
            finding("x\u{1b}[2J\nfleet: 0 hosts.service", 1, &["/l/a\nb.so"]),
            summary("evil\nhost", 1, 0),
            summary("evil\nhost", 0, 0),
            json!({"type": "summary"}).to_string(),
        ]
        .join("\n");
        feed(&mut f, &text, "-");
        let t = f.text();
        assert!(!t.contains('\u{1b}'), "{t}");
        assert_eq!(t.lines().count(), 5, "{t}");
        assert!(
            t.contains("host evil\\nhost: -:3: a second output (ignored)\n"),
            "{t}"
        );
        assert!(t.contains("host -:4: a summary without a host\n"), "{t}");
        assert_eq!(f.code(), 1);
        // nothing stale, problems only: 3; all clean: 0
        let mut f = Fleet::default();
        feed(&mut f, &summary("a", 3, 2), "-");
        assert_eq!(f.code(), 3);
        let mut f = Fleet::default();
        feed(&mut f, &summary("a", 0, 0), "-");
        assert_eq!(f.code(), 0);
    }

    #[test]
    fn bounded_lines() {
        let long = format!("{}\nshort\n", "x".repeat(LINE_MAX + 10));
        let mut r = std::io::BufReader::with_capacity(1000, long.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).unwrap(), Some(false));
        assert!(buf.is_empty());
        assert_eq!(read_line(&mut r, &mut buf).unwrap(), Some(true));
        assert_eq!(buf, b"short");
        assert_eq!(read_line(&mut r, &mut buf).unwrap(), None);
        let exact = "y".repeat(LINE_MAX);
        let mut r = std::io::BufReader::new(exact.as_bytes());
        assert_eq!(read_line(&mut r, &mut buf).unwrap(), Some(true));
        assert_eq!(buf.len(), LINE_MAX);
    }
}
