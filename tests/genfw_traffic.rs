//! Real traffic through genfw's rules, held to genfw's own admission model: a "server"
//! namespace and a "world" namespace joined by two veth pairs (one of them a trusted
//! interface), both private to the test (a user namespace it creates, so nothing of the
//! host is touched and everything goes when the test's processes end). From the world
//! side peers, strangers, management and allowed networks open TCP connections and UDP
//! round trips to ports on the server; for every case the kernel (nft, then iptables)
//! must do what `Policy::admits` says, and the model what the policy means.

mod support;

use std::process::Command;
use support::*;

const INVENTORY: &str = "\
[all:vars]
genfw_mgmt=198.51.100.0/24
genfw_peer_ports=tcp/5432,udp/5432
genfw_public_tcp=8443
genfw_public_udp=5353
genfw_trust_iface=trust*
genfw_allow=\"203.0.113.0/28 tcp/9100 udp/9999 fd00:db8:1::/48 tcp/9100\"
[app]
server ansible_host=192.0.2.1 genfw_addrs=fd00:db8::1
peer ansible_host=192.0.2.10 genfw_addrs=fd00:db8::10
";

/// (protocol, source, destination, port, what the policy means)
const CASES: &[(&str, &str, &str, u16, &str)] = &[
    // a peer: its ports only, both protocols
    ("tcp", "192.0.2.10", "192.0.2.1", 5432, "open"),
    ("udp", "192.0.2.10", "192.0.2.1", 5432, "open"),
    ("tcp", "192.0.2.10", "192.0.2.1", 22, "dropped"),
    ("tcp", "192.0.2.10", "192.0.2.1", 9999, "dropped"),
    ("udp", "192.0.2.10", "192.0.2.1", 9999, "dropped"),
    // a stranger: public ports only
    ("tcp", "192.0.2.66", "192.0.2.1", 5432, "dropped"),
    ("tcp", "192.0.2.66", "192.0.2.1", 22, "dropped"),
    ("tcp", "192.0.2.66", "192.0.2.1", 8443, "open"),
    ("udp", "192.0.2.66", "192.0.2.1", 5353, "open"),
    ("udp", "192.0.2.66", "192.0.2.1", 8443, "dropped"),
    // management: SSH over TCP
    ("tcp", "198.51.100.7", "198.51.100.1", 22, "open"),
    ("udp", "198.51.100.7", "198.51.100.1", 22, "dropped"),
    ("tcp", "198.51.100.7", "198.51.100.1", 5432, "dropped"),
    ("tcp", "198.51.100.7", "198.51.100.1", 8443, "open"),
    // genfw_allow: 203.0.113.0/28 to tcp/9100 and udp/9999
    ("tcp", "203.0.113.5", "203.0.113.1", 9100, "open"),
    ("udp", "203.0.113.5", "203.0.113.1", 9999, "open"),
    ("tcp", "203.0.113.5", "203.0.113.1", 9999, "dropped"),
    ("udp", "203.0.113.5", "203.0.113.1", 9100, "dropped"),
    ("tcp", "203.0.113.5", "203.0.113.1", 22, "dropped"),
    ("tcp", "203.0.113.77", "203.0.113.1", 9100, "dropped"),
    // a trusted interface (trust*): everything
    ("tcp", "203.0.113.200", "203.0.113.129", 9999, "open"),
    ("udp", "203.0.113.200", "203.0.113.129", 5432, "open"),
    ("tcp", "203.0.113.200", "203.0.113.129", 22, "open"),
    // IPv6
    ("tcp", "fd00:db8::10", "fd00:db8::1", 5432, "open"),
    ("tcp", "fd00:db8::10", "fd00:db8::1", 9999, "dropped"),
    ("tcp", "fd00:db8::66", "fd00:db8::1", 5432, "dropped"),
    ("tcp", "fd00:db8::66", "fd00:db8::1", 22, "dropped"),
    ("tcp", "fd00:db8::66", "fd00:db8::1", 8443, "open"),
    ("udp", "fd00:db8::66", "fd00:db8::1", 5353, "open"),
    ("tcp", "fd00:db8:1::5", "fd00:db8:1::1", 9100, "open"),
    ("udp", "fd00:db8:1::5", "fd00:db8:1::1", 9999, "dropped"),
];

/// The server's interface a destination address belongs to.
fn iface(dst: &str) -> &'static str {
    if dst == "203.0.113.129" {
        "trust0"
    } else {
        "srv0"
    }
}

#[test]
fn the_model_says_what_the_policy_means() {
    for (proto, src, dst, port, want) in CASES {
        let got = genfw::model::admits(INVENTORY, "server", src, iface(dst), proto, *port)
            .unwrap_or_else(|e| panic!("{e}"));
        let got = if got.is_some() { "open" } else { "dropped" };
        assert_eq!(got, *want, "{proto} {src} -> {dst}:{port} ({got:?})");
    }
}

#[test]
fn the_kernel_does_what_the_model_says() {
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
    let probes: Vec<String> = CASES
        .iter()
        .map(|(proto, s, d, p, _)| {
            let pre = if *proto == "udp" { "udp/" } else { "" };
            if d.contains(':') {
                format!("{pre}[{d}]:{p}@{s}")
            } else {
                format!("{pre}{d}:{p}@{s}")
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
ip link add trust0 type veth peer name wld1 netns $world
ip link set lo up; ip link set srv0 up; ip link set trust0 up
for a in 192.0.2.1/24 198.51.100.1/24 203.0.113.1/25; do ip addr add $a dev srv0; done
ip addr add 203.0.113.129/25 dev trust0
ip -6 addr add fd00:db8::1/64 dev srv0 nodad; ip -6 addr add fd00:db8:1::1/64 dev srv0 nodad
W="nsenter -t $world -n"
$W ip link set lo up; $W ip link set wld0 up; $W ip link set wld1 up
for a in 192.0.2.10/24 192.0.2.66/24 198.51.100.7/24 203.0.113.5/25 203.0.113.77/25; do $W ip addr add $a dev wld0; done
$W ip addr add 203.0.113.200/25 dev wld1
for a in fd00:db8::10/64 fd00:db8::66/64 fd00:db8:1::5/64; do $W ip -6 addr add $a dev wld0 nodad; done
python3 $py listen 22 5353 5432 8443 9100 9999 > $T/listen.out & listener=$!
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
    assert_eq!(open.len(), CASES.len(), "{text}");
    assert!(
        open.iter().all(|r| r == "open"),
        "without rules everything must get through:\n{text}"
    );
    for backend in ["nft", "iptables"] {
        let got = section(backend);
        assert_eq!(got.len(), CASES.len(), "{text}");
        for ((proto, s, d, p, _), got) in CASES.iter().zip(&got) {
            let model = genfw::model::admits(INVENTORY, "server", s, iface(d), proto, *p)
                .unwrap()
                .map_or("dropped", |_| "open");
            assert_eq!(got, model, "{backend}: {proto} {s} -> {d}:{p}\n{text}");
        }
    }
}
