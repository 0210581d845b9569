//! Whether the machine needs a reboot, and why: the running kernel's modules are gone, a
//! newer kernel is installed, the package manager asked for it, or the message bus runs
//! stale code.

use std::cmp::Ordering;
use std::path::Path;

/// needrestart's kernel status (`NEEDRESTART-KSTA`): 0 unknown, 1 current, 3 a newer
/// version is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelStatus {
    pub(crate) running: String,
    pub(crate) expected: Option<String>,
    pub(crate) ksta: u8,
}

/// Compare version strings the way package managers roughly do: digit runs as numbers,
/// other runs as text, `~` before anything.
pub(crate) fn version_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            _ => {}
        }
        let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
        let (da, db) = (digits(a), digits(b));
        if da > 0 && db > 0 {
            let na = std::str::from_utf8(&a[..da])
                .unwrap_or("0")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[..db])
                .unwrap_or("0")
                .trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
            a = &a[da..];
            b = &b[db..];
        } else {
            let o = a[0].cmp(&b[0]);
            if o != Ordering::Equal {
                // a digit run sorts after text ("5.10.0-1" vs "5.10.0-rc")
                return match (a[0].is_ascii_digit(), b[0].is_ascii_digit()) {
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ => o,
                };
            }
            a = &a[1..];
            b = &b[1..];
        }
    }
}

/// Kernel versions from the file names under /boot (`vmlinuz-6.1.0-13-amd64`, …).
pub(crate) fn installed_kernels<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = names
        .into_iter()
        .filter_map(|n| {
            ["vmlinuz-", "vmlinux-", "Image-", "kernel-"]
                .iter()
                .find_map(|p| n.strip_prefix(p))
        })
        .filter(|v| !v.is_empty() && !v.ends_with(".old") && !v.contains("rescue"))
        .map(str::to_string)
        .collect();
    v.sort_by(|a, b| version_cmp(a, b));
    v.dedup();
    v
}

pub(crate) fn kernel_status(running: &str, installed: &[String]) -> KernelStatus {
    let newest = installed.iter().max_by(|a, b| version_cmp(a, b)).cloned();
    let ksta = match &newest {
        None => 0,
        Some(n) if version_cmp(n, running) == Ordering::Greater => 3,
        Some(_) => 1,
    };
    KernelStatus {
        running: running.to_string(),
        expected: newest,
        ksta,
    }
}

/// What the reboot check looks at, gathered from the machine (or made up in tests).
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    pub(crate) in_container: bool,
    pub(crate) kernel: Option<KernelStatus>,
    /// `/lib/modules` exists (a kernel with modules) and whether the running one's is there.
    pub(crate) modules_dir: Option<bool>,
    /// `/run/reboot-required` (Debian) / `/run/reboot-needed` (SUSE) present.
    pub(crate) flag_files: Vec<String>,
    /// Executables of stale message buses, with their PIDs.
    pub(crate) stale_bus: Vec<(String, Vec<u32>)>,
}

/// The reasons to reboot, in a stable order; empty when none.
pub(crate) fn reasons(f: &Facts) -> Vec<String> {
    let mut r = Vec::new();
    if !f.in_container {
        if let Some(k) = &f.kernel
            && k.ksta == 3
        {
            r.push(format!(
                "kernel {} is installed, {} is running",
                k.expected.as_deref().unwrap_or("?"),
                k.running
            ));
        }
        if f.modules_dir == Some(false) {
            let running = f.kernel.as_ref().map_or("", |k| k.running.as_str());
            r.push(format!(
                "the running kernel's modules (/lib/modules/{running}) are gone"
            ));
        }
    }
    for p in &f.flag_files {
        r.push(format!("{p} is present"));
    }
    for (exe, pids) in &f.stale_bus {
        r.push(format!(
            "the message bus {exe} (pid {}) runs deleted or replaced code",
            crate::plan::pids(pids)
        ));
    }
    r
}

