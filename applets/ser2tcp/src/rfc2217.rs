//! What RFC 2217's COM-PORT-OPTION commands mean (RFC 2217 section 3), as pure functions
//! over the line state: [`plan`] says what a command asks the port to do (and refuses what
//! it must not do), [`answer`] the reply once it is done. The bridge's loop only carries
//! them out. [`opening`] tells a telnet client from a raw one by its first bytes.

use crate::serial::{Flow, Parity, Settings};
use crate::telnet::{self, Cmd};

/// The lowest baud rate a client may set (the slowest standard termios rate).
pub const BAUD_MIN: u32 = 50;
/// The highest baud rate a client may set (the fastest common USB serial adapters).
pub const BAUD_MAX: u32 = 4_000_000;

/// The COM-PORT-OPTION command codes (client to server; the server's answer is the same
/// code plus [`telnet::SERVER`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Signature = 0,
    SetBaudrate = 1,
    SetDatasize = 2,
    SetParity = 3,
    SetStopsize = 4,
    SetControl = 5,
    NotifyLinestate = 6,
    NotifyModemstate = 7,
    FlowcontrolSuspend = 8,
    FlowcontrolResume = 9,
    SetLinestateMask = 10,
    SetModemstateMask = 11,
    PurgeData = 12,
}

impl Code {
    /// The code of the server's answer to this command.
    pub fn reply(self) -> u8 {
        self as u8 + telnet::SERVER
    }
}

/// The line as the bridge has it: settings and the lines a client may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    pub settings: Settings,
    pub dtr: bool,
    pub rts: bool,
    pub brk: bool,
}

/// What a command asks the bridge to do to the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing: a question, or a value that is already in effect.
    None,
    /// Apply these settings to the port's termios.
    Settings(Settings),
    Break(bool),
    Dtr(bool),
    Rts(bool),
    /// Throw away queued data: 1 received, 2 to send, 3 both.
    Purge(u8),
}

/// A request the bridge does not carry out (it answers with what is in effect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A baud rate outside [`BAUD_MIN`]..=[`BAUD_MAX`].
    Baud(u32),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Baud(b) => write!(
                f,
                "baud rate {b} refused (allowed {BAUD_MIN} to {BAUD_MAX}); the port keeps its rate"
            ),
        }
    }
}

/// What to do for `cmd`, given the line now.
pub fn plan(cmd: &Cmd, line: &Line) -> (Action, Option<Refusal>) {
    let s = line.settings;
    let settings = |new: Settings| {
        if new == s {
            Action::None
        } else {
            Action::Settings(new)
        }
    };
    match *cmd {
        Cmd::SetBaud(0) => (Action::None, None),
        Cmd::SetBaud(baud) if (BAUD_MIN..=BAUD_MAX).contains(&baud) => {
            (settings(Settings { baud, ..s }), None)
        }
        Cmd::SetBaud(baud) => (Action::None, Some(Refusal::Baud(baud))),
        Cmd::SetDataSize(n @ 5..=8) => (settings(Settings { data_bits: n, ..s }), None),
        Cmd::SetParity(p) => match parity_from(p) {
            Some(parity) => (settings(Settings { parity, ..s }), None),
            None => (Action::None, None),
        },
        Cmd::SetStopSize(n @ (1 | 2)) => (settings(Settings { stop_bits: n, ..s }), None),
        Cmd::SetControl(v @ 1..=3) => {
            let flow = [Flow::None, Flow::XonXoff, Flow::RtsCts][usize::from(v - 1)];
            (settings(Settings { flow, ..s }), None)
        }
        Cmd::SetControl(v @ (5 | 6)) => (Action::Break(v == 5), None),
        Cmd::SetControl(v @ (8 | 9)) => (Action::Dtr(v == 8), None),
        Cmd::SetControl(v @ (11 | 12)) => (Action::Rts(v == 11), None),
        Cmd::Purge(w) => (Action::Purge(w), None),
        _ => (Action::None, None),
    }
}

/// What the port says when asked: its real baud rate and its modem lines (RFC 2217's
/// modem-state byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub baud: u32,
    pub modem: u8,
}

