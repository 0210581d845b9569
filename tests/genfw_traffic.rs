//! Real traffic through genfw's rules: a "server" namespace and a "world" namespace joined
//! by a veth pair, both private to the test (a user namespace it creates, so nothing of
//! the host is touched and everything goes when the test's processes end). From the world
//! side a peer, a stranger and a management address connect to ports on the server.

mod support;

use std::process::Command;
use support::*;

const INVENTORY: &str = "\
[all:vars]
genfw_mgmt=198.51.100.0/24
[app]
server ansible_host=192.0.2.1 genfw_addrs=fd00:db8::1 genfw_public_tcp=8443 genfw_peer_ports=tcp/5432
peer ansible_host=192.0.2.10 genfw_addrs=fd00:db8::10
";

/// (source, destination, port, expected with genfw's rules)
const MATRIX: &[(&str, &str, u16, &str)] = &[
    ("192.0.2.10", "192.0.2.1", 5432, "open"),
    ("192.0.2.10", "192.0.2.1", 8443, "open"),
    ("192.0.2.10", "192.0.2.1", 22, "dropped"),
    ("192.0.2.10", "192.0.2.1", 9999, "dropped"),
    ("192.0.2.66", "192.0.2.1", 5432, "dropped"),
    ("192.0.2.66", "192.0.2.1", 22, "dropped"),
    ("192.0.2.66", "192.0.2.1", 8443, "open"),
    ("198.51.100.7", "198.51.100.1", 22, "open"),
    ("198.51.100.7", "198.51.100.1", 5432, "dropped"),
    ("198.51.100.7", "198.51.100.1", 8443, "open"),
    ("fd00:db8::10", "fd00:db8::1", 5432, "open"),
    ("fd00:db8::10", "fd00:db8::1", 9999, "dropped"),
    ("fd00:db8::66", "fd00:db8::1", 5432, "dropped"),
    ("fd00:db8::66", "fd00:db8::1", 22, "dropped"),
    ("fd00:db8::66", "fd00:db8::1", 8443, "open"),
];

#[test]
fn peers_in_strangers_out_mgmt_to_ssh_public_to_all() {
    if ![
        "unshare", "nsenter", "ip", "python3", "nft", "iptables", "ipset",
    ]
    .iter()
    .all(|t| have_tool(t))
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("inv.ini"), INVENTORY).unwrap();
    let probes: Vec<String> = MATRIX
        .iter()
        .map(|(s, d, p, _)| {
            if d.contains(':') {
                format!("[{d}]:{p}@{s}")
            } else {
                format!("{d}:{p}@{s}")
            }
        })
        .collect();
    let probes = probes.join(" ");
    let script = format!(
        r#"set -u
trap 'kill $world $listener 2>/dev/null' EXIT
py=$FIX/probe.py
# the world: a second network namespace inside our user namespace
unshare -n sleep 300 & world=$!
sleep 0.2
ip link add srv0 type veth peer name wld0 netns $world
ip link set lo up; ip link set srv0 up
ip addr add 192.0.2.1/24 dev srv0; ip addr add 198.51.100.1/24 dev srv0
ip -6 addr add fd00:db8::1/64 dev srv0 nodad
W="nsenter -t $world -n"
$W ip link set lo up; $W ip link set wld0 up
for a in 192.0.2.10/24 192.0.2.66/24 198.51.100.7/24; do $W ip addr add $a dev wld0; done
for a in fd00:db8::10/64 fd00:db8::66/64; do $W ip -6 addr add $a dev wld0 nodad; done
python3 $py listen 22 5432 8443 9999 > $T/listen.out & listener=$!
for i in $(seq 50); do grep -q ready $T/listen.out 2>/dev/null && break; sleep 0.1; done
echo "== open"; $W python3 $py probe {probes}
# the server finds itself in the inventory by its own addresses
genfw apply -i $T/inv.ini --state-dir $T/s >&2 || exit 3
echo "== nft"; $W python3 $py probe {probes}
nft delete table inet genfw
genfw apply -f iptables -i $T/inv.ini --state-dir $T/s2 >&2 || exit 4
echo "== iptables"; $W python3 $py probe {probes}
"#
    );
    let path = format!(
        "{}:{}",
        links_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(Command::new("unshare")
        .args(["-Urn", "bash", "-c", &script])
        .env("PATH", path)
        .env("T", t.path())
        .env("FIX", root().join("tests/fixtures/genfw"))
        .env_remove("SSH_CONNECTION"));
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", stderr(&out));
    let section = |name: &str| -> Vec<String> {
        text.split(&format!("== {name}\n"))
            .nth(1)
            .unwrap_or("")
            .lines()
            .take_while(|l| !l.starts_with("=="))
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_string())
            .collect()
    };
    let open = section("open");
    assert_eq!(open.len(), MATRIX.len(), "{text}");
    assert!(
        open.iter().all(|r| r == "open"),
        "without rules everything must connect:\n{text}"
    );
    for backend in ["nft", "iptables"] {
        let got = section(backend);
        assert_eq!(got.len(), MATRIX.len(), "{text}");
        for ((s, d, p, want), got) in MATRIX.iter().zip(&got) {
            assert_eq!(got, want, "{backend}: {s} -> {d}:{p}\n{text}");
        }
    }
}
