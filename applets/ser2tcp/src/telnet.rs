//! Telnet framing with the COM-PORT-OPTION (RFC 854, RFC 2217), server side.
//!
//! [`Telnet::decode`] splits what a client sends into serial data, replies to option
//! negotiation, and COM-PORT commands for the bridge to carry out; [`escape`] doubles
//! IAC in data going to the client; [`sb`] frames a COM-PORT reply.

pub const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;

pub const BINARY: u8 = 0;
pub const ECHO: u8 = 1;
pub const SGA: u8 = 3;
pub const COM_PORT: u8 = 44;

/// Whether `verb` after an IAC starts option negotiation (WILL, WONT, DO, DONT, SB).
pub fn is_negotiation(verb: u8) -> bool {
    matches!(verb, WILL | WONT | DO | DONT | SB)
}

/// Server replies are the client's command code plus this.
pub const SERVER: u8 = 100;

/// The longest subnegotiation kept; longer ones are cut (none in RFC 2217 is near it).
const SB_MAX: usize = 64;

/// A COM-PORT-OPTION command from the client (RFC 2217 section 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// 0: the client's signature (empty: asks for ours).
    Signature(Vec<u8>),
    /// 1: baud rate (0: report).
    SetBaud(u32),
    /// 2: data bits 5–8 (0: report).
    SetDataSize(u8),
    /// 3: 1 none, 2 odd, 3 even, 4 mark, 5 space (0: report).
    SetParity(u8),
    /// 4: 1 one, 2 two, 3 one and a half (0: report).
    SetStopSize(u8),
    /// 5: flow control, break, DTR, RTS (see RFC 2217).
    SetControl(u8),
    /// 6 / 7: ask for the line / modem state now.
    NotifyLineState,
    NotifyModemState,
    /// 8 / 9: stop / resume sending serial data to this client.
    FlowSuspend,
    FlowResume,
    /// 10 / 11: which line / modem state changes to report.
    LineStateMask(u8),
    ModemStateMask(u8),
    /// 12: 1 receive buffer, 2 transmit buffer, 3 both.
    Purge(u8),
    /// Anything else: answered with the same bytes.
    Unknown(u8, Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Data,
    Iac,
    Opt(u8),
    Sb,
    SbIac,
}

/// Option state (a light RFC 1143): are we / they doing it, and did we ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Q {
    #[default]
    No,
    Yes,
    WantYes,
}

/// One client's telnet decoder.
#[derive(Debug)]
pub struct Telnet {
    state: State,
    sb: Vec<u8>,
    us: [Q; 64],
    them: [Q; 64],
}

impl Default for Telnet {
    fn default() -> Self {
        Self::new()
    }
}

/// What one chunk from the client meant.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Bytes for the serial port (IAC IAC undone).
    pub data: Vec<u8>,
    /// Telnet replies for the client.
    pub reply: Vec<u8>,
    /// COM-PORT commands, in order.
    pub cmds: Vec<Cmd>,
    /// The client just agreed to the COM-PORT-OPTION.
    pub com_port_started: bool,
}

impl Telnet {
    pub fn new() -> Self {
        Telnet {
            state: State::Data,
            sb: Vec::new(),
            us: [Q::No; 64],
            them: [Q::No; 64],
        }
    }

    /// What the server says first: it will echo and suppress go-ahead, and offers binary
    /// and the COM-PORT-OPTION both ways.
    pub fn greeting(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for opt in [ECHO, SGA, BINARY, COM_PORT] {
            self.us[usize::from(opt)] = Q::WantYes;
            out.extend_from_slice(&[IAC, WILL, opt]);
        }
        for opt in [BINARY, SGA] {
            self.them[usize::from(opt)] = Q::WantYes;
            out.extend_from_slice(&[IAC, DO, opt]);
        }
        out
    }

    fn supported(opt: u8) -> bool {
        matches!(opt, BINARY | ECHO | SGA | COM_PORT)
    }

