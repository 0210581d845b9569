//! genfw across the fleet lab (scripts/fleetlab: real systemd hosts reached over real
//! sshd), issue 14 items 2 and 3:
//!
//! - `lockout_under_sudo_*`: the non-root user `fleet` runs `sudo genfw apply` over ssh
//!   (sudo's env_reset drops SSH_CONNECTION). An inventory that leaves the controller out
//!   of genfw_mgmt is refused with the rules untouched; with `--force --confirm` it loads,
//!   the test cuts that SSH connection, a fresh login is blocked, and the guard restores
//!   the previous rules, after which a fresh login works. An inventory that keeps the
//!   controller in is applied and confirmed from a new connection.
//! - `rollout_*`: examples/fleet/genfw-rollout.yml through `fleetlab playbook`, as
//!   `fleet` with become: a host that does not confirm stops the rollout there (the guard
//!   rolls it back, the hosts after it keep their rules), the happy path leaves every host
//!   loaded and confirmed, and a host killed mid-rollout stops it too.
//!
//! Needs root; skips otherwise (a missing tool fails under OPSBOX_STRICT). The lab lives
//! in FLEETLAB_DIR=/run/opsbox-fwlab (its own namespaces and cgroup); the tests take
//! turns on it, and a guard runs `fleetlab down` when each ends, also when it fails.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{code, stderr, stdout};

const LAB_DIR: &str = "/run/opsbox-fwlab";
/// The controller's address in the lab (`fleetlab` header).
const CONTROLLER: &str = "192.0.2.1";

/// One lab at a time: the tests share its state dir.
static LAB_LOCK: Mutex<()> = Mutex::new(());

struct Lab {
    dir: PathBuf,
    script: PathBuf,
    t0: Instant,
}

fn available() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the fleet lab needs root (namespaces, mounts, cgroups)");
        return false;
    }
    let tools = [
        "ip",
        "nsenter",
        "unshare",
        "setpriv",
        "ssh",
        "ssh-keygen",
        "gcc",
        "dpkg-deb",
        "nft",
        "ansible-playbook",
    ];
    let found = tools.iter().filter(|t| support::have_tool(t)).count();
    let sshd = Path::new("/usr/sbin/sshd").exists() && Path::new("/usr/bin/sudo").exists();
    if !sshd {
        assert!(
            !support::strict(),
            "sshd or sudo is not installed: scripts/setup should have installed them"
        );
        eprintln!("skipped: sshd or sudo is not installed (scripts/setup fleetlab)");
    }
    found == tools.len() && sshd
}

fn out_text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    )
}

impl Lab {
    /// `fleetlab up N` in LAB_DIR (after a `down` of whatever a killed run left), then
    /// the binary under test copied to every host over ssh, with its links.
    fn up(n: usize) -> Lab {
        let lab = Lab {
            dir: PathBuf::from(LAB_DIR),
            script: support::root().join("scripts/fleetlab"),
            t0: Instant::now(),
        };
        let _ = support::run(&mut lab.cmd("down"));
        let out = support::run(lab.cmd("up").arg(n.to_string()));
        assert_eq!(code(&out), 0, "fleetlab up {n} failed:\n{}", out_text(&out));
        lab.time(&format!("fleetlab up {n}"));
        let bin = std::fs::read(support::bin()).expect("read the binary under test");
        for h in lab.hosts() {
            let out = lab.ssh_in(
                &h,
                "sudo sh -ec 'cat > /usr/local/sbin/opsbox.new; chmod 755 /usr/local/sbin/opsbox.new; \
                 mv /usr/local/sbin/opsbox.new /usr/local/sbin/opsbox; \
                 /usr/local/sbin/opsbox --install -s -f /usr/local/sbin; command -v genfw'",
                &bin,
            );
            assert_eq!(code(&out), 0, "{h}: install: {}", out_text(&out));
            assert_eq!(stdout(&out).trim(), "/usr/local/sbin/genfw", "{h}");
        }
        lab.time(&format!(
            "copied {} ({} MB) to every host over ssh",
            support::bin().display(),
            bin.len() >> 20
        ));
        lab
    }

