//! Record data: presentation tokens → wire form → the text Route 53 (or a zone file) wants.
//!
//! Every value goes through the wire form, so `A \# 4 0a000001`, `A 10.0.0.1` and Route 53's
//! `10.0.0.1` all end as the same text; lengths and hex are checked once, on the way in.

use crate::lexer::Token;
use crate::name::{Escapes, Name, push_escape, unescape};
use crate::rtype::RType;
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest character-string (one length octet).
pub const MAX_STRING: usize = 255;

/// What a value is read against.
pub struct Ctx<'a> {
    pub origin: Option<&'a Name>,
    pub esc: Escapes,
    /// Split strings longer than 255 octets instead of refusing them.
    pub split_long: bool,
    /// Relative target names that may be missing their trailing dot (their text, and the
    /// name they became), for the "missing trailing dot" checks.
    pub relative_targets: Vec<(String, String)>,
    /// Strings that were split (their lengths), to report.
    pub split: Vec<usize>,
    /// A string was refused for its length (`split_long` would have split it).
    pub too_long: bool,
    /// Warnings about the value (what an RFC says SHOULD).
    pub notes: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(origin: Option<&'a Name>, esc: Escapes) -> Self {
        Ctx {
            origin,
            esc,
            split_long: false,
            relative_targets: Vec::new(),
            split: Vec::new(),
            too_long: false,
            notes: Vec::new(),
        }
    }
}

struct Toks<'t> {
    t: &'t [Token],
    i: usize,
}

impl<'t> Toks<'t> {
    fn next(&mut self, what: &str) -> Result<&'t Token, String> {
        let t = self
            .t
            .get(self.i)
            .ok_or_else(|| format!("missing {what}"))?;
        self.i += 1;
        Ok(t)
    }
    fn more(&self) -> bool {
        self.i < self.t.len()
    }
    fn end(&self) -> Result<(), String> {
        match self.t.get(self.i) {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {} after the data", t.q())),
        }
    }
    fn num<T: TryFrom<u64>>(&mut self, what: &str, max: u64) -> Result<T, String> {
        let t = self.next(what)?;
        let s = std::str::from_utf8(&t.text).unwrap_or("");
        let v: u64 = if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse()
                .map_err(|_| format!("{what} '{s}' is too large"))?
        } else {
            return Err(format!("{what} {} is not a number", t.q()));
        };
        if v > max {
            return Err(format!("{what} {v} is above {max}"));
        }
        T::try_from(v).map_err(|_| format!("{what} {v} is out of range"))
    }
    fn name(&mut self, what: &str, ctx: &mut Ctx) -> Result<Name, String> {
        let t = self.next(what)?;
        let (n, rel) = Name::parse(&t.text, ctx.origin, ctx.esc)?;
        // kept only when it could be a fully qualified name missing its dot: it has a dot
        // and ends with the origin's last label (`www.example.com` under `example.com.`) or
        // with what looks like a top-level domain (`web.example.net` under `example.com.`)
        if rel
            && let Some(o) = ctx.origin
            && let Some(dot) = t.text.iter().rposition(|&c| c == b'.')
            && (t.text[dot + 1..].eq_ignore_ascii_case(o.last_label())
                || looks_tld(&t.text[dot + 1..]))
        {
            ctx.relative_targets.push((t.show(), n.to_r53()));
        }
        Ok(n)
    }
    fn hex_rest(&mut self, what: &str, allow_empty: bool) -> Result<Vec<u8>, String> {
        let mut s = Vec::new();
        while let Some(t) = self.t.get(self.i) {
            s.extend_from_slice(&t.text);
            self.i += 1;
        }
        if s.is_empty() && !allow_empty {
            return Err(format!("missing {what}"));
        }
        hex_decode(&s).map_err(|e| format!("{what}: {e}"))
    }
}

pub fn hex_decode(s: &[u8]) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", s.len()));
    }
    let val = |c: u8| -> Result<u8, String> {
        (c as char).to_digit(16).map(|d| d as u8).ok_or_else(|| {
            format!(
                "{} is not a hex digit",
                opsbox_common::escape::quote(&(c as char).to_string())
            )
        })
    };
    s.chunks(2)
        .map(|p| Ok(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

fn hex_upper(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02X}");
    }
    s
}

