//! This machine's own addresses, from /proc/net (of the current network namespace):
//! `fib_trie` for IPv4 (`/32 host LOCAL` leaves), `if_inet6` for IPv6.

use crate::addr::Net;
use std::net::Ipv4Addr;

/// Local addresses, loopback excluded. Unreadable files give an empty list.
pub fn addresses() -> Vec<Net> {
    let mut out = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/proc/net/fib_trie") {
        out.extend(parse_fib_trie(&t));
    }
    if let Ok(t) = std::fs::read_to_string("/proc/net/if_inet6") {
        out.extend(parse_if_inet6(&t));
    }
    out.sort();
    out.dedup();
    out
}

pub fn parse_fib_trie(text: &str) -> Vec<Net> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("|-- ") {
            last = rest.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL")
            && let Some(a) = last
            && !a.is_loopback()
        {
            out.push(Net::V4(u32::from(a), 32));
        }
    }
    out
}

pub fn parse_if_inet6(text: &str) -> Vec<Net> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|h| u128::from_str_radix(h, 16).ok())
        .filter(|&a| a != 1)
        .map(|a| Net::V6(a, 128))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_trie_and_if_inet6() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 127.0.0.0/8 2 0 2\n        |-- 127.0.0.1\n           /32 host LOCAL\n     |-- 192.0.2.1\n        /32 host LOCAL\n     |-- 192.0.2.255\n        /32 link BROADCAST\n";
        let v = parse_fib_trie(trie);
        assert_eq!(v, vec![Net::V4(0xc000_0201, 32)]);
        let six = "00000000000000000000000000000001 01 80 10 80       lo\nfd000000000000000000000000000001 02 40 00 80     eth0\n";
        let v = parse_if_inet6(six);
        assert_eq!(
            v,
            vec![Net::V6(0xfd00_0000_0000_0000_0000_0000_0000_0001, 128)]
        );
    }
}
