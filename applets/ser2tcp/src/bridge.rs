//! The event loop: the serial port, the listening socket (or the outgoing connection),
//! every client and the signals, all in one mio poll.

use crate::log::{Limit, Log};
use crate::opts::{Config, Mode, Net};
use crate::rfc2217::{self, Action};
use crate::serial::{OpenError, Port, Settings};
use crate::telnet::{self, Cmd, Decoded, Telnet};
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use opsbox_common::{Error, ExitCode, io_reason};
use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const SERIAL: Token = Token(1);
const SIGNALS: Token = Token(2);
const FIRST_CLIENT: usize = 16;

/// A client with this much unsent is not reading: it is dropped.
pub const CLIENT_QUEUE_MAX: usize = 64 * 1024;
/// Clients are not read while this much waits for the serial port.
const SERIAL_QUEUE_HIGH: usize = 64 * 1024;
/// How often a missing device is retried.
const RETRY: Duration = Duration::from_millis(500);
/// `--client` reconnects after 0.5 s, doubling up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// At most this many lines a second log clients' settings changes (the rest are counted).
const REQUEST_LOG_PER_SEC: u32 = 5;
/// How often RFC 2217 clients' modem lines are looked at.
const MODEM_POLL: Duration = Duration::from_secs(1);

struct Client {
    sock: TcpStream,
    peer: String,
    out: Vec<u8>,
    sent: usize,
    parser: Option<angle::Parser>,
    telnet: Option<Telnet>,
    /// Its first bytes, until they tell a telnet client from a raw one (raw and auto
    /// modes; `None` once decided).
    sniff: Option<Vec<u8>>,
    /// RFC 2217 agreed: it gets modem-state notices.
    com_port: bool,
    /// A refused request of this client was logged (the next ones are not).
    refusal_logged: bool,
    /// Readable, but held back while the serial queue is full.
    held: bool,
    /// `--client`: the connection is still being made.
    connecting: bool,
    since: u64,
}

