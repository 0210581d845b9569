//! From stale processes to findings: one per unit (or container, or session), or without
//! systemd one per process tree (children folded into the topmost ancestor below PID 1
//! that runs the same executable).

use crate::cgroup::{Attribution, Kind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Why a file counts as stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Reason {
    /// The kernel marks the mapping ` (deleted)`: the file was removed or renamed over.
    Deleted,
    /// The path now names another file (device/inode differ): replaced, or mounted over.
    Replaced,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Deleted => "deleted",
            Reason::Replaced => "replaced",
        }
    }
}

/// A process that runs at least one stale file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StaleProc {
    pub(crate) pid: u32,
    pub(crate) ppid: u32,
    pub(crate) uid: u32,
    /// Start time, seconds since the epoch.
    pub(crate) start_time: u64,
    pub(crate) exe: String,
    pub(crate) attribution: Attribution,
    /// The process is in another mount namespace (a container): paths were checked in its
    /// own root.
    pub(crate) foreign_root: bool,
    /// Its root directory is another than ours (a container's): its executable is not a
    /// file of our packages.
    pub(crate) other_root: bool,
    pub(crate) files: Vec<(String, Reason)>,
}

/// One thing to restart (once), with every PID and every stale file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) kind: Kind,
    /// Unit or container name; `None` for a process tree without a unit.
    pub(crate) unit: Option<String>,
    pub(crate) manager: Option<String>,
    pub(crate) pids: Vec<u32>,
    /// The process to restart: for a process tree its head (the master that forks the
    /// workers, even when only workers were asked for with `--pid` or `--user`), else the
    /// oldest process of the unit.
    pub(crate) head: u32,
    pub(crate) exe: String,
    pub(crate) uid: u32,
    pub(crate) start_time: u64,
    pub(crate) foreign_root: bool,
    pub(crate) other_root: bool,
    pub(crate) files: Vec<(String, Reason)>,
    /// Without systemd: the init script that restarts it (`/etc/init.d/NAME`), when one
    /// was found (see `initd`).
    pub(crate) service: Option<String>,
}

/// Parent PID and executable of every process seen, for folding process trees.
pub(crate) type Tree = HashMap<u32, (u32, String)>;

/// The topmost ancestor of `pid` below PID 1 reached through parents running the same
/// executable (the process itself when its parent runs something else).
pub(crate) fn tree_head(pid: u32, exe: &str, tree: &Tree) -> u32 {
    let mut cur = pid;
    let mut steps = 0;
    while let Some((ppid, _)) = tree.get(&cur) {
        let ppid = *ppid;
        if ppid <= 1 || steps > 4096 {
            break;
        }
        match tree.get(&ppid) {
            Some((_, pexe)) if pexe == exe && !exe.is_empty() => cur = ppid,
            _ => break,
        }
        steps += 1;
    }
    cur
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Unit(Kind, String),
    Tree(u32),
}

/// Group stale processes into findings. `use_units`: systemd runs, so cgroup units name
/// the findings; otherwise only containers keep their cgroup name and everything else is
/// folded by process tree.
pub(crate) fn group(procs: &[StaleProc], tree: &Tree, use_units: bool) -> Vec<Finding> {
    let mut groups: BTreeMap<Key, Vec<&StaleProc>> = BTreeMap::new();
    for p in procs {
        let a = &p.attribution;
        let key = if p.pid == 1 {
            Key::Unit(Kind::Init, init_name(a, &p.exe))
        } else if a.kind == Kind::Container || (use_units && a.kind != Kind::None) {
            Key::Unit(a.kind, a.unit.clone())
        } else {
            Key::Tree(tree_head(p.pid, &p.exe, tree))
        };
        groups.entry(key).or_default().push(p);
    }
    let mut out: Vec<Finding> = groups
        .into_iter()
        .map(|(key, members)| finding(key, &members))
        .collect();
    out.sort_by(|a, b| (a.kind, &a.unit, a.pids.first()).cmp(&(b.kind, &b.unit, b.pids.first())));
    out
}

fn init_name(a: &Attribution, exe: &str) -> String {
    if a.kind == Kind::Init && !a.unit.is_empty() {
        a.unit.clone()
    } else {
        exe.rsplit('/').next().unwrap_or("init").to_string()
    }
}

