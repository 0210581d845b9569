//! Attribution from `/proc/PID/cgroup`: which systemd unit (or container, or session) a
//! process belongs to.

use crate::unitname;

/// What restarting a finding means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// PID 1 (`systemctl daemon-reexec`).
    Init,
    /// A system service.
    Service,
    /// A user's service manager (`user@UID.service`).
    UserManager,
    /// A service of a user's manager.
    UserService,
    /// A process of no unit (or no systemd): grouped by process tree.
    None,
    /// A login session (`session-N.scope`): the user logs out and in.
    Session,
    /// A container (docker, podman, containerd, lxc, nspawn): restarted inside it.
    Container,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Init => "init",
            Kind::Service => "service",
            Kind::UserManager => "user-manager",
            Kind::UserService => "user-service",
            Kind::None => "none",
            Kind::Session => "session",
            Kind::Container => "container",
        }
    }
}

/// A process's place: its kind and the unit (or container) name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Attribution {
    pub(crate) kind: Kind,
    /// Unit name (`ssh.service`, `session-3.scope`), container (`docker:0123456789ab`), or
    /// empty for [`Kind::None`].
    pub(crate) unit: String,
    /// For user services: the manager (`user@1000.service`).
    pub(crate) manager: Option<String>,
}

impl Attribution {
    pub(crate) fn none() -> Self {
        Attribution {
            kind: Kind::None,
            unit: String::new(),
            manager: None,
        }
    }
    fn new(kind: Kind, unit: impl Into<String>) -> Self {
        Attribution {
            kind,
            unit: unit.into(),
            manager: None,
        }
    }
}

/// The cgroup path systemd manages: the v2 `0::` line, or v1 `name=systemd` when the v2
/// line is missing or only `/` (hybrid hierarchy).
pub(crate) fn systemd_path(text: &str) -> Option<&str> {
    let mut v2 = None;
    let mut v1 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrl), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        // each hierarchy appears once: a second line is a forged one (the kernel refuses
        // newlines in cgroup names, but nothing here relies on that)
        if id == "0" && ctrl.is_empty() {
            if v2.replace(path).is_some() {
                return None;
            }
        } else if ctrl.split(',').any(|c| c == "name=systemd") && v1.replace(path).is_some() {
            return None;
        }
    }
    match (v2, v1) {
        (Some(p), _) if p != "/" => Some(p),
        (_, Some(p)) => Some(p),
        (p, None) => p,
    }
}

/// The attribution of a process from its cgroup file's text.
pub(crate) fn attribute(text: &str) -> Attribution {
    systemd_path(text).map_or_else(Attribution::none, attribute_path)
}

/// The attribution of one cgroup path (`/system.slice/ssh.service`).
pub(crate) fn attribute_path(path: &str) -> Attribution {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if let Some(c) = container(&parts) {
        return c;
    }
    let mut units = parts.iter().filter(|p| !p.ends_with(".slice"));
    let Some(first) = units.next() else {
        return Attribution::none();
    };
    if *first == "init.scope" {
        return Attribution::new(Kind::Init, *first);
    }
    if first.starts_with("user@") && is_unit(first) {
        return match units.next() {
            Some(u) if *u != "init.scope" && is_unit(u) => Attribution {
                kind: Kind::UserService,
                unit: (*u).to_string(),
                manager: Some((*first).to_string()),
            },
            _ => Attribution::new(Kind::UserManager, *first),
        };
    }
    if first.starts_with("session-") && first.ends_with(".scope") && unitname::is_valid(first) {
        return Attribution::new(Kind::Session, *first);
    }
    if is_unit(first) {
        return Attribution::new(Kind::Service, *first);
    }
    Attribution::none()
}

fn is_unit(name: &str) -> bool {
    // scopes (systemd-run --scope, tmux, conmon) cannot be restarted: grouped by tree; a
    // name outside systemd's grammar (a delegated subtree can hold any) is no unit either
    name.ends_with(".service") && unitname::is_valid(name)
}

