//! The fleet lab end to end: real systemd hosts reached over real SSH (scripts/fleetlab),
//! needs-restart attributing and restarting their daemons after a library upgrade, checked
//! against systemd's own records, the Ansible playbooks of examples/fleet/, and `down`
//! leaving nothing behind. One lab boot for the whole story (booting is the slow part).

#[path = "support/fleetlab.rs"]
mod fleetlab;
mod support;

use fleetlab::Lab;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

const LIB: &str = "/usr/local/lib/fleetlab/libgnutls.so.30.37.1";
/// The lab's system services linked against the library; dbus-broker is deferred.
const RESTARTED: [&str; 5] = [
    "fl-app.service",
    "fl-db.service",
    "fl-forking.service",
    "fl-simple.service",
    "fl-socket.service",
];
const DEFERRED: &str = "dbus-broker.service";
const USER_UNIT: &str = "fl-agent.service";

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn set<I: IntoIterator<Item = S>, S: Into<String>>(i: I) -> BTreeSet<String> {
    i.into_iter().map(Into::into).collect()
}

type Props = BTreeMap<String, String>;

/// systemd's view of units (one `systemctl show` for all): unit -> property -> value.
fn show(lab: &Lab, host: &str, user: bool, units: &[&str]) -> BTreeMap<String, Props> {
    let props = "Id,InvocationID,ExecMainStartTimestampMonotonic,NRestarts,ActiveState,MainPID,ControlGroup";
    let manager = if user { "--user -M fleet@ " } else { "" };
    let text = lab.ok(
        host,
        &format!("systemctl {manager}show -p {props} {}", units.join(" ")),
    );
    let mut all = BTreeMap::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let p: Props = block
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.insert(p["Id"].clone(), p);
    }
    assert_eq!(all.len(), units.len(), "{host}: {text}");
    all
}

/// The PIDs in each cgroup, as systemd placed them (one ssh for all).
fn cgroup_pids(lab: &Lab, host: &str, cgroups: &[&str]) -> BTreeMap<String, Vec<u64>> {
    let script: String = cgroups
        .iter()
        .map(|c| format!("echo \"{c}:\" $(cat /sys/fs/cgroup{c}/cgroup.procs);"))
        .collect();
    lab.ok(host, &script)
        .lines()
        .map(|l| {
            let (c, pids) = l.split_once(':').unwrap();
            let mut v: Vec<u64> = pids
                .split_whitespace()
                .map(|p| p.parse().unwrap())
                .collect();
            v.sort();
            (c.to_string(), v)
        })
        .collect()
}

fn install_opsbox(lab: &Lab, host: &str) {
    let bin = std::fs::read(support::real_bin()).unwrap();
    let out = lab.ssh_full(
        None,
        host,
        "cat > /usr/local/bin/opsbox.new && chmod 755 /usr/local/bin/opsbox.new && \
         mv -f /usr/local/bin/opsbox.new /usr/local/bin/opsbox && \
         /usr/local/bin/opsbox --install -s /usr/local/bin >/dev/null && \
         needs-restart --help >/dev/null",
        &bin,
    );
    assert_eq!(support::code(&out), 0, "{host}: {}", support::stderr(&out));
}

/// The dpkg/rpm way: the new file beside the old, renamed over it.
fn upgrade_library(lab: &Lab, host: &str) {
    lab.ok(
        host,
        &format!("cp -p {LIB} {LIB}.dpkg-new && mv -f {LIB}.dpkg-new {LIB}"),
    );
}

fn step(t: &mut Instant, what: &str) {
    eprintln!("  {what}: {:.1} s", t.elapsed().as_secs_f64());
    *t = Instant::now();
}