fn finding(key: Key, members: &[&StaleProc]) -> Finding {
    let (kind, unit, head) = match &key {
        Key::Unit(kind, unit) => (*kind, Some(unit.clone()), None),
        Key::Tree(head) => (Kind::None, None, Some(*head)),
    };
    // the representative: the tree head when it is stale itself, else the oldest process
    let rep = members
        .iter()
        .find(|p| Some(p.pid) == head)
        .or_else(|| members.iter().min_by_key(|p| (p.start_time, p.pid)))
        .copied();
    let pids: BTreeSet<u32> = members.iter().map(|p| p.pid).collect();
    let oldest = members
        .iter()
        .min_by_key(|p| (p.start_time, p.pid))
        .map_or(0, |p| p.pid);
    let files: BTreeSet<(String, Reason)> = members
        .iter()
        .flat_map(|p| p.files.iter().cloned())
        .collect();
    Finding {
        kind,
        unit,
        manager: members.iter().find_map(|p| p.attribution.manager.clone()),
        pids: pids.into_iter().collect(),
        head: head.unwrap_or(oldest),
        exe: rep.map(|p| p.exe.clone()).unwrap_or_default(),
        uid: rep.map_or(0, |p| p.uid),
        start_time: members.iter().map(|p| p.start_time).min().unwrap_or(0),
        foreign_root: members.iter().any(|p| p.foreign_root),
        other_root: members.iter().any(|p| p.other_root),
        files: files.into_iter().collect(),
        service: None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cgroup::attribute_path;

    pub(crate) fn proc(pid: u32, ppid: u32, exe: &str, cgroup: &str, file: &str) -> StaleProc {
        StaleProc {
            pid,
            ppid,
            uid: 0,
            start_time: 1000 + u64::from(pid),
            exe: exe.into(),
            attribution: attribute_path(cgroup),
            foreign_root: false,
            other_root: false,
            files: vec![(file.into(), Reason::Deleted)],
        }
    }

    fn tree(procs: &[(u32, u32, &str)]) -> Tree {
        procs
            .iter()
            .map(|(p, pp, e)| (*p, (*pp, e.to_string())))
            .collect()
    }

    #[test]
    fn folds_children_into_the_topmost_same_exe_ancestor() {
        // 1 init; 10 sshd (master) -> 11 sshd -> 12 sshd; 12 -> 13 bash -> 14 sshd (another)
        let t = tree(&[
            (1, 0, "/sbin/init"),
            (10, 1, "/usr/sbin/sshd"),
            (11, 10, "/usr/sbin/sshd"),
            (12, 11, "/usr/sbin/sshd"),
            (13, 12, "/bin/bash"),
            (14, 13, "/usr/sbin/sshd"),
        ]);
        assert_eq!(tree_head(12, "/usr/sbin/sshd", &t), 10);
        assert_eq!(tree_head(10, "/usr/sbin/sshd", &t), 10);
        assert_eq!(tree_head(14, "/usr/sbin/sshd", &t), 14);
        // an unknown parent stops the walk
        assert_eq!(tree_head(99, "/x", &t), 99);
        let procs = vec![
            proc(11, 10, "/usr/sbin/sshd", "/", "/lib/libssl.so.3"),
            proc(12, 11, "/usr/sbin/sshd", "/", "/lib/libcrypto.so.3"),
            proc(14, 13, "/usr/sbin/sshd", "/", "/lib/libssl.so.3"),
        ];
        let f = group(&procs, &t, false);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].pids, vec![11, 12]);
        assert_eq!(f[0].unit, None);
        assert_eq!(f[0].kind, Kind::None);
        assert_eq!(
            f[0].files,
            vec![
                ("/lib/libcrypto.so.3".to_string(), Reason::Deleted),
                ("/lib/libssl.so.3".to_string(), Reason::Deleted)
            ]
        );
        assert_eq!(f[1].pids, vec![14]);
    }

    #[test]
    fn one_finding_per_unit() {
        let t = tree(&[]);
        let procs = vec![
            proc(
                300,
                1,
                "/usr/sbin/nginx",
                "/system.slice/nginx.service",
                "/lib/a.so",
            ),
            proc(
                301,
                300,
                "/usr/sbin/nginx",
                "/system.slice/nginx.service",
                "/lib/b.so",
            ),
            proc(
                400,
                1,
                "/usr/bin/php",
                "/system.slice/php-fpm.service",
                "/lib/a.so",
            ),
            proc(
                500,
                499,
                "/usr/bin/vim",
                "/user.slice/user-1000.slice/session-2.scope",
                "/lib/a.so",
            ),
            proc(
                600,
                599,
                "/usr/bin/redis",
                "/system.slice/docker-0123456789abcdef.scope",
                "/lib/a.so",
            ),
            proc(1, 0, "/usr/lib/systemd/systemd", "/init.scope", "/lib/a.so"),
        ];
        let f = group(&procs, &t, true);
        let got: Vec<(Kind, Option<&str>, &[u32])> = f
            .iter()
            .map(|f| (f.kind, f.unit.as_deref(), f.pids.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Init, Some("init.scope"), &[1][..]),
                (Kind::Service, Some("nginx.service"), &[300, 301][..]),
                (Kind::Service, Some("php-fpm.service"), &[400][..]),
                (Kind::Session, Some("session-2.scope"), &[500][..]),
                (Kind::Container, Some("docker:0123456789ab"), &[600][..]),
            ]
        );
        assert_eq!(f[1].exe, "/usr/sbin/nginx");
        assert_eq!(f[1].files.len(), 2);
        // without systemd only containers keep their name
        let f = group(&procs, &t, false);
        assert!(f.iter().any(|f| f.kind == Kind::Container));
        assert_eq!(f.iter().filter(|f| f.kind == Kind::None).count(), 4);
        assert_eq!(f[0].kind, Kind::Init);
        assert_eq!(f[0].unit.as_deref(), Some("init.scope"));
    }
}
