//! `-p`/`--nagios`: needrestart's Nagios/Icinga plugin line, same text, perfdata and exit
//! codes (0 OK, 1 WARN, 2 CRIT, 3 UNKN), with needrestart's default severities: a newer
//! kernel 2, services 1, containers 1, sessions 2. Microcode is not checked, so it is left
//! out (as needrestart leaves it out when its microcode hints are off).

use crate::cgroup::Kind;
use crate::group::Finding;
use crate::reboot::KernelStatus;
use crate::report::{Users, unit_shown};
use opsbox_common::escape;
use std::fmt::Write;

const STATES: [&str; 4] = ["OK", "WARN", "CRIT", "UNKN"];

/// One part of the line: its text, state and perfdata value.
struct Part {
    text: String,
    state: u8,
    perf: Option<usize>,
}

fn counted(n: usize, severity: u8) -> Part {
    if n == 0 {
        Part {
            text: "none".into(),
            state: 0,
            perf: Some(0),
        }
    } else {
        let mark = match severity {
            1 => " (!)",
            2 => " (!!)",
            _ => "",
        };
        Part {
            text: format!("{n}{mark}"),
            state: severity,
            perf: Some(n),
        }
    }
}

/// The plugin output and its exit status. `kernel`: `None` inside a container (not
/// checked there).
pub(crate) fn status(
    findings: &[Finding],
    kernel: Option<&KernelStatus>,
    users: &Users,
) -> (String, u8) {
    let mut services: Vec<String> = Vec::new();
    let mut containers: Vec<String> = Vec::new();
    let mut sessions: Vec<String> = Vec::new();
    for f in findings {
        let unit = f.unit.as_deref().unwrap_or_default();
        let user = users.name(f.uid);
        match f.kind {
            Kind::Init => services.push("systemd-manager".into()),
            Kind::Service => services.push(unit_shown(unit).into_owned()),
            Kind::None => services.push(match &f.service {
                Some(s) => escape::text(s).into_owned(),
                None => format!("pid {} ({})", f.head, escape::text(&f.exe)),
            }),
            Kind::Container => containers.push(escape::text(unit).into_owned()),
            Kind::Session => sessions.push(format!(
                "{} @ session #{}",
                escape::text(&user),
                escape::text(
                    unit.trim_start_matches("session-")
                        .trim_end_matches(".scope")
                )
            )),
            Kind::UserManager | Kind::UserService => {
                sessions.push(format!("{} @ user manager service", escape::text(&user)))
            }
        }
    }
    for v in [&mut services, &mut containers, &mut sessions] {
        v.sort();
        v.dedup();
    }
    let kpart = kernel.map(|k| match (k.ksta, &k.expected) {
        (3, Some(e)) => Part {
            text: format!("{}!={} (!!)", escape::text(&k.running), escape::text(e)),
            state: 2,
            perf: Some(2),
        },
        (1, _) => Part {
            text: escape::text(&k.running).into_owned(),
            state: 0,
            perf: Some(0),
        },
        _ => Part {
            text: escape::text(&k.running).into_owned(),
            state: 3,
            perf: None,
        },
    });
    let parts = [
        ("Services", counted(services.len(), 1), ";;0;0"),
        ("Containers", counted(containers.len(), 1), ";;0;0"),
        ("Sessions", counted(sessions.len(), 2), ";0;;0"),
    ];
    let all: Vec<(&str, &Part, &str)> = kpart
        .iter()
        .map(|k| ("Kernel", k, ";0;;0;2"))
        .chain(parts.iter().map(|(n, p, t)| (*n, p, *t)))
        .collect();
    let state = all.iter().map(|(_, p, _)| p.state).max().unwrap_or(0);
    let text: Vec<String> = all
        .iter()
        .map(|(n, p, _)| format!("{n}: {}", p.text))
        .collect();
    let perf: Vec<String> = all
        .iter()
        .filter_map(|(n, p, t)| p.perf.map(|v| format!("{n}={v}{t}")))
        .collect();
    let mut s = format!(
        "{} - {}|{}\n",
        STATES[usize::from(state)],
        text.join(", "),
        perf.join(" ")
    );
    for (name, list) in [
        ("Services", &services),
        ("Containers", &containers),
        ("Sessions", &sessions),
    ] {
        if !list.is_empty() {
            let _ = write!(s, "{name}:");
            for item in list {
                let _ = write!(s, "\n- {item}");
            }
            s.push('\n');
        }
    }
    (s, state)
}

