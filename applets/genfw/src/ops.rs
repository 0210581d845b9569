//! The kernel side: loading, dumping and snapshotting genfw's own rules, through `nft`,
//! `ipset`, `iptables-restore` and `ip6tables-restore`; throwaway namespaces through
//! `unshare -Urn`. Only table `inet genfw`, chain `GENFW-INPUT` and the `genfw-*` sets
//! are ever read or written.

use crate::render::{CHAIN, TABLE, is_our_set};
use opsbox_common::{Error, ResultExt, exit};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Something loadable: the nft file, or the three iptables-side files, or "remove ours".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bundle {
    Nft(String),
    Ipt {
        ipset: String,
        v4: String,
        v6: String,
    },
    IptRemove,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Nft,
    Ipt,
}

/// A finished command: its exit status (None: killed by a signal), stdout, stderr.
pub struct Ran {
    pub ok: bool,
    pub code: Option<i32>,
    pub out: String,
    pub err: String,
}

fn package_of(prog: &str) -> &'static str {
    match prog {
        "nft" => "nftables",
        "ipset" => "ipset",
        "unshare" => "util-linux",
        _ => "iptables",
    }
}

/// Run `prog args`, feeding `input`. A missing program is exit 69.
pub fn run(prog: &str, args: &[&str], input: Option<&[u8]>) -> Result<Ran, Error> {
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::unavailable(format!(
                "{prog}: not found (install the Debian package {})",
                package_of(prog)
            ))
        } else {
            Error::from_io_code(exit::UNAVAILABLE, prog, &e)
        }
    })?;
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        // a loader that dies early closes the pipe: its stderr says why
        let _ = stdin.write_all(data);
    }
    let o = child.wait_with_output().ctx(prog)?;
    Ok(Ran {
        ok: o.status.success(),
        code: o.status.code(),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

/// The loader's complaint as one line.
fn complaint(prog: &str, r: &Ran) -> String {
    let text: Vec<&str> = r
        .err
        .lines()
        .chain(r.out.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '^' || c == '~' || c == ' '))
        .collect();
    format!(
        "{prog}: {}",
        if text.is_empty() {
            "failed".to_string()
        } else {
            text.join("; ")
        }
    )
}

/// Load a bundle into the current network namespace. Loader errors are exit 65.
pub fn load(b: &Bundle) -> Result<(), Error> {
    match b {
        Bundle::Nft(text) => {
            let r = run("nft", &["-f", "-"], Some(text.as_bytes()))?;
            if !r.ok {
                return Err(Error::data(complaint("nft", &r)));
            }
        }
        Bundle::Ipt { ipset, v4, v6 } => {
            for (prog, args, text) in [
                ("ipset", &["restore"][..], ipset),
                ("iptables-restore", &["--noflush"][..], v4),
                ("ip6tables-restore", &["--noflush"][..], v6),
            ] {
                let r = run(prog, args, Some(text.as_bytes()))?;
                if !r.ok {
                    return Err(Error::data(complaint(prog, &r)));
                }
            }
            // sets of genfw_allow rules that are gone: unreferenced now, so destroyable
            let wanted: Vec<&str> = ipset
                .lines()
                .filter_map(|l| l.strip_prefix("swap "))
                .filter_map(|l| l.split(' ').nth(1))
                .collect();
            for set in existing_sets()? {
                if !wanted.contains(&set.as_str()) {
                    run("ipset", &["destroy", &set], None)?;
                }
            }
            for prog in ["iptables", "ip6tables"] {
                let jump = ["-C", "INPUT", "-j", CHAIN];
                if !run(prog, &jump, None)?.ok {
                    let r = run(prog, &["-I", "INPUT", "1", "-j", CHAIN], None)?;
                    if !r.ok {
                        return Err(Error::data(complaint(prog, &r)));
                    }
                }
            }
        }
        Bundle::IptRemove => {
            for prog in ["iptables", "ip6tables"] {
                while run(prog, &["-D", "INPUT", "-j", CHAIN], None)?.ok {}
                run(prog, &["-F", CHAIN], None)?;
                run(prog, &["-X", CHAIN], None)?;
            }
            for set in existing_sets()? {
                run("ipset", &["destroy", &set], None)?;
            }
        }
    }
    Ok(())
}

/// The names of genfw's ipsets that exist now.
pub fn existing_sets() -> Result<Vec<String>, Error> {
    let r = run("ipset", &["list", "-n"], None)?;
    Ok(r.out
        .lines()
        .filter(|l| is_our_set(l))
        .map(str::to_string)
        .collect())
}

/// genfw's live rules as sorted, comparable lines (empty: nothing of ours loaded).
pub fn dump(backend: Backend) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    match backend {
        Backend::Nft => {
            let r = run("nft", &["-j", "-s", "list", "table", "inet", "genfw"], None)?;
            if !r.ok {
                return Ok(lines); // no such table
            }
            let v: serde_json::Value = serde_json::from_str(&r.out)
                .map_err(|e| Error::data(format!("nft -j: unreadable output: {e}")))?;
            for item in v["nftables"].as_array().into_iter().flatten() {
                if let Some(set) = item.get("set") {
                    let name = set["name"].as_str().unwrap_or("?");
                    for e in set["elem"].as_array().into_iter().flatten() {
                        lines.push(format!("set {name} {}", elem(e)));
                    }
                }
            }
            // rules from the text listing of the chain alone (the sets came from the JSON)
            let r = run(
                "nft",
                &["-s", "list", "chain", "inet", "genfw", "input"],
                None,
            )?;
            let mut chain = String::new();
            for l in r.out.lines().map(str::trim) {
                if let Some(c) = l.strip_prefix("chain ") {
                    chain = c.trim_end_matches(" {").to_string();
                } else if l == "}" {
                    chain.clear();
                } else if !chain.is_empty() && !l.is_empty() {
                    lines.push(format!("chain {chain}: {l}"));
                }
            }
        }
        Backend::Ipt => {
            for (prog, fam) in [("iptables-save", "v4"), ("ip6tables-save", "v6")] {
                let r = run(prog, &["-t", "filter"], None)?;
                for l in r.out.lines() {
                    if l.starts_with(&format!("-A {CHAIN} ")) || l == format!("-A INPUT -j {CHAIN}")
                    {
                        lines.push(format!("{fam} {l}"));
                    }
                }
            }
            let r = run("ipset", &["save"], None)?;
            for l in r.out.lines() {
                if let Some(rest) = l.strip_prefix("add ")
                    && rest.split(' ').next().is_some_and(is_our_set)
                {
                    lines.push(format!("ipset {rest}"));
                }
            }
        }
    }
    lines.sort();
    Ok(lines)
}

