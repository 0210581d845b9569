//! The angle-command protocol (`docs/angle-protocol.md`), shared by the Arduino
//! firmware and `ser2tcp`'s angle mode so the two can never disagree.
//!
//! `no_std`, no allocation, no `core::fmt`: the firmware links this as it is.
//!
//! * [`Parser`] takes one byte at a time and returns at most one [`Verdict`] per line.
//! * [`Verdict::reply`] is the verdict line the device sends; [`READY_LINE`] follows it.
//! * [`servo::Servo`] sweeps a servo to an angle over any embedded-hal 1.0 PWM and delay.
//! * [`rx::RxQueue`] is the device's lock-free receive buffer, which says where bytes were
//!   lost.
#![no_std]

pub mod rx;
pub mod servo;

pub use servo::Servo;

/// The ready line, sent at power-up and after every verdict.
pub const READY: &str = "OK: Good to go";
/// [`READY`] with its CR LF terminator, as sent on the wire.
pub const READY_LINE: &[u8] = b"OK: Good to go\r\n";
/// The largest valid angle.
pub const MAX_ANGLE: u8 = 180;
/// The most payload bytes a command may have.
pub const MAX_PAYLOAD: u8 = 3;

/// What one non-empty line means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 1–3 digits, value 0–180: sweep to this angle.
    Angle(u8),
    /// 1–3 digits, value over 180.
    BadAngle,
    /// Anything else of at most 3 bytes, or a line whose bytes were lost to an overflow.
    BadInput,
    /// More than 3 bytes before the terminator.
    TooLong,
}

impl Verdict {
    /// The verdict line as sent on the wire, CR LF included
    /// (`Input angle: 90\r\n`, `Error: Bad angle\r\n`, …).
    pub fn reply(self) -> Reply {
        let mut r = Reply {
            buf: [0; Reply::CAP],
            len: 0,
        };
        match self {
            Verdict::Angle(n) => {
                r.push(b"Input angle: ");
                let mut digits = [0u8; 3];
                r.push(format_u8(n, &mut digits));
            }
            Verdict::BadAngle => r.push(b"Error: Bad angle"),
            Verdict::BadInput => r.push(b"Error: Bad input"),
            Verdict::TooLong => r.push(b"Error: Angle more than 3 bytes"),
        }
        r.push(b"\r\n");
        r
    }
}

/// A verdict line in a fixed buffer (no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    buf: [u8; Reply::CAP],
    len: u8,
}

impl Reply {
    const CAP: usize = 40;

