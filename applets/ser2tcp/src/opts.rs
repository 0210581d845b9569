//! The command line: ser2tcp's own options plus the forms of pyserial's
//! `tcp_serial_redirect.py` (old `-p PORT -b BAUD -P LOCALPORT`, new `SERIALPORT [BAUDRATE]`).

use crate::serial::{Flow, Parity, Settings};
use argh::FromArgs;
use opsbox_common::net;
use opsbox_common::{Error, cli};

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "The seed's command line works as it is: ser2tcp -b 115200 -p /dev/ttyUSB0 -P 7777.
It listens on 127.0.0.1 (only this machine can connect) unless --bind or --remote says
otherwise; its first log line says who can connect. For a colleague elsewhere: an SSH
tunnel to the loopback port, or a VPN address with --bind ADDR --allow VPN-NET. It keeps
the serial port open across client sessions with HUPCL cleared (an Arduino is not
reset), and waits for the device to come back when it goes. Also accepted: the old
script's --port and --baud, the new one's --bytesize, and long options with their
value after '='.",
    example = "ser2tcp -b 115200 -p /dev/ttyUSB0 -P 7777 --angle
ser2tcp /dev/ttyACM0 115200 --remote --allow 10.8.0.0/24 --max-clients 4
ser2tcp -p /dev/ttyUSB0 --rfc2217 -P 2217 --log /var/log/ser2tcp.log",
    error_code(0, "stopped by SIGINT or SIGTERM"),
    error_code(64, "usage error"),
    error_code(69, "the serial device cannot be opened (missing, busy)"),
    error_code(73, "the log file cannot be created"),
    error_code(74, "the listening socket or another I/O operation failed")
)]
/// Bridge a serial port to TCP: what the port sends goes to every client; what clients send
/// goes to the port.
pub struct Opts {
    /// the serial device (also the first positional argument)
    #[argh(option, short = 'p')]
    pub port: Option<String>,
    /// baud rate (default 9600; also the second positional argument)
    #[argh(option, short = 'b')]
    pub baud: Option<u32>,
    /// TCP port to listen on (default 7777; 0 picks a free one and says which)
    #[argh(option, short = 'P')]
    pub localport: Option<u16>,
    /// address to listen on (default 127.0.0.1; 0.0.0.0 or :: for every interface)
    #[argh(option)]
    pub bind: Option<String>,
    /// listen on every interface (--bind 0.0.0.0); with --allow NET, only NET (and this
    /// machine) may connect
    #[argh(switch)]
    pub remote: bool,
    /// parity: N, E, O, M or S (default N)
    #[argh(option, from_str_fn(parity))]
    pub parity: Option<Parity>,
    /// data bits: 5 to 8 (default 8)
    #[argh(option, from_str_fn(databits))]
    pub databits: Option<u8>,
    /// stop bits: 1 or 2 (default 1)
    #[argh(option, from_str_fn(stopbits))]
    pub stopbits: Option<u8>,
    /// hardware flow control (RTS/CTS)
    #[argh(switch)]
    pub rtscts: bool,
    /// software flow control (XON/XOFF)
    #[argh(switch)]
    pub xonxoff: bool,
    /// set RTS to 0 or 1 after opening the port
    #[argh(option, from_str_fn(bit))]
    pub rts: Option<bool>,
    /// set DTR to 0 or 1 after opening the port
    #[argh(option, from_str_fn(bit))]
    pub dtr: Option<bool>,
    /// connect to HOST:PORT instead of listening, reconnecting with backoff
    #[argh(option, short = 'c')]
    pub client: Option<String>,
    /// how many clients may be connected at once (default 1)
    #[argh(option, from_str_fn(max_clients))]
    pub max_clients: Option<usize>,
    /// a new client replaces the oldest one instead of being refused
    #[argh(switch)]
    pub kick_old: bool,
    /// accept clients only from this network (ADDR[/PREFIX]; repeatable); loopback stays
    /// allowed unless --no-loopback
    #[argh(option, from_str_fn(cidr))]
    pub allow: Vec<net::Net>,
    /// with --allow: refuse clients on this machine's loopback too
    #[argh(switch)]
    pub no_loopback: bool,
    /// the line a refused client gets before the close ('{reason}' is replaced by why),
    /// or 'none' for a silent close (default 'ser2tcp: refused: {reason}')
    #[argh(option)]
    pub refuse_banner: Option<String>,
    /// check each line a client sends with the angle-command parser: forward valid angles,
    /// answer bad lines locally
    #[argh(switch)]
    pub angle: bool,
    /// speak telnet with the RFC 2217 COM-PORT-OPTION (clients may change baud rate etc.);
    /// the same as --mode rfc2217
    #[argh(switch)]
    pub rfc2217: bool,
    /// raw (default: bytes as they are; a client that opens with telnet negotiation is
    /// refused), rfc2217 (every client speaks telnet), auto (clients that open with
    /// telnet negotiation get RFC 2217, the others raw bytes), or binary (bytes as they
    /// are, never looked at)
    #[argh(option, from_str_fn(mode))]
    pub mode: Option<Mode>,
    /// keep HUPCL: drop DTR when ser2tcp closes the port (resets an Arduino)
    #[argh(switch)]
    pub hupcl: bool,
    /// pulse DTR once after opening, to reset the device on purpose
    #[argh(switch)]
    pub reset: bool,
    /// tell clients in one line when the serial device goes away and comes back
    #[argh(switch)]
    pub notify: bool,
    /// if the device cannot be opened at start, wait for it instead of exiting 69
    #[argh(switch)]
    pub wait_device: bool,
    /// append the log to FILE (reopened on SIGHUP) instead of stderr
    #[argh(option)]
    pub log: Option<String>,
    /// log only warnings and errors
    #[argh(switch, short = 'q')]
    pub quiet: bool,
    /// SERIALPORT [BAUDRATE], as tcp_serial_redirect.py takes them
    #[argh(positional, arg_name = "SERIALPORT")]
    pub args: Vec<String>,
}

