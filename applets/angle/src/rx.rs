//! The device's receive buffer (spec: "Bytes that arrive while the servo is sweeping are
//! kept … If that buffer ever overflows, the line in progress is answered as
//! `Error: Bad input`"): a single-producer single-consumer byte queue that also says where
//! bytes were lost.
//!
//! The producer is the UART receive interrupt, the consumer the main loop. Every shared
//! word is one byte, so on an 8-bit MCU each load and store is a single instruction and
//! nothing ever disables interrupts (heapless's queue uses 16-bit indices, which AVR can
//! only read atomically with interrupts off; a main loop polling it keeps them off so
//! often that an emulator delivering interrupts between translated blocks never receives).
//!
//! Losses: when the queue is full (or the UART reports an overrun), the producer records
//! the position of the loss and then drops every byte until the consumer has read up to
//! that position and acknowledged it. So the consumer sees all bytes before the loss, then
//! one [`Rx::Lost`], then the bytes that arrived after it: it can poison exactly the line
//! in progress ([`crate::Parser::lost`]) and never merges two lines silently.
//!
//! A loss carries a [`Gap`]: what kinds of bytes were dropped (terminators or not, and in
//! what order), one byte of bookkeeping. Without it, a gap that swallowed the terminator
//! of the line in progress leaves that line unanswered until the host happens to send
//! another terminator: a host that sent a burst during a sweep and overran the buffer
//! would wait for a reply that never comes. With it, the parser knows the line ended in
//! the gap and answers it at once.

use core::cell::UnsafeCell;
// portable-atomic: a plain `ld`/`st` for a byte on AVR (core's atomics wrap each one in
// cli ... restore, which is exactly what the receive path must avoid); core's elsewhere.
use portable_atomic::{AtomicU8, Ordering};

/// What the receive path has next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rx {
    Byte(u8),
    /// Bytes were lost here (queue full, or the UART overran); what kind of bytes.
    Lost(Gap),
}

/// A summary of the bytes one loss dropped, in order: enough for the parser to tell
/// whether the line in progress ended in the gap, whether payload was lost before that
/// (the line's own, or that of lines wholly inside the gap), and how the line after the
/// gap begins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gap(u8);

impl Gap {
    /// A CR or LF was dropped.
    const TERM: u8 = 1;
    /// A payload byte was dropped before the last dropped terminator.
    const BODY: u8 = 2;
    /// A payload byte (or an unknown byte) was dropped after the last dropped terminator.
    const TAIL: u8 = 4;
    /// The last byte dropped was a CR (a LF next belongs to it).
    const CR: u8 = 8;

    /// Nothing dropped yet.
    pub const EMPTY: Gap = Gap(0);
    /// Bytes of unknown value were lost (a UART overrun or framing error), taken as
    /// payload: the line in progress is damaged and goes on after the gap.
    pub const UNKNOWN: Gap = Gap(Gap::TAIL);

    /// The gap with `byte` dropped after what it holds.
    #[must_use]
    pub const fn and(self, byte: u8) -> Gap {
        let f = self.0;
        Gap(if byte == b'\r' || byte == b'\n' {
            let body = if f & Gap::TAIL != 0 { Gap::BODY } else { 0 };
            let cr = if byte == b'\r' { Gap::CR } else { 0 };
            (f & Gap::BODY) | body | Gap::TERM | cr
        } else {
            (f | Gap::TAIL) & !Gap::CR
        })
    }

    /// The gap of these dropped bytes.
    pub fn of(bytes: &[u8]) -> Gap {
        bytes.iter().fold(Gap::EMPTY, |g, &b| g.and(b))
    }

    /// A terminator was dropped: the line in progress ended in the gap.
    pub const fn ends_line(self) -> bool {
        self.0 & Gap::TERM != 0
    }

    /// Payload was dropped before the last dropped terminator: the line in progress lost
    /// some, or whole lines were lost in the gap.
    pub const fn body_lost(self) -> bool {
        self.0 & Gap::BODY != 0
    }

    /// Payload was dropped after the last dropped terminator (or, if none was dropped, at
    /// all): the line after the gap (or the line in progress, going on) lost bytes.
    pub const fn tail_lost(self) -> bool {
        self.0 & Gap::TAIL != 0
    }

    /// The last byte dropped was a CR.
    pub const fn ends_in_cr(self) -> bool {
        self.0 & Gap::CR != 0
    }
}

/// A byte queue holding `N` bytes (`N` a power of two, at most 128).
///
/// `repr(C)`, counters first, so a debugger (or the emulator test, through QEMU's
/// monitor) can read the state of the firmware's queue at a fixed offset: `tail` at 0,
/// `head` at 1, `losses` at 2, `handled` at 3.
#[repr(C)]
pub struct RxQueue<const N: usize> {
    /// Bytes ever queued, modulo 256 (written by the producer only).
    tail: AtomicU8,
    /// Bytes ever taken, modulo 256 (written by the consumer only).
    head: AtomicU8,
    /// Losses recorded (producer only); a loss is pending while it differs from `handled`.
    losses: AtomicU8,
    /// Losses reported to the consumer (consumer only).
    handled: AtomicU8,
    /// `tail` when the pending loss happened (producer only).
    lost_at: AtomicU8,
    /// The [`Gap`] of loss number `n` is in `gaps[n % 2]` (producer only): while the
    /// consumer takes one, the producer may already be writing the next.
    gaps: [AtomicU8; 2],
    buf: [UnsafeCell<u8>; N],
}

