//! `needs-restart`: find processes and services still running deleted or replaced files,
//! group them once per unit (or process tree), and plan the restarts; `needs-restart
//! fleet` folds many hosts' answers into one view.
//!
//! Module map (logic is plain functions over data; I/O at the edges):
//! - `scan`: the only part that reads `/proc` (maps, exe, stat, cgroup), bounded reads;
//! - `maps`: one `/proc/PID/maps` line → an executable file mapping (or none);
//! - `cgroup`: `/proc/PID/cgroup` text → unit, session, user manager or container;
//! - `unitname`: systemd's unit-name grammar (what may go into a command);
//! - `group`: stale processes → one finding per unit or process tree (its master);
//! - `initd`: without systemd, a finding's init script (package lookups at the edge);
//! - `plan`: findings → restart commands, deferred, manual and refused items;
//! - `report`: text, `--units`, `--pids`, `--json`, `-b`;
//! - `nagios`: needrestart's `-p` plugin line;
//! - `reboot`: whether a reboot is needed, and why;
//! - `fleet`: the `fleet` subcommand (many hosts' `--json` in, one view out);
//! - `fuzz`: entry points of the fuzz targets.
//!
//! Every output goes through `opsbox_common::escape` (or JSON's own escaping).

mod cgroup;
mod fleet;
mod group;
mod initd;
mod maps;
mod nagios;
mod plan;
mod reboot;
mod report;
mod scan;
mod unitname;

use argh::FromArgs;
use opsbox_common::{Error, ExitCode, cli, diag::Diag, escape, exit, output};
use std::collections::HashSet;
use std::io::Write;

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "needs-restart";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str = "find processes and services still running deleted or replaced files";

/// The command tree shell completions are made from (`opsbox --completions`).
pub fn info() -> cli::Info {
    cli::info::<Opts>(NAME, ABOUT, vec![])
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Output: text grouped by unit (default), or one of --units, --pids, --json, --batch,
--nagios, --plan. Nothing is ever restarted without --restart.
`needs-restart fleet [FILE...]` reads many hosts' --json outputs (see fleet --help).",
    error_code(0, "nothing runs deleted or replaced files (always, with -b)"),
    error_code(1, "some unit or process needs a restart"),
    error_code(2, "a reboot is needed (with -r; wins over 1)"),
    error_code(
        3,
        "nothing stale found, but processes of other users could not be read (not root)"
    ),
    error_code(64, "usage error; 69: systemctl missing for --restart; 74: I/O error")
)]
/// Find every process and service still running deleted or replaced files (libraries,
/// executables), grouped once per systemd unit or process tree, and plan the restarts.
struct Opts {
    /// only findings mapping a file whose path contains PATTERN (repeatable), e.g. libgnutls
    #[argh(option, short = 'l', arg_name = "PATTERN")]
    lib: Vec<String>,
    /// only these processes (repeatable, or comma-separated)
    #[argh(option, short = 'p', arg_name = "PID")]
    pid: Vec<String>,
    /// only findings of this unit (repeatable; ".service" may be left out)
    #[argh(option, short = 'u', arg_name = "UNIT")]
    unit: Vec<String>,
    /// only processes of this user, by name or uid (repeatable)
    #[argh(option, arg_name = "USER")]
    user: Vec<String>,
    /// never report mapped paths matching REGEX (repeatable)
    #[argh(option, arg_name = "REGEX")]
    ignore: Vec<String>,
    /// also check files on network and FUSE filesystems (NFS, CIFS, sshfs…: may hang)
    #[argh(switch)]
    all_filesystems: bool,
    /// also report files under /tmp, /var/tmp and /run (skipped by default: scratch files,
    /// not packages; a deleted program running from /tmp is worth a look)
    #[argh(switch)]
    include_temp: bool,
    /// group by process tree even when systemd runs (ignore units)
    #[argh(switch)]
    by_process: bool,
    /// also check whether a reboot is needed (newer kernel, modules gone, flag files, stale
    /// message bus), and exit 2 if so
    #[argh(switch, short = 'r')]
    reboot_hint: bool,
    /// print the system units to restart, one a line (for xargs)
    #[argh(switch)]
    units: bool,
    /// print the stale PIDs, one a line
    #[argh(switch)]
    pids: bool,
    /// print JSON lines: one finding object each, then a summary
    #[argh(switch)]
    json: bool,
    /// print needrestart-compatible NEEDRESTART-* lines (exit 0, as needrestart -b)
    #[argh(switch, short = 'b')]
    batch: bool,
    /// print a Nagios/Icinga plugin line with perfdata, as needrestart -p does (here -p
    /// is --pid)
    #[argh(switch)]
    nagios: bool,
    /// never answer 3 for processes that could not be read (they are still counted)
    #[argh(switch)]
    ignore_unreadable: bool,
    /// the host's name in the --json summary (default: the hostname)
    #[argh(option, arg_name = "NAME")]
    host_id: Option<String>,
    /// print the shell commands that restart each unit once
    #[argh(switch)]
    plan: bool,
    /// run the plan (restart the units); without it nothing is ever restarted
    #[argh(switch)]
    restart: bool,
    /// print nothing, only set the exit code
    #[argh(switch, short = 'q')]
    quiet: bool,
}

