//! The parser against the spec (`docs/angle-protocol.md`): every row of the reply
//! table, terminators, streams split at every position, and byte soup.
//!
//! The expectations come from an independent model of the spec written here with `Vec`s
//! (split into lines, then classify each line), not from the parser itself.

use angle::rx::Gap;
use angle::{Parser, READY_LINE, Verdict};
use proptest::prelude::*;

/// One event of the receive path: a byte, or "bytes were lost here" (buffer overflow).
#[derive(Clone, Copy, Debug)]
enum Rx {
    Byte(u8),
    Lost,
}

/// The spec's table, for one line's payload (terminator excluded).
fn classify(payload: &[u8]) -> Option<Verdict> {
    if payload.is_empty() {
        None
    } else if payload.len() > 3 {
        Some(Verdict::TooLong)
    } else if payload.iter().all(u8::is_ascii_digit) {
        let n: u32 = std::str::from_utf8(payload).unwrap().parse().unwrap();
        Some(if n <= 180 {
            Verdict::Angle(n as u8)
        } else {
            Verdict::BadAngle
        })
    } else {
        Some(Verdict::BadInput)
    }
}

/// The model: split the stream into lines (CR, LF, CR LF), a line touched by a loss is bad
/// input; returns the verdicts and whether a line is left unterminated.
fn model(events: &[Rx]) -> (Vec<Verdict>, bool) {
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut lost = false;
    let mut after_cr = false;
    for &e in events {
        match e {
            Rx::Lost => {
                lost = true;
                after_cr = false;
            }
            Rx::Byte(b'\n') if after_cr => after_cr = false,
            Rx::Byte(b @ (b'\r' | b'\n')) => {
                after_cr = b == b'\r';
                let v = if lost {
                    Some(Verdict::BadInput)
                } else {
                    classify(&line)
                };
                out.extend(v);
                line.clear();
                lost = false;
            }
            Rx::Byte(b) => {
                after_cr = false;
                line.push(b);
            }
        }
    }
    (out, !line.is_empty() || lost)
}

fn bytes(input: &[u8]) -> Vec<Rx> {
    input.iter().map(|&b| Rx::Byte(b)).collect()
}

/// Run the parser over the events.
fn parse(p: &mut Parser, events: &[Rx], out: &mut Vec<Verdict>) {
    for &e in events {
        match e {
            Rx::Byte(b) => out.extend(p.push(b)),
            Rx::Lost => p.overflow(),
        }
    }
}

fn verdicts(input: &[u8]) -> Vec<Verdict> {
    let mut out = Vec::new();
    parse(&mut Parser::new(), &bytes(input), &mut out);
    out
}

