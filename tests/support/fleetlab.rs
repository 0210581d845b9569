//! The fleet lab (scripts/fleetlab) from a Rust test: boot it, reach its hosts over real
//! SSH, and take it down again, checking that nothing of it is left.
//!
//! Use it with `#[path = "support/fleetlab.rs"] mod fleetlab;` beside `mod support;`.
//! A [`Lab`] has its own state dir (`/run/opsbox-fleetlab-TAG-PID`), so its namespaces
//! and cgroup are its own; dropping it (also when the test fails) runs `down`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use crate::support;

pub struct Lab {
    pub dir: PathBuf,
    pub name: String,
    script: PathBuf,
    down: bool,
}

/// Whether the lab can run here: root, and the tools it drives (under OPSBOX_STRICT a
/// missing tool fails the test; not being root is always a skip).
pub fn available(extra_tools: &[&str]) -> bool {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: the fleet lab needs root (namespaces, mounts, cgroups)");
        return false;
    }
    if std::env::var_os("OPSBOX_RUNNER").is_some_and(|r| !r.is_empty()) {
        eprintln!("skipped: the lab's hosts run opsbox natively, not under $OPSBOX_RUNNER");
        return false;
    }
    let mut tools = vec![
        "ip",
        "nsenter",
        "unshare",
        "setpriv",
        "ssh",
        "ssh-keygen",
        "sshd",
        "sudo",
        "gcc",
        "dpkg-deb",
        "mknod",
    ];
    tools.extend_from_slice(extra_tools);
    let found = tools.iter().filter(|t| support::have_tool(t)).count();
    found == tools.len()
}

impl Lab {
    /// `scripts/fleetlab up ARGS...` in a state dir of its own; panics (after `down`) if
    /// the lab does not come up.
    pub fn up(tag: &str, args: &[&str]) -> Lab {
        let dir = PathBuf::from(format!("/run/opsbox-fleetlab-{tag}-{}", std::process::id()));
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let lab = Lab {
            dir,
            name,
            script: support::root().join("scripts/fleetlab"),
            down: false,
        };
        let t = Instant::now();
        let out = support::run(lab.cmd("up").args(args));
        eprintln!(
            "fleetlab up {}: {:.1} s\n{}",
            args.join(" "),
            t.elapsed().as_secs_f64(),
            support::stderr(&out).trim_end()
        );
        assert_eq!(
            support::code(&out),
            0,
            "fleetlab up failed:\n{}{}",
            support::stdout(&out),
            support::stderr(&out)
        );
        lab
    }

    /// A lab not booted yet (for tests of `up` itself); dropping it runs `down`.
    pub fn unbooted(tag: &str) -> Lab {
        let dir = PathBuf::from(format!("/run/opsbox-fleetlab-{tag}-{}", std::process::id()));
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        Lab {
            dir,
            name,
            script: support::root().join("scripts/fleetlab"),
            down: false,
        }
    }

    /// `scripts/fleetlab VERB` with this lab's state dir.
    pub fn cmd(&self, verb: &str) -> Command {
        let mut c = Command::new(&self.script);
        c.arg(verb).env("FLEETLAB_DIR", &self.dir);
        c
    }

    /// The hosts, as `fleetlab hosts` says: (name, address).
    pub fn hosts(&self) -> Vec<(String, String)> {
        let out = support::run(&mut self.cmd("hosts"));
        assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
        support::stdout(&out)
            .lines()
            .map(|l| {
                let (n, a) = l.split_once(' ').expect("NAME ADDRESS");
                (n.to_string(), a.to_string())
            })
            .collect()
    }

    /// Run a shell command on `host` over ssh (as root, or as `user`), with `stdin`.
    pub fn ssh_full(&self, user: Option<&str>, host: &str, script: &str, stdin: &[u8]) -> Output {
        let mut c = self.cmd("ssh");
        if let Some(u) = user {
            c.args(["--user", u]);
        }
        c.arg(host)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("run fleetlab ssh");
        {
            let mut i = child.stdin.take().unwrap();
            // a command that does not read its stdin closes it early: not an error
            let _ = i.write_all(stdin);
        }
        child.wait_with_output().expect("wait for fleetlab ssh")
    }

    pub fn ssh(&self, host: &str, script: &str) -> Output {
        self.ssh_full(None, host, script, b"")
    }

    /// `ssh` that must succeed; its stdout.
    pub fn ok(&self, host: &str, script: &str) -> String {
        let out = self.ssh(host, script);
        assert_eq!(
            support::code(&out),
            0,
            "{host}: {script}\nstdout: {}\nstderr: {}",
            support::stdout(&out),
            support::stderr(&out)
        );
        support::stdout(&out)
    }

