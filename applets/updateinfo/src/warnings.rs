//! Warnings on standard error, capped: the first [`SHOWN`] as they come, then one line
//! counting the rest (a hostile file can hold millions of broken advisories).

use std::cell::Cell;
use std::fmt;

/// Warnings printed before the rest are only counted.
pub const SHOWN: usize = 100;

/// [`opsbox_common::diag::Diag`], capped at [`SHOWN`] warnings; the count of those not
/// shown is printed when it is dropped.
#[derive(Debug)]
pub struct Diag {
    inner: opsbox_common::diag::Diag,
    count: Cell<usize>,
}

impl Diag {
    pub fn new(applet: &'static str) -> Self {
        Diag {
            inner: opsbox_common::diag::Diag::new(applet),
            count: Cell::new(0),
        }
    }
    /// Count warnings but print none (`-q`).
    pub fn quiet(mut self, quiet: bool) -> Self {
        let inner = std::mem::replace(&mut self.inner, opsbox_common::diag::Diag::new(""));
        self.inner = inner.quiet(quiet);
        self
    }
    /// `APPLET: warning: message`, for the first [`SHOWN`].
    pub fn warn(&self, message: impl fmt::Display) {
        self.count.set(self.count.get() + 1);
        if self.count.get() <= SHOWN {
            self.inner.warn(message);
        }
    }
    /// `APPLET: message` (not counted).
    pub fn note(&self, message: impl fmt::Display) {
        self.inner.note(message);
    }
    /// All warnings, shown or not.
    pub fn warnings(&self) -> usize {
        self.count.get()
    }
}

impl Drop for Diag {
    fn drop(&mut self) {
        let n = self.count.get();
        if n > SHOWN {
            self.inner.note(format!(
                "warning: {} more warnings not shown ({n} in all)",
                n - SHOWN
            ));
        }
    }
}
