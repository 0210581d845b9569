//! `ser2tcp`: bridge a serial port to TCP, in one event loop, without resetting the
//! Arduino on the other end.
//!
//! * [`opts`] reads the command line (ser2tcp's and tcp_serial_redirect.py's forms).
//! * [`serial`] opens and configures the port; [`bridge`] runs the loop.
//! * [`telnet`] is RFC 2217's framing, [`rfc2217`] what its commands mean (pure: the
//!   answers, the limits, telling a telnet client by its first bytes).
//! * `opsbox_common::net` is the `--allow` networks, [`log`] the log (with its rate limit).

pub mod bridge;
pub mod log;
pub mod opts;
pub mod rfc2217;
pub mod serial;
pub mod telnet;

use opsbox_common::{Error, ExitCode};

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "ser2tcp";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str = "bridge a serial port to TCP";

/// The command tree shell completions are made from (`opsbox --completions`).
pub fn info() -> opsbox_common::cli::Info {
    opsbox_common::cli::info::<opts::Opts>(NAME, ABOUT, vec![])
}

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode, Error> {
    let config = opts::parse(&args)?;
    bridge::run(&config)
}

/// Entry points for the fuzz targets (`fuzz/fuzz_targets/ser2tcp_*.rs`).
#[doc(hidden)]
pub mod fuzz {
    use crate::telnet::{self, Decoded, IAC, Telnet};

    /// The telnet decoder on `data` (its first byte says where to split it in two reads):
    /// it never panics; the data bytes are the input with IAC IAC undone and commands
    /// removed (an independent slice-walking model of RFC 854 framing); escaping them and
    /// decoding again gives them back; every reply is a whole IAC verb option triple; and
    /// no COM-PORT command makes a baud rate outside the limits reach termios.
    pub fn telnet(data: &[u8]) {
        let Some((&cut, data)) = data.split_first() else {
            return;
        };
        let cut = usize::from(cut).min(data.len());
        let mut t = Telnet::new();
        let mut d = Decoded::default();
        t.decode(&data[..cut], &mut d);
        t.decode(&data[cut..], &mut d);
        assert_eq!(d.data, model(data), "data bytes");
        assert!(d.reply.len() % 3 == 0 && d.reply.chunks(3).all(|r| r[0] == IAC));
        // escape and decode again: the same bytes, nothing else
        let mut wire = Vec::new();
        telnet::escape(&d.data, &mut wire);
        let mut again = Decoded::default();
        Telnet::new().decode(&wire, &mut again);
        assert_eq!(again.data, d.data);
        assert!(again.cmds.is_empty() && again.reply.is_empty());
        let line = crate::rfc2217::Line {
            settings: crate::serial::Settings {
                baud: 9600,
                data_bits: 8,
                parity: crate::serial::Parity::None,
                stop_bits: 1,
                flow: crate::serial::Flow::None,
                hupcl: false,
            },
            dtr: true,
            rts: true,
            brk: false,
        };
        for cmd in &d.cmds {
            if let (crate::rfc2217::Action::Settings(s), _) = crate::rfc2217::plan(cmd, &line) {
                assert!((crate::rfc2217::BAUD_MIN..=crate::rfc2217::BAUD_MAX).contains(&s.baud));
            }
            let now = crate::rfc2217::Now {
                baud: 9600,
                modem: 0,
            };
            if let Some((code, _)) = crate::rfc2217::answer(cmd, &line, now, "s") {
                assert!(code >= telnet::SERVER);
            }
        }
    }

    /// RFC 854 framing, the other way round: find each IAC and skip what it starts.
    fn model(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < input.len() {
            if input[i] != IAC {
                out.push(input[i]);
                i += 1;
                continue;
            }
            match input.get(i + 1) {
                None => break,
                Some(&IAC) => {
                    out.push(IAC);
                    i += 2;
                }
                Some(251..=254) => i += 3,
                // SB: up to IAC SE (IAC IAC inside is a data byte of the option); an IAC
                // followed by anything else ends it too, dropped
                Some(250) => {
                    let mut j = i + 2;
                    loop {
                        match (input.get(j), input.get(j + 1)) {
                            (None, _) | (Some(&IAC), None) => return out,
                            (Some(&IAC), Some(&IAC)) => j += 2,
                            (Some(&IAC), Some(_)) => break,
                            _ => j += 1,
                        }
                    }
                    i = j + 2;
                }
                Some(_) => i += 2,
            }
        }
        out
    }
}