    /// `fleetlab ansible-playbook`-style runs: VERB is `ansible` or `playbook`.
    pub fn ansible(&self, verb: &str, args: &[&str]) -> Output {
        let t = Instant::now();
        let out = support::run(self.cmd(verb).args(args).env("ANSIBLE_NOCOLOR", "1"));
        eprintln!(
            "fleetlab {verb} {}: {:.1} s",
            args.join(" "),
            t.elapsed().as_secs_f64()
        );
        out
    }

    /// The network namespaces of this lab (by name) and their inodes.
    fn netns(&self) -> Vec<(String, u64)> {
        let out = support::run(Command::new("ip").args(["netns", "list"]));
        support::stdout(&out)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&format!("{}-", self.name)))
            .map(|n| {
                let ino = std::fs::metadata(Path::new("/run/netns").join(n))
                    .map(|m| m.ino())
                    .unwrap_or(0);
                (n.to_string(), ino)
            })
            .collect()
    }

    fn cgroup_dir(&self) -> PathBuf {
        let unified = Path::new("/sys/fs/cgroup/unified");
        if unified.join("cgroup.procs").exists() {
            unified.join(&self.name)
        } else {
            Path::new("/sys/fs/cgroup").join(&self.name)
        }
    }

    /// `fleetlab down`, then check that nothing of the lab is left: no network namespace,
    /// no mount, no process (by PID, network namespace or cgroup), no cgroup, no state dir.
    pub fn down(&mut self) {
        let netns = self.netns();
        assert!(
            netns.iter().any(|(n, _)| n.ends_with("-sw")),
            "the lab's switch namespace is missing before down: {netns:?}"
        );
        let mut pids = Vec::new();
        for (h, _) in self.hosts() {
            let out = support::run(self.cmd("pid").arg(&h));
            if let Ok(p) = support::stdout(&out).trim().parse::<u32>() {
                pids.push(p);
            }
        }
        let inodes: BTreeSet<String> = netns.iter().map(|(_, i)| format!("net:[{i}]")).collect();
        let cg = format!("::/{}/", self.name);
        // the lab's processes before down: by PID 1s, network namespace or cgroup (with
        // their start times: after down, PIDs and namespace inodes may be reused)
        let before: Vec<(u32, String, String)> = processes()
            .into_iter()
            .filter(|p| pids.contains(&p.0) || inodes.contains(&p.2) || p.3.contains(&cg))
            .map(|p| (p.0, p.1, p.4))
            .collect();
        assert!(
            before.len() > pids.len(),
            "the lab's processes were not found before down: {before:?}"
        );
        let t = Instant::now();
        let out = support::run(&mut self.cmd("down"));
        self.down = true;
        eprintln!("fleetlab down: {:.1} s", t.elapsed().as_secs_f64());
        assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
        assert!(
            support::stderr(&out).is_empty(),
            "down complained: {}",
            support::stderr(&out)
        );
        assert!(
            self.netns().is_empty(),
            "namespaces left: {:?}",
            self.netns()
        );
        let now = processes();
        let left: Vec<String> = now
            .iter()
            .filter(|p| p.3.contains(&cg) || before.iter().any(|b| b.0 == p.0 && b.1 == p.1))
            .map(|p| format!("{} {}", p.0, p.4))
            .collect();
        assert!(left.is_empty(), "processes of the lab left: {left:?}");
        let dir = self.dir.to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let stale: Vec<&str> = mounts
            .lines()
            .filter(|l| l.contains(&dir) || l.contains(&format!("/run/netns/{}-", self.name)))
            .collect();
        assert!(stale.is_empty(), "mounts of the lab left: {stale:?}");
        assert!(!self.dir.exists(), "{} is left", self.dir.display());
        assert!(
            !self.cgroup_dir().exists(),
            "{} is left",
            self.cgroup_dir().display()
        );
    }
}

/// Every live process: (pid, start time, network namespace, cgroup file, command line).
fn processes() -> Vec<(u32, String, String, String, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // a zombie is dead: killed, not yet reaped by its parent (orphans go to this
        // machine's PID 1, which reaps when it gets to it)
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next());
        if matches!(state, Some("Z" | "X")) {
            continue;
        }
        // field 22, counted after the command name's closing parenthesis (field 2)
        let start = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(19))
            .unwrap_or("")
            .to_string();
        let net = std::fs::read_link(e.path().join("ns/net"))
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cgroup = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        let cmd = std::fs::read_to_string(e.path().join("cmdline"))
            .unwrap_or_default()
            .replace('\0', " ");
        v.push((pid, start, net, cgroup, cmd));
    }
    v
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.down {
            let out = self.cmd("down").output();
            if let Ok(o) = out {
                eprintln!("fleetlab down (test ended early): {}", support::stderr(&o));
            }
        }
    }
}
