//! `scripts/flash`: its avrdude command is the Arduino IDE's, and avrdude really flashes
//! dist/firmware.hex with it. Debian's avrdude (7.1) has no dry-run programmer, so the
//! board's end is played here: an STK500v1 bootloader (what `-c arduino` speaks to the
//! UNO's optiboot) on a pty, which keeps what avrdude writes and reads it back to it.

mod support;

use rustix::pty;
use rustix::termios::{self, OptionalActions};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::*;

// STK500 v1 (Atmel AVR061)
const STK_OK: u8 = 0x10;
const STK_INSYNC: u8 = 0x14;
const CRC_EOP: u8 = 0x20;
const GET_SYNC: u8 = 0x30;
const SET_PARAMETER: u8 = 0x40;
const GET_PARAMETER: u8 = 0x41;
const SET_DEVICE: u8 = 0x42;
const SET_DEVICE_EXT: u8 = 0x45;
const ENTER_PROGMODE: u8 = 0x50;
const LEAVE_PROGMODE: u8 = 0x51;
const LOAD_ADDRESS: u8 = 0x55;
const UNIVERSAL: u8 = 0x56;
const PROG_PAGE: u8 = 0x64;
const READ_PAGE: u8 = 0x74;
const READ_SIGN: u8 = 0x75;

/// The ATmega328P's signature.
const SIGNATURE: [u8; 3] = [0x1e, 0x95, 0x0f];
const FLASH: usize = 32 * 1024;

/// What the fake bootloader saw.
struct Session {
    flash: Vec<u8>,
    written: usize,
    left_progmode: bool,
    error: Option<String>,
}

/// Serve one avrdude session on the pty master until it leaves programming mode (or
/// `stop` is set: avrdude is gone).
fn bootloader(mut m: File, stop: Arc<AtomicBool>) -> Session {
    let mut s = Session {
        flash: vec![0xff; FLASH],
        written: 0,
        left_progmode: false,
        error: None,
    };
    let mut addr = 0usize; // in bytes (LOAD_ADDRESS gives words)
    let mut w = m.try_clone().unwrap();
    let mut byte = || -> Option<u8> {
        let mut b = [0u8; 1];
        loop {
            match m.read(&mut b) {
                Ok(1) => return Some(b[0]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if stop.load(Ordering::Relaxed) {
                        return None;
                    }
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                _ => return None,
            }
        }
    };
    let result = (|| -> Result<(), String> {
        loop {
            let Some(cmd) = byte() else {
                return Ok(());
            };
            let mut take = |n: usize| -> Result<Vec<u8>, String> {
                (0..n)
                    .map(|_| byte().ok_or_else(|| "short command".to_string()))
                    .collect()
            };
            let answer: Vec<u8> = match cmd {
                GET_SYNC | ENTER_PROGMODE | LEAVE_PROGMODE => vec![],
                GET_PARAMETER => {
                    let a = take(1)?;
                    // hardware 2, software 4.4 (optiboot's answers)
                    let v = match a[0] {
                        0x80 => 2,
                        0x81 | 0x82 => 4,
                        _ => 0,
                    };
                    vec![v]
                }
                SET_PARAMETER => take(2).map(|_| vec![])?,
                SET_DEVICE => take(20).map(|_| vec![])?,
                SET_DEVICE_EXT => {
                    let n = take(1)?;
                    take(usize::from(n[0]).saturating_sub(1))?;
                    vec![]
                }
                LOAD_ADDRESS => {
                    let a = take(2)?;
                    addr = usize::from(u16::from_le_bytes([a[0], a[1]])) * 2;
                    vec![]
                }
                UNIVERSAL => take(4).map(|_| vec![0])?,
                READ_SIGN => SIGNATURE.to_vec(),
                PROG_PAGE | READ_PAGE => {
                    let h = take(3)?;
                    let len = usize::from(u16::from_be_bytes([h[0], h[1]]));
                    if h[2] != b'F' {
                        return Err(format!("memory {:?} is not flash", h[2] as char));
                    }
                    if addr + len > FLASH {
                        return Err(format!("{len} bytes at {addr:#x}: past the flash"));
                    }
                    if cmd == PROG_PAGE {
                        let data = take(len)?;
                        s.flash[addr..addr + len].copy_from_slice(&data);
                        s.written += len;
                        vec![]
                    } else {
                        s.flash[addr..addr + len].to_vec()
                    }
                }
                other => return Err(format!("unexpected command {other:#04x}")),
            };
            if byte() != Some(CRC_EOP) {
                return Err(format!("command {cmd:#04x} without CRC_EOP"));
            }
            let reply = [&[STK_INSYNC][..], &answer, &[STK_OK]].concat();
            w.write_all(&reply).map_err(|e| e.to_string())?;
            // the master stays open until avrdude is gone (closing it under avrdude's
            // last tcsetattr would hang it)
            s.left_progmode |= cmd == LEAVE_PROGMODE;
        }
    })();
    s.error = result.err();
    s
}

/// An Intel HEX file's bytes by address.
fn intel_hex(path: &Path) -> BTreeMap<usize, u8> {
    let mut out = BTreeMap::new();
    let mut base = 0usize;
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let hex = line
            .trim()
            .strip_prefix(':')
            .expect("a record starts with ':'");
        let b: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let sum = b.iter().fold(0u8, |a, x| a.wrapping_add(*x));
        assert_eq!(sum, 0, "checksum of {line}");
        let (n, at, kind) = (
            usize::from(b[0]),
            usize::from(b[1]) << 8 | usize::from(b[2]),
            b[3],
        );
        match kind {
            0 => {
                for (i, v) in b[4..4 + n].iter().enumerate() {
                    out.insert(base + at + i, *v);
                }
            }
            1 => break,
            2 => base = (usize::from(b[4]) << 8 | usize::from(b[5])) << 4,
            4 => base = (usize::from(b[4]) << 8 | usize::from(b[5])) << 16,
            _ => {}
        }
    }
    out
}

