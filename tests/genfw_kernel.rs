//! genfw against real kernel rules, always inside a throwaway user+network namespace the
//! test creates (`unshare -Urn`): never the host's own firewall.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::*;

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/genfw")
}

fn tools(names: &[&str]) -> bool {
    names.iter().all(|t| have_tool(t))
}

/// Run a bash script in a new user+network namespace, in the fixtures directory, with the
/// applet links first on PATH and $T a scratch directory.
fn userns(t: &Path, script: &str) -> Output {
    let path = format!(
        "{}:{}",
        links_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new("unshare")
        .args(["-Urn", "bash", "-c", &format!("set -u\n{script}")])
        .current_dir(fixtures())
        .env("PATH", path)
        .env("T", t)
        .env_remove("SSH_CONNECTION"))
}

fn ok(o: &Output) -> String {
    assert_eq!(code(o), 0, "stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o));
    stdout(o)
}

/// An inventory B: fleet.ini plus db-c, so db-a's peers change.
fn inventory_b(t: &Path) -> PathBuf {
    let mut text = std::fs::read_to_string(fixtures().join("fleet.ini")).unwrap();
    text.push_str("\n[db]\ndb-c ansible_host=192.0.2.33\n");
    let p = t.join("b.ini");
    std::fs::write(&p, text).unwrap();
    p
}

fn set_elems(json: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(json).expect("nft -j output");
    let mut m = std::collections::BTreeMap::new();
    for item in v["nftables"].as_array().unwrap() {
        if let Some(s) = item.get("set") {
            let elems = s["elem"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| match e.get("prefix") {
                            Some(p) => format!("{}/{}", p["addr"].as_str().unwrap(), p["len"]),
                            None => e.as_str().unwrap().to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            m.insert(s["name"].as_str().unwrap().to_string(), elems);
        }
    }
    m
}

#[test]
fn nft_render_loads_and_lists_the_intended_sets() {
    if !tools(&["unshare", "nft"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let out = ok(&userns(
        t.path(),
        "genfw render -i fleet.ini --host db-a > $T/f.nft && nft -f $T/f.nft && nft -j list table inet genfw",
    ));
    let sets = set_elems(&out);
    assert_eq!(sets["mgmt4"], ["10.8.0.0/24"]);
    assert_eq!(sets["mgmt6"], ["fd00:8::/64"]);
    assert_eq!(
        sets["peers4"],
        ["192.0.2.21", "192.0.2.22", "192.0.2.23", "192.0.2.32"]
    );
    assert_eq!(sets["peers6"], ["2001:db8:1::23"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let chain = v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|i| i.get("chain"))
        .unwrap();
    assert_eq!(
        (chain["hook"].as_str(), chain["policy"].as_str()),
        (Some("input"), Some("drop"))
    );
    // every fixture's render is accepted by genfw check (a real load in a namespace)
    for args in [
        "-i ips.txt --host 192.0.2.10 --mgmt 10.8.0.0/24",
        "-i hosts --host app1 --mgmt 10.8.0.0/24",
        "-i fleet.json --host vpn1",
        "-i fleet.ini --host lb1 -f iptables",
    ] {
        let o = run(applet("genfw")
            .arg("check")
            .args(args.split(' '))
            .current_dir(fixtures()));
        assert!(ok(&o).starts_with("ok: host "), "{args}");
    }
}

#[test]
fn iptables_files_load_with_sets_and_one_jump() {
    if !tools(&["unshare", "ipset", "iptables-restore", "ip6tables-restore"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let out = ok(&userns(
        t.path(),
        "genfw render -f iptables -i fleet.ini --host db-a -o $T/r
         for i in 1 2; do
           ipset restore < $T/r/genfw.ipset && iptables-restore --noflush < $T/r/genfw.v4 && ip6tables-restore --noflush < $T/r/genfw.v6 || exit 9
           iptables -C INPUT -j GENFW-INPUT 2>/dev/null || iptables -I INPUT 1 -j GENFW-INPUT
           iptables-save -t filter | grep -c GENFW-INPUT > $T/count$i
         done
         cmp $T/count1 $T/count2 && ipset list genfw-peers4 && ipset list genfw-peers6 && ipset list -n && iptables-save -t filter",
    ));
    for a in [
        "192.0.2.21",
        "192.0.2.22",
        "192.0.2.23",
        "192.0.2.32",
        "2001:db8:1::23",
    ] {
        assert!(
            out.contains(&format!("\n{a}\n")),
            "{a} not in the sets:\n{out}"
        );
    }
    assert!(
        !out.contains("genfw-peers4-new"),
        "temporary set left:\n{out}"
    );
    assert!(
        out.contains(":INPUT ACCEPT"),
        "chain policy changed:\n{out}"
    );
    assert!(out.contains("-A GENFW-INPUT -p tcp -m set --match-set genfw-peers4 src -m multiport --dports 5432 -j ACCEPT"));
}

#[test]
fn loading_twice_equals_once_and_a_broken_file_changes_nothing() {
    if !tools(&["unshare", "nft"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    ok(&userns(
        t.path(),
        "genfw render -i fleet.ini --host db-a > $T/f.nft
         nft -f $T/f.nft && nft -s list ruleset > $T/once
         nft -f $T/f.nft && nft -s list ruleset > $T/twice
         cmp $T/once $T/twice || exit 3
         genfw render -i fleet.ini --host vpn1 | sed 's/counter drop/counter dorp/' > $T/broken.nft
         if nft -f $T/broken.nft 2>$T/err; then exit 4; fi
         grep -q dorp $T/err || exit 5
         nft -s list ruleset > $T/after
         cmp $T/once $T/after || exit 6",
    ));
}

#[test]
fn apply_leaves_docker_and_fail2ban_alone() {
    if !tools(&["unshare", "nft", "iptables", "ipset"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let out = ok(&userns(
        t.path(),
        "iptables -N DOCKER-USER && iptables -A DOCKER-USER -j RETURN && iptables -A FORWARD -j DOCKER-USER
         iptables -t nat -N DOCKER && iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
         nft add table inet f2b-table
         nft add chain inet f2b-table f2b-chain '{ type filter hook input priority filter - 1; }'
         nft add set inet f2b-table addr-set-sshd '{ type ipv4_addr; }'
         nft add element inet f2b-table addr-set-sshd '{ 203.0.113.66 }'
         nft add rule inet f2b-table f2b-chain tcp dport 22 ip saddr @addr-set-sshd reject
         genfw apply -i fleet.ini --host db-a --state-dir $T/s || exit 7
         genfw apply -f iptables -i fleet.ini --host db-a --state-dir $T/s2 || exit 8
         echo ==; iptables-save; echo ==; nft list table inet f2b-table; nft -s list table inet genfw",
    ));
    assert!(
        out.contains("-A FORWARD -j DOCKER-USER") && out.contains("-A DOCKER-USER -j RETURN"),
        "{out}"
    );
    assert!(
        out.contains("-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"),
        "{out}"
    );
    assert!(
        out.contains("elements = { 203.0.113.66 }") && out.contains("@addr-set-sshd reject"),
        "{out}"
    );
    assert!(
        out.contains("-A INPUT -j GENFW-INPUT") && out.contains(":FORWARD ACCEPT"),
        "{out}"
    );
    assert!(out.contains("table inet genfw {"), "{out}");
}

#[test]
fn apply_is_idempotent_and_diff_finds_drift() {
    if !tools(&["unshare", "nft", "iptables", "ipset"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let out = ok(&userns(
        t.path(),
        "for f in nft iptables; do
           genfw diff -f $f -i fleet.ini --host db-a; echo \"diff-before $?\"
           genfw apply -f $f -i fleet.ini --host db-a --state-dir $T/$f
           genfw apply -f $f -i fleet.ini --host db-a --state-dir $T/$f
           genfw diff -f $f -i fleet.ini --host db-a; echo \"diff-same $?\"
         done
         nft add element inet genfw peers4 '{ 203.0.113.9 }'
         ipset add genfw-peers6 2001:db8:dead::1
         genfw diff -i fleet.ini --host db-a; echo \"diff-nft $?\"
         genfw diff -f iptables -i fleet.ini --host db-a; echo \"diff-ipt $?\"",
    ));
    assert_eq!(out.matches("applied: host db-a").count(), 2, "{out}");
    assert_eq!(out.matches("unchanged: host db-a").count(), 2, "{out}");
    assert_eq!(out.matches("diff-before 1").count(), 2, "{out}");
    assert!(out.contains("+ set peers4 192.0.2.21"), "{out}");
    assert_eq!(out.matches("diff-same 0").count(), 2, "{out}");
    assert!(
        out.contains("- set peers4 203.0.113.9\ndiff-nft 1"),
        "{out}"
    );
    assert!(
        out.contains("- ipset genfw-peers6 2001:db8:dead::1\ndiff-ipt 1"),
        "{out}"
    );
}

#[test]
fn rollback_guard_restores_after_the_starter_dies_by_sighup() {
    if !tools(&["unshare", "nft", "setsid"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let b = inventory_b(t.path()).display().to_string();
    let out = ok(&userns(
        t.path(),
        &format!(
            "genfw apply -i fleet.ini --host db-a --state-dir $T/s >/dev/null || exit 2
             nft -s list table inet genfw > $T/a
             # the SSH session: starts a guarded apply, then dies by SIGHUP
             setsid bash -c 'genfw apply -i {b} --host db-a --confirm 2 --state-dir $T/s > $T/apply.out 2>&1; sleep 60' &
             starter=$!
             for i in $(seq 300); do [ -s $T/s/guard.pid ] && break; sleep 0.1; done
             kill -HUP -- -$starter; kill -HUP $(cat $T/s/guard.pid)
             nft -s list table inet genfw > $T/b
             grep -q 192.0.2.33 $T/b || {{ echo 'new rules not loaded'; cat $T/apply.out; exit 3; }}
             # the guard acts 2 s after the apply; a busy machine may take longer
             for i in $(seq 200); do grep -q ' guard: ' $T/s/guard.log && break; sleep 0.1; done
             nft -s list table inet genfw > $T/c
             cmp $T/a $T/c || {{ echo 'not rolled back'; diff $T/a $T/c; exit 4; }}
             cat $T/s/guard.log; cat $T/apply.out
             genfw confirm --state-dir $T/s; echo \"late-confirm $?\""
        ),
    ));
    assert!(
        out.contains(" guard: rolled back: not confirmed within 2 s\n"),
        "{out}"
    );
    assert!(
        out.contains("rollback guard: the previous rules come back in 2 s"),
        "{out}"
    );
    assert!(out.contains("late-confirm 1"), "{out}");
}

#[test]
fn confirm_keeps_the_new_rules() {
    if !tools(&["unshare", "nft"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let b = inventory_b(t.path()).display().to_string();
    let out = ok(&userns(
        t.path(),
        &format!(
            "genfw apply -i fleet.ini --host db-a --state-dir $T/s >/dev/null || exit 2
             genfw apply -i {b} --host db-a --confirm 2 --state-dir $T/s || exit 3
             genfw apply -i fleet.ini --host db-a --state-dir $T/s; echo \"second-apply $?\"
             genfw confirm --state-dir $T/s || exit 4
             # until the guard has woken up and gone (2 s, more on a busy machine)
             g=$(cat $T/s/guard.pid); for i in $(seq 300); do kill -0 $g 2>/dev/null || break; sleep 0.1; done
             nft -s list table inet genfw | grep -c 192.0.2.33
             grep -q ' guard: ' $T/s/guard.log && echo 'guard acted'
             echo ==; cat $T/s/guard.log"
        ),
    ));
    assert!(
        out.contains("second-apply 2"),
        "a pending guard must block another apply: {out}"
    );
    assert!(out.contains("confirmed: the new rules stay\n1\n"), "{out}");
    assert!(!out.contains("guard acted"), "{out}");
    // guard.log: one timestamped line per apply, refusal and confirm, in order
    let log: Vec<&str> = out.split("==\n").nth(1).unwrap().lines().collect();
    let what: Vec<&str> = log.iter().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(
        what,
        [
            "apply db-a: applied (nft)",
            what[1],
            "confirm: confirmed, the new rules stay",
        ],
        "{out}"
    );
    assert!(
        what[1].starts_with("apply db-a: applied (nft), guard 2 s, until 20"),
        "{out}"
    );
    for l in &log {
        let ts = l.split(' ').next().unwrap();
        assert!(
            ts.len() == 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{l}"
        );
    }
}

#[test]
fn rollback_now_both_backends() {
    if !tools(&["unshare", "nft", "iptables", "ipset"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let b = inventory_b(t.path()).display().to_string();
    let out = ok(&userns(
        t.path(),
        &format!(
            "genfw apply -i fleet.ini --host db-a --state-dir $T/s >/dev/null || exit 2
             genfw apply -i {b} --host db-a --state-dir $T/s >/dev/null || exit 3
             genfw rollback --state-dir $T/s || exit 4
             genfw diff -i fleet.ini --host db-a; echo \"nft-diff $?\"
             # iptables: the snapshot of 'nothing' removes ours completely
             genfw apply -f iptables -i {b} --host db-a --state-dir $T/i >/dev/null || exit 5
             genfw rollback --state-dir $T/i || exit 6
             iptables-save -t filter | grep -c GENFW; ipset list -n | grep -c genfw
             true"
        ),
    ));
    assert!(out.contains("nft-diff 0"), "{out}");
    assert!(out.ends_with("0\n0\n"), "{out}");
}

#[test]
fn refusals_lockout_and_empty_peers() {
    if !tools(&["unshare", "nft"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("one.ini"),
        "[all:vars]\ngenfw_mgmt=10.8.0.0/24\n[a]\nsolo ansible_host=192.0.2.1\n",
    )
    .unwrap();
    let out = ok(&userns(
        t.path(),
        "SSH_CONNECTION='203.0.113.50 40000 192.0.2.31 22' genfw apply -i fleet.ini --host db-a --state-dir $T/s; echo \"stranger $?\"
         nft list table inet genfw >/dev/null 2>&1 && echo 'loaded anyway'
         SSH_CONNECTION='10.8.0.7 40000 192.0.2.31 22' genfw apply -i fleet.ini --host db-a --state-dir $T/s; echo \"mgmt $?\"
         SSH_CONNECTION='192.0.2.21 40000 192.0.2.31 22' genfw apply -i fleet.ini --host db-a --state-dir $T/s; echo \"peer-not-on-22 $?\"
         genfw apply -i $T/one.ini --host solo --state-dir $T/s; echo \"empty $?\"
         genfw apply -i $T/one.ini --host solo --allow-empty --state-dir $T/s; echo \"allowed $?\"",
    ));
    assert!(
        out.contains("stranger 2") && !out.contains("loaded anyway"),
        "{out}"
    );
    assert!(out.contains("mgmt 0"), "{out}");
    assert!(out.contains("peer-not-on-22 2"), "{out}");
    assert!(
        out.contains("empty 2") && out.contains("allowed 0"),
        "{out}"
    );
}

#[test]
fn finds_itself_by_its_interface_addresses() {
    if !tools(&["unshare", "ip"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let out = ok(&userns(
        t.path(),
        "genfw render -i fleet.ini; echo \"none $?\"
         ip link add d0 type veth peer name d1 && ip link set d0 up && ip addr add 192.0.2.31/24 dev d0 || exit 2
         genfw render -i fleet.ini | head -1
         ip addr del 192.0.2.31/24 dev d0 && ip -6 addr add 2001:db8:1::23/64 dev d0 nodad
         genfw render -i fleet.ini | head -1",
    ));
    assert!(out.contains("none 65"), "{out}");
    assert!(out.contains("for host db-a\n"), "{out}");
    assert!(out.contains("for host web03\n"), "{out}");
}

#[test]
fn missing_tool_is_69_and_loader_complaints_are_65() {
    if !tools(&["unshare", "nft"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let bin = t.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let unshare = Command::new("sh")
        .args(["-c", "command -v unshare"])
        .output()
        .unwrap();
    let unshare = String::from_utf8(unshare.stdout).unwrap();
    std::os::unix::fs::symlink(unshare.trim(), bin.join("unshare")).unwrap();
    let out = run(applet("genfw")
        .args(["check", "-i", "fleet.ini", "--host", "db-a"])
        .current_dir(fixtures())
        .env("PATH", &bin));
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nft: not found (install the Debian package nftables)"),
        "{}",
        stderr(&out)
    );
    // a loader that refuses: its message, exit 65
    let fake = bin.join("nft");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'Error: Could not process rule: Operation not supported' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(applet("genfw")
        .args(["check", "-i", "fleet.ini", "--host", "db-a"])
        .current_dir(fixtures())
        .env("PATH", &bin));
    assert_eq!(code(&out), 65, "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "genfw: nft: Error: Could not process rule: Operation not supported\n"
    );
}

#[test]
fn persist_installs_a_hook_that_loads_only_ours() {
    if !tools(&["unshare", "nft", "iptables", "ipset"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("root");
    let out = run(applet("genfw")
        .args([
            "persist",
            "-i",
            "fleet.ini",
            "--host",
            "db-a",
            "--init",
            "systemd",
            "--root",
        ])
        .arg(&r)
        .current_dir(fixtures()));
    assert!(ok(&out).contains("genfw.service (enabled"));
    let unit = std::fs::read_to_string(r.join("etc/systemd/system/genfw.service")).unwrap();
    assert!(
        unit.contains(" -f /etc/genfw/genfw.nft\n") && unit.contains("WantedBy=sysinit.target"),
        "{unit}"
    );
    assert!(!unit.contains("flush ruleset"));
    let link = std::fs::read_link(r.join("etc/systemd/system/sysinit.target.wants/genfw.service"))
        .unwrap();
    assert_eq!(link, Path::new("../genfw.service"));
    assert_eq!(
        std::fs::read_to_string(r.join("etc/genfw/genfw.nft")).unwrap(),
        std::fs::read_to_string(fixtures().join("fleet-db-a.nft")).unwrap()
    );
    // ifupdown, iptables flavour: the hook really loads our rules (paths pointed at the root)
    let out = run(applet("genfw")
        .args([
            "persist",
            "-f",
            "iptables",
            "-i",
            "fleet.ini",
            "--host",
            "db-a",
            "--init",
            "ifupdown",
            "--root",
        ])
        .arg(&r)
        .current_dir(fixtures()));
    ok(&out);
    let hook = r.join("etc/network/if-pre-up.d/genfw");
    let text = std::fs::read_to_string(&hook).unwrap();
    std::fs::write(
        t.path().join("hook"),
        text.replace("/etc/genfw", &r.join("etc/genfw").display().to_string()),
    )
    .unwrap();
    let out = ok(&userns(
        t.path(),
        "sh $T/hook && sh $T/hook && iptables-save -t filter | grep -c -- '-A INPUT -j GENFW-INPUT'; ipset list genfw-peers4 | grep -c 192.0.2",
    ));
    assert_eq!(out, "1\n4\n");
    // a broken rules file: the hook logs, carries on with the other loads, and exits 0
    // (no `set -e`: an interface never stays down because of genfw)
    assert!(!text.contains("set -e"), "{text}");
    std::fs::write(
        r.join("etc/genfw/genfw.v4"),
        "*filter\n-A NOSUCHCHAIN -j BROKEN\nCOMMIT\n",
    )
    .unwrap();
    let o = userns(
        t.path(),
        "sh $T/hook; echo \"hook-exit $?\"; ipset list -n | grep -c genfw-",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "hook-exit 0\n4\n", "{}", stderr(&o));
    assert!(
        stderr(&o).contains("genfw: boot load failed (exit "),
        "the failure is said: {}",
        stderr(&o)
    );
}

#[test]
fn persist_writes_nothing_unless_it_can_finish() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("root");
    std::fs::create_dir(&r).unwrap();
    // auto with neither systemd nor ifupdown: refused before anything is written
    let out = run(applet("genfw")
        .args(["persist", "-i", "fleet.ini", "--host", "db-a", "--root"])
        .arg(&r)
        .current_dir(fixtures()));
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("neither systemd nor ifupdown"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&r).unwrap().count(), 0, "nothing written");
    // a bad inventory: the same
    let out = run(applet("genfw")
        .args([
            "persist",
            "-i",
            "fleet.ini",
            "--host",
            "nosuch",
            "--init",
            "systemd",
            "--root",
        ])
        .arg(&r)
        .current_dir(fixtures()));
    assert_eq!(code(&out), 65);
    assert_eq!(std::fs::read_dir(&r).unwrap().count(), 0, "nothing written");
}

#[test]
fn backend_remembered_status_and_check_all() {
    if !tools(&["unshare", "nft", "iptables", "ipset"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let out = ok(&userns(
        t.path(),
        "genfw status --state-dir $T/s; echo ==
         genfw apply -f iptables -i fleet.ini --host db-a --state-dir $T/s >/dev/null || exit 2
         # diff without -f compares in the backend the apply used: no false drift
         genfw diff -i fleet.ini --host db-a --state-dir $T/s; echo \"diff $?\"
         genfw diff -f nft -i fleet.ini --host db-a --state-dir $T/s >/dev/null; echo \"diff-nft $?\"
         echo ==; genfw status --state-dir $T/s
         echo ==; genfw status --json --state-dir $T/s
         echo ==; genfw rollback --state-dir $T/s >/dev/null; nft add table inet genfw
         genfw apply -i fleet.ini --host db-a --confirm 30 --state-dir $T/n >/dev/null || exit 3
         genfw status --json --state-dir $T/n; genfw confirm -q --state-dir $T/n",
    ));
    let parts: Vec<&str> = out.split("==\n").collect();
    assert!(
        parts[0].contains("loaded: nothing of genfw's (nft)"),
        "{out}"
    );
    assert!(parts[0].contains("guard: none pending"), "{out}");
    assert!(
        parts[1].contains("diff 0\n") && parts[1].contains("diff-nft 1\n"),
        "{out}"
    );
    assert!(parts[2].starts_with("loaded: iptables ("), "{out}");
    let fleet = fixtures().join("fleet.ini").display().to_string();
    assert!(
        parts[2].contains("last apply: host db-a at 20") && parts[2].contains(&fleet),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(parts[3]).unwrap();
    assert_eq!(v["backend"], "iptables");
    assert_eq!(v["loaded"], true);
    assert_eq!(v["last_apply"]["host"], "db-a");
    assert_eq!(v["last_apply"]["inventory"], fleet.as_str());
    assert_eq!(v["last_apply"]["sha256"].as_str().unwrap().len(), 64);
    assert!(v["guard"].is_null());
    let v: serde_json::Value = serde_json::from_str(parts[4].trim()).unwrap();
    assert_eq!(v["backend"], "nft");
    let left = v["guard"]["seconds_left"].as_u64().unwrap();
    assert!((1..=30).contains(&left), "{v}");
    assert_eq!(v["guard"]["running"], true);

    // check --all: every host, one line each, a summary; a bad host fails the run
    let o = run(applet("genfw")
        .args(["check", "--all", "-i", "fleet.ini"])
        .current_dir(fixtures()));
    let text = ok(&o);
    let lines: Vec<&str> = text.lines().collect();
    let hosts = lines.len() - 1;
    assert!(hosts >= 5, "{text}");
    assert!(
        lines[..hosts].iter().all(|l| l.starts_with("ok: host ")),
        "{text}"
    );
    assert_eq!(lines[hosts], format!("{hosts} hosts: {hosts} ok, 0 failed"));
    let bad = t.path().join("bad.ini");
    std::fs::write(
        &bad,
        "[all:vars]\ngenfw_mgmt=10.8.0.0/24\n[a]\nh1 ansible_host=192.0.2.1\nh2 ansible_host=192.0.2.2 genfw_public_tcp=http\n",
    )
    .unwrap();
    let o = run(applet("genfw").args(["check", "--all", "-i", bad.to_str().unwrap()]));
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        [
            "ok: host h1: 1 peers (1 IPv4, 0 IPv6), 1 management networks",
            &format!(
                "FAILED: host h2: {}:5: genfw_public_tcp: 'http' is not a port from 1 to 65535 (or a range A-B)",
                bad.display()
            ),
            "2 hosts: 1 ok, 1 failed",
        ]
    );
    let o = run(applet("genfw").args(["check", "--all", "--json", "-i", bad.to_str().unwrap()]));
    assert_eq!(code(&o), 65);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((v["ok"].as_u64(), v["failed"].as_u64()), (Some(1), Some(1)));
    assert_eq!(v["hosts"][1]["host"], "h2");
    assert_eq!(v["hosts"][1]["ok"], false);
}

/// `apply` warns about neighbours that fight over the same hooks: a running firewalld (a
/// process of that name, in a private PID namespace so no other test sees it) and rules in
/// both the legacy and the nft iptables backends. Before they exist, no warning.
#[test]
fn apply_warns_about_firewalld_and_mixed_iptables_backends() {
    if !tools(&["unshare", "nft", "iptables-legacy", "iptables-nft"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        links_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(Command::new("unshare")
        .args(["-Urnpf", "--mount-proc", "bash", "-c"])
        .arg(
            "set -u
             genfw apply -i fleet.ini --host db-a --state-dir $T/s 2>$T/before || exit 7
             cp /bin/sleep $T/firewalld && $T/firewalld 60 & fw=$!
             iptables-legacy -A INPUT -s 198.51.100.1 -j DROP && iptables-nft -A INPUT -s 198.51.100.2 -j DROP || exit 8
             genfw rollback --state-dir $T/s >/dev/null || exit 9
             genfw apply -i fleet.ini --host db-a --state-dir $T/s 2>$T/after || exit 10
             kill $fw; cat $T/before; echo ==; cat $T/after",
        )
        .current_dir(fixtures())
        .env("PATH", path)
        .env("T", t.path())
        .env_remove("SSH_CONNECTION"));
    let text = ok(&out);
    let (before, after) = text.split_once("==\n").expect("both runs reported");
    assert!(
        !before.contains("warning"),
        "no neighbours yet, no warning:\n{before}"
    );
    assert!(
        after.contains("genfw: warning: firewalld is running"),
        "{after}"
    );
    assert!(
        after.contains("genfw: warning: both the legacy and the nft iptables backends hold rules"),
        "{after}"
    );
}