    fn push(&mut self, bytes: &[u8]) {
        let at = self.len as usize;
        self.buf[at..at + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len() as u8;
    }

    /// The line's bytes, CR LF included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The line's text without its CR LF.
    pub fn text(&self) -> &str {
        let b = &self.buf[..self.len as usize - 2];
        // Only ASCII is ever pushed.
        core::str::from_utf8(b).unwrap_or("")
    }
}

/// Write `n` in plain decimal (no leading zeros) into `buf`; returns the digits.
pub fn format_u8(n: u8, buf: &mut [u8; 3]) -> &[u8] {
    let mut i = 3;
    let mut v = n;
    loop {
        i -= 1;
        buf[i] = b'0' + v % 10;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The byte-at-a-time line parser. It never stores more than the 3 payload bytes' worth of
/// state, however long or noisy the input.
#[derive(Clone, Debug, Default)]
pub struct Parser {
    /// Payload bytes seen on this line, saturating at `MAX_PAYLOAD + 1` ("too long").
    len: u8,
    /// The decimal value of the payload so far (while it is all digits and ≤ 3 bytes).
    value: u16,
    /// Every payload byte so far was an ASCII digit.
    all_digits: bool,
    /// The previous byte was CR: a LF now belongs to the same terminator.
    after_cr: bool,
    /// Bytes of this line were lost (receive buffer overflow): answer it as bad input.
    lost: bool,
}

impl Parser {
    pub const fn new() -> Self {
        Parser {
            len: 0,
            value: 0,
            all_digits: true,
            after_cr: false,
            lost: false,
        }
    }

    /// Feed one byte; a terminator (CR, LF, or CR LF) of a non-empty line gives its verdict.
    pub fn push(&mut self, byte: u8) -> Option<Verdict> {
        if byte == b'\n' && self.after_cr {
            self.after_cr = false;
            return None;
        }
        self.after_cr = byte == b'\r';
        if byte == b'\r' || byte == b'\n' {
            return self.finish();
        }
        if self.len <= MAX_PAYLOAD {
            self.len += 1;
        }
        if self.len <= MAX_PAYLOAD {
            if byte.is_ascii_digit() {
                self.value = self.value * 10 + u16::from(byte - b'0');
            } else {
                self.all_digits = false;
            }
        }
        None
    }

    /// Tell the parser that input bytes of unknown value were dropped (the receive buffer
    /// overflowed, or the UART overran): the line in progress is answered as
    /// [`Verdict::BadInput`] when its terminator arrives, never merged with what follows.
    pub fn overflow(&mut self) {
        self.lost = true;
        self.after_cr = false;
    }

    /// Tell the parser that the receive buffer overflowed and dropped the bytes `gap`
    /// describes ([`rx::Gap`]). If the gap holds no terminator, the line in progress goes
    /// on after it and is answered as [`Verdict::BadInput`] at its terminator, as with
    /// [`Parser::overflow`]. If it does, the line in progress ended in the gap and is
    /// answered now: [`Verdict::BadInput`] if it lost payload or whole lines were lost
    /// with it (so every loss of payload is reported, here or on the line after the gap),
    /// else what its payload says (only terminators were dropped). The line after the gap
    /// is bad input if its beginning was dropped.
    pub fn lost(&mut self, gap: rx::Gap) -> Option<Verdict> {
        if !gap.ends_line() {
            self.overflow();
            return None;
        }
        let v = if gap.body_lost() || self.lost {
            Some(Verdict::BadInput)
        } else {
            self.finish()
        };
        *self = Parser::new();
        self.lost = gap.tail_lost();
        self.after_cr = gap.ends_in_cr();
        v
    }

    /// Whether a line is in progress (some payload byte, or lost bytes, since the last
    /// terminator).
    pub fn in_line(&self) -> bool {
        self.len > 0 || self.lost
    }

    fn finish(&mut self) -> Option<Verdict> {
        let v = if self.lost {
            Some(Verdict::BadInput)
        } else if self.len == 0 {
            None
        } else if self.len > MAX_PAYLOAD {
            Some(Verdict::TooLong)
        } else if !self.all_digits {
            Some(Verdict::BadInput)
        } else if self.value > u16::from(MAX_ANGLE) {
            Some(Verdict::BadAngle)
        } else {
            Some(Verdict::Angle(self.value as u8))
        };
        let after_cr = self.after_cr;
        *self = Parser::new();
        self.after_cr = after_cr;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(input: &[u8]) -> ([Option<Verdict>; 16], usize) {
        let mut p = Parser::new();
        let mut out = [None; 16];
        let mut n = 0;
        for &b in input {
            if let Some(v) = p.push(b) {
                out[n] = Some(v);
                n += 1;
            }
        }
        (out, n)
    }

    fn one(input: &[u8]) -> Option<Verdict> {
        let (out, n) = verdicts(input);
        assert!(n <= 1, "{n} verdicts");
        out[0]
    }

    #[test]
    fn table_rows() {
        assert_eq!(one(b"0\n"), Some(Verdict::Angle(0)));
        assert_eq!(one(b"90\n"), Some(Verdict::Angle(90)));
        assert_eq!(one(b"090\n"), Some(Verdict::Angle(90)));
        assert_eq!(one(b"180\r"), Some(Verdict::Angle(180)));
        assert_eq!(one(b"181\r\n"), Some(Verdict::BadAngle));
        assert_eq!(one(b"999\n"), Some(Verdict::BadAngle));
        assert_eq!(one(b"-5\n"), Some(Verdict::BadInput));
        assert_eq!(one(b"abc\n"), Some(Verdict::BadInput));
        assert_eq!(one(b" 9\n"), Some(Verdict::BadInput));
        assert_eq!(one(b"\x01\n"), Some(Verdict::BadInput));
        assert_eq!(one(b"1000\n"), Some(Verdict::TooLong));
        assert_eq!(one(b"abcd\n"), Some(Verdict::TooLong));
        assert_eq!(one(b"\n"), None);
        assert_eq!(one(b"\r\n"), None);
    }

    #[test]
    fn terminators() {
        // CR LF is one terminator; LF CR is two (the second an empty line); CR CR is two.
        let (out, n) = verdicts(b"1\r\n2\n\r3\r\r4\r\n");
        assert_eq!(n, 4);
        assert_eq!(
            out[..4],
            [
                Some(Verdict::Angle(1)),
                Some(Verdict::Angle(2)),
                Some(Verdict::Angle(3)),
                Some(Verdict::Angle(4))
            ]
        );
    }

    #[test]
    fn overflow_poisons_the_line_in_progress_only() {
        let mut p = Parser::new();
        p.push(b'9');
        p.overflow();
        p.push(b'0');
        assert_eq!(p.push(b'\n'), Some(Verdict::BadInput));
        for &b in b"45" {
            assert_eq!(p.push(b), None);
        }
        assert_eq!(p.push(b'\r'), Some(Verdict::Angle(45)));
    }

    #[test]
    fn fuzz_entry_point_on_samples() {
        for s in [
            &b"90\n999\r\nabc\r\r\n\n1000\n0"[..],
            b"\r\n\r\n\n\r12\r\n",
            b"",
            b"\xff\x00\n180\r",
        ] {
            super::fuzz::parser(s);
        }
    }

    #[test]
    fn replies() {
        assert_eq!(Verdict::Angle(7).reply().as_bytes(), b"Input angle: 7\r\n");
        assert_eq!(Verdict::Angle(180).reply().text(), "Input angle: 180");
        assert_eq!(Verdict::BadAngle.reply().text(), "Error: Bad angle");
        assert_eq!(Verdict::BadInput.reply().text(), "Error: Bad input");
        assert_eq!(
            Verdict::TooLong.reply().text(),
            "Error: Angle more than 3 bytes"
        );
        assert_eq!(READY_LINE, b"OK: Good to go\r\n");
    }
}

/// Entry points for the fuzz targets (`fuzz/fuzz_targets/angle_*.rs`); no allocation, so
/// the crate stays as the firmware links it.
#[doc(hidden)]
pub mod fuzz {
    use crate::{MAX_ANGLE, Parser, Verdict};

    /// The parser on `data`: its verdicts, in order, are the spec's for each line of a
    /// simple model (split at CR, LF, CR LF; classify each line's bytes), and it answers
    /// every line however long.
    pub fn parser(data: &[u8]) {
        let mut p = Parser::new();
        let mut lines = Lines { data, at: 0 };
        for (i, &b) in data.iter().enumerate() {
            if let Some(v) = p.push(b) {
                let want = loop {
                    let line = lines.next().expect("a verdict without a line");

                    if let Some(w) = classify(line) {
                        break w;
                    }
                };
                assert_eq!(v, want, "at byte {i}");
            }
        }
        // what is left: empty lines only, or the unterminated last line
        while let Some(line) = lines.next() {
            assert!(classify(line).is_none(), "a line without its verdict");
        }
    }

    /// The spec's table for one line's payload.
    fn classify(line: &[u8]) -> Option<Verdict> {
        if line.is_empty() {
            return None;
        }
        if line.len() > 3 {
            return Some(Verdict::TooLong);
        }
        if !line.iter().all(u8::is_ascii_digit) {
            return Some(Verdict::BadInput);
        }
        let n = line.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        Some(if n <= u16::from(MAX_ANGLE) {
            Verdict::Angle(n as u8)
        } else {
            Verdict::BadAngle
        })
    }

    /// The terminated lines of the input as slices of it.
    struct Lines<'a> {
        data: &'a [u8],
        at: usize,
    }

    impl<'a> Lines<'a> {
        fn next(&mut self) -> Option<&'a [u8]> {
            let rest = &self.data[self.at..];
            let end = rest.iter().position(|&b| b == b'\r' || b == b'\n')?;
            let mut skip = end + 1;
            if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
                skip += 1;
            }
            self.at += skip;
            Some(&rest[..end])
        }
    }
}