/// The answer to `cmd` once its [`Action`] is done: the reply code and value, or nothing
/// (a client's own signature, server-side codes). Every value reports what is now in
/// effect, so a refused or failed request answers with the current setting.
pub fn answer(cmd: &Cmd, line: &Line, now: Now, signature: &str) -> Option<(u8, Vec<u8>)> {
    let s = &line.settings;
    let (code, value) = match cmd {
        Cmd::Signature(v) if v.is_empty() => (Code::Signature, signature.as_bytes().to_vec()),
        Cmd::Signature(_) => return None,
        Cmd::SetBaud(_) => (Code::SetBaudrate, now.baud.to_be_bytes().to_vec()),
        Cmd::SetDataSize(_) => (Code::SetDatasize, vec![s.data_bits]),
        Cmd::SetParity(_) => (Code::SetParity, vec![parity_code(s.parity)]),
        Cmd::SetStopSize(_) => (Code::SetStopsize, vec![s.stop_bits]),
        Cmd::SetControl(v) => (Code::SetControl, vec![control_answer(*v, line)]),
        Cmd::NotifyLineState => (Code::NotifyLinestate, vec![LINE_STATE_IDLE]),
        Cmd::NotifyModemState => (Code::NotifyModemstate, vec![now.modem]),
        Cmd::FlowSuspend => (Code::FlowcontrolSuspend, vec![]),
        Cmd::FlowResume => (Code::FlowcontrolResume, vec![]),
        Cmd::LineStateMask(m) => (Code::SetLinestateMask, vec![*m]),
        Cmd::ModemStateMask(m) => (Code::SetModemstateMask, vec![*m]),
        Cmd::Purge(w) => (Code::PurgeData, vec![*w]),
        // an unknown client command is echoed; codes of server answers are not answered
        Cmd::Unknown(code, v) if *code < telnet::SERVER => {
            return Some((code + telnet::SERVER, v.clone()));
        }
        Cmd::Unknown(..) => return None,
    };
    Some((code.reply(), value))
}

/// The line-state byte when nothing is wrong: transmit holding and shift registers empty.
pub const LINE_STATE_IDLE: u8 = 0x60;

/// SET-CONTROL's answer: the setting now in effect for the group the value belongs to
/// (flow 1–3, break 5/6, DTR 8/9, RTS 11/12); other values are echoed.
fn control_answer(v: u8, line: &Line) -> u8 {
    match v {
        0..=3 => match line.settings.flow {
            Flow::None => 1,
            Flow::XonXoff => 2,
            Flow::RtsCts => 3,
        },
        4..=6 => {
            if line.brk {
                5
            } else {
                6
            }
        }
        7..=9 => {
            if line.dtr {
                8
            } else {
                9
            }
        }
        10..=12 => {
            if line.rts {
                11
            } else {
                12
            }
        }
        _ => v,
    }
}

fn parity_from(p: u8) -> Option<Parity> {
    match p {
        1 => Some(Parity::None),
        2 => Some(Parity::Odd),
        3 => Some(Parity::Even),
        4 => Some(Parity::Mark),
        5 => Some(Parity::Space),
        _ => None,
    }
}

fn parity_code(p: Parity) -> u8 {
    match p {
        Parity::None => 1,
        Parity::Odd => 2,
        Parity::Even => 3,
        Parity::Mark => 4,
        Parity::Space => 5,
    }
}

/// What a client's first bytes say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    /// Telnet negotiation: IAC then WILL, WONT, DO, DONT or SB.
    Telnet,
    /// Anything else: plain data.
    Raw,
    /// Only an IAC so far: wait for the next byte.
    Undecided,
}