/// Whether we run inside a container (kernel checks are then the host's business).
pub(crate) fn in_container() -> bool {
    [
        "/.dockerenv",
        "/run/.containerenv",
        "/run/systemd/container",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
        || std::fs::read("/proc/1/environ")
            .is_ok_and(|e| e.split(|b| *b == 0).any(|v| v.starts_with(b"container=")))
}

/// Gather the facts from this machine.
pub(crate) fn facts(stale_bus: Vec<(String, Vec<u32>)>) -> Facts {
    let running = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let names: Vec<String> = std::fs::read_dir("/boot")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let installed = installed_kernels(names.iter().map(String::as_str));
    let modules_dir = ["/lib/modules", "/usr/lib/modules"]
        .iter()
        .any(|d| Path::new(d).is_dir())
        .then(|| {
            ["/lib/modules", "/usr/lib/modules"]
                .iter()
                .any(|d| Path::new(d).join(&running).is_dir())
        });
    Facts {
        in_container: in_container(),
        kernel: Some(kernel_status(&running, &installed)),
        modules_dir,
        flag_files: ["/run/reboot-required", "/run/reboot-needed"]
            .iter()
            .filter(|p| Path::new(p).exists())
            .map(|p| p.to_string())
            .collect(),
        stale_bus,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        use Ordering::*;
        assert_eq!(version_cmp("6.1.0-13-amd64", "6.1.0-9-amd64"), Greater);
        assert_eq!(version_cmp("6.1.0-13-amd64", "6.1.0-13-amd64"), Equal);
        assert_eq!(version_cmp("5.15.0-101-generic", "6.2.0-1-generic"), Less);
        assert_eq!(version_cmp("6.1.0~rc1", "6.1.0"), Less);
        assert_eq!(
            version_cmp("4.18.0-513.el8.x86_64", "4.18.0-477.el8.x86_64"),
            Greater
        );
        assert_eq!(version_cmp("6.1.10", "6.1.9"), Greater);
        assert_eq!(version_cmp("6.1.010", "6.1.10"), Equal);
    }

    #[test]
    fn kernels_from_boot() {
        let names = [
            "vmlinuz-6.1.0-9-amd64",
            "vmlinuz-6.1.0-13-amd64",
            "initrd.img-6.1.0-13-amd64",
            "config-6.1.0-13-amd64",
            "vmlinuz-0-rescue-abc",
            "grub",
        ];
        let k = installed_kernels(names);
        assert_eq!(k, vec!["6.1.0-9-amd64", "6.1.0-13-amd64"]);
        let s = kernel_status("6.1.0-9-amd64", &k);
        assert_eq!((s.ksta, s.expected.as_deref()), (3, Some("6.1.0-13-amd64")));
        assert_eq!(kernel_status("6.1.0-13-amd64", &k).ksta, 1);
        assert_eq!(kernel_status("6.18.44-custom", &[]).ksta, 0);
    }

    #[test]
    fn reasons_in_order() {
        let mut f = Facts {
            in_container: false,
            kernel: Some(kernel_status("6.1.0-9-amd64", &["6.1.0-13-amd64".into()])),
            modules_dir: Some(false),
            flag_files: vec!["/run/reboot-required".into()],
            stale_bus: vec![("/usr/bin/dbus-daemon".into(), vec![410, 411])],
        };
        assert_eq!(
            reasons(&f),
            vec![
                "kernel 6.1.0-13-amd64 is installed, 6.1.0-9-amd64 is running",
                "the running kernel's modules (/lib/modules/6.1.0-9-amd64) are gone",
                "/run/reboot-required is present",
                "the message bus /usr/bin/dbus-daemon (pid 410,411) runs deleted or replaced code",
            ]
        );
        // inside a container the kernel is not ours to judge
        f.in_container = true;
        assert_eq!(reasons(&f).len(), 2);
        // a kernel without /lib/modules at all (built-in drivers) is not a reason
        assert!(reasons(&Facts::default()).is_empty());
    }
}
