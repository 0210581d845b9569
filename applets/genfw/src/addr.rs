//! Strict addresses and networks: dotted quads without leading zeros, RFC 4291 IPv6,
//! prefixes 0–32 / 0–128, host bits clear. Everything else (hostnames, octal, hex,
//! shorthand `10.1`, zone ids) is refused with a message that says why.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A network (a host is a full-length prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Net {
    V4(u32, u8),
    V6(u128, u8),
}

impl Net {
    pub fn is_v4(&self) -> bool {
        matches!(self, Net::V4(..))
    }
    pub fn prefix(&self) -> u8 {
        match *self {
            Net::V4(_, p) | Net::V6(_, p) => p,
        }
    }
    pub fn is_host(&self) -> bool {
        match *self {
            Net::V4(_, p) => p == 32,
            Net::V6(_, p) => p == 128,
        }
    }
    /// First and last address, as u128 (v4 widened).
    fn range(&self) -> (u128, u128) {
        match *self {
            Net::V4(a, p) => {
                let size = if p == 0 {
                    u32::MAX
                } else {
                    (1u32 << (32 - p)) - 1
                };
                (a as u128, (a | size) as u128)
            }
            Net::V6(a, p) => {
                let size = if p == 0 {
                    u128::MAX
                } else {
                    (1u128 << (128 - p)) - 1
                };
                (a, a | size)
            }
        }
    }
    /// Whether `self` contains `other` (same family).
    pub fn contains(&self, other: &Net) -> bool {
        if self.is_v4() != other.is_v4() {
            return false;
        }
        let (a, b) = self.range();
        let (c, d) = other.range();
        a <= c && d <= b
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // written straight into the formatter: rendering 100,000 peers allocates nothing
        match *self {
            Net::V4(a, p) => {
                let mut buf = [0u8; 18];
                let n = v4_text(a, &mut buf);
                f.write_str(std::str::from_utf8(&buf[..n]).unwrap_or("?"))?;
                if p != 32 {
                    write!(f, "/{p}")?;
                }
                Ok(())
            }
            Net::V6(a, p) => {
                fmt::Display::fmt(&Ipv6Addr::from(a), f)?;
                if p != 128 {
                    write!(f, "/{p}")?;
                }
                Ok(())
            }
        }
    }
}

/// Dotted-quad text of an IPv4 address into `buf`; returns its length.
fn v4_text(a: u32, buf: &mut [u8; 18]) -> usize {
    let mut n = 0;
    for (i, o) in a.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        if o >= 100 {
            buf[n] = b'0' + o / 100;
            n += 1;
        }
        if o >= 10 {
            buf[n] = b'0' + o / 10 % 10;
            n += 1;
        }
        buf[n] = b'0' + o % 10;
        n += 1;
    }
    n
}

/// Parse one address or network, strictly. `allow_any` permits a `/0`.
pub fn parse_net(s: &str, allow_any: bool) -> Result<Net, String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    if addr.contains('%') {
        return Err(format!(
            "'{s}': zone ids are not allowed in a firewall address"
        ));
    }
    let net = if addr.contains(':') {
        let a: Ipv6Addr = addr
            .parse()
            .map_err(|_| format!("'{s}': not an IPv6 address (RFC 4291)"))?;
        let p = parse_prefix(s, prefix, 128)?;
        // IPv4-mapped (::ffff:a.b.c.d) never appears on the wire of an IPv6 packet: the
        // kernel sees such peers as IPv4, so they go into the IPv4 sets
        match a.to_ipv4_mapped() {
            Some(v4) if p >= 96 => Net::V4(u32::from(v4), p - 96),
            Some(_) => {
                return Err(format!(
                    "'{s}': an IPv4-mapped network needs a prefix of at least /96 (write the IPv4 network)"
                ));
            }
            None => Net::V6(u128::from(a), p),
        }
    } else {
        let a = parse_v4(s, addr)?;
        let p = parse_prefix(s, prefix, 32)?;
        Net::V4(u32::from(a), p)
    };
    if net.prefix() == 0 && !allow_any {
        return Err(format!(
            "'{s}': a /0 opens the host to the whole Internet (use --allow-any if that is meant)"
        ));
    }
    if host_bits(&net) != 0 {
        let masked = masked(&net);
        let host = match net {
            Net::V4(a, _) => Net::V4(a, 32),
            Net::V6(a, _) => Net::V6(a, 128),
        };
        return Err(format!(
            "'{s}': host bits set; write '{masked}' for the network or '{host}' for the host"
        ));
    }
    Ok(net)
}

fn host_bits(n: &Net) -> u128 {
    match *n {
        Net::V4(a, p) => {
            let m = if p == 0 {
                u32::MAX
            } else {
                (1u32 << (32 - p)).wrapping_sub(1)
            };
            (a & m) as u128
        }
        Net::V6(a, p) => {
            let m = if p == 0 {
                u128::MAX
            } else {
                (1u128 << (128 - p)).wrapping_sub(1)
            };
            a & m
        }
    }
}