// SAFETY: the queue is only used through one `Producer` and one `Consumer` (`split` takes
// `&mut self`); a slot is written by the producer only while the consumer cannot read it
// (between `head + N` and `tail`), and published by the Release store of `tail`.
unsafe impl<const N: usize> Sync for RxQueue<N> {}

impl<const N: usize> Default for RxQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RxQueue<N> {
    const CHECK: () = assert!(
        N.is_power_of_two() && N <= 128,
        "RxQueue: N must be a power of two, at most 128"
    );

    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CHECK;
        RxQueue {
            buf: [const { UnsafeCell::new(0) }; N],
            tail: AtomicU8::new(0),
            head: AtomicU8::new(0),
            losses: AtomicU8::new(0),
            handled: AtomicU8::new(0),
            lost_at: AtomicU8::new(0),
            gaps: [const { AtomicU8::new(0) }; 2],
        }
    }

    /// The two ends: the producer for the interrupt, the consumer for the main loop.
    pub fn split(&mut self) -> (Producer<'_, N>, Consumer<'_, N>) {
        (Producer { q: self }, Consumer { q: self })
    }

    /// How many bytes the queue holds.
    pub const fn capacity(&self) -> usize {
        N
    }

    fn slot(&self, count: u8) -> *mut u8 {
        self.buf[usize::from(count) & (N - 1)].get()
    }

    fn pending(&self) -> bool {
        self.losses.load(Ordering::Acquire) != self.handled.load(Ordering::Acquire)
    }
}

/// The writing end (the receive interrupt).
pub struct Producer<'a, const N: usize> {
    q: &'a RxQueue<N>,
}

impl<const N: usize> Producer<'_, N> {
    /// Queue a received byte; if the queue is full (or a loss is still pending) the byte
    /// is dropped and the loss recorded.
    pub fn push(&mut self, byte: u8) {
        let q = self.q;
        if q.pending() {
            self.drop_byte(byte);
            return;
        }
        let tail = q.tail.load(Ordering::Relaxed);
        let head = q.head.load(Ordering::Acquire);
        if usize::from(tail.wrapping_sub(head)) >= N {
            self.open(Gap::EMPTY.and(byte));
            return;
        }
        // SAFETY: the slot is outside what the consumer may read until `tail` moves.
        unsafe { *q.slot(tail) = byte };
        q.tail.store(tail.wrapping_add(1), Ordering::Release);
    }

    /// Record that bytes of unknown value were lost before the next one (a UART overrun
    /// or framing error).
    pub fn lose(&mut self) {
        if self.q.pending() {
            // Any byte will do that is not a terminator: unknown bytes count as payload.
            self.drop_byte(0);
        } else {
            self.open(Gap::UNKNOWN);
        }
    }

    /// A loss here, at `tail`, with what it dropped so far.
    fn open(&mut self, gap: Gap) {
        let q = self.q;
        q.lost_at
            .store(q.tail.load(Ordering::Relaxed), Ordering::Relaxed);
        let n = q.losses.load(Ordering::Relaxed).wrapping_add(1);
        // The slot of loss n - 2, long taken: the consumer has acknowledged loss n - 1.
        q.gaps[usize::from(n & 1)].store(gap.0, Ordering::Relaxed);
        q.losses.store(n, Ordering::Release);
    }

    /// Drop a byte while a loss is pending: add it to the loss's gap.
    fn drop_byte(&mut self, byte: u8) {
        let q = self.q;
        let n = q.losses.load(Ordering::Relaxed);
        let slot = &q.gaps[usize::from(n & 1)];
        slot.store(
            Gap(slot.load(Ordering::Relaxed)).and(byte).0,
            Ordering::SeqCst,
        );
        // The consumer may have taken the gap between our check that the loss is pending
        // and the store above (threads on a host; an interrupt cannot be interrupted by
        // the main loop). Then it may not have seen this byte: report it as a loss of its
        // own, where the consumer now is. (If it did see it, the byte counts twice, which
        // is harmless: a gap of one terminator ends a line that is empty by then, a gap
        // of one payload byte poisons a line that is poisoned already.)
        if q.handled.load(Ordering::SeqCst) == n {
            self.open(Gap::EMPTY.and(byte));
        }
    }
}

/// The reading end (the main loop).
pub struct Consumer<'a, const N: usize> {
    q: &'a RxQueue<N>,
}

