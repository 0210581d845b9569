//! Non-fatal diagnostics: `APPLET: warning: message` on stderr, counted, while the applet
//! carries on. Every line is passed through [`crate::escape::controls`]: one line, whatever
//! the input held.

use std::cell::Cell;
use std::fmt;
use std::io::Write;

/// Counts and prints warnings for one applet run.
#[derive(Debug)]
pub struct Diag {
    applet: &'static str,
    quiet: bool,
    warnings: Cell<usize>,
}

impl Diag {
    pub fn new(applet: &'static str) -> Self {
        Diag {
            applet,
            quiet: false,
            warnings: Cell::new(0),
        }
    }
    /// Count warnings but print none (`-q`).
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }
    /// `APPLET: warning: message`.
    pub fn warn(&self, message: impl fmt::Display) {
        self.warnings.set(self.warnings.get() + 1);
        if !self.quiet {
            let line = message.to_string();
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}: warning: {}",
                self.applet,
                crate::escape::controls(&line)
            );
        }
    }
    /// `APPLET: message` (an informational line on stderr, not counted).
    pub fn note(&self, message: impl fmt::Display) {
        if !self.quiet {
            let line = message.to_string();
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}: {}",
                self.applet,
                crate::escape::controls(&line)
            );
        }
    }
    pub fn warnings(&self) -> usize {
        self.warnings.get()
    }
}
