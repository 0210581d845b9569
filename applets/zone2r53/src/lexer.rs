//! The master-file lexer (RFC 1035 §5.1): bytes → entries (one logical record each), with
//! parentheses across lines, comments, quoted strings and backslash escapes kept raw (they
//! are decoded later, by the consumer that knows the field: names or character strings).
//!
//! Hostile input is bounded: a physical line, a logical entry and a token each have a cap,
//! checked while reading, so a 1 GB line fails after reading [`MAX_LINE`] bytes.

use std::io::BufRead;

/// The longest physical line accepted.
pub const MAX_LINE: usize = 256 * 1024;
/// The longest logical entry (a record over several lines in parentheses).
pub const MAX_ENTRY: usize = 512 * 1024;
/// The longest single token.
pub const MAX_TOKEN: usize = 128 * 1024;
/// The most lines one parenthesised entry may span.
pub const MAX_PAREN_LINES: u32 = 10_000;

/// One token: raw bytes (escapes not yet decoded), whether it was quoted, and where it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: Vec<u8>,
    pub quoted: bool,
    pub line: u32,
    pub col: u32,
}

impl Token {
    pub fn plain(text: &[u8], line: u32, col: u32) -> Token {
        Token {
            text: text.to_vec(),
            quoted: false,
            line,
            col,
        }
    }
    /// The text as UTF-8 (lossy), for messages.
    pub fn show(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
    /// The text for a message: escaped and shortened ([`opsbox_common::escape::quote`]).
    pub fn q(&self) -> String {
        opsbox_common::escape::quote(&String::from_utf8_lossy(&self.text))
    }
    /// Case-insensitive comparison with an ASCII word.
    pub fn is(&self, word: &str) -> bool {
        !self.quoted && self.text.eq_ignore_ascii_case(word.as_bytes())
    }
}

/// A logical entry: its tokens, whether the first line began with blank space (the owner is
/// the previous one), and the text of the last comment on it (cli53's `; AWS routing=…`).
#[derive(Debug, Default, Clone)]
pub struct Entry {
    pub tokens: Vec<Token>,
    pub blank_owner: bool,
    pub comment: Option<String>,
    /// Where the comment's `;` is.
    pub comment_line: u32,
    pub comment_col: u32,
    pub line: u32,
}

/// A lexing error at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub line: u32,
    pub col: u32,
    pub msg: String,
}

fn err<T>(line: u32, col: u32, msg: impl Into<String>) -> Result<T, LexError> {
    Err(LexError {
        line,
        col,
        msg: msg.into(),
    })
}

/// Reads entries from a buffered input.
pub struct Lexer<R: BufRead> {
    input: R,
    line_no: u32,
    buf: Vec<u8>,
    first: bool,
    done: bool,
    /// Buffers of recycled tokens and entries (fewer allocations on big zones).
    spare_text: Vec<Vec<u8>>,
    spare_tokens: Vec<Token>,
}

impl<R: BufRead> Lexer<R> {
    pub fn new(input: R) -> Self {
        Lexer {
            input,
            line_no: 0,
            buf: Vec::with_capacity(256),
            first: true,
            done: false,
            spare_text: Vec::new(),
            spare_tokens: Vec::new(),
        }
    }

    /// Give an entry back when done with it: its buffers serve the next entries.
    pub fn recycle(&mut self, mut e: Entry) {
        for t in e.tokens.drain(..) {
            if self.spare_text.len() < 64 {
                self.spare_text.push(t.text);
            }
        }
        if self.spare_tokens.capacity() < e.tokens.capacity() {
            self.spare_tokens = e.tokens;
        }
    }

    fn text(&mut self, b: &[u8]) -> Vec<u8> {
        match self.spare_text.pop() {
            Some(mut v) => {
                v.clear();
                v.extend_from_slice(b);
                v
            }
            None => b.to_vec(),
        }
    }

