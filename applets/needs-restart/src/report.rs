//! Output formats: text, `--units`, `--pids`, `--json`, `--batch` — plain functions from
//! findings to text.

use crate::cgroup::Kind;
use crate::group::Finding;
use crate::reboot;
use crate::scan::Scan;
use crate::unitname;
use opsbox_common::escape;
use serde_json::json;
use std::collections::HashMap;
use std::fmt::Write;

/// uid ↔ name from /etc/passwd text.
pub(crate) struct Users {
    names: HashMap<u32, String>,
}

impl Users {
    pub(crate) fn new(passwd: &str) -> Self {
        let names = passwd
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let uid = f.nth(1)?.parse().ok()?;
                Some((uid, name.to_string()))
            })
            .collect();
        Users { names }
    }
    pub(crate) fn name(&self, uid: u32) -> String {
        self.names
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }
}

/// The uid of a user name in /etc/passwd text.
pub(crate) fn uid_of(passwd: &str, name: &str) -> Option<u32> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// `systemd 252 (252.38-1~deb12u1)` → 252.
pub(crate) fn parse_systemd_version(text: &str) -> Option<u32> {
    text.lines()
        .next()?
        .strip_prefix("systemd ")?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// At most `max` PIDs, comma-separated, then `…` if there were more.
pub(crate) fn pid_list(pids: &[u32], max: usize) -> String {
    let mut s = crate::plan::pids(&pids[..pids.len().min(max)]);
    if pids.len() > max {
        s.push_str(",…");
    }
    s
}

/// Everything an output format may show.
pub(crate) struct Context<'a> {
    pub(crate) findings: &'a [Finding],
    pub(crate) scan: &'a Scan,
    /// Reboot reasons when `-r` asked for them.
    pub(crate) reboot: Option<&'a [String]>,
    pub(crate) users: &'a Users,
    pub(crate) systemd: bool,
    /// `--host-id`, else the hostname.
    pub(crate) host: Option<String>,
    /// The exit status the run gives.
    pub(crate) code: u8,
}

/// A unit (or container) name for a line: as is when it is a valid unit name (nothing
/// to escape but `\`, which unit names use for their own escapes), else escaped.
pub(crate) fn unit_shown(u: &str) -> std::borrow::Cow<'_, str> {
    if unitname::is_valid(u) {
        u.into()
    } else {
        escape::text(u)
    }
}

fn label(f: &Finding) -> String {
    match (&f.unit, &f.service) {
        (Some(u), _) => format!("{} {}", f.kind.as_str(), unit_shown(u)),
        (None, Some(s)) => format!("process {} (init script {})", f.head, escape::text(s)),
        (None, None) => format!("process {}", f.head),
    }
}

/// Human text: one block per finding (units, then loose processes, sessions, containers),
/// the reboot hint, and a summary line.
pub(crate) fn text(c: &Context) -> String {
    let mut s = String::new();
    for f in c.findings {
        let _ = writeln!(
            s,
            "{}: pid {} ({}, user {}){}",
            label(f),
            crate::plan::pids(&f.pids),
            if f.exe.is_empty() {
                "?".into()
            } else {
                escape::text(&f.exe)
            },
            escape::text(&c.users.name(f.uid)),
            if f.foreign_root {
                " [own root: checked there]"
            } else {
                ""
            }
        );
        for (path, why) in &f.files {
            let _ = writeln!(s, "  {:<8} {}", why.as_str(), escape::text(path));
        }
    }
    if let Some(r) = c.reboot {
        if r.is_empty() {
            s.push_str("reboot: not needed\n");
        }
        for reason in r {
            let _ = writeln!(s, "reboot needed: {}", escape::text(reason));
        }
    }
    if c.findings.iter().any(|f| f.kind == Kind::Init) && c.systemd {
        s.push_str("PID 1 runs stale code: systemctl daemon-reexec (no reboot needed)\n");
    }
    let procs: usize = c.findings.iter().map(|f| f.pids.len()).sum();
    let _ = writeln!(
        s,
        "{} to restart ({procs} processes); {} processes scanned, {} unreadable",
        c.findings.len(),
        c.scan.scanned,
        c.scan.unreadable.len()
    );
    s
}