/// What the device sends for an input stream: each verdict line, then the ready line.
fn wire(input: &[u8]) -> String {
    let mut out = Vec::new();
    for v in verdicts(input) {
        out.extend_from_slice(v.reply().as_bytes());
        out.extend_from_slice(READY_LINE);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn every_row_of_the_table_on_the_wire() {
    let ok = "OK: Good to go\r\n";
    let rows: &[(&[u8], String)] = &[
        // 1–3 digits, 0–180: the angle in plain decimal.
        (b"0\n", format!("Input angle: 0\r\n{ok}")),
        (b"7\r", format!("Input angle: 7\r\n{ok}")),
        (b"90\r\n", format!("Input angle: 90\r\n{ok}")),
        (b"090\n", format!("Input angle: 90\r\n{ok}")),
        (b"000\n", format!("Input angle: 0\r\n{ok}")),
        (b"007\n", format!("Input angle: 7\r\n{ok}")),
        (b"180\n", format!("Input angle: 180\r\n{ok}")),
        // 1–3 digits over 180.
        (b"181\n", format!("Error: Bad angle\r\n{ok}")),
        (b"999\r\n", format!("Error: Bad angle\r\n{ok}")),
        (b"200\r", format!("Error: Bad angle\r\n{ok}")),
        // Anything else of at most 3 bytes.
        (b"-5\n", format!("Error: Bad input\r\n{ok}")),
        (b"+5\n", format!("Error: Bad input\r\n{ok}")),
        (b"abc\n", format!("Error: Bad input\r\n{ok}")),
        (b" 90\n", format!("Error: Bad input\r\n{ok}")),
        (b"9 \n", format!("Error: Bad input\r\n{ok}")),
        (b"\t\n", format!("Error: Bad input\r\n{ok}")),
        (b"\x00\n", format!("Error: Bad input\r\n{ok}")),
        (b"\x7f\x1b\n", format!("Error: Bad input\r\n{ok}")),
        (b"\xff\n", format!("Error: Bad input\r\n{ok}")),
        (b"1.5\n", format!("Error: Bad input\r\n{ok}")),
        // More than 3 bytes before the terminator, however long.
        (b"1234\n", format!("Error: Angle more than 3 bytes\r\n{ok}")),
        (b"0090\n", format!("Error: Angle more than 3 bytes\r\n{ok}")),
        (
            b"abcd\r\n",
            format!("Error: Angle more than 3 bytes\r\n{ok}"),
        ),
        (b" 90 \n", format!("Error: Angle more than 3 bytes\r\n{ok}")),
        // Empty lines: nothing at all.
        (b"\n", String::new()),
        (b"\r", String::new()),
        (b"\r\n", String::new()),
        (b"\r\n\r\n\n\r", String::new()),
    ];
    for (input, expected) in rows {
        assert_eq!(&wire(input), expected, "input {:?}", input.escape_ascii());
    }
}

#[test]
fn every_angle_with_and_without_leading_zeros() {
    for n in 0..=999u32 {
        let expected = if n <= 180 {
            Verdict::Angle(n as u8)
        } else {
            Verdict::BadAngle
        };
        let mut forms = vec![format!("{n:03}")];
        if n < 100 {
            forms.push(format!("{n:02}"));
        }
        if n < 10 {
            forms.push(n.to_string());
        }
        for f in forms {
            for term in ["\r", "\n", "\r\n"] {
                let line = format!("{f}{term}");
                assert_eq!(verdicts(line.as_bytes()), [expected], "{line:?}");
            }
        }
        if n <= 180 {
            assert_eq!(
                expected.reply().text(),
                format!("Input angle: {n}"),
                "no leading zeros"
            );
        }
    }
}

#[test]
fn every_one_and_two_byte_line() {
    for a in 0..=255u8 {
        let line = [a, b'\n'];
        let (want, _) = model(&bytes(&line));
        assert_eq!(verdicts(&line), want, "{:?}", line.escape_ascii());
        for b in 0..=255u8 {
            let line = [a, b, b'\r', b'\n'];
            let (want, _) = model(&bytes(&line));
            assert_eq!(verdicts(&line), want, "{:?}", line.escape_ascii());
            assert!(want.len() <= 2);
        }
    }
}

#[test]
fn a_long_line_is_answered_once_at_its_terminator() {
    let mut p = Parser::new();
    for _ in 0..100_000 {
        assert_eq!(p.push(b'7'), None);
        assert!(p.in_line());
    }
    assert_eq!(p.push(b'\r'), Some(Verdict::TooLong));
    assert_eq!(p.push(b'\n'), None);
    assert!(!p.in_line());
    // Nothing of it is left over.
    assert_eq!(
        verdicts(&[b"x".repeat(200).as_slice(), b"\n90\n"].concat()),
        { [Verdict::TooLong, Verdict::Angle(90)] }
    );
    // The parser holds no buffer: its whole state is a few bytes.
    assert!(std::mem::size_of::<Parser>() <= 8);
}

#[test]
fn terminators() {
    use Verdict::Angle;
    let cases: &[(&[u8], &[Verdict])] = &[
        (b"1\r2\r3\r", &[Angle(1), Angle(2), Angle(3)]),
        (b"1\n2\n3\n", &[Angle(1), Angle(2), Angle(3)]),
        (b"1\r\n2\r\n3\r\n", &[Angle(1), Angle(2), Angle(3)]),
        // Mixed in one stream.
        (b"1\r2\n3\r\n4\n", &[Angle(1), Angle(2), Angle(3), Angle(4)]),
        // LF CR is two terminators, the second an empty line; so is CR CR.
        (b"1\n\r2\r\r3\n\n", &[Angle(1), Angle(2), Angle(3)]),
        // CR LF LF: the second LF is an empty line, not a second CR LF.
        (b"5\r\n\n6\r\n", &[Angle(5), Angle(6)]),
        // Empty lines between commands are ignored.
        (b"\r\n\r\n7\r\n\n\n\r\r8\n", &[Angle(7), Angle(8)]),
        // No terminator yet: no verdict yet.
        (b"9", &[]),
        (b"", &[]),
    ];
    for (input, want) in cases {
        assert_eq!(&verdicts(input), want, "{:?}", input.escape_ascii());
        assert_eq!(&model(&bytes(input)).0, want);
    }
    // An unterminated line stays in progress; an ended one does not.
    let mut p = Parser::new();
    for &b in b"12" {
        p.push(b);
    }
    assert!(p.in_line());
    assert_eq!(p.push(b'\r'), Some(Verdict::Angle(12)));
    assert!(!p.in_line());
    assert_eq!(p.push(b'\n'), None);
    assert!(!p.in_line());
}

/// A stream with every kind of line, as a host (or a TCP client of ser2tcp) sends them.
const SESSION: &[u8] =
    b"90\r\n0\n180\r181\n999\r\n-5\nabc\n1234\n\r\n\n007\r\n \n12\r\n\r\x01\nabcdefgh\r\n45\n";

#[test]
fn a_command_split_at_every_byte_position() {
    let (want, open) = model(&bytes(SESSION));
    assert!(!open);
    assert_eq!(want.len(), 14);
    for i in 0..=SESSION.len() {
        // The first part in one parser, which then goes on with the rest after a pause
        // (ser2tcp reads whatever a socket delivers).
        let mut p = Parser::new();
        let mut got = Vec::new();
        parse(&mut p, &bytes(&SESSION[..i]), &mut got);
        let (first, _) = model(&bytes(&SESSION[..i]));
        assert_eq!(got, first, "first {i} bytes");
        parse(&mut p, &bytes(&SESSION[i..]), &mut got);
        assert_eq!(got, want, "split at {i}");
        // And in three parts, around every second split point.
        for j in i..=SESSION.len() {
            let mut p = Parser::new();
            let mut got = Vec::new();
            for part in [&SESSION[..i], &SESSION[i..j], &SESSION[j..]] {
                parse(&mut p, &bytes(part), &mut got);
            }
            assert_eq!(got, want, "split at {i} and {j}");
        }
    }
}

#[test]
fn a_loss_makes_the_line_in_progress_bad_input_and_only_it() {
    use Verdict::*;
    let cases: &[(&[Rx], &[Verdict])] = &[
        // Lost in the middle of a command: never merged with the next line.
        (
            &[Rx::Byte(b'9'), Rx::Lost, Rx::Byte(b'0'), Rx::Byte(b'\n')],
            &[BadInput],
        ),
        // Lost right after a CR: the LF that follows may not be that CR's; it ends the
        // damaged line.
        (
            &[Rx::Byte(b'1'), Rx::Byte(b'\r'), Rx::Lost, Rx::Byte(b'\n')],
            &[Angle(1), BadInput],
        ),
        // Lost on a line that would have been too long: still bad input.
        (
            &[
                Rx::Byte(b'1'),
                Rx::Byte(b'2'),
                Rx::Byte(b'3'),
                Rx::Byte(b'4'),
                Rx::Lost,
                Rx::Byte(b'\n'),
                Rx::Byte(b'5'),
                Rx::Byte(b'\n'),
            ],
            &[BadInput, Angle(5)],
        ),
    ];
    for (events, want) in cases {
        let mut got = Vec::new();
        let mut p = Parser::new();
        parse(&mut p, events, &mut got);
        assert_eq!(&got, want, "{events:?}");
        assert_eq!(&model(events).0, want, "{events:?}");
    }
    let mut p = Parser::new();
    p.overflow();
    assert!(p.in_line(), "a loss alone is a line in progress");
}

/// The sent stream split into lines: (payload indices, terminator indices); the last,
/// unterminated, part is left out.
fn sent_lines(sent: &[u8]) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut lines = Vec::new();
    let mut payload = Vec::new();
    let mut i = 0;
    while i < sent.len() {
        match sent[i] {
            b'\r' if sent.get(i + 1) == Some(&b'\n') => {
                lines.push((std::mem::take(&mut payload), vec![i, i + 1]));
                i += 1;
            }
            b'\r' | b'\n' => lines.push((std::mem::take(&mut payload), vec![i])),
            _ => payload.push(i),
        }
        i += 1;
    }
    lines
}

/// The model of a lossy receive path, from what the host sent and which of those bytes the
/// device's buffer dropped (in runs, each run one loss), line by line:
/// * a line whose terminator arrived: bad input if any of its payload was dropped, else
///   what its payload says;
/// * the first line whose terminator (its CR, or lone LF) a run dropped: it is the line in
///   progress when the loss is read, and is answered then: bad input if it lost payload
///   or any other line ending in that run did (whole lines lost), else what its payload
///   says;
/// * other lines ending in that run vanish (their loss is reported by the first);
/// * the unterminated rest of the stream: nothing yet.
fn model_of_drops(sent: &[u8], dropped: &[bool]) -> Vec<Verdict> {
    let mut run = vec![0; sent.len()];
    let mut runs = 0;
    for i in 0..sent.len() {
        if dropped[i] {
            if i == 0 || !dropped[i - 1] {
                runs += 1;
            }
            run[i] = runs;
        }
    }
    let lines = sent_lines(sent);
    let damaged = |payload: &[usize]| payload.iter().any(|&i| dropped[i]);
    let mut lost_lines = vec![false; runs + 1];
    for (payload, term) in &lines {
        if dropped[term[0]] && damaged(payload) {
            lost_lines[run[term[0]]] = true;
        }
    }
    let mut answered = vec![false; runs + 1];
    let mut out = Vec::new();
    for (payload, term) in &lines {
        let bytes: Vec<u8> = payload.iter().map(|&i| sent[i]).collect();
        let bad = if dropped[term[0]] {
            let r = run[term[0]];
            if std::mem::replace(&mut answered[r], true) {
                continue;
            }
            lost_lines[r]
        } else {
            damaged(payload)
        };
        out.extend(if bad {
            Some(Verdict::BadInput)
        } else {
            classify(&bytes)
        });
    }
    out
}

/// What the device's main loop sees: the bytes that arrived, and for each run of dropped
/// bytes one loss with its gap.
fn received(sent: &[u8], dropped: &[bool]) -> Vec<angle::rx::Rx> {
    let mut out = Vec::new();
    let mut gap: Option<Gap> = None;
    for (&b, &d) in sent.iter().zip(dropped) {
        if d {
            gap = Some(gap.unwrap_or(Gap::EMPTY).and(b));
        } else {
            out.extend(gap.take().map(angle::rx::Rx::Lost));
            out.push(angle::rx::Rx::Byte(b));
        }
    }
    out.extend(gap.map(angle::rx::Rx::Lost));
    out
}

fn parse_received(events: &[angle::rx::Rx]) -> Vec<Verdict> {
    let mut p = Parser::new();
    let mut out = Vec::new();
    for &e in events {
        out.extend(match e {
            angle::rx::Rx::Byte(b) => p.push(b),
            angle::rx::Rx::Lost(gap) => p.lost(gap),
        });
    }
    out
}

#[test]
fn a_loss_that_swallows_the_terminator_answers_the_line_at_once() {
    use Verdict::*;
    // (sent, dropped as '^' under each byte, verdicts)
    let cases: &[(&[u8], &str, &[Verdict])] = &[
        // The terminator of a damaged line dropped: bad input now, not at some later
        // terminator the host may never send.
        (b"99999\r\n", " ^^^^^^", &[BadInput]),
        // Only the terminator dropped: the line arrived whole.
        (b"45\n", "  ^", &[Angle(45)]),
        (b"45\r\n7\n", "  ^^  ", &[Angle(45), Angle(7)]),
        // The CR dropped, its LF arrived: one terminator, not two.
        (b"45\r\n7\n", "  ^   ", &[Angle(45), Angle(7)]),
        // Lines wholly in the gap vanish; the line in progress reports their loss, and the
        // line whose beginning was dropped is bad input.
        (b"5\n6\n7\n8\n", "  ^^^^^ ", &[Angle(5), BadInput, BadInput]),
        (b"5\n6\n7\n8\n", " ^^^^^  ", &[BadInput, Angle(8)]),
        (b"5\n\n\r\n8\n", " ^^^^  ", &[Angle(5), Angle(8)]),
        // No terminator in the gap: the line goes on, and is bad input at its end.
        (b"123\n4\n", " ^    ", &[BadInput, Angle(4)]),
    ];
    for &(sent, marks, want) in cases {
        let dropped: Vec<bool> = marks.bytes().map(|c| c == b'^').collect();
        assert_eq!(dropped.len(), sent.len(), "{marks:?}");
        let events = received(sent, &dropped);
        assert_eq!(
            parse_received(&events),
            want,
            "{:?} {marks:?}",
            sent.escape_ascii()
        );
        assert_eq!(model_of_drops(sent, &dropped), want, "model: {marks:?}");
    }
}

/// Bytes a host is likely to send, with the odd arbitrary one, picked by a random number
/// (mapping plain random numbers keeps 10,000 cases fast in a debug build).
fn protocol_byte(r: u16) -> u8 {
    let pick = (r >> 8) as u8;
    match r % 12 {
        0..=5 => b'0' + pick % 10,
        6 | 7 => b'\n',
        8 | 9 => b'\r',
        10 => b"-+ a\t\x00\x7f\xff"[usize::from(pick % 8)],
        _ => pick,
    }
}

fn protocol_soup(max: usize) -> impl Strategy<Value = Vec<Rx>> {
    prop::collection::vec(any::<u16>(), 0..max)
        .prop_map(|v| v.into_iter().map(|r| Rx::Byte(protocol_byte(r))).collect())
}

/// The same with a loss (receive-buffer overflow) here and there.
fn lossy_soup(max: usize) -> impl Strategy<Value = Vec<Rx>> {
    prop::collection::vec(any::<u16>(), 0..max).prop_map(|v| {
        v.into_iter()
            .map(|r| {
                if r % 23 == 0 {
                    Rx::Lost
                } else {
                    Rx::Byte(protocol_byte(r / 23))
                }
            })
            .collect()
    })
}

fn allowed(v: Verdict) -> bool {
    match v {
        Verdict::Angle(n) => n <= 180,
        Verdict::BadAngle | Verdict::BadInput | Verdict::TooLong => true,
    }
}

fn check_soup(events: &[Rx]) -> Result<(), TestCaseError> {
    let mut p = Parser::new();
    let mut got = Vec::new();
    parse(&mut p, events, &mut got);
    let (want, open) = model(events);
    prop_assert!(got.iter().all(|&v| allowed(v)), "{got:?}");
    prop_assert_eq!(&got, &want);
    prop_assert_eq!(p.in_line(), open);
    // Every verdict's reply is one line: printable ASCII, ending in exactly one CR LF.
    for v in got {
        let r = v.reply();
        let b = r.as_bytes();
        prop_assert!(b.ends_with(b"\r\n"));
        prop_assert!(b[..b.len() - 2].iter().all(|c| (b' '..=b'~').contains(c)));
    }
    Ok(())
}

/// A stream the host sent, and which bytes the buffer dropped (in runs, as a full buffer
/// drops them).
fn sent_and_dropped(max: usize) -> impl Strategy<Value = (Vec<u8>, Vec<bool>)> {
    prop::collection::vec(any::<u16>(), 0..max).prop_map(|v| {
        let mut dropping = false;
        v.into_iter()
            .map(|r| {
                if r % 9 == 0 {
                    dropping = !dropping;
                }
                (protocol_byte(r / 9), dropping)
            })
            .unzip()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn soup_with_dropped_runs((sent, dropped) in sent_and_dropped(400)) {
        let got = parse_received(&received(&sent, &dropped));
        prop_assert!(got.iter().all(|&v| allowed(v)), "{got:?}");
        prop_assert_eq!(got, model_of_drops(&sent, &dropped));
    }

    #[test]
    fn arbitrary_byte_soup(soup in prop::collection::vec(any::<u8>(), 0..400)) {
        check_soup(&bytes(&soup))?;
    }

    #[test]
    fn protocol_shaped_soup(soup in protocol_soup(400)) {
        check_soup(&soup)?;
    }

    #[test]
    fn soup_with_losses(soup in lossy_soup(400)) {
        check_soup(&soup)?;
    }
}
