//! Two network namespaces joined by a veth pair, for tests of clients from elsewhere:
//! "office" (198.51.100.1/24, where the bridge runs) and "abroad" (198.51.100.2/24, the
//! colleague's side). Made by the test, deleted on drop; nothing in the machine's own
//! namespace changes.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const OFFICE: &str = "198.51.100.1";
pub const ABROAD: &str = "198.51.100.2";

/// One network namespace (`ip netns` names it).
pub struct Ns {
    pub name: String,
}

impl Ns {
    /// `program` run inside the namespace (`ip netns exec`, which execs it: the child's
    /// pid is the program's).
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// A TCP connection made from inside the namespace (by a thread that enters it; the
    /// socket then lives there whoever uses it).
    pub fn connect(&self, to: SocketAddr) -> std::io::Result<TcpStream> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path)?;
            rustix::thread::move_into_link_name_space(
                f.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            TcpStream::connect(to)
        })
        .join()
        .expect("the connecting thread panicked")
    }
}

/// The two namespaces and the link between them.
pub struct Link {
    pub office: Ns,
    pub abroad: Ns,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let o = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

impl Link {
    /// Make them; `None` (a skip, said on stderr) where namespaces cannot be made (not
    /// root, no `ip`); under OPSBOX_STRICT=1 that is a failure.
    pub fn new() -> Option<Link> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}x{n}", std::process::id());
        let link = Link {
            office: Ns {
                name: format!("s2t-office-{id}"),
            },
            abroad: Ns {
                name: format!("s2t-abroad-{id}"),
            },
        };
        // veth names: at most 15 bytes
        let (vo, va) = (format!("s2o{id}"), format!("s2a{id}"));
        let (vo, va) = (&vo[..vo.len().min(15)], &va[..va.len().min(15)]);
        let (o, a) = (link.office.name.as_str(), link.abroad.name.as_str());
        let made = (|| {
            ip(&["netns", "add", o])?;
            ip(&["netns", "add", a])?;
            ip(&[
                "-n", o, "link", "add", vo, "type", "veth", "peer", "name", va, "netns", a,
            ])?;
            ip(&["-n", o, "addr", "add", &format!("{OFFICE}/24"), "dev", vo])?;
            ip(&["-n", a, "addr", "add", &format!("{ABROAD}/24"), "dev", va])?;
            for (ns, dev) in [(o, vo), (a, va), (o, "lo"), (a, "lo")] {
                ip(&["-n", ns, "link", "set", dev, "up"])?;
            }
            Ok::<(), String>(())
        })();
        match made {
            Ok(()) => Some(link),
            Err(e) => {
                drop(link);
                let strict = std::env::var_os("OPSBOX_STRICT").is_some_and(|v| v == "1");
                assert!(!strict, "cannot make network namespaces: {e}");
                eprintln!(
                    "skipped: cannot make network namespaces (root and iproute2 needed): {e}"
                );
                None
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for ns in [&self.office, &self.abroad] {
            let _ = ip(&["netns", "del", &ns.name]);
        }
    }
}