#[test]
fn the_command_is_the_arduino_ides() {
    let o =
        run(std::process::Command::new(root().join("scripts/flash"))
            .args(["--print", "/dev/ttyACM0"]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "avrdude -p atmega328p -c arduino -b 115200 -P /dev/ttyACM0 -D -U flash:w:dist/firmware.hex:i\n"
    );
    let o = run(std::process::Command::new(root().join("scripts/flash")).arg("--bogus"));
    assert_eq!(code(&o), 64);
}

#[test]
fn avrdude_flashes_the_hex_through_the_bootloader() {
    let Some(elf) = firmware(&["avrdude"]) else {
        return;
    };
    let hex = elf.with_extension("hex");
    assert!(hex.is_file(), "{} is missing beside the ELF", hex.display());
    // the board's serial port: a pty, raw, the slave held open so the master never sees
    // EIO between avrdude's opens
    let master =
        pty::openpt(pty::OpenptFlags::RDWR | pty::OpenptFlags::NOCTTY | pty::OpenptFlags::CLOEXEC)
            .unwrap();
    pty::grantpt(&master).unwrap();
    pty::unlockpt(&master).unwrap();
    let path = pty::ptsname(&master, Vec::new()).unwrap();
    let path = path.to_str().unwrap().to_string();
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
        .open(&path)
        .unwrap()
        .into();
    let mut t = termios::tcgetattr(&slave).unwrap();
    t.make_raw();
    termios::tcsetattr(&slave, OptionalActions::Now, &t).unwrap();
    let fl = rustix::fs::fcntl_getfl(&master).unwrap();
    rustix::fs::fcntl_setfl(&master, fl | rustix::fs::OFlags::NONBLOCK).unwrap();
    let board = File::from(master);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let fake = std::thread::spawn(move || bootloader(board, stopped));

    let o = run(std::process::Command::new(root().join("scripts/flash"))
        .arg("--hex")
        .arg(&hex)
        .arg(&path));
    stop.store(true, Ordering::Relaxed);
    let session = fake.join().unwrap();
    assert_eq!(code(&o), 0, "avrdude failed:\n{}", stderr(&o));
    assert_eq!(session.error, None, "avrdude:\n{}", stderr(&o));
    assert!(session.left_progmode);
    let err = stderr(&o);
    assert!(err.contains("flash verified"), "{err}");
    // what the board holds is the image, byte for byte (the rest of its pages 0xff)
    let image = intel_hex(&hex);
    assert!(!image.is_empty());
    for (&at, &v) in &image {
        assert_eq!(session.flash[at], v, "flash at {at:#06x}");
    }
    let end = image.keys().max().unwrap() + 1;
    assert!(session.flash[end..].iter().all(|&b| b == 0xff));
    assert_eq!(
        session.written,
        end.div_ceil(128) * 128,
        "pages of 128 bytes"
    );
    eprintln!(
        "avrdude wrote {} bytes ({} of firmware) and verified them",
        session.written,
        image.len()
    );
    drop(slave);
}