    /// Read one physical line into `self.buf` (without the newline and a trailing CR).
    /// Returns false at end of input.
    fn read_line(&mut self) -> Result<bool, LexError> {
        self.buf.clear();
        if self.done {
            return Ok(false);
        }
        let next = self.line_no.saturating_add(1);
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return err(
                        next,
                        1,
                        format!("read error: {}", opsbox_common::io_reason(&e)),
                    );
                }
            };
            if chunk.is_empty() {
                self.done = true;
                if self.buf.is_empty() {
                    return Ok(false);
                }
                break;
            }
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if self.buf.len() + take > MAX_LINE {
                return err(
                    next,
                    MAX_LINE as u32 + 1,
                    format!("line longer than {MAX_LINE} bytes"),
                );
            }
            self.buf.extend_from_slice(&chunk[..take]);
            self.input.consume(take + usize::from(found));
            if found {
                break;
            }
        }
        self.line_no = next;
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.first {
            self.first = false;
            if self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
        }
        Ok(true)
    }

    /// The next logical entry, or None at end of input. Blank and comment-only lines are
    /// skipped.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, LexError> {
        let mut entry = Entry {
            tokens: std::mem::take(&mut self.spare_tokens),
            ..Entry::default()
        };
        let mut depth_open: Option<(u32, u32)> = None;
        let mut size = 0usize;
        let mut lines_in_parens = 0u32;
        loop {
            if !self.read_line()? {
                if let Some((l, c)) = depth_open {
                    return err(l, c, "unbalanced parenthesis: '(' is never closed");
                }
                return Ok(if entry.tokens.is_empty() {
                    None
                } else {
                    Some(entry)
                });
            }
            size += self.buf.len();
            if size > MAX_ENTRY {
                return err(
                    self.line_no,
                    1,
                    format!("entry longer than {MAX_ENTRY} bytes"),
                );
            }
            if depth_open.is_some() {
                lines_in_parens += 1;
                if lines_in_parens > MAX_PAREN_LINES {
                    let (l, c) = depth_open.unwrap_or((0, 0));
                    return err(
                        l,
                        c,
                        format!("parenthesis open for more than {MAX_PAREN_LINES} lines"),
                    );
                }
            }
            let starting = entry.tokens.is_empty() && depth_open.is_none();
            if starting {
                entry.blank_owner = matches!(self.buf.first(), Some(b' ' | b'\t'));
                entry.line = self.line_no;
                // a comment on a comment-only line before the entry is not the entry's
                entry.comment = None;
            }
            self.lex_line(&mut entry, &mut depth_open)?;
            if depth_open.is_none() && !entry.tokens.is_empty() {
                return Ok(Some(entry));
            }
        }
    }

    fn lex_line(
        &mut self,
        entry: &mut Entry,
        depth_open: &mut Option<(u32, u32)>,
    ) -> Result<(), LexError> {
        let line = self.line_no;
        let b = std::mem::take(&mut self.buf);
        let r = self.lex_bytes(&b, line, entry, depth_open);
        self.buf = b;
        r
    }

    fn lex_bytes(
        &mut self,
        b: &[u8],
        line: u32,
        entry: &mut Entry,
        depth_open: &mut Option<(u32, u32)>,
    ) -> Result<(), LexError> {
        let mut i = 0usize;
        while i < b.len() {
            let c = b[i];
            let col = (i + 1) as u32;
            match c {
                b' ' | b'\t' => i += 1,
                b';' => {
                    let text = String::from_utf8_lossy(&b[i + 1..]).trim().to_string();
                    entry.comment = Some(text);
                    entry.comment_line = line;
                    entry.comment_col = col;
                    break;
                }
                b'(' => {
                    if let Some((l, c)) = *depth_open {
                        return err(
                            line,
                            col,
                            format!("nested parenthesis (the first opened at {l}:{c})"),
                        );
                    }
                    *depth_open = Some((line, col));
                    i += 1;
                }
                b')' => {
                    if depth_open.is_none() {
                        return err(line, col, "unbalanced parenthesis: ')' without '('");
                    }
                    *depth_open = None;
                    i += 1;
                }
                b'"' => {
                    let start = i + 1;
                    let mut j = start;
                    loop {
                        match b.get(j) {
                            None => return err(line, col, "unterminated quoted string"),
                            Some(b'\\') => {
                                if j + 1 >= b.len() {
                                    return err(
                                        line,
                                        col,
                                        "unterminated quoted string (backslash at end of line)",
                                    );
                                }
                                j += 2;
                            }
                            Some(b'"') => break,
                            Some(_) => j += 1,
                        }
                    }
                    if j - start > MAX_TOKEN {
                        return err(line, col, format!("string longer than {MAX_TOKEN} bytes"));
                    }
                    let text = self.text(&b[start..j]);
                    entry.tokens.push(Token {
                        text,
                        quoted: true,
                        line,
                        col,
                    });
                    i = j + 1;
                }
                _ => {
                    let start = i;
                    let mut j = i;
                    while j < b.len() {
                        match b[j] {
                            b'\\' => {
                                if j + 1 >= b.len() {
                                    return err(line, (j + 1) as u32, "backslash at end of line");
                                }
                                j += 2;
                            }
                            b' ' | b'\t' | b';' | b'(' | b')' | b'"' => break,
                            _ => j += 1,
                        }
                    }
                    if j - start > MAX_TOKEN {
                        return err(line, col, format!("token longer than {MAX_TOKEN} bytes"));
                    }
                    let text = self.text(&b[start..j]);
                    entry.tokens.push(Token {
                        text,
                        quoted: false,
                        line,
                        col,
                    });
                    i = j;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(s: &str) -> Result<Vec<Entry>, LexError> {
        let mut lx = Lexer::new(s.as_bytes());
        let mut v = Vec::new();
        while let Some(e) = lx.next_entry()? {
            v.push(e);
        }
        Ok(v)
    }
    fn words(e: &Entry) -> Vec<String> {
        e.tokens.iter().map(Token::show).collect()
    }

    #[test]
    fn parentheses_comments_quotes() {
        let v = entries("\u{feff}@ IN SOA a. b. ( 1 ; serial\n 2 3 4 5 )\r\n  IN TXT \"a;b\"\"c\" ; x\nlast A 1.2.3.4").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(
            words(&v[0]),
            ["@", "IN", "SOA", "a.", "b.", "1", "2", "3", "4", "5"]
        );
        assert!(!v[0].blank_owner);
        assert!(v[1].blank_owner);
        assert_eq!(words(&v[1]), ["IN", "TXT", "a;b", "c"]);
        assert!(v[1].tokens[2].quoted);
        assert_eq!(v[1].comment.as_deref(), Some("x"));
        assert_eq!((v[2].line, v[2].tokens[2].col), (4, 8));
    }

    #[test]
    fn escapes_stay_raw() {
        let v = entries("a\\ b\\; TXT \"x\\\"y\" \\(z\n").unwrap();
        assert_eq!(words(&v[0]), ["a\\ b\\;", "TXT", "x\\\"y", "\\(z"]);
    }

    #[test]
    fn errors() {
        let e = entries("a SOA ( 1 2\n3\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 7));
        assert!(entries("a A )\n").is_err());
        assert!(entries("a A ( ( 1 )\n").is_err());
        assert!(entries("a TXT \"abc\n").is_err());
        assert!(entries("a TXT abc\\").is_err());
    }

    #[test]
    fn long_line_fails_fast() {
        struct Endless;
        impl std::io::Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                buf.fill(b'a');
                Ok(buf.len())
            }
        }
        let mut lx = Lexer::new(std::io::BufReader::new(Endless));
        let e = lx.next_entry().unwrap_err();
        assert!(e.msg.contains("line longer"), "{e:?}");
    }
}
