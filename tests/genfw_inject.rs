//! Hostile names from the inventory and the command line never reach genfw's rule files
//! as statements (issue 12 item 2): the payloads found by the hostile-input campaign,
//! loaded for real into a throwaway user+network namespace with another table present.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::*;

/// Run a bash script in a new user+network namespace with the applet links on PATH.
fn userns(t: &Path, script: &str) -> Output {
    let path = format!(
        "{}:{}",
        links_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new("unshare")
        .args(["-Urn", "bash", "-c", &format!("set -u\n{script}")])
        .current_dir(t)
        .env("PATH", path)
        .env("T", t)
        .env_remove("SSH_CONNECTION"))
}

/// The JSON inventory of the issue: a host name (from a cloud tag) with newlines.
const EVIL_HOST: &str = "evil\nflush ruleset\n#";

fn json_inventory(host: &str, extra_vars: &str) -> String {
    serde_json::json!({
        "_meta": {"hostvars": {
            host: {"ansible_host": "192.0.2.5"},
            "peer": {"ansible_host": "192.0.2.6"},
        }},
        "all": {"children": ["ungrouped"], "vars": serde_json::from_str::<serde_json::Value>(
            &format!("{{\"genfw_mgmt\": \"198.51.100.0/24\"{extra_vars}}}")).unwrap()},
        "ungrouped": {"hosts": [host, "peer"]},
    })
    .to_string()
}

/// (tables, chains of inet genfw, sets of inet genfw, rules of inet genfw) after loading.
fn census(json: &str) -> (Vec<String>, usize, usize, Vec<String>) {
    let v: serde_json::Value = serde_json::from_str(json).expect("nft -j output");
    let (mut tables, mut chains, mut sets, mut rules) = (vec![], 0, 0, vec![]);
    for i in v["nftables"].as_array().unwrap() {
        let mine = |o: &serde_json::Value| o["table"] == "genfw" && o["family"] == "inet";
        if let Some(t) = i.get("table") {
            tables.push(format!(
                "{} {}",
                t["family"].as_str().unwrap(),
                t["name"].as_str().unwrap()
            ));
        } else if let Some(c) = i.get("chain").filter(|c| mine(c)) {
            assert_eq!(c["name"], "input");
            chains += 1;
        } else if i.get("set").is_some_and(mine) {
            sets += 1;
        } else if let Some(r) = i.get("rule").filter(|r| mine(r)) {
            rules.push(r["expr"].to_string());
        }
    }
    tables.sort();
    (tables, chains, sets, rules)
}

#[test]
fn host_name_with_newlines_stays_in_its_comment() {
    if !["unshare", "nft"].iter().all(|t| have_tool(t)) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("inv.json"), json_inventory(EVIL_HOST, "")).unwrap();
    let o = userns(
        t.path(),
        "nft add table inet other && nft add chain inet other keep
         genfw render -i inv.json --host 192.0.2.5 > f.nft || exit 3
         nft -c -f f.nft || exit 4
         nft -f f.nft || exit 5
         nft -j list ruleset",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let file = std::fs::read_to_string(t.path().join("f.nft")).unwrap();
    assert!(
        file.contains("for host evil\\nflush ruleset\\n#\n"),
        "the name must be escaped in its comment:\n{file}"
    );
    assert!(!file.lines().any(|l| l.trim() == "flush ruleset"), "{file}");
    let (tables, chains, sets, rules) = census(&stdout(&o));
    assert_eq!(
        tables,
        ["inet genfw", "inet other"],
        "the other table must survive"
    );
    assert_eq!((chains, sets), (1, 4));
    // lo, established, invalid, icmp, icmpv6, mgmt v4/v6 to SSH, peers v4/v6, drop
    assert_eq!(rules.len(), 10, "{rules:#?}");
}

#[test]
fn trust_iface_payloads_refused_from_both_sources() {
    let t = tempfile::tempdir().unwrap();
    let inv = t.path().join("inv.json");
    std::fs::write(&inv, json_inventory("web1", "")).unwrap();
    let inv = inv.to_str().unwrap();
    let payload = "lo\" accept\nmeta nfproto ipv4 accept\niifname \"lo";
    for bad in [
        payload,
        "*",
        "",
        "abcdefghijklmnop",
        "a/b",
        "..",
        "e*th",
        "eth 0",
    ] {
        let o = run(applet("genfw").args([
            "render",
            "-i",
            inv,
            "--host",
            "web1",
            "--trust-iface",
            bad,
        ]));
        assert_eq!(code(&o), 64, "{bad:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{bad:?}");
        assert!(stderr(&o).contains("--trust-iface"), "{}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    // the same payload as the inventory variable: refused with its line
    let inv2 = t.path().join("inv2.json");
    let var = format!(
        ", \"genfw_trust_iface\": [{}]",
        serde_json::to_string(payload).unwrap()
    );
    std::fs::write(&inv2, json_inventory("web1", &var)).unwrap();
    let o = run(applet("genfw").args(["render", "-i", inv2.to_str().unwrap(), "--host", "web1"]));
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(stderr(&o).contains("genfw_trust_iface"), "{}", stderr(&o));
    // and in an INI inventory, where a stray quote once vanished and left two names
    let ini = t.path().join("inv.ini");
    std::fs::write(
        &ini,
        "[all:vars]\ngenfw_mgmt=198.51.100.0/24\ngenfw_trust_iface=lo\" accept\n[a]\nweb1 ansible_host=192.0.2.5\npeer ansible_host=192.0.2.6\n",
    )
    .unwrap();
    let o = run(applet("genfw").args(["render", "-i", ini.to_str().unwrap(), "--host", "web1"]));
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(":3: genfw_trust_iface: ")
            && stderr(&o).contains("'\"' is not allowed in an interface name"),
        "{}",
        stderr(&o)
    );
    let o =
        run(applet("genfw").args(["render", "-i", inv, "--host", "web1", "--trust-iface", "*"]));
    assert!(stderr(&o).contains("every interface"), "{}", stderr(&o));
}

#[test]
fn trust_iface_wildcard_loads_in_both_backends() {
    if !["unshare", "nft", "ipset", "iptables-restore"]
        .iter()
        .all(|t| have_tool(t))
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("inv.json"), json_inventory("web1", "")).unwrap();
    let o = userns(
        t.path(),
        "genfw render -i inv.json --host web1 --trust-iface 'wg*,eth0.100' > f.nft || exit 3
         nft -f f.nft || exit 4
         genfw render -f iptables -i inv.json --host web1 --trust-iface 'wg*' -o ipt || exit 5
         ipset restore < ipt/genfw.ipset && iptables-restore --noflush < ipt/genfw.v4 || exit 6
         nft -s list chain inet genfw input; echo ==; iptables-save -t filter",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("iifname \"wg*\" accept"), "{out}");
    assert!(out.contains("iifname \"eth0.100\" accept"), "{out}");
    assert!(out.contains("-A GENFW-INPUT -i wg+ -j ACCEPT"), "{out}");
}