/// What clients speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Raw bytes; a client that opens with telnet negotiation is refused.
    Raw,
    /// Telnet with the COM-PORT-OPTION, for every client.
    Rfc2217,
    /// Telnet for the clients that open with negotiation, raw bytes for the others.
    Auto,
    /// Raw bytes, the first ones not looked at (a binary protocol that may start with 255).
    Binary,
}

/// Where the bridge meets TCP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Net {
    Listen { bind: String, port: u16 },
    Connect(String),
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub device: String,
    pub settings: Settings,
    pub net: Net,
    pub rts: Option<bool>,
    pub dtr: Option<bool>,
    pub max_clients: usize,
    pub kick_old: bool,
    /// Who may connect (empty: anyone who reaches the port); loopback already added.
    pub allow: Vec<net::Net>,
    /// The refusal line's template (`{reason}` in it), or `None` for a silent close.
    pub refuse_banner: Option<String>,
    pub angle: bool,
    pub mode: Mode,
    pub reset: bool,
    pub notify: bool,
    pub wait_device: bool,
    pub log: Option<String>,
    pub quiet: bool,
}

/// The line a refused client gets unless `--refuse-banner` says otherwise.
pub const DEFAULT_BANNER: &str = "ser2tcp: refused: {reason}";

/// Parse the command line into a [`Config`] (usage errors are exit 64).
pub fn parse(args: &[String]) -> Result<Config, Error> {
    let args = normalize(args);
    let o: Opts = cli::parse(&[crate::NAME], &args)?;
    let usage = |m: &str| {
        Error::usage(m.to_string()).with_hint(format!(
            "Try '{} --help' for more information.",
            crate::NAME
        ))
    };
    let mut pos = o.args.iter();
    let device = match (o.port, pos.next()) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "give the serial device once: -p DEVICE or SERIALPORT",
            ));
        }
        (Some(p), None) => p,
        (None, Some(p)) => p.clone(),
        (None, None) => return Err(usage("no serial device: give -p DEVICE or SERIALPORT")),
    };
    let baud = match (o.baud, pos.next()) {
        (Some(_), Some(_)) => return Err(usage("give the baud rate once: -b BAUD or BAUDRATE")),
        (Some(b), None) => b,
        (None, Some(b)) => b
            .parse()
            .map_err(|_| usage(&format!("'{b}' is not a baud rate")))?,
        (None, None) => 9600,
    };
    if !(crate::rfc2217::BAUD_MIN..=crate::rfc2217::BAUD_MAX).contains(&baud) {
        return Err(usage(&format!(
            "baud rate {baud}: give {} to {}",
            crate::rfc2217::BAUD_MIN,
            crate::rfc2217::BAUD_MAX
        )));
    }
    if let Some(extra) = pos.next() {
        return Err(usage(&format!("unexpected argument '{extra}'")));
    }
    let mode = match (o.rfc2217, o.mode) {
        (true, Some(Mode::Rfc2217) | None) => Mode::Rfc2217,
        (true, Some(_)) => return Err(usage("--rfc2217 is --mode rfc2217: give one of them")),
        (false, m) => m.unwrap_or(Mode::Raw),
    };
    if o.rtscts && o.xonxoff {
        return Err(usage("--rtscts and --xonxoff exclude each other"));
    }
    let bind = match (o.remote, o.bind) {
        (true, Some(_)) => {
            return Err(usage("--remote is --bind 0.0.0.0: give one of them"));
        }
        (true, None) => Some("0.0.0.0".to_string()),
        (false, b) => b,
    };
    let net = match (o.client, o.localport, bind) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(usage(
                "--client connects out: --localport, --bind and --remote do not apply",
            ));
        }
        (Some(c), None, None) => {
            if !c
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
            {
                return Err(usage(&format!("--client '{c}': expected HOST:PORT")));
            }
            Net::Connect(c)
        }
        (None, port, bind) => Net::Listen {
            bind: bind.unwrap_or_else(|| "127.0.0.1".to_string()),
            port: port.unwrap_or(7777),
        },
    };
    if o.no_loopback && o.allow.is_empty() {
        return Err(usage(
            "--no-loopback applies to --allow: give the networks to allow",
        ));
    }
    let mut allow = o.allow;
    if !allow.is_empty() && !o.no_loopback {
        allow.extend(net::Net::loopback());
    }
    let refuse_banner = match o.refuse_banner {
        None => Some(DEFAULT_BANNER.to_string()),
        Some(b) if b == "none" => None,
        Some(b) if b.chars().any(char::is_control) => {
            return Err(usage(
                "--refuse-banner: one line without control characters (or 'none')",
            ));
        }
        Some(b) => Some(b),
    };
    Ok(Config {
        device,
        settings: Settings {
            baud,
            data_bits: o.databits.unwrap_or(8),
            parity: o.parity.unwrap_or(Parity::None),
            stop_bits: o.stopbits.unwrap_or(1),
            flow: if o.rtscts {
                Flow::RtsCts
            } else if o.xonxoff {
                Flow::XonXoff
            } else {
                Flow::None
            },
            hupcl: o.hupcl,
        },
        net,
        rts: o.rts,
        dtr: o.dtr,
        max_clients: o.max_clients.unwrap_or(1),
        kick_old: o.kick_old,
        allow,
        refuse_banner,
        angle: o.angle,
        mode,
        reset: o.reset,
        notify: o.notify,
        wait_device: o.wait_device,
        log: o.log,
        quiet: o.quiet,
    })
}

