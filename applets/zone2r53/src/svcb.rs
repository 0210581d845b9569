//! SVCB/HTTPS service parameters (RFC 9460): `key=value` ↔ wire, keys in ascending order.

use crate::name::{Escapes, push_escape};
use crate::rdata::string_bytes;
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

const KEYS: &[(&str, u16)] = &[
    ("mandatory", 0),
    ("alpn", 1),
    ("no-default-alpn", 2),
    ("port", 3),
    ("ipv4hint", 4),
    ("ech", 5),
    ("ipv6hint", 6),
    ("dohpath", 7),
    ("ohttp", 8),
    ("tls-supported-groups", 9),
];

fn key_code(k: &[u8]) -> Result<u16, String> {
    let low = k.to_ascii_lowercase();
    if let Some((_, c)) = KEYS.iter().find(|(n, _)| n.as_bytes() == low.as_slice()) {
        return Ok(*c);
    }
    low.strip_prefix(b"key")
        .filter(|d| !d.is_empty() && d.len() <= 5 && d.iter().all(u8::is_ascii_digit))
        .and_then(|d| std::str::from_utf8(d).ok()?.parse::<u16>().ok())
        .filter(|&c| c != 65535)
        .ok_or_else(|| format!("unknown service parameter {}", q(k)))
}

/// Input bytes for a message, escaped and shortened.
fn q(b: &[u8]) -> String {
    opsbox_common::escape::quote(&String::from_utf8_lossy(b))
}

fn key_name(c: u16) -> String {
    KEYS.iter()
        .find(|(_, k)| *k == c)
        .map(|(n, _)| (*n).to_string())
        .unwrap_or_else(|| format!("key{c}"))
}

/// A value list (RFC 9460 appendix A.1): the character-string is decoded first, then split
/// on commas, where `\,` is a literal comma and `\\` a backslash.
fn value_list(v: &[u8], esc: Escapes) -> Result<Vec<Vec<u8>>, String> {
    let d = string_bytes(v, esc)?;
    let mut out = vec![Vec::new()];
    let mut i = 0;
    while i < d.len() {
        match d[i] {
            b'\\' if i + 1 < d.len() => {
                if let Some(last) = out.last_mut() {
                    last.push(d[i + 1]);
                }
                i += 2;
                continue;
            }
            b',' => out.push(Vec::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
        i += 1;
    }
    Ok(out)
}

fn addr<T: std::str::FromStr>(s: &[u8], what: &str) -> Result<T, String> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|x| x.parse().ok())
        .ok_or_else(|| format!("{} is not an {what} address", q(s)))
}

/// What the record is, for the rules that depend on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    /// SvcPriority 0.
    pub alias: bool,
    /// HTTPS (port and no-default-alpn are automatically mandatory).
    pub https: bool,
}

