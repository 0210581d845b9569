//! YAML inventories (and group_vars/ host_vars/ directories beside any inventory) against
//! Ansible itself: for every host of several real-shaped inventories, genfw's rules from
//! the inventory equal its rules from `ansible-inventory -i INVENTORY --list`, so the
//! peer sets, management networks and every variable are what Ansible sees.

mod support;

use std::path::{Path, PathBuf};
use support::*;

fn yaml_fixtures() -> PathBuf {
    root().join("tests/fixtures/genfw/yaml")
}

/// The rendering without its first two header lines (which name the inventory file and
/// its hash).
fn body(out: &std::process::Output, what: &str) -> String {
    assert_eq!(code(out), 0, "{what}: {}", stderr(out));
    stdout(out).lines().skip(2).collect::<Vec<_>>().join("\n")
}

fn hosts_of(list: &serde_json::Value) -> Vec<String> {
    list["_meta"]["hostvars"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn compare(inv: &Path, t: &Path) -> usize {
    let out = run(std::process::Command::new("ansible-inventory")
        .args(["-i", inv.to_str().unwrap(), "--list"])
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "false"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let json = t.join(format!(
        "{}.json",
        inv.parent().unwrap().file_name().unwrap().to_str().unwrap()
    ));
    std::fs::write(&json, stdout(&out)).unwrap();
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let hosts = hosts_of(&list);
    for h in &hosts {
        let ours = run(applet("genfw").args(["render", "-i", inv.to_str().unwrap(), "--host", h]));
        let theirs =
            run(applet("genfw").args(["render", "-i", json.to_str().unwrap(), "--host", h]));
        assert_eq!(
            body(&ours, h),
            body(&theirs, h),
            "{}: host {h}: the YAML reading differs from ansible-inventory's",
            inv.display()
        );
    }
    hosts.len()
}

#[test]
fn yaml_and_vars_dirs_read_as_ansible_does() {
    if !have_tool("ansible-inventory") {
        eprintln!("skipped: ansible-inventory (pip ansible-core) not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let y = yaml_fixtures();
    assert_eq!(compare(&y.join("kubespray/hosts.yaml"), t.path()), 7);
    assert_eq!(compare(&y.join("webapp/inventory.yml"), t.path()), 7);
    assert_eq!(compare(&y.join("ini-dirs/inventory.ini"), t.path()), 3);
}

#[test]
fn kubespray_peers_by_hand() {
    let inv = yaml_fixtures().join("kubespray/hosts.yaml");
    let out = run(applet("genfw").args(["render", "-i", inv.to_str().unwrap(), "--host", "node1"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    // k8s_cluster minus node1; ansible_host from host_vars (plain, .yaml, and a JSON file
    // without extension), genfw_addrs from both
    assert!(
        text.contains("elements = { 192.0.2.12,\n\t\t\t     192.0.2.13,\n\t\t\t     192.0.2.14,\n\t\t\t     192.0.2.15,\n\t\t\t     192.0.2.16 }"),
        "{text}"
    );
    assert!(
        text.contains("elements = { 2001:db8:10::13,\n\t\t\t     2001:db8:10::15 }"),
        "{text}"
    );
    assert!(
        text.contains("ip saddr @allow1_4 tcp dport { 6443 } accept"),
        "{text}"
    );
    assert!(text.contains("tcp dport { 80, 443 } accept"), "{text}");
    assert!(
        !text.contains("198.51.100.5"),
        "bastion is not in k8s_cluster:\n{text}"
    );
}

#[test]
fn yaml_errors_in_the_users_terms() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("inv.yml");
    std::fs::write(
        &f,
        "all:\n  vars:\n    genfw_mgmt: 10.8.0.0/24\n  hosts:\n    web1:\n      ansible_host: 192.0.2.1\n    web2:\n    db1.example.com:\n",
    )
    .unwrap();
    let out = run(applet("genfw").args(["render", "-i", f.to_str().unwrap(), "--host", "web1"]));
    assert_eq!(code(&out), 65);
    let err = stderr(&out);
    let file = f.display().to_string();
    // both hosts without an address are named, each at its line, then the count
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            format!(
                "genfw: {file}:8: host db1.example.com has no ansible_host and its name is not an address (genfw does not resolve names)"
            ),
            format!(
                "genfw: {file}:7: host web2 has no ansible_host and its name is not an address (genfw does not resolve names)"
            ),
            format!("genfw: 2 errors in {file}"),
        ],
        "{err}"
    );
    // a YAML file read as INI: the message says what it looks like
    let out = run(applet("genfw").args([
        "render",
        "-i",
        f.to_str().unwrap(),
        "--host",
        "web1",
        "--inventory-format",
        "ini",
    ]));
    assert_eq!(code(&out), 65);
    assert!(
        stderr(&out).contains("This was read as an INI inventory (--inventory-format), but it looks like a YAML inventory."),
        "{}",
        stderr(&out)
    );
    // a broken group_vars file is named with its own line
    let gv = t.path().join("group_vars");
    std::fs::create_dir(&gv).unwrap();
    std::fs::write(
        gv.join("all.yml"),
        "genfw_public_tcp: 80\ngenfw_public_tcp: [\n",
    )
    .unwrap();
    let out = run(applet("genfw").args(["render", "-i", f.to_str().unwrap(), "--host", "web1"]));
    assert_eq!(code(&out), 65);
    assert!(
        stderr(&out).contains(&format!("{}:3:", gv.join("all.yml").display())),
        "{}",
        stderr(&out)
    );
    std::fs::write(gv.join("all.yml"), "genfw_public_tcp: http\n").unwrap();
    let out = run(applet("genfw").args(["render", "-i", f.to_str().unwrap(), "--host", "web1"]));
    assert!(
        stderr(&out).contains(&format!(
            "{}:1: genfw_public_tcp: 'http'",
            gv.join("all.yml").display()
        )),
        "{}",
        stderr(&out)
    );
}
