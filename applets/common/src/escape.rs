//! The one output-escaping rule of the binary: nothing that came from input reaches a
//! terminal, a `KEY: value` line, a comment, a shell script or a rule file without the
//! escaping that destination needs.
//!
//! * [`text`] / [`bytes`]: one line for a person or a line-oriented reader (terminal,
//!   stderr, `KEY: value`, `# comment`): every control character (C0, DEL, C1), the
//!   Unicode line and paragraph separators, the bidirectional overrides and the
//!   backslash itself are written as escapes (`\n`, `\r`, `\t`, `\e`, `\\`, `\xNN`,
//!   `\u{NNNN}`), so the result is always exactly one line and can be read back
//!   unambiguously. Bytes that are not UTF-8 become `\xNN`.
//! * [`quote`]: [`text`] in double quotes, shortened to [`QUOTE_MAX`] characters with a
//!   `…` and the original length: how a message shows a piece of input.
//! * [`sh`]: one word for POSIX `sh` (bare when it is plainly safe, else single-quoted);
//!   a value holding a control character cannot be one readable script line and is
//!   refused ([`Unsafe`]): scripts name such things in an escaped comment instead.
//! * [`controls`]: the catch-all every error and warning line passes through: control
//!   characters only (a message's own backslashes are left alone).
//!
//! Formats with their own syntax (nft/iptables strings, zone file text, XML, JSON) escape
//! with their own rules in the applet that writes them, and refuse what they cannot
//! express; `man/opsbox.1` states the whole rule.

use std::borrow::Cow;
use std::fmt::Write;

/// How many characters of input [`quote`] shows before it shortens.
pub const QUOTE_MAX: usize = 80;

/// True for the characters [`text`] escapes (other than `\`).
fn special(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x1b' => out.push_str("\\e"),
        '\\' => out.push_str("\\\\"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
}

/// `s` as one safe line (see the module doc); borrowed when nothing needs escaping.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '\\' || special(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\\' || special(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Like [`text`] for bytes that may not be UTF-8 (paths, `/proc` contents): invalid bytes
/// become `\xNN`.
pub fn bytes(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => text(s),
        Err(_) => {
            let mut out = String::with_capacity(b.len() + 8);
            for chunk in b.utf8_chunks() {
                out.push_str(&text(chunk.valid()));
                for byte in chunk.invalid() {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            }
            Cow::Owned(out)
        }
    }
}

/// A piece of input for a message: `"…"`, escaped as [`text`], shortened after
/// [`QUOTE_MAX`] characters to `"first part…" (N bytes)`.
pub fn quote(s: &str) -> String {
    quote_max(s, QUOTE_MAX)
}

/// [`quote`] with a chosen length.
pub fn quote_max(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => format!("\"{}\"", text(s)),
        Some((cut, _)) => format!("\"{}…\" ({} bytes)", text(&s[..cut]), s.len()),
    }
}

/// A value that cannot be written safely where it was going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsafe {
    /// The value, escaped for a message ([`quote`]).
    pub shown: String,
}

impl std::fmt::Display for Unsafe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} holds a control character", self.shown)
    }
}

/// `s` as one word of a POSIX shell script: bare when made only of `A-Za-z0-9` and
/// `@%+=:,./_-` (and not empty), else in single quotes (`'` written as `'\''`). A control
/// character (a newline included) is refused: it would make a script line that reads
/// differently from what runs.
pub fn sh(s: &str) -> Result<Cow<'_, str>, Unsafe> {
    if s.chars().any(special) {
        return Err(Unsafe { shown: quote(s) });
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return Ok(Cow::Borrowed(s));
    }
    Ok(Cow::Owned(format!("'{}'", s.replace('\'', "'\\''"))))
}

/// The catch-all for message lines: control characters escaped as in [`text`], the rest
/// (backslashes included) unchanged.
pub fn controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if special(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_one_unambiguous_line() {
        assert!(matches!(text("plain /usr/lib/x.so"), Cow::Borrowed(_)));
        assert_eq!(text("a\nb\rc\td\x1b[31m"), "a\\nb\\rc\\td\\e[31m");
        assert_eq!(text("back\\slash"), "back\\\\slash");
        assert_eq!(
            text("\x7f\u{85}\u{2028}\u{202e}"),
            "\\x7f\\u{0085}\\u{2028}\\u{202e}"
        );
        assert_eq!(text("é ok"), "é ok");
        for s in ["x\ny", "\u{2029}", "\x00"] {
            assert!(!text(s).contains(['\n', '\r', '\u{2029}', '\0']));
        }
    }

    #[test]
    fn bytes_escape_invalid_utf8() {
        assert_eq!(
            bytes(b"/mnt/exe\n\xff\xfe (deleted)"),
            "/mnt/exe\\n\\xff\\xfe (deleted)"
        );
        assert_eq!(bytes(b"ok"), "ok");
    }

    #[test]
    fn quote_shortens_long_input() {
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        let long = "x".repeat(1000);
        let q = quote(&long);
        assert!(q.len() < 100, "{q}");
        assert!(q.ends_with("…\" (1000 bytes)"), "{q}");
        assert_eq!(quote_max("éééé", 2), "\"éé…\" (8 bytes)");
    }

    #[test]
    fn sh_words() {
        assert_eq!(sh("nginx.service").unwrap(), "nginx.service");
        assert_eq!(sh("a b").unwrap(), "'a b'");
        assert_eq!(sh("it's").unwrap(), "'it'\\''s'");
        assert_eq!(sh("").unwrap(), "''");
        assert_eq!(sh("$(touch x)").unwrap(), "'$(touch x)'");
        assert!(sh("/mnt/exe\ntouch X\n#").is_err());
        assert!(sh("\x1b]0;x\x07").is_err());
    }

    #[test]
    fn sh_quoting_survives_a_real_shell() {
        let Ok(out) = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf '%s|' {} {} {}",
                sh("a'b").unwrap(),
                sh("$HOME `id` \"q\"").unwrap(),
                sh("*").unwrap()
            ))
            .output()
        else {
            return; // no sh: nothing to check against
        };
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "a'b|$HOME `id` \"q\"|*|"
        );
    }

    #[test]
    fn controls_keeps_backslashes() {
        assert_eq!(controls("zone \\# 4 x\ny"), "zone \\# 4 x\\ny");
    }
}