fn masked(n: &Net) -> Net {
    match *n {
        Net::V4(a, p) => Net::V4(a & !(host_bits(n) as u32), p),
        Net::V6(a, p) => Net::V6(a & !host_bits(n), p),
    }
}

fn parse_prefix(whole: &str, p: Option<&str>, max: u8) -> Result<u8, String> {
    let Some(p) = p else { return Ok(max) };
    let ok = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    let ok = ok && (p == "0" || !p.starts_with('0'));
    match p.parse::<u8>() {
        Ok(v) if ok && v <= max => Ok(v),
        _ => Err(format!(
            "'{whole}': prefix must be a number from 0 to {max}"
        )),
    }
}

fn parse_v4(whole: &str, a: &str) -> Result<Ipv4Addr, String> {
    // the common case first, without allocating: four plain decimal parts
    if let Ok(v) = a.parse::<Ipv4Addr>() {
        return Ok(v);
    }
    let parts: Vec<&str> = a.split('.').collect();
    let looks_numeric = a
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b'x' || b == b'X');
    if !looks_numeric || !a.bytes().any(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{whole}': not an address (hostnames are not resolved; give the address)"
        ));
    }
    if parts.len() != 4 {
        return Err(format!(
            "'{whole}': an IPv4 address is four dotted decimal numbers (no shorthand)"
        ));
    }
    for p in &parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "'{whole}': '{p}' is not a decimal number from 0 to 255"
            ));
        }
        if p.len() > 1 && p.starts_with('0') {
            return Err(format!(
                "'{whole}': leading zero in '{p}' (loaders read it as octal)"
            ));
        }
    }
    a.parse::<Ipv4Addr>()
        .map_err(|_| format!("'{whole}': each part must be a number from 0 to 255"))
}

/// Sort, drop duplicates and networks inside others. Returns the merged list and a message
/// for every entry that was dropped (`what` names the list).
pub fn merge(nets: &mut Vec<Net>) -> Vec<(Net, Net)> {
    // sort by start address, widest first
    nets.sort_unstable_by_key(|n| {
        let (a, _) = n.range();
        (!n.is_v4(), a, n.prefix())
    });
    let mut out: Vec<Net> = Vec::with_capacity(nets.len());
    let mut dropped = Vec::new();
    for n in nets.drain(..) {
        match out.last() {
            Some(last) if last.contains(&n) => dropped.push((n, *last)),
            _ => out.push(n),
        }
    }
    *nets = out;
    dropped
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
    fn v4_text_is_std_text() {
        for a in [
            0u32,
            1,
            9,
            10,
            99,
            100,
            255,
            0x0a00_0001,
            0xc0a8_6409,
            u32::MAX,
            0x6465_0a00,
        ] {
            let mut buf = [0u8; 18];
            let n = v4_text(a, &mut buf);
            assert_eq!(
                std::str::from_utf8(&buf[..n]).unwrap(),
                Ipv4Addr::from(a).to_string()
            );
        }
        assert_eq!(Net::V4(0x0a00_0000, 8).to_string(), "10.0.0.0/8");
        assert_eq!(Net::V6(1, 128).to_string(), "::1");
        assert_eq!(Net::V6(0x2001_0db8 << 96, 32).to_string(), "2001:db8::/32");
    }

    #[test]
    fn std_rejects_leading_zeros() {
        // parse_v4 relies on this: std's parser is as strict as ours
        assert!("010.0.0.1".parse::<Ipv4Addr>().is_err());
        assert!("1.2.3".parse::<Ipv4Addr>().is_err());
        assert!("0x1.2.3.4".parse::<Ipv4Addr>().is_err());
        assert!("10.0.0.1".parse::<Ipv4Addr>().is_ok());
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
        assert!(bad("::ffff:0:0/95").contains("/96"));
        assert!(bad("::ffff:0:0/96").contains("/0"));
        assert!(bad("::ffff:192.0.2.1/120").contains("host bits"));
        // the old IPv4-compatible form and NAT64 are not IPv4-mapped
        assert_eq!(ok("::192.0.2.1"), "::c000:201");
        assert_eq!(ok("64:ff9b::192.0.2.1"), "64:ff9b::c000:201");
        assert_eq!(
            parse_net("0.0.0.0/0", true).unwrap().to_string(),
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
        assert!(bad("192.0.2.1/0").contains("/0"));
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
    fn merge_drops_duplicates_and_contained() {
        let mut v: Vec<Net> = [
            "10.0.0.5",
            "10.0.0.0/24",
            "10.0.0.5",
            "2001:db8::1",
            "10.1.0.1",
        ]
        .iter()
        .map(|s| parse_net(s, false).unwrap())
        .collect();
        let dropped = merge(&mut v);
        let s: Vec<String> = v.iter().map(|n| n.to_string()).collect();
        assert_eq!(s, ["10.0.0.0/24", "10.1.0.1", "2001:db8::1"]);
        assert_eq!(dropped.len(), 2);
    }
}
