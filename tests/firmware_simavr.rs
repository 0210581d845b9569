//! The firmware where the servo sees it: dist/firmware.elf (or $OPSBOX_FIRMWARE_ELF) on an
//! ATmega328P in simavr, a second emulator beside QEMU (which cannot show ICR1 or DDRB).
//! `tests/simavr/harness.c`, compiled here against libsimavr, runs it with its UART on a
//! pty and prints every write to the timer, port and UART registers and every edge on
//! pin 9; this file checks them against the datasheet and the spec.
//!
//! The pulse width is derived from the registers, not from simavr's pin: simavr 1.6 drops
//! the pin a few cycles after BOTTOM in fast PWM mode 14 whatever OCR1A holds, so its edges
//! give the frame (rising edge to rising edge), and the width is (OCR1A + 1) timer ticks,
//! OCR1A being the value latched at BOTTOM (mode 14 updates OCR1x at BOTTOM, datasheet
//! table 15-5), a tick being the prescaler's cycles at 16 MHz.

#[path = "ser2tcp_support/netns.rs"]
mod netns;
mod support;

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use support::*;

const WAIT: Duration = Duration::from_secs(60);
const F_CPU: f64 = 16_000_000.0;
const OK: &str = "OK: Good to go";

/// The sweep's step delay the firmware was built with (`ANGLE_STEP_MS`, default 15).
fn step_ms() -> u64 {
    std::env::var("ANGLE_STEP_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15)
}

/// The Arduino Servo library's pulse for an angle: map(a, 0, 180, 544, 2400), in µs.
fn servo_us(a: u32) -> f64 {
    f64::from(544 + a * (2400 - 544) / 180)
}

/// The harness, compiled once per test run; `None` (a skip) without gcc or libsimavr-dev.
fn harness_bin() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        if !have_tool("gcc") {
            return None;
        }
        if !Path::new("/usr/include/simavr/sim_avr.h").is_file() {
            assert!(
                !strict(),
                "libsimavr-dev is not installed: scripts/setup should have installed it"
            );
            eprintln!("skipped: libsimavr-dev is not installed (scripts/setup firmware)");
            return None;
        }
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("simavr-harness-{}", std::process::id()));
        let o = run(Command::new("gcc")
            .args([
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-I/usr/include/simavr",
                "-o",
            ])
            .arg(&out)
            .arg(root().join("tests/simavr/harness.c"))
            .arg("-lsimavr"));
        assert!(o.status.success(), "gcc harness.c: {}", stderr(&o));
        Some(out)
    })
    .as_deref()
}

#[derive(Clone, Debug, PartialEq)]
enum Ev {
    /// A register write: cycle, register, value.
    W(u64, String, u32),
    Rise(u64),
    Fall(u64),
    /// The UART has sent this many bytes in all (before they reach the pty).
    Tx(u64),
}

/// The emulated UNO: the harness process, its events, and its UART's pty.
struct Uno {
    child: Child,
    events: Arc<Mutex<Vec<Ev>>>,
    /// The pty the AVR's UART is on.
    pty: String,
    /// The test's end of it (not opened when ser2tcp is to have it alone).
    uart: Option<File>,
    rx: Vec<u8>,
    /// Bytes read from the UART so far.
    received: u64,
}

impl Uno {
    /// Boot, and open the UART's pty for the test.
    fn boot(elf: &Path, harness: &Path) -> Uno {
        let mut uno = Uno::boot_alone(elf, harness);
        uno.uart = Some(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(
                    (rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::NONBLOCK).bits() as i32,
                )
                .open(&uno.pty)
                .unwrap(),
        );
        uno
    }