/// Decode a character-string token (escapes per `esc`).
pub fn string_bytes(t: &[u8], esc: Escapes) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if t[i] == b'\\' {
            let (b, used) = unescape(&t[i..], esc)?;
            out.push(b);
            i += used;
        } else {
            out.push(t[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// A quoted character-string: `"` and `\` escaped, bytes outside 0x20..0x7E as `\ooo`/`\DDD`.
pub fn quote(b: &[u8], esc: Escapes, out: &mut String) {
    out.push('"');
    for &c in b {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(c as char),
            _ => push_escape(out, c, esc),
        }
    }
    out.push('"');
}

/// A TTL or SOA timer: seconds, or units `1h30m` (s m h d w, any case). Saturates.
pub fn parse_ttl(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s[0].is_ascii_digit() {
        return None;
    }
    let mut total: u64 = 0;
    let mut cur: u64 = 0;
    let mut digits = false;
    for &c in s {
        if c.is_ascii_digit() {
            cur = cur.saturating_mul(10).saturating_add(u64::from(c - b'0'));
            digits = true;
        } else {
            let mult = match c.to_ascii_lowercase() {
                b's' => 1,
                b'm' => 60,
                b'h' => 3600,
                b'd' => 86400,
                b'w' => 604800,
                _ => return None,
            };
            if !digits {
                return None;
            }
            total = total.saturating_add(cur.saturating_mul(mult));
            cur = 0;
            digits = false;
        }
    }
    Some(total.saturating_add(cur))
}

fn strings(tk: &mut Toks, ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<(), String> {
    if !tk.more() {
        return Err("missing text".into());
    }
    while tk.more() {
        let t = tk.next("text")?;
        let b = string_bytes(&t.text, ctx.esc)?;
        if b.len() > MAX_STRING {
            if !ctx.split_long {
                ctx.too_long = true;
                return Err(format!(
                    "string of {} octets (a character-string holds at most 255; split it into several quoted strings)",
                    b.len()
                ));
            }
            ctx.split.push(b.len());
            for c in b.chunks(MAX_STRING) {
                out.push(c.len() as u8);
                out.extend_from_slice(c);
            }
        } else {
            out.push(b.len() as u8);
            out.extend_from_slice(&b);
        }
    }
    Ok(())
}

fn one_string(tk: &mut Toks, what: &str, ctx: &Ctx, out: &mut Vec<u8>) -> Result<(), String> {
    let t = tk.next(what)?;
    let b = string_bytes(&t.text, ctx.esc)?;
    if b.len() > MAX_STRING {
        return Err(format!("{what} of {} octets (at most 255)", b.len()));
    }
    out.push(b.len() as u8);
    out.extend_from_slice(&b);
    Ok(())
}

/// Presentation tokens of a Route 53 type → wire.
pub fn from_text(t: &RType, toks: &[Token], ctx: &mut Ctx) -> Result<Vec<u8>, String> {
    let mut w = Vec::with_capacity(32);
    from_text_into(t, toks, ctx, &mut w)?;
    Ok(w)
}

/// As [`from_text`], into a caller's buffer (cleared first).
pub fn from_text_into(
    t: &RType,
    toks: &[Token],
    ctx: &mut Ctx,
    w: &mut Vec<u8>,
) -> Result<(), String> {
    w.clear();
    if toks.first().is_some_and(|x| !x.quoted && x.text == b"\\#") {
        w.extend_from_slice(&generic(toks)?);
        return Ok(());
    }
    let mut tk = Toks { t: toks, i: 0 };
    match &*t.name() {
        "A" => {
            let a = tk.next("address")?;
            let ip: Ipv4Addr = std::str::from_utf8(&a.text)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("{} is not an IPv4 address", a.q()))?;
            w.extend_from_slice(&ip.octets());
        }
        "AAAA" => {
            let a = tk.next("address")?;
            let ip: Ipv6Addr = std::str::from_utf8(&a.text)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("{} is not an IPv6 address", a.q()))?;
            w.extend_from_slice(&ip.octets());
        }
        "NS" | "CNAME" | "PTR" => w.extend_from_slice(tk.name("target", ctx)?.wire()),
        "MX" => {
            w.extend_from_slice(&tk.num::<u16>("preference", 65535)?.to_be_bytes());
            w.extend_from_slice(tk.name("exchange", ctx)?.wire());
        }
        "SRV" => {
            for what in ["priority", "weight", "port"] {
                w.extend_from_slice(&tk.num::<u16>(what, 65535)?.to_be_bytes());
            }
            w.extend_from_slice(tk.name("target", ctx)?.wire());
        }
        "TXT" | "SPF" => strings(&mut tk, ctx, w)?,
        "CAA" => {
            w.push(tk.num::<u8>("flags", 255)?);
            let tag = tk.next("tag")?;
            if tag.text.is_empty()
                || tag.text.len() > 15
                || !tag.text.iter().all(u8::is_ascii_alphanumeric)
            {
                return Err(format!(
                    "CAA tag {} is not 1 to 15 letters or digits",
                    tag.q()
                ));
            }
            w.push(tag.text.len() as u8);
            w.extend(tag.text.iter().map(u8::to_ascii_lowercase));
            let v = tk.next("value")?;
            w.extend_from_slice(&string_bytes(&v.text, ctx.esc)?);
        }
        "DS" => {
            w.extend_from_slice(&tk.num::<u16>("key tag", 65535)?.to_be_bytes());
            w.push(tk.num::<u8>("algorithm", 255)?);
            w.push(tk.num::<u8>("digest type", 255)?);
            w.extend_from_slice(&tk.hex_rest("digest", false)?);
        }
        "SSHFP" => {
            w.push(tk.num::<u8>("algorithm", 255)?);
            w.push(tk.num::<u8>("fingerprint type", 255)?);
            w.extend_from_slice(&tk.hex_rest("fingerprint", false)?);
        }
        "TLSA" => {
            w.push(tk.num::<u8>("usage", 255)?);
            w.push(tk.num::<u8>("selector", 255)?);
            w.push(tk.num::<u8>("matching type", 255)?);
            w.extend_from_slice(&tk.hex_rest("certificate data", false)?);
        }
        "NAPTR" => {
            w.extend_from_slice(&tk.num::<u16>("order", 65535)?.to_be_bytes());
            w.extend_from_slice(&tk.num::<u16>("preference", 65535)?.to_be_bytes());
            for what in ["flags", "services", "regexp"] {
                one_string(&mut tk, what, ctx, w)?;
            }
            w.extend_from_slice(tk.name("replacement", ctx)?.wire());
        }
        "SOA" => {
            w.extend_from_slice(tk.name("primary server", ctx)?.wire());
            w.extend_from_slice(tk.name("mailbox", ctx)?.wire());
            w.extend_from_slice(&tk.num::<u32>("serial", u64::from(u32::MAX))?.to_be_bytes());
            for what in ["refresh", "retry", "expire", "minimum"] {
                let x = tk.next(what)?;
                let v =
                    parse_ttl(&x.text).ok_or_else(|| format!("{what} {} is not a time", x.q()))?;
                w.extend_from_slice(&(v.min(u64::from(u32::MAX)) as u32).to_be_bytes());
            }
        }
        "SVCB" | "HTTPS" => {
            let priority = tk.num::<u16>("priority", 65535)?;
            let mode = crate::svcb::Mode {
                alias: priority == 0,
                https: t.code == 65,
            };
            w.extend_from_slice(&priority.to_be_bytes());
            w.extend_from_slice(tk.name("target", ctx)?.wire());
            let mut rest = Vec::new();
            while tk.more() {
                let k = tk.next("parameter")?;
                let (key, val) = match k.text.iter().position(|&c| c == b'=') {
                    Some(p) => {
                        let key = &k.text[..p];
                        let mut val = k.text[p + 1..].to_vec();
                        if val.is_empty()
                            && let Some(nx) = tk.t.get(tk.i)
                            && nx.quoted
                        {
                            val = nx.text.clone();
                            tk.i += 1;
                        }
                        (key.to_vec(), Some(val))
                    }
                    None => (k.text.clone(), None),
                };
                rest.push((key, val));
            }
            crate::svcb::params_to_wire(&rest, ctx.esc, mode, w, &mut ctx.notes)?;
        }
        other => return Err(format!("type {other} has no text form here")),
    }
    tk.end()
}

/// A label that reads like a top-level domain: two letters (a country code) or one of the
/// common generic ones. Only for a warning; a relative `mail.internal` is not one.
pub fn looks_tld(l: &[u8]) -> bool {
    const GENERIC: &[&str] = &[
        "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "dev", "app",
        "cloud", "xyz", "online", "site", "tech", "name", "pro", "aero", "coop", "museum", "arpa",
    ];
    (l.len() == 2 && l.iter().all(u8::is_ascii_alphabetic))
        || GENERIC.iter().any(|g| l.eq_ignore_ascii_case(g.as_bytes()))
}

/// RFC 3597 `\# LEN HEX…` → wire, checking the length.
pub fn generic(toks: &[Token]) -> Result<Vec<u8>, String> {
    let mut tk = Toks { t: toks, i: 1 };
    let len: usize = tk.num("\\# length", 65535)?;
    let data = tk.hex_rest("\\# data", true)?;
    if data.len() != len {
        return Err(format!(
            "\\# says {len} octets but the hex holds {}",
            data.len()
        ));
    }
    Ok(data)
}

struct Wire<'b> {
    b: &'b [u8],
    i: usize,
}