    /// Decode `input`, appending to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Decoded) {
        for &b in input {
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, _) => {
                    out.data.push(b);
                    State::Data
                }
                (State::Iac, IAC) => {
                    out.data.push(IAC);
                    State::Data
                }
                (State::Iac, WILL | WONT | DO | DONT) => State::Opt(b),
                (State::Iac, SB) => {
                    self.sb.clear();
                    State::Sb
                }
                // NOP, data mark, break, go ahead, …: nothing to do
                (State::Iac, _) => State::Data,
                (State::Opt(verb), opt) => {
                    self.negotiate(verb, opt, out);
                    State::Data
                }
                (State::Sb, IAC) => State::SbIac,
                (State::Sb, _) => {
                    if self.sb.len() < SB_MAX {
                        self.sb.push(b);
                    }
                    State::Sb
                }
                (State::SbIac, IAC) => {
                    if self.sb.len() < SB_MAX {
                        self.sb.push(IAC);
                    }
                    State::Sb
                }
                (State::SbIac, SE) => {
                    self.subnegotiation(out);
                    State::Data
                }
                // a broken subnegotiation: drop it
                (State::SbIac, _) => State::Data,
            };
        }
    }

    fn negotiate(&mut self, verb: u8, opt: u8, out: &mut Decoded) {
        let i = usize::from(opt);
        let ok = Self::supported(opt) && i < 64;
        match verb {
            WILL | WONT => {
                let agree = verb == WILL && ok;
                let cur = if i < 64 { self.them[i] } else { Q::No };
                let (next, reply) = match (cur, agree) {
                    (Q::WantYes, true) => (Q::Yes, None),
                    (Q::WantYes, false) => (Q::No, None),
                    (Q::Yes, true) => (Q::Yes, None),
                    (Q::Yes, false) => (Q::No, Some(DONT)),
                    (Q::No, true) => (Q::Yes, Some(DO)),
                    (Q::No, false) if verb == WILL => (Q::No, Some(DONT)),
                    (Q::No, false) => (Q::No, None),
                };
                if i < 64 {
                    self.them[i] = next;
                }
                if let Some(r) = reply {
                    out.reply.extend_from_slice(&[IAC, r, opt]);
                }
                if opt == COM_PORT && next == Q::Yes && cur != Q::Yes {
                    out.com_port_started = true;
                }
            }
            _ => {
                let agree = verb == DO && ok;
                let cur = if i < 64 { self.us[i] } else { Q::No };
                let (next, reply) = match (cur, agree) {
                    (Q::WantYes, true) => (Q::Yes, None),
                    (Q::WantYes, false) => (Q::No, None),
                    (Q::Yes, true) => (Q::Yes, None),
                    (Q::Yes, false) => (Q::No, Some(WONT)),
                    (Q::No, true) => (Q::Yes, Some(WILL)),
                    (Q::No, false) if verb == DO => (Q::No, Some(WONT)),
                    (Q::No, false) => (Q::No, None),
                };
                if i < 64 {
                    self.us[i] = next;
                }
                if let Some(r) = reply {
                    out.reply.extend_from_slice(&[IAC, r, opt]);
                }
            }
        }
    }

    fn subnegotiation(&mut self, out: &mut Decoded) {
        let sb = std::mem::take(&mut self.sb);
        let [COM_PORT, code, value @ ..] = sb.as_slice() else {
            return;
        };
        let byte = value.first().copied().unwrap_or(0);
        let cmd = match code {
            0 => Cmd::Signature(value.to_vec()),
            1 => match value {
                [a, b, c, d, ..] => Cmd::SetBaud(u32::from_be_bytes([*a, *b, *c, *d])),
                _ => Cmd::Unknown(*code, value.to_vec()),
            },
            2 => Cmd::SetDataSize(byte),
            3 => Cmd::SetParity(byte),
            4 => Cmd::SetStopSize(byte),
            5 => Cmd::SetControl(byte),
            6 => Cmd::NotifyLineState,
            7 => Cmd::NotifyModemState,
            8 => Cmd::FlowSuspend,
            9 => Cmd::FlowResume,
            10 => Cmd::LineStateMask(byte),
            11 => Cmd::ModemStateMask(byte),
            12 => Cmd::Purge(byte),
            _ => Cmd::Unknown(*code, value.to_vec()),
        };
        out.cmds.push(cmd);
    }
}

