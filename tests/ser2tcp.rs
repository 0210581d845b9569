//! ser2tcp on real pseudo-terminals and real sockets on 127.0.0.1: a pty pair stands in
//! for the serial port (the test holds the master, ser2tcp opens the slave).

#[path = "ser2tcp_support/netns.rs"]
mod netns;
mod support;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rustix::pty;
use rustix::termios::{self, ControlModes, OptionalActions};
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// Generous: the machine may be loaded.
const WAIT: Duration = Duration::from_secs(20);

/// A pty pair; `path` names the slave (the "serial device").
struct Pty {
    master: File,
    slave: OwnedFd,
    path: PathBuf,
}

impl Pty {
    fn new() -> Pty {
        // close-on-exec from the first instant: a ser2tcp started by a parallel test must
        // not inherit our master, or closing it would not unplug the "device"
        let master = pty::openpt(
            pty::OpenptFlags::RDWR | pty::OpenptFlags::NOCTTY | pty::OpenptFlags::CLOEXEC,
        )
        .expect("openpt");
        pty::grantpt(&master).unwrap();
        pty::unlockpt(&master).unwrap();
        let name = pty::ptsname(&master, Vec::new()).unwrap();
        let path = PathBuf::from(name.to_str().unwrap());
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc_noctty())
            .open(&path)
            .unwrap()
            .into();
        // raw from the start, so nothing the test writes is cooked before ser2tcp opens it;
        // HUPCL on, as a real serial driver has it (a pty's default is off)
        let mut t = termios::tcgetattr(&slave).unwrap();
        t.make_raw();
        t.control_modes |= ControlModes::HUPCL;
        termios::tcsetattr(&slave, OptionalActions::Now, &t).unwrap();
        Pty {
            master: File::from(master),
            slave,
            path,
        }
    }

    fn dev(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn cflag(&self) -> ControlModes {
        termios::tcgetattr(&self.slave).unwrap().control_modes
    }

    fn speed(&self) -> u32 {
        termios::tcgetattr(&self.slave).unwrap().output_speed()
    }

    /// Read from the master until `n` bytes came (or the deadline).
    fn read_n(&mut self, n: usize) -> Vec<u8> {
        read_n(&mut self.master, n, || {})
    }
}

/// O_NOCTTY (std opens with O_CLOEXEC already).
fn libc_noctty() -> i32 {
    rustix::fs::OFlags::NOCTTY.bits() as i32
}

/// Read `n` bytes from a pty master, polling with a deadline (a pty master has no read
/// timeout, so it is made non-blocking).
fn read_n(f: &mut File, n: usize, mut between: impl FnMut()) -> Vec<u8> {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let fl = fcntl_getfl(&*f).unwrap();
    fcntl_setfl(&*f, fl | OFlags::NONBLOCK).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while out.len() < n && Instant::now() < deadline {
        match f.read(&mut buf[..(n - out.len()).min(65536)]) {
            Ok(0) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                between();
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("reading the pty master: {e}"),
        }
    }
    fcntl_setfl(&*f, fl).unwrap();
    out
}

/// A running ser2tcp; its stderr is collected; killed on drop.
struct Bridge {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Bridge {
    /// Start `ser2tcp ARGS -P 0` and wait until it says where it listens.
    fn start(args: &[&str]) -> Bridge {
        let mut all: Vec<&str> = args.to_vec();
        if !args.contains(&"--client") {
            all.extend(["-P", "0"]);
        }
        let mut b = Bridge::spawn(&all);
        if args.contains(&"--client") {
            return b;
        }
        b.port = listening_port(&b.wait_log("listening on "));
        b
    }

    fn spawn(args: &[&str]) -> Bridge {
        Bridge::spawn_cmd(applet("ser2tcp"), args)
    }

    /// `ser2tcp ARGS -P 0` inside a network namespace.
    fn start_in(ns: &netns::Ns, args: &[&str]) -> Bridge {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-P", "0"]);
        let mut b = Bridge::spawn_cmd(ns.cmd(links_dir().join("ser2tcp")), &all);
        b.port = listening_port(&b.wait_log("listening on "));
        b
    }

