//! The receive queue between a real producer thread and a real consumer thread: bytes come
//! out in order, every gap in the stream is marked by a loss that says what it dropped;
//! and the queue with the parser: a burst bigger than the buffer never leaves the line in
//! progress unanswered.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;

use angle::rx::{Gap, Rx, RxQueue};
use angle::{Parser, Verdict};

/// The stream counts 0..251 over and over (so a gap shows as a jump); CR and LF are in it.
const CYCLE: u32 = 251;

#[test]
fn order_is_kept_and_every_gap_is_marked() {
    const BYTES: u32 = 100_000;
    let mut q = RxQueue::<64>::new();
    let done = AtomicBool::new(false);
    // Events the consumer has taken: every 1000 bytes the producer waits for it to have
    // taken something since last time, so on a loaded machine the producer cannot run
    // through the whole stream before the consumer reads anything.
    let progress = AtomicU32::new(0);
    let (mut p, mut c) = q.split();
    let (kept, losses) = thread::scope(|s| {
        s.spawn(|| {
            let mut seen = 0;
            for i in 0..BYTES {
                p.push((i % CYCLE) as u8);
                if i % 97 == 0 {
                    thread::yield_now();
                }
                if i % 1000 == 999 {
                    while progress.load(Ordering::Acquire) == seen {
                        thread::yield_now();
                    }
                    seen = progress.load(Ordering::Acquire);
                }
            }
            done.store(true, Ordering::Release);
        });
        let mut expect: u8 = 0;
        // The losses since the last byte (a dropped byte seen after the consumer took
        // its gap is reported as a loss of its own, right after).
        let mut gaps: Vec<Gap> = Vec::new();
        let (mut kept, mut losses) = (0u32, 0u32);
        loop {
            let finished = done.load(Ordering::Acquire);
            let rx = c.pop();
            if rx.is_some() {
                progress.fetch_add(1, Ordering::Release);
            }
            match rx {
                Some(Rx::Byte(b)) => {
                    if gaps.is_empty() {
                        assert_eq!(b, expect, "byte {kept}: a gap without a loss");
                    } else {
                        check_gap(&gaps, expect, b);
                        gaps.clear();
                    }
                    expect = ((u32::from(b) + 1) % CYCLE) as u8;
                    kept += 1;
                }
                Some(Rx::Lost(gap)) => {
                    gaps.push(gap);
                    losses += 1;
                }
                None if finished => break,
                None => {
                    if kept % 7 == 0 {
                        thread::yield_now();
                    }
                }
            }
        }
        (kept, losses)
    });
    assert!(kept > 64, "kept {kept}");
    assert!(kept <= BYTES);
    eprintln!("kept {kept} of {BYTES} bytes, {losses} losses");
    if kept < BYTES {
        assert!(losses > 0, "bytes went missing without a loss");
    }
}

/// The losses `gaps` stand between byte `first - 1` and byte `next` of the counting
/// stream: the dropped bytes run from `first` to `next - 1`, plus any whole cycles, which
/// hold payload and terminators (so what a short run says it holds, a long one holds too).
fn check_gap(gaps: &[Gap], first: u8, next: u8) {
    let is_term = |b: u8| b == b'\r' || b == b'\n';
    let last = ((u32::from(next) + CYCLE - 1) % CYCLE) as u8;
    let mut run = vec![first];
    while run[run.len() - 1] != last {
        run.push(((u32::from(run[run.len() - 1]) + 1) % CYCLE) as u8);
    }
    let short = Gap::of(&run);
    // The gaps read one after the other (a byte dropped as the consumer took a gap is
    // reported as a gap of its own): a line ends if any ends one; payload before the last
    // terminator if any says so, or if one ends a line the one before left a tail.
    let ends = gaps.iter().any(|g| g.ends_line());
    let body = gaps.iter().any(|g| g.body_lost())
        || gaps
            .windows(2)
            .any(|w| w[0].tail_lost() && w[1].ends_line());
    let tail = gaps[gaps.len() - 1];
    let why = format!("dropped {first}..={last}: {gaps:?}");
    assert!(ends || !short.ends_line(), "{why}");
    assert!(body || !short.body_lost(), "{why}");
    assert_eq!(tail.tail_lost(), !is_term(last), "{why}");
    assert_eq!(tail.ends_in_cr(), last == b'\r', "{why}");
}

/// Feed the main loop's view of the queue to the parser.
fn drain(c: &mut angle::rx::Consumer<'_, 64>, parser: &mut Parser) -> Vec<Verdict> {
    let mut out = Vec::new();
    while let Some(rx) = c.pop() {
        out.extend(match rx {
            Rx::Byte(b) => parser.push(b),
            Rx::Lost(gap) => parser.lost(gap),
        });
    }
    out
}

#[test]
fn a_burst_bigger_than_the_buffer_gets_the_line_in_progress_answered() {
    // A host sends 50 commands while the servo sweeps (the main loop reads nothing), then
    // waits for the replies. The 64-byte buffer keeps 32 of them; the loss swallowed the
    // last terminator, and still the line in progress is answered: the host is never left
    // waiting for a reply that only another terminator would bring.
    let mut q = RxQueue::<64>::new();
    let (mut p, mut c) = q.split();
    let mut parser = Parser::new();
    for _ in 0..50 {
        for &b in b"5\n" {
            p.push(b);
        }
    }
    let got = drain(&mut c, &mut parser);
    let mut want = vec![Verdict::Angle(5); 32];
    want.push(Verdict::BadInput);
    assert_eq!(got, want);
    assert!(!parser.in_line(), "nothing left pending");

    // Whatever comes next is read as it should be.
    for &b in b"77\r\n" {
        p.push(b);
    }
    assert_eq!(drain(&mut c, &mut parser), [Verdict::Angle(77)]);

    // A 200-byte line whose CR LF is dropped: too long, and damaged, so bad input, now.
    for _ in 0..200 {
        p.push(b'9');
    }
    p.push(b'\r');
    p.push(b'\n');
    assert_eq!(drain(&mut c, &mut parser), [Verdict::BadInput]);
}
