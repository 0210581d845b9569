//! End to end: the real firmware (dist/firmware.elf, or $OPSBOX_FIRMWARE_ELF) in
//! `qemu-system-avr -M uno` with its serial port on a pty, ser2tcp on that pty, and a TCP
//! client sending angle commands.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;

const WAIT: Duration = Duration::from_secs(60);

/// A process killed on drop (also when the test panics).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the emulated UNO; returns it and the pty its serial port is on.
fn qemu(elf: &PathBuf) -> (Killed, String) {
    let mut child = Command::new("qemu-system-avr")
        .args([
            "-M", "uno", "-display", "none", "-monitor", "none", "-serial", "pty",
        ])
        .arg("-bios")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu-system-avr");
    // "char device redirected to /dev/pts/N (label serial0)", on stdout or stderr
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    for r in [Box::new(out) as Box<dyn Read + Send>, Box::new(err)] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let q = Killed(child);
    let deadline = Instant::now() + WAIT;
    let mut seen = String::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            if let Some(at) = line.find("/dev/pts/") {
                let pty = line[at..].split_whitespace().next().unwrap().to_string();
                return (q, pty);
            }
            seen.push_str(&line);
            seen.push('\n');
        }
    }
    panic!("qemu did not say where its serial port is:\n{seen}");
}

/// ser2tcp on `pty` with `extra` options; returns it and its port.
fn bridge(pty: &str, extra: &[&str]) -> (Killed, u16) {
    let mut child = applet("ser2tcp")
        .args(["-b", "115200", "-p", pty, "-P", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ser2tcp");
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let b = Killed(child);
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && let Some(rest) = line.split("listening on ").nth(1)
        {
            let port = rest
                .split_whitespace()
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .expect("a port");
            return (b, port);
        }
    }
    panic!("ser2tcp did not start listening");
}

/// Send `cmd` and read until `want` has come (the firmware talks at emulated speed).
fn exchange(c: &mut TcpStream, seen: &mut String, cmd: &str, want: &str) {
    c.write_all(cmd.as_bytes()).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 256];
    while !seen.contains(want) {
        assert!(
            Instant::now() < deadline,
            "sent {cmd:?}, waited for {want:?}, got {seen:?}"
        );
        match c.read(&mut buf) {
            Ok(0) => panic!("ser2tcp closed the connection; got {seen:?}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            // A socket with a receive timeout fails with EINTR when the process is
            // stopped and continued (signal(7)): nothing was read.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading: {e}"),
        }
    }
    // what came is consumed up to the end of the expected text
    let end = seen.find(want).unwrap() + want.len();
    seen.drain(..end);
}

fn connect(port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    c
}

#[test]
fn firmware_in_qemu_answers_through_ser2tcp() {
    let Some(elf) = firmware(&["qemu-system-avr"]) else {
        return;
    };
    let (_qemu, pty) = qemu(&elf);
    let (_bridge, port) = bridge(&pty, &[]);
    let mut c = connect(port);
    let mut seen = String::new();
    // the first command may wait for QEMU to notice its pty was opened
    exchange(
        &mut c,
        &mut seen,
        "90\n",
        "Input angle: 90\r\nOK: Good to go\r\n",
    );
    exchange(
        &mut c,
        &mut seen,
        "999\n",
        "Error: Bad angle\r\nOK: Good to go\r\n",
    );
    exchange(
        &mut c,
        &mut seen,
        "abc\n",
        "Error: Bad input\r\nOK: Good to go\r\n",
    );
    exchange(
        &mut c,
        &mut seen,
        "1000\r\n",
        "Error: Angle more than 3 bytes\r\nOK: Good to go\r\n",
    );
    // a sweep (90 → 80, ten steps) and a leading zero
    exchange(
        &mut c,
        &mut seen,
        "080\r",
        "Input angle: 80\r\nOK: Good to go\r\n",
    );
    drop(c);

    // a new session on the same open port: the servo is where the last one left it
    let mut c = connect(port);
    exchange(
        &mut c,
        &mut seen,
        "80\n",
        "Input angle: 80\r\nOK: Good to go\r\n",
    );
}

#[test]
fn angle_mode_answers_as_the_firmware_does() {
    let Some(elf) = firmware(&["qemu-system-avr"]) else {
        return;
    };
    let (_qemu, pty) = qemu(&elf);
    let (_bridge, port) = bridge(&pty, &["--angle"]);
    let mut c = connect(port);
    let mut seen = String::new();
    // bad lines are answered by ser2tcp with the firmware's words; a good one goes through
    exchange(
        &mut c,
        &mut seen,
        "999\n",
        "Error: Bad angle\r\nOK: Good to go\r\n",
    );
    exchange(
        &mut c,
        &mut seen,
        "-5\n",
        "Error: Bad input\r\nOK: Good to go\r\n",
    );
    exchange(
        &mut c,
        &mut seen,
        "100\r\n",
        "Input angle: 100\r\nOK: Good to go\r\n",
    );
}