    fn spawn_cmd(mut cmd: std::process::Command, args: &[&str]) -> Bridge {
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ser2tcp");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Bridge {
            child,
            port: 0,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait for a log line containing `needle`; returns it.
    fn wait_log(&self, needle: &str) -> String {
        self.wait_log_after(needle, 0)
    }

    /// Wait for the `skip+1`-th log line containing `needle`.
    fn wait_log_after(&self, needle: &str, skip: usize) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if let Some(l) = log.lines().filter(|l| l.contains(needle)).nth(skip) {
                return l.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?} (#{skip}) in:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to ser2tcp");
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> i32 {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "ser2tcp ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in a `listening on ADDR:PORT ...` line.
fn listening_port(line: &str) -> u16 {
    line.split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.trim_end_matches([',', ';']).parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// Read exactly `n` bytes from a socket (its read timeout applies).
fn recv_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match s.read(&mut out[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("after {got} of {n} bytes: {e}"),
        }
    }
    out.truncate(got);
    out
}

/// Whether the server closed this connection (EOF or reset) within the wait.
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A round trip proves a client is attached (the bridge logs it, but this is the real test).
fn wait_attached(b: &Bridge, n: usize) {
    b.wait_log_after(" connected", n - 1);
}

#[test]
fn one_mib_each_way_is_exact() {
    let mut pty = Pty::new();
    let b = Bridge::start(&["-p", pty.dev(), "-b", "115200"]);
    let mut c = b.connect();
    wait_attached(&b, 1);
    let up = random_bytes(1 << 20, 7);
    let down = random_bytes(1 << 20, 11);
    // TCP → pty, while the test reads the master
    let mut w = c.try_clone().unwrap();
    let up2 = up.clone();
    let writer = std::thread::spawn(move || w.write_all(&up2).unwrap());
    assert!(pty.read_n(up.len()) == up, "TCP → serial differs");
    writer.join().unwrap();
    // pty → TCP
    let mut m = pty.master.try_clone().unwrap();
    let down2 = down.clone();
    let writer = std::thread::spawn(move || m.write_all(&down2).unwrap());
    assert!(recv_n(&mut c, down.len()) == down, "serial → TCP differs");
    writer.join().unwrap();
    // HUPCL was cleared (the Arduino-reset guard) and the baud rate set
    assert!(!pty.cflag().contains(ControlModes::HUPCL));
    assert_eq!(pty.speed(), 115200);
    assert_eq!(b.stop(), 0, "SIGTERM is a clean exit");
}

#[test]
fn hupcl_kept_only_when_asked() {
    let pty = Pty::new();
    assert!(
        pty.cflag().contains(ControlModes::HUPCL),
        "Pty::new sets HUPCL"
    );
    let b = Bridge::start(&[pty.dev(), "9600", "--hupcl"]);
    assert!(pty.cflag().contains(ControlModes::HUPCL));
    drop(b);
    let b = Bridge::start(&[pty.dev(), "9600", "--dtr", "1"]);
    assert!(!pty.cflag().contains(ControlModes::HUPCL));
    // a pty has no modem lines: a warning, not an error
    b.wait_log("warning: ");
    assert_eq!(pty.speed(), 9600);
}

#[test]
fn two_clients_both_receive_serial_output() {
    let mut pty = Pty::new();
    let b = Bridge::start(&["-p", pty.dev(), "--max-clients", "2"]);
    let mut c1 = b.connect();
    wait_attached(&b, 1);
    let mut c2 = b.connect();
    wait_attached(&b, 2);
    pty.master.write_all(b"hello both\r\n").unwrap();
    assert_eq!(recv_n(&mut c1, 12), b"hello both\r\n");
    assert_eq!(recv_n(&mut c2, 12), b"hello both\r\n");
    // both write: each read arrives whole, in arrival order
    c1.write_all(b"one;").unwrap();
    assert_eq!(pty.read_n(4), b"one;");
    c2.write_all(b"two;").unwrap();
    assert_eq!(pty.read_n(4), b"two;");
}

#[test]
fn max_clients_refuses_and_kick_old_replaces() {
    let mut pty = Pty::new();
    let b = Bridge::start(&["-p", pty.dev()]);
    let mut first = b.connect();
    wait_attached(&b, 1);
    let mut second = b.connect();
    assert!(closed_by_peer(&mut second), "second client not refused");
    b.wait_log("--max-clients 1");
    // the first one still works
    pty.master.write_all(b"still here").unwrap();
    assert_eq!(recv_n(&mut first, 10), b"still here");
    drop(b);

    let b = Bridge::start(&["-p", pty.dev(), "--kick-old"]);
    let mut old = b.connect();
    wait_attached(&b, 1);
    let mut new = b.connect();
    b.wait_log("--kick-old");
    assert!(closed_by_peer(&mut old), "old client not kicked");
    pty.master.write_all(b"to the new one").unwrap();
    assert_eq!(recv_n(&mut new, 14), b"to the new one");
}

#[test]
fn a_client_that_stops_reading_is_dropped_others_keep_receiving() {
    let pty = Pty::new();
    let b = Bridge::start(&["-p", pty.dev(), "--max-clients", "2"]);
    let mut stuck = b.connect();
    wait_attached(&b, 1);
    let mut good = b.connect();
    wait_attached(&b, 2);
    // far more than the kernel's loopback buffers and our 64 KiB queue; the writer keeps
    // at most one chunk ahead of the reading client, so a reader that the (loaded) machine
    // does not schedule for a while is never the one that falls behind
    let total = 24 << 20;
    let chunk = 1 << 16;
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut m = pty.master.try_clone().unwrap();
    let seen = Arc::clone(&done);
    let writer = std::thread::spawn(move || {
        let data = random_bytes(chunk, 3);
        let deadline = Instant::now() + WAIT * 3;
        let mut sent = 0;
        while sent < total && Instant::now() < deadline {
            if sent <= seen.load(std::sync::atomic::Ordering::Acquire) {
                m.write_all(&data).unwrap();
                sent += chunk;
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    });
    let mut got = 0;
    let mut buf = vec![0u8; 1 << 16];
    while got < total {
        match good.read(&mut buf) {
            Ok(0) => panic!("the reading client was dropped after {got} bytes"),
            Ok(n) => got += n,
            Err(e) => panic!("reading client: {e} after {got} bytes"),
        }
        done.store(got, std::sync::atomic::Ordering::Release);
    }
    writer.join().unwrap();
    assert_eq!(got, total);
    b.wait_log("not reading");
    assert!(
        closed_by_peer(&mut stuck),
        "the stuck client is still connected"
    );
    assert!(b.log().matches(" gone: ").count() == 1, "{}", b.log());
}

#[test]
fn the_device_goes_and_comes_back_while_a_client_stays() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyUSB0");
    let pty1 = Pty::new();
    std::os::unix::fs::symlink(&pty1.path, &link).unwrap();
    let b = Bridge::start(&["-p", link.to_str().unwrap(), "--notify", "-b", "115200"]);
    let mut c = b.connect();
    wait_attached(&b, 1);
    // unplug: the master goes away, and so does the device node
    drop(pty1);
    std::fs::remove_file(&link).unwrap();
    b.wait_log(": gone (");
    let notice = b"ser2tcp: ";
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        assert_eq!(c.read(&mut byte).unwrap(), 1, "client dropped");
        line.push(byte[0]);
    }
    assert!(line.starts_with(notice) && line.ends_with(b"is gone; waiting for it\r\n"));
    // plug it back in (a new pty behind the same name)
    let mut pty2 = Pty::new();
    std::os::unix::fs::symlink(&pty2.path, &link).unwrap();
    b.wait_log(": back");
    assert_eq!(pty2.speed(), 115200, "settings reapplied");
    let back = format!("ser2tcp: {} is back\r\n", link.display());
    assert_eq!(recv_n(&mut c, back.len()), back.as_bytes());
    pty2.master.write_all(b"after").unwrap();
    assert_eq!(recv_n(&mut c, 5), b"after");
    c.write_all(b"again").unwrap();
    assert_eq!(pty2.read_n(5), b"again");
}

#[test]
fn angle_mode_answers_bad_lines_and_forwards_good_ones() {
    let mut pty = Pty::new();
    let b = Bridge::start(&["-p", pty.dev(), "--angle", "--max-clients", "2"]);
    let mut c = b.connect();
    let mut other = b.connect();
    wait_attached(&b, 2);
    c.write_all(b"999\nabc\r\n\n1000\r090\r\n").unwrap();
    let want: &[u8] = b"Error: Bad angle\r\nOK: Good to go\r\n\
Error: Bad input\r\nOK: Good to go\r\n\
Error: Angle more than 3 bytes\r\nOK: Good to go\r\n";
    assert_eq!(recv_n(&mut c, want.len()), want);
    // only the valid one reached the device, normalized
    assert_eq!(pty.read_n(3), b"90\n");
    // each client's lines are assembled separately
    c.write_all(b"1").unwrap();
    other.write_all(b"2").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    other.write_all(b"0\n").unwrap();
    assert_eq!(pty.read_n(3), b"20\n");
    c.write_all(b"5\n").unwrap();
    assert_eq!(pty.read_n(3), b"15\n");
    // nothing else went to the device, and the other client heard none of c's errors
    c.write_all(b"x\n").unwrap();
    assert_eq!(recv_n(&mut c, 34).len(), 34);
    other.write_all(b"180\n").unwrap();
    assert_eq!(pty.read_n(4), b"180\n");
    // what the device says goes to both
    pty.master.write_all(b"Input angle: 180\r\n").unwrap();
    assert_eq!(recv_n(&mut other, 18), b"Input angle: 180\r\n");
    assert_eq!(recv_n(&mut c, 18), b"Input angle: 180\r\n");
}

#[test]
fn client_mode_reconnects() {
    let mut pty = Pty::new();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = server.local_addr().unwrap().to_string();
    let b = Bridge::start(&["-p", pty.dev(), "--client", &to]);
    for round in 0..2 {
        let (mut s, _) = server.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        b.wait_log_after("connected to", round);
        pty.master.write_all(b"ping").unwrap();
        assert_eq!(recv_n(&mut s, 4), b"ping", "round {round}");
        s.write_all(b"pong").unwrap();
        assert_eq!(pty.read_n(4), b"pong");
        s.shutdown(Shutdown::Both).unwrap();
    }
    b.wait_log("lost ");
}

#[test]
fn allow_refuses_other_networks() {
    let mut pty = Pty::new();
    let b = Bridge::start(&[
        "-p",
        pty.dev(),
        "--allow",
        "10.0.0.0/8",
        "--allow",
        "::1",
        "--no-loopback",
    ]);
    b.wait_log("only clients from 10.0.0.0/8, ::1 can connect");
    let mut c = b.connect();
    // the reason in one line, then the close
    let mut said = String::new();
    c.read_to_string(&mut said).unwrap();
    assert_eq!(said, "ser2tcp: refused: 127.0.0.1 is not in --allow\r\n");
    b.wait_log("not in --allow");
    drop(b);
    // --allow keeps loopback allowed; the banner can be changed or turned off
    let b = Bridge::start(&[
        "-p",
        pty.dev(),
        "--allow",
        "192.0.2.0/24",
        "--refuse-banner",
        "none",
    ]);
    b.wait_log("only clients from 192.0.2.0/24, 127.0.0.0/8, ::1 can connect");
    let mut c = b.connect();
    wait_attached(&b, 1);
    c.write_all(b"ok").unwrap();
    assert_eq!(pty.read_n(2), b"ok");
    // a second client is refused (--max-clients 1) without a word
    let mut d = b.connect();
    let mut said = Vec::new();
    d.read_to_end(&mut said).unwrap();
    assert_eq!(said, b"", "--refuse-banner none still said something");
    b.wait_log("refused 127.0.0.1:");
}

#[test]
fn rfc2217_client_changes_the_baud_rate() {
    if !have_pyserial() {
        return;
    }
    let mut pty = Pty::new();
    let b = Bridge::start(&["-p", pty.dev(), "-b", "115200", "--rfc2217"]);
    assert_eq!(pty.speed(), 115200);
    // pyserial's own RFC 2217 client: open at 9600, send bytes with an IAC in them, read
    // what the device says, then switch to 57600
    let script = format!(
        r#"
import sys, time, serial
s = serial.serial_for_url('rfc2217://127.0.0.1:{port}', baudrate=9600, timeout=20)
print('open', flush=True)
sys.stdin.readline()
s.write(b'\xff\x00hi')
s.flush()
got = s.read(4)
print('got', got.hex(), flush=True)
s.baudrate = 57600
print('baud', s.baudrate, flush=True)
print('lines', s.cts, s.dsr, s.cd, flush=True)
sys.stdin.readline()
s.close()
"#,
        port = b.port
    );
    let mut py = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(py.stdout.take().unwrap());
    let mut input = py.stdin.take().unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "open",
        "pyserial could not open the port (is pyserial installed?)"
    );
    assert_eq!(pty.speed(), 9600, "the open's 9600 did not reach the tty");
    input.write_all(b"\n").unwrap();
    assert_eq!(pty.read_n(4), b"\xff\x00hi", "IAC IAC not undone");
    pty.master.write_all(b"\xffok\xff").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "got ff6f6bff",
        "IAC not doubled toward the client"
    );
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "baud 57600");
    // the modem state was reported (a pty has no modem lines: all off)
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "lines False False False");
    let deadline = Instant::now() + WAIT;
    while pty.speed() != 57600 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(pty.speed(), 57600, "the tty's termios did not change");
    input.write_all(b"\n").unwrap();
    assert!(py.wait().unwrap().success());
    b.wait_log("set 57600 8N1");
}

#[test]
fn device_errors_and_usage() {
    // missing device: 69, at once
    let o = run(applet("ser2tcp").args(["-p", "/dev/nonexistent-tty", "-P", "0"]));
    assert_eq!(code(&o), 69, "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("ser2tcp: /dev/nonexistent-tty: no such device"),
        "{}",
        stderr(&o)
    );
    // busy: a second bridge on the same port
    let pty = Pty::new();
    let _b = Bridge::start(&["-p", pty.dev()]);
    let o = run(applet("ser2tcp").args(["-p", pty.dev(), "-P", "0"]));
    assert_eq!(code(&o), 69, "{}", stderr(&o));
    assert!(stderr(&o).contains(": busy"), "{}", stderr(&o));
    // the TCP port is taken: 74, and the device is left alone
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let pty2 = Pty::new();
    let port = taken.local_addr().unwrap().port().to_string();
    let o = run(applet("ser2tcp").args(["-p", pty2.dev(), "-P", &port]));
    assert_eq!(code(&o), 74, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("listening on 127.0.0.1:{port}: ")),
        "{}",
        stderr(&o)
    );
    // usage
    let o = run(applet("ser2tcp").args(["-p", pty.dev(), "--parity", "X"]));
    assert_eq!(code(&o), 64, "{}", stderr(&o));
    let o = run(applet("ser2tcp").arg("--rtscts"));
    assert_eq!(code(&o), 64, "{}", stderr(&o));
}

