//! The restart plan: shell commands that restart each unit once, in one systemd
//! transaction, with the units that must not be restarted blindly set aside.

use crate::cgroup::Kind;
use crate::group::Finding;
use crate::unitname;
use opsbox_common::escape;

/// What to do, as data; [`Plan::render`] makes the shell text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    /// Commands to run, in order (argv).
    pub(crate) commands: Vec<Vec<String>>,
    /// Units set aside: (unit, reason).
    pub(crate) deferred: Vec<(String, String)>,
    /// What cannot be restarted by a command here: (what, how).
    pub(crate) manual: Vec<(String, String)>,
    /// Names that cannot be written into a command (outside systemd's unit grammar, or
    /// not a safe shell word): (name, why). Never run; named in an escaped comment.
    pub(crate) refused: Vec<(String, String)>,
}

/// Why a service unit must not be restarted blindly, if it must not.
pub(crate) fn defer_reason(unit: &str) -> Option<&'static str> {
    let base = unit.strip_suffix(".service").unwrap_or(unit);
    let template = base.split('@').next().unwrap_or(base);
    Some(match template {
        "dbus" | "dbus-broker" => "the message bus: restarting it breaks every connected client",
        "systemd-logind" => "restarting logind can end or lock out login sessions",
        "getty" | "serial-getty" | "console-getty" | "container-getty" => {
            "a login console: restarting it kills the session on that terminal"
        }
        "display-manager" | "gdm" | "gdm3" | "sddm" | "lightdm" | "xdm" | "lxdm" | "slim" => {
            "the display manager: restarting it ends every graphical session"
        }
        "NetworkManager" | "systemd-networkd" | "wpa_supplicant" | "networking" => {
            "networking: a restart can cut the connection this plan runs over"
        }
        "user" => "a user's service manager: restart it when the user logs out",
        "docker" | "containerd" | "podman" | "crio" | "lxc" | "lxcfs" | "lxd" | "libvirtd"
        | "systemd-machined" => "a container runtime: restarting it can stop every container",
        _ => return None,
    })
}

