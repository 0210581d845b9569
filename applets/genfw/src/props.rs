//! The properties the fuzz target holds every inventory to: whatever the input, a policy
//! that builds renders to files whose only structure is genfw's own — no control
//! characters but newline and tab, header comments that are one line each and say the
//! (escaped) host name, no statement genfw does not write, every interface name in the
//! validated grammar, every set element an address.

use crate::inventory::{self, Format};
use crate::policy::{self, Extra, Proto};
use crate::render::{self, Source};
use crate::{addr, names};

/// The statement starts an nft file of genfw's may hold (after indentation).
const NFT_STARTS: &[&str] = &[
    "table inet genfw",
    "delete table inet genfw",
    "set ",
    "type ipv",
    "flags interval",
    "elements = { ",
    "}",
    "chain input {",
    "type filter hook input priority filter; policy drop;",
    "iif \"lo\" accept",
    "ct state ",
    "meta l4proto ",
    "ip saddr @",
    "ip6 saddr @",
    "tcp dport { ",
    "udp dport { ",
    "iifname \"",
    "limit rate 5/minute burst 10 packets log prefix \"genfw drop: \" level info",
    "counter drop",
];

pub(crate) fn inventory(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = match sel % 6 {
        0 => None,
        1 => Some(Format::List),
        2 => Some(Format::Hosts),
        3 => Some(Format::Ini),
        4 => Some(Format::Yaml),
        _ => Some(Format::Json),
    };
    let parsed = inventory::parse("fuzz", text, format);
    let listed = crate::yaml::take_listed();
    assert!(listed.len() <= crate::yaml::ERRORS_MAX);
    let Ok(inv) = parsed else {
        return;
    };
    assert!(inv.hosts.len() <= inventory::HOSTS_MAX);
    let extra = Extra {
        mgmt: vec!["198.51.100.0/24".into()],
        ..Default::default()
    };
    for host in inv.hosts.keys().take(8) {
        let built = policy::build(&inv, host, &extra, &mut |_| {});
        for l in crate::yaml::take_listed() {
            assert!(
                !l.contains('\n') && !l.contains('\r'),
                "listed error on two lines"
            );
        }
        let Ok(p) = built else {
            continue;
        };
        for i in &p.trust_iface {
            assert!(names::iface(i).is_ok(), "unvalidated interface {i:?}");
        }
        // the model answers for anything
        let probe = addr::Net::V4(0xc000_0201, 32);
        let _ = p.admits(&probe, "eth0", Proto::Tcp, 22);
        let _ = p.admits(&probe, "lo", Proto::Udp, 53);
        let src = Source {
            inventory: "fuzz\ninventory",
            sha256: "0",
        };
        let nft = render::nft(&p, &src);
        check_nft(&nft, &p.host);
        let ipt = render::iptables(&p, &src, None);
        for f in [&ipt.ipset, &ipt.v4, &ipt.v6] {
            check_common(f, &p.host);
        }
    }
}

/// No control characters but `\n` and `\t`; the first header line names the host,
/// escaped, on one line; the inventory name too.
fn check_common(f: &str, host: &str) {
    assert!(
        !f.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
        "control character in output"
    );
    assert!(!f.contains(['\u{2028}', '\u{2029}']));
    let first = f.lines().next().unwrap_or("");
    assert!(
        first.ends_with(&format!(" for host {}", names::comment(host))),
        "header: {first:?}"
    );
    assert!(
        f.lines()
            .nth(1)
            .unwrap_or("")
            .starts_with("# inventory fuzz\\ninventory sha256 ")
    );
}

fn check_nft(f: &str, host: &str) {
    check_common(f, host);
    for l in f.lines() {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        // continuation lines of an element list: addresses and networks
        if !NFT_STARTS.iter().any(|s| t.starts_with(s)) {
            let e = t.trim_end_matches([',', ' ', '}']);
            assert!(
                addr::parse_net(e, true).is_ok(),
                "not a statement of genfw's: {l:?}"
            );
            continue;
        }
        if let Some(rest) = t.strip_prefix("iifname \"") {
            let name = rest.split('"').next().unwrap_or("");
            assert!(names::iface(name).is_ok(), "interface {name:?}");
            assert_eq!(rest, format!("{name}\" accept"));
        }
        assert!(!t.contains("ruleset"), "{l:?}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixtures_and_hostile_names_hold() {
        let evil = "{\"_meta\":{\"hostvars\":{\"a\\nflush ruleset\\u2028x\":{\"ansible_host\":\"192.0.2.1\",\"genfw_trust_iface\":[\"wg*\"]},\"b\":{\"ansible_host\":\"192.0.2.2\"}}},\"all\":{\"hosts\":[\"a\\nflush ruleset\\u2028x\",\"b\"]}}";
        for text in [
            include_str!("../../../tests/fixtures/genfw/fleet.ini"),
            include_str!("../../../tests/fixtures/genfw/fleet.json"),
            include_str!("../../../tests/fixtures/genfw/hosts"),
            include_str!("../../../tests/fixtures/genfw/ips.txt"),
            include_str!("../../../tests/fixtures/genfw/yaml/webapp/inventory.yml"),
            evil,
        ] {
            for sel in 0..6u8 {
                let mut d = vec![sel];
                d.extend_from_slice(text.as_bytes());
                super::inventory(&d);
            }
        }
    }
}