fn elem(e: &serde_json::Value) -> String {
    if let Some(s) = e.as_str() {
        return s.to_string();
    }
    if let Some(p) = e.get("prefix") {
        return format!("{}/{}", p["addr"].as_str().unwrap_or("?"), p["len"]);
    }
    if let Some(r) = e.get("range").and_then(|r| r.as_array()) {
        let s: Vec<String> = r.iter().map(elem).collect();
        return s.join("-");
    }
    e.to_string()
}

/// What is loaded now, as a bundle that brings it back.
pub fn snapshot(backend: Backend) -> Result<Bundle, Error> {
    match backend {
        Backend::Nft => {
            let r = run("nft", &["-s", "list", "table", "inet", "genfw"], None)?;
            let mut text = format!("table {TABLE}\ndelete table {TABLE}\n");
            if r.ok {
                text.push_str(&r.out);
            }
            Ok(Bundle::Nft(text))
        }
        Backend::Ipt => {
            let mut files = Vec::new();
            let mut any = false;
            for prog in ["iptables-save", "ip6tables-save"] {
                let r = run(prog, &["-t", "filter"], None)?;
                let mut f = format!("*filter\n:{CHAIN} - [0:0]\n-F {CHAIN}\n");
                for l in r.out.lines() {
                    if l.starts_with(&format!(":{CHAIN} ")) {
                        any = true;
                    }
                    if l.starts_with(&format!("-A {CHAIN} ")) {
                        f.push_str(l);
                        f.push('\n');
                    }
                }
                f.push_str("COMMIT\n");
                files.push(f);
            }
            let r = run("ipset", &["save"], None)?;
            let mut ipset = String::new();
            let mut names = Vec::new();
            for l in r.out.lines() {
                let mut w = l.splitn(3, ' ');
                let (verb, name, rest) = (w.next(), w.next(), w.next().unwrap_or(""));
                let Some(name) = name.filter(|n| is_our_set(n)) else {
                    continue;
                };
                match verb {
                    Some("create") => {
                        any = true;
                        names.push(name.to_string());
                        let rest: Vec<&str> = rest.split(' ').collect();
                        // initval and bucketsize are the kernel's, not ours
                        let mut keep = Vec::new();
                        let mut i = 0;
                        while i < rest.len() {
                            if rest[i] == "initval" || rest[i] == "bucketsize" {
                                i += 2;
                                continue;
                            }
                            keep.push(rest[i]);
                            i += 1;
                        }
                        ipset.push_str(&format!(
                            "create {name}-new {} -exist\nflush {name}-new\n",
                            keep.join(" ")
                        ));
                    }
                    Some("add") => ipset.push_str(&format!("add {name}-new {rest}\n")),
                    _ => {}
                }
            }
            for n in &names {
                ipset.push_str(&format!("swap {n}-new {n}\ndestroy {n}-new\n"));
            }
            if !any {
                return Ok(Bundle::IptRemove);
            }
            let v6 = files.pop().unwrap_or_default();
            let v4 = files.pop().unwrap_or_default();
            Ok(Bundle::Ipt { ipset, v4, v6 })
        }
    }
}