#[test]
fn wait_device_then_sighup_reopens_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyACM0");
    let logf = dir.path().join("ser2tcp.log");
    let b = Bridge::spawn(&[
        link.to_str().unwrap(),
        "--wait-device",
        "-P",
        "0",
        "--log",
        logf.to_str().unwrap(),
    ]);
    let read_log = |p: &Path, needle: &str| {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = std::fs::read_to_string(p).unwrap_or_default();
            if s.contains(needle) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} not in {}:\n{s}",
                p.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    read_log(&logf, "waiting for it");
    let s = read_log(&logf, "listening on ");
    assert!(s.lines().all(|l| l.contains(" ser2tcp[")), "{s}");
    let pty = Pty::new();
    std::os::unix::fs::symlink(&pty.path, &link).unwrap();
    read_log(&logf, ": back");
    // logrotate: move the file, SIGHUP, a new file appears
    let moved = dir.path().join("ser2tcp.log.1");
    std::fs::rename(&logf, &moved).unwrap();
    kill(Pid::from_raw(b.child.id() as i32), Signal::SIGHUP).unwrap();
    read_log(&logf, "log reopened");
    assert_eq!(b.stop(), 0);
    read_log(&logf, "stopping on SIGTERM");
}

// ---- RFC 2217 from a raw socket (hostile negotiation) ----

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const WILL: u8 = 251;
const COM_PORT: u8 = 44;

