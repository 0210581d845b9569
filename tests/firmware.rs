//! The Arduino UNO firmware (dist/firmware.elf, built by `scripts/firmware`) end to end in
//! QEMU's `-M uno`: its serial port on a loopback TCP socket, its registers read through
//! QMP. Every kind of line in `docs/angle-protocol.md`, the exact replies in order,
//! and the servo's final pulse width in Timer1's OCR1A.
//!
//! QEMU does not emulate the PWM waveform, and runs busy-wait delays much faster than real
//! time: the sweep's timing is tested on the host (applets/angle/tests/servo.rs).
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How long any one exchange may take (QEMU on a busy 2-core machine; a full 180-degree
/// sweep at 15 ms a step is 2.7 s on real hardware, much less in QEMU).
const PATIENCE: Duration = Duration::from_secs(20);

const OK: &str = "OK: Good to go";

/// A QEMU `-M uno` running a firmware image: the UART as a TCP socket, QMP on stdio.
/// Killed when dropped (also when a test panics).
struct Uno {
    child: Child,
    serial: TcpStream,
    qmp_in: ChildStdin,
    qmp_out: Receiver<String>,
    /// Bytes received from the device, not yet taken as lines.
    pending: Vec<u8>,
    /// The data-space address of the firmware's receive queue (`RX_QUEUE`).
    rx_queue: u32,
    log: PathBuf,
}

/// The receive buffer's size (the spec's 64 bytes: firmware/src/board.rs, `RX_BYTES`).
const RX_BYTES: usize = 64;

/// The counters of the firmware's receive queue (`angle::rx::RxQueue`, `repr(C)`).
#[derive(Clone, Copy, Debug)]
struct RxCounters {
    /// Bytes ever queued by the receive interrupt, modulo 256.
    tail: u8,
    /// Bytes ever taken by the main loop, modulo 256.
    head: u8,
    /// Overflows ever.
    losses: u8,
    /// Overflows the main loop has taken.
    handled: u8,
}

impl Uno {
    /// Boot `elf`. The firmware's first words are not read here (see [`Uno::lines`]).
    fn boot(elf: &Path) -> Uno {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("qemu-uno-{}-{port}.log", std::process::id()));
        let mut child = Command::new("qemu-system-avr")
            .args(["-M", "uno", "-nodefaults", "-display", "none", "-bios"])
            .arg(elf)
            .args(["-serial", &format!("tcp:127.0.0.1:{port}")])
            .args(["-qmp", "stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start qemu-system-avr");
        let qmp_in = child.stdin.take().unwrap();
        let qmp_out = lines_of(child.stdout.take().unwrap());
        // QEMU connects to us; wait for it (or for it to fail).
        listener.set_nonblocking(true).unwrap();
        let start = Instant::now();
        let serial = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => panic!("accept: {e}"),
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "qemu-system-avr exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < PATIENCE,
                "QEMU never connected its serial port"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        serial.set_nonblocking(false).unwrap();
        serial.set_nodelay(true).unwrap();
        let mut uno = Uno {
            child,
            serial,
            qmp_in,
            qmp_out,
            pending: Vec::new(),
            rx_queue: symbol(elf, "RX_QUEUE"),
            log,
        };
        let greeting = uno.qmp_line();
        assert!(greeting.contains("\"QMP\""), "QMP greeting: {greeting}");
        uno.qmp(r#"{"execute":"qmp_capabilities"}"#);
        uno
    }

    /// Send bytes no faster than the device takes them, as a real serial line does.
    ///
    /// QEMU's UART has no baud rate: it hands the interrupt the next byte of a TCP write
    /// the moment the previous one is read, and between two receive interrupts the main
    /// loop runs only a block or two, far less than it needs for a byte. A host that
    /// paces by the wall clock (115200 baud is 11.5 bytes a ms) does not pace QEMU: on a
    /// loaded machine QEMU's CPU thread waits for a core while the bytes pile up in the
    /// socket, then takes them all back to back, and the 64-byte buffer overflows (a
    /// 200-byte line came back `Error: Bad input` — or, when the overflow dropped its CR
    /// LF, not at all). So this paces by the device's own progress, read from its RAM:
    /// never more bytes in flight (sent, not yet taken from the buffer by the main loop)
    /// than `WINDOW`, which leaves room for a byte or two of an earlier send still in
    /// flight (an empty line, answered by nothing). A burst that fits (as the burst test's
    /// 34 bytes) still goes out in one go, and waits in the buffer while the servo sweeps.
    fn send(&mut self, bytes: &[u8]) {
        const WINDOW: usize = RX_BYTES - 16;
        const CHUNK: usize = 16;
        let mut head = self.rx().head;
        let (mut sent, mut taken) = (0usize, 0usize);
        for chunk in bytes.chunks(CHUNK) {
            let deadline = Instant::now() + PATIENCE;
            while sent - taken + chunk.len() > WINDOW {
                let now = self.rx();
                taken += usize::from(now.head.wrapping_sub(head));
                head = now.head;
                assert!(
                    Instant::now() < deadline,
                    "the device took {taken} of {sent} bytes in {PATIENCE:?}: {now:?}"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            self.send_flood(chunk);
            sent += chunk.len();
        }
    }

    /// The receive queue's counters, read from the device's RAM.
    fn rx(&mut self) -> RxCounters {
        let b = self.peek(self.rx_queue, 4);
        RxCounters {
            tail: b[0],
            head: b[1],
            losses: b[2],
            handled: b[3],
        }
    }

    /// The receive queue is empty and nothing was lost or left unanswered.
    fn assert_all_read(&mut self) {
        let rx = self.rx();
        assert_eq!(
            (rx.losses, rx.handled, rx.tail),
            (0, 0, rx.head),
            "all read, nothing lost: {rx:?}"
        );
    }

    /// Send bytes as fast as QEMU takes them (a flood no real serial line delivers).
    fn send_flood(&mut self, bytes: &[u8]) {
        self.serial.write_all(bytes).expect("write to the UART");
    }

    /// Wake QEMU's main loop: it stops polling the serial socket while the UART cannot take
    /// a byte (before the firmware enables the receiver) and only polls it again on its next
    /// iteration, which a QMP command causes.
    fn nudge(&mut self) {
        self.qmp(r#"{"execute":"query-status"}"#);
    }

    /// The next `n` lines from the device, each checked to end in CR LF, returned without.
    fn lines(&mut self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut out = Vec::new();
        while out.len() < n {
            if let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=at).collect();
                let text = String::from_utf8_lossy(&line).into_owned();
                assert!(
                    text.ends_with("\r\n"),
                    "a line not ending in CR LF: {text:?}"
                );
                out.push(text.trim_end_matches("\r\n").to_string());
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let rx = self.rx();
                panic!(
                    "waited {PATIENCE:?} for {n} lines, got {out:?} and {:?}; receive queue {rx:?}",
                    String::from_utf8_lossy(&self.pending)
                );
            }
            if !self.read_some(left.min(Duration::from_millis(100))) {
                self.nudge();
            }
        }
        out
    }

    /// Whatever arrives within `quiet` (to show that nothing more comes).
    fn silence(&mut self, quiet: Duration) -> String {
        let deadline = Instant::now() + quiet;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if !self.read_some(left.min(Duration::from_millis(100))) {
                self.nudge();
            }
        }
        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned()
    }

    /// Every line that arrives until the device has been quiet for a while.
    fn until_quiet(&mut self) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let more = self.silence(Duration::from_millis(1000));
            if more.is_empty() {
                return got;
            }
            self.pending = more.into_bytes();
            let n = self.pending.iter().filter(|&&b| b == b'\n').count();
            got.extend(self.lines(n));
        }
    }

    /// Read what arrives within `within`; whether anything did.
    fn read_some(&mut self, within: Duration) -> bool {
        self.serial
            .set_read_timeout(Some(within.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 512];
        match self.serial.read(&mut buf) {
            Ok(0) => panic!("QEMU closed the serial port"),
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
            // Interrupted: a socket with a receive timeout fails with EINTR when the
            // process is stopped and continued (signal(7)), as a loaded machine's job
            // control or a debugger may do; nothing was read.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                false
            }
            Err(e) => panic!("read from the UART: {e}"),
        }
    }

    /// Send `input` and check the device answers exactly `replies`, in order.
    fn exchange(&mut self, input: &[u8], replies: &[&str]) {
        self.send(input);
        let got = self.lines(replies.len());
        assert_eq!(got, replies, "after sending {:?}", input.escape_ascii());
    }

    fn qmp_line(&mut self) -> String {
        self.qmp_out
            .recv_timeout(PATIENCE)
            .expect("QEMU's QMP went quiet")
    }

    /// Run a QMP command; its `return` line (events in between are skipped).
    fn qmp(&mut self, json: &str) -> serde_json::Value {
        writeln!(self.qmp_in, "{json}").expect("write to QMP");
        loop {
            let line = self.qmp_line();
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("QMP said {line:?}: {e}"));
            if let Some(r) = v.get("return") {
                return r.clone();
            }
            assert!(v.get("error").is_none(), "QMP {json}: {line}");
        }
    }

    /// `n` bytes of the data space (registers included) at `addr`, through the monitor.
    fn peek(&mut self, addr: u32, n: usize) -> Vec<u8> {
        let cmd = serde_json::json!({
            "execute": "human-monitor-command",
            "arguments": {"command-line": format!("xp /{n}xb 0x{:x}", 0x80_0000 + addr)},
        });
        let out = self.qmp(&cmd.to_string());
        let text = out.as_str().expect("monitor output");
        // "0000000000800088: 0x7f 0x0b\r\n"
        let bytes: Vec<u8> = text
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("0x"))
            .map(|h| u8::from_str_radix(h, 16).unwrap_or_else(|_| panic!("xp: {text:?}")))
            .collect();
        assert_eq!(bytes.len(), n, "xp: {text:?}");
        bytes
    }

    fn peek16(&mut self, addr: u32) -> u16 {
        let b = self.peek(addr, 2);
        u16::from_le_bytes([b[0], b[1]])
    }

    /// Timer1's compare register: the servo pulse is OCR1A + 1 ticks of 0.5 µs.
    fn ocr1a(&mut self) -> u16 {
        self.peek16(0x88)
    }

    /// The pulse width on pin 9 in microseconds, as Timer1 is set to make it.
    fn pulse_us(&mut self) -> f64 {
        f64::from(self.ocr1a() + 1) / 2.0
    }
}

