//! The receive queue between a real producer thread and a real consumer thread: bytes come
//! out in order, and every gap in the stream is marked by exactly one loss.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use angle::rx::{Rx, RxQueue};

#[test]
fn order_is_kept_and_every_gap_is_marked() {
    const BYTES: u32 = 100_000;
    let mut q = RxQueue::<64>::new();
    let done = AtomicBool::new(false);
    let (mut p, mut c) = q.split();
    let (kept, losses) = thread::scope(|s| {
        s.spawn(|| {
            for i in 0..BYTES {
                // The stream counts 0..251 over and over: a gap shows as a jump.
                p.push((i % 251) as u8);
                if i % 97 == 0 {
                    thread::yield_now();
                }
            }
            done.store(true, Ordering::Release);
        });
        let mut expect: Option<u8> = Some(0);
        let (mut kept, mut losses) = (0u32, 0u32);
        loop {
            let finished = done.load(Ordering::Acquire);
            match c.pop() {
                Some(Rx::Byte(b)) => {
                    if let Some(e) = expect {
                        assert_eq!(b, e, "byte {kept}: a gap without a loss");
                    }
                    expect = Some(((u32::from(b) + 1) % 251) as u8);
                    kept += 1;
                }
                Some(Rx::Lost) => {
                    assert!(expect.is_some(), "two losses in a row");
                    expect = None;
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
