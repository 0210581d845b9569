//! A byte buffer for building XML out of many short pieces. musl's `memcpy` (what
//! `Vec::extend_from_slice` ends in) is `rep movsq` plus byte moves: slow to start, and an
//! advisory's XML is hundreds of pieces of a few bytes each. Here a short piece is copied
//! with at most two fixed-size (overlapping) moves the compiler inlines; only long pieces
//! go through `memcpy`. The buffer is reused from advisory to advisory.

#[derive(Debug)]
pub struct Frag {
    /// Always at least `n + SLACK` long (zero-filled once, when it grows).
    b: Vec<u8>,
    n: usize,
    /// Once it outgrows its first capacity, it grows to this at once, in huge pages
    /// ([`Frag::growing_huge`]); 0: it doubles.
    huge: usize,
}

/// The longest piece copied inline.
const SHORT: usize = 64;

impl Default for Frag {
    /// An empty buffer that grows as needed.
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl Frag {
    pub fn new() -> Self {
        Self::with_capacity(1 << 14)
    }

    pub fn with_capacity(n: usize) -> Self {
        Frag {
            b: vec![0; n],
            n: 0,
            huge: 0,
        }
    }

    /// A buffer of `first` bytes that, once it outgrows them, becomes one of `big` bytes in
    /// transparent huge pages (where the kernel gives them "on request"): filling it then
    /// takes a page fault per 2 MiB, not per 4 KiB (tens of milliseconds for the records
    /// kept in memory), and a small input never touches a huge page.
    pub fn growing_huge(first: usize, big: usize) -> Self {
        Frag {
            huge: big,
            ..Self::with_capacity(first)
        }
    }

    /// A buffer of `n` bytes (zeroed lazily by the kernel), in huge pages where it can be.
    fn huge_buffer(n: usize) -> Vec<u8> {
        const HUGE: usize = 2 << 20;
        let b = vec![0; n];
        let start = b.as_ptr() as usize;
        let (from, to) = (
            start.next_multiple_of(HUGE),
            (start + b.len()) / HUGE * HUGE,
        );
        if to > from {
            // SAFETY: the range is inside the buffer's allocation (whole pages of it); the
            // advice changes how its pages are backed, never what they hold.
            let _ = unsafe {
                rustix::mm::madvise(
                    from as *mut std::ffi::c_void,
                    to - from,
                    rustix::mm::Advice::LinuxHugepage,
                )
            };
        }
        b
    }

    pub fn clear(&mut self) {
        self.n = 0;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.b[..self.n]
    }

    /// Bytes it can hold before it grows.
    pub fn capacity(&self) -> usize {
        self.b.len()
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Keep the first `n` bytes.
    pub fn truncate(&mut self, n: usize) {
        self.n = self.n.min(n);
    }

    /// Append `s`.
    #[inline(always)]
    pub fn put(&mut self, s: &[u8]) {
        let n = s.len();
        if n > SHORT {
            return self.put_long(s);
        }
        if self.n + SHORT > self.b.len() {
            self.grow(SHORT);
        }
        let at = self.n;
        let d = &mut self.b[at..at + SHORT];
        if n >= 32 {
            d[..32].copy_from_slice(&s[..32]);
            d[n - 32..n].copy_from_slice(&s[n - 32..]);
        } else if n >= 16 {
            d[..16].copy_from_slice(&s[..16]);
            d[n - 16..n].copy_from_slice(&s[n - 16..]);
        } else if n >= 8 {
            d[..8].copy_from_slice(&s[..8]);
            d[n - 8..n].copy_from_slice(&s[n - 8..]);
        } else if n >= 4 {
            d[..4].copy_from_slice(&s[..4]);
            d[n - 4..n].copy_from_slice(&s[n - 4..]);
        } else if n > 0 {
            d[0] = s[0];
            d[n / 2] = s[n / 2];
            d[n - 1] = s[n - 1];
        }
        self.n = at + n;
    }

    /// Overwrite bytes already written, from `at` (nothing past the end is written).
    pub fn patch(&mut self, at: usize, b: &[u8]) {
        if let Some(d) = self.b[..self.n].get_mut(at..at + b.len()) {
            d.copy_from_slice(b);
        }
    }

    /// Append one byte.
    #[inline(always)]
    pub fn byte(&mut self, c: u8) {
        if self.n >= self.b.len() {
            self.grow(1);
        }
        self.b[self.n] = c;
        self.n += 1;
    }

    /// Append a number in decimal.
    pub fn num(&mut self, mut v: u32) {
        let mut t = [0u8; 10];
        let mut i = t.len();
        loop {
            i -= 1;
            t[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&t[i..]);
    }

    #[inline(never)]
    fn put_long(&mut self, s: &[u8]) {
        if self.n + s.len() > self.b.len() {
            self.grow(s.len());
        }
        self.b[self.n..self.n + s.len()].copy_from_slice(s);
        self.n += s.len();
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, extra: usize) {
        let want = (self.n + extra + SHORT).max(self.b.len() * 2);
        if self.huge > self.b.len() {
            let mut b = Self::huge_buffer(want.max(self.huge));
            b[..self.n].copy_from_slice(&self.b[..self.n]);
            self.b = b;
            self.huge = 0;
            return;
        }
        self.b.resize(want, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_and_growth() {
        let src: Vec<u8> = (0..200u8).collect();
        let mut f = Frag::new();
        let mut want = Vec::new();
        for round in 0..200 {
            for n in 0..=70 {
                let s = &src[n % 7..n % 7 + n];
                f.put(s);
                want.extend_from_slice(s);
            }
            f.byte(b'x');
            want.push(b'x');
            f.num(round * 4099);
            want.extend_from_slice((round * 4099).to_string().as_bytes());
        }
        assert_eq!(f.as_bytes(), &want[..]);
        // one that grows into a big buffer at once keeps what it holds
        let mut g = Frag::growing_huge(1024, 4 << 20);
        g.put(&want[..10]);
        assert_eq!(g.capacity(), 1024);
        g.put(&want[10..]);
        assert_eq!(g.as_bytes(), &want[..]);
        assert_eq!(g.capacity(), (4 << 20).max(want.len() + SHORT));
        f.truncate(3);
        assert_eq!(f.as_bytes(), &want[..3]);
        f.clear();
        f.num(0);
        f.num(u32::MAX);
        assert_eq!(f.as_bytes(), b"04294967295");
    }
}