/// `IAC SB COM-PORT CODE VALUE IAC SE`, IAC in the value doubled.
fn com_port_cmd(code: u8, value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[IAC, SB, COM_PORT, code]);
    for &b in value {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
    out.extend_from_slice(&[IAC, SE]);
}

/// Reads a telnet stream from the server and collects its COM-PORT answers
/// (code, value), skipping data and option negotiation.
struct Answers {
    rx: std::sync::mpsc::Receiver<(u8, Vec<u8>)>,
}

impl Answers {
    fn start(s: &TcpStream) -> Answers {
        let mut s = s.try_clone().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut st = 0u8; // 0 data, 1 after IAC, 2 option byte, 3 in SB, 4 SB after IAC
            let mut sb = Vec::new();
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                for &b in &buf[..n] {
                    st = match (st, b) {
                        (0, IAC) => 1,
                        (0, _) => 0,
                        (1, SB) => {
                            sb.clear();
                            3
                        }
                        (1, 251..=254) => 2,
                        (1, _) => 0,
                        (2, _) => 0,
                        (3, IAC) => 4,
                        (3, _) => {
                            sb.push(b);
                            3
                        }
                        (4, IAC) => {
                            sb.push(IAC);
                            3
                        }
                        (4, SE) => {
                            if sb.len() >= 2 && sb[0] == COM_PORT {
                                let _ = tx.send((sb[1], sb[2..].to_vec()));
                            }
                            0
                        }
                        _ => 0,
                    };
                }
            }
        });
        Answers { rx }
    }

    /// The next answer with this code (others are skipped).
    fn next(&self, code: u8) -> Vec<u8> {
        loop {
            let (c, v) = self
                .rx
                .recv_timeout(WAIT)
                .expect("no COM-PORT answer from ser2tcp");
            if c == code {
                return v;
            }
        }
    }
}