    /// Boot, leaving the UART's pty to another program.
    fn boot_alone(elf: &Path, harness: &Path) -> Uno {
        let mut child = Command::new(harness)
            .arg(elf)
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the simavr harness");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let w: Vec<&str> = line.split(' ').collect();
                let n = |i: usize| w.get(i).and_then(|s| s.parse::<u64>().ok());
                let ev = match (w[0], n(1)) {
                    ("ready", _) => {
                        let _ = tx.send(w[1].to_string());
                        continue;
                    }
                    ("w", Some(c)) => Ev::W(c, w[2].to_string(), n(3).unwrap() as u32),
                    ("rise", Some(c)) => Ev::Rise(c),
                    ("fall", Some(c)) => Ev::Fall(c),
                    ("tx", Some(n)) => Ev::Tx(n),
                    ("stop", _) => panic!("the AVR stopped: {line}"),
                    _ => continue, // simavr's own chatter ("Loaded ... .text")
                };
                sink.lock().unwrap().push(ev);
            }
        });
        let pty = rx.recv_timeout(WAIT).expect("the harness did not start");
        Uno {
            child,
            events,
            pty,
            uart: None,
            rx: Vec::new(),
            received: 0,
        }
    }

    fn events(&self) -> Vec<Ev> {
        self.events.lock().unwrap().clone()
    }

    /// The writes to `reg`: (cycle, value).
    fn writes(&self, reg: &str) -> Vec<(u64, u32)> {
        writes(&self.events(), reg)
    }

    fn send(&mut self, bytes: &[u8]) {
        let mut at = 0;
        let deadline = Instant::now() + WAIT;
        while at < bytes.len() {
            match self.uart.as_mut().unwrap().write(&bytes[at..]) {
                Ok(n) => at += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the UART takes nothing");
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("writing the UART: {e}"),
            }
        }
    }

    /// The next `n` lines the device sends (CR LF terminated, exactly).
    fn lines(&mut self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        while out.len() < n {
            if let Some(i) = self.rx.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.rx.drain(..i + 2).collect();
                let text = String::from_utf8_lossy(&line[..i]).into_owned();
                assert!(!text.contains(['\r', '\n']), "a bare CR or LF in {text:?}");
                out.push(text);
                continue;
            }
            match self.uart.as_mut().unwrap().read(&mut buf) {
                Ok(k) if k > 0 => {
                    self.rx.extend_from_slice(&buf[..k]);
                    self.received += k as u64;
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "no line from the device after {out:?} (pending {:?})",
                        String::from_utf8_lossy(&self.rx)
                    );
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("reading the UART: {e}"),
            }
        }
        out
    }

    fn exchange(&mut self, input: &[u8], replies: &[&str]) {
        self.send(input);
        assert_eq!(
            self.lines(replies.len()),
            replies,
            "after {:?}",
            String::from_utf8_lossy(input)
        );
        self.sync(self.received);
    }

    /// Wait until the events include everything that happened before the UART's first
    /// `sent` bytes (the harness says "tx" before it passes bytes on).
    fn sync(&self, sent: u64) {
        let deadline = Instant::now() + WAIT;
        while !self
            .events()
            .iter()
            .any(|e| matches!(e, Ev::Tx(n) if *n >= sent))
        {
            assert!(Instant::now() < deadline, "no tx {sent} from the harness");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Uno {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Uno {
    /// Wait until simavr has run a whole frame past the last OCR1A write; returns the
    /// pulse width of that frame (µs), from the registers.
    fn settled_pulse_us(&self) -> f64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let ev = self.events();
            let t = Timer1::from(&ev);
            let ocr = writes(&ev, "OCR1A");
            let (at, _) = *ocr.last().unwrap();
            let frames = t.frames(&ocr, last(&ev));
            if let Some((bottom, v)) = frames.last()
                && *bottom > at
            {
                return t.width_us(*v);
            }
            assert!(Instant::now() < deadline, "simavr stopped running");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn writes(events: &[Ev], reg: &str) -> Vec<(u64, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            Ev::W(c, r, v) if r == reg => Some((*c, *v)),
            _ => None,
        })
        .collect()
}

/// Timer1 as the datasheet runs it, rebuilt from the register writes.
struct Timer1 {
    /// The cycle the clock was started (TCNT1 = 0 then: BOTTOM of frame 0).
    start: u64,
    /// CPU cycles per timer tick.
    prescale: u64,
    /// TOP + 1: ticks per frame.
    period: u64,
}

impl Timer1 {
    fn from(events: &[Ev]) -> Timer1 {
        let tccr1b = writes(events, "TCCR1B");
        let icr1 = writes(events, "ICR1");
        let (start, b) = *tccr1b
            .iter()
            .find(|(_, v)| v & 7 != 0)
            .expect("Timer1 never started");
        let prescale = match b & 7 {
            1 => 1,
            2 => 8,
            3 => 64,
            4 => 256,
            5 => 1024,
            cs => panic!("Timer1 on an external clock (CS1 = {cs})"),
        };
        let (_, top) = *icr1
            .iter()
            .rfind(|(c, _)| *c <= start)
            .expect("ICR1 not set before the clock started");
        Timer1 {
            start,
            prescale,
            period: u64::from(top) + 1,
        }
    }

    fn frame_cycles(&self) -> u64 {
        self.period * self.prescale
    }

    /// TCNT1 at `cycle`.
    fn tcnt(&self, cycle: u64) -> u64 {
        (cycle - self.start) / self.prescale % self.period
    }

    /// The BOTTOM of frame `k`.
    fn bottom(&self, k: u64) -> u64 {
        self.start + k * self.frame_cycles()
    }

    /// Every whole frame up to `until` from frame 1 on: (BOTTOM, OCR1A latched there).
    fn frames(&self, ocr1a: &[(u64, u32)], until: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        let mut k = 1;
        while self.bottom(k + 1) <= until {
            let at = self.bottom(k);
            let latched = ocr1a
                .iter()
                .rfind(|(c, _)| *c < at)
                .map(|(_, v)| *v)
                .expect("no OCR1A before the frame");
            out.push((at, latched));
            k += 1;
        }
        out
    }

    /// The pulse width in µs for an OCR1A value: high from BOTTOM through OCR1A.
    fn width_us(&self, ocr: u32) -> f64 {
        (f64::from(ocr) + 1.0) * self.prescale as f64 / F_CPU * 1e6
    }
}

fn last(events: &[Ev]) -> u64 {
    events
        .iter()
        .map(|e| match e {
            Ev::W(c, ..) | Ev::Rise(c) | Ev::Fall(c) => *c,
            Ev::Tx(_) => 0,
        })
        .max()
        .unwrap_or(0)
}

fn setup() -> Option<(PathBuf, &'static Path)> {
    let elf = firmware(&["gcc"])?;
    let harness = harness_bin()?;
    Some((elf, harness))
}

#[test]
fn the_servo_and_the_uart_as_the_datasheet_has_them() {
    let Some((elf, harness)) = setup() else {
        return;
    };
    let mut uno = Uno::boot(&elf, harness);
    assert_eq!(uno.lines(1), [OK], "the boot line");
    uno.sync(uno.received);

    // The UART: UBRR0 16 with U2X (the Arduino core's and bootloader's 115200), 8N1,
    // receiver with its interrupt and transmitter on.
    let ev = uno.events();
    assert_eq!(writes(&ev, "UBRR0"), [(writes(&ev, "UBRR0")[0].0, 16)]);
    let u2x = writes(&ev, "UCSR0A").last().unwrap().1 & 0b10 != 0;
    assert!(u2x, "U2X0 not set");
    assert_eq!(writes(&ev, "UCSR0C").last().unwrap().1, 0b110, "8N1");
    assert_eq!(
        writes(&ev, "UCSR0B").last().unwrap().1,
        0x98,
        "RXCIE0|RXEN0|TXEN0"
    );
    let baud = F_CPU / (8.0 * 17.0);
    let err = (baud / 115_200.0 - 1.0) * 100.0;
    eprintln!("baud: UBRR0 16, U2X: {baud:.0} baud, {err:+.2} % against 115200");
    assert!((err - 2.12).abs() < 0.01);

    // Pin 9 (PB1) is an output.
    let ddrb = writes(&ev, "DDRB");
    assert!(
        ddrb.last().is_some_and(|(_, v)| v & 0b10 != 0),
        "DDRB bit 1 not set: {ddrb:?}"
    );

    // Timer1: fast PWM mode 14 (TOP = ICR1), OC1A non-inverting, clock / 8; the frame
    // 20 ms within 0.5 %, by the registers and by simavr's rising edges on pin 9.
    let t = Timer1::from(&ev);
    let tccr1a = writes(&ev, "TCCR1A");
    let tccr1b = writes(&ev, "TCCR1B");
    let wgm = (tccr1a.last().unwrap().1 & 3) | ((tccr1b.last().unwrap().1 >> 3) & 3) << 2;
    assert_eq!(wgm, 14, "Timer1 mode");
    assert_eq!(
        tccr1a.last().unwrap().1 & 0xC0,
        0x80,
        "COM1A: non-inverting"
    );
    let frame_ms = t.frame_cycles() as f64 / F_CPU * 1e3;
    eprintln!(
        "frame: ICR1 {}, prescaler {}: {frame_ms:.3} ms",
        t.period - 1,
        t.prescale
    );
    assert!((frame_ms - 20.0).abs() <= 0.1, "{frame_ms} ms");
    // the servo at 90 at power-up
    let ocr = writes(&ev, "OCR1A");
    assert_eq!(t.width_us(ocr.last().unwrap().1), servo_us(90));

    // Every degree: sweep to 0, then to 180, each step's OCR1A against the Servo
    // library's mapping within 1 µs; one write per degree, ending exactly on the target.
    let before = ocr.len();
    uno.exchange(b"0\n", &["Input angle: 0", OK]);
    let mid = uno.writes("OCR1A").len();
    uno.exchange(b"180\n", &["Input angle: 180", OK]);
    let ev = uno.events();
    let ocr = writes(&ev, "OCR1A");
    let down: Vec<f64> = ocr[before..mid].iter().map(|w| t.width_us(w.1)).collect();
    let up = &ocr[mid..];
    let expect_down: Vec<f64> = (0..90).rev().map(servo_us).collect();
    assert_eq!(down.len(), 90, "90 → 0 is 90 steps");
    for (got, want) in down.iter().zip(&expect_down) {
        assert!((got - want).abs() <= 1.0, "{got} µs for {want} µs");
    }
    assert_eq!(up.len(), 180, "0 → 180 is 180 steps");
    for (i, (_, v)) in up.iter().enumerate() {
        let a = i as u32 + 1;
        let w = t.width_us(*v);
        assert!((w - servo_us(a)).abs() <= 1.0, "{a}°: {w} µs");
    }
    assert_eq!(t.width_us(ocr[mid - 1].1), 544.0);
    assert_eq!(t.width_us(up[179].1), 2400.0);
    eprintln!(
        "pulse: 0° {} µs, 90° {} µs, 180° {} µs",
        t.width_us(ocr[mid - 1].1),
        t.width_us(up[89].1),
        t.width_us(up[179].1)
    );

    // The sweep rate: one degree every ANGLE_STEP_MS (and a little for the loop).
    let steps: Vec<f64> = up
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) as f64 / F_CPU * 1e3)
        .collect();
    let want = step_ms() as f64;
    let mean = steps.iter().sum::<f64>() / steps.len() as f64;
    let (lo, hi) = steps
        .iter()
        .fold((f64::MAX, 0.0f64), |(l, h), s| (l.min(*s), h.max(*s)));
    eprintln!(
        "sweep: {mean:.3} ms a degree (from {lo:.3} to {hi:.3}), 180° in {:.3} s",
        (up[179].0 - up[0].0) as f64 / F_CPU
    );
    assert!(
        lo >= want && hi <= want * 1.01,
        "steps {lo}..{hi} ms for {want} ms"
    );
    // nothing written after the target: no overshoot, no correction
    uno.exchange(b"180\n", &["Input angle: 180", OK]);
    assert_eq!(
        uno.writes("OCR1A").len(),
        ocr.len(),
        "a sweep to where it is"
    );

    // No runt or doubled frame while angles change mid-frame: the timer's mode, clock, TOP
    // and output mode never change after start (so OCR1A is only taken at BOTTOM), every
    // frame by the registers is whole with the width of an angle passed through, and
    // simavr's rising edges fall on the BOTTOMs, one a frame.
    let ev = uno.events();
    let until = last(&ev);
    assert_eq!(writes(&ev, "TCCR1B").len(), 1, "TCCR1B rewritten");
    assert_eq!(writes(&ev, "ICR1").len(), 1, "ICR1 rewritten");
    assert!(writes(&ev, "TCNT1").is_empty(), "TCNT1 written");
    let tccr1a = writes(&ev, "TCCR1A");
    let on = tccr1a.iter().position(|(_, v)| *v == 0x82).unwrap();
    assert!(tccr1a[on..].iter().all(|(_, v)| *v == 0x82), "{tccr1a:?}");
    let ocr = writes(&ev, "OCR1A");
    let mut mid_pulse = 0;
    for w in ocr.windows(2).skip(2) {
        let tcnt = t.tcnt(w[1].0);
        if tcnt <= u64::from(w[0].1.max(w[1].1)) {
            mid_pulse += 1;
        }
    }
    assert!(mid_pulse > 0, "no OCR1A write landed during a pulse");
    let frames = t.frames(&ocr, until);
    let angles: Vec<f64> = (0..=180).map(servo_us).collect();
    for (at, v) in &frames {
        let w = t.width_us(*v);
        assert!(
            angles.iter().any(|a| (a - w).abs() <= 1.0),
            "a runt: {w} µs at cycle {at}"
        );
    }
    let rises: Vec<u64> = ev
        .iter()
        .filter_map(|e| match e {
            Ev::Rise(c) => Some(*c),
            _ => None,
        })
        .collect();
    let frames_seen = rises.len();
    let gaps: Vec<u64> = rises.windows(2).map(|p| p[1] - p[0]).collect();
    let (gmin, gmax) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
    for pair in rises.windows(2) {
        let d = pair[1] - pair[0];
        assert!(
            d.abs_diff(t.frame_cycles()) <= t.frame_cycles() / 200,
            "a frame of {d} cycles between rises at {} and {}",
            pair[0],
            pair[1]
        );
    }
    for (k, r) in rises.iter().enumerate() {
        assert!(
            r.abs_diff(t.bottom(k as u64 + 1)) <= 8,
            "rise {k} at {r}, BOTTOM at {}",
            t.bottom(k as u64 + 1)
        );
    }
    eprintln!(
        "frames: {frames_seen} rising edges, {gmin} to {gmax} cycles apart ({:.4} to {:.4} ms); {} OCR1A writes, {mid_pulse} of them during a pulse; no runt, no doubled frame",
        *gmin as f64 / F_CPU * 1e3,
        *gmax as f64 / F_CPU * 1e3,
        ocr.len()
    );

    // The whole protocol over the UART, exact replies (spec: "Replies").
    uno.exchange(b"090\r", &["Input angle: 90", OK]);
    uno.exchange(b"\n7\r\n", &["Input angle: 7", OK]);
    uno.exchange(b"7\n", &["Input angle: 7", OK]);
    let before = uno.writes("OCR1A").len();
    uno.exchange(b"181\n", &["Error: Bad angle", OK]);
    uno.exchange(b"999\r\n", &["Error: Bad angle", OK]);
    uno.exchange(b"-5\n", &["Error: Bad input", OK]);
    uno.exchange(b"abc\r", &["Error: Bad input", OK]);
    uno.exchange(b"\n 9\n", &["Error: Bad input", OK]);
    uno.exchange(b"\x01\n", &["Error: Bad input", OK]);
    uno.exchange(b"\xff\xfe\r\n", &["Error: Bad input", OK]);
    uno.exchange(b"1234\n", &["Error: Angle more than 3 bytes", OK]);
    let long = [b"9".repeat(200), b"\r\n".to_vec()].concat();
    uno.exchange(&long, &["Error: Angle more than 3 bytes", OK]);
    assert_eq!(
        uno.writes("OCR1A").len(),
        before,
        "a bad line moved the servo"
    );
    // empty lines: nothing; then a burst sent without waiting, answered in order
    uno.exchange(
        b"\r\n\n\r\n10\n11\r12\r\n",
        &[
            "Input angle: 10",
            OK,
            "Input angle: 11",
            OK,
            "Input angle: 12",
            OK,
        ],
    );
    let ocr = uno.writes("OCR1A");
    assert_eq!(t.width_us(ocr.last().unwrap().1), servo_us(12));
}

