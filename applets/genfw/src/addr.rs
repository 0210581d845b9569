//! genfw's policy over the one address type, [`opsbox_common::net::Net`] (strict forms:
//! see that module): a `/0` only with `--allow-any`, and an IPv4-mapped address
//! (`::ffff:a.b.c.d`, recognised by the standard library) is the IPv4 address it carries —
//! the kernel sees such peers as IPv4, so they belong in the IPv4 sets.

pub(crate) use opsbox_common::net::{Net, merge};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address or network as genfw takes it: [`Net::parse`], mapped networks unmapped,
/// then genfw's checks. `allow_any` permits a `/0`.
pub(crate) fn parse_net(s: &str, allow_any: bool) -> Result<Net, String> {
    // the common case, a plain dotted quad, without allocating (100,000 peers): std takes
    // exactly the quads Net::parse takes (no leading zeros, shorthand or hex)
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Ok(Net::host(IpAddr::V4(a)));
    }
    let net = match Net::parse(s) {
        Ok(n) => n,
        // genfw's own answer where common's "host bits set" advice would mislead (to
        // write a /0 without --allow-any, or an IPv6 network no IPv4 peer comes from)
        Err(m) => return Err(refine(s, m, allow_any)),
    };
    let net = net.unmapped();
    if net.prefix() == 0 && !allow_any {
        return Err(any(s));
    }
    Ok(net)
}

fn any(s: &str) -> String {
    format!(
        "{}: a /0 opens the host to the whole Internet (use --allow-any if that is meant)",
        opsbox_common::escape::quote(s)
    )
}

fn mapped_short(s: &str) -> String {
    format!(
        "{}: an IPv4-mapped network needs a prefix of at least /96 (write the IPv4 network)",
        opsbox_common::escape::quote(s)
    )
}

