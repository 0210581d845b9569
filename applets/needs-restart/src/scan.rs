//! Walking `/proc`: one directory handle per process (so a reused PID cannot mix two
//! processes), its `stat`, `exe` and `maps` read through that handle, and each mapped
//! path checked once per (mount namespace, root) however many processes map it.

use crate::cgroup;
use crate::group::{Reason, StaleProc, Tree};
use crate::maps;
use regex_lite::Regex;
use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::fd::OwnedFd;

/// What to scan.
#[derive(Debug, Default)]
pub(crate) struct Config {
    /// Only these processes (their ancestors are still looked at, for grouping).
    pub(crate) pids: Option<HashSet<u32>>,
    /// Only processes of these users.
    pub(crate) uids: Option<HashSet<u32>>,
    /// Mapped paths matching any of these are never reported.
    pub(crate) ignore: Vec<Regex>,
    /// Also check files on network and FUSE filesystems (may hang on a dead server).
    pub(crate) all_filesystems: bool,
    /// Also look at files in temporary directories (`--include-temp`).
    pub(crate) include_temp: bool,
    /// The proc filesystem (`/proc`).
    pub(crate) proc_root: String,
}

/// What a scan found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) stale: Vec<StaleProc>,
    pub(crate) tree: Tree,
    /// Processes whose maps were read (kernel threads and ourselves excluded).
    pub(crate) scanned: usize,
    /// Processes whose maps could not be read (permission).
    pub(crate) unreadable: Vec<u32>,
    /// PIDs `--pid` asked for that do not exist.
    pub(crate) missing: Vec<u32>,
    pub(crate) seconds: f64,
}

/// (mount namespace, root device and inode): where a path means the same file.
type View = (String, (u64, u64));

/// A path's (device, inode) in a view; `None` when unknown (missing, unreadable, skipped).
type Ident = Option<((u32, u32), u64)>;

struct Ctx<'c> {
    cfg: &'c Config,
    me: u32,
    my_view: View,
    idents: HashMap<View, HashMap<String, Ident>>,
    /// Per view: the mount points of network and FUSE filesystems (empty: none).
    remote: HashMap<View, Vec<String>>,
    /// PIDs whose directory could be opened.
    seen: Vec<u32>,
    btime: u64,
    hz: u64,
}

/// `flags` bit of kernel threads in /proc/PID/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

fn errno(e: &std::io::Error) -> Errno {
    Errno::from_raw_os_error(e.raw_os_error().unwrap_or(libc_eio()))
}
fn libc_eio() -> i32 {
    Errno::IO.raw_os_error()
}

/// Most bytes read of one `/proc/PID/maps` (about 800,000 mappings of ordinary paths; the
/// kernel's default `vm.max_map_count` is 65,530); the rest is not looked at.
pub(crate) const MAPS_MAX: u64 = 64 << 20;
/// Most bytes read of a process's `stat` or `cgroup` file.
pub(crate) const SMALL_MAX: u64 = 1 << 20;

/// Read a file relative to a directory handle into `buf`, at most `max` bytes.
fn read_at(dir: &OwnedFd, name: &str, buf: &mut Vec<u8>, max: u64) -> Result<(), Errno> {
    buf.clear();
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    std::fs::File::from(fd)
        .take(max)
        .read_to_end(buf)
        .map(|_| ())
        .map_err(|e| errno(&e))
}

fn readlink_at(dir: &OwnedFd, name: &str) -> Result<String, Errno> {
    rustix::fs::readlinkat(dir, name, Vec::new())
        .map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned())
}

fn gone(e: Errno) -> bool {
    e == Errno::NOENT || e == Errno::SRCH
}

/// Fields of `/proc/PID/stat` we use: (ppid, flags, starttime in ticks).
pub(crate) fn parse_stat(text: &str) -> Option<(u32, u64, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    Some((
        f.get(1)?.parse().ok()?,
        f.get(6)?.parse().ok()?,
        f.get(19)?.parse().ok()?,
    ))
}