/// ser2tcp in a network namespace; its log lines come through a channel.
struct Ser2tcp {
    child: Child,
    log: std::sync::mpsc::Receiver<String>,
    port: u16,
}

impl Ser2tcp {
    fn start(ns: &netns::Ns, args: &[&str]) -> Ser2tcp {
        let mut child = ns
            .cmd(links_dir().join("ser2tcp"))
            .args(args)
            .args(["-P", "0"])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ser2tcp");
        let (tx, log) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut s = Ser2tcp {
            child,
            log,
            port: 0,
        };
        let line = s.wait_log("listening on ");
        s.port = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split([' ', ',']).next())
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        s
    }

    fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no ser2tcp log line with {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for Ser2tcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read CR LF lines from a socket.
fn socket_lines(s: &mut std::net::TcpStream, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while out.len() < n {
        match s.read(&mut b) {
            Ok(1) => {
                line.push(b[0]);
                if line.ends_with(b"\r\n") {
                    line.truncate(line.len() - 2);
                    out.push(String::from_utf8_lossy(&line).into_owned());
                    line.clear();
                }
            }
            Ok(_) => panic!("ser2tcp closed the connection after {out:?}"),
            Err(e) => panic!("reading from ser2tcp after {out:?}: {e}"),
        }
    }
    out
}

#[test]
fn from_a_colleagues_keyboard_to_the_pulse_on_pin_9() {
    let Some((elf, harness)) = setup() else {
        return;
    };
    let Some(net) = netns::Link::new() else {
        return;
    };
    let uno = Uno::boot_alone(&elf, harness);
    // what the device has said (the boot line, then the replies to forwarded angles)
    let mut device_said = OK.len() as u64 + 2;
    let office: std::net::SocketAddr = format!("{}:0", netns::OFFICE).parse().unwrap();
    // as a real setup: bound to the office side's address, only the colleague's network
    // (and loopback) let in
    for angle_mode in [false, true] {
        let mut args = vec![
            "-b",
            "115200",
            "-p",
            uno.pty.as_str(),
            "--bind",
            netns::OFFICE,
            "--allow",
            "198.51.100.0/24",
        ];
        if angle_mode {
            args.push("--angle");
        }
        let bridge = Ser2tcp::start(&net.office, &args);
        let to = std::net::SocketAddr::new(office.ip(), bridge.port);
        let mut c = net.abroad.connect(to).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        bridge.wait_log(&format!("client {}:", netns::ABROAD));
        let targets: &[u32] = if angle_mode {
            &[120, 33]
        } else {
            &[45, 0, 180, 90]
        };
        for &a in targets {
            c.write_all(format!("{a}\r\n").as_bytes()).unwrap();
            assert_eq!(
                socket_lines(&mut c, 2),
                [format!("Input angle: {a}"), OK.to_string()]
            );
            device_said += format!("Input angle: {a}\r\n{OK}\r\n").len() as u64;
            uno.sync(device_said);
            let w = uno.settled_pulse_us();
            eprintln!("angle {a} from {}: pulse {w} µs on pin 9", netns::ABROAD);
            assert!((w - servo_us(a)).abs() <= 1.0, "{a}°: {w} µs");
        }
        if angle_mode {
            // a bad line is answered by ser2tcp and never reaches the device
            let writes_before = writes(&uno.events(), "OCR1A").len();
            c.write_all(b"999\n").unwrap();
            assert_eq!(socket_lines(&mut c, 2), ["Error: Bad angle", OK]);
            c.write_all(b"34\n").unwrap();
            assert_eq!(socket_lines(&mut c, 2), ["Input angle: 34", OK]);
            device_said += format!("Input angle: 34\r\n{OK}\r\n").len() as u64;
            uno.sync(device_said);
            assert_eq!(writes(&uno.events(), "OCR1A").len(), writes_before + 1);
            assert!((uno.settled_pulse_us() - servo_us(34)).abs() <= 1.0);
        }
    }
}
