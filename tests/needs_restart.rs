//! needs-restart against real processes: a small shared library and a daemon linking it are
//! built with cc at test time, started in several copies, and the library is then replaced
//! the ways upgrades and containers do. The applet skips temporary directories unless
//! `--include-temp`: when the build directory is one (a clone under /tmp), the scans opt it
//! in explicitly, so the suite passes from any clone path.
//! Scans are restricted to the test's own processes (`--pid`), so the host's own stale
//! daemons never change an answer. Every process is killed by a guard, also on panic.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use support::*;

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Started processes, ended on drop (also on panic): SIGTERM (the fixtures then kill and
/// reap their own children, so none is left to init), and after 5 s SIGKILL to the group.
#[derive(Default)]
struct Procs(Vec<Child>);

impl Procs {
    /// Start `cmd` in its own process group; return the PIDs its "ready" line names.
    fn start(&mut self, cmd: &mut Command) -> Vec<u32> {
        use std::os::unix::process::CommandExt;
        let mut child = cmd
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let out = child.stdout.take().unwrap();
        self.0.push(child);
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        assert!(line.starts_with("ready"), "{cmd:?} said {line:?}");
        line.split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect()
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            unsafe {
                kill(c.id() as i32, 15);
            }
        }
        for c in &mut self.0 {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while matches!(c.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            unsafe {
                kill(-(c.id() as i32), 9);
            }
            let _ = c.wait();
        }
    }
}

/// The compiled fixtures, built once per test run.
struct Build {
    dir: PathBuf,
    prog: PathBuf,
    decoy: PathBuf,
    lib_v1: PathBuf,
    lib_v2: PathBuf,
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/needs-restart").join(name)
}

fn cc(args: &[&str]) {
    let out = run(Command::new("cc").args(args));
    assert!(out.status.success(), "cc {args:?}: {}", stderr(&out));
}

fn build() -> Option<&'static Build> {
    static B: OnceLock<Option<Build>> = OnceLock::new();
    B.get_or_init(|| {
        if !have_tool("cc") {
            return None;
        }
        // under target/ (in a clone under /tmp a temporary directory: see needs_restart());
        // OPSBOX_TEST_TMPDIR puts it elsewhere, to try that without another build
        let base = std::env::var_os("OPSBOX_TEST_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
        let dir = base.join(format!("needs-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("v1")).unwrap();
        std::fs::create_dir_all(dir.join("v2")).unwrap();
        let s = |p: &Path| p.to_str().unwrap().to_string();
        let lib_v1 = dir.join("v1/libnrt.so");
        let lib_v2 = dir.join("v2/libnrt.so");
        let src = s(&fixture("libnrt.c"));
        cc(&[
            "-shared",
            "-fPIC",
            "-O1",
            "-DNRT_VERSION=1",
            "-o",
            &s(&lib_v1),
            &src,
        ]);
        cc(&[
            "-shared",
            "-fPIC",
            "-O1",
            "-DNRT_VERSION=2",
            "-o",
            &s(&lib_v2),
            &src,
        ]);
        let prog = dir.join("prog");
        cc(&[
            "-O1",
            "-o",
            &s(&prog),
            &s(&fixture("prog.c")),
            "-L",
            &s(&dir.join("v1")),
            "-lnrt",
        ]);
        let decoy = dir.join("decoy");
        cc(&["-O1", "-o", &s(&decoy), &s(&fixture("decoy.c"))]);
        Some(Build {
            dir,
            prog,
            decoy,
            lib_v1,
            lib_v2,
        })
    })
    .as_ref()
}

/// A test's own directory with its own copy of the v1 library in `lib/`.
fn workdir(b: &Build, name: &str) -> PathBuf {
    let d = b.dir.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("lib")).unwrap();
    std::fs::copy(&b.lib_v1, d.join("lib/libnrt.so")).unwrap();
    d
}

/// The daemon with `kids` children, loading the library from `libdir`.
fn daemon(b: &Build, libdir: &Path, kids: u32) -> Command {
    let mut c = Command::new(&b.prog);
    c.arg(kids.to_string()).env("LD_LIBRARY_PATH", libdir);
    c
}

/// Upgrade the way dpkg and rpm do: write the new file beside it, rename over.
fn rename_over(new: &Path, dest: &Path) {
    let tmp = dest.with_extension("so.dpkg-new");
    std::fs::copy(new, &tmp).unwrap();
    std::fs::rename(&tmp, dest).unwrap();
}

/// Whether needs-restart skips `p` by default (its temporary directories).
fn temp_like(p: &Path) -> bool {
    let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    ["/tmp", "/var/tmp", "/run"]
        .iter()
        .any(|t| p.starts_with(t))
}

/// needs-restart on `pids`, without any opt-in.
fn needs_restart_plain(pids: &[u32]) -> Command {
    let mut c = applet("needs-restart");
    if Path::new("/run/systemd/system").is_dir() {
        c.arg("--by-process");
    }
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    c.arg("--pid").arg(list.join(","));
    c
}

/// Group by process tree: the test processes share one systemd unit when systemd runs.
/// The fixtures' directory is opted in when it is a temporary one.
fn needs_restart(pids: &[u32]) -> Command {
    let mut c = applet("needs-restart");
    if build().is_some_and(|b| temp_like(&b.dir)) {
        c.arg("--include-temp");
    }
    if Path::new("/run/systemd/system").is_dir() {
        c.arg("--by-process");
    }
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    c.arg("--pid").arg(list.join(","));
    c
}

fn json_lines(out: &std::process::Output) -> (Vec<Value>, Value) {
    let mut v: Vec<Value> = stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let summary = v.pop().expect("a summary line");
    assert_eq!(summary["type"], "summary", "{summary}");
    for f in &v {
        assert_eq!(f["type"], "finding", "{f}");
    }
    (v, summary)
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

fn pids_of(f: &Value) -> Vec<u32> {
    f["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn rename_over_is_deleted_grouped_once_per_parent() {
    let Some(b) = build() else { return };
    let d = workdir(b, "rename");
    let lib = d.join("lib/libnrt.so");
    let mut procs = Procs::default();
    let a = procs.start(&mut daemon(b, &d.join("lib"), 2));
    let c = procs.start(&mut daemon(b, &d.join("lib"), 2));
    assert_eq!((a.len(), c.len()), (3, 3));
    let all: Vec<u32> = a.iter().chain(&c).copied().collect();

    // before the upgrade: nothing stale
    let out = run(needs_restart(&all).arg("--json"));
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let (findings, summary) = json_lines(&out);
    assert!(findings.is_empty());
    assert_eq!(summary["processes"], 6);
    assert_eq!(summary["unreadable"], 0);

    rename_over(&b.lib_v2, &lib);
    let out = run(needs_restart(&all).arg("--json"));
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let (findings, _) = json_lines(&out);
    assert_eq!(findings.len(), 2, "one finding per parent: {findings:?}");
    let mut groups: Vec<Vec<u32>> = findings.iter().map(pids_of).collect();
    groups.sort();
    let mut want = vec![sorted(a.clone()), sorted(c.clone())];
    want.sort();
    assert_eq!(groups, want);
    for f in &findings {
        assert_eq!(f["kind"], "none", "{f}");
        assert_eq!(f["unit"], Value::Null);
        assert_eq!(f["exe"], b.prog.to_str().unwrap());
        assert_eq!(f["uid"], 0);
        assert!(f["start_time"].as_u64().unwrap() > 1_600_000_000, "{f}");
        assert_eq!(
            f["files"],
            serde_json::json!([{"path": lib.to_str().unwrap(), "reason": "deleted"}])
        );
    }

    // the text form names the file and the process tree
    let out = run(&mut needs_restart(&all));
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains(&format!("process {}: pid ", a[0])), "{text}");
    assert!(
        text.contains(&format!("  deleted  {}\n", lib.display())),
        "{text}"
    );
    assert!(
        text.ends_with("2 to restart (6 processes); 6 processes scanned, 0 unreadable\n"),
        "{text}"
    );

    // --pids: every PID, ascending; --units: no systemd unit here
    let out = run(needs_restart(&all).arg("--pids"));
    let got: Vec<u32> = stdout(&out).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(got, sorted(all.clone()));

    // --batch: needrestart's keys, loose processes as NEEDRESTART-PID; exit 0 as
    // needrestart -b gives (monitoring reads the lines)
    let out = run(needs_restart(&all).arg("--batch"));
    assert_eq!(code(&out), 0);
    let batch = stdout(&out);
    assert!(batch.starts_with("NEEDRESTART-VER: opsbox-"), "{batch}");
    assert!(batch.contains("\nNEEDRESTART-KCUR: "), "{batch}");
    let line = batch
        .lines()
        .find(|l| l.starts_with("NEEDRESTART-PID: prog="))
        .unwrap_or_else(|| panic!("{batch}"));
    let listed: Vec<u32> = line["NEEDRESTART-PID: prog=".len()..]
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(sorted(listed), sorted(all.clone()));

    // --plan: nothing systemctl can restart, each tree named once for a manual restart
    let out = run(needs_restart(&all).arg("--plan"));
    let plan = stdout(&out);
    assert!(plan.starts_with("#!/bin/sh\n"), "{plan}");
    assert_eq!(plan.matches("# manual: pid ").count(), 2, "{plan}");
    assert!(!plan.lines().any(|l| l.starts_with("systemctl")), "{plan}");

    // -q: the answer only
    let out = run(needs_restart(&all).arg("-q"));
    assert_eq!(
        (code(&out), stdout(&out).as_str(), stderr(&out).as_str()),
        (1, "", "")
    );
}

#[test]
fn deleted_executable_is_found() {
    let Some(b) = build() else { return };
    let d = workdir(b, "exe");
    let exe = d.join("daemon");
    std::fs::copy(&b.prog, &exe).unwrap();
    let mut procs = Procs::default();
    let mut cmd = Command::new(&exe);
    cmd.arg("0").env("LD_LIBRARY_PATH", d.join("lib"));
    let p = procs.start(&mut cmd);
    let new = d.join("daemon.new");
    std::fs::copy(&b.prog, &new).unwrap();
    std::fs::rename(&new, &exe).unwrap();
    let out = run(needs_restart(&p).arg("--json"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let (f, _) = json_lines(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["exe"], exe.to_str().unwrap());
    assert_eq!(
        f[0]["files"],
        serde_json::json!([{"path": exe.to_str().unwrap(), "reason": "deleted"}])
    );
}

#[test]
fn lib_filter_answers_the_cve_question() {
    let Some(b) = build() else { return };
    let d = workdir(b, "libfilter");
    let mut procs = Procs::default();
    let p = procs.start(&mut daemon(b, &d.join("lib"), 1));
    rename_over(&b.lib_v2, &d.join("lib/libnrt.so"));
    let out = run(needs_restart(&p).args(["--lib", "libnrt", "--pids"]));
    assert_eq!(code(&out), 1);
    assert_eq!(
        stdout(&out),
        format!("{}\n{}\n", p[0].min(p[1]), p[0].max(p[1]))
    );
    let out = run(needs_restart(&p).args(["--lib", "libgnutls", "--pids"]));
    assert_eq!((code(&out), stdout(&out).as_str()), (0, ""));
    // --ignore hides the file, so nothing is left
    let out = run(needs_restart(&p).args(["--ignore", "libnrt\\.so$"]));
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    // --user: root's processes are in, another user's are not
    let out = run(needs_restart(&p).args(["--user", "root", "-q"]));
    assert_eq!(code(&out), 1);
    let out = run(needs_restart(&p).args(["--user", "65534", "-q"]));
    assert_eq!(code(&out), 0);
    // a PID that does not exist (above the kernel's limit) is said so, not an error
    let out = run(applet("needs-restart").args(["--pid", "4194305"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--pid 4194305: no such process"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bind_mount_over_the_path_is_replaced() {
    let Some(b) = build() else { return };
    if !have_tool("unshare") {
        return;
    }
    let d = workdir(b, "bind");
    let lib = d.join("lib/libnrt.so");
    let ready = d.join("ready");
    let script = r#"LD_LIBRARY_PATH="$D/lib" "$PROG" 1 > "$D/ready" &
p=$!
trap 'kill -TERM $p; wait $p; exit 0' TERM
while ! [ -s "$D/ready" ]; do sleep 0.02; done
mount --bind "$NEW" "$LIB" || exit 1
cat "$D/ready"
wait"#;
    let mut procs = Procs::default();
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("D", &d)
        .env("PROG", &b.prog)
        .env("NEW", &b.lib_v2)
        .env("LIB", &lib);
    let p = procs.start(&mut cmd);
    assert_eq!(
        p.len(),
        2,
        "{}",
        std::fs::read_to_string(&ready).unwrap_or_default()
    );
    // in our namespace the path still names the mapped file: only its own root tells
    let out = run(needs_restart(&p).arg("--json"));
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let (f, _) = json_lines(&out);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(sorted(pids_of(&f[0])), sorted(p.clone()));
    assert_eq!(
        f[0]["files"],
        serde_json::json!([{"path": lib.to_str().unwrap(), "reason": "replaced"}])
    );
}

/// Copy a program and what it loads into `root`, at the same paths.
fn populate_root(root: &Path, prog: &Path, libdir: &Path) {
    let ldd = run(Command::new("ldd").arg(prog).env("LD_LIBRARY_PATH", libdir));
    assert!(ldd.status.success(), "{}", stderr(&ldd));
    let mut files = vec![prog.to_path_buf()];
    for l in stdout(&ldd).lines() {
        if let Some(p) = l.split_whitespace().find(|w| w.starts_with('/')) {
            files.push(PathBuf::from(p));
        }
    }
    for f in files {
        let dest = root.join(f.strip_prefix("/").unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

/// The (device, inode) columns of the executable mapping of `path` in a maps text.
fn mapped_inode(maps: &str, path: &Path) -> Option<u64> {
    maps.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 6 && f[5] == path.to_str().unwrap() && f[1].contains('x'))
            .then(|| f[4].parse().unwrap())
    })
}

fn inode(p: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap())
}

/// Scan `pids`: clean; upgrade `lib` by rename-over; scan again: one finding, returned.
fn clean_then_upgraded(pids: &[u32], new: &Path, lib: &Path) -> Value {
    let out = run(needs_restart(pids).arg("--json"));
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    rename_over(new, lib);
    let out = run(needs_restart(pids).arg("--json"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let (mut f, _) = json_lines(&out);
    assert_eq!(f.len(), 1, "{f:?}");
    f.remove(0)
}

#[test]
fn container_root_is_checked_against_its_own_files() {
    let Some(b) = build() else { return };
    if !have_tool("unshare") || !have_tool("pivot_root") || !have_tool("ldd") {
        return;
    }
    let d = workdir(b, "container");
    let libdir = d.join("lib");
    let root = d.join("root");
    populate_root(&root, &b.prog, &libdir);
    std::fs::create_dir_all(root.join(".old")).unwrap();
    std::fs::create_dir_all(root.join("dev")).unwrap();
    std::fs::write(root.join("dev/null"), "").unwrap();
    // the container's own copy is v2: another inode than the host's file at that path
    let inner = root
        .join(libdir.strip_prefix("/").unwrap())
        .join("libnrt.so");
    std::fs::copy(&b.lib_v2, &inner).unwrap();
    // a mount namespace whose root is `root` (pivot_root, as container runtimes do)
    // (sh gives a background job /dev/null for stdin: the container gets one)
    let script = r#"mount --bind "$R" "$R" && mount --bind /dev/null "$R/dev/null" &&
cd "$R" && pivot_root . .old || exit 1
LD_LIBRARY_PATH="$LIBDIR" "$PROG" 1 &
p=$!
trap 'kill -TERM $p; wait $p; exit 0' TERM
wait"#;
    let mut procs = Procs::default();
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("R", &root)
        .env("LIBDIR", &libdir)
        .env("PROG", &b.prog);
    let p = procs.start(&mut cmd);
    assert_eq!(p.len(), 2);
    // seen from here, the daemon maps the host's path, but its own file
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", p[0])).unwrap();
    let host_lib = libdir.join("libnrt.so");
    let mapped = mapped_inode(&maps, &host_lib).unwrap_or_else(|| panic!("{maps}"));
    assert_eq!(mapped, inode(&inner));
    assert_ne!(
        mapped,
        inode(&host_lib),
        "a host-side stat would call it replaced"
    );
    // no false positive (the path is stat'ed inside its root); an upgrade inside the
    // container is found, once for the daemon and its child
    let f = clean_then_upgraded(&p, &b.lib_v1, &inner);
    assert_eq!(sorted(pids_of(&f)), sorted(p.clone()));
    assert_eq!(f["foreign_root"], true);
    assert_eq!(
        f["files"],
        serde_json::json!([{"path": host_lib.to_str().unwrap(), "reason": "deleted"}])
    );
    let text = stdout(&run(&mut needs_restart(&p)));
    assert!(text.contains("[own root: checked there]"), "{text}");
}

#[test]
fn chrooted_daemon_paths_are_ours() {
    let Some(b) = build() else { return };
    if !have_tool("chroot") || !have_tool("ldd") {
        return;
    }
    let d = workdir(b, "chroot");
    let libdir = d.join("lib");
    let root = d.join("root");
    populate_root(&root, &b.prog, &libdir);
    let inner = root
        .join(libdir.strip_prefix("/").unwrap())
        .join("libnrt.so");
    std::fs::copy(&b.lib_v2, &inner).unwrap();
    let mut procs = Procs::default();
    let mut cmd = Command::new("chroot");
    cmd.arg(&root)
        .arg(&b.prog)
        .arg("1")
        .env("LD_LIBRARY_PATH", &libdir);
    let p = procs.start(&mut cmd);
    // in our mount namespace the kernel shows the jailed file by its full path from our
    // root (as for postfix's chroot): it is checked there, not under the jail again
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", p[0])).unwrap();
    assert_eq!(mapped_inode(&maps, &inner), Some(inode(&inner)), "{maps}");
    let f = clean_then_upgraded(&p, &b.lib_v1, &inner);
    assert_eq!(f["foreign_root"], false);
    assert_eq!(
        f["files"],
        serde_json::json!([{"path": inner.to_str().unwrap(), "reason": "deleted"}])
    );
}

#[test]
fn decoys_are_ignored() {
    let Some(b) = build() else { return };
    let mut procs = Procs::default();
    let p = procs.start(&mut Command::new(&b.decoy));
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", p[0])).unwrap();
    // the decoys are really there, executable and "(deleted)"
    for want in ["/memfd:nrtdecoy (deleted)", "/dev/zero (deleted)", "/SYSV"] {
        assert!(
            maps.lines().any(|l| l.contains(want)
                && l.split_whitespace().nth(1).is_some_and(|p| p.contains('x'))),
            "{want} not mapped: {maps}"
        );
    }
    let out = run(needs_restart_plain(&p).arg("--json"));
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let (f, summary) = json_lines(&out);
    assert!(f.is_empty(), "{f:?}");
    assert_eq!(summary["processes"], 1);
}

#[test]
fn processes_exiting_mid_scan_are_no_error() {
    let Some(b) = build() else { return };
    let d = workdir(b, "churn");
    let mut procs = Procs::default();
    let mut all = Vec::new();
    for _ in 0..6 {
        all.extend(procs.start(&mut daemon(b, &d.join("lib"), 3)));
    }
    rename_over(&b.lib_v2, &d.join("lib/libnrt.so"));
    let out = run(needs_restart(&all).arg("-q"));
    assert_eq!(code(&out), 1, "all stale before the killing starts");
    // kill them one by one while scans run (children before their parent, which reaps
    // them); and keep short-lived processes coming
    let victims: Vec<u32> = all.iter().rev().copied().collect();
    let killer = std::thread::spawn(move || {
        for p in victims {
            unsafe {
                kill(p as i32, 9);
            }
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
    });
    let mut churn = Command::new("sh");
    churn
        .args([
            "-c",
            "trap 'exit 0' TERM; echo ready; while :; do /bin/true; done",
        ])
        .stdin(Stdio::null());
    procs.start(&mut churn);
    for _ in 0..15 {
        let out = run(needs_restart(&all).arg("--json"));
        let c = code(&out);
        assert!(c == 0 || c == 1, "exit {c}: {}", stderr(&out));
        // nothing but "gone" notes for the PIDs already killed
        let err = stderr(&out);
        assert!(
            err.lines().all(|l| l.ends_with(": no such process")),
            "{err}"
        );
        json_lines(&out);
        // a full scan too (the host may have stale daemons of its own: any answer but an error)
        let out = run(applet("needs-restart").arg("-q"));
        assert!(code(&out) <= 3, "{}", stderr(&out));
    }
    killer.join().unwrap();
    let out = run(needs_restart(&all).arg("--json"));
    assert_eq!(code(&out), 0, "all gone: {}", stdout(&out));
}

#[test]
fn unreadable_processes_answer_3() {
    let Some(b) = build() else { return };
    if !have_tool("setpriv") {
        return;
    }
    let d = workdir(b, "unreadable");
    let mut procs = Procs::default();
    let p = procs.start(&mut daemon(b, &d.join("lib"), 0));
    let links = support::links_dir();
    // as nobody, root's daemon cannot be read: not "clean", not an error
    let out = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(links.join("needs-restart"))
        .args(["--pid", &p[0].to_string()]));
    assert_eq!(code(&out), 3, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("1 process(es) could not be read"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("1 unreadable"), "{}", stdout(&out));
    // --ignore-unreadable: counted, but the answer is the scan's
    let out = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(links.join("needs-restart"))
        .args(["--ignore-unreadable", "--json", "--pid", &p[0].to_string()]));
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let (_, summary) = json_lines(&out);
    assert_eq!(summary["unreadable"], 1);
    assert_eq!(summary["exit"], 0);
}

/// A process even root cannot read (this machine's PID 1 in some sandboxes) is named but
/// does not pin a clean run at 3.
#[test]
fn what_root_cannot_read_does_not_pin_unknown() {
    if !rustix_root() || std::fs::read("/proc/1/maps").is_ok() {
        eprintln!("skipped: PID 1 is readable here (or not root): nothing root cannot read");
        return;
    }
    let out = run(applet("needs-restart").args(["--pid", "1"]));
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("1 process(es) could not be read (pid 1) even as root"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("1 unreadable"), "{}", stdout(&out));
}

fn rustix_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// `--pid`/`--user` on workers still name the master to restart (the process that
/// re-forks them), not the workers.
#[test]
fn filters_name_the_master_not_the_workers() {
    let Some(b) = build() else { return };
    let d = workdir(b, "master");
    let mut procs = Procs::default();
    let mut cmd = daemon(b, &d.join("lib"), 2);
    cmd.env("NRT_KID_UID", "65534");
    let p = procs.start(&mut cmd);
    let (master, workers) = (p[0], &p[1..]);
    rename_over(&b.lib_v2, &d.join("lib/libnrt.so"));
    for args in [
        vec!["--pid".to_string(), workers[0].to_string()],
        vec!["--user".to_string(), "65534".to_string()],
    ] {
        let mut c = needs_restart(&p);
        // the --pid of needs_restart() lists all three: narrow it to the workers' filter
        let mut argv: Vec<String> = c
            .get_args()
            .map(|a| a.to_str().unwrap().to_string())
            .collect();
        let at = argv.iter().position(|a| a == "--pid").unwrap();
        argv.drain(at..at + 2);
        if args[0] == "--user" {
            argv.extend([
                "--pid".to_string(),
                p.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
            ]);
        }
        c = applet("needs-restart");
        c.args(&argv).args(&args);
        let out = run(c.arg("--json"));
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        let (f, _) = json_lines(&out);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0]["restart_pid"], master, "{args:?}: {f:?}");
        assert!(pids_of(&f[0]).iter().all(|p| workers.contains(p)), "{f:?}");
        c = applet("needs-restart");
        c.args(&argv).args(&args);
        let text = stdout(&run(&mut c));
        assert!(
            text.starts_with(&format!("process {master}: pid ")),
            "{args:?}: {text}"
        );
    }
}

/// --nagios: needrestart's plugin line and exit codes. The kernel part needs a kernel
/// image under /boot: a private mount namespace gives it one named as the running kernel.
#[test]
fn nagios_line_and_status() {
    let Some(b) = build() else { return };
    if !have_tool("unshare") || !rustix_root() {
        return;
    }
    let d = workdir(b, "nagios");
    let mut procs = Procs::default();
    let p = procs.start(&mut daemon(b, &d.join("lib"), 0));
    let nagios = |pids: &[u32]| {
        let nr = needs_restart(pids);
        run(Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount -t tmpfs none /boot && touch "/boot/vmlinuz-$(uname -r)" && exec "$0" "$@""#)
            .arg(nr.get_program())
            .args(nr.get_args())
            .arg("--nagios"))
    };
    let kernel = stdout(&run(Command::new("uname").arg("-r")));
    let out = nagios(&p);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // inside a container (as needrestart, no kernel check there) the kernel part is absent
    let (k, kperf) = if stdout(&out).starts_with("OK - Kernel: ") {
        (format!("Kernel: {}, ", kernel.trim()), "Kernel=0;0;;0;2 ")
    } else {
        eprintln!("in a container: no kernel part");
        (String::new(), "")
    };
    assert_eq!(
        stdout(&out),
        format!(
            "OK - {k}Services: none, Containers: none, Sessions: none|{kperf}Services=0;;0;0 Containers=0;;0;0 Sessions=0;0;;0\n"
        )
    );
    rename_over(&b.lib_v2, &d.join("lib/libnrt.so"));
    let out = nagios(&p);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("WARN - {k}Services: 1 (!), Containers: none, Sessions: none|{kperf}Services=1;;0;0 Containers=0;;0;0 Sessions=0;0;;0\nServices:\n- ")),
        "{text}"
    );
    // every perfdata item is label=value;warn;crit;min[;max] with a numeric value
    let perf = text.lines().next().unwrap().split_once('|').unwrap().1;
    for item in perf.split(' ') {
        let (label, data) = item.split_once('=').unwrap();
        assert!(label.chars().all(|c| c.is_ascii_alphabetic()), "{item}");
        let fields: Vec<&str> = data.split(';').collect();
        assert!(
            fields.len() >= 4 && fields[0].parse::<u32>().is_ok(),
            "{item}"
        );
    }
}

/// `-r` with Debian's flag file present (in a private mount namespace: a tmpfs over /run)
/// answers 2, which wins over 1 (a restart is also needed), and says why; without `-r` the
/// same state answers 1.
#[test]
fn reboot_flag_answers_2_and_wins_over_restart() {
    let Some(b) = build() else { return };
    if !have_tool("unshare") {
        return;
    }
    let d = workdir(b, "reboot");
    let mut procs = Procs::default();
    let p = procs.start(&mut daemon(b, &d.join("lib"), 0));
    rename_over(&b.lib_v2, &d.join("lib/libnrt.so"));
    let in_ns = |args: &[&str]| {
        let nr = needs_restart(&p[..1]);
        run(Command::new("unshare")
            .args(["-m", "sh", "-c"])
            .arg(r#"mount -t tmpfs none /run && touch /run/reboot-required && exec "$0" "$@""#)
            .arg(nr.get_program())
            .args(nr.get_args())
            .args(args))
    };
    let out = in_ns(&["-r"]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("reboot needed: /run/reboot-required is present"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("1 to restart"), "{}", stdout(&out));
    let out = in_ns(&["-r", "--json"]);
    let (findings, summary) = json_lines(&out);
    assert_eq!(findings.len(), 1);
    assert_eq!(summary["reboot_needed"], true);
    assert_eq!(
        summary["reboot_reasons"],
        serde_json::json!(["/run/reboot-required is present"])
    );
    let out = in_ns(&[]);
    assert_eq!(code(&out), 1, "without -r the reboot checks are not made");
}

#[test]
fn usage_errors() {
    for (args, needle) in [
        (&["--json", "--plan"][..], "exclude each other"),
        (&["--pid", "abc"][..], "not a process id"),
        (&["--ignore", "(unclosed"][..], "--ignore"),
        (&["--user", "no-such-user-here"][..], "no such user"),
        (&["--frobnicate"][..], "frobnicate"),
    ] {
        let out = run(applet("needs-restart").args(args));
        assert_eq!(code(&out), 64, "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("needs-restart: "),
            "{}",
            stderr(&out)
        );
    }
    let out = run(applet("needs-restart").arg("--help"));
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("--reboot-hint"));
}

/// Bytes a terminal acts on (every control character but the line feed ending each line).
fn raw_controls(s: &[u8]) -> Vec<u8> {
    s.iter()
        .copied()
        .filter(|&c| (c < 0x20 && c != b'\n') || c == 0x7f)
        .collect()
}

/// #12: a deleted executable whose path holds a newline, CR, ESC and `$(...)`: no output
/// form lets it out raw. The plan passes `sh -n` and, run with sh, runs nothing injected;
/// `-b` has no forged key line; text and stderr have no raw control bytes; JSON keeps the
/// exact path.
#[test]
fn hostile_executable_paths_are_escaped_everywhere() {
    let Some(b) = build() else { return };
    let d = workdir(b, "hostile");
    let evil = d.join("x\ntouch INJECTED\n$(touch INJECTED2)\r\x1b[2J#");
    std::fs::create_dir_all(&evil).unwrap();
    let exe = evil.join("nrtd\nNEEDRESTART-SVC: forged.service\n`touch INJECTED3`");
    std::fs::copy(&b.prog, &exe).unwrap();
    let mut procs = Procs::default();
    let mut cmd = Command::new(&exe);
    cmd.arg("1").env("LD_LIBRARY_PATH", d.join("lib"));
    let p = procs.start(&mut cmd);
    std::fs::remove_file(&exe).unwrap();

    let out = run(needs_restart(&p).arg("--json"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let (f, _) = json_lines(&out);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["exe"], exe.to_str().unwrap());

    let out = run(&mut needs_restart(&p));
    assert_eq!(code(&out), 1);
    assert_eq!(raw_controls(&out.stdout), b"", "{}", stdout(&out));
    assert_eq!(raw_controls(&out.stderr), b"", "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("x\\ntouch INJECTED\\n$(touch INJECTED2)\\r\\e[2J#/nrtd\\nNEEDRESTART-SVC"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "{text}");

    let out = run(needs_restart(&p).arg("-b"));
    assert_eq!(raw_controls(&out.stdout), b"");
    let batch = stdout(&out);
    assert!(
        batch.lines().all(|l| l.starts_with("NEEDRESTART-")),
        "{batch}"
    );
    assert!(
        !batch
            .lines()
            .any(|l| l.contains("forged.service") && l.starts_with("NEEDRESTART-SVC")),
        "{batch}"
    );
    assert!(
        batch.contains(
            "NEEDRESTART-PID: nrtd\\nNEEDRESTART-SVC: forged.service\\n`touch INJECTED3`="
        ),
        "{batch}"
    );

    let out = run(needs_restart(&p).arg("--plan"));
    let plan = d.join("plan.sh");
    std::fs::write(&plan, &out.stdout).unwrap();
    assert_eq!(raw_controls(&out.stdout), b"");
    let check = run(Command::new("sh").arg("-n").arg(&plan));
    assert!(check.status.success(), "sh -n: {}", stderr(&check));
    let ran = run(Command::new("sh").arg(&plan).current_dir(&d));
    assert!(ran.status.success(), "{}", stderr(&ran));
    for f in ["INJECTED", "INJECTED2", "INJECTED3"] {
        assert!(
            !d.join(f).exists(),
            "the plan ran an injected command: {}",
            stdout(&out)
        );
    }
    assert!(stdout(&out).contains("# manual: pid "), "{}", stdout(&out));
    assert_eq!(f[0]["restart_pid"], p[0]);
}

/// #12 item 13: a live file really named `daemon (deleted)` is not stale; once it is
/// really replaced it is, under its own name.
#[test]
fn a_live_file_named_deleted_is_not_stale() {
    let Some(b) = build() else { return };
    let d = workdir(b, "named-deleted");
    let exe = d.join("daemon (deleted)");
    std::fs::copy(&b.prog, &exe).unwrap();
    let mut procs = Procs::default();
    let mut cmd = Command::new(&exe);
    cmd.arg("0").env("LD_LIBRARY_PATH", d.join("lib"));
    let p = procs.start(&mut cmd);
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", p[0])).unwrap();
    assert!(maps.contains("/daemon (deleted)\n"), "{maps}");
    let out = run(needs_restart(&p).arg("--json"));
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let (f, _) = json_lines(&out);
    assert!(f.is_empty(), "{f:?}");
    // now really replaced (rename over): reported under the file's own name
    let new = d.join("daemon.new");
    std::fs::copy(&b.prog, &new).unwrap();
    std::fs::rename(&new, &exe).unwrap();
    let out = run(needs_restart(&p).arg("--json"));
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let (f, _) = json_lines(&out);
    assert_eq!(f[0]["exe"], exe.to_str().unwrap());
    assert_eq!(
        f[0]["files"],
        serde_json::json!([{"path": exe.to_str().unwrap(), "reason": "deleted"}])
    );
}

/// Temporary directories are skipped by default and looked at with --include-temp.
#[test]
fn temp_dirs_only_with_include_temp() {
    let Some(b) = build() else { return };
    let d = tempfile::Builder::new()
        .prefix("nrt-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::create_dir_all(d.path().join("lib")).unwrap();
    let lib = d.path().join("lib/libnrt.so");
    std::fs::copy(&b.lib_v1, &lib).unwrap();
    let mut procs = Procs::default();
    let p = procs.start(&mut daemon(b, &d.path().join("lib"), 0));
    rename_over(&b.lib_v2, &lib);
    let out = run(needs_restart_plain(&p).arg("--json"));
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let out = run(needs_restart_plain(&p).args(["--json", "--include-temp"]));
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let (f, _) = json_lines(&out);
    assert_eq!(
        f[0]["files"],
        serde_json::json!([{"path": lib.to_str().unwrap(), "reason": "deleted"}])
    );
}

/// Ends a daemon an init script started (its PID in a file), also on panic.
struct PidFile(PathBuf);

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            unsafe {
                kill(pid, 15);
            }
        }
    }
}

/// The PIDs in the daemon's "ready" line.
fn ready_pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Without systemd, a process maps to the init script that restarts it: here the fallback
/// (a script named as the executable: the test daemon belongs to no package; the package
/// path is unit-tested, and against the real dpkg in initd's tests). Everything runs in
/// private mount namespaces where a scratch /etc/init.d holds the script and /run/systemd
/// (when present) is hidden under a tmpfs, so `service` and needs-restart see no systemd:
/// `service nrtd start` starts the daemon tree; --plan writes `service nrtd restart`,
/// --restart runs it: a new daemon (new PIDs) mapping the new library, after which
/// needs-restart answers 0.
#[test]
fn without_systemd_init_scripts_are_restarted() {
    let Some(b) = build() else { return };
    if !have_tool("unshare") || !have_tool("service") || !rustix_root() {
        return;
    }
    let d = workdir(b, "initd");
    let exe = d.join("nrtd");
    std::fs::copy(&b.prog, &exe).unwrap();
    let initd = d.join("init.d");
    std::fs::create_dir_all(&initd).unwrap();
    let script = initd.join("nrtd");
    // `service` runs scripts with a cleared environment: paths are written in
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
# nrtd: the test daemon, started and stopped as a SysV init script does
D='{}'
case "$1" in
start)
  rm -f "$D/ready"
  setsid env LD_LIBRARY_PATH="$D/lib" "$D/nrtd" 1 > "$D/ready" 2>/dev/null < /dev/null &
  echo $! > "$D/pid"
  i=0; while ! [ -s "$D/ready" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done ;;
stop)
  p=$(cat "$D/pid" 2>/dev/null) || exit 0
  kill -TERM "$p" 2>/dev/null
  i=0; while [ -e "/proc/$p/exe" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
  rm -f "$D/pid" ;;
restart) "$0" stop; "$0" start ;;
*) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
"#,
            d.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let _guard = PidFile(d.join("pid"));
    // a private mount namespace without systemd, with the scratch init.d
    let in_ns = |program: &std::ffi::OsStr, args: Vec<&std::ffi::OsStr>| {
        run(Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(
                r#"mount --bind "$INITD" /etc/init.d || exit 99
if [ -d /run/systemd ]; then mount -t tmpfs none /run/systemd || exit 99; fi
[ ! -d /run/systemd/system ] || exit 98
exec "$0" "$@""#,
            )
            .arg(program)
            .args(args)
            .env("INITD", &initd))
    };
    let no_systemd = |pids: &[u32], args: &[&str]| {
        let nr = needs_restart(pids);
        let mut all: Vec<&std::ffi::OsStr> = nr.get_args().collect();
        all.extend(args.iter().map(std::ffi::OsStr::new));
        in_ns(nr.get_program(), all)
    };
    let started = in_ns("service".as_ref(), vec!["nrtd".as_ref(), "start".as_ref()]);
    assert!(started.status.success(), "{}", stderr(&started));
    let old = ready_pids(&d.join("ready"));
    assert_eq!(
        old.len(),
        2,
        "{:?}",
        std::fs::read_to_string(d.join("ready"))
    );
    rename_over(&b.lib_v2, &d.join("lib/libnrt.so"));

    // needs-restart in a namespace without systemd, with the scratch init.d
    let out = no_systemd(&old, &["--plan"]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let plan = stdout(&out);
    assert!(plan.lines().any(|l| l == "service nrtd restart"), "{plan}");
    assert_eq!(plan.matches("service ").count(), 1, "once: {plan}");
    let out = no_systemd(&old, &["-b"]);
    assert!(
        stdout(&out).contains("\nNEEDRESTART-SVC: nrtd\n"),
        "{}",
        stdout(&out)
    );
    let out = no_systemd(&old, &["--json"]);
    let (f, summary) = json_lines(&out);
    assert_eq!(f[0]["service"], "nrtd");
    assert_eq!(summary["systemd"], false);

    let out = no_systemd(&old, &["--restart"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("running: service nrtd restart"),
        "{}",
        stderr(&out)
    );
    let new = ready_pids(&d.join("ready"));
    assert_eq!(
        new.len(),
        2,
        "restarted: {:?}",
        std::fs::read_to_string(d.join("ready"))
    );
    assert!(
        new.iter().all(|p| !old.contains(p)),
        "old {old:?}, new {new:?}"
    );
    for p in &old {
        assert!(
            !Path::new(&format!("/proc/{p}/exe")).exists(),
            "old {p} still runs"
        );
    }
    // a fresh mapping: the new daemon maps the library's current inode
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", new[0])).unwrap();
    assert_eq!(
        mapped_inode(&maps, &d.join("lib/libnrt.so")),
        Some(inode(&d.join("lib/libnrt.so"))),
        "{maps}"
    );
    let out = no_systemd(&new, &["--json"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // -q --restart restarts too, silently
    rename_over(&b.lib_v1, &d.join("lib/libnrt.so"));
    let out = no_systemd(&new, &["-q", "--restart"]);
    assert_eq!(
        (code(&out), stdout(&out).as_str(), stderr(&out).as_str()),
        (0, "", "")
    );
    let third = ready_pids(&d.join("ready"));
    assert_eq!(third.len(), 2, "restarted again");
    assert!(
        third.iter().all(|p| !new.contains(p)),
        "{new:?} -> {third:?}"
    );
    assert_eq!(code(&no_systemd(&third, &["-q"])), 0);
}

/// `fleet`: real `--json` outputs of two "hosts" (two daemons, two --host-id), a clean
/// one, an UNKNOWN one and a truncated one, read from stdin and from files, give the
/// fleet view.
#[test]
fn fleet_view_of_real_outputs() {
    let Some(b) = build() else { return };
    let d = workdir(b, "fleet");
    let mut procs = Procs::default();
    let a = procs.start(&mut daemon(b, &d.join("lib"), 2));
    let c = procs.start(&mut daemon(b, &d.join("lib"), 0));
    rename_over(&b.lib_v2, &d.join("lib/libnrt.so"));
    let lib = d.join("lib/libnrt.so");
    let host = |pids: &[u32], id: &str| {
        let out = run(needs_restart(pids).args(["--json", "--host-id", id]));
        assert!(code(&out) <= 1, "{}", stderr(&out));
        out.stdout
    };
    let mut all = Vec::new();
    all.extend(host(&a, "web1"));
    all.extend(host(&c, "web2"));
    all.extend(host(&[4194305], "db1"));
    all.extend(br#"{"type":"summary","host":"db2","exit":3,"unreadable":4}"#);
    all.push(b'\n');
    let truncated = host(&a, "web3");
    let cut = truncated.iter().position(|b| *b == b'\n').unwrap() + 1;
    all.extend(&truncated[..cut]);
    let input = d.join("all.jsonl");
    std::fs::write(&input, &all).unwrap();
    let hosts = d.join("hosts");
    std::fs::write(&hosts, "web1\nweb2\ndb1\ndb2\nweb3\nweb4\n").unwrap();

    let out = run(applet("needs-restart")
        .args(["fleet", "--hosts"])
        .arg(&hosts)
        .arg(&input));
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let want_file = format!("file {}: 2 hosts, 4 processes: web1 web2\n", lib.display());
    assert!(text.starts_with(&want_file), "{text}");
    assert!(
        text.contains(&format!(
            "unit process {}: 2 hosts, 4 processes: web1 web2\n",
            b.prog.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("host db2: UNKNOWN (exit 3, 4 unreadable processes)\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("host {}:", input.display())),
        "{text}"
    );
    assert!(
        text.contains("without a summary (1 findings dropped)"),
        "{text}"
    );
    assert!(
        text.contains("host web3: no output\nhost web4: no output\n"),
        "{text}"
    );
    assert!(text.ends_with("fleet: 4 hosts answered, 2 need a restart (0 a reboot): 2 findings, 4 processes; 4 hosts with problems\n"), "{text}");

    // the same from standard input, as JSON
    use std::io::Write;
    let mut child = applet("needs-restart")
        .args(["fleet", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&all).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1);
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "file");
    assert_eq!(lines[0]["path"], lib.to_str().unwrap());
    assert_eq!(lines[0]["host_names"], serde_json::json!(["web1", "web2"]));
    let totals = lines.last().unwrap();
    assert_eq!(totals["type"], "totals");
    assert_eq!(totals["answered"], 4);
    assert_eq!(totals["exit"], 1);
    // a missing input: 66
    let out = run(applet("needs-restart").args(["fleet"]).arg(d.join("nope")));
    assert_eq!(code(&out), 66, "{}", stderr(&out));
}
