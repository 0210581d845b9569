//! Domain names: parsed from presentation form (zone files use decimal `\DDD` escapes, Route 53
//! uses octal `\ooo`), held in wire form lower-cased, rendered the way Route 53 or a zone file
//! wants them.

use std::fmt::Write;

/// How `\NNN` escapes are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escapes {
    /// Zone files (RFC 1035): `\DDD` is decimal.
    Decimal,
    /// Route 53: `\ooo` is octal.
    Octal,
}

/// An absolute domain name in wire form (length-prefixed labels, ending with the root's 0),
/// lower-cased.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Vec<u8>);

impl Clone for Name {
    fn clone(&self) -> Name {
        Name(self.0.clone())
    }
    /// Reuses the buffer (the parser's "previous owner" is overwritten per record).
    fn clone_from(&mut self, source: &Name) {
        self.0.clone_from(&source.0);
    }
}

pub const MAX_NAME: usize = 255;
pub const MAX_LABEL: usize = 63;

impl Name {
    pub fn root() -> Name {
        Name(vec![0])
    }
    pub fn wire(&self) -> &[u8] {
        &self.0
    }
    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }
    /// The labels, leftmost first.
    pub fn labels(&self) -> Vec<&[u8]> {
        let mut v = Vec::new();
        let mut i = 0;
        while let Some(&n) = self.0.get(i) {
            if n == 0 {
                break;
            }
            let end = (i + 1 + n as usize).min(self.0.len());
            v.push(&self.0[i + 1..end]);
            i = end;
        }
        v
    }
    /// Build from labels (each 1..=63 octets), checking the total length.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a [u8]>) -> Result<Name, String> {
        let mut w = Vec::with_capacity(32);
        for l in labels {
            if l.is_empty() {
                return Err("empty label".into());
            }
            if l.len() > MAX_LABEL {
                return Err(format!(
                    "label of {} octets (the limit is {MAX_LABEL})",
                    l.len()
                ));
            }
            w.push(l.len() as u8);
            w.extend(l.iter().map(u8::to_ascii_lowercase));
        }
        w.push(0);
        if w.len() > MAX_NAME {
            return Err(format!(
                "name of {} octets (the limit is {MAX_NAME})",
                w.len()
            ));
        }
        Ok(Name(w))
    }
    /// Read a wire name (uncompressed) at the start of `b`: the name and its length.
    pub fn from_wire(b: &[u8]) -> Result<(Name, usize), String> {
        let mut labels = Vec::new();
        let mut i = 0;
        loop {
            let n = *b.get(i).ok_or("name runs past the end of the data")? as usize;
            if n == 0 {
                i += 1;
                break;
            }
            if n > MAX_LABEL {
                return Err("compressed or invalid label in wire name".into());
            }
            let l = b
                .get(i + 1..i + 1 + n)
                .ok_or("name runs past the end of the data")?;
            labels.push(l);
            i += 1 + n;
        }
        Ok((Name::from_labels(labels)?, i))
    }
    /// The rightmost label (the TLD), empty for the root.
    pub fn last_label(&self) -> &[u8] {
        let (mut i, mut last) = (0usize, &self.0[..0]);
        while let Some(&n) = self.0.get(i) {
            if n == 0 {
                break;
            }
            let end = (i + 1 + n as usize).min(self.0.len());
            last = &self.0[i + 1..end];
            i = end;
        }
        last
    }

    /// `self` is `other` or below it.
    pub fn is_under(&self, other: &Name) -> bool {
        self.0.len() >= other.0.len() && self.0.ends_with(&other.0) && {
            // the suffix must start on a label boundary
            let cut = self.0.len() - other.0.len();
            let mut i = 0;
            while i < cut {
                i += 1 + self.0[i] as usize;
            }
            i == cut
        }
    }
    /// Parse presentation text. `@` is the origin; a name without a trailing dot is relative
    /// to `origin` (an error when there is none). Returns the name and whether it was relative.
    pub fn parse(text: &[u8], origin: Option<&Name>, esc: Escapes) -> Result<(Name, bool), String> {
        if text == b"@" {
            return origin
                .cloned()
                .map(|o| (o, true))
                .ok_or_else(|| "'@' used but no origin is known (use $ORIGIN or --origin)".into());
        }
        if text == b"." {
            return Ok((Name::root(), false));
        }
        if text.is_empty() {
            return Err("empty name".into());
        }
        // wire form directly: a length octet, then the label, lower-cased
        let show = || opsbox_common::escape::quote(&String::from_utf8_lossy(text));
        let mut w: Vec<u8> = Vec::with_capacity(text.len() + 2 + origin.map_or(0, |o| o.0.len()));
        let mut start = 0usize; // index of the current label's length octet
        w.push(0);
        let mut absolute = false;
        let mut i = 0;
        while i < text.len() {
            let c = match text[i] {
                b'\\' => {
                    let (byte, used) = unescape(&text[i..], esc)?;
                    i += used;
                    byte
                }
                b'.' => {
                    if w.len() == start + 1 {
                        return Err(format!("empty label in {}", show()));
                    }
                    w[start] = (w.len() - start - 1) as u8;
                    i += 1;
                    if i == text.len() {
                        absolute = true;
                    } else {
                        start = w.len();
                        w.push(0);
                    }
                    continue;
                }
                c => {
                    i += 1;
                    c
                }
            };
            w.push(c.to_ascii_lowercase());
            if w.len() - start - 1 > MAX_LABEL {
                return Err(format!(
                    "label longer than {MAX_LABEL} octets in {}",
                    show()
                ));
            }
            if w.len() > MAX_NAME {
                return Err(format!("name longer than {MAX_NAME} octets in {}", show()));
            }
        }
        if !absolute {
            w[start] = (w.len() - start - 1) as u8;
        }
        if absolute {
            w.push(0);
        } else {
            let origin = origin.ok_or_else(|| {
                format!(
                    "relative name {} but no origin is known (use $ORIGIN or --origin)",
                    show()
                )
            })?;
            w.extend_from_slice(&origin.0);
        }
        if w.len() > MAX_NAME {
            return Err(format!(
                "name of {} octets (the limit is {MAX_NAME}) in {}",
                w.len(),
                show()
            ));
        }
        Ok((Name(w), !absolute))
    }

    /// Append a key whose byte order is DNS canonical order: labels from the right, each
    /// octet encoded order-preservingly (0 → 1 1, 1 → 1 2, others as they are), each label
    /// ended by a 0.
    pub fn canonical_key(&self, out: &mut Vec<u8>) {
        let mut starts = [0u8; 128];
        let (mut i, mut n) = (0usize, 0usize);
        while i < self.0.len() && self.0[i] != 0 && n < 128 {
            starts[n] = i as u8;
            n += 1;
            i += 1 + self.0[i] as usize;
        }
        for k in (0..n).rev() {
            let at = starts[k] as usize;
            let len = self.0[at] as usize;
            for &b in &self.0[at + 1..(at + 1 + len).min(self.0.len())] {
                match b {
                    0 | 1 => out.extend_from_slice(&[1, b + 1]),
                    _ => out.push(b),
                }
            }
            out.push(0);
        }
    }

    /// Compare in DNS canonical order (RFC 4034 §6.1): labels from the right, each as
    /// lower-cased octets. No allocation.
    pub fn cmp_canonical(&self, other: &Name) -> std::cmp::Ordering {
        fn starts(w: &[u8], out: &mut [u8; 128]) -> usize {
            let (mut i, mut n) = (0usize, 0usize);
            while i < w.len() && w[i] != 0 && n < 128 {
                out[n] = i as u8;
                n += 1;
                i += 1 + w[i] as usize;
            }
            n
        }
        let (mut sa, mut sb) = ([0u8; 128], [0u8; 128]);
        let (na, nb) = (starts(&self.0, &mut sa), starts(&other.0, &mut sb));
        fn label(w: &[u8], at: u8) -> &[u8] {
            let at = at as usize;
            let len = w[at] as usize;
            &w[at + 1..(at + 1 + len).min(w.len())]
        }
        for k in 1..=na.min(nb) {
            let o = label(&self.0, sa[na - k]).cmp(label(&other.0, sb[nb - k]));
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        na.cmp(&nb)
    }

    /// Route 53's form: `a-z 0-9 - _` as they are, `*` alone as the leftmost label, every
    /// other octet `\ooo` (octal); a trailing dot.
    pub fn to_r53(&self) -> String {
        self.render(Escapes::Octal, None)
    }

    /// Presentation form with the given escapes; relative to `origin` when given and the
    /// name is at or below it (`@` for the origin itself).
    pub fn render(&self, esc: Escapes, origin: Option<&Name>) -> String {
        let mut s = String::with_capacity(self.0.len() + 4);
        let _ = self.write(esc, origin, &mut s);
        s
    }

    /// As [`Name::render`], into any `fmt::Write` (no allocation).
    pub fn write(
        &self,
        esc: Escapes,
        origin: Option<&Name>,
        out: &mut impl Write,
    ) -> std::fmt::Result {
        let mut end = self.0.len().saturating_sub(1);
        let mut relative = false;
        if let Some(o) = origin
            && !o.is_root()
            && self.is_under(o)
        {
            if self == o {
                return out.write_str("@");
            }
            end = self.0.len() - o.0.len();
            relative = true;
        }
        if end == 0 {
            return out.write_str(".");
        }
        let (mut i, mut first) = (0usize, true);
        while i < end {
            let n = self.0[i] as usize;
            let l = &self.0[i + 1..(i + 1 + n).min(self.0.len())];
            if !first {
                out.write_char('.')?;
            }
            if first && l == b"*" {
                out.write_char('*')?;
            } else {
                for &b in l {
                    match b {
                        b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => out.write_char(b as char)?,
                        _ => match esc {
                            Escapes::Octal => write!(out, "\\{b:03o}")?,
                            Escapes::Decimal => write!(out, "\\{b:03}")?,
                        },
                    }
                }
            }
            first = false;
            i += 1 + n;
        }
        if !relative {
            out.write_char('.')?;
        }
        Ok(())
    }
}

