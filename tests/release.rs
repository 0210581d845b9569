//! The release artefacts scripts/release leaves in dist/: checksums, the archives, the
//! .deb installed with dpkg into a scratch root (links, man pages read by `man -l`,
//! completions loaded by bash), the .rpm read by rpm, for x86_64 and aarch64.
//!
//! Without dist/SHA256SUMS (scripts/release not run) the tests skip, saying so; under
//! OPSBOX_STRICT (scripts/test runs scripts/release first) that is a failure.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const APPLETS: [&str; 5] = [
    "genfw",
    "needs-restart",
    "ser2tcp",
    "updateinfo",
    "zone2r53",
];
const MAN: [&str; 6] = [
    "man1/opsbox.1.gz",
    "man1/ser2tcp.1.gz",
    "man1/zone2r53.1.gz",
    "man8/genfw.8.gz",
    "man8/needs-restart.8.gz",
    "man8/updateinfo.8.gz",
];
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// (architecture as in file names, Debian's name, `file`'s word for it)
const ARCHES: [(&str, &str, &str); 2] = [
    ("x86_64", "amd64", "x86-64"),
    ("aarch64", "arm64", "ARM aarch64"),
];

fn dist() -> Option<PathBuf> {
    let d = root().join("dist");
    if d.join("SHA256SUMS").is_file() {
        return Some(d);
    }
    assert!(
        !strict(),
        "dist/SHA256SUMS is missing: scripts/test runs scripts/release first"
    );
    eprintln!("skipped: no release artefacts in dist/ (run scripts/release)");
    None
}

/// Every file of the installed tree under `root`: the binary, a relative link per applet,
/// the man pages, each shell's completions, the README.
fn check_tree(root: &Path, arch: &(&str, &str, &str)) {
    let bin = root.join("bin/opsbox");
    let meta = std::fs::metadata(&bin).unwrap();
    assert!(meta.len() <= 3 * 1024 * 1024, "{} over budget", meta.len());
    if have_tool("file") {
        Command::new("file")
            .arg("-b")
            .arg(&bin)
            .run()
            .ok()
            .stdout_has(arch.2)
            .stdout_has("statically linked");
    }
    for a in APPLETS {
        assert_eq!(
            std::fs::read_link(root.join("bin").join(a)).unwrap(),
            Path::new("opsbox"),
            "{a}"
        );
        assert!(
            root.join("share/bash-completion/completions")
                .join(a)
                .is_file()
        );
        assert!(
            root.join(format!("share/zsh/vendor-completions/_{a}"))
                .is_file()
        );
        assert!(
            root.join(format!("share/fish/vendor_completions.d/{a}.fish"))
                .is_file()
        );
    }
    for m in MAN {
        assert!(root.join("share/man").join(m).is_file(), "{m}");
    }
    assert!(root.join("share/doc/opsbox/README.md").is_file());
    // the binary runs: natively, or under qemu-user
    let mut run = if arch.0 == std::env::consts::ARCH {
        Command::new(root.join("bin/zone2r53"))
    } else {
        if !have_tool(&format!("qemu-{}", arch.0)) {
            return;
        }
        let mut c = Command::new(format!("qemu-{}", arch.0));
        c.arg("-0").arg("zone2r53").arg(&bin);
        c
    };
    run.arg("--version")
        .run()
        .ok()
        .stdout_is(&format!("zone2r53 (opsbox) {VERSION}\n"));
}

#[test]
fn checksums_cover_every_artefact() {
    let Some(d) = dist() else { return };
    let sums = std::fs::read_to_string(d.join("SHA256SUMS")).unwrap();
    let mut names: Vec<&str> = sums
        .lines()
        .map(|l| l.split_once("  ").unwrap().1)
        .collect();
    names.sort();
    let mut want = vec![];
    for (arch, deb, _) in ARCHES {
        want.push(format!("opsbox-{VERSION}-{arch}-linux-musl.tar.gz"));
        want.push(format!("opsbox_{VERSION}-1_{deb}.deb"));
        want.push(format!("opsbox-{VERSION}-1.{arch}.rpm"));
    }
    want.sort();
    assert_eq!(names, want);
    Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(&d)
        .run()
        .ok();
}

#[test]
fn archives_hold_a_prefix_tree() {
    let Some(d) = dist() else { return };
    for arch in &ARCHES {
        let tmp = tempfile::tempdir().unwrap();
        let name = format!("opsbox-{VERSION}-{}-linux-musl", arch.0);
        Command::new("tar")
            .arg("-xzf")
            .arg(d.join(format!("{name}.tar.gz")))
            .arg("-C")
            .arg(tmp.path())
            .run()
            .ok();
        let entries: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "one top directory");
        check_tree(&tmp.path().join(&name), arch);
    }
}