/// Append `data` to `out` with every IAC doubled.
pub fn escape(data: &[u8], out: &mut Vec<u8>) {
    for chunk in data.split_inclusive(|&b| b == IAC) {
        out.extend_from_slice(chunk);
        if chunk.last() == Some(&IAC) {
            out.push(IAC);
        }
    }
}

/// A COM-PORT-OPTION reply: `IAC SB 44 CODE VALUE IAC SE` (IAC in the value doubled).
pub fn sb(code: u8, value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[IAC, SB, COM_PORT, code]);
    escape(value, out);
    out.extend_from_slice(&[IAC, SE]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(t: &mut Telnet, input: &[u8]) -> Decoded {
        let mut d = Decoded::default();
        t.decode(input, &mut d);
        d
    }

    #[test]
    fn data_and_iac_escaping_both_ways() {
        let mut t = Telnet::new();
        let d = decode(&mut t, b"ab\xff\xffc\xff\xf1d");
        assert_eq!(d.data, b"ab\xffcd");
        let mut out = Vec::new();
        escape(b"\xffx\xff", &mut out);
        assert_eq!(out, b"\xff\xffx\xff\xff");
    }

    #[test]
    fn commands_split_anywhere() {
        // SET-BAUDRATE 9600 with an IAC-free value, then SET-CONTROL 1, split at every byte
        let mut bytes = vec![IAC, SB, COM_PORT, 1, 0, 0, 0x25, 0x80, IAC, SE];
        bytes.extend_from_slice(&[IAC, SB, COM_PORT, 5, 1, IAC, SE, b'z']);
        for cut in 0..bytes.len() {
            let mut t = Telnet::new();
            let mut d = Decoded::default();
            t.decode(&bytes[..cut], &mut d);
            t.decode(&bytes[cut..], &mut d);
            assert_eq!(
                d.cmds,
                vec![Cmd::SetBaud(9600), Cmd::SetControl(1)],
                "cut {cut}"
            );
            assert_eq!(d.data, b"z");
        }
        // a value containing 255, doubled on the wire
        let mut t = Telnet::new();
        let d = decode(&mut t, &[IAC, SB, COM_PORT, 1, 0, 0, IAC, IAC, 0, IAC, SE]);
        assert_eq!(d.cmds, vec![Cmd::SetBaud(0xff00)]);
    }

    #[test]
    fn negotiation_answers_once() {
        let mut t = Telnet::new();
        let g = t.greeting();
        assert!(g.windows(3).any(|w| w == [IAC, WILL, COM_PORT]));
        // the client offers COM-PORT: we agree once
        let d = decode(&mut t, &[IAC, WILL, COM_PORT]);
        assert_eq!(d.reply, [IAC, DO, COM_PORT]);
        assert!(d.com_port_started);
        let d = decode(&mut t, &[IAC, WILL, COM_PORT]);
        assert!(d.reply.is_empty() && !d.com_port_started);
        // answers to what we asked: no reply
        let d = decode(&mut t, &[IAC, DO, BINARY, IAC, WILL, BINARY, IAC, DO, ECHO]);
        assert!(d.reply.is_empty(), "{:?}", d.reply);
        // something we do not do
        let d = decode(&mut t, &[IAC, DO, 24, IAC, WILL, 31]);
        assert_eq!(d.reply, [IAC, WONT, 24, IAC, DONT, 31]);
    }

    #[test]
    fn sb_reply_framing() {
        let mut out = Vec::new();
        sb(101, &9600u32.to_be_bytes(), &mut out);
        assert_eq!(out, [IAC, SB, COM_PORT, 101, 0, 0, 0x25, 0x80, IAC, SE]);
    }
}