#[test]
fn rfc2217_settings_flood_is_logged_at_a_bounded_rate() {
    let pty = Pty::new();
    let b = Bridge::start(&["-p", pty.dev(), "-b", "115200", "--rfc2217"]);
    let start = Instant::now();
    let mut c = b.connect();
    let answers = Answers::start(&c);
    // 144,000 requests, each a change (9600 and 19200 in turn), in batches of 1,000 sent
    // without waiting (the answers are read between batches, so that a loaded machine
    // never leaves 64 KiB of them unread, which would drop the client)
    const N: usize = 144_000;
    const BATCH: usize = 1_000;
    c.write_all(&[IAC, WILL, COM_PORT]).unwrap();
    for batch in 0..N / BATCH {
        let mut req = Vec::new();
        for i in 0..BATCH {
            let baud: u32 = if i % 2 == 0 { 9600 } else { 19200 };
            com_port_cmd(1, &baud.to_be_bytes(), &mut req);
        }
        c.write_all(&req).unwrap();
        for i in 0..BATCH {
            let want: u32 = if i % 2 == 0 { 9600 } else { 19200 };
            assert_eq!(
                answers.next(101),
                want.to_be_bytes(),
                "answer {}",
                batch * BATCH + i
            );
        }
    }
    assert_eq!(pty.speed(), 19200);
    // the count of what was held back comes once its second is over
    let summary = b.wait_log("more settings change");
    let elapsed = start.elapsed().as_secs();
    let held: usize = summary
        .split(": ")
        .nth(2)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {summary:?}"));
    let log = b.log();
    let set_lines = log.lines().filter(|l| l.contains(" set ")).count();
    // every change is either logged or counted, and at most 5 lines a second are logged
    // (each window of the limit lasts a second: at most elapsed + 1 of them so far)
    assert_eq!(set_lines + held, N, "{log}");
    assert!(
        set_lines as u64 <= 5 * (elapsed + 1),
        "{set_lines} lines in {elapsed} s:\n{log}"
    );
    assert!(
        log.lines().count() < 20 + 6 * (elapsed as usize + 1),
        "{log}"
    );
    c.shutdown(Shutdown::Both).unwrap();
}