impl Wire<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let s = self
            .b
            .get(self.i..self.i + n)
            .ok_or("record data too short")?;
        self.i += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn name(&mut self) -> Result<Name, String> {
        let (n, used) = Name::from_wire(&self.b[self.i..])?;
        self.i += used;
        Ok(n)
    }
    fn string(&mut self) -> Result<&[u8], String> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn rest(&mut self) -> &[u8] {
        let s = &self.b[self.i..];
        self.i = self.b.len();
        s
    }
    fn end(&self) -> Result<(), String> {
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(format!(
                "{} octets left over in the record data",
                self.b.len() - self.i
            ))
        }
    }
}

/// Wire → presentation text, names absolute, strings escaped per `esc`.
pub fn render(t: &RType, wire: &[u8], esc: Escapes) -> Result<String, String> {
    let mut r = Wire { b: wire, i: 0 };
    let mut s = String::with_capacity(wire.len() + 8);
    let name = |n: Name| n.render(esc, None);
    match &*t.name() {
        "A" => {
            let o = r.take(4)?;
            let _ = write!(s, "{}", Ipv4Addr::new(o[0], o[1], o[2], o[3]));
        }
        "AAAA" => {
            let mut o = [0u8; 16];
            o.copy_from_slice(r.take(16)?);
            let _ = write!(s, "{}", Ipv6Addr::from(o));
        }
        "NS" | "CNAME" | "PTR" => s.push_str(&name(r.name()?)),
        "MX" => {
            let p = r.u16()?;
            let _ = write!(s, "{p} {}", name(r.name()?));
        }
        "SRV" => {
            let (a, b, c) = (r.u16()?, r.u16()?, r.u16()?);
            let _ = write!(s, "{a} {b} {c} {}", name(r.name()?));
        }
        "TXT" | "SPF" => {
            if wire.is_empty() {
                return Err("no text".into());
            }
            while r.i < wire.len() {
                if !s.is_empty() {
                    s.push(' ');
                }
                quote(r.string()?, esc, &mut s);
            }
        }
        "CAA" => {
            let f = r.u8()?;
            let tag = String::from_utf8_lossy(r.string()?).into_owned();
            let _ = write!(s, "{f} {tag} ");
            quote(r.rest(), esc, &mut s);
        }
        "DS" => {
            let (k, a, d) = (r.u16()?, r.u8()?, r.u8()?);
            let _ = write!(s, "{k} {a} {d} {}", hex_upper(r.rest()));
        }
        "SSHFP" => {
            let (a, f) = (r.u8()?, r.u8()?);
            let _ = write!(s, "{a} {f} {}", hex_upper(r.rest()));
        }
        "TLSA" => {
            let (u, se, m) = (r.u8()?, r.u8()?, r.u8()?);
            let _ = write!(s, "{u} {se} {m} {}", hex_upper(r.rest()));
        }
        "NAPTR" => {
            let (o, p) = (r.u16()?, r.u16()?);
            let _ = write!(s, "{o} {p}");
            for _ in 0..3 {
                s.push(' ');
                quote(r.string()?, esc, &mut s);
            }
            let _ = write!(s, " {}", name(r.name()?));
        }
        "SOA" => {
            let (m, rn) = (r.name()?, r.name()?);
            let _ = write!(
                s,
                "{} {} {} {} {} {} {}",
                name(m),
                name(rn),
                r.u32()?,
                r.u32()?,
                r.u32()?,
                r.u32()?,
                r.u32()?
            );
        }
        "SVCB" | "HTTPS" => {
            let p = r.u16()?;
            let _ = write!(s, "{p} {}", name(r.name()?));
            crate::svcb::params_to_text(r.rest(), esc, &mut s)?;
        }
        other => return Err(format!("type {other} has no text form here")),
    }
    r.end()?;
    Ok(s)
}

