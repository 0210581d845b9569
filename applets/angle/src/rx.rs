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
//! in progress ([`crate::Parser::overflow`]) and never merges two lines silently.

use core::cell::UnsafeCell;
// portable-atomic: a plain `ld`/`st` for a byte on AVR (core's atomics wrap each one in
// cli ... restore, which is exactly what the receive path must avoid); core's elsewhere.
use portable_atomic::{AtomicU8, Ordering};

/// What the receive path has next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rx {
    Byte(u8),
    /// Bytes were lost here (queue full, or the UART overran).
    Lost,
}

/// A byte queue holding `N` bytes (`N` a power of two, at most 128).
pub struct RxQueue<const N: usize> {
    buf: [UnsafeCell<u8>; N],
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
            return;
        }
        let tail = q.tail.load(Ordering::Relaxed);
        let head = q.head.load(Ordering::Acquire);
        if usize::from(tail.wrapping_sub(head)) >= N {
            self.lose();
            return;
        }
        // SAFETY: the slot is outside what the consumer may read until `tail` moves.
        unsafe { *q.slot(tail) = byte };
        q.tail.store(tail.wrapping_add(1), Ordering::Release);
    }

    /// Record that bytes were lost before the next one (a UART overrun or framing error).
    pub fn lose(&mut self) {
        let q = self.q;
        if q.pending() {
            return;
        }
        q.lost_at
            .store(q.tail.load(Ordering::Relaxed), Ordering::Relaxed);
        let losses = q.losses.load(Ordering::Relaxed);
        q.losses.store(losses.wrapping_add(1), Ordering::Release);
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
            // Everything before the loss has been read: report it, and let the producer
            // queue bytes again.
            q.handled.store(losses, Ordering::Release);
            return Some(Rx::Lost);
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
        assert_eq!(c.pop(), Some(Rx::Lost));
        assert_eq!(c.pop(), None);
        p.push(9);
        p.lose();
        p.push(10);
        assert_eq!(c.pop(), Some(Rx::Byte(9)));
        assert_eq!(c.pop(), Some(Rx::Lost));
        assert_eq!(c.pop(), None);
        p.push(11);
        assert_eq!(c.pop(), Some(Rx::Byte(11)));
        assert_eq!(c.pop(), None);
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
