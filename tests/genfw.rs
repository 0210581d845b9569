//! genfw without the kernel: golden renders of every inventory format, the address traps
//! each rejected at its line, policy errors, usage and exit codes.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/genfw")
}

/// genfw ARGS run in the fixtures directory (so inventories are named as in the goldens).
fn genfw(args: &[&str]) -> std::process::Output {
    run(applet("genfw").args(args).current_dir(fixtures()))
}

/// Write `text` as `DIR/inv.ini` and run `genfw [SUB...] -i DIR/inv.ini --host h1`.
fn on_h1(dir: &Path, text: &str, sub: &[&str]) -> (PathBuf, std::process::Output) {
    let f = dir.join("inv.ini");
    std::fs::write(&f, text).unwrap();
    let out = run(applet("genfw")
        .args(sub)
        .args(["-i", f.to_str().unwrap(), "--host", "h1"]));
    (f, out)
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

fn assert_golden(args: &[&str], name: &str) {
    let out = genfw(args);
    assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    let got = stdout(&out);
    assert!(got == golden(name), "{args:?} differs from {name}:\n{got}");
    // byte-identical on a second run: no timestamps, stable order
    assert_eq!(stdout(&genfw(args)), got);
}

#[test]
fn golden_plain_list() {
    assert_golden(
        &[
            "render",
            "-i",
            "ips.txt",
            "--host",
            "192.0.2.10",
            "--mgmt",
            "10.8.0.0/24",
            "--public-tcp",
            "443",
        ],
        "ips.nft",
    );
    let out = genfw(&[
        "-i",
        "ips.txt",
        "--host",
        "192.0.2.10",
        "--mgmt",
        "10.8.0.0/24",
    ]);
    assert!(
        stderr(&out).contains("genfw: warning: ips.txt:7: duplicate of line 3"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn golden_hosts_file() {
    // found by its alias; loopback and multicast lines are not fleet members
    assert_golden(
        &[
            "render",
            "-i",
            "hosts",
            "--host",
            "app1",
            "--mgmt",
            "10.8.0.0/24,fd00:8::/64",
        ],
        "hosts.nft",
    );
    let text = golden("hosts.nft");
    assert!(
        !text.contains("192.0.2.10,") && !text.contains("127.0"),
        "{text}"
    );
}

#[test]
fn golden_ansible_ini() {
    assert_golden(
        &["render", "-i", "fleet.ini", "--host", "db-a"],
        "fleet-db-a.nft",
    );
    assert_golden(
        &["render", "-i", "fleet.ini", "--host", "vpn1"],
        "fleet-vpn1.nft",
    );
    assert_golden(
        &[
            "render",
            "-i",
            "fleet.ini",
            "--host",
            "web03",
            "-f",
            "iptables",
        ],
        "fleet-web03.ipt",
    );
    // db-a: peers are the backend group only (web01-03 and db-b), on the narrowed ports
    let t = golden("fleet-db-a.nft");
    assert!(
        t.contains("ip saddr @peers4 tcp dport { 5432 } accept"),
        "{t}"
    );
    assert!(
        t.contains("ip saddr @peers4 udp dport { 5353 } accept"),
        "{t}"
    );
    assert!(!t.contains("192.0.2.5") && !t.contains("192.0.2.99") && !t.contains("192.0.2.31"));
    for peer in [
        "192.0.2.21",
        "192.0.2.22",
        "192.0.2.23",
        "192.0.2.32",
        "2001:db8:1::23",
    ] {
        assert!(t.contains(peer), "{peer} missing");
    }
}

/// The JSON of `ansible-inventory --list` gives the same rules as the INI it came from
/// (all but the header's file name and hash).
#[test]
fn ansible_json_matches_ini() {
    let body = |s: String| s.lines().skip(2).collect::<Vec<_>>().join("\n");
    for host in ["db-a", "vpn1", "lb1", "web03"] {
        let ini = stdout(&genfw(&["-i", "fleet.ini", "--host", host]));
        let out = genfw(&["-i", "fleet.json", "--host", host]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(body(stdout(&out)), body(ini), "{host}");
    }
    // and freshly from the real ansible-inventory, when it is installed
    if have_tool("ansible-inventory") {
        let out = run(Command::new("ansible-inventory")
            .args(["--list", "-i", "fleet.ini"])
            .current_dir(fixtures()));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("fleet.json");
        std::fs::write(&j, &out.stdout).unwrap();
        let mine = genfw(&["-i", j.to_str().unwrap(), "--host", "db-a"]);
        assert_eq!(code(&mine), 0, "{}", stderr(&mine));
        assert_eq!(body(stdout(&mine)), body(golden("fleet-db-a.nft")));
    }
}

#[test]
fn header_carries_version_and_inventory_sha256() {
    let text = golden("fleet-db-a.nft");
    let out = run(Command::new("sha256sum")
        .arg("fleet.ini")
        .current_dir(fixtures()));
    let sum = stdout(&out).split_whitespace().next().unwrap().to_string();
    let line2 = text.lines().nth(1).unwrap();
    assert_eq!(line2, format!("# inventory fleet.ini sha256 {sum}"));
    let v = stdout(&run(opsbox().arg("--version")));
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains(&format!("opsbox {}", v.split_whitespace().nth(1).unwrap()))
    );
    // stdin works too, and hashes the same bytes
    let out = run(applet("genfw")
        .args(["-i", "-", "--host", "db-a"])
        .stdin(std::fs::File::open(fixtures().join("fleet.ini")).unwrap()));
    assert!(stdout(&out).contains(&sum), "{}", stderr(&out));
}

/// Each trap, at line 3 of a plain list, in the mgmt variable of an INI file, and in JSON.
#[test]
fn address_traps_rejected_with_their_line() {
    let traps = [
        ("010.0.0.1", "leading zero"),
        ("10.0.0.010", "leading zero"),
        ("0x0a.0.0.1", "not a decimal number"),
        ("10.1", "no shorthand"),
        ("167772161", "no shorthand"),
        ("db01.example.com", "hostnames are not resolved"),
        ("fe80::1%eth0", "zone ids"),
        ("192.0.2.1/0", "--allow-any"),
        ("::/0", "--allow-any"),
        ("10.0.0.1/33", "the prefix must be a number from 0 to 32"),
        ("2001:db8::/129", "0 to 128"),
        ("256.1.1.1", "from 0 to 255"),
        ("2001:db8:::1", "not an IPv6 address"),
        ("1.2.3.4.5", "four dotted decimal"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (trap, why) in traps {
        let f = dir.path().join("ips.txt");
        std::fs::write(&f, format!("# fleet\n192.0.2.10\n{trap}\n")).unwrap();
        let out = run(applet("genfw").args([
            "-i",
            f.to_str().unwrap(),
            "--host",
            "192.0.2.10",
            "--mgmt",
            "10.8.0.0/24",
        ]));
        assert_eq!(code(&out), 65, "{trap}: {}", stderr(&out));
        // the input shown as escape::quote shows it (none of these needs escaping)
        let want = format!("genfw: {}:3: \"{trap}\": ", f.display());
        assert!(
            stderr(&out).starts_with(&want) && stderr(&out).contains(why),
            "{trap}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());

        let (f, out) = on_h1(
            dir.path(),
            &format!(
                "[all:vars]\n\ngenfw_mgmt=10.9.0.0/16,{trap}\n[a]\nh1 ansible_host=192.0.2.1\nh2 ansible_host=192.0.2.2\n"
            ),
            &[],
        );
        assert_eq!(code(&out), 65, "{trap}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(&format!("genfw: {}:3: ", f.display())),
            "{}",
            stderr(&out)
        );

        let f = dir.path().join("inv.json");
        std::fs::write(&f, format!("{{\n \"_meta\": {{\"hostvars\": {{\n  \"h1\": {{\"ansible_host\": \"192.0.2.1\"}},\n  \"h2\": {{\"ansible_host\": \"{trap}\"}}}}}},\n \"all\": {{\"vars\": {{\"genfw_mgmt\": \"10.8.0.0/24\"}}, \"hosts\": [\"h1\", \"h2\"]}}\n}}\n")).unwrap();
        let out = run(applet("genfw").args(["-i", f.to_str().unwrap(), "--host", "h1"]));
        assert_eq!(code(&out), 65, "{trap}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(&format!("genfw: {}:4: ", f.display())),
            "{trap}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn host_bits_suggest_both_fixes_and_allow_any_opens() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("l");
    std::fs::write(&f, "192.0.2.10\n192.0.2.77/24\n").unwrap();
    let out = run(applet("genfw").args([
        "-i",
        f.to_str().unwrap(),
        "--host",
        "192.0.2.10",
        "--mgmt",
        "10.8.0.0/24",
    ]));
    assert_eq!(code(&out), 65);
    assert!(
        stderr(&out).contains(
            "host bits set; write '192.0.2.0/24' for the network or '192.0.2.77' for the host"
        ),
        "{}",
        stderr(&out)
    );
    std::fs::write(&f, "192.0.2.10\n0.0.0.0/0\n").unwrap();
    let out = run(applet("genfw").args([
        "-i",
        f.to_str().unwrap(),
        "--host",
        "192.0.2.10",
        "--mgmt",
        "10.8.0.0/24",
        "--allow-any",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("elements = { 0.0.0.0/0 }"));
    let out = run(applet("genfw").args([
        "-i",
        f.to_str().unwrap(),
        "--host",
        "192.0.2.10",
        "--mgmt",
        "10.8.0.0/24",
        "--allow-any",
        "-f",
        "iptables",
    ]));
    assert!(
        stdout(&out).contains("add genfw-peers4-new 0.0.0.0/1\nadd genfw-peers4-new 128.0.0.0/1\n")
    );
}

#[test]
fn overlaps_merged_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("l");
    std::fs::write(
        &f,
        "192.0.2.10\n198.51.100.0/24\n198.51.100.7\n2001:db8::/48\n2001:db8::5\n",
    )
    .unwrap();
    let out = run(applet("genfw").args([
        "-i",
        f.to_str().unwrap(),
        "--host",
        "192.0.2.10",
        "--mgmt",
        "10.8.0.0/24",
    ]));
    assert_eq!(code(&out), 0);
    let e = stderr(&out);
    assert!(
        e.contains("warning:") && e.contains("198.51.100.7 lies inside 198.51.100.0/24"),
        "{e}"
    );
    assert!(e.contains("2001:db8::5 lies inside 2001:db8::/48"), "{e}");
    assert!(stdout(&out).contains("elements = { 198.51.100.0/24 }"));
}

#[test]
fn policy_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[a]\nh1 ansible_host=192.0.2.1\n", "genfw_mgmt is not set"),
        (
            "[all:vars]\ngenfw_mgmt=10.8.0.0/24\n[a]\nh1 ansible_host=192.0.2.1\nh2\n",
            ":5: host h2 has no ansible_host and its name is not an address",
        ),
        (
            "[all:vars]\ngenfw_mgmt=10.8.0.0/24\ngenfw_public_tcp=80,http\n[a]\nh1 ansible_host=192.0.2.1\n",
            ":3: genfw_public_tcp: 'http' is not a port",
        ),
        (
            "[all:vars]\ngenfw_mgmt=10.8.0.0/24\ngenfw_peer_groups=nosuch\n[a]\nh1 ansible_host=192.0.2.1\n",
            ":3: genfw_peer_groups: no group 'nosuch'",
        ),
        (
            "[all:vars]\ngenfw_mgmt=10.8.0.0/24\n[a]\nh[3:1] ansible_host=192.0.2.1\n",
            ":4: \"h[3:1]\": [3:1] runs backwards",
        ),
        (
            "[all:vars]\ngenfw_mgmt=10.8.0.0/24\n[a:bogus]\n",
            ":3: unknown section kind",
        ),
    ];
    for (text, want) in cases {
        let (_, out) = on_h1(dir.path(), text, &[]);
        assert_eq!(code(&out), 65, "{text}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{text}: {}", stderr(&out));
    }
    // an unknown genfw_ variable is an error, with the nearest name; check fails too
    for sub in ["render", "check"] {
        let (_, out) = on_h1(
            dir.path(),
            "[all:vars]\ngenfw_mgmt=10.8.0.0/24\ngenfw_pubilc_tcp=80\ngenfw_zzz=1\n[a]\nh1 ansible_host=192.0.2.1\n",
            &[sub],
        );
        assert_eq!(code(&out), 65, "{}", stderr(&out));
        assert!(
            stderr(&out).contains(
                ":3: unknown variable \"genfw_pubilc_tcp\" (did you mean genfw_public_tcp?)"
            ),
            "{}",
            stderr(&out)
        );
    }
    let (_, out) = on_h1(
        dir.path(),
        "[all:vars]\ngenfw_mgmt=10.8.0.0/24\ngenfw_zzz=1\n[a]\nh1 ansible_host=192.0.2.1\n",
        &[],
    );
    assert!(
        stderr(&out).contains(":3: unknown variable \"genfw_zzz\" (genfw reads: genfw_mgmt,"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_and_exit_codes() {
    let out = genfw(&["--help"]);
    assert_eq!(code(&out), 0);
    for sub in [
        "render", "check", "apply", "confirm", "rollback", "diff", "persist",
    ] {
        assert!(stdout(&out).contains(&format!("    {sub}  ")), "{sub}");
    }
    assert_eq!(code(&genfw(&[])), 64);
    assert_eq!(code(&genfw(&["render"])), 64, "no inventory");
    assert_eq!(code(&genfw(&["render", "-i", "fleet.ini", "-f", "pf"])), 64);
    assert_eq!(code(&genfw(&["check", "-i", "fleet.ini", "-o", "x"])), 64);
    assert_eq!(
        code(&genfw(&["render", "-i", "fleet.ini", "--confirm", "30"])),
        64
    );
    assert_eq!(
        code(&genfw(&["apply", "-i", "fleet.ini", "--confirm", "0"])),
        64
    );
    let out = genfw(&["render", "-i", "/nonexistent/inv"]);
    assert_eq!(code(&out), 66);
    assert_eq!(
        stderr(&out),
        "genfw: /nonexistent/inv: No such file or directory\n"
    );
    let out = genfw(&["render", "-i", "fleet.ini", "--host", "nosuch"]);
    assert_eq!(code(&out), 65);
    assert!(
        stderr(&out).contains("no host \"nosuch\""),
        "{}",
        stderr(&out)
    );
    // -o writes the file atomically; iptables -o writes a directory of three files
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("fw.nft");
    let out = genfw(&[
        "render",
        "-i",
        "fleet.ini",
        "--host",
        "db-a",
        "-o",
        o.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&o).unwrap(),
        golden("fleet-db-a.nft")
    );
    let d = dir.path().join("ipt");
    let out = genfw(&[
        "render",
        "-i",
        "fleet.ini",
        "--host",
        "web03",
        "-f",
        "iptables",
        "-o",
        d.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let all = golden("fleet-web03.ipt");
    for f in ["genfw.ipset", "genfw.v4", "genfw.v6"] {
        let part = std::fs::read_to_string(d.join(f)).unwrap();
        assert!(all.contains(&format!("# ==> {f} <==\n{part}")), "{f}");
    }
    // a closed pipe is no error
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} -i fleet.ini --host db-a | head -c1 >/dev/null; exit ${{PIPESTATUS[0]}}",
            links_dir().join("genfw").display()
        ))
        .current_dir(fixtures()));
    assert_eq!(code(&out), 0);
}

#[test]
fn host_ranges_are_capped_before_expanding() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("inv.ini");
    let head = "[all:vars]\ngenfw_mgmt=10.8.0.0/24\n[a]\nh1 ansible_host=192.0.2.1\n";
    let cases = [
        (
            "web[0:999999] ansible_host=192.0.2.2\n",
            ":5: \"web[0:999999]\": the range names 1000000 hosts; one pattern may name at most 65536",
        ),
        (
            "db-[a:z][a:z][a:z][a:z][a:z] ansible_host=192.0.2.2\n",
            "names 11881376 hosts; one pattern may name at most 65536",
        ),
    ];
    for (line, want) in cases {
        std::fs::write(&f, format!("{head}{line}")).unwrap();
        let out = run(applet("genfw").args(["-i", f.to_str().unwrap(), "--host", "h1"]));
        assert_eq!(code(&out), 65, "{line}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{line}: {}", stderr(&out));
    }
    // the inventory-wide cap: 15 full patterns fit, the 16th would pass 1,000,000 hosts;
    // the errors before it are listed too, then the cap, then their count; reading stops
    // there (the bad section after it is not reached)
    let mut text = format!("{head}[a:bogus]\n[bad group!]\n");
    for i in 0..16 {
        text.push_str(&format!("g{i}-[1:65536]\n"));
    }
    text.push_str("[after:bogus]\n");
    std::fs::write(&f, text).unwrap();
    let out = run(applet("genfw").args(["-i", f.to_str().unwrap(), "--host", "h1"]));
    assert_eq!(code(&out), 65, "{}", stderr(&out));
    let f = f.display();
    assert_eq!(
        stderr(&out),
        format!(
            "genfw: {f}:5: unknown section kind ':bogus'\n\
             genfw: {f}:6: bad group name 'bad group!'\n\
             genfw: {f}:22: the inventory would hold more than 1000000 hosts\n\
             genfw: 3 errors in {f}\n"
        )
    );
}

#[test]
fn ipv4_mapped_ipv6_is_ipv4() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = on_h1(
        dir.path(),
        "[all:vars]\ngenfw_mgmt=::ffff:198.51.100.0/120\n[a]\nh1 ansible_host=192.0.2.1\nh2 ansible_host=::ffff:192.0.2.7\n",
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let set = |name: &str| {
        text.split(&format!("set {name} {{"))
            .nth(1)
            .unwrap()
            .split('}')
            .next()
            .unwrap()
            .to_string()
    };
    assert!(set("peers4").contains("elements = { 192.0.2.7 "), "{text}");
    assert!(!set("peers6").contains("elements"), "{text}");
    assert!(set("mgmt4").contains("198.51.100.0/24"), "{text}");
    assert!(!text.contains("ffff"), "{text}");
}

#[test]
fn per_subcommand_help_and_equals_options() {
    // each command's help lists its own options only
    let help = |sub: &str| stdout(&genfw(&[sub, "--help"]));
    let check = help("check");
    for opt in ["--all", "--json", "--inventory", "--host"] {
        assert!(check.contains(opt), "check: {opt}\n{check}");
    }
    for opt in [
        "--confirm",
        "--root",
        "--init",
        "--output",
        "--force",
        "--state-dir",
    ] {
        assert!(!check.contains(opt), "check must not list {opt}:\n{check}");
    }
    let apply = help("apply");
    for opt in ["--confirm", "--force", "--state-dir", "--allow-empty"] {
        assert!(apply.contains(opt), "apply: {opt}");
    }
    assert!(
        !apply.contains("--root") && !apply.contains("--output"),
        "{apply}"
    );
    assert!(help("status").contains("--json"));
    assert!(!help("confirm").contains("--inventory"));
    // an option of another command is a usage error
    let out = genfw(&["check", "-i", "fleet.ini", "--confirm", "30"]);
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    // --opt=value is --opt value
    let a = genfw(&["render", "-i", "fleet.ini", "--host", "db-a"]);
    let b = genfw(&["render", "--inventory=fleet.ini", "--host=db-a"]);
    assert_eq!(code(&b), 0, "{}", stderr(&b));
    assert_eq!(stdout(&a), stdout(&b));
    let c = genfw(&[
        "render",
        "-i",
        "fleet.ini",
        "--host=db-a",
        "--mgmt=192.0.2.128/25",
    ]);
    assert!(stdout(&c).contains("192.0.2.128/25"), "{}", stderr(&c));
    // without a command (render), and a value holding '=' is kept whole (split at the
    // first '=' only): the inventory named x=y.ini is read and named in the header
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("x=y.ini");
    std::fs::copy(fixtures().join("fleet.ini"), &inv).unwrap();
    let d = genfw(&[&format!("--inventory={}", inv.display()), "--host=db-a"]);
    assert_eq!(code(&d), 0, "{}", stderr(&d));
    assert!(stdout(&d).contains("x=y.ini"), "{}", stdout(&d));
    assert_eq!(
        stdout(&d).lines().skip(2).collect::<Vec<_>>(),
        stdout(&a).lines().skip(2).collect::<Vec<_>>()
    );
    // only long options take '=': -i=FILE is not -i FILE
    let e = genfw(&["render", "-i=fleet.ini", "--host=db-a"]);
    assert_eq!(code(&e), 64, "{}", stderr(&e));
}

#[test]
fn allow_rules_rendered_on_sets() {
    let dir = tempfile::tempdir().unwrap();
    let (f, out) = on_h1(
        dir.path(),
        "[all:vars]\ngenfw_mgmt=10.8.0.0/24\ngenfw_allow=\"10.8.0.0/24 tcp/8080,8443 2001:db8:1::/48 192.0.2.0/28 tcp/9100 udp/161\"\n[a]\nh1 ansible_host=192.0.2.1\nh2 ansible_host=192.0.2.2\n",
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "set allow1_4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 10.8.0.0/24 }",
        "set allow2_4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 192.0.2.0/28 }",
        "set allow2_6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { 2001:db8:1::/48 }",
        "\t\tip saddr @allow1_4 tcp dport { 8080, 8443 } accept\n",
        "\t\tip saddr @allow2_4 tcp dport { 9100 } accept\n\t\tip saddr @allow2_4 udp dport { 161 } accept\n",
        "\t\tip6 saddr @allow2_6 tcp dport { 9100 } accept\n\t\tip6 saddr @allow2_6 udp dport { 161 } accept\n",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    assert!(!text.contains("allow1_6"), "{text}");
    // the iptables side: sets and rules per family
    let out =
        run(applet("genfw").args(["-i", f.to_str().unwrap(), "--host", "h1", "-f", "iptables"]));
    let text = stdout(&out);
    assert!(
        text.contains("create genfw-allow2-6-new hash:net family inet6"),
        "{text}"
    );
    assert!(text.contains("-A GENFW-INPUT -p tcp -m set --match-set genfw-allow1-4 src -m multiport --dports 8080,8443 -j ACCEPT"), "{text}");
    assert!(text.contains("-A GENFW-INPUT -p udp -m set --match-set genfw-allow2-6 src -m multiport --dports 161 -j ACCEPT"), "{text}");
    // mistakes, with their line
    for (val, want) in [
        ("tcp/80", "ports before any network"),
        ("10.0.0.0/8", "10.0.0.0/8 names no ports"),
        ("10.0.0.0/8 80", "name the protocol (tcp/80 or udp/80)"),
        ("10.0.0.0/8 tcp/http", "'http' is not a port"),
        ("web1 tcp/80", "hostnames are not resolved"),
    ] {
        let (_, out) = on_h1(
            dir.path(),
            &format!(
                "[all:vars]\ngenfw_mgmt=10.8.0.0/24\ngenfw_allow=\"{val}\"\n[a]\nh1 ansible_host=192.0.2.1\n"
            ),
            &[],
        );
        assert_eq!(code(&out), 65, "{val}");
        assert!(
            stderr(&out).contains(":3: genfw_allow: ") && stderr(&out).contains(want),
            "{val}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn check_all_lists_each_hosts_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("inv.ini");
    std::fs::write(
        &f,
        "[all:vars]\ngenfw_mgmt=10.8.0.0/24\ngenfw_pubilc_tcp=80\n[a]\nh1 ansible_host=192.0.2.1\nh2\n",
    )
    .unwrap();
    let file = f.display().to_string();
    let out = run(applet("genfw").args(["check", "--all", "-i", &file]));
    assert_eq!(code(&out), 65, "{}", stderr(&out));
    let unknown =
        format!("{file}:3: unknown variable \"genfw_pubilc_tcp\" (did you mean genfw_public_tcp?)");
    let noaddr = format!(
        "{file}:6: host h2 has no ansible_host and its name is not an address (genfw does not resolve names)"
    );
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        [
            format!("FAILED: host h1: 2 errors in {file}"),
            format!("  {unknown}"),
            format!("  {noaddr}"),
            format!("FAILED: host h2: 2 errors in {file}"),
            format!("  {unknown}"),
            format!("  {noaddr}"),
            "2 hosts: 0 ok, 2 failed".to_string(),
        ]
    );
    // one host: the same lines on stderr, then the summary
    let out = run(applet("genfw").args(["render", "-i", &file, "--host", "h1"]));
    assert_eq!(
        stderr(&out).lines().collect::<Vec<_>>(),
        [
            format!("genfw: {unknown}"),
            format!("genfw: {noaddr}"),
            format!("genfw: 2 errors in {file}"),
        ]
    );
}

/// A JSON inventory's mistakes are all listed, each at its line, then their count.
#[test]
fn json_inventory_lists_all_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("inv.json");
    std::fs::write(
        &f,
        "{\n \"_meta\": {\"hostvars\": {\"h1\": {\"ansible_host\": \"192.0.2.1\"}}},\n \"all\": {\"vars\": {\"genfw_mgmt\": \"10.8.0.0/24\"}, \"hosts\": [\"h1\", 2]},\n \"db\": \"d1\",\n \"web\": {\"hosts\": [\"h1\"], \"vars\": [\"x\"]}\n}\n",
    )
    .unwrap();
    let out = run(applet("genfw").args(["-i", f.to_str().unwrap(), "--host", "h1"]));
    assert_eq!(code(&out), 65, "{}", stderr(&out));
    let f = f.display();
    assert_eq!(
        stderr(&out),
        format!(
            "genfw: {f}:3: group \"all\" hosts: a number is not a name\n\
             genfw: {f}:4: group \"db\": expected an object, found a string\n\
             genfw: {f}:5: group \"web\" vars: expected an object of variables, found a list\n\
             genfw: 3 errors in {f}\n"
        )
    );
    assert!(out.stdout.is_empty());
}

/// JSON holds at most 1,000,000 hosts too: the one past the limit is an error at its line,
/// listed after the mistakes found before it. (Lines come from one pass over the text: the
/// search per host it replaces made 20,000 hosts take 48 s.)
#[test]
fn json_inventory_host_cap() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("inv.json");
    // (a host only in hostvars, after the limit, is not read: the limit is said once)
    let mut text = String::from(
        "{\n \"_meta\": {\"hostvars\": {\"extra\": {}}},\n \"all\": 5,\n \"web\": {\"hosts\": [\n",
    );
    for i in 0..=1_000_000 {
        text.push_str(&format!("  \"h{i}\",\n"));
    }
    text.push_str("  \"last\"\n]}}\n");
    std::fs::write(&f, text).unwrap();
    let out = run(applet("genfw").args(["-i", f.to_str().unwrap(), "--host", "h1"]));
    assert_eq!(code(&out), 65, "{}", stderr(&out));
    let f = f.display();
    assert_eq!(
        stderr(&out),
        format!(
            "genfw: {f}:3: group \"all\": expected an object, found a number\n\
             genfw: {f}:1000005: the inventory would hold more than 1000000 hosts\n\
             genfw: 2 errors in {f}\n"
        )
    );
}