/// What needrestart prints when it cannot see everything.
pub(crate) const NOT_ROOT: &str = "UNKN - This plugin needs to be run as root!\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{group, tests::proc};
    use crate::reboot::kernel_status;

    #[test]
    fn needrestart_format() {
        let users = Users::new("ann:x:1000:1000::/:/bin/sh\n");
        let k = kernel_status("6.1.0-13-amd64", &["6.1.0-13-amd64".into()]);
        // clean: exactly what needrestart -p prints on a clean host without microcode hints
        assert_eq!(
            status(&[], Some(&k), &users),
            (
                "OK - Kernel: 6.1.0-13-amd64, Services: none, Containers: none, Sessions: none|Kernel=0;0;;0;2 Services=0;;0;0 Containers=0;;0;0 Sessions=0;0;;0\n".into(),
                0
            )
        );
        let mut procs = vec![
            proc(
                300,
                1,
                "/usr/sbin/nginx",
                "/system.slice/nginx.service",
                "/l/a.so",
            ),
            proc(
                400,
                1,
                "/usr/sbin/cron",
                "/system.slice/cron.service",
                "/l/a.so",
            ),
            proc(
                600,
                599,
                "/usr/bin/redis",
                "/system.slice/docker-0123456789abcdef.scope",
                "/l/a.so",
            ),
        ];
        let f = group(&procs, &Default::default(), true);
        let (s, code) = status(&f, Some(&k), &users);
        assert_eq!(code, 1);
        assert_eq!(
            s,
            "WARN - Kernel: 6.1.0-13-amd64, Services: 2 (!), Containers: 1 (!), Sessions: none|Kernel=0;0;;0;2 Services=2;;0;0 Containers=1;;0;0 Sessions=0;0;;0\nServices:\n- cron.service\n- nginx.service\nContainers:\n- docker:0123456789ab\n"
        );
        // a session is critical, as a newer kernel is; an unknown kernel is UNKN, no perfdata
        procs.push(proc(
            500,
            499,
            "/usr/bin/vim",
            "/user.slice/user-1000.slice/session-2.scope",
            "/l/a.so",
        ));
        procs[3].uid = 1000;
        let f = group(&procs, &Default::default(), true);
        let newer = kernel_status("6.1.0-9-amd64", &["6.1.0-13-amd64".into()]);
        let (s, code) = status(&f, Some(&newer), &users);
        assert_eq!(code, 2);
        assert!(s.starts_with("CRIT - Kernel: 6.1.0-9-amd64!=6.1.0-13-amd64 (!!), Services: 2 (!), Containers: 1 (!), Sessions: 1 (!!)|Kernel=2;0;;0;2 "), "{s}");
        assert!(s.ends_with("Sessions:\n- ann @ session #2\n"), "{s}");
        let unknown = kernel_status("6.18.0", &[]);
        let (s, code) = status(&[], Some(&unknown), &users);
        assert_eq!(code, 3);
        assert_eq!(
            s,
            "UNKN - Kernel: 6.18.0, Services: none, Containers: none, Sessions: none|Services=0;;0;0 Containers=0;;0;0 Sessions=0;0;;0\n"
        );
        // in a container: no kernel part
        let (s, code) = status(&[], None, &users);
        assert_eq!(
            (s.as_str(), code),
            (
                "OK - Services: none, Containers: none, Sessions: none|Services=0;;0;0 Containers=0;;0;0 Sessions=0;0;;0\n",
                0
            )
        );
    }
}