#[test]
fn fleet_lab_end_to_end() {
    if !fleetlab::available(&["ansible-playbook"]) {
        return;
    }
    let total = Instant::now();
    let mut lab = Lab::up("t", &["4"]);
    let mut t = Instant::now();
    let hosts: Vec<String> = lab.hosts().into_iter().map(|(n, _)| n).collect();
    assert_eq!(hosts, ["host1", "host2", "host3", "host4"]);

    basics(&lab, &hosts);
    step(&mut t, "boot state, ssh, sudo, stdin, exit status");
    on_every_host(&hosts, |h| install_opsbox(&lab, h));
    step(&mut t, "opsbox copied over ssh to every host");
    on_every_host(&hosts, |h| restart_story(&lab, h));
    step(&mut t, "needs-restart story on every host");
    playbooks(&lab, &hosts);
    step(&mut t, "playbooks");

    lab.down();
    step(&mut t, "down and nothing left");
    eprintln!(
        "fleet lab test: {:.1} s in all",
        total.elapsed().as_secs_f64()
    );
}

/// Run `f` for every host at once (one thread each); a failure on any host fails the test.
fn on_every_host(hosts: &[String], f: impl Fn(&str) + Sync) {
    std::thread::scope(|s| {
        let f = &f;
        let threads: Vec<_> = hosts.iter().map(|h| s.spawn(move || f(h))).collect();
        for t in threads {
            if let Err(e) = t.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
}

fn basics(lab: &Lab, hosts: &[String]) {
    on_every_host(hosts, |h| basics_of(lab, h));
    // the hosts are separate machines: one PID 1 each, seen from here
    let mut pids = BTreeSet::new();
    for h in hosts {
        let out = support::run(lab.cmd("pid").arg(h));
        pids.insert(support::stdout(&out).trim().to_string());
    }
    assert_eq!(pids.len(), hosts.len());
}

fn basics_of(lab: &Lab, h: &str) {
    let i: usize = h.strip_prefix("host").unwrap().parse().unwrap();
    {
        let state = lab.ssh(h, "systemctl is-system-running");
        let failed = lab.ok(h, "systemctl list-units --failed --plain --no-legend");
        assert_eq!(
            support::stdout(&state).trim(),
            "running",
            "{h}: failed units: {failed}"
        );
        // the host is its own machine: its name, its address, its PID 1
        assert_eq!(lab.ok(h, "hostname").trim(), h);
        assert_eq!(
            lab.ok(h, "cat /proc/1/comm").trim(),
            "systemd",
            "{h}: systemd is PID 1"
        );
        assert!(
            lab.ok(h, "ip -4 -o addr show dev eth0")
                .contains(&format!("192.0.2.{}/24", 10 + i))
        );
        // as the sudo user: who it is, and sudo without a password
        let out = lab.ssh_full(Some("fleet"), h, "id -un && sudo -n id -u", b"");
        assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
        assert_eq!(support::stdout(&out), "fleet\n0\n");
        // stdin passes through, the exit status is the command's
        let out = lab.ssh_full(None, h, "sha256sum; exit 7", b"stdin passes\n");
        assert_eq!(support::code(&out), 7);
        let want = lab.ok(h, "printf 'stdin passes\\n' | sha256sum");
        assert_eq!(
            support::stdout(&out),
            want,
            "{h}: stdin did not pass through"
        );
        // its own null device, not this machine's
        assert_eq!(
            lab.ok(h, "stat -c %F:%t:%T /dev/null").trim(),
            "character special file:1:3"
        );
    }
}

fn restart_story(lab: &Lab, h: &str) {
    let mut system: Vec<&str> = RESTARTED.to_vec();
    system.extend([DEFERRED, "ssh.service"]);
    let before = show(lab, h, false, &system);
    let agent_before = show(lab, h, true, &[USER_UNIT]).remove(USER_UNIT).unwrap();
    // a program left running by a login session: its scope outlives the ssh connection
    let started = lab.ok(
        h,
        "setsid -f /usr/local/sbin/fleetd simple </dev/null >/dev/null 2>&1; \
         sed -n 's|^0::||p' /proc/self/cgroup; sleep 0.2; pgrep -x -n fleetd",
    );
    let (scope_cgroup, session_pid) = started.trim().split_once('\n').unwrap();
    let session_pid: u64 = session_pid.trim().parse().unwrap();
    let scope = scope_cgroup.rsplit('/').next().unwrap().to_string();
    assert!(
        scope.starts_with("session-") && scope.ends_with(".scope"),
        "{scope_cgroup}"
    );
    upgrade_library(lab, h);

    // --json: every daemon once, attributed to its unit, its PIDs those of systemd's cgroup
    let out = lab.ssh(h, "needs-restart --json --lib libgnutls");
    assert_eq!(support::code(&out), 1, "{h}: {}", support::stderr(&out));
    let lines = json_lines(&support::stdout(&out));
    let (summary, findings) = lines.split_last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["host"], h);
    assert_eq!(summary["systemd"], true);
    assert_eq!(summary["findings"], findings.len());
    let units: Vec<String> = findings
        .iter()
        .map(|f| f["unit"].as_str().unwrap().to_string())
        .collect();
    let mut all = set(RESTARTED);
    all.insert(DEFERRED.into());
    all.insert(USER_UNIT.into());
    all.insert(scope.clone());
    assert_eq!(set(units.clone()), all, "{h}: units");
    assert_eq!(units.len(), all.len(), "{h}: a unit twice: {units:?}");
    let mut sd = before.clone();
    sd.insert(USER_UNIT.into(), agent_before.clone());
    let cgroups: Vec<&str> = sd.values().map(|p| p["ControlGroup"].as_str()).collect();
    let in_cgroup = cgroup_pids(lab, h, &cgroups);
    for f in findings {
        let unit = f["unit"].as_str().unwrap();
        assert_eq!(f["files"][0]["path"], LIB, "{h} {unit}");
        assert_eq!(f["files"][0]["reason"], "deleted", "{h} {unit}");
        let mut pids: Vec<u64> = f["pids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .collect();
        pids.sort();
        if unit == scope {
            assert_eq!(f["kind"], "session", "{h} {unit}");
            assert_eq!(pids, [session_pid], "{h} {unit}");
            assert_eq!(f["uid"], 0);
            continue;
        }
        let user = unit == USER_UNIT;
        let sd = &sd[unit];
        assert_eq!(
            pids, in_cgroup[&sd["ControlGroup"]],
            "{h} {unit}: the PIDs are not those of the unit's cgroup"
        );
        assert!(
            pids.contains(&sd["MainPID"].parse().unwrap()),
            "{h} {unit}: MainPID"
        );
        if unit == "fl-forking.service" {
            assert_eq!(pids.len(), 3, "{h}: master and 2 workers, folded into one");
        }
        if user {
            assert_eq!(f["kind"], "user-service");
            assert_eq!(f["user"], "fleet");
            let uid = f["uid"].as_u64().unwrap();
            assert_eq!(f["manager"], format!("user@{uid}.service"));
        } else {
            assert_eq!(f["kind"], "service", "{h} {unit}");
            assert_eq!(f["uid"], 0);
        }
    }

    // --units, -b and --plan agree with --json
    let units_out = lab.ssh(h, "needs-restart --units --lib libgnutls");
    assert_eq!(support::code(&units_out), 1);
    let listed = set(support::stdout(&units_out).lines());
    assert_eq!(listed, set(RESTARTED), "{h}: --units (deferred left out)");
    let b = lab.ssh(h, "needs-restart -b --lib libgnutls");
    // -b answers 1 like the other modes, or always 0 like needrestart -b where --help says so
    let help = lab.ok(h, "needs-restart --help");
    let b_code = if help.contains("always, with -b") {
        0
    } else {
        1
    };
    assert_eq!(support::code(&b), b_code, "{h}: -b exit status");
    let svc = set(support::stdout(&b)
        .lines()
        .filter_map(|l| l.strip_prefix("NEEDRESTART-SVC: ")));
    let mut services = set(RESTARTED);
    services.insert(DEFERRED.into());
    assert_eq!(svc, services, "{h}: -b services");
    let plan = lab.ok_code(h, "needs-restart --plan --lib libgnutls", 1);
    let marked = set(plan.lines().filter_map(|l| {
        l.strip_prefix("systemctl set-property ")
            .and_then(|r| r.strip_suffix(" Markers=+needs-restart"))
    }));
    assert_eq!(marked, set(RESTARTED), "{h}: plan\n{plan}");
    assert_eq!(
        plan.lines()
            .filter(|l| !l.starts_with('#')
                && !l.starts_with("set ")
                && !l.starts_with("systemctl set-property"))
            .collect::<Vec<_>>(),
        ["systemctl reload-or-restart --marked"],
        "{h}: one transaction\n{plan}"
    );
    let deferred_bus = format!("# deferred: {DEFERRED}: ");
    assert!(plan.contains(&deferred_bus), "{h}: {plan}");
    assert!(
        plan.contains(&format!(
            "# deferred: {scope}: a login session of uid 0: log out"
        )),
        "{h}: {plan}"
    );
    let user_hint = plan
        .lines()
        .find_map(|l| l.strip_prefix(&format!("# deferred: {USER_UNIT}: ")))
        .unwrap_or_else(|| panic!("{h}: the user service is not deferred\n{plan}"));
    let user_cmd = user_hint
        .split_once(": ")
        .map(|(_, c)| c.to_string())
        .unwrap_or_else(|| panic!("{h}: no command in {user_hint}"));
    // the same answer for the sudo user
    let out = lab.ssh_full(
        Some("fleet"),
        h,
        "sudo -n needs-restart --units --lib libgnutls",
        b"",
    );
    assert_eq!(support::stdout(&out), support::stdout(&units_out));

    // --restart: each unit once, in order, from systemd's own records
    let cursor = lab
        .ok(h, "journalctl -n 0 --show-cursor -q")
        .trim()
        .strip_prefix("-- cursor: ")
        .unwrap()
        .to_string();
    let out = lab.ssh(h, "needs-restart --restart --lib libgnutls");
    let err = support::stderr(&out);
    assert_eq!(
        support::code(&out),
        1,
        "{h}: deferred units keep the answer at 1\n{err}"
    );
    assert!(
        err.contains(&format!("deferred: {DEFERRED}: the message bus")),
        "{h}: {err}"
    );
    assert!(
        err.contains(&format!("deferred: {USER_UNIT}: ")),
        "{h}: {err}"
    );
    let after = show(lab, h, false, &system);
    for u in RESTARTED {
        let now = &after[u];
        let was = &before[u];
        assert_eq!(now["ActiveState"], "active", "{h} {u}");
        assert_ne!(
            now["InvocationID"], was["InvocationID"],
            "{h} {u}: not restarted"
        );
        assert!(
            now["ExecMainStartTimestampMonotonic"]
                .parse::<u64>()
                .unwrap()
                > was["ExecMainStartTimestampMonotonic"]
                    .parse::<u64>()
                    .unwrap(),
            "{h} {u}"
        );
        assert_eq!(
            now["NRestarts"], "0",
            "{h} {u}: restarted by systemd, not by us"
        );
    }
    for u in [DEFERRED, "ssh.service"] {
        assert_eq!(
            after[u]["InvocationID"], before[u]["InvocationID"],
            "{h} {u}: must not be restarted"
        );
    }
    let agent = || show(lab, h, true, &[USER_UNIT]).remove(USER_UNIT).unwrap();
    assert_eq!(agent()["InvocationID"], agent_before["InvocationID"]);
    let db = &after["fl-db.service"];
    let app = &after["fl-app.service"];
    assert!(
        app["ExecMainStartTimestampMonotonic"]
            .parse::<u64>()
            .unwrap()
            > db["ExecMainStartTimestampMonotonic"]
                .parse::<u64>()
                .unwrap(),
        "{h}: fl-app started before fl-db"
    );
    journal_order(lab, h, &cursor);

    // what is left: the deferred units, and the answer stays 1 until they are restarted
    let out = lab.ssh(
        h,
        "needs-restart --units --lib libgnutls; needs-restart --json --lib libgnutls",
    );
    assert_eq!(support::code(&out), 1);
    let left = json_lines(
        &support::stdout(&out)
            .lines()
            .filter(|l| l.starts_with('{'))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let left_units = set(left.iter().filter_map(|f| f["unit"].as_str()));
    assert_eq!(left_units, set([DEFERRED, USER_UNIT, &scope]), "{h}");
    // the plan's own command for the user service works as printed
    lab.ok(h, &user_cmd);
    assert_ne!(
        agent()["InvocationID"],
        agent_before["InvocationID"],
        "{h}: `{user_cmd}` did not restart it"
    );
    // the operator restarts the bus when it suits; then the host is clean
    lab.ok(h, &format!("systemctl restart {DEFERRED}"));
    // and the session's leftover ends (`loginctl terminate-session` does nothing to a
    // session that is already closing: stopping its scope does)
    lab.ok(
        h,
        &format!(
            "systemctl stop {scope}; \
             for i in $(seq 100); do [ -d /proc/{session_pid} ] || exit 0; sleep 0.1; done; exit 1"
        ),
    );
    let out = lab.ssh(h, "needs-restart --lib libgnutls");
    assert_eq!(support::code(&out), 0, "{h}: {}", support::stdout(&out));
}

/// The journal after `cursor`: one start per restarted unit (systemd's "Started" and the
/// daemon's own line), in dependency order, one reload-or-restart transaction.
fn journal_order(lab: &Lab, h: &str, cursor: &str) {
    let text = lab.ok(
        h,
        &format!("journalctl -o json --no-pager --after-cursor='{cursor}'"),
    );
    let entries = json_lines(&text);
    let msg = |e: &Value| e["MESSAGE"].as_str().unwrap_or("").to_string();
    let queued = entries
        .iter()
        .filter(|e| msg(e).starts_with("Queuing reload/restart jobs for marked units"))
        .count();
    assert_eq!(queued, 1, "{h}: one transaction of marked units");
    let pos = |unit: &str, what: &str| -> Vec<usize> {
        entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e["_SYSTEMD_UNIT"].as_str() == Some(unit)
                    && msg(e).contains(&format!(": {what} pid="))
            })
            .map(|(i, _)| i)
            .collect()
    };
    for u in RESTARTED {
        let started: Vec<&Value> = entries
            .iter()
            .filter(|e| {
                e["UNIT"].as_str() == Some(u)
                    && e["JOB_TYPE"].as_str() == Some("start")
                    && e["JOB_RESULT"].as_str() == Some("done")
            })
            .collect();
        assert_eq!(started.len(), 1, "{h} {u}: started {} times", started.len());
        assert_eq!(
            pos(u, "start").len(),
            1,
            "{h} {u}: the daemon's own start line"
        );
        assert_eq!(
            pos(u, "stop").len(),
            1,
            "{h} {u}: the daemon's own stop line"
        );
    }
    assert!(pos(DEFERRED, "stop").is_empty() && pos(DEFERRED, "start").is_empty());
    // After=: fl-app stops before fl-db stops, and starts after fl-db is ready
    assert!(
        pos("fl-app.service", "stop")[0] < pos("fl-db.service", "stop")[0],
        "{h}"
    );
    assert!(
        pos("fl-db.service", "ready")[0] < pos("fl-app.service", "start")[0],
        "{h}"
    );
    assert!(
        !text.contains("refusing to start"),
        "{h}: fl-app started before fl-db was ready"
    );
}

fn playbook_path(name: &str) -> String {
    support::root()
        .join("examples/fleet")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn sha256(data: &[u8]) -> String {
    let mut c = std::process::Command::new("sha256sum");
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), data).unwrap();
    let out = child.wait_with_output().unwrap();
    support::stdout(&out)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// examples/fleet/ through `fleetlab playbook`: (a) install, (b) gather, (c) rollout in
/// waves stopped by a host the lab kills before its wave.
fn playbooks(lab: &Lab, hosts: &[String]) {
    let fail = |what: &str, out: &std::process::Output| {
        format!(
            "{what}: exit {:?}\n{}\n{}",
            out.status.code(),
            support::stdout(out),
            support::stderr(out)
        )
    };
    // (a) the binary on every host, and its links
    let bin = support::real_bin();
    let out = lab.ansible(
        "playbook",
        &[
            &playbook_path("install.yml"),
            "-e",
            &format!("opsbox_binary={}", bin.display()),
        ],
    );
    assert_eq!(support::code(&out), 0, "{}", fail("install.yml", &out));
    let want = sha256(&std::fs::read(&bin).unwrap());
    on_every_host(hosts, |h| {
        let got = lab.ok(
            h,
            "sha256sum < /usr/local/bin/opsbox; readlink -f /usr/local/bin/needs-restart",
        );
        assert_eq!(got, format!("{want}  -\n/usr/local/bin/opsbox\n"), "{h}");
    });

    // the library upgraded on every host, by an ad-hoc command
    let out = lab.ansible(
        "ansible",
        &[
            "fleet",
            "-m",
            "ansible.builtin.shell",
            "-a",
            &format!("cp -p {LIB} {LIB}.dpkg-new && mv -f {LIB}.dpkg-new {LIB}"),
        ],
    );
    assert_eq!(support::code(&out), 0, "{}", fail("ansible -m shell", &out));

    // (b) one file of answers on the controller: every host, every unit
    let answers = lab.dir.join("answers.jsonl");
    let out = lab.ansible(
        "playbook",
        &[
            &playbook_path("gather.yml"),
            "-e",
            &format!("answers={}", answers.display()),
        ],
    );
    assert_eq!(support::code(&out), 0, "{}", fail("gather.yml", &out));
    let lines = json_lines(
        &std::fs::read_to_string(&answers)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let mut all = set(RESTARTED);
    all.insert(DEFERRED.into());
    all.insert(USER_UNIT.into());
    let mut seen = Vec::new();
    let mut units = BTreeSet::new();
    for l in &lines {
        match l["type"].as_str() {
            Some("finding") => {
                units.insert(l["unit"].as_str().unwrap().to_string());
            }
            Some("summary") => {
                // each host's findings come before its summary
                assert_eq!(units, all, "{}", l["host"]);
                assert_eq!(l["findings"], all.len());
                seen.push(l["host"].as_str().unwrap().to_string());
                units.clear();
            }
            _ => panic!("unexpected answer line {l}"),
        }
    }
    assert_eq!(seen, hosts, "one summary per host, in inventory order");

    // (c) the rollout: staging, then production one host a wave. The lab kills host3 while
    // the playbook runs, when production's first wave (host2) begins: host3's wave comes
    // only after host2's six tasks. The rollout stops at host3; host4 is not touched.
    let before = |h: &str| {
        show(lab, h, false, &["fl-simple.service"])["fl-simple.service"]["InvocationID"].clone()
    };
    let was: Vec<String> = hosts.iter().map(|h| before(h)).collect();
    let t = Instant::now();
    let mut child = lab
        .cmd("playbook")
        .arg(playbook_path("rollout.yml"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("run fleetlab playbook");
    let mut text = String::new();
    let mut killed = false;
    for line in std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap())) {
        let line = line.unwrap();
        if !killed && line.starts_with("PLAY [production") {
            let out = support::run(lab.cmd("kill").arg("host3"));
            assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
            killed = true;
        }
        text.push_str(&line);
        text.push('\n');
    }
    let status = child.wait().unwrap();
    eprintln!(
        "fleetlab playbook rollout.yml (host3 killed on the way): {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert!(killed, "production never began:\n{text}");
    assert_eq!(status.code(), Some(2), "rollout.yml:\n{text}");
    assert!(text.contains("fatal: [host3]: UNREACHABLE!"), "{text}");
    assert!(text.contains("NO MORE HOSTS LEFT"), "{text}");
    let recap = &text[text.find("PLAY RECAP").expect("a recap")..];
    for h in ["host1", "host2"] {
        let line = recap.lines().find(|l| l.starts_with(h)).unwrap_or("");
        assert!(
            line.contains("failed=0") && line.contains("unreachable=0"),
            "{recap}"
        );
    }
    assert!(
        !recap.contains("host4"),
        "host4 was reached after host3 failed:\n{recap}"
    );
    for (i, h) in hosts.iter().enumerate() {
        if h == "host3" {
            continue;
        }
        let units = lab.ssh(h, "needs-restart --units --lib libgnutls");
        if h == "host4" {
            assert_eq!(
                before(h),
                was[i],
                "host4 restarted although the rollout stopped"
            );
            assert_eq!(set(support::stdout(&units).lines()), set(RESTARTED));
        } else {
            assert_ne!(before(h), was[i], "{h} not restarted by the rollout");
            assert_eq!(support::stdout(&units), "", "{h}");
        }
    }
}

trait OkCode {
    fn ok_code(&self, host: &str, script: &str, code: i32) -> String;
}

impl OkCode for Lab {
    fn ok_code(&self, host: &str, script: &str, code: i32) -> String {
        let out = self.ssh(host, script);
        assert_eq!(
            support::code(&out),
            code,
            "{host}: {script}\n{}",
            support::stderr(&out)
        );
        support::stdout(&out)
    }
}

/// `down` after an `up` killed half-way (its first host booting, the others not made
/// yet) still removes everything.
#[test]
fn down_after_a_killed_up_leaves_nothing() {
    if !fleetlab::available(&[]) {
        return;
    }
    let mut lab = Lab::unbooted("k");
    let mut up = lab
        .cmd("up")
        .arg("3")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // the first host's boot has begun when it has a PID 1
    let mut booting = false;
    for _ in 0..300 {
        booting = support::code(&support::run(lab.cmd("pid").arg("host1"))) == 0;
        if booting || up.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(booting, "up never began booting host1");
    up.kill().unwrap();
    up.wait().unwrap();
    lab.down();
}

/// A host without systemd (the lab's plain init starts sshd and fleet-sysvd from their
/// init scripts): needs-restart maps the daemon to the init script its package ships
/// (`dpkg -S`, `dpkg -L`) and plans and runs `service fleet-sysvd restart`, once.
#[test]
fn plain_init_host_gets_a_service_plan() {
    if !fleetlab::available(&[]) {
        return;
    }
    let mut lab = Lab::up("p", &["--plain", "sysv1", "0"]);
    let h = "sysv1";
    assert_eq!(
        lab.hosts(),
        [("sysv1".to_string(), "192.0.2.110".to_string())]
    );
    assert_eq!(lab.ok(h, "cat /proc/1/comm").trim(), "fleet-init");
    assert_eq!(
        lab.ok(h, "test -d /run/systemd/system || echo none").trim(),
        "none"
    );
    assert_eq!(
        lab.ok(h, "dpkg -S /usr/sbin/fl-sysvd").trim(),
        "fleet-sysvd: /usr/sbin/fl-sysvd"
    );
    install_opsbox(&lab, h);
    let pid_before = lab.ok(h, "cat /run/fl-sysvd.pid").trim().to_string();
    let starts = |lab: &Lab| {
        lab.ok(h, "grep -c ': start pid=' /var/log/fl-sysvd.log")
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let starts_before = starts(&lab);
    upgrade_library(&lab, h);

    let plan = lab.ok_code(h, "needs-restart --plan --lib libgnutls", 1);
    let commands: Vec<&str> = plan
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("set "))
        .collect();
    assert_eq!(commands, ["service fleet-sysvd restart"], "{plan}");
    let out = lab.ssh(h, "needs-restart --restart --lib libgnutls");
    assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
    assert!(
        support::stderr(&out).contains("service fleet-sysvd restart"),
        "{}",
        support::stderr(&out)
    );
    // restarted once, by its init script: a new process, one more start line
    let pid_after = lab.ok(h, "cat /run/fl-sysvd.pid").trim().to_string();
    assert_ne!(pid_before, pid_after);
    assert_eq!(
        lab.ok(h, &format!("cat /proc/{pid_after}/comm")).trim(),
        "fl-sysvd"
    );
    assert_eq!(starts(&lab), starts_before + 1);
    let out = lab.ssh(h, "needs-restart --lib libgnutls");
    assert_eq!(support::code(&out), 0, "{}", support::stdout(&out));
    lab.down();
}
