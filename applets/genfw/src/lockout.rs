//! Which SSH session this command runs under, so `apply` can refuse rules that would cut
//! it. Found from the process tree, which survives `sudo` and `su` (they reset the
//! environment, `SSH_CONNECTION` included): the nearest `sshd` ancestor's established TCP
//! socket, matched by inode between `/proc/PID/fd` and `/proc/PID/net/tcp{,6}`, preferring
//! one whose local port an `sshd` ancestor listens on; only sshd processes in our own
//! network namespace count. `SSH_CONNECTION` is the fallback.
//! The interface is the one that owns the session's local address.

use crate::addr::Net;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An SSH session: the client and the local end it reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    pub client: IpAddr,
    pub client_port: u16,
    pub local: IpAddr,
    pub local_port: u16,
    /// The interface owning `local` (None: not found).
    pub iface: Option<String>,
    /// How it was found: "sshd process N" or "SSH_CONNECTION".
    pub found: String,
}

impl Session {
    pub fn client_net(&self) -> Net {
        Net::host(self.client)
    }
    pub fn describe(&self) -> String {
        format!(
            "from {} port {} to {} port {}{}, found through {}",
            self.client,
            self.client_port,
            self.local,
            self.local_port,
            match &self.iface {
                Some(i) => format!(" on {}", opsbox_common::escape::text(i)),
                None => String::new(),
            },
            self.found
        )
    }
}

/// An IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) as the IPv4 it is.
fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// One line of /proc/net/tcp or tcp6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tcp {
    pub local: (IpAddr, u16),
    pub remote: (IpAddr, u16),
    pub state: u8,
    pub inode: u64,
}

pub(crate) const ESTABLISHED: u8 = 0x01;
pub(crate) const LISTEN: u8 = 0x0a;

/// `ADDR:PORT` as the kernel prints it: the address as native-endian 32-bit words in hex.
fn endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let word = |h: &str| u32::from_str_radix(h, 16).ok().map(u32::to_ne_bytes);
    let addr = match a.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(a)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(a.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((addr, port))
}

pub(crate) fn parse_tcp(text: &str) -> Vec<Tcp> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some(Tcp {
                local: endpoint(w.get(1)?)?,
                remote: endpoint(w.get(2)?)?,
                state: u8::from_str_radix(w.get(3)?, 16).ok()?,
                inode: w.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// `Name:` and `PPid:` of /proc/PID/status.
pub(crate) fn parse_status(text: &str) -> Option<(String, u32)> {
    let mut name = None;
    let mut ppid = None;
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("Name:") {
            name = Some(v.trim().to_string());
        } else if let Some(v) = l.strip_prefix("PPid:") {
            ppid = v.trim().parse().ok();
        }
    }
    Some((name?, ppid?))
}

/// The inode of a `/proc/PID/fd/N` link that is a socket (`socket:[123]`).
pub(crate) fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

pub(crate) fn is_sshd(name: &str) -> bool {
    matches!(name, "sshd" | "sshd-session")
}

/// One sshd ancestor, as read from /proc: its pid, its socket inodes, its TCP table.
pub(crate) struct Sshd {
    pub pid: u32,
    pub inodes: Vec<u64>,
    pub tcp: Vec<Tcp>,
}

/// The session among the sshd ancestors (nearest first): an established socket of theirs,
/// preferably on a port one of them listens on (not a forwarding connection).
pub(crate) fn pick(ancestors: &[Sshd]) -> Option<(u32, Tcp)> {
    let mine = |s: &Sshd, state: u8| -> Vec<Tcp> {
        s.tcp
            .iter()
            .filter(|t| t.state == state && s.inodes.contains(&t.inode))
            .cloned()
            .collect()
    };
    let listening: Vec<u16> = ancestors
        .iter()
        .flat_map(|s| mine(s, LISTEN))
        .map(|t| t.local.1)
        .collect();
    for s in ancestors {
        let est = mine(s, ESTABLISHED);
        if let Some(t) = est
            .iter()
            .find(|t| listening.contains(&t.local.1))
            .or(est.first())
        {
            return Some((s.pid, t.clone()));
        }
    }
    None
}

fn read_sshd(pid: u32) -> Sshd {
    let mut inodes = Vec::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            if let Some(i) = std::fs::read_link(e.path())
                .ok()
                .and_then(|l| socket_inode(&l.to_string_lossy()))
            {
                inodes.push(i);
            }
        }
    }
    let mut tcp = Vec::new();
    for f in ["tcp", "tcp6"] {
        if let Ok(t) = std::fs::read_to_string(format!("/proc/{pid}/net/{f}")) {
            tcp.extend(parse_tcp(&t));
        }
    }
    Sshd { pid, inodes, tcp }
}

/// The sshd processes above this one, nearest first, that share our network namespace
/// (rules loaded here cannot cut a session that arrived in another one, as when a test
/// suite run over SSH loads rules in a private namespace).
fn sshd_ancestors() -> Vec<Sshd> {
    let mut out = Vec::new();
    let netns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
    let ours = netns("self");
    let mut pid = std::process::id();
    // a bounded walk: pid 1 ends it, and so would a loop
    for _ in 0..4096 {
        let Some((name, ppid)) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|t| parse_status(&t))
        else {
            break;
        };
        if is_sshd(&name) && ours.is_some() && netns(&pid.to_string()) == ours {
            out.push(read_sshd(pid));
        }
        if ppid == 0 || ppid == pid {
            break;
        }
        pid = ppid;
    }
    out
}