#[test]
fn rfc2217_baud_rates_out_of_range_are_refused() {
    let pty = Pty::new();
    let b = Bridge::start(&["-p", pty.dev(), "-b", "115200", "--rfc2217"]);
    let mut c = b.connect();
    let answers = Answers::start(&c);
    let mut req = vec![IAC, WILL, COM_PORT];
    for baud in [1u32, 1_279_607_115, 1, 49, 4_000_001] {
        com_port_cmd(1, &baud.to_be_bytes(), &mut req);
    }
    c.write_all(&req).unwrap();
    for _ in 0..5 {
        assert_eq!(answers.next(101), 115_200u32.to_be_bytes());
    }
    assert_eq!(pty.speed(), 115_200, "the port's termios changed");
    // one warning for the client, not one per request
    b.wait_log("baud rate 1 refused");
    // a good one afterwards still works: the answer proves the earlier ones were handled
    let mut req = Vec::new();
    com_port_cmd(1, &4_000_000u32.to_be_bytes(), &mut req);
    c.write_all(&req).unwrap();
    let got = u32::from_be_bytes(answers.next(101).try_into().unwrap());
    assert_eq!(got, pty.speed());
    assert_eq!(b.log().matches("refused").count(), 1, "{}", b.log());
}

/// Whether pyserial is there (a skip with a message, or under strict a failure).
fn have_pyserial() -> bool {
    if !have_tool("python3") {
        return false;
    }
    let ok = std::process::Command::new("python3")
        .args(["-c", "import serial.rfc2217"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !strict(),
            "pyserial is not installed: scripts/setup should have installed it"
        );
        eprintln!("skipped: pyserial is not installed (scripts/setup ser2tcp installs it)");
    }
    ok
}