    fn time(&self, what: &str) {
        eprintln!("[{:6.1} s] {what}", self.t0.elapsed().as_secs_f64());
    }

    fn cmd(&self, verb: &str) -> Command {
        let mut c = Command::new(&self.script);
        c.arg(verb)
            .env("FLEETLAB_DIR", &self.dir)
            .current_dir(support::root());
        c
    }

    fn hosts(&self) -> Vec<String> {
        let out = support::run(&mut self.cmd("hosts"));
        assert_eq!(code(&out), 0, "{}", out_text(&out));
        stdout(&out)
            .lines()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    }

    /// A NEW ssh connection to `host` as the non-root sudo user `fleet`, running `script`
    /// with `stdin`. (Root's shell on a host reads this machine's /root/.bashrc; `fleet`'s
    /// does not.)
    fn ssh_in(&self, host: &str, script: &str, stdin: &[u8]) -> Output {
        let mut child = self
            .cmd("ssh")
            .args(["--user", "fleet", host, script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run fleetlab ssh");
        let mut i = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        // a command that does not read its stdin closes it early: not an error
        let writer = std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut i, &data);
        });
        let out = child.wait_with_output().expect("wait for fleetlab ssh");
        let _ = writer.join();
        out
    }

    fn ssh(&self, host: &str, script: &str) -> Output {
        self.ssh_in(host, script, b"")
    }

    /// `ssh` that must succeed; its stdout.
    fn ok(&self, host: &str, script: &str) -> String {
        let out = self.ssh(host, script);
        assert_eq!(code(&out), 0, "{host}: {script}\n{}", out_text(&out));
        stdout(&out)
    }

    /// A fresh ssh login with a short connect timeout: 255 when it cannot be made.
    fn login(&self, host: &str) -> Output {
        let netns = format!(
            "/run/netns/{}-ctl",
            self.dir.file_name().unwrap().to_string_lossy()
        );
        support::run(
            Command::new("nsenter")
                .arg(format!("--net={netns}"))
                .args(["--", "ssh", "-F"])
                .arg(self.dir.join("ssh_config"))
                .args([
                    "-o",
                    "ConnectTimeout=3",
                    "-l",
                    "fleet",
                    "--",
                    host,
                    "echo in",
                ]),
        )
    }

    /// A command in the host's namespaces, without ssh (for state the test observes
    /// while ssh may be blocked).
    fn exec(&self, host: &str, args: &[&str]) -> Output {
        support::run(self.cmd("exec").arg(host).args(args))
    }

    fn exec_ok(&self, host: &str, args: &[&str]) -> String {
        let out = self.exec(host, args);
        assert_eq!(code(&out), 0, "{host}: {args:?}\n{}", out_text(&out));
        stdout(&out)
    }

    fn status(&self, host: &str) -> Value {
        let s = self.exec_ok(host, &["genfw", "status", "--json"]);
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("{host}: status --json: {e}: {s}"))
    }

    fn ruleset(&self, host: &str) -> String {
        self.exec_ok(host, &["nft", "list", "ruleset"])
    }

    fn guard_log(&self, host: &str) -> String {
        let out = self.exec(host, &["cat", "/var/lib/genfw/guard.log"]);
        stdout(&out)
    }

    /// Poll (every 200 ms, up to `limit`) until the host's guard is no longer pending;
    /// how long it took.
    fn wait_guard_gone(&self, host: &str, limit: Duration) -> Duration {
        let t = Instant::now();
        loop {
            if self.status(host)["guard"].is_null() {
                return t.elapsed();
            }
            assert!(
                t.elapsed() < limit,
                "{host}: the guard is still pending after {limit:?}: {}",
                self.status(host)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = support::run(&mut self.cmd("down"));
        self.time("fleetlab down");
        if code(&out) != 0 || !stderr(&out).is_empty() {
            eprintln!("fleetlab down: {}", out_text(&out));
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

// ------------------------------------------------------------------ lockout under sudo

fn inventory(mgmt: &str) -> String {
    format!(
        "[fleet]\nhost1 ansible_host=192.0.2.11\nhost2 ansible_host=192.0.2.12\n\
         host3 ansible_host=192.0.2.13\n\n[all:vars]\ngenfw_mgmt={mgmt}\n"
    )
}

#[test]
fn lockout_under_sudo_refused_forced_rolled_back_and_confirmed() {
    if !available() {
        return;
    }
    let _turn = lock();
    let lab = Lab::up(1);
    let h = "host1";
    let keep = inventory("192.0.2.1/32,2001:db8:1ab::1/128");
    let cut = inventory("198.51.100.0/24");
    lab.ssh_in(h, "cat > /tmp/keep.ini", keep.as_bytes());
    lab.ssh_in(h, "cat > /tmp/cut.ini", cut.as_bytes());

    // sudo really drops SSH_CONNECTION here: the check must find the session elsewhere
    let env = lab.ok(h, "echo \"outside: $SSH_CONNECTION\"; sudo env");
    assert!(env.starts_with(&format!("outside: {CONTROLLER} ")), "{env}");
    assert!(
        !env.contains("SSH_CONNECTION"),
        "sudo kept SSH_CONNECTION:\n{env}"
    );

    // 1. a management network that holds the controller: applied, confirmed from a new
    // connection, and `status` says so
    let out = lab.ssh(h, "sudo genfw apply -i /tmp/keep.ini --confirm 30");
    assert_eq!(code(&out), 0, "{}", out_text(&out));
    assert!(
        stdout(&out).starts_with("applied: host host1:"),
        "{}",
        out_text(&out)
    );
    let st = lab.status(h);
    assert_eq!(st["guard"]["running"], true, "{st}");
    assert!(st["loaded"] == true, "{st}");
    let out = lab.ssh(h, "sudo genfw confirm");
    assert_eq!(
        code(&out),
        0,
        "confirm over a new connection: {}",
        out_text(&out)
    );
    let status = lab.ok(h, "sudo genfw status");
    assert!(status.starts_with("loaded: nft ("), "{status}");
    assert!(status.contains("last apply: host host1 at "), "{status}");
    assert!(status.contains(" from /tmp/keep.ini (sha256 "), "{status}");
    assert!(status.contains("guard: none pending"), "{status}");
    let st = lab.status(h);
    assert!(st["guard"].is_null(), "{st}");
    assert_eq!(st["last_apply"]["inventory"], "/tmp/keep.ini", "{st}");
    let out = lab.ssh(h, "sudo genfw confirm");
    assert_eq!(
        code(&out),
        1,
        "a second confirm has nothing to confirm: {}",
        out_text(&out)
    );
    let kept = lab.ruleset(h);
    assert!(kept.contains("elements = { 192.0.2.1 }"), "{kept}");
    lab.time("apply with the controller in genfw_mgmt: applied, confirmed from a new connection");

    // 2. a management network without the controller: refused under sudo and under su,
    // exit 2, naming the session; nothing changed
    for (how, script) in [
        ("sudo", "sudo genfw apply -i /tmp/cut.ini"),
        ("sudo su", "sudo su -c 'genfw apply -i /tmp/cut.ini' root"),
    ] {
        let out = lab.ssh(h, script);
        assert_eq!(code(&out), 2, "{how}: {}", out_text(&out));
        let e = stderr(&out);
        assert!(
            e.contains(&format!(
                "genfw: refusing to apply: this SSH session (from {CONTROLLER} port "
            )) && e.contains(" to 192.0.2.11 port 22 on eth0, found through sshd process ")
                && e.contains("would be cut by the new rules of host host1"),
            "{how}: {e}"
        );
        assert_eq!(
            lab.ruleset(h),
            kept,
            "{how}: a refused apply changed the rules"
        );
        assert!(lab.status(h)["guard"].is_null());
    }
    assert_eq!(
        lab.guard_log(h)
            .matches(" refused: this SSH session")
            .count(),
        2,
        "{}",
        lab.guard_log(h)
    );
    lab.time("apply without the controller in genfw_mgmt: refused (sudo, sudo su)");

    // 3. --force: applied with a guard in a session the test holds open, then cuts
    let confirm = 30;
    let mut held = lab
        .cmd("ssh")
        .args([
            "--user",
            "fleet",
            h,
            &format!(
                "sudo genfw apply -i /tmp/cut.ini --force --confirm {confirm}; echo \"rc=$?\"; exec sleep 600"
            ),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fleetlab ssh");
    let applied = read_until_rc(&mut held);
    assert!(
        applied.contains("applied: host host1:") && applied.contains("rc=0"),
        "{applied}"
    );
    let forced = lab.ruleset(h);
    assert!(
        forced.contains("elements = { 198.51.100.0/24 }"),
        "{forced}"
    );
    assert!(!forced.contains("{ 192.0.2.1 }"), "{forced}");
    // `fleetlab ssh` execs nsenter, which execs ssh: the child is the client itself
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", held.id())).unwrap();
    assert_eq!(comm.trim(), "ssh");
    held.kill().unwrap();
    let _ = held.wait();
    let mut err = String::new();
    let _ = held.stderr.take().unwrap().read_to_string(&mut err);
    assert!(
        err.contains("genfw: warning: --force: this SSH session"),
        "{err}"
    );
    lab.time("--force: applied with a guard; the client of that session killed");
    // the connection is gone on the host too (its sshd closed it), and the guard lives on
    let t = Instant::now();
    loop {
        let ss = lab.exec_ok(h, &["ss", "-tnH", "state", "established", "sport = :22"]);
        if ss.trim().is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the cut connection lives on: {ss}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = lab.status(h);
    assert_eq!(
        st["guard"]["running"], true,
        "the guard died with the session: {st}"
    );
    // a fresh login is blocked by the new rules, while the guard is still pending
    let out = lab.login(h);
    assert_eq!(
        code(&out),
        255,
        "a fresh login got through: {}",
        out_text(&out)
    );
    let st = lab.status(h);
    assert!(
        !st["guard"].is_null(),
        "the guard finished before the blocked login was tried; cannot tell what blocked it: {st}"
    );
    lab.time("the cut session is gone on the host, the guard runs, a fresh login is refused");
    let waited = lab.wait_guard_gone(h, Duration::from_secs(confirm + 60));
    lab.time(&format!(
        "the guard stood down {:.1} s later (confirm time {confirm} s from the apply)",
        waited.as_secs_f64()
    ));
    assert_eq!(
        lab.ruleset(h),
        kept,
        "the guard did not restore the previous rules"
    );
    assert!(
        lab.guard_log(h).contains(&format!(
            "guard: rolled back: not confirmed within {confirm} s"
        )),
        "{}",
        lab.guard_log(h)
    );
    let out = lab.login(h);
    assert_eq!(
        code(&out),
        0,
        "no fresh login after the rollback: {}",
        out_text(&out)
    );
    assert_eq!(stdout(&out), "in\n");
    let status = lab.ok(h, "sudo genfw status");
    assert!(status.contains("guard: none pending"), "{status}");
    lab.time("rolled back to the confirmed rules; a fresh login works");
}

/// Read the held session's stdout up to its `rc=` line (the apply has returned).
fn read_until_rc(child: &mut Child) -> String {
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).unwrap();
        all.push_str(&line);
        if n == 0 || line.starts_with("rc=") {
            break;
        }
    }
    all
}