/// `--opt=value` → `--opt value`; the old script's `--port`/`--baud` and the new one's
/// `--bytesize` → ours. Nothing after `--` is touched.
fn normalize(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut rest = false;
    for a in args {
        if rest || !a.starts_with("--") {
            rest |= a == "--";
            out.push(a.clone());
            continue;
        }
        if a == "--" {
            rest = true;
            out.push(a.clone());
            continue;
        }
        let (name, value) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (a.as_str(), None),
        };
        // --rfc2217=auto and the like: --mode
        if name == "--rfc2217"
            && let Some(v) = value
        {
            out.push("--mode".to_string());
            out.push(v.to_string());
            continue;
        }
        let name = match name {
            "--port" => "-p",
            "--baud" => "-b",
            "--bytesize" => "--databits",
            n => n,
        };
        out.push(name.to_string());
        if let Some(v) = value {
            out.push(v.to_string());
        }
    }
    out
}

fn mode(s: &str) -> Result<Mode, String> {
    match s {
        "raw" => Ok(Mode::Raw),
        "rfc2217" => Ok(Mode::Rfc2217),
        "auto" => Ok(Mode::Auto),
        "binary" => Ok(Mode::Binary),
        _ => Err(format!("'{s}' is not a mode: raw, rfc2217, auto or binary")),
    }
}
fn parity(s: &str) -> Result<Parity, String> {
    Parity::from_letter(s)
}
fn databits(s: &str) -> Result<u8, String> {
    cli::number_in(s, 5, 8)
}
fn stopbits(s: &str) -> Result<u8, String> {
    match s {
        "1" => Ok(1),
        "2" => Ok(2),
        "1.5" => Err("1.5 stop bits are not supported on Linux: use 1 or 2".into()),
        _ => Err(format!("'{s}' is not a number of stop bits: 1 or 2")),
    }
}
fn bit(s: &str) -> Result<bool, String> {
    match s {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!("'{s}' is not 0 or 1")),
    }
}
fn max_clients(s: &str) -> Result<usize, String> {
    cli::number_in(s, 1, 10_000)
}
/// `ADDR[/PREFIX]`, strictly (`opsbox_common::net`); `::ffff:a.b.c.d/p` means IPv4.
fn cidr(s: &str) -> Result<net::Net, String> {
    net::Net::parse(s).map(net::Net::unmapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Config, Error> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn the_seed_command_line() {
        let c = p(&["-b", "115200", "-p", "/dev/ttyUSB0", "-P", "7777"]).unwrap();
        assert_eq!(c.device, "/dev/ttyUSB0");
        assert_eq!(c.settings.baud, 115200);
        assert_eq!(
            c.net,
            Net::Listen {
                bind: "127.0.0.1".into(),
                port: 7777
            }
        );
        assert_eq!(c.max_clients, 1);
        assert!(!c.settings.hupcl);
        assert_eq!(c.mode, Mode::Raw);
    }

    #[test]
    fn the_new_script_forms() {
        let c = p(&[
            "/dev/ttyACM0",
            "57600",
            "--localport=2000",
            "--bytesize",
            "7",
        ])
        .unwrap();
        assert_eq!(
            (c.device.as_str(), c.settings.baud),
            ("/dev/ttyACM0", 57600)
        );
        assert_eq!(c.settings.data_bits, 7);
        let c = p(&["--port", "/dev/x", "--baud=300", "--parity", "e"]).unwrap();
        assert_eq!(c.settings.to_string(), "300 7E1".replace('7', "8"));
        assert_eq!(p(&["/dev/x", "--rfc2217"]).unwrap().mode, Mode::Rfc2217);
        assert_eq!(p(&["/dev/x", "--rfc2217=auto"]).unwrap().mode, Mode::Auto);
        assert_eq!(p(&["/dev/x", "--mode", "auto"]).unwrap().mode, Mode::Auto);
        assert_eq!(p(&["/dev/x", "--mode=binary"]).unwrap().mode, Mode::Binary);
        let c = p(&["/dev/x", "-c", "example.net:4000"]).unwrap();
        assert_eq!(c.net, Net::Connect("example.net:4000".into()));
    }

    #[test]
    fn remote_allow_and_banner() {
        let c = p(&["/dev/x", "--remote", "--allow", "198.51.100.0/24"]).unwrap();
        assert_eq!(
            c.net,
            Net::Listen {
                bind: "0.0.0.0".into(),
                port: 7777
            }
        );
        let shown: Vec<String> = c.allow.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["198.51.100.0/24", "127.0.0.0/8", "::1"]);
        assert_eq!(c.refuse_banner.as_deref(), Some(DEFAULT_BANNER));
        let c = p(&["/dev/x", "--allow", "10.0.0.0/8", "--no-loopback"]).unwrap();
        assert_eq!(c.allow.len(), 1);
        assert!(p(&["/dev/x"]).unwrap().allow.is_empty());
        let c = p(&["/dev/x", "--refuse-banner", "none"]).unwrap();
        assert_eq!(c.refuse_banner, None);
        let c = p(&["/dev/x", "--refuse-banner=go away: {reason}"]).unwrap();
        assert_eq!(c.refuse_banner.as_deref(), Some("go away: {reason}"));
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &[][..],
            &["-p", "/dev/x", "/dev/y"],
            &["/dev/x", "9600", "extra"],
            &["/dev/x", "fast"],
            &["/dev/x", "--stopbits", "1.5"],
            &["/dev/x", "--databits", "9"],
            &["/dev/x", "--rtscts", "--xonxoff"],
            &["/dev/x", "--client", "nohost"],
            &["/dev/x", "--client", "h:1", "-P", "80"],
            &["/dev/x", "--allow", "10.0.0.0/40"],
            &["/dev/x", "--max-clients", "0"],
            &["/dev/x", "--dtr", "2"],
            &["/dev/x", "1"],
            &["/dev/x", "--mode", "telnet"],
            &["/dev/x", "--remote", "--bind", "::"],
            &["/dev/x", "--no-loopback"],
            &["/dev/x", "--refuse-banner", "a\r\nb"],
            &["/dev/x", "--client", "h:1", "--remote"],
            &["/dev/x", "--rfc2217", "--mode", "raw"],
            &["/dev/x", "-b", "4000001"],
        ] {
            let e = p(bad).unwrap_err();
            assert_eq!(e.code(), 64, "{bad:?}: {e:?}");
        }
    }
}