/// The wire length of a value's data, as Route 53 would count it (for the RDATA limit).
pub fn too_long(wire: &[u8]) -> bool {
    wire.len() > 65535
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::Lexer;

    fn conv(t: &str, data: &str) -> Result<String, String> {
        conv_esc(t, data, Escapes::Decimal, Escapes::Octal)
    }
    fn conv_esc(t: &str, data: &str, inp: Escapes, out: Escapes) -> Result<String, String> {
        let mut lx = Lexer::new(data.as_bytes());
        let e = lx.next_entry().unwrap().unwrap();
        let origin = Name::parse(b"example.com.", None, Escapes::Decimal)
            .unwrap()
            .0;
        let ty = RType::parse(t).unwrap();
        let mut ctx = Ctx::new(Some(&origin), inp);
        let w = from_text(&ty, &e.tokens, &mut ctx)?;
        render(&ty, &w, out)
    }

    #[test]
    fn values() {
        assert_eq!(conv("A", "10.0.0.1").unwrap(), "10.0.0.1");
        assert!(conv("A", "10.0.0.256").is_err());
        assert!(conv("A", "010.0.0.1").is_err());
        assert_eq!(conv("A", "\\# 4 0A000001").unwrap(), "10.0.0.1");
        assert_eq!(conv("AAAA", "2001:DB8:0:0::1").unwrap(), "2001:db8::1");
        assert_eq!(conv("MX", "10 mail").unwrap(), "10 mail.example.com.");
        assert_eq!(conv("MX", "0 @").unwrap(), "0 example.com.");
        assert_eq!(conv("SRV", "0 0 0 .").unwrap(), "0 0 0 .");
        assert_eq!(
            conv("CNAME", "WWW.Example.NET.").unwrap(),
            "www.example.net."
        );
        assert_eq!(
            conv("TXT", "\"a\\\"b\" c\\;d \"x\\000y\\255\"").unwrap(),
            "\"a\\\"b\" \"c;d\" \"x\\000y\\377\""
        );
        assert_eq!(
            conv("CAA", "0 ISSUE ca.example").unwrap(),
            "0 issue \"ca.example\""
        );
        assert_eq!(
            conv("DS", "15288 5 2 ce0eb9e5 9ee1").unwrap(),
            "15288 5 2 CE0EB9E59EE1"
        );
        assert!(conv("DS", "1 5 2 abc").is_err());
        assert!(conv("SSHFP", "1 1 zz").is_err());
        assert_eq!(
            conv("NAPTR", "100 10 \"u\" \"sip+E2U\" \"!^.*$!sip:x@y!i\" .").unwrap(),
            "100 10 \"u\" \"sip+E2U\" \"!^.*$!sip:x@y!i\" ."
        );
        assert_eq!(
            conv("SOA", "ns1 host ( 1 1h 10m 1w 1D )").unwrap(),
            "ns1.example.com. host.example.com. 1 3600 600 604800 86400"
        );
        assert!(conv("MX", "10").is_err());
        assert!(conv("MX", "10 a b").is_err());
        assert!(conv("A", "\\# 3 0A0000").is_err());
        assert!(conv("A", "\\# 4 0A0000").is_err());
        // octal in, decimal out
        assert_eq!(
            conv_esc("TXT", "\"a\\011b\"", Escapes::Octal, Escapes::Decimal).unwrap(),
            "\"a\\009b\""
        );
    }

    #[test]
    fn long_strings() {
        let long = "x".repeat(300);
        assert!(
            conv("TXT", &format!("\"{long}\""))
                .unwrap_err()
                .contains("300 octets")
        );
        let mut lx = Lexer::new(format!("\"{long}\"").into_bytes().leak() as &[u8]);
        let e = lx.next_entry().unwrap().unwrap();
        let mut ctx = Ctx::new(None, Escapes::Decimal);
        ctx.split_long = true;
        let ty = RType::parse("TXT").unwrap();
        let w = from_text(&ty, &e.tokens, &mut ctx).unwrap();
        assert_eq!(w.len(), 302);
        assert_eq!(ctx.split, vec![300]);
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl(b"1h30m"), Some(5400));
        assert_eq!(parse_ttl(b"1W"), Some(604800));
        assert_eq!(parse_ttl(b"300"), Some(300));
        assert_eq!(parse_ttl(b"h"), None);
        assert_eq!(parse_ttl(b"1x"), None);
        assert_eq!(parse_ttl(b"99999999999999999999999w"), Some(u64::MAX));
    }
}