fn boot_time(proc_root: &str) -> u64 {
    std::fs::read_to_string(format!("{proc_root}/stat"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn dev_ino(st: &rustix::fs::Stat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

/// Mount points of filesystems whose stat may hang (network, FUSE), from mountinfo text.
pub(crate) fn remote_mounts(mountinfo: &str) -> Vec<String> {
    const REMOTE: &[&str] = &[
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "9p",
        "ceph",
        "glusterfs",
        "afs",
        "lustre",
        "gfs2",
        "ocfs2",
        "davfs",
        "fuseblk",
        "fuse",
    ];
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let mp = pre.split(' ').nth(4)?;
            let remote = REMOTE.contains(&fstype) || fstype.starts_with("fuse.");
            remote.then(|| unescape_octal(mp))
        })
        .collect()
}

fn unescape_octal(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` lies under one of the mount points.
pub(crate) fn under_any(path: &str, mounts: &[String]) -> bool {
    mounts.iter().any(|m| {
        m == "/"
            || path
                .strip_prefix(m.as_str())
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    })
}

impl<'c> Ctx<'c> {
    /// Where the process's mapped paths are to be looked up. The kernel shows them relative
    /// to *our* root when the mount is reachable from it (same mount namespace, even in a
    /// chroot: stat them directly), else relative to the process's namespace root (a
    /// container: stat them through /proc/PID/root).
    fn view_of(&self, dir: &OwnedFd) -> Option<View> {
        let ns = readlink_at(dir, "ns/mnt").ok()?;
        if ns == self.my_view.0 {
            return Some(self.my_view.clone());
        }
        let root = rustix::fs::statat(dir, "root", AtFlags::empty()).ok()?;
        Some((ns, dev_ino(&root)))
    }

    /// The (device, inode) `path` names in the process's view, cached per view.
    fn ident(&mut self, dir: &OwnedFd, view: &View, path: &str) -> Ident {
        if let Some(id) = self.idents.get(view).and_then(|m| m.get(path)) {
            return *id;
        }
        let own = *view == self.my_view;
        if !self.cfg.all_filesystems {
            if !self.remote.contains_key(view) {
                let text = if own {
                    std::fs::read_to_string(format!("{}/self/mountinfo", self.cfg.proc_root))
                        .unwrap_or_default()
                } else {
                    let mut b = Vec::new();
                    let _ = read_at(dir, "mountinfo", &mut b, MAPS_MAX);
                    String::from_utf8_lossy(&b).into_owned()
                };
                self.remote.insert(view.clone(), remote_mounts(&text));
            }
            if self.remote.get(view).is_some_and(|m| under_any(path, m)) {
                return None;
            }
        }
        let st = if own {
            rustix::fs::statat(CWD, path, AtFlags::empty())
        } else {
            rustix::fs::statat(dir, format!("root{path}").as_str(), AtFlags::empty())
        };
        let id = st.ok().map(|s| {
            (
                (rustix::fs::major(s.st_dev), rustix::fs::minor(s.st_dev)),
                s.st_ino,
            )
        });
        // a failure that may be this process vanishing is not cached for others
        if id.is_some() || own {
            self.idents
                .entry(view.clone())
                .or_default()
                .insert(path.to_string(), id);
        }
        id
    }

    /// One process: its maps first (most processes end there), the rest only when stale.
    fn scan_one(&mut self, pid: u32, buf: &mut Vec<u8>, out: &mut Scan) {
        if pid == self.me || self.cfg.pids.as_ref().is_some_and(|p| !p.contains(&pid)) {
            return;
        }
        let Ok(dir) = open_pid(&self.cfg.proc_root, pid) else {
            return;
        };
        self.seen.push(pid);
        let mut uid = None;
        if let Some(uids) = &self.cfg.uids {
            let u = rustix::fs::fstat(&dir).map_or(u32::MAX, |s| s.st_uid);
            if !uids.contains(&u) {
                return;
            }
            uid = Some(u);
        }
        match read_at(&dir, "maps", buf, MAPS_MAX) {
            Ok(()) => {}
            Err(e) if gone(e) => return,
            Err(_) => {
                // a kernel thread is unreadable to non-root, and has nothing to report
                let kthread = read_at(&dir, "stat", buf, SMALL_MAX)
                    .ok()
                    .and_then(|_| parse_stat(&String::from_utf8_lossy(buf)))
                    .is_some_and(|(_, flags, _)| flags & PF_KTHREAD != 0);
                if !kthread {
                    out.unreadable.push(pid);
                }
                return;
            }
        }
        // kernel threads and zombies map nothing
        if buf.is_empty() {
            return;
        }
        // cut at the limit: the last, partial line would name a shorter path
        if buf.len() as u64 >= MAPS_MAX {
            let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            buf.truncate(end);
        }
        out.scanned += 1;
        let text = String::from_utf8_lossy(buf);
        let mut files: Vec<(String, Reason)> = Vec::new();
        let mut checked: HashSet<&str> = HashSet::new();
        let mut view: Option<Option<View>> = None;
        for line in text.lines() {
            let Some(m) = maps::parse_line(line, self.cfg.include_temp) else {
                continue;
            };
            if self.ignored(&m.path) {
                continue;
            }
            if let Some(literal) = &m.literal {
                // the marker, unless a live file is really named so: then it is that file
                let v = view.get_or_insert_with(|| self.view_of(&dir)).clone();
                let live = v
                    .and_then(|v| self.ident(&dir, &v, literal))
                    .is_some_and(|(dev, ino)| !is_replaced(m.dev, m.inode, dev, ino));
                if !live {
                    push_file(&mut files, &m.path, Reason::Deleted);
                }
                continue;
            }
            if !checked.insert(line_path(line)) {
                continue;
            }
            let v = view.get_or_insert_with(|| self.view_of(&dir));
            let Some(v) = v.clone() else { continue };
            if let Some((dev, ino)) = self.ident(&dir, &v, &m.path)
                && is_replaced(m.dev, m.inode, dev, ino)
            {
                push_file(&mut files, &m.path, Reason::Replaced);
            }
        }
        drop(checked);
        drop(text);
        if files.is_empty() {
            return;
        }
        // stale: now who it is
        let Some((ppid, _, start_ticks)) = read_at(&dir, "stat", buf, SMALL_MAX)
            .ok()
            .and_then(|_| parse_stat(&String::from_utf8_lossy(buf)))
        else {
            return;
        };
        let exe = readlink_at(&dir, "exe").unwrap_or_default();
        let exe = match exe.strip_suffix(" (deleted)") {
            Some(p) if !self.exe_is_live(&dir, &view.clone().flatten(), &exe) => {
                let p = maps::normalize(p).to_string();
                if !maps::is_ignored_path(&p, self.cfg.include_temp) && !self.ignored(&p) {
                    push_file(&mut files, &p, Reason::Deleted);
                }
                p
            }
            _ => exe,
        };
        let uid = uid.unwrap_or_else(|| rustix::fs::fstat(&dir).map_or(u32::MAX, |s| s.st_uid));
        let cg = read_at(&dir, "cgroup", buf, SMALL_MAX)
            .map(|_| cgroup::attribute(&String::from_utf8_lossy(buf)))
            .unwrap_or_else(|_| cgroup::Attribution::none());
        let v = view.flatten().or_else(|| self.view_of(&dir));
        let foreign_root = v.as_ref().is_some_and(|v| v.0 != self.my_view.0);
        // unknown counts as another root: its packages are then not looked up here
        let other_root = v.is_none_or(|v| v.1 != self.my_view.1);
        files.sort();
        out.tree.insert(pid, (ppid, exe.clone()));
        out.stale.push(StaleProc {
            pid,
            ppid,
            uid,
            start_time: self.btime + start_ticks / self.hz.max(1),
            exe,
            attribution: cg,
            foreign_root,
            other_root,
            files,
        });
    }

    /// Whether the file `exe` links to is the live file at the path `literal` (a name that
    /// really ends in ` (deleted)`).
    fn exe_is_live(&mut self, dir: &OwnedFd, view: &Option<View>, literal: &str) -> bool {
        let view = match view {
            Some(v) => Some(v.clone()),
            None => self.view_of(dir),
        };
        let Some(view) = view else { return false };
        let Ok(st) = rustix::fs::statat(dir, "exe", AtFlags::empty()) else {
            return false;
        };
        let mapped = (rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev));
        self.ident(dir, &view, literal)
            .is_some_and(|(dev, ino)| !is_replaced(mapped, st.st_ino, dev, ino))
    }

    fn ignored(&self, path: &str) -> bool {
        self.cfg.ignore.iter().any(|r| r.is_match(path))
    }
}

fn open_pid(proc_root: &str, pid: u32) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        CWD,
        format!("{proc_root}/{pid}").as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Add to the tree the ancestors of stale processes that run the same executable (and the
/// first one that does not), for grouping by process tree. A parent younger than its child
/// is a reused PID: the walk stops there.
fn ancestors(proc_root: &str, out: &mut Scan, buf: &mut Vec<u8>) {
    for i in 0..out.stale.len() {
        let (exe, mut cur, mut born) = {
            let p = &out.stale[i];
            (p.exe.clone(), p.ppid, u64::MAX)
        };
        while cur > 1 && !out.tree.contains_key(&cur) {
            let Ok(dir) = open_pid(proc_root, cur) else {
                break;
            };
            let Some((ppid, _, start)) = read_at(&dir, "stat", buf, SMALL_MAX)
                .ok()
                .and_then(|_| parse_stat(&String::from_utf8_lossy(buf)))
            else {
                break;
            };
            if start > born {
                break;
            }
            let pexe = readlink_at(&dir, "exe").unwrap_or_default();
            let same = pexe == exe;
            out.tree.insert(cur, (ppid, pexe));
            if !same {
                break;
            }
            born = start;
            cur = ppid;
        }
    }
}

/// The raw path part of a maps line (for de-duplicating lines of one file).
fn line_path(line: &str) -> &str {
    line.split_ascii_whitespace().nth(5).unwrap_or(line)
}

fn push_file(files: &mut Vec<(String, Reason)>, path: &str, why: Reason) {
    if !files.iter().any(|(p, _)| p == path) {
        files.push((path.to_string(), why));
    }
}

/// Whether a mapping of (dev, inode) is stale given what its path names now. Devices of
/// major 0 (overlay, btrfs subvolumes, tmpfs) are not comparable across filesystems: when
/// the devices differ and one of them is anonymous, the answer is "unknown" (not stale).
pub(crate) fn is_replaced(map_dev: (u32, u32), map_ino: u64, dev: (u32, u32), ino: u64) -> bool {
    if map_dev == dev {
        map_ino != ino
    } else {
        map_dev.0 != 0 && dev.0 != 0
    }
}

/// Scan the processes.
pub(crate) fn scan(cfg: &Config) -> std::io::Result<Scan> {
    let started = std::time::Instant::now();
    let me = rustix::process::getpid().as_raw_nonzero().get() as u32;
    let self_dir = rustix::fs::openat(
        CWD,
        format!("{}/self", cfg.proc_root).as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut ctx = Ctx {
        cfg,
        me,
        my_view: (String::new(), (0, 0)),
        idents: HashMap::new(),
        remote: HashMap::new(),
        seen: Vec::new(),
        btime: boot_time(&cfg.proc_root),
        hz: rustix::param::clock_ticks_per_second(),
    };
    ctx.my_view = ctx.view_of(&self_dir).unwrap_or_default();
    let mut out = Scan::default();
    let pids: Vec<u32> = std::fs::read_dir(&cfg.proc_root)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    let mut buf = Vec::with_capacity(1 << 16);
    for pid in pids {
        ctx.scan_one(pid, &mut buf, &mut out);
    }
    ancestors(&cfg.proc_root, &mut out, &mut buf);
    out.unreadable.sort_unstable();
    if let Some(wanted) = &cfg.pids {
        let seen: HashSet<u32> = ctx.seen.iter().copied().collect();
        out.missing = wanted
            .iter()
            .filter(|p| !seen.contains(p))
            .copied()
            .collect();
        out.missing.sort_unstable();
    }
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields() {
        let s = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5678 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat(s), Some((1, 4194560, 5678)));
        let k = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0";
        assert_eq!(parse_stat(k).map(|s| s.1 & PF_KTHREAD != 0), Some(true));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S"), None);
    }

    #[test]
    fn replaced_rules() {
        // same device: the inode decides
        assert!(is_replaced((0xfe, 1), 10, (0xfe, 1), 11));
        assert!(!is_replaced((0xfe, 1), 10, (0xfe, 1), 10));
        // another real device: replaced (mounted over)
        assert!(is_replaced((8, 1), 10, (8, 17), 10));
        // anonymous devices (overlayfs shows the lower layer's device): unknown
        assert!(!is_replaced((8, 1), 10, (0, 52), 10));
        assert!(!is_replaced((0, 50), 10, (0, 52), 11));
        // btrfs: same anonymous device, another inode
        assert!(is_replaced((0, 50), 10, (0, 50), 11));
    }

    #[test]
    fn remote_filesystems() {
        let mi = "\
22 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw
30 22 0:45 / /srv/nfs\\040share rw - nfs4 server:/export rw
31 22 0:46 / /home/u/remote rw - fuse.sshfs u@h: rw
32 22 0:47 / /mnt/nfsish rw - ext4 /dev/vdb rw
";
        let r = remote_mounts(mi);
        assert_eq!(r, vec!["/srv/nfs share", "/home/u/remote"]);
        assert!(under_any("/srv/nfs share/lib/x.so", &r));
        assert!(under_any("/home/u/remote", &r));
        assert!(!under_any("/srv/nfs sharex/lib.so", &r));
        assert!(!under_any("/usr/lib/x.so", &r));
        assert!(remote_mounts("junk\n").is_empty());
    }
}
