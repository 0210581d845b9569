//! updateinfo against the real consumers: a repository built with rpmbuild and
//! createrepo_c, old packages installed in a private rpm root, our convert + inject, then
//! dnf (isolated: --installroot, its own config, no repos from the host, no plugins,
//! caches in the test's directory), the createrepo_c Python bindings and xmllint.
//! Also: SIGKILL during inject never leaves repomd.xml naming a missing file.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn tools() -> bool {
    ["rpmbuild", "rpm", "createrepo_c", "dnf", "xmllint"]
        .iter()
        .all(|t| have_tool(t))
}

fn ok(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert_eq!(code(&o), 0, "{cmd:?}:\n{}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

/// Build one noarch package with the fixture spec.
fn rpmbuild(top: &Path, name: &str, ver: &str, rel: &str, epoch: Option<&str>) -> PathBuf {
    let spec = root().join("tests/fixtures/updateinfo/pkg.spec");
    let mut cmd = Command::new("rpmbuild");
    cmd.arg("-bb")
        .arg("--quiet")
        .args(["--define", &format!("_topdir {}", top.display())])
        .args(["--define", &format!("pname {name}")])
        .args(["--define", &format!("pver {ver}")])
        .args(["--define", &format!("prel {rel}")])
        .args(["--define", "_build_id_links none"]);
    if let Some(e) = epoch {
        cmd.args(["--define", &format!("pepoch {e}")]);
    }
    ok(cmd.arg(&spec));
    top.join(format!("RPMS/noarch/{name}-{ver}-{rel}.noarch.rpm"))
}

struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Repo with the new releases; rpm root with the old ones installed.
    fn new() -> World {
        let w = World {
            dir: tempfile::tempdir().unwrap(),
        };
        let top = w.path("top");
        let repo = w.path("repo");
        fs::create_dir_all(&repo).unwrap();
        let old = [
            rpmbuild(&top, "plain", "1.0", "1.el7", None),
            rpmbuild(&top, "epochy", "2.0", "1.el7", Some("1")),
        ];
        for new in [
            rpmbuild(&top, "plain", "1.0", "2.el7", None),
            rpmbuild(&top, "epochy", "2.0", "2.el7", Some("1")),
        ] {
            fs::copy(&new, repo.join(new.file_name().unwrap())).unwrap();
        }
        ok(Command::new("createrepo_c").arg("-q").arg(&repo));
        let root = w.path("root");
        fs::create_dir_all(&root).unwrap();
        ok(Command::new("rpm").arg("--root").arg(&root).arg("--initdb"));
        ok(Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args(["-i", "--nodeps", "--noscripts", "--ignorearch"])
            .args(&old));
        for d in ["cache", "persist", "log"] {
            fs::create_dir_all(w.path(d)).unwrap();
        }
        fs::write(w.path("dnf.conf"), "[main]\n").unwrap();
        w
    }

    /// dnf on our repo only, touching nothing of the host.
    fn dnf(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new("dnf");
        cmd.arg("-c")
            .arg(self.path("dnf.conf"))
            .arg(format!("--installroot={}", s(&self.path("root"))))
            .args([
                "--releasever=7",
                "--setopt=reposdir=/dev/null",
                "--disableplugin=*",
            ])
            .arg(format!("--repofrompath=t,{}", s(&self.path("repo"))))
            .args(["--repo=t", "--nogpgcheck", "--setopt=metadata_expire=0"])
            .arg(format!("--setopt=cachedir={}", s(&self.path("cache"))))
            .arg(format!("--setopt=persistdir={}", s(&self.path("persist"))))
            .arg(format!("--setopt=logdir={}", s(&self.path("log"))))
            .args(args)
            .env("LC_ALL", "C.UTF-8");
        run(&mut cmd)
    }

    fn repomd(&self) -> Vec<u8> {
        fs::read(self.path("repo/repodata/repomd.xml")).unwrap()
    }
}

fn errata() -> PathBuf {
    root().join("tests/fixtures/updateinfo/e2e-errata.xml")
}

#[test]
fn dnf_sees_both_advisories_with_real_epochs() {
    if !tools() {
        return;
    }
    let w = World::new();
    let repo = w.path("repo");

    // convert + inject in one step, epochs from the repo's primary
    let o = run(applet("updateinfo")
        .args(["--repo", s(&repo), "--stats"])
        .arg(errata()));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{}: updated repodata/", repo.display())),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("packages not in the repository: 0 of 2"),
        "{}",
        stdout(&o)
    );

    let o = w.dnf(&["updateinfo", "list"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let list = stdout(&o);
    assert!(
        list.contains("CESA-2099:0001") && list.contains("plain-1.0-2.el7.noarch"),
        "{list}"
    );
    assert!(
        list.contains("CESA-2099:0002") && list.contains("epochy-1:2.0-2.el7.noarch"),
        "{list}"
    );
    assert!(
        list.contains("Critical/Sec.") && list.contains("Important/Sec."),
        "{list}"
    );

    let o = w.dnf(&["check-update", "--security"]);
    assert_eq!(
        code(&o),
        100,
        "updates expected: {}{}",
        stdout(&o),
        stderr(&o)
    );
    let cu = stdout(&o);
    assert!(
        cu.contains("plain.noarch") && cu.contains("1.0-2.el7"),
        "{cu}"
    );
    assert!(
        cu.contains("epochy.noarch") && cu.contains("1:2.0-2.el7"),
        "{cu}"
    );

    // the file as createrepo_c's own parser reads it (Debian's python3, not a pyenv one)
    let md = String::from_utf8(w.repomd()).unwrap();
    let loc = md
        .split("<data type=\"updateinfo\">")
        .nth(1)
        .and_then(|r| r.split("<location href=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let file = repo.join(&loc);
    let py = "import sys, createrepo_c as cr\n\
              ui = cr.UpdateInfo(sys.argv[1])\n\
              for u in sorted(ui.updates, key=lambda u: u.id):\n\
              \x20 pk = [(p.name, p.epoch, p.version, p.release, p.arch, p.reboot_suggested) for c in u.collections for p in c.packages]\n\
              \x20 print(u.id, u.type, u.severity, u.issued_date, pk, [(r.type, r.id) for r in u.references])\n";
    if Path::new("/usr/bin/python3").exists() {
        let o = run(Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(py)
            .arg(&file));
        assert_eq!(code(&o), 0, "createrepo_c bindings: {}", stderr(&o));
        assert_eq!(
            stdout(&o),
            "CESA-2099:0001 security Important 2099-01-02 03:04:05 [('plain', '0', '1.0', '2.el7', 'noarch', 0)] [('redhat', 'RHSA-2099:0001')]\n\
             CESA-2099:0002 security Critical 2099-01-03 00:00:00 [('epochy', '1', '2.0', '2.el7', 'noarch', 1)] [('redhat', 'RHSA-2099:0002')]\n"
        );
    }
    // xmllint: the compressed file and repomd.xml are well-formed
    ok(Command::new("xmllint").arg("--noout").arg(&file));
    ok(Command::new("xmllint")
        .arg("--noout")
        .arg(repo.join("repodata/repomd.xml")));
    // our own check agrees (epochs compared with primary)
    ok(applet("updateinfo").arg("check").arg(&repo));

    // again: a no-op, repomd.xml byte-identical
    let before = w.repomd();
    let o = run(applet("updateinfo")
        .args(["--repo", s(&repo)])
        .arg(errata()));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{}: unchanged\n", repo.display()));
    assert_eq!(w.repomd(), before);
}

#[test]
fn without_real_epochs_dnf_misses_the_epoch_advisory() {
    // the original script's bug, shown with the same consumers: the test above can fail
    if !tools() {
        return;
    }
    let w = World::new();
    let ui = w.path("epoch0.xml");
    ok(applet("updateinfo").arg("-o").arg(&ui).arg(errata()));
    ok(applet("updateinfo")
        .arg("inject")
        .arg(&ui)
        .arg(w.path("repo")));
    let o = w.dnf(&["updateinfo", "list"]);
    let list = stdout(&o);
    assert!(list.contains("CESA-2099:0001"), "{list}");
    assert!(
        !list.contains("CESA-2099:0002"),
        "epoch 0 should hide it: {list}"
    );
    // and check finds it
    let o = run(applet("updateinfo").arg("check").arg(w.path("repo")));
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("epochy-2.0-2.el7.noarch: epoch 0 here, 1 in the repository"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn every_compression_reads_back_in_createrepo_c() {
    if !tools() || !Path::new("/usr/bin/python3").exists() {
        return;
    }
    let w = World::new();
    let repo = w.path("repo");
    let py = "import sys, createrepo_c as cr\n\
              ui = cr.UpdateInfo(sys.argv[1])\n\
              print(sorted(u.id for u in ui.updates))\n";
    for (c, suffix) in [
        ("xz", ".xz"),
        ("bz2", ".bz2"),
        ("zst", ".zst"),
        ("none", ""),
        ("gz", ".gz"),
    ] {
        let o = run(applet("updateinfo")
            .args(["--repo", s(&repo), "--compress", c, "--checksum", "sha512"])
            .arg(errata()));
        assert_eq!(code(&o), 0, "{c}: {}", stderr(&o));
        let out = stdout(&o);
        let loc = out
            .split("updated ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        assert!(
            loc.ends_with(&format!("-updateinfo.xml{suffix}")),
            "{c}: {loc}"
        );
        if c == "zst" {
            // Debian's createrepo_c 0.17 is built without zstd: the zstd tool checks it
            if have_tool("zstd") {
                let o = run(Command::new("zstd").arg("-dc").arg(repo.join(loc)));
                assert_eq!(code(&o), 0, "zstd -dc: {}", stderr(&o));
                assert!(stdout(&o).contains("<id>CESA-2099:0002</id>"));
            }
        } else {
            let o = run(Command::new("/usr/bin/python3")
                .arg("-c")
                .arg(py)
                .arg(repo.join(loc)));
            assert_eq!(code(&o), 0, "{c}: {}", stderr(&o));
            assert_eq!(stdout(&o), "['CESA-2099:0001', 'CESA-2099:0002']\n", "{c}");
        }
        // dnf reads it too
        let o = w.dnf(&["updateinfo", "list"]);
        assert!(
            stdout(&o).contains("epochy-1:2.0-2.el7.noarch"),
            "{c}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        ok(applet("updateinfo").arg("check").arg(&repo));
    }
    // --like-primary: createrepo_c's style (zstd or gz, sha256, unique names)
    let o = run(applet("updateinfo")
        .args(["--repo", s(&repo), "--like-primary"])
        .arg(errata()));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let md = String::from_utf8(w.repomd()).unwrap();
    let prim = md.split("<data type=\"primary\">").nth(1).unwrap();
    let ext = prim
        .split("-primary.xml")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(
        stdout(&o).contains(&format!("-updateinfo.xml{ext} ")),
        "{ext}: {}",
        stdout(&o)
    );
}

/// The repository is consistent: every location repomd.xml names exists, and the
/// updateinfo file's checksum is the one recorded.
fn assert_consistent(repo: &Path, when: &str) {
    let md = fs::read_to_string(repo.join("repodata/repomd.xml"))
        .unwrap_or_else(|e| panic!("{when}: repomd.xml unreadable: {e}"));
    assert!(
        md.trim_end().ends_with("</repomd>"),
        "{when}: repomd.xml cut short"
    );
    for part in md.split("<location href=\"").skip(1) {
        let href = part.split('"').next().unwrap();
        assert!(
            repo.join(href).is_file(),
            "{when}: repomd.xml names missing {href}"
        );
    }
    if let Some(rec) = md.split("<data type=\"updateinfo\">").nth(1) {
        let sum = rec
            .split("<checksum type=\"sha256\">")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        let href = rec
            .split("<location href=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let o = run(Command::new("sha256sum").arg(repo.join(href)));
        assert!(
            stdout(&o).starts_with(sum),
            "{when}: checksum of {href} differs"
        );
    }
}

#[test]
fn sigkill_during_inject_never_breaks_the_repository() {
    if !have_tool("createrepo_c") || !have_tool("sha256sum") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    ok(Command::new("createrepo_c").arg("-q").arg(&repo));
    // two different, large-ish updateinfo files, so each run has real work to do
    let mut inputs = Vec::new();
    for variant in 0..2 {
        let errata = dir.path().join(format!("errata{variant}.xml"));
        let mut doc = String::from("<opt>\n");
        for i in 0..2500 {
            doc += &format!(
                "  <CESA-2099--{i:05} type=\"Security Advisory\" issue_date=\"2099-01-01 00:00:00\" synopsis=\"variant {variant} advisory {i} with some text to compress\" severity=\"Low\" os_release=\"7\" packages=\"pkg{i}-1.{variant}-{i}.el7.x86_64.rpm pkg{i}-libs-1.{variant}-{i}.el7.x86_64.rpm\" references=\"https://access.redhat.com/errata/RHSA-2099:{i:05}\"/>\n"
            );
        }
        doc += "</opt>\n";
        fs::write(&errata, doc).unwrap();
        let out = dir.path().join(format!("u{variant}.xml"));
        ok(applet("updateinfo").arg("-o").arg(&out).arg(&errata));
        inputs.push(out);
    }
    // how long one inject takes
    let t = Instant::now();
    ok(applet("updateinfo")
        .args(["inject"])
        .arg(&inputs[0])
        .arg(&repo));
    let span = t.elapsed().max(Duration::from_millis(20));
    assert_consistent(&repo, "after a clean run");
    // kill at spread-out points of the run, many times
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let runs = 40;
    let mut killed = 0;
    for k in 0..runs {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = span.mul_f64((seed % 1000) as f64 / 1000.0 * 1.2);
        let input = &inputs[k % 2];
        let mut child = applet("updateinfo")
            .args(["inject", "-q"])
            .arg(input)
            .arg(&repo)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let st = child.wait().unwrap();
        if st.code().is_none() {
            killed += 1;
        }
        assert_consistent(&repo, &format!("kill {k} after {delay:?}"));
    }
    assert!(
        killed >= runs / 4,
        "only {killed} of {runs} runs were killed mid-way"
    );
    // the crash hook of debug builds: abort right after the data file, and right after
    // repomd.xml (a release binary ignores it and simply succeeds)
    for point in ["after-data", "after-repomd"] {
        for input in &inputs {
            let o = run(applet("updateinfo")
                .args(["inject", "-q"])
                .arg(input)
                .arg(&repo)
                .env("OPSBOX_UPDATEINFO_CRASH", point));
            assert_consistent(&repo, point);
            let _ = o;
        }
    }
    // and a clean run afterwards cleans up what the killed runs left
    ok(applet("updateinfo")
        .args(["inject"])
        .arg(&inputs[0])
        .arg(&repo));
    assert_consistent(&repo, "final");
    let leftovers: Vec<String> = fs::read_dir(repo.join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
