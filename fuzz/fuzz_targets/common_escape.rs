//! The escaping rule: `escape::bytes` is always one line free of control characters and
//! reads back to the input; `escape::sh` words, when given, are single words free of
//! control characters.
#![no_main]
use libfuzzer_sys::fuzz_target;
use opsbox_common::escape;

fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    let b = s.as_bytes();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let (_, k) = it.next().expect("a lone backslash at the end");
        match k {
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'e' => out.push(0x1b),
            '\\' => out.push(b'\\'),
            'x' => {
                let hex = &s[i + 2..i + 4];
                out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
                it.next();
                it.next();
            }
            'u' => {
                let end = s[i..].find('}').expect("a closing brace") + i;
                let n = u32::from_str_radix(&s[i + 3..end], 16).expect("hex");
                let c = char::from_u32(n).expect("a char");
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                while let Some(&(j, _)) = it.peek() {
                    it.next();
                    if j == end {
                        break;
                    }
                }
            }
            other => panic!("unknown escape \\{other} in {:?}", &b[i..]),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let line = escape::bytes(data);
    assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
    assert_eq!(unescape(&line), data, "escaped {line:?}");
    if let Ok(s) = std::str::from_utf8(data) {
        let q = escape::quote(s);
        assert!(!q.chars().any(|c| c.is_control()));
        if let Ok(word) = escape::sh(s) {
            assert!(!word.chars().any(|c| c.is_control()));
            assert!(!word.is_empty());
        }
    }
});