/// Parameters (key, optional raw value) → wire, appended to `out`, checked against RFC 9460
/// (and RFC 9540/9461 for ohttp and dohpath): what it says MUST is an error, what it says
/// SHOULD (NOT) a warning pushed to `warnings`.
pub fn params_to_wire(
    params: &[(Vec<u8>, Option<Vec<u8>>)],
    esc: Escapes,
    mode: Mode,
    out: &mut Vec<u8>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let mut items: Vec<(u16, Vec<u8>)> = Vec::new();
    for (k, v) in params {
        let code = key_code(k)?;
        if items.iter().any(|(c, _)| *c == code) {
            return Err(format!(
                "service parameter '{}' given twice",
                key_name(code)
            ));
        }
        let need = |v: &Option<Vec<u8>>| {
            v.clone()
                .filter(|x| !x.is_empty())
                .ok_or_else(|| format!("service parameter '{}' needs a value", key_name(code)))
        };
        let mut w = Vec::new();
        match code {
            0 => {
                let mut keys = Vec::new();
                for k in value_list(&need(v)?, esc)? {
                    let c = key_code(&k)?;
                    if c == 0 {
                        return Err("mandatory may not list mandatory itself (RFC 9460 8)".into());
                    }
                    if keys.contains(&c) {
                        return Err(format!(
                            "mandatory lists {} twice (RFC 9460 8)",
                            key_name(c)
                        ));
                    }
                    keys.push(c);
                }
                keys.sort_unstable();
                for k in keys {
                    w.extend_from_slice(&k.to_be_bytes());
                }
            }
            1 => {
                for b in value_list(&need(v)?, esc)? {
                    if b.is_empty() || b.len() > 255 {
                        return Err("alpn identifiers are 1 to 255 octets".into());
                    }
                    w.push(b.len() as u8);
                    w.extend_from_slice(&b);
                }
            }
            2 => {
                if v.as_ref().is_some_and(|x| !x.is_empty()) {
                    return Err("no-default-alpn takes no value".into());
                }
            }
            3 => {
                let p: u16 = addr::<u16>(&string_bytes(&need(v)?, esc)?, "port")
                    .map_err(|_| "bad port".to_string())?;
                w.extend_from_slice(&p.to_be_bytes());
            }
            4 => {
                for a in value_list(&need(v)?, esc)? {
                    w.extend_from_slice(&addr::<Ipv4Addr>(&a, "IPv4")?.octets());
                }
            }
            6 => {
                for a in value_list(&need(v)?, esc)? {
                    w.extend_from_slice(&addr::<Ipv6Addr>(&a, "IPv6")?.octets());
                }
            }
            9 => {
                let mut seen = Vec::new();
                for g in value_list(&need(v)?, esc)? {
                    let n: u16 = addr::<u16>(&g, "group")
                        .map_err(|_| format!("tls-supported-groups: {} is not a number", q(&g)))?;
                    if seen.contains(&n) {
                        return Err(format!("tls-supported-groups lists {n} twice"));
                    }
                    seen.push(n);
                    w.extend_from_slice(&n.to_be_bytes());
                }
            }
            5 => w = base64_decode(&string_bytes(&need(v)?, esc)?)?,
            7 => {
                let t = string_bytes(&need(v)?, esc)?;
                let s = std::str::from_utf8(&t)
                    .map_err(|_| "dohpath is not UTF-8 (RFC 9461 5)".to_string())?;
                if !s.starts_with('/') || !s.contains("{?dns") && !s.contains("{dns") {
                    return Err(format!(
                        "dohpath {} is not a relative URI template with a dns variable (RFC 9461 5)",
                        opsbox_common::escape::quote(s)
                    ));
                }
                w = t;
            }
            8 => {
                if v.as_ref().is_some_and(|x| !x.is_empty()) {
                    return Err("ohttp takes no value (RFC 9540 4)".into());
                }
            }
            _ => {
                if let Some(v) = v {
                    w = string_bytes(v, esc)?;
                }
            }
        }
        if w.len() > 65535 {
            return Err("service parameter value too long".into());
        }
        items.push((code, w));
    }
    items.sort_by_key(|(c, _)| *c);
    let has = |k: u16| items.iter().any(|(c, _)| *c == k);
    if let Some((_, list)) = items.iter().find(|(c, _)| *c == 0) {
        for k in list.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])) {
            if !has(k) {
                return Err(format!(
                    "mandatory lists {}, which the record does not have (RFC 9460 8)",
                    key_name(k)
                ));
            }
            if mode.https && (k == 2 || k == 3) {
                warnings.push(format!(
                    "HTTPS: {} is automatically mandatory and SHOULD NOT be listed in mandatory (RFC 9460 9.1)",
                    key_name(k)
                ));
            }
        }
    }
    if has(2) && !has(1) {
        // RFC 9460 2.4.3: zone file implementations SHOULD enforce self-consistency; a
        // SHOULD is a warning here (BIND refuses it, NSD takes it)
        warnings.push(
            "no-default-alpn without alpn: the record is not self-consistent, clients can use no protocol (RFC 9460 7.1.1, 2.4.3)"
                .into(),
        );
    }
    if mode.alias && !items.is_empty() {
        warnings.push(
            "AliasMode (priority 0) SHOULD NOT have service parameters; clients ignore them (RFC 9460 2.4.2)"
                .into(),
        );
    }
    for (c, w) in items {
        out.extend_from_slice(&c.to_be_bytes());
        out.extend_from_slice(&(w.len() as u16).to_be_bytes());
        out.extend_from_slice(&w);
    }
    Ok(())
}