/// Run pyserial's `rfc2217://` client against the bridge: open at 9600, write, read 2
/// bytes; prints `open`, `got HEX`, or `error: ...`.
fn pyserial_session(port: u16) -> String {
    let script = format!(
        r#"
import serial
try:
    s = serial.serial_for_url('rfc2217://127.0.0.1:{port}', baudrate=9600, timeout=20)
    print('open', flush=True)
    s.write(b'\xff\x00hi')
    s.flush()
    print('got', s.read(2).hex(), flush=True)
    s.close()
except Exception as e:
    print('error:', e, flush=True)
"#
    );
    let o = run(std::process::Command::new("python3").args(["-c", &script]));
    stdout(&o)
}

#[test]
fn pyserial_rfc2217_client_against_each_mode() {
    if !have_pyserial() {
        return;
    }
    // raw (the seed's command line): the client is refused, its negotiation never
    // reaches the device, and the log says why and what to do
    let mut pty = Pty::new();
    let b = Bridge::start(&["-b", "115200", "-p", pty.dev()]);
    let out = pyserial_session(b.port);
    assert!(
        out.starts_with("error:"),
        "pyserial opened a raw port: {out}"
    );
    let line = b.wait_log("refused 127.0.0.1:");
    assert!(
        line.contains("telnet negotiation") && line.contains("--mode auto"),
        "{line}"
    );
    assert_eq!(pty.speed(), 115_200);
    // a raw socket sees the reason in one line, then the close
    let mut t = b.connect();
    t.write_all(&[
        IAC, WILL, COM_PORT, IAC, SB, COM_PORT, 1, 0, 0, 1, 0, IAC, SE,
    ])
    .unwrap();
    let mut said = String::new();
    t.read_to_string(&mut said).unwrap();
    assert!(
        said.starts_with("ser2tcp: refused: it opened with telnet negotiation")
            && said.ends_with("--rfc2217)\r\n")
            && said.matches('\n').count() == 1,
        "{said:?}"
    );
    // the device got nothing: the next raw client's bytes are the first it sees
    let mut c = b.connect();
    wait_attached(&b, 1);
    c.write_all(b"raw\xff\xfb").unwrap();
    assert_eq!(pty.read_n(5), b"raw\xff\xfb");
    drop(c);
    // a raw client that opens with IAC IAC (a data byte 255) is raw, not telnet
    let mut c = b.connect();
    wait_attached(&b, 2);
    c.write_all(b"\xff").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"\xffz").unwrap();
    assert_eq!(pty.read_n(3), b"\xff\xffz");
    drop(c);
    drop(b);

    // binary: nothing is looked at, a telnet opening goes to the device as it is
    let b = Bridge::start(&["-b", "115200", "-p", pty.dev(), "--mode", "binary"]);
    let mut c = b.connect();
    wait_attached(&b, 1);
    c.write_all(&[IAC, WILL, COM_PORT, b'x']).unwrap();
    assert_eq!(pty.read_n(4), [IAC, WILL, COM_PORT, b'x']);
    drop(c);
    drop(b);

    // auto: the same client is served as RFC 2217 (its 9600 reaches the tty), and a raw
    // client still gets raw bytes both ways
    let b = Bridge::start(&["-b", "115200", "-p", pty.dev(), "--mode", "auto"]);
    let mut m = pty.master.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let got = read_n(&mut m, 4, || {});
        m.write_all(b"\xffk").unwrap();
        got
    });
    let out = pyserial_session(b.port);
    assert_eq!(out, "open\ngot ff6b\n", "{}", b.log());
    assert_eq!(answer.join().unwrap(), b"\xff\x00hi", "IAC IAC not undone");
    b.wait_log("speaks telnet: RFC 2217 for it (--mode auto)");
    b.wait_log("set 9600 8N1");
    assert_eq!(pty.speed(), 9600);
    let mut c = b.connect();
    wait_attached(&b, 2);
    c.write_all(b"\xff\xffraw").unwrap();
    assert_eq!(
        pty.read_n(5),
        b"\xff\xffraw",
        "a raw client's bytes changed"
    );
    pty.master.write_all(b"\xff").unwrap();
    assert_eq!(recv_n(&mut c, 1), b"\xff");
    drop(c);
    drop(b);

    // rfc2217: served from the first byte
    let b = Bridge::start(&["-b", "115200", "-p", pty.dev(), "--rfc2217"]);
    let mut m = pty.master.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let got = read_n(&mut m, 4, || {});
        m.write_all(b"ok").unwrap();
        got
    });
    assert_eq!(pyserial_session(b.port), "open\ngot 6f6b\n");
    assert_eq!(answer.join().unwrap(), b"\xff\x00hi");
}