/// `--units`: the system services safe to restart, one a line (those the plan defers, such
/// as dbus, are left out: `--units | xargs systemctl restart` must not cut the bus).
pub(crate) fn units(findings: &[Finding]) -> String {
    let mut v: Vec<&str> = findings
        .iter()
        .filter(|f| f.kind == Kind::Service)
        .filter_map(|f| f.unit.as_deref())
        .filter(|u| unitname::is_valid(u) && crate::plan::defer_reason(u).is_none())
        .collect();
    v.sort();
    v.dedup();
    v.iter().map(|u| format!("{u}\n")).collect()
}

/// `--pids`: every stale PID, one a line, ascending.
pub(crate) fn pids(findings: &[Finding]) -> String {
    let mut v: Vec<u32> = findings
        .iter()
        .flat_map(|f| f.pids.iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v.iter().map(|p| format!("{p}\n")).collect()
}

/// One finding as a JSON object.
pub(crate) fn finding_json(f: &Finding, users: &Users) -> serde_json::Value {
    json!({
        "type": "finding",
        "unit": f.unit,
        "kind": f.kind.as_str(),
        "manager": f.manager,
        "pids": f.pids,
        "restart_pid": f.head,
        "service": f.service,
        "exe": f.exe,
        "uid": f.uid,
        "user": users.name(f.uid),
        "start_time": f.start_time,
        "foreign_root": f.foreign_root,
        "files": f.files.iter().map(|(p, r)| json!({"path": p, "reason": r.as_str()})).collect::<Vec<_>>(),
    })
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `--json`: JSON lines, one per finding, then the summary.
pub(crate) fn json(c: &Context) -> String {
    let mut s = String::new();
    for f in c.findings {
        let _ = writeln!(s, "{}", finding_json(f, c.users));
    }
    let uts = rustix::system::uname();
    let summary = json!({
        "type": "summary",
        "host": c.host.clone().unwrap_or_else(|| uts.nodename().to_string_lossy().into_owned()),
        "boot_id": read_trim("/proc/sys/kernel/random/boot_id"),
        "kernel": uts.release().to_string_lossy(),
        "systemd": c.systemd,
        "findings": c.findings.len(),
        "processes": c.scan.scanned,
        "unreadable": c.scan.unreadable.len(),
        "unreadable_pids": c.scan.unreadable,
        "scan_seconds": (c.scan.seconds * 1000.0).round() / 1000.0,
        "reboot_needed": c.reboot.map(|r| !r.is_empty()),
        "reboot_reasons": c.reboot,
        "exit": c.code,
    });
    let _ = writeln!(s, "{summary}");
    s
}

/// `--batch`: needrestart's `-b` keys.
pub(crate) fn batch(c: &Context, facts: &reboot::Facts) -> String {
    let mut s = format!("NEEDRESTART-VER: opsbox-{}\n", env!("CARGO_PKG_VERSION"));
    if let Some(k) = &facts.kernel {
        let _ = writeln!(s, "NEEDRESTART-KCUR: {}", escape::text(&k.running));
        if let Some(e) = &k.expected {
            let _ = writeln!(s, "NEEDRESTART-KEXP: {}", escape::text(e));
        }
        let _ = writeln!(
            s,
            "NEEDRESTART-KSTA: {}",
            if facts.in_container { 0 } else { k.ksta }
        );
    }
    // microcode is not checked: status 0 (unknown), as needrestart says when it cannot tell
    s.push_str("NEEDRESTART-UCSTA: 0\n");
    let mut svc = Vec::new();
    let mut loose: Vec<(String, Vec<u32>)> = Vec::new();
    let mut cont = Vec::new();
    let mut sess = Vec::new();
    for f in c.findings {
        let unit = f.unit.clone().unwrap_or_default();
        match f.kind {
            Kind::Init => svc.push("systemd-manager".to_string()),
            Kind::Service => svc.push(unit_shown(&unit).into_owned()),
            Kind::Container => cont.push(escape::text(&unit).into_owned()),
            Kind::Session => sess.push(format!(
                "{} @ session #{}",
                escape::text(&c.users.name(f.uid)),
                escape::text(
                    unit.trim_start_matches("session-")
                        .trim_end_matches(".scope")
                )
            )),
            Kind::UserManager | Kind::UserService => sess.push(format!(
                "{} @ user manager service",
                escape::text(&c.users.name(f.uid))
            )),
            Kind::None if f.service.is_some() => {
                svc.push(escape::text(f.service.as_deref().unwrap_or_default()).into_owned())
            }
            Kind::None => {
                let name = escape::text(f.exe.rsplit('/').next().unwrap_or("?")).into_owned();
                match loose.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, p)) => p.extend(&f.pids),
                    None => loose.push((name, f.pids.clone())),
                }
            }
        }
    }
    svc.sort();
    svc.dedup();
    for u in svc {
        let _ = writeln!(s, "NEEDRESTART-SVC: {u}");
    }
    loose.sort();
    for (name, mut p) in loose {
        p.sort_unstable();
        let _ = writeln!(s, "NEEDRESTART-PID: {name}={}", crate::plan::pids(&p));
    }
    cont.sort();
    for u in cont {
        let _ = writeln!(s, "NEEDRESTART-CONT: {u}");
    }
    sess.sort();
    sess.dedup();
    for u in sess {
        let _ = writeln!(s, "NEEDRESTART-SESS: {u}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{group, tests::proc};

    fn ctx_findings() -> Vec<Finding> {
        let mut procs = vec![
            proc(
                300,
                1,
                "/usr/sbin/nginx",
                "/system.slice/nginx.service",
                "/l/libgnutls.so.30",
            ),
            proc(
                301,
                300,
                "/usr/sbin/nginx",
                "/system.slice/nginx.service",
                "/l/libgnutls.so.30",
            ),
            proc(
                500,
                499,
                "/usr/bin/vim",
                "/user.slice/user-1000.slice/session-2.scope",
                "/l/a.so",
            ),
            proc(
                600,
                599,
                "/usr/bin/redis",
                "/system.slice/docker-0123456789abcdef.scope",
                "/l/a.so",
            ),
            proc(1, 0, "/usr/lib/systemd/systemd", "/init.scope", "/l/a.so"),
            proc(700, 1, "/opt/app/server", "/", "/l/a.so"),
            proc(
                200,
                1,
                "/usr/bin/dbus-daemon",
                "/system.slice/dbus.service",
                "/l/a.so",
            ),
        ];
        procs[2].uid = 1000;
        group(&procs, &Default::default(), true)
    }

    fn scan() -> Scan {
        Scan {
            scanned: 42,
            unreadable: vec![7],
            ..Default::default()
        }
    }

    #[test]
    fn formats() {
        let f = ctx_findings();
        let users = Users::new("root:x:0:0::/root:/bin/sh\nann:x:1000:1000::/home/ann:/bin/sh\n");
        let sc = scan();
        let reasons = vec!["/run/reboot-required is present".to_string()];
        let c = Context {
            findings: &f,
            scan: &sc,
            reboot: Some(&reasons),
            users: &users,
            systemd: true,
            host: Some("web1".into()),
            code: 2,
        };
        let t = text(&c);
        assert!(t.starts_with("init init.scope: pid 1 (/usr/lib/systemd/systemd, user root)\n  deleted  /l/a.so\nservice dbus.service: pid 200 (/usr/bin/dbus-daemon, user root)\n  deleted  /l/a.so\nservice nginx.service: pid 300,301 (/usr/sbin/nginx, user root)\n  deleted  /l/libgnutls.so.30\n"), "{t}");
        assert!(
            t.contains("process 700: pid 700 (/opt/app/server, user root)\n"),
            "{t}"
        );
        assert!(
            t.contains("session session-2.scope: pid 500 (/usr/bin/vim, user ann)\n"),
            "{t}"
        );
        assert!(
            t.contains("reboot needed: /run/reboot-required is present\n"),
            "{t}"
        );
        assert!(
            t.ends_with("6 to restart (7 processes); 42 processes scanned, 1 unreadable\n"),
            "{t}"
        );
        // dbus is stale too, but deferred: never in the list for xargs
        assert_eq!(units(&f), "nginx.service\n");
        assert_eq!(pids(&f), "1\n200\n300\n301\n500\n600\n700\n");
        let facts = reboot::Facts {
            kernel: Some(reboot::kernel_status(
                "6.1.0-9-amd64",
                &["6.1.0-13-amd64".into()],
            )),
            ..Default::default()
        };
        assert_eq!(
            batch(&c, &facts),
            format!(
                "NEEDRESTART-VER: opsbox-{}\nNEEDRESTART-KCUR: 6.1.0-9-amd64\nNEEDRESTART-KEXP: 6.1.0-13-amd64\nNEEDRESTART-KSTA: 3\nNEEDRESTART-UCSTA: 0\nNEEDRESTART-SVC: dbus.service\nNEEDRESTART-SVC: nginx.service\nNEEDRESTART-SVC: systemd-manager\nNEEDRESTART-PID: server=700\nNEEDRESTART-CONT: docker:0123456789ab\nNEEDRESTART-SESS: ann @ session #2\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        let j = json(&c);
        let lines: Vec<serde_json::Value> = j
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[1]["unit"], "dbus.service");
        assert_eq!(lines[2]["unit"], "nginx.service");
        assert_eq!(lines[2]["pids"], json!([300, 301]));
        assert_eq!(
            lines[2]["files"],
            json!([{"path": "/l/libgnutls.so.30", "reason": "deleted"}])
        );
        assert_eq!(lines[6]["type"], "summary");
        assert_eq!(lines[6]["reboot_needed"], true);
        assert_eq!(lines[6]["unreadable_pids"], json!([7]));
        assert_eq!(lines[6]["host"], "web1");
        assert_eq!(lines[6]["exit"], 2);
    }

    /// Names from cgroups and paths never reach a line raw: a container named with a
    /// newline cannot forge a key line, nor a session or an executable.
    #[test]
    fn hostile_names_are_escaped() {
        let mut procs = vec![
            proc(
                600,
                599,
                "/usr/bin/x",
                "/lxc.payload.a\nNEEDRESTART-SVC: forged.service/init.scope",
                "/l/a\x1b[2J.so",
            ),
            proc(700, 1, "/opt/e\rvil\nNEEDRESTART-SVC: x", "/", "/l/b.so"),
        ];
        procs[1].uid = 4242;
        let f = group(&procs, &Default::default(), true);
        let users = Users::new("");
        let sc = scan();
        let c = Context {
            findings: &f,
            scan: &sc,
            reboot: None,
            users: &users,
            systemd: true,
            host: None,
            code: 1,
        };
        let b = batch(&c, &reboot::Facts::default());
        assert!(b.lines().all(|l| l.starts_with("NEEDRESTART-")), "{b}");
        assert!(!b.lines().any(|l| l.starts_with("NEEDRESTART-SVC")), "{b}");
        assert!(
            b.contains("NEEDRESTART-CONT: lxc:a\\nNEEDRESTART-SVC: forged.service\n"),
            "{b}"
        );
        let t = text(&c);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t}");
        assert!(t.contains("  deleted  /l/a\\e[2J.so\n"), "{t}");
        assert!(
            t.contains("(/opt/e\\rvil\\nNEEDRESTART-SVC: x, user 4242)"),
            "{t}"
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            parse_systemd_version("systemd 252 (252.38-1~deb12u1)\n+PAM"),
            Some(252)
        );
        assert_eq!(parse_systemd_version("systemd 256.5\n"), Some(256));
        assert_eq!(parse_systemd_version("bash: systemctl"), None);
        assert_eq!(uid_of("a:x:5:5::/:/bin/sh\n", "a"), Some(5));
        assert_eq!(uid_of("a:x:5:5::/:/bin/sh\n", "b"), None);
        assert_eq!(pid_list(&[1, 2, 3], 2), "1,2,…");
        assert_eq!(Users::new("").name(33), "33");
    }
}