/// Classify a client by the first bytes it sent (an empty `first` is undecided).
pub fn opening(first: &[u8]) -> Opening {
    match first {
        [] | [telnet::IAC] => Opening::Undecided,
        [telnet::IAC, verb, ..] if telnet::is_negotiation(*verb) => Opening::Telnet,
        _ => Opening::Raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Line {
        Line {
            settings: Settings {
                baud: 115_200,
                data_bits: 8,
                parity: Parity::None,
                stop_bits: 1,
                flow: Flow::None,
                hupcl: false,
            },
            dtr: true,
            rts: true,
            brk: false,
        }
    }

    fn now() -> Now {
        Now {
            baud: 115_200,
            modem: 0x30,
        }
    }

    #[test]
    fn baud_rates_are_range_checked_before_termios() {
        let l = line();
        for bad in [1, 49, 4_000_001, 1_279_607_115, u32::MAX] {
            assert_eq!(
                plan(&Cmd::SetBaud(bad), &l),
                (Action::None, Some(Refusal::Baud(bad))),
                "{bad}"
            );
            // the answer is the rate in effect
            assert_eq!(
                answer(&Cmd::SetBaud(bad), &l, now(), "x"),
                Some((101, 115_200u32.to_be_bytes().to_vec()))
            );
        }
        for good in [BAUD_MIN, 9600, BAUD_MAX] {
            let (a, r) = plan(&Cmd::SetBaud(good), &l);
            assert_eq!(r, None);
            assert_eq!(
                a,
                Action::Settings(Settings {
                    baud: good,
                    ..l.settings
                })
            );
        }
        // 0 asks; the rate already set changes nothing
        assert_eq!(plan(&Cmd::SetBaud(0), &l), (Action::None, None));
        assert_eq!(plan(&Cmd::SetBaud(115_200), &l), (Action::None, None));
    }

    #[test]
    fn settings_and_their_answers() {
        let l = line();
        let set = |cmd| plan(&cmd, &l).0;
        assert_eq!(
            set(Cmd::SetDataSize(7)),
            Action::Settings(Settings {
                data_bits: 7,
                ..l.settings
            })
        );
        assert_eq!(set(Cmd::SetDataSize(9)), Action::None);
        assert_eq!(
            set(Cmd::SetParity(3)),
            Action::Settings(Settings {
                parity: Parity::Even,
                ..l.settings
            })
        );
        assert_eq!(set(Cmd::SetParity(6)), Action::None);
        assert_eq!(set(Cmd::SetStopSize(3)), Action::None);
        assert_eq!(
            set(Cmd::SetControl(3)),
            Action::Settings(Settings {
                flow: Flow::RtsCts,
                ..l.settings
            })
        );
        assert_eq!(set(Cmd::SetControl(5)), Action::Break(true));
        assert_eq!(set(Cmd::SetControl(9)), Action::Dtr(false));
        assert_eq!(set(Cmd::SetControl(11)), Action::Rts(true));
        assert_eq!(set(Cmd::Purge(3)), Action::Purge(3));
        // answers report what is in effect (a refused data size answers 8)
        let a = |cmd| answer(&cmd, &l, now(), "ser2tcp 1");
        assert_eq!(a(Cmd::SetDataSize(9)), Some((102, vec![8])));
        assert_eq!(a(Cmd::SetParity(0)), Some((103, vec![1])));
        assert_eq!(a(Cmd::SetStopSize(0)), Some((104, vec![1])));
        assert_eq!(a(Cmd::SetControl(0)), Some((105, vec![1])));
        assert_eq!(a(Cmd::SetControl(4)), Some((105, vec![6])));
        assert_eq!(a(Cmd::SetControl(7)), Some((105, vec![8])));
        assert_eq!(a(Cmd::SetControl(10)), Some((105, vec![11])));
        assert_eq!(a(Cmd::SetControl(17)), Some((105, vec![17])));
        assert_eq!(a(Cmd::NotifyLineState), Some((106, vec![0x60])));
        assert_eq!(a(Cmd::NotifyModemState), Some((107, vec![0x30])));
        assert_eq!(a(Cmd::FlowSuspend), Some((108, vec![])));
        assert_eq!(a(Cmd::ModemStateMask(0xff)), Some((111, vec![0xff])));
        assert_eq!(a(Cmd::Purge(2)), Some((112, vec![2])));
        assert_eq!(
            a(Cmd::Signature(vec![])),
            Some((100, b"ser2tcp 1".to_vec()))
        );
        assert_eq!(a(Cmd::Signature(b"pyserial".to_vec())), None);
        assert_eq!(a(Cmd::Unknown(42, vec![1])), Some((142, vec![1])));
        assert_eq!(a(Cmd::Unknown(101, vec![1])), None);
        assert_eq!(Code::PurgeData.reply(), 112);
    }

    #[test]
    fn fuzz_entry_point_on_samples() {
        let mut flood = vec![0u8, 255, 251, 44];
        for baud in [1u32, 9600, 0xffff_ffff] {
            flood.extend_from_slice(&[255, 250, 44, 1]);
            for b in baud.to_be_bytes() {
                flood.push(b);
                if b == 255 {
                    flood.push(255);
                }
            }
            flood.extend_from_slice(&[255, 240]);
        }
        for s in [
            &flood[..],
            &[3, b'a', 255, 255, b'b', 255, 241, b'c', 255, 250, 1, 255][..],
            &[9, 255, 250, 44, 5, 255, 1, b'x'][..],
            &[],
        ] {
            crate::fuzz::telnet(s);
        }
    }

    #[test]
    fn openings() {
        use telnet::IAC;
        assert_eq!(opening(b""), Opening::Undecided);
        assert_eq!(opening(&[IAC]), Opening::Undecided);
        for verb in [250, 251, 252, 253, 254] {
            assert_eq!(opening(&[IAC, verb, 44]), Opening::Telnet, "{verb}");
        }
        assert_eq!(opening(&[IAC, IAC]), Opening::Raw);
        assert_eq!(opening(&[IAC, 241]), Opening::Raw);
        assert_eq!(opening(b"90\n"), Opening::Raw);
    }
}
