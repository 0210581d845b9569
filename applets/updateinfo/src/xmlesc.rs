//! XML escaping of the texts and attribute values we write.

use crate::frag::Frag;

/// Append `s` escaped for XML text (`attr`: for a double-quoted attribute value).
/// Characters XML 1.0 does not allow are dropped. Text between the characters that need
/// a look is copied in whole runs.
pub fn escape(out: &mut Frag, s: &str, attr: bool) {
    // bytes that need a look: controls, markup, and 0xEF (U+FFFE/U+FFFF start so); in
    // attribute values also quotes, and newlines and tabs (normalised away otherwise)
    const fn table(attr: bool) -> [bool; 256] {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 0x20 {
            t[i] = attr || !(i == b'\n' as usize || i == b'\t' as usize);
            i += 1;
        }
        t[b'&' as usize] = true;
        t[b'<' as usize] = true;
        t[b'>' as usize] = true;
        t[b'"' as usize] = attr;
        t[0xef] = true;
        t
    }
    static TEXT: [bool; 256] = table(false);
    static ATTR: [bool; 256] = table(true);
    let special = if attr { &ATTR } else { &TEXT };
    let b = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    loop {
        while i < b.len() && !special[b[i] as usize] {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let (rep, len): (&[u8], usize) = match b[i] {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'"' => (b"&quot;", 1),
            b'\n' => (b"&#10;", 1),
            b'\t' => (b"&#9;", 1),
            b'\r' => (b"&#13;", 1),
            // U+FFFE and U+FFFF (EF BF BE, EF BF BF) are not XML characters
            0xef if b.get(i + 1) == Some(&0xbf) && matches!(b.get(i + 2), Some(0xbe | 0xbf)) => {
                (b"", 3)
            }
            0xef => {
                i += 1;
                continue;
            }
            // the other controls are not XML characters
            _ => (b"", 1),
        };
        out.put(&b[start..i]);
        out.put(rep);
        i += len;
        start = i;
    }
    out.put(&b[start..]);
}

/// A character XML 1.0 allows.
pub fn legal(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
