//! Record types and classes: mnemonics, numbers, and which ones Route 53 holds.

/// Known types (RFC 1035 and later, IANA registry): mnemonic and number.
const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("MD", 3),
    ("MF", 4),
    ("CNAME", 5),
    ("SOA", 6),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("NULL", 10),
    ("WKS", 11),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("X25", 19),
    ("ISDN", 20),
    ("RT", 21),
    ("NSAP", 22),
    ("NSAP-PTR", 23),
    ("SIG", 24),
    ("KEY", 25),
    ("PX", 26),
    ("GPOS", 27),
    ("AAAA", 28),
    ("LOC", 29),
    ("NXT", 30),
    ("EID", 31),
    ("NIMLOC", 32),
    ("SRV", 33),
    ("ATMA", 34),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("A6", 38),
    ("DNAME", 39),
    ("SINK", 40),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("HIP", 55),
    ("NINFO", 56),
    ("RKEY", 57),
    ("TALINK", 58),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("UINFO", 100),
    ("UID", 101),
    ("GID", 102),
    ("UNSPEC", 103),
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("TKEY", 249),
    ("TSIG", 250),
    ("URI", 256),
    ("CAA", 257),
    ("AVC", 258),
    ("DOA", 259),
    ("AMTRELAY", 260),
    ("RESINFO", 261),
    ("TA", 32768),
    ("DLV", 32769),
];

/// The 17 types Route 53 accepts in a change batch.
pub const ROUTE53: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV",
    "SSHFP", "SVCB", "TLSA", "TXT",
];

/// A record type, by number; its mnemonic is `TYPEnnn` for numbers without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RType {
    pub code: u16,
}

impl RType {
    pub fn from_code(code: u16) -> RType {
        RType { code }
    }
    pub fn name(&self) -> std::borrow::Cow<'static, str> {
        match TYPES.iter().find(|(_, c)| *c == self.code) {
            Some((n, _)) => std::borrow::Cow::Borrowed(n),
            None => std::borrow::Cow::Owned(format!("TYPE{}", self.code)),
        }
    }
    /// As [`RType::parse`], from bytes.
    pub fn parse_bytes(s: &[u8]) -> Option<RType> {
        if let Some((_, c)) = TYPES
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(s))
        {
            return Some(RType { code: *c });
        }
        std::str::from_utf8(s).ok().and_then(RType::parse)
    }

    /// A mnemonic or `TYPEnnn`, case-insensitive.
    pub fn parse(s: &str) -> Option<RType> {
        if let Some((_, c)) = TYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return Some(RType { code: *c });
        }
        let up = s.to_ascii_uppercase();
        let num = up.strip_prefix("TYPE")?;
        if num.is_empty() || num.len() > 5 || !num.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        num.parse::<u16>().ok().map(RType::from_code)
    }
    pub fn route53(&self) -> bool {
        ROUTE53.contains(&&*self.name())
    }
}

/// A record class token: `IN`, `CH`, `HS`, `CS`, `NONE`, `ANY`, `CLASSnnn`, or cli53's `AWS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    In,
    Aws,
    Other(u16),
}

impl Class {
    pub fn parse(s: &[u8]) -> Option<Class> {
        if s.len() > 10 {
            return None;
        }
        let mut buf = [0u8; 10];
        let up = &mut buf[..s.len()];
        up.copy_from_slice(s);
        up.make_ascii_uppercase();
        match &*up {
            b"IN" => Some(Class::In),
            b"AWS" => Some(Class::Aws),
            b"CS" => Some(Class::Other(2)),
            b"CH" => Some(Class::Other(3)),
            b"HS" => Some(Class::Other(4)),
            b"NONE" => Some(Class::Other(254)),
            b"ANY" => Some(Class::Other(255)),
            _ => {
                let num = up.strip_prefix(b"CLASS")?;
                if num.is_empty() || num.len() > 5 || !num.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let n: u16 = std::str::from_utf8(num).ok()?.parse().ok()?;
                Some(if n == 1 { Class::In } else { Class::Other(n) })
            }
        }
    }
    pub fn show(self) -> String {
        match self {
            Class::In => "IN".into(),
            Class::Aws => "AWS".into(),
            Class::Other(2) => "CS".into(),
            Class::Other(3) => "CH".into(),
            Class::Other(4) => "HS".into(),
            Class::Other(n) => format!("CLASS{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_classes() {
        assert_eq!(RType::parse("aaaa").unwrap().code, 28);
        assert_eq!(RType::parse("TYPE1").unwrap().name(), "A");
        assert_eq!(RType::parse("type65534").unwrap().name(), "TYPE65534");
        assert!(RType::parse("TYPE65536").is_none());
        assert!(RType::parse("ALIAS").is_none());
        assert!(RType::parse("HTTPS").unwrap().route53());
        assert!(!RType::parse("LOC").unwrap().route53());
        assert_eq!(ROUTE53.len(), 17);
        assert_eq!(Class::parse(b"in"), Some(Class::In));
        assert_eq!(Class::parse(b"CLASS1"), Some(Class::In));
        assert_eq!(Class::parse(b"ch"), Some(Class::Other(3)));
        assert_eq!(Class::parse(b"A"), None);
    }
}
