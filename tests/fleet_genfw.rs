//! genfw across the fleet lab (scripts/fleetlab: real systemd hosts reached over real
//! sshd), issue 14 items 2 and 3:
//!
//! - `lockout_under_sudo_*`: the non-root user `fleet` runs `sudo genfw apply` over ssh
//!   (sudo's env_reset drops SSH_CONNECTION). An inventory that leaves the controller out
//!   of genfw_mgmt is refused (under sudo, sudo su, and over IPv6 when only
//!   its IPv4 address is in) with the rules untouched; with `--force --confirm` it loads,
//!   the test cuts that SSH connection, a fresh login is blocked, and the guard restores
//!   the previous rules, after which a fresh login works. An inventory that keeps the
//!   controller in is applied and confirmed from a new connection.
//! - `rollout_*`: examples/fleet/genfw-rollout.yml through `fleetlab playbook`, as
//!   `fleet` with become: a host whose entry fails `genfw check` stops it before any
//!   host is touched; a host that does not confirm stops it there (the guard rolls it
//!   back, the hosts after it keep their rules); the happy path leaves every host loaded
//!   and confirmed, each confirm over another SSH connection than its apply (sudo's
//!   journal lines carry the logind session, one per connection); and a host killed mid-rollout stops it too (Ansible alone would go
//!   on to the next batch: ansible/ansible#56265).
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
                 /usr/local/sbin/opsbox --install -s -f /usr/local/sbin >&2; command -v genfw'",
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
        self.ssh_opts(host, &["-o", "ConnectTimeout=3"], "echo in")
    }

    /// A NEW ssh connection as `fleet` with extra ssh options (HostName=IPv6, say).
    fn ssh_opts(&self, host: &str, opts: &[&str], script: &str) -> Output {
        support::run(
            Command::new("nsenter")
                .arg(format!("--net=/run/netns/{}-ctl", lab_name()))
                .args(["--", "ssh", "-F"])
                .arg(self.dir.join("ssh_config"))
                .args(opts)
                .args(["-l", "fleet", "--", host, script]),
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

    /// `fleetlab playbook ARGS...` as `fleet` with become.
    fn playbook(&self, args: &[&str]) -> Output {
        let t = Instant::now();
        let out = support::run(&mut self.playbook_cmd(args));
        eprintln!(
            "[{:6.1} s] fleetlab playbook {}: exit {:?} in {:.1} s",
            self.t0.elapsed().as_secs_f64(),
            args.join(" "),
            out.status.code(),
            t.elapsed().as_secs_f64()
        );
        out
    }

    fn playbook_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.cmd("playbook");
        c.arg("examples/fleet/genfw-rollout.yml")
            .args(["-e", "ansible_user=fleet"])
            .args(args)
            .env("ANSIBLE_PIPELINING", "True")
            .env("ANSIBLE_NOCOLOR", "1")
            .stdin(Stdio::null());
        c
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
    // over IPv6, the controller's IPv4 network alone does not let the session in
    let v4only = inventory("192.0.2.1/32");
    lab.ssh_in(h, "cat > /tmp/v4only.ini", v4only.as_bytes());
    let v6 = ["-o", "HostName=2001:db8:1ab::11"];
    let out = lab.ssh_opts(
        h,
        &v6,
        "echo $SSH_CONNECTION; sudo genfw apply -i /tmp/v4only.ini",
    );
    assert_eq!(code(&out), 2, "IPv6 session: {}", out_text(&out));
    assert!(
        stdout(&out).starts_with("2001:db8:1ab::1 "),
        "{}",
        out_text(&out)
    );
    assert!(
        stderr(&out).contains("this SSH session (from 2001:db8:1ab::1 port ")
            && stderr(&out).contains(" to 2001:db8:1ab::11 port 22 on eth0,"),
        "{}",
        out_text(&out)
    );
    assert_eq!(
        lab.ruleset(h),
        kept,
        "IPv6: a refused apply changed the rules"
    );
    lab.time("apply without the controller in genfw_mgmt: refused (sudo, sudo su, IPv6)");

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

// ------------------------------------------------------------------ the Ansible rollout

/// examples/fleet/genfw/ copied into `dir`, with `extra` files (path, content) over it.
fn inventory_copy(dir: &Path, extra: &[(&str, &str)]) -> String {
    let src = support::root().join("examples/fleet/genfw");
    copy_tree(&src, dir);
    for (p, text) in extra {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
    format!("genfw_src={}/", dir.display())
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The elements of set `name` of the host's live `table inet genfw`, read over ssh
/// (`nft -j`), sorted.
fn set_elements(tables: &Value, name: &str) -> Vec<String> {
    let mut v: Vec<String> = tables["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("set"))
        .filter(|s| s["name"] == name)
        .flat_map(|s| s["elem"].as_array().cloned().unwrap_or_default())
        .map(|e| match e {
            Value::String(s) => s,
            Value::Object(o) if o.contains_key("prefix") => format!(
                "{}/{}",
                o["prefix"]["addr"].as_str().unwrap(),
                o["prefix"]["len"]
            ),
            other => other.to_string(),
        })
        .collect();
    v.sort();
    v
}

fn live_table(lab: &Lab, h: &str) -> Value {
    let s = lab.ok(h, "sudo nft -j list table inet genfw");
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{h}: nft -j: {e}: {s}"))
}

/// Whether genfw never touched the host: no table of its, no apply recorded.
fn untouched(lab: &Lab, h: &str) -> bool {
    code(&lab.exec(h, &["nft", "list", "table", "inet", "genfw"])) != 0
        && lab.status(h)["last_apply"].is_null()
}

const ADDRS: [(&str, &str, &str); 3] = [
    ("host1", "192.0.2.11", "2001:db8:1ab::11"),
    ("host2", "192.0.2.12", "2001:db8:1ab::12"),
    ("host3", "192.0.2.13", "2001:db8:1ab::13"),
];

#[test]
fn rollout_stops_at_the_first_unconfirmed_host_then_completes_and_stops_at_a_killed_one() {
    if !available() {
        return;
    }
    let _turn = lock();
    let lab = Lab::up(3);
    let tmp = tempfile::tempdir().unwrap();
    let ports = r#"{"genfw_rollout_check_ports": [22, 7070]}"#;

    // 0. host3's entry does not pass `genfw check` (a port out of range): the rollout
    // stops before any host is touched, and no host gets the new inventory
    let broken = inventory_copy(
        &tmp.path().join("broken"),
        &[("host_vars/host3.yml", "genfw_ssh_port: 70000\n")],
    );
    let out = lab.playbook(&["-e", &broken]);
    assert_ne!(code(&out), 0, "{}", out_text(&out));
    assert!(
        stdout(&out).contains("host_vars/host3.yml:1: genfw_ssh_port: '70000' is not a port"),
        "{}",
        out_text(&out)
    );
    for (h, _, _) in ADDRS {
        assert!(untouched(&lab, h), "{h} was touched: {}", lab.guard_log(h));
        let out = lab.exec(h, &["test", "-e", "/etc/genfw/inventory"]);
        assert_ne!(
            code(&out),
            0,
            "{h} got an inventory that did not pass the check"
        );
    }
    lab.time("host3's entry fails the check: no host touched");

    // 1. host2's entry gives the application's port to another network: host2 loads,
    // the controller cannot reach 7070 there, so host2 is never confirmed; the rollout
    // stops at host2, its guard restores its old rules (none), host3 is never touched
    let bad = inventory_copy(
        &tmp.path().join("bad"),
        &[(
            "host_vars/host2.yml",
            "genfw_allow: ['198.51.100.0/24 tcp/7070']\n",
        )],
    );
    let out = lab.playbook(&["-e", &bad, "-e", "genfw_confirm_seconds=15", "-e", ports]);
    assert_ne!(code(&out), 0, "{}", out_text(&out));
    let log = stdout(&out);
    assert!(
        log.contains("failed: [host2 -> localhost] (item=7070)"),
        "{}",
        out_text(&out)
    );
    let st = lab.status("host1");
    assert!(st["guard"].is_null() && st["loaded"] == true, "host1: {st}");
    let waited = lab.wait_guard_gone("host2", Duration::from_secs(15 + 60));
    lab.time(&format!(
        "host2 not confirmed: its guard stood down {:.1} s after the playbook ended",
        waited.as_secs_f64()
    ));
    let g2 = lab.guard_log("host2");
    assert!(
        g2.contains("apply host2: applied (nft), guard 15 s")
            && g2.contains("guard: rolled back: not confirmed within 15 s")
            && !g2.contains("confirm: confirmed"),
        "{g2}"
    );
    assert!(
        code(&lab.exec("host2", &["nft", "list", "table", "inet", "genfw"])) != 0,
        "host2 kept the unconfirmed rules"
    );
    assert!(
        untouched(&lab, "host3"),
        "host3 was touched: {}",
        lab.guard_log("host3")
    );
    // the checked inventory was pushed everywhere in step 1
    lab.ok("host3", "test -f /etc/genfw/inventory/host_vars/host2.yml");

    // 2. the example inventory as it is: host1 is in sync and left alone, host2 and
    // host3 are applied and confirmed; every host ends with the inventory's rules
    let out = lab.playbook(&["-e", ports]);
    assert_eq!(code(&out), 0, "{}", out_text(&out));
    // each task ran one sudo (pipelining), logged with its logind session, one per SSH
    // connection; the last four of a host are diff, apply, confirm, status: the confirm
    // came over another connection than the apply
    for h in ["host2", "host3"] {
        let s = sudo_sessions(&lab, h);
        assert!(s.len() >= 4, "{h}: {s:?}");
        let (apply, confirm) = (&s[s.len() - 3], &s[s.len() - 2]);
        assert_ne!(
            apply, confirm,
            "{h}: confirmed over the apply's connection: {s:?}"
        );
        lab.time(&format!(
            "{h}: applied in logind session {apply}, confirmed in {confirm}"
        ));
    }
    for (h, v4, v6) in ADDRS {
        let t = live_table(&lab, h);
        assert_eq!(set_elements(&t, "mgmt4"), ["192.0.2.1"], "{h}");
        assert_eq!(set_elements(&t, "mgmt6"), ["2001:db8:1ab::1"], "{h}");
        let (p4, p6): (Vec<_>, Vec<_>) = ADDRS
            .iter()
            .filter(|(o, _, _)| *o != h)
            .map(|(_, a, b)| (a.to_string(), b.to_string()))
            .unzip();
        assert_eq!(set_elements(&t, "peers4"), p4, "{h}");
        assert_eq!(set_elements(&t, "peers6"), p6, "{h}");
        assert!(!set_elements(&t, "peers4").contains(&v4.to_string()));
        assert!(!set_elements(&t, "peers6").contains(&v6.to_string()));
        assert_eq!(set_elements(&t, "allow1_4"), ["192.0.2.1"], "{h}");
        let diff = lab.ssh(h, "sudo genfw diff -i /etc/genfw/inventory/hosts.yml");
        assert_eq!(
            code(&diff),
            0,
            "{h}: drift after the rollout: {}",
            out_text(&diff)
        );
        let st = lab.status(h);
        assert!(st["guard"].is_null(), "{h}: {st}");
        assert_eq!(st["last_apply"]["host"], h, "{st}");
        assert_eq!(
            st["last_apply"]["inventory"], "/etc/genfw/inventory/hosts.yml",
            "{st}"
        );
        // the application's port answers the controller through the rules
        let c = support::run(
            Command::new("nsenter")
                .arg(format!("--net=/run/netns/{}-ctl", lab_name()))
                .args(["--", "bash", "-c"])
                .arg(format!("exec 3<>/dev/tcp/{v4}/7070")),
        );
        assert_eq!(
            code(&c),
            0,
            "{h}: 7070 from the controller: {}",
            out_text(&c)
        );
    }
    let g1 = lab.guard_log("host1");
    assert_eq!(
        g1.matches("apply host1: applied").count(),
        1,
        "host1 was in sync: {g1}"
    );
    for h in ["host2", "host3"] {
        let g = lab.guard_log(h);
        assert!(
            g.trim_end()
                .ends_with("confirm: confirmed, the new rules stay"),
            "{h}: {g}"
        );
    }
    lab.time("the example inventory: every host loaded and confirmed");

    // 3. a changed inventory (port 8080 opened); host2 is killed once host1 has confirmed
    // it: the rollout stops at host2, host3 keeps the rules of step 2
    let before3 = lab.status("host3")["last_apply"]["sha256"].clone();
    let sha1 = lab.status("host1")["last_apply"]["sha256"].clone();
    let all =
        std::fs::read_to_string(support::root().join("examples/fleet/genfw/group_vars/all.yml"))
            .unwrap();
    let open = inventory_copy(
        &tmp.path().join("open"),
        &[(
            "group_vars/all.yml",
            &format!("{all}genfw_public_tcp: [8080]\n"),
        )],
    );
    let t = Instant::now();
    let mut play = lab
        .playbook_cmd(&["-e", &open, "-e", ports])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fleetlab playbook");
    loop {
        let st = lab.status("host1");
        if st["last_apply"]["sha256"] != sha1 && st["guard"].is_null() {
            break;
        }
        assert!(
            play.try_wait().unwrap().is_none(),
            "the playbook ended before host1 confirmed"
        );
        assert!(
            t.elapsed() < Duration::from_secs(240),
            "host1 never confirmed: {st}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = support::run(lab.cmd("kill").arg("host2"));
    assert_eq!(code(&out), 0, "{}", out_text(&out));
    lab.time("host1 confirmed the new inventory; host2 killed");
    let out = play.wait_with_output().unwrap();
    lab.time(&format!(
        "the playbook ended: exit {:?} after {:.1} s",
        out.status.code(),
        t.elapsed().as_secs_f64()
    ));
    assert_ne!(code(&out), 0, "{}", out_text(&out));
    assert!(
        stdout(&out).contains("fatal: [host2]: UNREACHABLE! => "),
        "{}",
        out_text(&out)
    );
    let t1 = live_table(&lab, "host1");
    assert!(
        t1.to_string().contains("8080"),
        "host1 lacks the new port: {t1}"
    );
    let st3 = lab.status("host3");
    assert_eq!(
        st3["last_apply"]["sha256"], before3,
        "host3 was applied: {st3}"
    );
    let t3 = live_table(&lab, "host3");
    assert!(
        !t3.to_string().contains("8080"),
        "host3 got the new port: {t3}"
    );
    assert!(
        lab.guard_log("host3").matches("apply host3:").count() == 1,
        "{}",
        lab.guard_log("host3")
    );
}

/// The logind session of each `sudo` a host logged (its COMMAND lines), oldest first.
fn sudo_sessions(lab: &Lab, h: &str) -> Vec<String> {
    lab.exec_ok(h, &["journalctl", "--sync"]);
    lab.exec_ok(h, &["journalctl", "-o", "json", "_COMM=sudo"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|j| {
            j["MESSAGE"]
                .as_str()
                .is_some_and(|m| m.contains(" COMMAND="))
        })
        .map(|j| j["_SYSTEMD_SESSION"].as_str().unwrap_or("none").to_string())
        .collect()
}

fn lab_name() -> String {
    Path::new(LAB_DIR)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}