/// How to print the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    Units,
    Pids,
    Json,
    Batch,
    Nagios,
    Plan,
    Restart,
}

fn mode(o: &Opts) -> Result<Mode, Error> {
    let chosen: Vec<(bool, Mode, &str)> = vec![
        (o.units, Mode::Units, "--units"),
        (o.pids, Mode::Pids, "--pids"),
        (o.json, Mode::Json, "--json"),
        (o.batch, Mode::Batch, "--batch"),
        (o.nagios, Mode::Nagios, "--nagios"),
        (o.plan, Mode::Plan, "--plan"),
        (o.restart, Mode::Restart, "--restart"),
    ];
    let on: Vec<_> = chosen.into_iter().filter(|c| c.0).collect();
    match on.as_slice() {
        [] => Ok(Mode::Text),
        [one] => Ok(one.1),
        [a, b, ..] => Err(Error::usage(format!(
            "{} and {} exclude each other",
            a.2, b.2
        ))),
    }
}

fn parse_pids(args: &[String]) -> Result<Option<HashSet<u32>>, Error> {
    if args.is_empty() {
        return Ok(None);
    }
    let mut set = HashSet::new();
    for a in args {
        for p in a.split(',').filter(|s| !s.is_empty()) {
            match p.trim().parse::<u32>() {
                Ok(n) if n > 0 => {
                    set.insert(n);
                }
                _ => return Err(Error::usage(format!("--pid: '{p}' is not a process id"))),
            }
        }
    }
    Ok(Some(set))
}

fn parse_users(args: &[String], passwd: &str) -> Result<Option<HashSet<u32>>, Error> {
    if args.is_empty() {
        return Ok(None);
    }
    let mut set = HashSet::new();
    for a in args {
        let uid = a
            .parse::<u32>()
            .ok()
            .or_else(|| report::uid_of(passwd, a))
            .ok_or_else(|| Error::usage(format!("--user: no such user '{a}'")))?;
        set.insert(uid);
    }
    Ok(Some(set))
}

/// Whether systemd is the service manager (sd_booted's test).
fn systemd_running() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// The version `systemctl --version` reports (run once, only for --plan/--restart).
fn systemd_version() -> Option<u32> {
    let out = std::process::Command::new("systemctl")
        .arg("--version")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    report::parse_systemd_version(&String::from_utf8_lossy(&out.stdout))
}

/// The answer (exit status) of a scan: 2 reboot, 1 restart, 3 unknown, 0 clean. Processes
/// that could not be read make it unknown only when a run with more privileges could read
/// them: as root nothing more can be seen, so they are reported but do not pin every clean
/// run at 3 (Nagios UNKNOWN) forever; `--ignore-unreadable` never lets them.
fn answer(reboot: bool, stale: bool, unreadable: usize, root: bool, ignore: bool) -> u8 {
    if reboot {
        exit::ANSWER_2
    } else if stale {
        exit::ANSWER_1
    } else if unreadable > 0 && !root && !ignore {
        exit::ANSWER_3
    } else {
        exit::OK
    }
}