/// Containers by the cgroup names their runtimes use (systemd and cgroupfs drivers).
fn container(parts: &[&str]) -> Option<Attribution> {
    let short = |id: &str| id.chars().take(12).collect::<String>();
    for (i, p) in parts.iter().enumerate() {
        let scoped = |prefix: &str| {
            p.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(".scope"))
                .filter(|id| !id.is_empty())
        };
        let next = parts.get(i + 1).copied().filter(|n| !n.is_empty());
        let found = if let Some(id) = scoped("docker-") {
            Some(format!("docker:{}", short(id)))
        } else if let Some(id) = scoped("libpod-") {
            // podman's conmon lives in libpod-conmon-ID.scope: not the container itself
            (!id.starts_with("conmon-")).then(|| format!("podman:{}", short(id)))
        } else if let Some(id) = scoped("cri-containerd-") {
            Some(format!("containerd:{}", short(id)))
        } else if let Some(id) = scoped("crio-") {
            Some(format!("cri-o:{}", short(id)))
        } else if let Some(name) = scoped("machine-") {
            Some(format!("machine:{}", name.replace("\\x2d", "-")))
        } else if let Some(name) = p.strip_prefix("lxc.payload.").filter(|n| !n.is_empty()) {
            Some(format!("lxc:{name}"))
        } else if *p == "lxc" || *p == "docker" {
            next.map(|n| {
                if *p == "lxc" {
                    format!("lxc:{n}")
                } else {
                    format!("docker:{}", short(n))
                }
            })
        } else {
            None
        };
        if let Some(unit) = found {
            return Some(Attribution::new(Kind::Container, unit));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> (Kind, String, Option<String>) {
        let a = attribute(text);
        (a.kind, a.unit, a.manager)
    }

    #[test]
    fn v2_services_and_slices() {
        assert_eq!(
            at("0::/system.slice/ssh.service\n"),
            (Kind::Service, "ssh.service".into(), None)
        );
        assert_eq!(
            at("0::/system.slice/system-getty.slice/getty@tty1.service\n"),
            (Kind::Service, "getty@tty1.service".into(), None)
        );
        // a service's own sub-cgroups
        assert_eq!(
            at("0::/system.slice/nginx.service/workers\n"),
            (Kind::Service, "nginx.service".into(), None)
        );
        assert_eq!(at("0::/init.scope\n").0, Kind::Init);
        assert_eq!(at("0::/\n").0, Kind::None);
        assert_eq!(at("0::/system.slice\n").0, Kind::None);
        assert_eq!(at("0::/system.slice/run-r0a1b.scope\n").0, Kind::None);
        assert_eq!(at("").0, Kind::None);
        // names outside the unit grammar are no units: grouped by process tree
        assert_eq!(at("0::/system.slice/a\x1b[2Jb.service\n").0, Kind::None);
        assert_eq!(at("0::/system.slice/$(reboot).service\n").0, Kind::None);
        assert_eq!(
            at("0::/user.slice/user-1000.slice/user@1000.service/app.slice/x y.service\n").0,
            Kind::UserManager
        );
        // a second line of the same hierarchy is a forgery: nothing is trusted
        assert_eq!(
            at("0::/user.slice/x\n0::/system.slice/ssh.service\n").0,
            Kind::None
        );
    }

    #[test]
    fn users_and_sessions() {
        assert_eq!(
            at("0::/user.slice/user-1000.slice/session-3.scope\n"),
            (Kind::Session, "session-3.scope".into(), None)
        );
        assert_eq!(
            at("0::/user.slice/user-1000.slice/user@1000.service/init.scope\n"),
            (Kind::UserManager, "user@1000.service".into(), None)
        );
        assert_eq!(
            at("0::/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service\n"),
            (
                Kind::UserService,
                "pipewire.service".into(),
                Some("user@1000.service".into())
            )
        );
        assert_eq!(
            at("0::/user.slice/user-1000.slice/user@1000.service/session.slice/dbus.service\n"),
            (
                Kind::UserService,
                "dbus.service".into(),
                Some("user@1000.service".into())
            )
        );
    }

    #[test]
    fn v1_and_hybrid() {
        let v1 = "12:pids:/system.slice/cron.service\n11:memory:/system.slice/cron.service\n1:name=systemd:/system.slice/cron.service\n";
        assert_eq!(at(v1), (Kind::Service, "cron.service".into(), None));
        // hybrid: the v2 line is only "/", the named hierarchy tells
        let hybrid = "9:name=systemd:/system.slice/rsyslog.service\n4:memory:/x\n0::/\n";
        assert_eq!(at(hybrid), (Kind::Service, "rsyslog.service".into(), None));
        // unified wins when it names something
        let both = "1:name=systemd:/system.slice/a.service\n0::/system.slice/b.service\n";
        assert_eq!(at(both).1, "b.service");
        // a line without colons is skipped
        assert_eq!(at("junk\n0::/system.slice/c.service").1, "c.service");
    }

    #[test]
    fn containers() {
        let id = "3f2a8c9d1e0b4a5f6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b";
        assert_eq!(
            at(&format!("0::/system.slice/docker-{id}.scope\n")),
            (Kind::Container, "docker:3f2a8c9d1e0b".into(), None)
        );
        assert_eq!(at(&format!("0::/docker/{id}\n")).1, "docker:3f2a8c9d1e0b");
        assert_eq!(
            at(&format!(
                "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{id}.scope/container\n"
            ))
            .1,
            "podman:3f2a8c9d1e0b"
        );
        assert_eq!(
            at(&format!("0::/machine.slice/libpod-conmon-{id}.scope\n")).0,
            Kind::None
        );
        assert_eq!(
            at(&format!(
                "0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-{id}.scope\n"
            ))
            .1,
            "containerd:3f2a8c9d1e0b"
        );
        assert_eq!(
            at("0::/lxc.payload.web1/system.slice/nginx.service\n").1,
            "lxc:web1"
        );
        assert_eq!(at("4:name=systemd:/lxc/db2/init.scope\n").1, "lxc:db2");
        assert_eq!(
            at("0::/machine.slice/machine-build\\x2dbox.scope/payload\n").1,
            "machine:build-box"
        );
    }
}