impl Drop for Uno {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let status = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "qemu-system-avr ({status:?}) said: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A thread turning QEMU's stdout into lines on a channel (so reads can time out).
fn lines_of(out: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The data-space address of a symbol of the firmware (avr-nm: `0080015c B RX_QUEUE`;
/// the data space starts at 0x800000 in the AVR toolchain's addresses).
fn symbol(elf: &Path, name: &str) -> u32 {
    let out = Command::new("avr-nm")
        .args(["--defined-only"])
        .arg(elf)
        .output()
        .expect("run avr-nm");
    assert!(out.status.success(), "avr-nm {}", elf.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let addr = text
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            let (addr, _, sym) = (w.next()?, w.next()?, w.next()?);
            (sym == name).then(|| u32::from_str_radix(addr, 16).ok())?
        })
        .unwrap_or_else(|| panic!("no symbol {name} in {}", elf.display()));
    addr - 0x80_0000
}

/// The firmware and the tools these tests use, or a skip.
fn firmware() -> Option<PathBuf> {
    support::firmware(&["qemu-system-avr", "avr-nm"])
}

fn angle(n: u32) -> String {
    format!("Input angle: {n}")
}

/// The pulse for an angle, 544–2400 µs, as the spec (and the Arduino Servo library) has it.
fn spec_pulse_us(angle: u32) -> f64 {
    f64::from(544 + angle * (2400 - 544) / 180)
}

#[test]
fn boots_and_answers_every_kind_of_line() {
    let Some(elf) = firmware() else { return };
    let mut uno = Uno::boot(&elf);
    assert_eq!(uno.lines(1), [OK], "the boot line");

    // Timer1: fast PWM with TOP = ICR1 (39999 at 2 MHz: a 20 ms frame; QEMU keeps ICR1
    // only in CTC mode, so it reads 0 here), OC1A (pin 9) in non-inverting mode (QEMU 7.2
    // has no GPIO ports, so DDRB cannot be checked); the servo at 90 degrees.
    let tccr1 = uno.peek(0x80, 2);
    assert_eq!(tccr1[0] & 0xC3, 0x82, "TCCR1A: COM1A1, WGM11");
    assert_eq!(tccr1[1] & 0x1F, 0x1A, "TCCR1B: WGM13, WGM12, clock / 8");
    assert_eq!(uno.pulse_us(), spec_pulse_us(90));

    // Valid angles, with every terminator; the servo ends where it was sent.
    uno.exchange(b"0\n", &[&angle(0), OK]);
    assert_eq!(uno.pulse_us(), 544.0);
    uno.exchange(b"180\r\n", &[&angle(180), OK]);
    assert_eq!(uno.pulse_us(), 2400.0);
    uno.exchange(b"090\r", &[&angle(90), OK]);
    assert_eq!(uno.pulse_us(), 1472.0);
    uno.exchange(b"7\n", &[&angle(7), OK]);
    assert_eq!(uno.pulse_us(), spec_pulse_us(7));
    // The LF of that CR LF arrives on its own: still the same terminator, no reply.
    uno.exchange(b"45\r", &[&angle(45), OK]);
    uno.exchange(b"\n46\n", &[&angle(46), OK]);
    assert_eq!(uno.pulse_us(), spec_pulse_us(46));
    // The same angle again answers at once.
    uno.exchange(b"46\n", &[&angle(46), OK]);

    // Bad angles and bad input leave the servo where it is.
    let before = uno.ocr1a();
    uno.exchange(b"181\n", &["Error: Bad angle", OK]);
    uno.exchange(b"999\r\n", &["Error: Bad angle", OK]);
    uno.exchange(b"-5\n", &["Error: Bad input", OK]);
    uno.exchange(b"abc\n", &["Error: Bad input", OK]);
    uno.exchange(b" 9\r\n", &["Error: Bad input", OK]);
    uno.exchange(b"\x01\n", &["Error: Bad input", OK]);
    uno.exchange(b"\xff\xfe\r", &["Error: Bad input", OK]);
    uno.exchange(b"\n", &[]);
    // Too long: 4 bytes, and a 200-byte line answered once.
    uno.exchange(b"1234\n", &["Error: Angle more than 3 bytes", OK]);
    uno.exchange(b"0090\r\n", &["Error: Angle more than 3 bytes", OK]);
    let long = [b"9".repeat(200), b"\r\n".to_vec()].concat();
    uno.exchange(&long, &["Error: Angle more than 3 bytes", OK]);
    let noise: Vec<u8> = (0..200u32).map(|i| b'!' + (i * 7 % 90) as u8).collect();
    uno.exchange(
        &[noise.as_slice(), b"\n"].concat(),
        &["Error: Angle more than 3 bytes", OK],
    );
    assert_eq!(uno.ocr1a(), before, "no bad line moved the servo");

    // CR LF answered once (the sketch said "Bad input" for the LF); empty lines not at all.
    uno.exchange(b"\r\n\r\n\n\r12\r\n", &[&angle(12), OK]);
    assert_eq!(uno.silence(Duration::from_millis(300)), "", "nothing more");
    assert_eq!(uno.pulse_us(), spec_pulse_us(12));
    uno.assert_all_read();
}

#[test]
fn a_burst_is_answered_in_order_after_each_sweep() {
    let Some(elf) = firmware() else { return };
    let mut uno = Uno::boot(&elf);
    assert_eq!(uno.lines(1), [OK]);
    // Ten commands in one write, without waiting: they arrive while the servo sweeps, are
    // kept in the receive buffer (34 bytes of its 64), and handled in order.
    uno.send(b"0\n180\n45\n999\nabc\n90\n1234\n\n7\r\n100\r\n");
    let want = [
        &angle(0),
        OK,
        &angle(180),
        OK,
        &angle(45),
        OK,
        "Error: Bad angle",
        OK,
        "Error: Bad input",
        OK,
        &angle(90),
        OK,
        "Error: Angle more than 3 bytes",
        OK,
        &angle(7),
        OK,
        &angle(100),
        OK,
    ];
    assert_eq!(uno.lines(want.len()), want);
    assert_eq!(uno.pulse_us(), spec_pulse_us(100));
    assert_eq!(uno.silence(Duration::from_millis(300)), "");
    uno.assert_all_read();
}

#[test]
fn an_overflow_while_sweeping_is_bad_input_never_a_merged_line() {
    let Some(elf) = firmware() else { return };
    let mut uno = Uno::boot(&elf);
    assert_eq!(uno.lines(1), [OK]);
    // A full sweep, and behind it far more than the 64-byte buffer holds: "5" 300 times.
    let lines = 300;
    let mut burst = b"0\n180\n".to_vec();
    for _ in 0..lines {
        burst.extend_from_slice(b"5\n");
    }
    uno.send_flood(&burst);
    assert_eq!(uno.lines(4), [angle(0).as_str(), OK, &angle(180), OK]);
    // Then verdict + OK pairs, each verdict an angle of 5 or bad input; never anything
    // else (a lost LF must not merge "5" and "5" into "55"). The line the loss damaged is
    // answered even when the loss swallowed its terminator (and the rest of the burst):
    // the host is not left waiting for a reply that only another terminator would bring,
    // so an empty line now (how a host resynchronises) is answered by nothing.
    let mut got = uno.lines(2);
    got.extend(uno.until_quiet());
    uno.send(b"\n");
    assert_eq!(
        uno.silence(Duration::from_millis(500)),
        "",
        "a line was left unanswered until another terminator came: {got:?}"
    );
    assert!(got.len().is_multiple_of(2), "{got:?}");
    let (mut fives, mut bad) = (0, 0);
    for pair in got.chunks(2) {
        assert_eq!(pair[1], OK, "{got:?}");
        match pair[0].as_str() {
            "Input angle: 5" => fives += 1,
            "Error: Bad input" => bad += 1,
            other => panic!("unexpected verdict {other:?} in {got:?}"),
        }
    }
    assert!(
        fives + bad <= lines,
        "{fives} + {bad} verdicts for {lines} lines"
    );
    assert!(fives >= 1, "the buffered lines are handled: {got:?}");
    if fives < lines {
        assert!(bad >= 1, "{} lines vanished without a word", lines - fives);
    }
    eprintln!("{lines} lines sent during a sweep: {fives} answered, {bad} losses reported");
    // Still answering, and the servo where the last good command put it.
    uno.exchange(b"33\n", &[&angle(33), OK]);
    assert_eq!(uno.pulse_us(), spec_pulse_us(33));
}