/// Longest `--host-id`.
const HOST_ID_MAX: usize = 255;

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    if args.first().is_some_and(|a| a == "fleet") {
        return fleet::run(&args[1..]);
    }
    let o: Opts = cli::parse(&[NAME], &args)?;
    let mode = mode(&o)?;
    if let Some(h) = &o.host_id
        && (h.is_empty() || h.len() > HOST_ID_MAX || h.chars().any(char::is_control))
    {
        return Err(Error::usage(format!(
            "--host-id {}: 1 to {HOST_ID_MAX} bytes, no control characters",
            escape::quote(h)
        )));
    }
    let diag = Diag::new(NAME).quiet(o.quiet);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ignore = o
        .ignore
        .iter()
        .map(|r| {
            regex_lite::Regex::new(r).map_err(|e| {
                Error::usage(format!(
                    "--ignore '{r}': {}",
                    e.to_string().replace('\n', " ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = scan::Config {
        pids: parse_pids(&o.pid)?,
        uids: parse_users(&o.user, &passwd)?,
        ignore,
        all_filesystems: o.all_filesystems,
        include_temp: o.include_temp,
        proc_root: "/proc".into(),
    };
    let result = scan::scan(&cfg).map_err(|e| Error::from_io_code(exit::NOINPUT, "/proc", &e))?;
    let systemd = systemd_running();
    let mut findings = group::group(&result.stale, &result.tree, systemd && !o.by_process);
    findings.retain(|f| keep(f, &o));
    // (an answer-only run needs no init scripts, unless it restarts)
    let answer_only = o.quiet && mode != Mode::Restart;
    if !systemd && !matches!(mode, Mode::Units | Mode::Pids) && !answer_only {
        initd::resolve(&mut findings);
    }
    let root = rustix::process::geteuid().is_root();

    let reboot = o.reboot_hint.then(|| {
        let bus: Vec<(String, Vec<u32>)> = findings
            .iter()
            .filter(|f| {
                f.kind != cgroup::Kind::Container
                    && ["dbus-daemon", "dbus-broker", "dbus-broker-launch"]
                        .contains(&f.exe.rsplit('/').next().unwrap_or(""))
            })
            .map(|f| (f.exe.clone(), f.pids.clone()))
            .collect();
        reboot::reasons(&reboot::facts(bus))
    });

    let code = answer(
        reboot.as_ref().is_some_and(|r| !r.is_empty()),
        !findings.is_empty(),
        result.unreadable.len(),
        root,
        o.ignore_unreadable,
    );
    for pid in &result.missing {
        diag.warn(format!("--pid {pid}: no such process"));
    }
    if !result.unreadable.is_empty() && mode == Mode::Text {
        diag.warn(format!(
            "{} process(es) could not be read (pid {}){}",
            result.unreadable.len(),
            report::pid_list(&result.unreadable, 10),
            if root {
                " even as root: not counted in the exit status"
            } else {
                ": run as root to see them"
            }
        ));
    }
    if o.quiet && mode != Mode::Restart {
        return Err(Error::quiet(code));
    }
    let users = report::Users::new(&passwd);
    let ctx = report::Context {
        findings: &findings,
        scan: &result,
        reboot: reboot.as_deref(),
        users: &users,
        systemd,
        host: o.host_id.clone(),
        code,
    };
    let mut out = output::stdout();
    match mode {
        Mode::Text => out.write_all(report::text(&ctx).as_bytes())?,
        Mode::Units => out.write_all(report::units(&findings).as_bytes())?,
        Mode::Pids => out.write_all(report::pids(&findings).as_bytes())?,
        Mode::Json => out.write_all(report::json(&ctx).as_bytes())?,
        Mode::Batch => {
            out.write_all(report::batch(&ctx, &reboot::facts(Vec::new())).as_bytes())?;
            out.flush()?;
            // needrestart -b answers 0 whatever it found: monitoring reads the lines
            return Ok(ExitCode::from(exit::OK));
        }
        Mode::Nagios => {
            let (text, state) = if root {
                let facts = reboot::facts(Vec::new());
                let kernel = (!facts.in_container).then_some(facts.kernel).flatten();
                nagios::status(&findings, kernel.as_ref(), &users)
            } else {
                (nagios::NOT_ROOT.to_string(), exit::ANSWER_3)
            };
            out.write_all(text.as_bytes())?;
            out.flush()?;
            return Ok(ExitCode::from(state));
        }
        Mode::Plan => {
            let p = plan::plan(&findings, systemd.then(|| systemd_version().unwrap_or(0)));
            out.write_all(p.render().as_bytes())?;
            for reason in reboot.iter().flatten() {
                writeln!(out, "# reboot needed: {reason}")?;
            }
        }
        Mode::Restart => {
            out.flush()?;
            drop(out);
            return restart(&findings, systemd, &diag, code);
        }
    }
    out.flush()?;
    Ok(ExitCode::from(code))
}

fn keep(f: &group::Finding, o: &Opts) -> bool {
    let lib_ok = o.lib.is_empty()
        || f.files
            .iter()
            .any(|(p, _)| o.lib.iter().any(|l| p.contains(l.as_str())));
    let unit_ok = o.unit.is_empty()
        || f.unit.as_deref().is_some_and(|u| {
            o.unit
                .iter()
                .any(|w| u == w || u.strip_suffix(".service") == Some(w.as_str()))
        })
        || f.service
            .as_deref()
            .is_some_and(|s| o.unit.iter().any(|w| w == s));
    lib_ok && unit_ok
}

/// `--restart`: run the plan's commands one after the other; stop at the first failure.
fn restart(
    findings: &[group::Finding],
    systemd: bool,
    diag: &Diag,
    code: u8,
) -> Result<ExitCode, Error> {
    let p = plan::plan(findings, systemd.then(|| systemd_version().unwrap_or(0)));
    for c in &p.commands {
        let shown: Vec<_> = c.iter().map(|w| escape::text(w)).collect();
        diag.note(format!("running: {}", shown.join(" ")));
        let status = std::process::Command::new(&c[0])
            .args(&c[1..])
            .status()
            .map_err(|e| Error::from_io_code(exit::UNAVAILABLE, &c[0], &e))?;
        if !status.success() {
            return Err(Error::io(format!("{}: failed ({status})", c.join(" "))));
        }
    }
    for (kind, list) in [
        ("deferred", &p.deferred),
        ("manual", &p.manual),
        ("refused", &p.refused),
    ] {
        for (what, why) in list {
            diag.note(format!(
                "{kind}: {}: {}",
                escape::text(what),
                escape::text(why)
            ));
        }
    }
    // what still needs a restart by hand keeps the answer at 1 (or 2)
    let left = !p.deferred.is_empty() || !p.manual.is_empty() || !p.refused.is_empty();
    Ok(ExitCode::from(if left || code == exit::ANSWER_2 {
        code
    } else {
        exit::OK
    }))
}

/// Entry points for the fuzz targets (`fuzz/fuzz_targets/needs_restart_*.rs`): each runs
/// a parser on arbitrary bytes and asserts its properties.
#[doc(hidden)]
pub mod fuzz {
    use crate::{cgroup, fleet, maps, unitname};
    use opsbox_common::escape;

    fn one_line(s: &str) -> bool {
        !escape::text(s).chars().any(char::is_control)
    }

    /// `/proc/PID/maps` lines: no panic; a parsed path is absolute, no longer than its
    /// line, escapes to one line, is never a pseudo or (without the opt-in) temporary
    /// path; the marker is reported exactly when the line ends with it; the mapping
    /// written back as the kernel writes it parses to the same device and inode.
    pub fn maps_line(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        for line in text.lines() {
            for temp in [false, true] {
                let Some(m) = maps::parse_line(line, temp) else {
                    continue;
                };
                assert!(m.path.starts_with('/'), "{line:?}");
                assert!(m.path.len() <= line.len(), "{line:?}");
                assert!(one_line(&m.path), "{line:?}");
                assert!(!maps::is_ignored_path(&m.path, true) || m.path.contains('\n'));
                assert_eq!(m.deleted, line.ends_with(" (deleted)"), "{line:?}");
                assert_eq!(m.deleted, m.literal.is_some());
                let again = format!(
                    "0-1 r-xp 00000000 {:x}:{:x} {} {}",
                    m.dev.0,
                    m.dev.1,
                    m.inode,
                    m.path.replace('\n', "\\012")
                );
                if let Some(n) = maps::parse_line(&again, true) {
                    assert_eq!((n.dev, n.inode), (m.dev, m.inode), "{again:?}");
                }
            }
        }
    }

    /// `/proc/PID/cgroup` files: no panic; a unit kind names a valid unit that occurs in
    /// the input; every name escapes to one line and is no longer than the input.
    pub fn cgroup_file(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let a = cgroup::attribute(&text);
        assert!(a.unit.len() <= text.len() + 16);
        assert!(one_line(&a.unit));
        match a.kind {
            cgroup::Kind::Service
            | cgroup::Kind::UserService
            | cgroup::Kind::UserManager
            | cgroup::Kind::Session => {
                assert!(unitname::is_valid(&a.unit), "{text:?} -> {a:?}");
                assert!(text.contains(a.unit.as_str()), "{text:?} -> {a:?}");
            }
            cgroup::Kind::None => assert!(a.unit.is_empty()),
            _ => {}
        }
        if let Some(m) = &a.manager {
            assert!(unitname::is_valid(m), "{text:?} -> {a:?}");
        }
    }

    /// `needs-restart fleet` input: no panic; the text view is lines free of control
    /// characters; the JSON view is JSON lines ending with the totals.
    pub fn fleet_input(data: &[u8]) {
        let mut f = fleet::Fleet::default();
        for (i, line) in data.split(|b| *b == b'\n').enumerate() {
            f.line(line, &format!("-:{}", i + 1));
        }
        f.end("-:end");
        let text = f.text();
        assert!(text.ends_with('\n'));
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        let json = f.json();
        let mut last = None;
        for l in json.lines() {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            last = Some(v);
        }
        assert_eq!(last.expect("totals")["type"], "totals");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn modes_exclude_each_other() {
        let o: Opts = cli::parse(&[NAME], &v(&["--json", "--plan"])).unwrap();
        let e = mode(&o).unwrap_err();
        assert_eq!(e.code(), 64);
        assert_eq!(e.message(), Some("--json and --plan exclude each other"));
        let o: Opts = cli::parse(&[NAME], &v(&["-b"])).unwrap();
        assert_eq!(mode(&o).unwrap(), Mode::Batch);
    }

    #[test]
    fn unit_and_lib_filters() {
        let procs = vec![
            group::tests::proc(
                3,
                1,
                "/usr/sbin/nginx",
                "/system.slice/nginx.service",
                "/usr/lib/libgnutls.so.30",
            ),
            group::tests::proc(
                4,
                1,
                "/usr/sbin/cron",
                "/system.slice/cron.service",
                "/usr/lib/libc.so.6",
            ),
        ];
        let f = group::group(&procs, &Default::default(), true);
        let kept = |args: &[&str]| -> Vec<String> {
            let o: Opts = cli::parse(&[NAME], &v(args)).unwrap();
            f.iter()
                .filter(|x| keep(x, &o))
                .filter_map(|x| x.unit.clone())
                .collect()
        };
        assert_eq!(kept(&[]), vec!["cron.service", "nginx.service"]);
        assert_eq!(kept(&["--unit", "nginx"]), vec!["nginx.service"]);
        assert_eq!(kept(&["-u", "cron.service"]), vec!["cron.service"]);
        assert!(kept(&["--unit", "ngin"]).is_empty());
        assert_eq!(kept(&["--lib", "libgnutls"]), vec!["nginx.service"]);
        assert!(kept(&["--lib", "libgnutls", "--unit", "cron"]).is_empty());
    }

    /// The fuzz properties hold on the seeds (tests/fixtures/needs-restart/fuzz).
    #[test]
    fn fuzz_properties_on_the_seeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/needs-restart/fuzz");
        let mut n = 0;
        for (sub, f) in [
            ("maps", fuzz::maps_line as fn(&[u8])),
            ("cgroup", fuzz::cgroup_file),
            ("fleet", fuzz::fleet_input),
        ] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap() {
                f(&std::fs::read(e.unwrap().path()).unwrap());
                n += 1;
            }
        }
        assert!(n >= 10, "{n} seeds");
        fuzz::maps_line(b"0-1 r-xp 0 0:0 1 /a\\012b (deleted)\n\xff\x00 r-xp");
        fuzz::cgroup_file(
            b"0::/system.slice/\x1b.service\n1:name=systemd:/user.slice/user@1.service/a.service",
        );
    }

    #[test]
    fn answers() {
        // (reboot, stale, unreadable, root, --ignore-unreadable)
        assert_eq!(answer(true, true, 3, false, false), 2);
        assert_eq!(answer(false, true, 3, false, false), 1);
        assert_eq!(answer(false, false, 3, false, false), 3);
        assert_eq!(answer(false, false, 3, false, true), 0);
        // as root, what root cannot read does not pin a clean host at UNKNOWN
        assert_eq!(answer(false, false, 1, true, false), 0);
        assert_eq!(answer(false, false, 0, false, false), 0);
    }

    #[test]
    fn pid_and_user_lists() {
        let s = parse_pids(&v(&["12,13", "14"])).unwrap().unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(parse_pids(&v(&["x"])).unwrap_err().code(), 64);
        assert_eq!(parse_pids(&v(&["0"])).unwrap_err().code(), 64);
        let pw = "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n";
        let s = parse_users(&v(&["www-data", "1000"]), pw).unwrap().unwrap();
        assert!(s.contains(&33) && s.contains(&1000));
        assert_eq!(
            parse_users(&v(&["nobody-here"]), pw).unwrap_err().code(),
            64
        );
    }
}