impl<const N: usize> Consumer<'_, N> {
    /// The next byte, or the loss that comes next, if any. Never blocks.
    pub fn pop(&mut self) -> Option<Rx> {
        let q = self.q;
        let head = q.head.load(Ordering::Relaxed);
        let losses = q.losses.load(Ordering::Acquire);
        if losses != q.handled.load(Ordering::Relaxed) && q.lost_at.load(Ordering::Relaxed) == head
        {
            // Everything before the loss has been read: let the producer queue bytes
            // again, then take the gap, now complete (see `Producer::drop_byte`).
            q.handled.store(losses, Ordering::SeqCst);
            let gap = q.gaps[usize::from(losses & 1)].load(Ordering::SeqCst);
            return Some(Rx::Lost(Gap(gap)));
        }
        if q.tail.load(Ordering::Acquire) == head {
            return None;
        }
        // SAFETY: the slot was published by the producer's Release store of `tail`, and
        // it will not write it again before `head` moves past it.
        let byte = unsafe { *q.slot(head) };
        q.head.store(head.wrapping_add(1), Ordering::Release);
        Some(Rx::Byte(byte))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_drains_and_marks_the_loss() {
        let mut q = RxQueue::<4>::new();
        let (mut p, mut c) = q.split();
        assert_eq!(c.pop(), None);
        for b in 1..=6 {
            p.push(b);
        }
        // 1–4 kept, 5 and 6 lost; 7 too, as the loss is not yet read.
        p.push(7);
        assert_eq!(c.pop(), Some(Rx::Byte(1)));
        p.push(8);
        for b in 2..=4 {
            assert_eq!(c.pop(), Some(Rx::Byte(b)));
        }
        assert_eq!(c.pop(), Some(Rx::Lost(Gap::of(&[5, 6, 7, 8]))));
        assert_eq!(c.pop(), None);
        p.push(9);
        p.lose();
        p.push(10);
        assert_eq!(c.pop(), Some(Rx::Byte(9)));
        assert_eq!(c.pop(), Some(Rx::Lost(Gap::UNKNOWN.and(10))));
        assert_eq!(c.pop(), None);
        p.push(11);
        assert_eq!(c.pop(), Some(Rx::Byte(11)));
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn a_gap_says_where_lines_ended_in_it() {
        let g = Gap::of(b"12");
        assert!(!g.ends_line() && !g.body_lost() && g.tail_lost());
        let g = Gap::of(b"\n");
        assert!(g.ends_line() && !g.body_lost() && !g.tail_lost() && !g.ends_in_cr());
        let g = Gap::of(b"9\r");
        assert!(g.ends_line() && g.body_lost() && !g.tail_lost() && g.ends_in_cr());
        let g = Gap::of(b"\r\n45");
        assert!(g.ends_line() && !g.body_lost() && g.tail_lost() && !g.ends_in_cr());
        let g = Gap::of(b"\n2\n3");
        assert!(g.ends_line() && g.body_lost() && g.tail_lost());
        let g = Gap::of(b"\r\n\r");
        assert!(g.ends_line() && !g.body_lost() && !g.tail_lost() && g.ends_in_cr());
        let g = Gap::UNKNOWN.and(b'\n');
        assert!(g.ends_line() && g.body_lost() && !g.tail_lost());
    }

    #[test]
    fn a_burst_whose_terminator_is_dropped_says_so() {
        // A host sends a 9-byte line into a 4-byte queue nobody reads (the main loop is
        // sweeping): its CR LF is dropped, and the loss says a line ended in the gap.
        let mut q = RxQueue::<4>::new();
        let (mut p, mut c) = q.split();
        for &b in b"9999999\r\n" {
            p.push(b);
        }
        for _ in 0..4 {
            assert_eq!(c.pop(), Some(Rx::Byte(b'9')));
        }
        assert_eq!(c.pop(), Some(Rx::Lost(Gap::of(b"999\r\n"))));
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn the_next_loss_uses_the_other_gap_slot() {
        let mut q = RxQueue::<2>::new();
        let (mut p, mut c) = q.split();
        // Two bytes kept, the third dropped: three losses in turn, each with its own gap.
        for input in [b"12\n", b"34x", b"56\r"] {
            for &b in input {
                p.push(b);
            }
            assert_eq!(c.pop(), Some(Rx::Byte(input[0])));
            assert_eq!(c.pop(), Some(Rx::Byte(input[1])));
            assert_eq!(c.pop(), Some(Rx::Lost(Gap::of(&input[2..]))));
            assert_eq!(c.pop(), None);
        }
    }

    #[test]
    fn counters_wrap() {
        let mut q = RxQueue::<128>::new();
        let (mut p, mut c) = q.split();
        for round in 0..20u32 {
            for i in 0..100u32 {
                p.push((round * 100 + i) as u8);
            }
            for i in 0..100u32 {
                assert_eq!(c.pop(), Some(Rx::Byte((round * 100 + i) as u8)));
            }
            assert_eq!(c.pop(), None);
        }
    }
}