/// For a network common refused: a written `/0` is refused for being a `/0` (unless
/// allowed), and an IPv4-mapped address under a short prefix for that; anything else keeps
/// common's reason.
fn refine(s: &str, common: String, allow_any: bool) -> String {
    let Some((a, p)) = s.split_once('/') else {
        return common;
    };
    // only an address common takes, with a prefix it takes (written plainly)
    let Ok(host) = Net::parse(a) else {
        return common;
    };
    let plain = p.bytes().all(|b| b.is_ascii_digit()) && (p == "0" || !p.starts_with('0'));
    let prefix = match p.parse::<u8>() {
        Ok(v) if plain && v <= 128 => v,
        _ => return common,
    };
    if prefix == 0 && !allow_any {
        return any(s);
    }
    if let Net::V6(bits, _) = host
        && prefix < 96
        && Ipv6Addr::from(bits).to_ipv4_mapped().is_some()
    {
        return mapped_short(s);
    }
    common
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        parse_net(s, false).unwrap().to_string()
    }
    fn bad(s: &str) -> String {
        parse_net(s, false).unwrap_err()
    }

    #[test]
    fn accepts_strict_forms() {
        assert_eq!(ok("10.0.0.1"), "10.0.0.1");
        assert_eq!(ok("10.0.0.1/32"), "10.0.0.1");
        assert_eq!(ok("10.0.0.0/8"), "10.0.0.0/8");
        assert_eq!(ok("2001:db8::/32"), "2001:db8::/32");
        assert_eq!(ok("2001:DB8::1"), "2001:db8::1");
        // IPv4-mapped addresses are IPv4 (std's to_ipv4_mapped, not string stripping)
        assert_eq!(ok("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(ok("::FFFF:c000:201"), "192.0.2.1");
        assert_eq!(ok("::ffff:192.0.2.0/120"), "192.0.2.0/24");
        assert!(parse_net("::ffff:192.0.2.1", false).unwrap().is_v4());
        // the old IPv4-compatible form and NAT64 are not IPv4-mapped
        assert_eq!(ok("::192.0.2.1"), "::c000:201");
        assert_eq!(ok("64:ff9b::192.0.2.1"), "64:ff9b::c000:201");
        assert_eq!(
            parse_net("0.0.0.0/0", true).unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(parse_net("::/0", true).unwrap().to_string(), "::/0");
        assert_eq!(
            parse_net("::ffff:0:0/96", true).unwrap().to_string(),
            "0.0.0.0/0"
        );
    }

    #[test]
    fn rejects_traps() {
        assert!(bad("010.0.0.1").contains("leading zero"));
        assert!(bad("0x0a.0.0.1").contains("not a decimal"));
        assert!(bad("10.1").contains("shorthand"));
        assert!(bad("167772161").contains("shorthand"));
        assert!(bad("db01.example.com").contains("hostnames"));
        assert!(bad("fe80::1%eth0").contains("zone"));
        assert!(bad("10.0.0.1/33").contains("0 to 32"));
        assert!(bad("10.0.0.1/08").contains("0 to 32"));
        assert!(bad("2001:db8::1/129").contains("0 to 128"));
        assert!(bad("256.0.0.1").contains("0 to 255"));
        assert!(bad("2001:db8:::1").contains("IPv6"));
        let m = bad("192.0.2.1/24");
        assert!(
            m.contains("'192.0.2.0/24'") && m.contains("'192.0.2.1'"),
            "{m}"
        );
        let m = bad("2001:db8::1/64");
        assert!(m.contains("'2001:db8::/64'"), "{m}");
    }

    #[test]
    fn plain_quads_read_as_common_reads_them() {
        // the fast path must agree with Net::parse on every quad std takes or refuses
        for s in [
            "0.0.0.0",
            "10.0.0.1",
            "255.255.255.255",
            "010.0.0.1",
            "10.0.0.01",
            "1.2.3",
            "0x1.2.3.4",
            "1.2.3.4.5",
            "256.0.0.1",
            "+1.2.3.4",
            "1..2.3",
            " 1.2.3.4",
            "1.2.3.4 ",
        ] {
            assert_eq!(s.parse::<Ipv4Addr>().is_ok(), Net::parse(s).is_ok(), "{s}");
            if let Ok(n) = Net::parse(s) {
                assert_eq!(parse_net(s, false).unwrap(), n, "{s}");
            }
        }
    }

    #[test]
    fn any_is_genfw_policy() {
        let whole = "opens the host to the whole Internet (use --allow-any";
        for s in ["0.0.0.0/0", "::/0", "::ffff:0:0/96", "::ffff:0.0.0.0/96"] {
            assert_eq!(bad(s), format!("\"{s}\": a /0 {whole} if that is meant)"));
        }
        // host bits set under /0: still the /0 that is refused, not advice to write one
        for s in ["192.0.2.1/0", "2001:db8::1/0"] {
            let m = bad(s);
            assert!(m.contains(whole) && !m.contains("write"), "{s}: {m}");
        }
        // allowed, the host bits are the mistake, as common says
        let m = parse_net("192.0.2.1/0", true).unwrap_err();
        assert!(m.contains("host bits set; write '0.0.0.0/0'"), "{m}");
    }

    #[test]
    fn mapped_needs_96() {
        for s in ["::ffff:0:0/95", "::ffff:192.0.2.1/64", "::ffff:0.0.0.0/80"] {
            let m = bad(s);
            assert!(m.contains("needs a prefix of at least /96"), "{s}: {m}");
        }
        // inside the mapped range, host bits are host bits
        assert!(
            bad("::ffff:192.0.2.1/120").contains("host bits set; write '::ffff:192.0.2.0/120'")
        );
        // not mapped: common's reason stands
        assert!(bad("2001:db8::1/64").contains("host bits"));
        assert!(bad("010.0.0.1/0").contains("leading zero"));
        assert!(bad("10.0.0.1/00").contains("0 to 32"));
    }

    #[test]
    fn merge_drops_duplicates_and_contained() {
        let mut v: Vec<Net> = [
            "10.0.0.5",
            "10.0.0.0/24",
            "10.0.0.5",
            "::ffff:10.0.0.7",
            "2001:db8::1",
            "10.1.0.1",
        ]
        .iter()
        .map(|s| parse_net(s, false).unwrap())
        .collect();
        let dropped = merge(&mut v);
        let s: Vec<String> = v.iter().map(|n| n.to_string()).collect();
        assert_eq!(s, ["10.0.0.0/24", "10.1.0.1", "2001:db8::1"]);
        assert_eq!(dropped.len(), 3);
    }
}
