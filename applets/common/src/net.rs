//! Addresses and networks, one type for every applet ([`Net`]): IPv4 or IPv6, a host being
//! a full-length prefix.
//!
//! [`Net::parse`] is strict: dotted quads without leading zeros (loaders read `010` as
//! octal) and without shorthand (`10.1`), RFC 4291 IPv6 (as the standard library reads
//! it), no zone ids (`%eth0`), prefixes 0–32 / 0–128 written plainly, host bits clear
//! (`192.0.2.1/24` is refused, saying which of network or host was meant). Hostnames are
//! never resolved. Whether `/0` is acceptable is the caller's policy.
//!
//! IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a dual-stack socket reports for an IPv4
//! peer) is recognised by the standard library (`Ipv6Addr::to_ipv4_mapped`), never by
//! string matching: [`Net::host`] and [`Net::contains_ip`] take such a peer as the IPv4
//! address it carries, and [`Net::unmapped`] turns a written `::ffff:a.b.c.d/p` (p ≥ 96)
//! into the IPv4 network it means.

use crate::escape;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 network: the address (host bits clear) and the prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Net {
    V4(u32, u8),
    V6(u128, u8),
}

impl Net {
    /// Parse `ADDR` or `ADDR/PREFIX` strictly (see the module doc).
    pub fn parse(s: &str) -> Result<Net, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let q = escape::quote(s);
        if addr.contains('%') {
            return Err(format!("{q}: zone ids are not allowed in a network"));
        }
        let net = if addr.contains(':') {
            let a: Ipv6Addr = addr
                .parse()
                .map_err(|_| format!("{q}: not an IPv6 address (RFC 4291)"))?;
            Net::V6(u128::from(a), parse_prefix(&q, prefix, 128)?)
        } else {
            let a = parse_v4(&q, addr)?;
            Net::V4(u32::from(a), parse_prefix(&q, prefix, 32)?)
        };
        if net.host_bits() != 0 {
            return Err(format!(
                "{q}: host bits set; write '{}' for the network or '{}' for the host",
                net.masked(),
                net.with_prefix(net.max_prefix())
            ));
        }
        Ok(net)
    }

    /// This machine's loopback networks, 127.0.0.0/8 and ::1.
    pub fn loopback() -> [Net; 2] {
        [Net::V4(0x7f00_0000, 8), Net::V6(1, 128)]
    }

    /// The one address `ip` (an IPv4-mapped IPv6 address is the IPv4 address it carries).
    pub fn host(ip: IpAddr) -> Net {
        match ip {
            IpAddr::V4(a) => Net::V4(u32::from(a), 32),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Net::V4(u32::from(v4), 32),
                None => Net::V6(u128::from(a), 128),
            },
        }
    }

    /// An IPv4-mapped IPv6 network (`::ffff:0:0/96` or inside it) as the IPv4 network it
    /// means; anything else unchanged.
    pub fn unmapped(self) -> Net {
        match self {
            Net::V6(a, p) if p >= 96 => match Ipv6Addr::from(a).to_ipv4_mapped() {
                Some(v4) => Net::V4(u32::from(v4), p - 96),
                None => self,
            },
            _ => self,
        }
    }

    pub fn is_v4(&self) -> bool {
        matches!(self, Net::V4(..))
    }

    pub fn prefix(&self) -> u8 {
        match *self {
            Net::V4(_, p) | Net::V6(_, p) => p,
        }
    }

    fn max_prefix(&self) -> u8 {
        if self.is_v4() { 32 } else { 128 }
    }

    /// A single address (a full-length prefix).
    pub fn is_host(&self) -> bool {
        self.prefix() == self.max_prefix()
    }

    fn with_prefix(&self, p: u8) -> Net {
        match *self {
            Net::V4(a, _) => Net::V4(a, p),
            Net::V6(a, _) => Net::V6(a, p),
        }
    }

    /// The bits below the prefix, as a mask (v4 widened).
    fn host_mask(&self) -> u128 {
        let bits = u32::from(self.max_prefix() - self.prefix());
        if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        }
    }

    fn addr_bits(&self) -> u128 {
        match *self {
            Net::V4(a, _) => u128::from(a),
            Net::V6(a, _) => a,
        }
    }

    fn host_bits(&self) -> u128 {
        self.addr_bits() & self.host_mask()
    }

    /// The network with its host bits cleared.
    pub fn masked(&self) -> Net {
        let a = self.addr_bits() & !self.host_mask();
        match *self {
            // (a fits: a v4 address widened, with bits cleared)
            Net::V4(_, p) => Net::V4(a as u32, p),
            Net::V6(_, p) => Net::V6(a, p),
        }
    }

    /// First and last address (v4 widened).
    fn range(&self) -> (u128, u128) {
        let a = self.addr_bits() & !self.host_mask();
        (a, a | self.host_mask())
    }

    /// Whether `other` lies within `self` (same family only).
    pub fn contains(&self, other: &Net) -> bool {
        if self.is_v4() != other.is_v4() {
            return false;
        }
        let (a, b) = self.range();
        let (c, d) = other.range();
        a <= c && d <= b
    }

    /// Whether the address `ip` lies within `self` (an IPv4-mapped peer counts as IPv4).
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        self.contains(&Net::host(ip))
    }

    /// The address alone, as the standard library writes it.
    pub fn addr_string(&self) -> String {
        match *self {
            Net::V4(a, _) => Ipv4Addr::from(a).to_string(),
            Net::V6(a, _) => Ipv6Addr::from(a).to_string(),
        }
    }
}