/// Wire parameters → ` key=value…` appended to `s`.
pub fn params_to_text(mut b: &[u8], esc: Escapes, s: &mut String) -> Result<(), String> {
    let mut last: Option<u16> = None;
    while !b.is_empty() {
        if b.len() < 4 {
            return Err("truncated service parameter".into());
        }
        let code = u16::from_be_bytes([b[0], b[1]]);
        let len = u16::from_be_bytes([b[2], b[3]]) as usize;
        let v = b.get(4..4 + len).ok_or("truncated service parameter")?;
        b = &b[4 + len..];
        if last.is_some_and(|l| l >= code) {
            return Err("service parameters out of order".into());
        }
        last = Some(code);
        let _ = write!(s, " {}", key_name(code));
        let bad = || format!("bad {} value", key_name(code));
        match code {
            0 if v.len().is_multiple_of(2) => {
                let ks: Vec<String> = v
                    .chunks(2)
                    .map(|c| key_name(u16::from_be_bytes([c[0], c[1]])))
                    .collect();
                let _ = write!(s, "={}", ks.join(","));
            }
            1 => {
                s.push_str("=\"");
                let mut r = v;
                let mut first = true;
                while let Some((&n, rest)) = r.split_first() {
                    let id = rest.get(..n as usize).ok_or_else(bad)?;
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    for &c in id {
                        match c {
                            b',' => s.push_str("\\\\,"),
                            b'\\' => s.push_str("\\\\\\\\"),
                            b'"' => s.push_str("\\\""),
                            0x21..=0x7e => s.push(c as char),
                            _ => push_escape(s, c, esc),
                        }
                    }
                    r = &rest[n as usize..];
                }
                s.push('"');
            }
            2 if v.is_empty() => {}
            3 if v.len() == 2 => {
                let _ = write!(s, "={}", u16::from_be_bytes([v[0], v[1]]));
            }
            4 if !v.is_empty() && v.len().is_multiple_of(4) => {
                let a: Vec<String> = v
                    .chunks(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]).to_string())
                    .collect();
                let _ = write!(s, "={}", a.join(","));
            }
            6 if !v.is_empty() && v.len().is_multiple_of(16) => {
                let a: Vec<String> = v
                    .chunks(16)
                    .map(|c| {
                        let mut o = [0u8; 16];
                        o.copy_from_slice(c);
                        Ipv6Addr::from(o).to_string()
                    })
                    .collect();
                let _ = write!(s, "={}", a.join(","));
            }
            9 if !v.is_empty() && v.len().is_multiple_of(2) => {
                let g: Vec<String> = v
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]).to_string())
                    .collect();
                let _ = write!(s, "={}", g.join(","));
            }
            5 | 8 => {
                if !v.is_empty() || code == 5 {
                    let _ = write!(s, "={}", base64_encode(v));
                }
            }
            0..=6 | 9 => return Err(bad()),
            _ => {
                if !v.is_empty() {
                    s.push('=');
                    crate::rdata::quote(v, esc, s);
                }
            }
        }
    }
    Ok(())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

pub fn base64_decode(t: &[u8]) -> Result<Vec<u8>, String> {
    let t: Vec<u8> = t
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let body = t
        .strip_suffix(b"==")
        .or_else(|| t.strip_suffix(b"="))
        .unwrap_or(&t);
    if !t.len().is_multiple_of(4) {
        return Err("base64 length is not a multiple of 4".into());
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in body {
        let v = B64
            .iter()
            .position(|&x| x == c)
            .ok_or_else(|| format!("{} is not base64", q(&[c])))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(p: &[(&str, Option<&str>)]) -> Result<String, String> {
        let v: Vec<(Vec<u8>, Option<Vec<u8>>)> = p
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|x| x.as_bytes().to_vec())))
            .collect();
        let mut w = Vec::new();
        params_to_wire(
            &v,
            Escapes::Decimal,
            Mode::default(),
            &mut w,
            &mut Vec::new(),
        )?;
        let mut s = String::new();
        params_to_text(&w, Escapes::Octal, &mut s)?;
        Ok(s)
    }

    #[test]
    fn params() {
        assert_eq!(
            rt(&[("ipv4hint", Some("203.0.113.1")), ("alpn", Some("h3,h2"))]).unwrap(),
            " alpn=\"h3,h2\" ipv4hint=203.0.113.1"
        );
        assert_eq!(
            rt(&[
                ("mandatory", Some("port,alpn")),
                ("port", Some("8443")),
                ("alpn", Some("h2")),
                ("no-default-alpn", None)
            ])
            .unwrap(),
            " mandatory=alpn,port alpn=\"h2\" no-default-alpn port=8443"
        );
        assert_eq!(rt(&[("key65000", Some("x"))]).unwrap(), " key65000=\"x\"");
        assert_eq!(rt(&[("ech", Some("AAEC"))]).unwrap(), " ech=AAEC");
        assert_eq!(
            rt(&[("tls-supported-groups", Some("29,23"))]).unwrap(),
            " tls-supported-groups=29,23"
        );
        assert!(rt(&[("tls-supported-groups", Some("x"))]).is_err());
        // two-level escapes: a comma inside an alpn id
        assert_eq!(
            rt(&[("alpn", Some("foo\\\\,bar,h2"))]).unwrap(),
            " alpn=\"foo\\\\,bar,h2\""
        );
        assert_eq!(
            rt(&[("alpn", Some("foo\\092,bar,h2"))]).unwrap(),
            " alpn=\"foo\\\\,bar,h2\""
        );
        assert_eq!(
            rt(&[("alpn", Some("a\\\\\\\\b"))]).unwrap(),
            " alpn=\"a\\\\\\\\b\""
        );
        assert!(rt(&[("bogus", Some("1"))]).is_err());
        assert!(rt(&[("port", Some("1")), ("port", Some("2"))]).is_err());
        assert!(rt(&[("alpn", None)]).is_err());
    }

    #[test]
    fn b64() {
        for s in [&b""[..], b"a", b"ab", b"abc", b"abcd\xff"] {
            assert_eq!(base64_decode(base64_encode(s).as_bytes()).unwrap(), s);
        }
        assert!(base64_decode(b"abc").is_err());
    }
}
