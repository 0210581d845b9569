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
        // skip eight clean bytes at a time, then look at the next few one by one
        i += clean_prefix(&b[i..], attr);
        let stop = (i + 8).min(b.len());
        while i < stop && !special[b[i] as usize] {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        if i == stop {
            continue;
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

/// How many leading bytes of `b` are, eight at a time, surely free of anything [`escape`]
/// looks at (controls, `& < >`, 0xEF, and `"` in attribute values): a multiple of 8.
fn clean_prefix(b: &[u8], attr: bool) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // non-zero if some byte of x is below n (n <= 0x80): exact as a whole, not per byte
    let below = |x: u64, n: u8| x.wrapping_sub(n as u64 * ONES) & !x & HIGH;
    let has = |x: u64, c: u8| below(x ^ (c as u64 * ONES), 1);
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(w);
        let hit = below(x, 0x20)
            | has(x, b'&')
            | has(x, b'<')
            | has(x, b'>')
            | has(x, 0xef)
            | if attr { has(x, b'"') } else { 0 };
        if hit != 0 {
            break;
        }
        i += 8;
    }
    i
}

/// A character XML 1.0 allows.
pub fn legal(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