impl fmt::Display for Net {
    /// `ADDR` for a host, `ADDR/PREFIX` for a network.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // written straight into the formatter (genfw renders 100,000 peers): no String
        match *self {
            Net::V4(a, _) => write!(f, "{}", Ipv4Addr::from(a))?,
            Net::V6(a, _) => write!(f, "{}", Ipv6Addr::from(a))?,
        }
        if !self.is_host() {
            write!(f, "/{}", self.prefix())?;
        }
        Ok(())
    }
}

/// Sort `nets` (IPv4 first, by address, wider first) and drop duplicates and networks
/// inside another; returns each dropped one with the network that holds it.
pub fn merge(nets: &mut Vec<Net>) -> Vec<(Net, Net)> {
    nets.sort_by_key(|n| (!n.is_v4(), n.range().0, n.prefix()));
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

fn parse_prefix(q: &str, p: Option<&str>, max: u8) -> Result<u8, String> {
    let Some(p) = p else { return Ok(max) };
    let plain = !p.is_empty()
        && p.len() <= 3
        && p.bytes().all(|b| b.is_ascii_digit())
        && (p == "0" || !p.starts_with('0'));
    match p.parse::<u8>() {
        Ok(v) if plain && v <= max => Ok(v),
        _ => Err(format!("{q}: the prefix must be a number from 0 to {max}")),
    }
}

fn parse_v4(q: &str, a: &str) -> Result<Ipv4Addr, String> {
    let numeric = a
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b'x' || b == b'X');
    if !numeric || !a.bytes().any(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{q}: not an address (hostnames are not resolved; give the address)"
        ));
    }
    let parts: Vec<&str> = a.split('.').collect();
    if parts.len() != 4 {
        return Err(format!(
            "{q}: an IPv4 address is four dotted decimal numbers (no shorthand)"
        ));
    }
    for p in &parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{q}: {} is not a decimal number from 0 to 255",
                escape::quote(p)
            ));
        }
        if p.len() > 1 && p.starts_with('0') {
            return Err(format!(
                "{q}: leading zero in {} (loaders read it as octal)",
                escape::quote(p)
            ));
        }
    }
    a.parse::<Ipv4Addr>()
        .map_err(|_| format!("{q}: each part must be a number from 0 to 255"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        Net::parse(s).unwrap().to_string()
    }
    fn bad(s: &str) -> String {
        Net::parse(s).unwrap_err()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn strict_forms() {
        assert_eq!(ok("192.0.2.1"), "192.0.2.1");
        assert_eq!(ok("192.0.2.1/32"), "192.0.2.1");
        assert_eq!(ok("198.51.100.0/24"), "198.51.100.0/24");
        assert_eq!(ok("192.168.1.128/25"), "192.168.1.128/25");
        assert_eq!(ok("2001:db8::/32"), "2001:db8::/32");
        assert_eq!(ok("2001:DB8::1"), "2001:db8::1");
        assert_eq!(ok("0.0.0.0/0"), "0.0.0.0/0");
        assert_eq!(ok("::/0"), "::/0");
        // written as mapped, kept as written until asked
        assert_eq!(ok("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
    }

    #[test]
    fn traps_refused_with_reasons() {
        for (s, why) in [
            (
                "192.0.2.1/24",
                "write '192.0.2.0/24' for the network or '192.0.2.1' for the host",
            ),
            ("2001:db8::1/64", "write '2001:db8::/64'"),
            ("010.0.0.1", "leading zero in \"010\""),
            ("10.1", "no shorthand"),
            ("0x0a.0.0.1", "\"0x0a\" is not a decimal number"),
            ("web1.example.com", "hostnames are not resolved"),
            ("fe80::1%eth0", "zone ids"),
            ("10.0.0.0/33", "from 0 to 32"),
            ("::/129", "from 0 to 128"),
            ("10.0.0.0/", "from 0 to 32"),
            ("10.0.0.0/08", "from 0 to 32"),
            ("10.0.0.256", "from 0 to 255"),
            ("2001:db8:::1", "not an IPv6 address"),
        ] {
            let m = bad(s);
            assert!(m.contains(why), "{s}: {m}");
            assert!(m.starts_with(&format!("\"{s}\": ")), "{s}: {m}");
        }
        // input in a message is escaped
        assert!(bad("10.0.0.1\n").starts_with("\"10.0.0.1\\n\": "));
    }

    #[test]
    fn containment_and_peers() {
        let n = Net::parse("10.1.0.0/16").unwrap();
        assert!(n.contains_ip(ip("10.1.200.3")));
        assert!(!n.contains_ip(ip("10.2.0.1")));
        // a dual-stack socket's IPv4 peer
        assert!(n.contains_ip(ip("::ffff:10.1.0.9")));
        assert!(!n.contains_ip(ip("::ffff:10.2.0.9")));
        assert_eq!(Net::host(ip("::ffff:192.0.2.7")).to_string(), "192.0.2.7");
        // not mapped: the IPv4-compatible form and NAT64 stay IPv6
        assert!(!Net::host(ip("::192.0.2.7")).is_v4());
        assert!(!Net::host(ip("64:ff9b::192.0.2.7")).is_v4());
        let v6 = Net::parse("2001:db8::/32").unwrap();
        assert!(v6.contains_ip(ip("2001:db8:1::5")) && !v6.contains_ip(ip("2001:db9::1")));
        assert!(!v6.contains_ip(ip("10.0.0.1")));
        assert!(
            !Net::parse("::/0")
                .unwrap()
                .contains_ip(ip("::ffff:10.0.0.1"))
        );
        assert!(
            Net::parse("0.0.0.0/0")
                .unwrap()
                .contains_ip(ip("::ffff:8.8.8.8"))
        );
        let h = Net::parse("127.0.0.1").unwrap();
        assert!(h.contains_ip(ip("127.0.0.1")) && !h.contains_ip(ip("127.0.0.2")));
        assert!(n.contains(&Net::parse("10.1.2.0/24").unwrap()));
        assert!(!Net::parse("10.1.2.0/24").unwrap().contains(&n));
    }

    #[test]
    fn mapped_networks_unmap() {
        let m = Net::parse("::ffff:10.0.0.0/104").unwrap().unmapped();
        assert_eq!(m, Net::parse("10.0.0.0/8").unwrap());
        assert_eq!(
            Net::parse("::ffff:192.0.2.1")
                .unwrap()
                .unmapped()
                .to_string(),
            "192.0.2.1"
        );
        assert_eq!(
            Net::parse("::ffff:0.0.0.0/96")
                .unwrap()
                .unmapped()
                .to_string(),
            "0.0.0.0/0"
        );
        // wider than the mapped range: it is an IPv6 network
        let wide = Net::parse("::/80").unwrap();
        assert_eq!(wide.unmapped(), wide);
        let plain = Net::parse("2001:db8::/32").unwrap();
        assert_eq!(plain.unmapped(), plain);
    }

    #[test]
    fn boundaries() {
        assert_eq!(ok("255.255.255.255/32"), "255.255.255.255");
        assert_eq!(ok("128.0.0.0/1"), "128.0.0.0/1");
        assert!(bad("128.0.0.0/0").contains("write '0.0.0.0/0'"));
        assert_eq!(ok("8000::/1"), "8000::/1");
        assert_eq!(
            ok("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        let all6 = Net::parse("::/0").unwrap();
        assert!(all6.contains(&Net::parse("ffff::/16").unwrap()));
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
        .map(|s| Net::parse(s).unwrap())
        .collect();
        let dropped = merge(&mut v);
        let s: Vec<String> = v.iter().map(|n| n.to_string()).collect();
        assert_eq!(s, ["10.0.0.0/24", "10.1.0.1", "2001:db8::1"]);
        assert_eq!(dropped.len(), 2);
        assert!(
            dropped
                .iter()
                .all(|(_, kept)| kept.to_string() == "10.0.0.0/24")
        );
    }
}
