//! updateinfo against hostile repositories and inputs: `location href`s that leave the
//! repository or name something other than a regular file, primary.xml files that are
//! not one, corrupt and trailing compressed data alike in every codec, a flood of
//! warnings, a repomd.xml inject could not itself read, and diagnostics that stay one
//! escaped `FILE:LINE:COL` line.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run updateinfo; a run that does not end within a minute (a FIFO read would block
/// forever) is killed and fails the test (a safety net, not a timing assertion).
fn ui(args: &[&str]) -> Output {
    let mut c = applet("updateinfo")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if c.try_wait().unwrap().is_some() {
            return c.wait_with_output().unwrap();
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = c.kill();
            let o = c.wait_with_output().unwrap();
            panic!("updateinfo {args:?} hung: {}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const ERRATA: &str = r#"<opt>
  <CESA-2099--0020 type="Security Advisory" issue_date="2099-01-01 00:00:00" synopsis="one" severity="Important">
    <os_release>7</os_release>
    <packages>kept-1.0-1.el7.x86_64.rpm</packages>
    <packages>gone-1.0-1.el7.x86_64.rpm</packages>
  </CESA-2099--0020>
</opt>
"#;

const PRIMARY: &str = r#"<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
<package type="rpm"><name>kept</name><arch>x86_64</arch><version epoch="3" ver="1.0" rel="1.el7"/><format><rpm:sourcerpm>kept-1.0-1.el7.src.rpm</rpm:sourcerpm></format></package>
</metadata>"#;

/// A repository whose primary record names `href` (line 6, column 5 of repomd.xml).
fn repo(dir: &Path, href: &str) {
    fs::create_dir_all(dir.join("repodata")).unwrap();
    fs::write(
        dir.join("repodata/repomd.xml"),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">00</checksum>
    <location href="{href}"/>
    <timestamp>4000000000</timestamp>
  </data>
</repomd>
"#
        ),
    )
    .unwrap();
}

fn errata(dir: &Path) -> std::path::PathBuf {
    let e = dir.join("errata.xml");
    fs::write(&e, ERRATA).unwrap();
    e
}

/// Converting with `--repo` exits 65 with `repomd.xml:6:5: location "HREF" WHY`.
fn href_refused(dir: &Path, r: &Path, href: &str, why: &str) {
    let e = errata(dir);
    let o = ui(&["--repo", s(r), "-o", "/dev/null", s(&e)]);
    let md = r.join("repodata/repomd.xml");
    let want = format!(
        "updateinfo: {}:6:5: location \"{}\" {why}",
        md.display(),
        href
    );
    assert_eq!(code(&o), 65, "{href}: {}", stderr(&o));
    assert!(stderr(&o).starts_with(&want), "{href}: {}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn hrefs_are_confined_to_the_repository_and_to_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // the outside world: a file the hrefs try to reach
    fs::write(d.join("secret.xml"), PRIMARY).unwrap();
    let r = d.join("r");
    for (href, why) in [
        ("/dev/zero", "is an absolute path"),
        ("/etc/passwd", "is an absolute path"),
        ("../../../etc/passwd", "leaves the repository"),
        ("repodata/../../secret.xml", "leaves the repository"),
        ("", "is empty"),
    ] {
        repo(&r, href);
        href_refused(d, &r, href, why);
    }
    // a symbolic link out of the repository: to a file, to /dev/zero
    repo(&r, "repodata/p.xml");
    for target in [d.join("secret.xml"), "/dev/zero".into()] {
        let _ = fs::remove_file(r.join("repodata/p.xml"));
        std::os::unix::fs::symlink(&target, r.join("repodata/p.xml")).unwrap();
        href_refused(
            d,
            &r,
            "repodata/p.xml",
            "leads out of the repository through a symbolic link",
        );
    }
    // a directory linked out of the repository
    fs::remove_file(r.join("repodata/p.xml")).unwrap();
    fs::create_dir(d.join("out")).unwrap();
    fs::write(d.join("out/p.xml"), PRIMARY).unwrap();
    std::os::unix::fs::symlink(d.join("out"), r.join("sub")).unwrap();
    repo(&r, "sub/p.xml");
    href_refused(d, &r, "sub/p.xml", "leads out of the repository");
    // a FIFO (reading it would block forever), a directory
    repo(&r, "repodata/fifo");
    let o = run(Command::new("mkfifo").arg(r.join("repodata/fifo")));
    assert!(o.status.success());
    href_refused(d, &r, "repodata/fifo", "is not a regular file");
    repo(&r, "repodata");
    href_refused(d, &r, "repodata", "is not a regular file");
    // a missing file is missing input (66)
    repo(&r, "repodata/none.xml");
    let e = errata(d);
    let o = ui(&["--repo", s(&r), "-o", "/dev/null", s(&e)]);
    assert_eq!(code(&o), 66, "{}", stderr(&o));
    // a link inside the repository is followed; the real file is read
    fs::write(r.join("repodata/real-primary.xml"), PRIMARY).unwrap();
    std::os::unix::fs::symlink("real-primary.xml", r.join("repodata/p2.xml")).unwrap();
    repo(&r, "repodata/p2.xml");
    let o = ui(&["--repo", s(&r), "-o", "-", s(&e)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(r#"name="kept" version="1.0" release="1.el7" epoch="3""#));
}

#[test]
fn check_and_inject_confine_hrefs_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = d.join("r");
    fs::create_dir_all(r.join("repodata")).unwrap();
    let md = |href: &str| {
        format!(
            r#"<repomd xmlns="http://linux.duke.edu/metadata/repo">
  <data type="updateinfo">
    <checksum type="sha256">00</checksum>
    <location href="{href}"/>
  </data>
</repomd>
"#
        )
    };
    // check follows the updateinfo record: never out of the repository
    fs::write(r.join("repodata/repomd.xml"), md("../../../etc/passwd")).unwrap();
    let o = ui(&["check", s(&r)]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("repomd.xml:4:5: location \"../../../etc/passwd\" leaves the repository"),
        "{}",
        stderr(&o)
    );
    fs::write(r.join("repodata/repomd.xml"), md("/dev/zero")).unwrap();
    let o = ui(&["check", s(&r)]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    // inject never deletes what an old record names outside repodata/
    fs::write(d.join("victim"), "keep me").unwrap();
    fs::write(r.join("repodata/repomd.xml"), md("repodata/../../victim")).unwrap();
    let ui_file = d.join("u.xml");
    fs::write(&ui_file, "<updates/>\n").unwrap();
    let o = ui(&["inject", s(&ui_file), s(&r)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(d.join("victim")).unwrap(), "keep me");
    // repomd.xml itself: a FIFO or a link out is refused, not read
    fs::remove_file(r.join("repodata/repomd.xml")).unwrap();
    let o = run(Command::new("mkfifo").arg(r.join("repodata/repomd.xml")));
    assert!(o.status.success());
    let o = ui(&["check", s(&r)]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is not a regular file"),
        "{}",
        stderr(&o)
    );
    fs::remove_file(r.join("repodata/repomd.xml")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", r.join("repodata/repomd.xml")).unwrap();
    let o = ui(&["inject", s(&ui_file), s(&r)]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("leads out of the repository"),
        "{}",
        stderr(&o)
    );
}
