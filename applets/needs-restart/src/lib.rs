//! `needs-restart`: find processes and services still running deleted or replaced files,
//! group them once per unit (or process tree), and plan the restarts.
//!
//! Logic is plain functions over data ([`maps`], [`cgroup`], [`group`], [`plan`],
//! [`reboot`], [`report`]); [`scan`] is the only part that reads `/proc`.

pub mod cgroup;
pub mod group;
pub mod maps;
pub mod plan;
pub mod reboot;
pub mod report;
pub mod scan;

use argh::FromArgs;
use opsbox_common::{Error, ExitCode, cli, diag::Diag, exit, output};
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
    note = "Output: text grouped by unit (default), or one of --units, --pids, --json, --batch, --plan.
Nothing is ever restarted without --restart.",
    error_code(0, "nothing runs deleted or replaced files"),
    error_code(1, "some unit or process needs a restart"),
    error_code(2, "a reboot is needed (with -r; wins over 1)"),
    error_code(3, "nothing stale found, but some processes could not be read"),
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
    /// print needrestart-compatible NEEDRESTART-* lines
    #[argh(switch, short = 'b')]
    batch: bool,
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
    Plan,
    Restart,
}

fn mode(o: &Opts) -> Result<Mode, Error> {
    let chosen: Vec<(bool, Mode, &str)> = vec![
        (o.units, Mode::Units, "--units"),
        (o.pids, Mode::Pids, "--pids"),
        (o.json, Mode::Json, "--json"),
        (o.batch, Mode::Batch, "--batch"),
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

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    let o: Opts = cli::parse(&[NAME], &args)?;
    let mode = mode(&o)?;
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
        proc_root: "/proc".into(),
    };
    let result = scan::scan(&cfg).map_err(|e| Error::from_io_code(exit::NOINPUT, "/proc", &e))?;
    let systemd = systemd_running();
    let mut findings = group::group(&result.stale, &result.tree, systemd && !o.by_process);
    findings.retain(|f| keep(f, &o));

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

    let code = if reboot.as_ref().is_some_and(|r| !r.is_empty()) {
        exit::ANSWER_2
    } else if !findings.is_empty() {
        exit::ANSWER_1
    } else if !result.unreadable.is_empty() {
        exit::ANSWER_3
    } else {
        exit::OK
    };
    for pid in &result.missing {
        diag.warn(format!("--pid {pid}: no such process"));
    }
    if !result.unreadable.is_empty() && mode == Mode::Text {
        diag.warn(format!(
            "{} process(es) could not be read (pid {}){}",
            result.unreadable.len(),
            report::pid_list(&result.unreadable, 10),
            if rustix::process::geteuid().is_root() {
                ""
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
    };
    let mut out = output::stdout();
    match mode {
        Mode::Text => out.write_all(report::text(&ctx).as_bytes())?,
        Mode::Units => out.write_all(report::units(&findings).as_bytes())?,
        Mode::Pids => out.write_all(report::pids(&findings).as_bytes())?,
        Mode::Json => out.write_all(report::json(&ctx).as_bytes())?,
        Mode::Batch => out.write_all(report::batch(&ctx, &reboot::facts(Vec::new())).as_bytes())?,
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
        });
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
    if !p.commands.is_empty() && !systemd {
        return Err(Error::unavailable(
            "systemd is not running: nothing can be restarted",
        ));
    }
    for c in &p.commands {
        diag.note(format!("running: {}", c.join(" ")));
        let status = std::process::Command::new(&c[0])
            .args(&c[1..])
            .status()
            .map_err(|e| Error::from_io_code(exit::UNAVAILABLE, &c[0], &e))?;
        if !status.success() {
            return Err(Error::io(format!("{}: failed ({status})", c.join(" "))));
        }
    }
    for (unit, why) in &p.deferred {
        diag.note(format!("deferred: {unit}: {why}"));
    }
    for (what, how) in &p.manual {
        diag.note(format!("manual: {what}: {how}"));
    }
    // what still needs a restart by hand keeps the answer at 1 (or 2)
    let left = !p.deferred.is_empty() || !p.manual.is_empty();
    Ok(ExitCode::from(if left || code == exit::ANSWER_2 {
        code
    } else {
        exit::OK
    }))
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