// ---- a colleague on another network (network namespaces) ----

#[test]
fn a_remote_colleague_gets_in_only_when_let_in_and_hears_why_not() {
    let Some(net) = netns::Link::new() else {
        return;
    };
    let office = |port: u16| -> std::net::SocketAddr {
        format!("{}:{port}", netns::OFFICE).parse().unwrap()
    };
    let mut pty = Pty::new();
    // the seed's command line: loopback only, and the first line says so and how to open up
    let b = Bridge::start_in(&net.office, &["-b", "115200", "-p", pty.dev()]);
    let first = b.log().lines().next().unwrap().to_string();
    assert!(
        first.starts_with("ser2tcp: listening on 127.0.0.1:")
            && first
                .contains("only this machine can connect (to let others in: --remote --allow NET"),
        "{first}"
    );
    let e = net.abroad.connect(office(b.port)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    drop(b);

    // --remote alone: anyone gets in, and the first line (a warning, shown even with -q)
    // says so
    let b = Bridge::start_in(&net.office, &["-p", pty.dev(), "--remote", "-q"]);
    let first = b.log().lines().next().unwrap().to_string();
    assert!(
        first.starts_with("ser2tcp: warning: listening on 0.0.0.0:")
            && first.ends_with(&format!(
                "anyone who can reach port {} of this machine can connect (to limit it: --allow NET)",
                b.port
            )),
        "{first}"
    );
    let mut c = net.abroad.connect(office(b.port)).unwrap();
    c.write_all(b"x").unwrap();
    assert_eq!(pty.read_n(1), b"x");
    drop(c);
    drop(b);

    // --remote --allow the colleague's network: they get in, and loopback still does
    let b = Bridge::start_in(
        &net.office,
        &[
            "-b",
            "115200",
            "-p",
            pty.dev(),
            "--remote",
            "--allow",
            "198.51.100.0/24",
            "--max-clients",
            "2",
        ],
    );
    let first = b.log().lines().next().unwrap().to_string();
    assert!(
        first.starts_with("ser2tcp: listening on 0.0.0.0:")
            && first.ends_with("only clients from 198.51.100.0/24, 127.0.0.0/8, ::1 can connect (more: another --allow NET)"),
        "{first}"
    );
    let mut c = net.abroad.connect(office(b.port)).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    b.wait_log(&format!("client {}:", netns::ABROAD));
    c.write_all(b"90\n").unwrap();
    assert_eq!(pty.read_n(3), b"90\n");
    pty.master.write_all(b"Input angle: 90\r\n").unwrap();
    assert_eq!(recv_n(&mut c, 17), b"Input angle: 90\r\n");
    let local: std::net::SocketAddr = format!("127.0.0.1:{}", b.port).parse().unwrap();
    let mut l = net.office.connect(local).unwrap();
    wait_attached(&b, 2);
    l.write_all(b"1").unwrap();
    assert_eq!(pty.read_n(1), b"1");
    drop((c, l));
    drop(b);

    // bound to the office address, the colleague's network not allowed: one line, close
    let b = Bridge::start_in(
        &net.office,
        &[
            "-p",
            pty.dev(),
            "--bind",
            netns::OFFICE,
            "--allow",
            "192.0.2.0/24",
        ],
    );
    let mut c = net.abroad.connect(office(b.port)).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let mut said = String::new();
    c.read_to_string(&mut said).unwrap();
    assert_eq!(said, "ser2tcp: refused: 198.51.100.2 is not in --allow\r\n");
    b.wait_log("refused 198.51.100.2:");
    drop(b);
    // a banner of one's own
    let b = Bridge::start_in(
        &net.office,
        &[
            "-p",
            pty.dev(),
            "--remote",
            "--allow",
            "192.0.2.7",
            "--refuse-banner",
            "turntable: {reason}; ask the office for access",
        ],
    );
    let mut c = net.abroad.connect(office(b.port)).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let mut said = String::new();
    c.read_to_string(&mut said).unwrap();
    assert_eq!(
        said,
        "turntable: 198.51.100.2 is not in --allow; ask the office for access\r\n"
    );
    drop(b);
    // nothing of the refused clients reached the device
    let b = Bridge::start(&["-p", pty.dev()]);
    let mut c = b.connect();
    wait_attached(&b, 1);
    c.write_all(b"z").unwrap();
    assert_eq!(pty.read_n(1), b"z");
}