/// Build the plan. `systemd`: the running systemd's version, `None` when systemd is not
/// the service manager (then init scripts found for the findings are restarted with
/// `service NAME restart`).
pub(crate) fn plan(findings: &[Finding], systemd: Option<u32>) -> Plan {
    let mut p = Plan::default();
    let mut restart: Vec<String> = Vec::new();
    let mut scripts: Vec<String> = Vec::new();
    for f in findings {
        let unit = f.unit.clone().unwrap_or_default();
        match f.kind {
            Kind::Init => {
                if systemd.is_some() {
                    p.commands.insert(0, argv(&["systemctl", "daemon-reexec"]));
                } else {
                    p.manual.push((
                        format!("PID 1 ({})", f.exe),
                        "the init system runs stale code: reboot".into(),
                    ));
                }
            }
            Kind::Service if systemd.is_some() => {
                if !unitname::is_valid(&unit) {
                    p.refused
                        .push((unit, "not a valid systemd unit name".into()));
                } else {
                    match defer_reason(&unit) {
                        Some(why) => p.deferred.push((unit, why.into())),
                        None => restart.push(unit),
                    }
                }
            }
            Kind::UserManager => p
                .deferred
                .push((unit, defer_reason("user@").unwrap_or_default().into())),
            Kind::UserService => p.deferred.push((
                unit.clone(),
                format!(
                    "a user service: systemctl --user -M {}@ restart {unit}",
                    f.uid
                ),
            )),
            Kind::Session => p.deferred.push((
                unit,
                format!("a login session of uid {}: log out and back in", f.uid),
            )),
            Kind::Container => p.manual.push((
                format!("container {unit}"),
                "restart it (or the services inside it) with its runtime".into(),
            )),
            Kind::Service | Kind::None => match &f.service {
                Some(name) if systemd.is_none() => match escape::sh(name) {
                    Ok(_) => match defer_reason(name) {
                        Some(why) => p.deferred.push((name.clone(), why.into())),
                        None => scripts.push(name.clone()),
                    },
                    Err(_) => p
                        .refused
                        .push((name.clone(), "not a word a script can hold".into())),
                },
                _ => p.manual.push((
                    format!("pid {} ({})", f.head, f.exe),
                    if systemd.is_some() {
                        "no systemd unit: restart the program by hand".into()
                    } else {
                        "no init script found: restart the program by hand".into()
                    },
                )),
            },
        }
    }
    restart.sort();
    restart.dedup();
    if !restart.is_empty() {
        if systemd.is_some_and(|v| v >= 248) {
            for u in &restart {
                p.commands.push(argv(&[
                    "systemctl",
                    "set-property",
                    u,
                    "Markers=+needs-restart",
                ]));
            }
            p.commands
                .push(argv(&["systemctl", "reload-or-restart", "--marked"]));
        } else {
            let mut c = argv(&["systemctl", "restart"]);
            c.extend(restart);
            p.commands.push(c);
        }
    }
    scripts.sort();
    scripts.dedup();
    for s in scripts {
        p.commands.push(argv(&["service", &s, "restart"]));
    }
    p
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

pub(crate) fn pids(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One `# KIND: TEXT` comment line, the text escaped to one line.
fn comment(s: &mut String, kind: &str, what: &str, how: &str) {
    s.push_str("# ");
    s.push_str(kind);
    s.push_str(": ");
    s.push_str(&escape::text(what));
    s.push_str(": ");
    s.push_str(&escape::text(how));
    s.push('\n');
}

impl Plan {
    /// A shell script: commands (every word through `escape::sh`), then deferred, manual
    /// and refused items as escaped comments.
    pub(crate) fn render(&self) -> String {
        let mut s = String::from("#!/bin/sh\n");
        if self.commands.is_empty() {
            s.push_str("# needs-restart: nothing to restart by command\n");
        } else if self.commands.iter().any(|c| c[0] == "systemctl") {
            s.push_str("# needs-restart: each unit once, in one systemd transaction\nset -e\n");
        } else {
            s.push_str("# needs-restart: each init script once\nset -e\n");
        }
        for c in &self.commands {
            match c
                .iter()
                .map(|w| escape::sh(w))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(words) => {
                    s.push_str(&words.join(" "));
                    s.push('\n');
                }
                Err(e) => comment(&mut s, "refused", &c.join(" "), &e.to_string()),
            }
        }
        for (unit, why) in &self.deferred {
            comment(&mut s, "deferred", unit, why);
        }
        for (what, how) in &self.manual {
            comment(&mut s, "manual", what, how);
        }
        for (what, why) in &self.refused {
            comment(&mut s, "refused", what, why);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{group, tests::proc};

    fn findings() -> Vec<Finding> {
        let procs = vec![
            proc(
                300,
                1,
                "/usr/sbin/nginx",
                "/system.slice/nginx.service",
                "/l/a.so",
            ),
            proc(
                301,
                300,
                "/usr/sbin/nginx",
                "/system.slice/nginx.service",
                "/l/a.so",
            ),
            proc(
                250,
                1,
                "/usr/sbin/cron",
                "/system.slice/cron.service",
                "/l/a.so",
            ),
            proc(
                200,
                1,
                "/usr/bin/dbus-daemon",
                "/system.slice/dbus.service",
                "/l/a.so",
            ),
            proc(
                210,
                1,
                "/sbin/agetty",
                "/system.slice/system-getty.slice/getty@tty1.service",
                "/l/a.so",
            ),
            proc(
                700,
                1,
                "/usr/lib/systemd/systemd",
                "/user.slice/user-1000.slice/user@1000.service/init.scope",
                "/l/a.so",
            ),
            proc(
                701,
                700,
                "/usr/bin/pipewire",
                "/user.slice/user-1000.slice/user@1000.service/session.slice/pipewire.service",
                "/l/a.so",
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
        ];
        group(&procs, &Default::default(), true)
    }

    #[test]
    fn markers_on_new_systemd() {
        let p = plan(&findings(), Some(252));
        let cmds: Vec<String> = p.commands.iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            cmds,
            vec![
                "systemctl daemon-reexec",
                "systemctl set-property cron.service Markers=+needs-restart",
                "systemctl set-property nginx.service Markers=+needs-restart",
                "systemctl reload-or-restart --marked",
            ]
        );
        let deferred: Vec<&str> = p.deferred.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(
            deferred,
            vec![
                "dbus.service",
                "getty@tty1.service",
                "user@1000.service",
                "pipewire.service",
                "session-2.scope"
            ]
        );
        assert!(p.deferred[4].1.contains("log out"), "{:?}", p.deferred);
        assert!(
            p.deferred[3]
                .1
                .contains("systemctl --user -M 0@ restart pipewire.service")
        );
        assert_eq!(p.manual.len(), 1);
        assert!(p.manual[0].0.contains("docker:0123456789ab"));
        let text = p.render();
        assert!(text.starts_with("#!/bin/sh\n"), "{text}");
        assert!(
            text.contains(
                "\nsystemctl reload-or-restart --marked\n# deferred: dbus.service: the message bus"
            ),
            "{text}"
        );
    }

    #[test]
    fn combined_restart_on_old_systemd() {
        let p = plan(&findings(), Some(247));
        let cmds: Vec<String> = p.commands.iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            cmds,
            vec![
                "systemctl daemon-reexec",
                "systemctl restart cron.service nginx.service"
            ]
        );
    }

    #[test]
    fn without_systemd_everything_is_manual() {
        let p = plan(&findings(), None);
        assert!(p.commands.is_empty());
        assert!(
            p.manual
                .iter()
                .any(|(w, h)| w.starts_with("PID 1") && h.contains("reboot"))
        );
        assert!(
            p.render()
                .contains("# needs-restart: nothing to restart by command\n")
        );
        // nothing stale: an empty plan
        assert_eq!(plan(&[], Some(255)), Plan::default());
    }

    #[test]
    fn hostile_names_stay_in_comments() {
        let mut procs = vec![
            proc(
                300,
                1,
                "/opt/x\ntouch /tmp/PWNED\n$(id)\r\x1b[2J#/d",
                "/",
                "/l/a.so",
            ),
            proc(
                400,
                1,
                "/usr/sbin/ok",
                "/system.slice/ok.service",
                "/l/a.so",
            ),
        ];
        let mut f = group(&procs, &Default::default(), true);
        // a unit name that slipped past attribution is still refused here
        let svc = f.iter_mut().find(|x| x.kind == Kind::Service).unwrap();
        svc.unit = Some("ok\n$(reboot).service".into());
        let text = plan(&f, Some(252)).render();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(
            text.contains("# manual: pid 300 (/opt/x\\ntouch /tmp/PWNED\\n$(id)\\r\\e[2J#/d): "),
            "{text}"
        );
        assert!(
            text.contains("# refused: ok\\n$(reboot).service: not a valid systemd unit name\n"),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.starts_with("systemctl")), "{text}");
        // without systemd: an init script name that is no safe word is refused too
        procs.truncate(1);
        let mut f = group(&procs, &Default::default(), false);
        f[0].service = Some("a\nb".into());
        let p = plan(&f, None);
        assert!(p.commands.is_empty());
        assert_eq!(p.refused.len(), 1);
        f[0].service = Some("nginx".into());
        let text = plan(&f, None).render();
        assert!(text.ends_with("set -e\nservice nginx restart\n"), "{text}");
    }

    #[test]
    fn reasons() {
        assert!(defer_reason("NetworkManager.service").is_some());
        assert!(defer_reason("serial-getty@ttyS0.service").is_some());
        assert!(defer_reason("docker.service").is_some());
        assert!(defer_reason("dbus").is_some());
        assert!(defer_reason("nginx.service").is_none());
    }
}
