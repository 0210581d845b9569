//! The serial port: opened once (exclusively), configured with termios, read and written
//! without blocking from the event loop.

use rustix::termios::{self, ControlModes, InputModes, OptionalActions, QueueSelector};
use serialport::SerialPort;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Linux's CMSPAR (mark/space parity), which rustix does not name.
const CMSPAR: u32 = 0o10000000000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parity {
    None,
    Even,
    Odd,
    Mark,
    Space,
}

impl Parity {
    pub fn letter(self) -> char {
        match self {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
            Parity::Mark => 'M',
            Parity::Space => 'S',
        }
    }
    pub fn from_letter(s: &str) -> Result<Parity, String> {
        match s.to_ascii_uppercase().as_str() {
            "N" | "NONE" => Ok(Parity::None),
            "E" | "EVEN" => Ok(Parity::Even),
            "O" | "ODD" => Ok(Parity::Odd),
            "M" | "MARK" => Ok(Parity::Mark),
            "S" | "SPACE" => Ok(Parity::Space),
            _ => Err(format!("'{s}' is not a parity: N, E, O, M or S")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    None,
    XonXoff,
    RtsCts,
}

/// The line settings, as given on the command line and changed by RFC 2217 clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
    pub flow: Flow,
    /// Keep HUPCL (drop DTR when the port is closed). Off by default.
    pub hupcl: bool,
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}{}{}",
            self.baud,
            self.data_bits,
            self.parity.letter(),
            self.stop_bits
        )?;
        match self.flow {
            Flow::None => Ok(()),
            Flow::XonXoff => f.write_str(" xonxoff"),
            Flow::RtsCts => f.write_str(" rtscts"),
        }
    }
}

/// Why a port could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Another program has it (TIOCEXCL or its lock).
    Busy,
    /// No such device (yet).
    Missing,
    /// Anything else, with its reason.
    Other(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Busy => f.write_str("busy: another program has it open"),
            OpenError::Missing => f.write_str("no such device"),
            OpenError::Other(s) => f.write_str(s),
        }
    }
}

/// Modem status lines, as RFC 2217 reports them (bit 7 CD, 6 RI, 5 DSR, 4 CTS).
pub type ModemState = u8;

pub struct Port {
    tty: serialport::TTYPort,
}

impl Port {
    /// Open `path` exclusively, raw, with `settings`, without blocking. HUPCL is cleared
    /// unless `settings.hupcl`.
    pub fn open(path: &str, settings: &Settings) -> Result<Port, OpenError> {
        let tty = serialport::new(path, settings.baud)
            .open_native()
            .map_err(|e| match e.kind() {
                serialport::ErrorKind::NoDevice => OpenError::Busy,
                serialport::ErrorKind::Io(io::ErrorKind::NotFound) => OpenError::Missing,
                _ => OpenError::Other(lower_first(&e.description)),
            })?;
        let port = Port { tty };
        let flags = rustix::fs::fcntl_getfl(port.fd()).map_err(other)?;
        rustix::fs::fcntl_setfl(port.fd(), flags | rustix::fs::OFlags::NONBLOCK).map_err(other)?;
        port.apply(settings)
            .map_err(|e| OpenError::Other(opsbox_common::io_reason(&e)))?;
        Ok(port)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor is owned by `self.tty` and lives as long as `self`.
        unsafe { BorrowedFd::borrow_raw(self.tty.as_raw_fd()) }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.tty.as_raw_fd()
    }

    /// Put `s` into the port's termios.
    pub fn apply(&self, s: &Settings) -> io::Result<()> {
        let mut t = termios::tcgetattr(self.fd()).map_err(io::Error::from)?;
        t.set_speed(s.baud)?;
        let mut c = t.control_modes;
        c.remove(
            ControlModes::CSIZE
                | ControlModes::PARENB
                | ControlModes::PARODD
                | ControlModes::CSTOPB
                | ControlModes::CRTSCTS
                | ControlModes::HUPCL
                | ControlModes::from_bits_retain(CMSPAR),
        );
        c |= match s.data_bits {
            5 => ControlModes::CS5,
            6 => ControlModes::CS6,
            7 => ControlModes::CS7,
            _ => ControlModes::CS8,
        };
        c |= match s.parity {
            Parity::None => ControlModes::empty(),
            Parity::Even => ControlModes::PARENB,
            Parity::Odd => ControlModes::PARENB | ControlModes::PARODD,
            Parity::Mark => {
                ControlModes::PARENB | ControlModes::PARODD | ControlModes::from_bits_retain(CMSPAR)
            }
            Parity::Space => ControlModes::PARENB | ControlModes::from_bits_retain(CMSPAR),
        };
        if s.stop_bits == 2 {
            c |= ControlModes::CSTOPB;
        }
        if s.flow == Flow::RtsCts {
            c |= ControlModes::CRTSCTS;
        }
        if s.hupcl {
            c |= ControlModes::HUPCL;
        }
        c |= ControlModes::CREAD | ControlModes::CLOCAL;
        t.control_modes = c;
        let mut i = t.input_modes;
        i.remove(InputModes::IXON | InputModes::IXOFF | InputModes::IXANY);
        if s.flow == Flow::XonXoff {
            i |= InputModes::IXON | InputModes::IXOFF;
        }
        t.input_modes = i;
        termios::tcsetattr(self.fd(), OptionalActions::Now, &t).map_err(io::Error::from)
    }

    /// The baud rate the port really has.
    pub fn baud(&self) -> io::Result<u32> {
        Ok(termios::tcgetattr(self.fd())?.output_speed())
    }

    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        rustix::io::read(self.fd(), buf).map_err(io::Error::from)
    }

    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        rustix::io::write(self.fd(), buf).map_err(io::Error::from)
    }

    pub fn set_dtr(&mut self, on: bool) -> Result<(), String> {
        self.tty
            .write_data_terminal_ready(on)
            .map_err(|e| lower_first(&e.description))
    }

    pub fn set_rts(&mut self, on: bool) -> Result<(), String> {
        self.tty
            .write_request_to_send(on)
            .map_err(|e| lower_first(&e.description))
    }

    pub fn set_break(&self, on: bool) -> Result<(), String> {
        let r = if on {
            self.tty.set_break()
        } else {
            self.tty.clear_break()
        };
        r.map_err(|e| lower_first(&e.description))
    }

    /// CD, RI, DSR, CTS as RFC 2217's modem-state byte (high nibble), or an error when the
    /// device has no modem lines (a pty).
    pub fn modem_state(&mut self) -> Result<ModemState, String> {
        let e = |e: serialport::Error| lower_first(&e.description);
        let cts = self.tty.read_clear_to_send().map_err(e)?;
        let dsr = self.tty.read_data_set_ready().map_err(e)?;
        let ri = self.tty.read_ring_indicator().map_err(e)?;
        let cd = self.tty.read_carrier_detect().map_err(e)?;
        Ok(u8::from(cd) << 7 | u8::from(ri) << 6 | u8::from(dsr) << 5 | u8::from(cts) << 4)
    }

    /// Throw away what is queued: 1 input, 2 output, 3 both.
    pub fn purge(&self, which: u8) -> io::Result<()> {
        let q = match which {
            1 => QueueSelector::IFlush,
            2 => QueueSelector::OFlush,
            _ => QueueSelector::IOFlush,
        };
        termios::tcflush(self.fd(), q).map_err(io::Error::from)
    }
}

fn other(e: rustix::io::Errno) -> OpenError {
    OpenError::Other(opsbox_common::io_reason(&io::Error::from(e)))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}