impl Client {
    fn pending(&self) -> usize {
        self.out.len() - self.sent
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.sent < self.out.len() {
            match self.sock.write(&self.out[self.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
            // a burst is over: give its memory back (50 idle clients stay small)
            if self.out.capacity() > 16 * 1024 {
                self.out = Vec::new();
            }
        } else if self.sent >= CLIENT_QUEUE_MAX {
            self.out.drain(..self.sent);
            self.sent = 0;
        }
        Ok(())
    }
}

/// What happened to a client that has to go.
enum Gone {
    Closed(String),
    /// Refused: it is told why in one line before the close.
    Refused(String),
    Kept,
}

struct Bridge<'a> {
    cfg: &'a Config,
    poll: Poll,
    log: Log,
    settings: Settings,
    port: Option<Port>,
    serial_out: Vec<u8>,
    serial_sent: usize,
    /// The serial fd is registered for writability (only while output waits: a tty
    /// signals writability after every write, which would wake the loop for nothing).
    serial_wants_write: bool,
    listener: Option<TcpListener>,
    clients: BTreeMap<Token, Client>,
    next_token: usize,
    counter: u64,
    retry_at: Option<Instant>,
    connect_at: Option<Instant>,
    backoff: Duration,
    dtr: bool,
    rts: bool,
    brk: bool,
    modem: Option<u8>,
    modem_at: Option<Instant>,
    warned_lines: bool,
    request_log: Limit,
    buf: Vec<u8>,
}

/// Run the bridge until SIGINT or SIGTERM.
pub fn run(cfg: &Config) -> Result<ExitCode, Error> {
    let log = Log::open(cfg.log.as_deref(), cfg.quiet)?;
    let poll = Poll::new().map_err(|e| Error::from_io("poll", &e))?;
    let signals = signals().map_err(|e| Error::io(format!("signals: {}", e.desc())))?;
    poll.registry()
        .register(
            &mut SourceFd(&signals.as_raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )
        .map_err(|e| Error::from_io("poll", &e))?;
    let mut b = Bridge {
        cfg,
        poll,
        log,
        settings: cfg.settings,
        port: None,
        serial_out: Vec::new(),
        serial_sent: 0,
        serial_wants_write: false,
        listener: None,
        clients: BTreeMap::new(),
        next_token: FIRST_CLIENT,
        counter: 0,
        retry_at: None,
        connect_at: None,
        backoff: RETRY,
        dtr: cfg.dtr.unwrap_or(true),
        rts: cfg.rts.unwrap_or(true),
        brk: false,
        modem: None,
        modem_at: None,
        warned_lines: false,
        request_log: Limit::new(REQUEST_LOG_PER_SEC),
        buf: vec![0; 64 * 1024],
    };
    let mut waiting = None;
    match b.open_device(true) {
        Ok(()) => {}
        Err(e) if cfg.wait_device => {
            waiting = Some(e);
            b.retry_at = Some(Instant::now() + RETRY);
        }
        Err(e @ OpenError::Busy) => {
            return Err(Error::unavailable(format!("{}: {e}", cfg.device))
                .with_hint(format!("Who has it: fuser -v {} (or lsof)", cfg.device)));
        }
        Err(e) => return Err(Error::unavailable(format!("{}: {e}", cfg.device))),
    }
    // the listening line first: it says who can connect
    match &cfg.net {
        Net::Listen { bind, port } => b.listen(bind, *port)?,
        Net::Connect(_) => b.connect_at = Some(Instant::now()),
    }
    match waiting {
        None => b.log_open(),
        Some(e) => b.log.warn(format!(
            "{}: {e}; waiting for it (--wait-device)",
            cfg.device
        )),
    }
    b.run(&signals)
}

/// Who can connect, for the listening line: and how to let others in.
fn who_can_connect(local: SocketAddr, allow: &[opsbox_common::net::Net]) -> String {
    if !allow.is_empty() {
        let nets: Vec<String> = allow.iter().map(|n| n.to_string()).collect();
        return format!(
            "only clients from {} can connect (more: another --allow NET)",
            nets.join(", ")
        );
    }
    if local.ip().is_loopback() {
        "only this machine can connect (to let others in: --remote --allow NET, or an SSH tunnel to this port)"
            .to_string()
    } else if local.ip().is_unspecified() {
        format!(
            "anyone who can reach port {} of this machine can connect (to limit it: --allow NET)",
            local.port()
        )
    } else {
        format!("anyone who can reach {local} can connect (to limit it: --allow NET)")
    }
}

/// Say in one line why the connection is refused (the `--refuse-banner` template, none
/// for a silent close), then close it: what the client sent is read first (closing with
/// unread data would reset the connection and lose the line).
fn refuse(sock: &mut TcpStream, banner: Option<&str>, why: &str) {
    let Some(banner) = banner else {
        return;
    };
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match sock.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let line = format!("{}\r\n", banner.replace("{reason}", why));
    let _ = sock.write(line.as_bytes());
    let _ = sock.shutdown(std::net::Shutdown::Write);
}

/// Block SIGINT, SIGTERM, SIGHUP (read from a signalfd) and SIGPIPE (a dead client is
/// an EPIPE, not a death).
fn signals() -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGHUP);
    let mut block = mask;
    block.add(Signal::SIGPIPE);
    block.thread_block()?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

impl Bridge<'_> {
    fn run(&mut self, signals: &SignalFd) -> Result<ExitCode, Error> {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = self
                .deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::from_io("poll", &e));
            }
            for ev in events.iter() {
                let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                match ev.token() {
                    LISTENER => self.accept(),
                    SERIAL => {
                        if readable {
                            self.serial_read();
                        }
                        if ev.is_writable() {
                            self.serial_flush();
                        }
                    }
                    SIGNALS => {
                        while let Ok(Some(info)) = signals.read_signal() {
                            match Signal::try_from(info.ssi_signo as i32) {
                                Ok(Signal::SIGHUP) => self.log.reopen(),
                                Ok(s) => {
                                    self.serial_flush();
                                    self.log.info(format!("stopping on {}", s.as_str()));
                                    return Ok(ExitCode::SUCCESS);
                                }
                                Err(_) => {}
                            }
                        }
                    }
                    t => {
                        if ev.is_writable() {
                            self.client_writable(t);
                        }
                        if readable {
                            self.client_read(t);
                        }
                    }
                }
            }
            self.resume_held();
            self.timers();
        }
    }

    fn deadline(&self) -> Option<Instant> {
        [
            self.retry_at,
            self.connect_at,
            self.modem_at,
            self.request_log.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            match self.open_device(false) {
                Ok(()) => {
                    self.log.info(format!("{}: back", self.cfg.device));
                    self.notify(&format!("{}: {} is back\r\n", crate::NAME, self.cfg.device));
                }
                Err(_) => self.retry_at = Some(now + RETRY),
            }
        }
        if self.connect_at.is_some_and(|t| t <= now) {
            self.connect_at = None;
            self.connect();
        }
        if self.modem_at.is_some_and(|t| t <= now) {
            self.modem_at = None;
            self.poll_modem();
        }
        self.request_log_due(now);
    }

    // ---- the serial port ----

    fn open_device(&mut self, first: bool) -> Result<(), OpenError> {
        let mut port = Port::open(&self.cfg.device, &self.settings)?;
        self.poll
            .registry()
            .register(&mut SourceFd(&port.raw_fd()), SERIAL, Interest::READABLE)
            .map_err(|e| OpenError::Other(io_reason(&e)))?;
        self.serial_wants_write = false;
        if let Some(on) = self.cfg.dtr {
            self.line("DTR", port.set_dtr(on));
        }
        if let Some(on) = self.cfg.rts {
            self.line("RTS", port.set_rts(on));
        }
        if first && self.cfg.reset {
            let r = port.set_dtr(false);
            if r.is_ok() {
                std::thread::sleep(Duration::from_millis(250));
            }
            self.line("DTR", r.and_then(|_| port.set_dtr(true)));
            self.log
                .info(format!("{}: DTR pulsed (--reset)", self.cfg.device));
        }
        self.port = Some(port);
        self.modem = None;
        Ok(())
    }

    /// The device's line, after the listening line (which says who can connect).
    fn log_open(&mut self) {
        self.log.info(format!(
            "{}: open at {}{}",
            self.cfg.device,
            self.settings,
            if self.settings.hupcl {
                ", HUPCL kept (--hupcl)"
            } else {
                ", HUPCL cleared"
            }
        ));
    }

    /// A modem-line ioctl's result: a failure (ENOTTY on a pty) is a warning, once.
    fn line(&mut self, what: &str, r: Result<(), String>) {
        if let Err(e) = r
            && !self.warned_lines
        {
            self.warned_lines = true;
            self.log.warn(format!(
                "{}: cannot set {what} ({e}); modem lines left as they are",
                self.cfg.device
            ));
        }
    }

    fn device_gone(&mut self, why: &str) {
        if let Some(p) = self.port.take() {
            let _ = self.poll.registry().deregister(&mut SourceFd(&p.raw_fd()));
        }
        self.serial_out.clear();
        self.serial_sent = 0;
        self.log.warn(format!(
            "{}: gone ({why}); reopening it every 0.5 s, clients stay connected",
            self.cfg.device
        ));
        self.notify(&format!(
            "{}: {} is gone; waiting for it\r\n",
            crate::NAME,
            self.cfg.device
        ));
        self.retry_at = Some(Instant::now() + RETRY);
    }

    fn notify(&mut self, text: &str) {
        if self.cfg.notify {
            self.broadcast_bytes(text.as_bytes());
        }
    }

    fn serial_read(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        while let Some(port) = &self.port {
            match port.read(&mut buf) {
                Ok(0) => {
                    self.device_gone("end of file");
                    break;
                }
                Ok(n) => self.broadcast_bytes(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.device_gone(&io_reason(&e));
                    break;
                }
            }
        }
        self.buf = buf;
    }

    fn serial_flush(&mut self) {
        while self.serial_sent < self.serial_out.len() {
            let Some(port) = &self.port else {
                self.serial_out.clear();
                self.serial_sent = 0;
                return;
            };
            match port.write(&self.serial_out[self.serial_sent..]) {
                Ok(n) => self.serial_sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.device_gone(&io_reason(&e));
                    return;
                }
            }
        }
        if self.serial_sent == self.serial_out.len() {
            self.serial_out.clear();
            self.serial_sent = 0;
        } else if self.serial_sent >= SERIAL_QUEUE_HIGH {
            self.serial_out.drain(..self.serial_sent);
            self.serial_sent = 0;
        }
        let want = self.serial_pending() > 0;
        if want != self.serial_wants_write
            && let Some(port) = &self.port
        {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            match self
                .poll
                .registry()
                .reregister(&mut SourceFd(&port.raw_fd()), SERIAL, interest)
            {
                Ok(()) => self.serial_wants_write = want,
                Err(e) => self.log.warn(format!("poll: {}", io_reason(&e))),
            }
        }
    }

    fn serial_pending(&self) -> usize {
        self.serial_out.len() - self.serial_sent
    }

    /// Serial data to every connected client; a client that lets too much pile up goes.
    fn broadcast_bytes(&mut self, data: &[u8]) {
        let mut gone = Vec::new();
        let mut escaped = Vec::new();
        for (t, c) in self.clients.iter_mut() {
            if c.connecting {
                continue;
            }
            if c.telnet.is_some() {
                if escaped.is_empty() {
                    telnet::escape(data, &mut escaped);
                }
                c.out.extend_from_slice(&escaped);
            } else {
                c.out.extend_from_slice(data);
            }
            if let Err(e) = c.flush() {
                gone.push((*t, io_reason(&e)));
            } else if c.pending() > CLIENT_QUEUE_MAX {
                gone.push((
                    *t,
                    format!("not reading ({} KiB queued)", c.pending() / 1024),
                ));
            }
        }
        for (t, why) in gone {
            self.drop_client(t, &why);
        }
    }

    // ---- clients ----

    fn listen(&mut self, bind: &str, port: u16) -> Result<(), Error> {
        let addr = (bind, port)
            .to_socket_addrs()
            .map_err(|e| Error::usage(format!("--bind {bind}: {}", io_reason(&e))))?
            .next()
            .ok_or_else(|| Error::usage(format!("--bind {bind}: no address")))?;
        let mut l = TcpListener::bind(addr)
            .map_err(|e| Error::from_io(format!("listening on {addr}"), &e))?;
        let local = l.local_addr().unwrap_or(addr);
        self.poll
            .registry()
            .register(&mut l, LISTENER, Interest::READABLE)
            .map_err(|e| Error::from_io("poll", &e))?;
        self.listener = Some(l);
        let mode = match (self.cfg.mode, self.cfg.angle) {
            (Mode::Rfc2217, true) => " (RFC 2217, angle mode)",
            (Mode::Rfc2217, false) => " (RFC 2217)",
            (Mode::Auto, true) => " (RFC 2217 or raw: --mode auto; angle mode)",
            (Mode::Auto, false) => " (RFC 2217 or raw: --mode auto)",
            (Mode::Raw, true) => " (angle mode)",
            (Mode::Raw, false) => "",
            (Mode::Binary, true) => " (--mode binary, angle mode)",
            (Mode::Binary, false) => " (--mode binary)",
        };
        let line = format!(
            "listening on {local}{mode} for {}, at most {} client{}; {}",
            self.cfg.device,
            self.cfg.max_clients,
            if self.cfg.max_clients == 1 { "" } else { "s" },
            who_can_connect(local, &self.cfg.allow)
        );
        // open to every network that reaches it: said even with -q
        if self.cfg.allow.is_empty() && !local.ip().is_loopback() {
            self.log.warn(line);
        } else {
            self.log.info(line);
        }
        Ok(())
    }

    fn accept(&mut self) {
        loop {
            let Some(l) = &self.listener else { return };
            match l.accept() {
                Ok((sock, peer)) => self.admit(sock, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.log.warn(format!("accept: {}", io_reason(&e)));
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut sock: TcpStream, peer: SocketAddr) {
        if !self.cfg.allow.is_empty() && !self.cfg.allow.iter().any(|n| n.contains_ip(peer.ip())) {
            let why = format!("{} is not in --allow", peer.ip());
            self.log.info(format!("refused {peer}: {why}"));
            refuse(&mut sock, self.cfg.refuse_banner.as_deref(), &why);
            return;
        }
        if self.clients.len() >= self.cfg.max_clients {
            if self.cfg.kick_old {
                if let Some(old) = self
                    .clients
                    .iter()
                    .min_by_key(|(_, c)| c.since)
                    .map(|(t, _)| *t)
                {
                    self.drop_client(old, &format!("replaced by {peer} (--kick-old)"));
                }
            } else {
                let why = format!(
                    "{} client{} already connected (--max-clients {})",
                    self.clients.len(),
                    if self.clients.len() == 1 { "" } else { "s" },
                    self.cfg.max_clients
                );
                self.log.info(format!("refused {peer}: {why}"));
                refuse(&mut sock, self.cfg.refuse_banner.as_deref(), &why);
                return;
            }
        }
        let _ = sock.set_nodelay(true);
        if self.add_client(sock, peer.to_string(), false).is_some() {
            self.log.info(format!("client {peer} connected"));
        }
    }

    fn add_client(&mut self, mut sock: TcpStream, peer: String, connecting: bool) -> Option<Token> {
        let t = Token(self.next_token);
        self.next_token += 1;
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut sock, t, Interest::READABLE | Interest::WRITABLE)
        {
            self.log.warn(format!("{peer}: {}", io_reason(&e)));
            return None;
        }
        self.counter += 1;
        let mut c = Client {
            sock,
            peer,
            out: Vec::new(),
            sent: 0,
            parser: self.cfg.angle.then(angle::Parser::new),
            telnet: None,
            sniff: matches!(self.cfg.mode, Mode::Raw | Mode::Auto).then(Vec::new),
            com_port: false,
            refusal_logged: false,
            held: false,
            connecting,
            since: self.counter,
        };
        if self.cfg.mode == Mode::Rfc2217 {
            let mut tn = Telnet::new();
            c.out = tn.greeting();
            c.telnet = Some(tn);
        }
        if self.cfg.notify && self.port.is_none() {
            c.out.extend_from_slice(
                format!(
                    "{}: {} is gone; waiting for it\r\n",
                    crate::NAME,
                    self.cfg.device
                )
                .as_bytes(),
            );
        }
        self.clients.insert(t, c);
        Some(t)
    }

    fn drop_client(&mut self, t: Token, why: &str) {
        let Some(mut c) = self.clients.remove(&t) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut c.sock);
        if let Net::Connect(to) = &self.cfg.net {
            let wait = if c.connecting {
                let w = self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                w
            } else {
                RETRY
            };
            let what = if c.connecting {
                "cannot connect to"
            } else {
                "lost"
            };
            self.log.warn(format!(
                "{what} {to}: {why}; retrying in {:.1} s",
                wait.as_secs_f64()
            ));
            self.connect_at = Some(Instant::now() + wait);
        } else {
            self.log.info(format!("client {} gone: {why}", c.peer));
        }
    }

    fn connect(&mut self) {
        let Net::Connect(to) = &self.cfg.net else {
            return;
        };
        let addr = match to.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => a,
            Ok(None) | Err(_) => {
                let wait = self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                self.log.warn(format!(
                    "cannot resolve {to}; retrying in {:.1} s",
                    wait.as_secs_f64()
                ));
                self.connect_at = Some(Instant::now() + wait);
                return;
            }
        };
        match TcpStream::connect(addr) {
            Ok(sock) => {
                if self.add_client(sock, to.clone(), true).is_none() {
                    self.connect_at = Some(Instant::now() + self.backoff);
                }
            }
            Err(e) => {
                let wait = self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                self.log.warn(format!(
                    "cannot connect to {to}: {}; retrying in {:.1} s",
                    io_reason(&e),
                    wait.as_secs_f64()
                ));
                self.connect_at = Some(Instant::now() + wait);
            }
        }
    }

    fn client_writable(&mut self, t: Token) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        if c.connecting {
            if let Ok(Some(e)) | Err(e) = c.sock.take_error() {
                return self.drop_client(t, &io_reason(&e));
            }
            match c.sock.peer_addr() {
                Ok(_) => {
                    c.connecting = false;
                    let _ = c.sock.set_nodelay(true);
                    self.backoff = RETRY;
                    let peer = c.peer.clone();
                    self.log.info(format!("connected to {peer}"));
                }
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(e) => return self.drop_client(t, &io_reason(&e)),
            }
        }
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        if let Err(e) = c.flush() {
            self.drop_client(t, &io_reason(&e));
        }
    }

    fn client_read(&mut self, t: Token) {
        let mut buf = std::mem::take(&mut self.buf);
        loop {
            let full = self.serial_pending() >= SERIAL_QUEUE_HIGH;
            let Some(c) = self.clients.get_mut(&t) else {
                break;
            };
            if c.connecting {
                break;
            }
            if full {
                c.held = true;
                break;
            }
            match c.sock.read(&mut buf) {
                Ok(0) => {
                    self.drop_client(t, "disconnected");
                    break;
                }
                Ok(n) => match self.client_data(t, &buf[..n]) {
                    Gone::Kept => {}
                    Gone::Closed(why) => {
                        self.drop_client(t, &why);
                        break;
                    }
                    Gone::Refused(why) => {
                        self.refuse_client(t, &why);
                        break;
                    }
                },
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    c.held = false;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.drop_client(t, &io_reason(&e));
                    break;
                }
            }
        }
        self.buf = buf;
    }

    /// Read the clients held back while the serial queue was full, once it has room.
    fn resume_held(&mut self) {
        if self.serial_pending() >= SERIAL_QUEUE_HIGH {
            return;
        }
        let held: Vec<Token> = self
            .clients
            .iter()
            .filter(|(_, c)| c.held)
            .map(|(t, _)| *t)
            .collect();
        for t in held {
            self.client_read(t);
        }
    }

    /// One read from a client: telnet decoding, angle checking, then the serial queue.
    fn client_data(&mut self, t: Token, bytes: &[u8]) -> Gone {
        let first;
        let bytes = match self.opening(t, bytes) {
            Ok(Some(b)) => {
                first = b;
                &first[..]
            }
            Ok(None) => bytes,
            Err(gone) => return gone,
        };
        let Some(c) = self.clients.get_mut(&t) else {
            return Gone::Kept;
        };
        let mut decoded = Decoded::default();
        let data: &[u8] = match &mut c.telnet {
            Some(tn) => {
                tn.decode(bytes, &mut decoded);
                c.out.extend_from_slice(&decoded.reply);
                &decoded.data
            }
            None => bytes,
        };
        match &mut c.parser {
            Some(parser) => {
                for &b in data {
                    match parser.push(b) {
                        Some(angle::Verdict::Angle(n)) => {
                            let mut digits = [0u8; 3];
                            self.serial_out
                                .extend_from_slice(angle::format_u8(n, &mut digits));
                            self.serial_out.push(b'\n');
                        }
                        Some(v) => {
                            let reply = v.reply();
                            if c.telnet.is_some() {
                                telnet::escape(reply.as_bytes(), &mut c.out);
                            } else {
                                c.out.extend_from_slice(reply.as_bytes());
                            }
                            c.out.extend_from_slice(angle::READY_LINE);
                        }
                        None => {}
                    }
                }
            }
            None => self.serial_out.extend_from_slice(data),
        }
        if decoded.com_port_started {
            c.com_port = true;
        }
        if let Err(e) = c.flush() {
            return Gone::Closed(io_reason(&e));
        }
        if self.port.is_none() {
            // the device is gone: what clients send meanwhile goes nowhere
            self.serial_out.clear();
            self.serial_sent = 0;
        }
        self.serial_flush();
        if decoded.com_port_started {
            let state = self.modem_state();
            self.reply(t, rfc2217::Code::NotifyModemstate.reply(), &[state]);
            if self.modem_at.is_none() {
                self.modem_at = Some(Instant::now() + MODEM_POLL);
            }
        }
        for cmd in decoded.cmds {
            self.com_port(t, cmd);
        }
        Gone::Kept
    }

    /// A client's first bytes (raw and auto modes): a telnet client is served as RFC 2217
    /// (auto) or refused (raw), before any of its bytes reach the device. `Ok(Some)` is
    /// the bytes held back so far, now to be handled; `Ok(None)`: handle `bytes` as usual.
    fn opening(&mut self, t: Token, bytes: &[u8]) -> Result<Option<Vec<u8>>, Gone> {
        let Some(c) = self.clients.get_mut(&t) else {
            return Err(Gone::Kept);
        };
        let Some(sniff) = &mut c.sniff else {
            return Ok(None);
        };
        sniff.extend_from_slice(bytes);
        match rfc2217::opening(sniff) {
            rfc2217::Opening::Undecided => Err(Gone::Kept),
            rfc2217::Opening::Raw => Ok(c.sniff.take()),
            rfc2217::Opening::Telnet if self.cfg.mode == Mode::Auto => {
                let mut tn = Telnet::new();
                c.out.extend_from_slice(&tn.greeting());
                c.telnet = Some(tn);
                let peer = c.peer.clone();
                let first = c.sniff.take();
                self.log.info(format!(
                    "client {peer} speaks telnet: RFC 2217 for it (--mode auto)"
                ));
                Ok(first)
            }
            rfc2217::Opening::Telnet => Err(Gone::Refused(
                "it opened with telnet negotiation (an RFC 2217 client?) and this port is raw: \
                 nothing of it reached the device (serve such clients with --mode auto or \
                 --rfc2217)"
                    .to_string(),
            )),
        }
    }

    /// Close a client, telling it why in one line first.
    fn refuse_client(&mut self, t: Token, why: &str) {
        let Some(mut c) = self.clients.remove(&t) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut c.sock);
        self.log.warn(format!("refused {}: {why}", c.peer));
        refuse(&mut c.sock, self.cfg.refuse_banner.as_deref(), why);
    }

    // ---- RFC 2217 ----

    /// Send a COM-PORT answer (`code` is the server's code, 100 and up).
    fn reply(&mut self, t: Token, code: u8, value: &[u8]) {
        if let Some(c) = self.clients.get_mut(&t) {
            telnet::sb(code, value, &mut c.out);
            if let Err(e) = c.flush() {
                self.drop_client(t, &io_reason(&e));
            }
        }
    }

    /// Carry out one COM-PORT command ([`rfc2217::plan`]) and answer it
    /// ([`rfc2217::answer`]).
    fn com_port(&mut self, t: Token, cmd: Cmd) {
        let line = rfc2217::Line {
            settings: self.settings,
            dtr: self.dtr,
            rts: self.rts,
            brk: self.brk,
        };
        let (action, refused) = rfc2217::plan(&cmd, &line);
        if let Some(r) = refused {
            self.refused(t, r);
        }
        match action {
            Action::None => {}
            Action::Settings(new) => self.set(t, new),
            Action::Break(on) => {
                self.brk = on;
                if let Some(p) = &self.port {
                    let r = p.set_break(on);
                    self.line("BREAK", r);
                }
            }
            Action::Dtr(on) => {
                self.dtr = on;
                if let Some(p) = &mut self.port {
                    let r = p.set_dtr(on);
                    self.line("DTR", r);
                }
            }
            Action::Rts(on) => {
                self.rts = on;
                if let Some(p) = &mut self.port {
                    let r = p.set_rts(on);
                    self.line("RTS", r);
                }
            }
            Action::Purge(w) => {
                if let Some(p) = &self.port {
                    let _ = p.purge(w);
                }
                if w != 1 {
                    self.serial_out.clear();
                    self.serial_sent = 0;
                }
            }
        }
        let line = rfc2217::Line {
            settings: self.settings,
            dtr: self.dtr,
            rts: self.rts,
            brk: self.brk,
        };
        let baud = match &self.port {
            Some(p) => p.baud().unwrap_or(self.settings.baud),
            None => self.settings.baud,
        };
        let modem = if cmd == Cmd::NotifyModemState {
            self.modem_state()
        } else {
            0
        };
        let sig = format!("{} {}", crate::NAME, env!("CARGO_PKG_VERSION"));
        if let Some((code, value)) =
            rfc2217::answer(&cmd, &line, rfc2217::Now { baud, modem }, &sig)
        {
            self.reply(t, code, &value);
        }
    }

    /// A refused request: a warning, once per client.
    fn refused(&mut self, t: Token, r: rfc2217::Refusal) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        if c.refusal_logged {
            return;
        }
        c.refusal_logged = true;
        let peer = c.peer.clone();
        self.log.warn(format!(
            "{}: {peer}: {r} (logged once per client)",
            self.cfg.device
        ));
    }

    /// Apply settings a client asked for; the log of such changes is rate-limited.
    fn set(&mut self, t: Token, new: Settings) {
        if new == self.settings {
            return;
        }
        let old = self.settings;
        self.settings = new;
        let failed = match &self.port {
            Some(p) => p.apply(&new).err(),
            None => None,
        };
        if failed.is_some() {
            self.settings = old;
        }
        if !self.request_log.admit(Instant::now()) {
            return;
        }
        let peer = self
            .clients
            .get(&t)
            .map(|c| c.peer.clone())
            .unwrap_or_default();
        match failed {
            Some(e) => self.log.warn(format!(
                "{}: {peer}: cannot set {new}: {}",
                self.cfg.device,
                io_reason(&e)
            )),
            None => self
                .log
                .info(format!("{}: {peer} set {new}", self.cfg.device)),
        }
    }

    /// The count of settings lines the rate limit held back, once their second is over.
    fn request_log_due(&mut self, now: Instant) {
        if let Some(n) = self.request_log.due(now)
            && n > 0
        {
            self.log.info(format!(
                "{}: {n} more settings change{} by clients not logged (at most {REQUEST_LOG_PER_SEC} lines a second)",
                self.cfg.device,
                if n == 1 { "" } else { "s" }
            ));
        }
    }

    /// The modem lines now (0 when the device has none, as a pty).
    fn modem_state(&mut self) -> u8 {
        let state = match &mut self.port {
            Some(p) => p.modem_state().unwrap_or(0),
            None => 0,
        };
        if self.modem.is_none() {
            self.modem = Some(state);
        }
        state
    }

    /// Tell RFC 2217 clients when a modem line changed (with the delta bits).
    fn poll_modem(&mut self) {
        if !self.clients.values().any(|c| c.com_port) {
            return;
        }
        self.modem_at = Some(Instant::now() + MODEM_POLL);
        let old = self.modem.unwrap_or(0);
        let Some(Ok(now)) = self.port.as_mut().map(|p| p.modem_state()) else {
            return;
        };
        self.modem = Some(now);
        if now != old {
            let value = now | ((old ^ now) >> 4);
            let targets: Vec<Token> = self
                .clients
                .iter()
                .filter(|(_, c)| c.com_port)
                .map(|(t, _)| *t)
                .collect();
            for t in targets {
                self.reply(t, rfc2217::Code::NotifyModemstate.reply(), &[value]);
            }
        }
    }
}