/// `SSH_CONNECTION`: client address and port, server address and port.
pub(crate) fn parse_ssh_connection(v: &str) -> Option<(IpAddr, u16, IpAddr, u16)> {
    let w: Vec<&str> = v.split_whitespace().collect();
    let [c, cp, s, sp] = w.as_slice() else {
        return None;
    };
    Some((
        unmap(c.parse().ok()?),
        cp.parse().ok()?,
        unmap(s.parse().ok()?),
        sp.parse().ok()?,
    ))
}

/// The interface that owns a local address.
fn iface_of(local: IpAddr) -> Option<String> {
    if local.is_loopback() {
        return Some("lo".into());
    }
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    for a in addrs {
        let Some(sa) = a.address else { continue };
        let ip = if let Some(v4) = sa.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = sa.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if ip == local {
            return Some(a.interface_name);
        }
    }
    None
}

/// The SSH session this command runs under, if any.
pub(crate) fn session() -> Option<Session> {
    if let Some((pid, t)) = pick(&sshd_ancestors()) {
        let local = unmap(t.local.0);
        return Some(Session {
            client: unmap(t.remote.0),
            client_port: t.remote.1,
            local,
            local_port: t.local.1,
            iface: iface_of(local),
            found: format!("sshd process {pid}"),
        });
    }
    let (client, client_port, local, local_port) =
        parse_ssh_connection(&std::env::var("SSH_CONNECTION").ok()?)?;
    Some(Session {
        client,
        client_port,
        local,
        local_port,
        iface: iface_of(local),
        found: "SSH_CONNECTION".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // a real /proc/net/tcp (x86_64, little-endian): sshd listening on 22 and 2222, one
    // session from 192.0.2.50:50412 to 192.0.2.1:22, a forwarding connection to 127.0.0.1:5432
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 00000000:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:C350 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 20 4 30 10 -1
   3: 010200C0:0016 320200C0:C4EC 01 00000000:00000000 02:000A7B8E 00000000     0        0 2002 4 0000000000000000 20 4 31 10 -1
";
    // tcp6: a dual-stack session from ::ffff:198.51.100.7 and a native one from 2001:db8::7
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF0000010200C0:0016 0000000000000000FFFF0000076433C6:D431 01 00000000:00000000 00:00000000 00000000     0        0 3001 1 0000000000000000 20 4 30 10 -1
   1: B80D0120000000000000000001000000:0016 B80D0120000000000000000007000000:D432 01 00000000:00000000 00:00000000 00000000     0        0 3002 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn tcp_tables() {
        let v = parse_tcp(TCP);
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].local, ("0.0.0.0".parse().unwrap(), 22));
        assert_eq!(v[0].state, LISTEN);
        assert_eq!(v[3].local, ("192.0.2.1".parse().unwrap(), 22));
        assert_eq!(v[3].remote, ("192.0.2.50".parse().unwrap(), 50412));
        assert_eq!((v[3].state, v[3].inode), (ESTABLISHED, 2002));
        let v6 = parse_tcp(TCP6);
        assert_eq!(v6.len(), 2, "{v6:?}");
        assert_eq!(v6[1].remote, ("2001:db8::7".parse().unwrap(), 0xd432));
        assert_eq!(unmap(v6[0].local.0), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn picks_the_session_not_the_forward() {
        let tcp = parse_tcp(TCP);
        let daemon = Sshd {
            pid: 100,
            inodes: vec![1001, 1002],
            tcp: tcp.clone(),
        };
        // the session process holds the forwarding socket first, then the session's
        let session = Sshd {
            pid: 200,
            inodes: vec![2001, 2002],
            tcp: tcp.clone(),
        };
        let (pid, t) = pick(&[session, daemon]).unwrap();
        assert_eq!(pid, 200);
        assert_eq!(t.remote, ("192.0.2.50".parse().unwrap(), 50412));
        // no listener known (inetd-style): the first established socket
        let lone = Sshd {
            pid: 300,
            inodes: vec![2002],
            tcp,
        };
        assert_eq!(pick(&[lone]).unwrap().1.inode, 2002);
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn status_links_and_environment() {
        let st =
            "Name:\tsshd\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t812\nPid:\t812\nPPid:\t1\n";
        assert_eq!(parse_status(st), Some(("sshd".into(), 1)));
        assert_eq!(parse_status("Name:\tx\n"), None);
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
        assert!(is_sshd("sshd-session") && !is_sshd("sshd-keygen"));
        assert_eq!(
            parse_ssh_connection("::ffff:203.0.113.9 50000 ::ffff:192.0.2.1 22"),
            Some((
                "203.0.113.9".parse().unwrap(),
                50000,
                "192.0.2.1".parse().unwrap(),
                22
            ))
        );
        assert_eq!(parse_ssh_connection("garbage"), None);
    }
}