/// The .deb installs with dpkg into a scratch root (its own dpkg database), owns what it
/// installs, and `man -l` reads its pages.
#[test]
fn deb_installs_into_a_scratch_root() {
    let Some(d) = dist() else { return };
    if !have_tool("dpkg") || !have_tool("man") {
        return;
    }
    for arch in &ARCHES {
        let deb = d.join(format!("opsbox_{VERSION}-1_{}.deb", arch.1));
        Command::new("dpkg-deb")
            .args(["-f"])
            .arg(&deb)
            .arg("Architecture")
            .run()
            .ok()
            .stdout_is(&format!("{}\n", arch.1));
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        std::fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
        Command::new("dpkg")
            .arg(format!("--root={}", r.display()))
            .args(["--force-architecture", "--force-script-chrootless", "-i"])
            .arg(&deb)
            .run()
            .ok();
        let listed = Command::new("dpkg")
            .arg(format!("--root={}", r.display()))
            .args(["-L", "opsbox"])
            .run();
        listed.ok().stdout_has("/usr/bin/opsbox\n");
        for a in APPLETS {
            listed.stdout_has(&format!("/usr/bin/{a}\n"));
        }
        check_tree(&r.join("usr"), arch);
        for page in ["man8/genfw.8.gz", "man1/opsbox.1.gz"] {
            Command::new("man")
                .args(["-P", "cat", "-l"])
                .arg(r.join("usr/share/man").join(page))
                .env("MANWIDTH", "80")
                .run()
                .ok()
                .stdout_has("NAME")
                .stdout_has("SYNOPSIS");
        }
        // bash loads the packaged completion of an applet and completes its options
        let comp = r.join("usr/share/bash-completion/completions/zone2r53");
        Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=(zone2r53 check --rr); COMP_CWORD=2; _zone2r53; echo \"${{COMPREPLY[*]}}\"",
                comp.display()
            ))
            .run()
            .ok()
            .stdout_is("--rrsets\n");
        // and removes it all again
        Command::new("dpkg")
            .arg(format!("--root={}", r.display()))
            .args(["--force-script-chrootless", "-r", "opsbox"])
            .run()
            .ok();
        assert!(!r.join("usr/bin/opsbox").exists());
        assert!(std::fs::symlink_metadata(r.join("usr/bin/genfw")).is_err());
    }
}

/// rpm reads the .rpm: its architecture, no requirements beyond rpmlib's, every file,
/// and the applets as links to opsbox.
#[test]
fn rpm_lists_binary_links_man_pages_completions() {
    let Some(d) = dist() else { return };
    if !have_tool("rpm") {
        return;
    }
    for arch in &ARCHES {
        let rpm = d.join(format!("opsbox-{VERSION}-1.{}.rpm", arch.0));
        Command::new("rpm")
            .args(["-qp", "--qf", "%{NAME} %{VERSION} %{ARCH}\n"])
            .arg(&rpm)
            .run()
            .ok()
            .stdout_is(&format!("opsbox {VERSION} {}\n", arch.0));
        let reqs = Command::new("rpm")
            .args(["-qp", "--requires"])
            .arg(&rpm)
            .run();
        for r in reqs.ok().stdout().lines() {
            assert!(r.starts_with("rpmlib("), "unexpected requirement {r}");
        }
        let list = Command::new("rpm").args(["-qlp"]).arg(&rpm).run();
        list.ok().stdout_has("/usr/bin/opsbox\n");
        for m in MAN {
            list.stdout_has(&format!("/usr/share/man/{m}\n"));
        }
        for a in APPLETS {
            list.stdout_has(&format!("/usr/bin/{a}\n"))
                .stdout_has(&format!("/usr/share/bash-completion/completions/{a}\n"))
                .stdout_has(&format!("/usr/share/zsh/vendor-completions/_{a}\n"))
                .stdout_has(&format!("/usr/share/fish/vendor_completions.d/{a}.fish\n"));
        }
        // --dump: path size mtime digest mode owner group isconfig isdoc rdev symlink
        let dump = Command::new("rpm").args(["-qp", "--dump"]).arg(&rpm).run();
        let dump = dump.ok().stdout();
        for a in APPLETS {
            let line = dump
                .lines()
                .find(|l| l.starts_with(&format!("/usr/bin/{a} ")))
                .unwrap_or_else(|| panic!("{a} not in:\n{dump}"));
            assert!(line.ends_with(" opsbox"), "{line}");
        }
    }
}