const NFT_FILE: &str = "genfw.nft";
const IPT_FILES: [&str; 3] = ["genfw.ipset", "genfw.v4", "genfw.v6"];
const REMOVE: &str = "remove";

/// Write a bundle into a directory (each file atomically).
pub fn save(dir: &Path, b: &Bundle) -> Result<(), Error> {
    std::fs::create_dir_all(dir).ctx_code(exit::CANTCREAT, dir.display())?;
    let all = [NFT_FILE, IPT_FILES[0], IPT_FILES[1], IPT_FILES[2], REMOVE];
    let keep: Vec<(&str, &str)> = match b {
        Bundle::Nft(t) => vec![(NFT_FILE, t.as_str())],
        Bundle::Ipt { ipset, v4, v6 } => vec![
            (IPT_FILES[0], ipset.as_str()),
            (IPT_FILES[1], v4.as_str()),
            (IPT_FILES[2], v6.as_str()),
        ],
        Bundle::IptRemove => vec![(REMOVE, "")],
    };
    for (name, text) in &keep {
        opsbox_common::output::write_atomic(dir.join(name), text.as_bytes())?;
    }
    for name in all {
        if !keep.iter().any(|(n, _)| *n == name) {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
    Ok(())
}

/// Read a bundle back from a directory; None when there is none.
pub fn restore_from(dir: &Path) -> Result<Option<Bundle>, Error> {
    let read = |n: &str| {
        std::fs::read_to_string(dir.join(n)).ctx_code(exit::NOINPUT, dir.join(n).display())
    };
    if dir.join(NFT_FILE).exists() {
        return Ok(Some(Bundle::Nft(read(NFT_FILE)?)));
    }
    if dir.join(REMOVE).exists() {
        return Ok(Some(Bundle::IptRemove));
    }
    if dir.join(IPT_FILES[0]).exists() {
        return Ok(Some(Bundle::Ipt {
            ipset: read(IPT_FILES[0])?,
            v4: read(IPT_FILES[1])?,
            v6: read(IPT_FILES[2])?,
        }));
    }
    Ok(None)
}

impl Bundle {
    pub fn backend(&self) -> Backend {
        match self {
            Bundle::Nft(_) => Backend::Nft,
            _ => Backend::Ipt,
        }
    }
}

/// Exit status of `unshare` when it cannot make the namespace itself (our own child's
/// codes are 0 or 64 and up).
const UNSHARE_FAILED: i32 = 1;

/// Load `b` in a throwaway user+network namespace and return the dump of what the kernel
/// made of it. The loader's complaint is exit 65.
pub fn trial(b: &Bundle, want_dump: bool) -> Result<Vec<String>, Error> {
    let dir = tempfile::Builder::new()
        .prefix("genfw.")
        .tempdir()
        .ctx_code(exit::CANTCREAT, std::env::temp_dir().display())?;
    save(dir.path(), b)?;
    let exe = std::env::current_exe().ctx("cannot find the running program")?;
    let exe = exe.to_string_lossy().into_owned();
    let d = dir.path().to_string_lossy().into_owned();
    // root: a bare network namespace, where nft may size its netlink buffers for big sets
    // (a user namespace caps them near 10,000 elements); others: user + network namespace
    let ns = if nix::unistd::geteuid().is_root() {
        "-n"
    } else {
        "-Urn"
    };
    let mode = if want_dump { "dump" } else { "load" };
    let mut r = run("unshare", &[ns, &exe, "genfw", "__trial", &d, mode], None)?;
    if r.code == Some(UNSHARE_FAILED) && ns == "-n" {
        // root without CAP_SYS_ADMIN (a container): a user namespace may still be allowed
        r = run(
            "unshare",
            &["-Urn", &exe, "genfw", "__trial", &d, mode],
            None,
        )?;
    }
    if r.ok {
        return Ok(r.out.lines().map(str::to_string).collect());
    }
    let msg = r.err.trim().trim_start_matches("genfw: ");
    let first = msg.lines().next().unwrap_or("").to_string();
    match r.code {
        Some(UNSHARE_FAILED) => Err(Error::unavailable(format!(
            "cannot make a throwaway network namespace: {first}"
        ))),
        // our own child's message, with its exit status
        Some(c @ 64..=78) => Err(Error::new(c as u8, first)),
        Some(c) => Err(Error::data(format!(
            "the trial load failed (exit {c}): {first}"
        ))),
        None => Err(Error::data(format!(
            "the trial load was killed by a signal: {first}"
        ))),
    }
}

/// A program on PATH.
pub fn which(prog: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(prog))
            .find(|f| f.is_file())
    })
}