/// A name shown in Route 53's form (for messages and JSON, without a String).
pub struct R53<'a>(pub &'a Name);

impl std::fmt::Display for R53<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.write(Escapes::Octal, None, f)
    }
}

/// `\ooo` or `\DDD` for one byte.
pub fn push_escape(s: &mut String, b: u8, esc: Escapes) {
    let _ = match esc {
        Escapes::Octal => write!(s, "\\{b:03o}"),
        Escapes::Decimal => write!(s, "\\{b:03}"),
    };
}

/// Decode one escape at the start of `t` (which begins with a backslash): the byte and the
/// number of input bytes used.
pub fn unescape(t: &[u8], esc: Escapes) -> Result<(u8, usize), String> {
    let digits = t.get(1..4).filter(|d| d.iter().all(u8::is_ascii_digit));
    match (digits, t.get(1)) {
        (Some(d), _) => {
            let v = match esc {
                Escapes::Decimal => d.iter().fold(0u32, |a, &c| a * 10 + u32::from(c - b'0')),
                Escapes::Octal => {
                    if d.iter().any(|&c| c > b'7') {
                        return Err(format!(
                            "bad octal escape '\\{}'",
                            String::from_utf8_lossy(d)
                        ));
                    }
                    d.iter().fold(0u32, |a, &c| a * 8 + u32::from(c - b'0'))
                }
            };
            if v > 255 {
                return Err(format!(
                    "escape '\\{}' is above 255",
                    String::from_utf8_lossy(d)
                ));
            }
            Ok((v as u8, 4))
        }
        (None, Some(c)) if c.is_ascii_digit() => Err(format!(
            "escape {} needs three digits",
            opsbox_common::escape::quote(&String::from_utf8_lossy(&t[..t.len().min(4)]))
        )),
        (None, Some(&c)) => Ok((c, 2)),
        (None, None) => Err("backslash at the end of a name or string".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, o: Option<&Name>) -> Result<Name, String> {
        Name::parse(s.as_bytes(), o, Escapes::Decimal).map(|x| x.0)
    }

    #[test]
    fn parse_and_render() {
        let o = p("Example.COM.", None).unwrap();
        assert_eq!(o.to_r53(), "example.com.");
        assert_eq!(p("www", Some(&o)).unwrap().to_r53(), "www.example.com.");
        assert_eq!(p("@", Some(&o)).unwrap(), o);
        assert_eq!(p("*.a", Some(&o)).unwrap().to_r53(), "*.a.example.com.");
        assert_eq!(p("a.*", Some(&o)).unwrap().to_r53(), "a.\\052.example.com.");
        assert_eq!(p("#%&.x.", None).unwrap().to_r53(), "\\043\\045\\046.x.");
        assert_eq!(p("a\\.b\\032c.", None).unwrap().to_r53(), "a\\056b\\040c.");
        assert_eq!(
            p("www.example.com.", None)
                .unwrap()
                .render(Escapes::Decimal, Some(&o)),
            "www"
        );
        assert_eq!(o.render(Escapes::Decimal, Some(&o)), "@");
        assert_eq!(Name::root().to_r53(), ".");
        let octal = Name::parse(b"a\\052b.", None, Escapes::Octal).unwrap().0;
        assert_eq!(octal.labels()[0], b"a*b");
    }

    #[test]
    fn limits_and_errors() {
        let l63 = "a".repeat(63);
        assert!(p(&format!("{l63}."), None).is_ok());
        assert!(
            p(&format!("{l63}a."), None)
                .unwrap_err()
                .contains("label longer")
        );
        let long = format!("{l63}.{l63}.{l63}.{l63}.");
        assert!(p(&long, None).unwrap_err().contains("255"));
        assert!(p("a..b.", None).is_err());
        assert!(p("www", None).unwrap_err().contains("no origin"));
        assert!(p("a\\256.", None).is_err());
        assert!(p("a\\25.", None).is_err());
        assert!(p("a\\", None).is_err());
        let o = p("example.com.", None).unwrap();
        assert!(p("a.example.com.", None).unwrap().is_under(&o));
        assert!(!p("aexample.com.", None).unwrap().is_under(&o));
        let mut v: Vec<Name> = [
            "b.a.",
            "a.",
            "*.a.",
            "z.a.",
            "a.b.",
            "\\001.z.a.",
            "yljkjljk.a.",
        ]
        .iter()
        .map(|s| p(s, None).unwrap())
        .collect();
        v.sort_by(Name::cmp_canonical);
        let shown: Vec<String> = v.iter().map(Name::to_r53).collect();
        let mut by_key = v.clone();
        by_key.sort_by_cached_key(|n| {
            let mut k = Vec::new();
            n.canonical_key(&mut k);
            k
        });
        assert_eq!(by_key, v, "the key orders as cmp_canonical does");
        let (a, b) = (p("a\\000.x.", None).unwrap(), p("a\\001.x.", None).unwrap());
        let (c, d) = (p("a\\002.x.", None).unwrap(), p("a.x.", None).unwrap());
        for (x, y) in [(&a, &b), (&b, &c), (&d, &a)] {
            let (mut kx, mut ky) = (Vec::new(), Vec::new());
            x.canonical_key(&mut kx);
            y.canonical_key(&mut ky);
            assert_eq!(kx.cmp(&ky), x.cmp_canonical(y));
            assert_eq!(kx.cmp(&ky), std::cmp::Ordering::Less);
        }
        assert_eq!(
            shown,
            [
                "a.",
                "*.a.",
                "b.a.",
                "yljkjljk.a.",
                "z.a.",
                "\\001.z.a.",
                "a.b."
            ]
        );
    }
}
