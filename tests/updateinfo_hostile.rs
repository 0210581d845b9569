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

/// One line on stderr, `updateinfo: FILE:LINE:COL: …` for `file`, no Rust debug text.
fn one_positioned_line(o: &Output, file: &str) {
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "{err}");
    let rest = err
        .strip_prefix(&format!("updateinfo: {file}:"))
        .unwrap_or_else(|| panic!("{file}: {err}"));
    let mut p = rest.splitn(3, ':');
    assert!(
        p.next().unwrap().parse::<u64>().is_ok() && p.next().unwrap().parse::<u64>().is_ok(),
        "{err}"
    );
    assert!(
        !err.contains("Error {") && !err.contains("kind:") && !err.contains("Custom"),
        "{err}"
    );
}

#[test]
fn a_primary_that_is_not_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let e = errata(d);
    let text = d.join("text.xml");
    fs::write(&text, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let empty = d.join("empty.xml");
    fs::write(&empty, "").unwrap();
    let other = d.join("other.xml");
    fs::write(&other, "<updates/>").unwrap();
    let two = d.join("two.xml");
    fs::write(&two, format!("{PRIMARY}\n<metadata/>")).unwrap();
    for (p, want) in [
        (text.as_path(), ":1:1: text outside the root element"),
        (
            Path::new("/etc/passwd"),
            ":1:1: text outside the root element",
        ),
        (empty.as_path(), ":1:1: no root element: not a primary.xml"),
        (other.as_path(), ":1:1: root element is not <metadata>"),
        (two.as_path(), ":4:1: a second root element"),
    ] {
        let o = ui(&["--primary", s(p), "-o", "/dev/null", s(&e)]);
        assert_eq!(code(&o), 65, "{}: {}", p.display(), stderr(&o));
        one_positioned_line(&o, s(p));
        assert!(stderr(&o).contains(want), "{}: {}", p.display(), stderr(&o));
    }
    // the same through --repo
    let r = d.join("r");
    repo(&r, "repodata/p.xml");
    fs::write(r.join("repodata/p.xml"), "root:x:0:0\n").unwrap();
    let o = ui(&["--repo", s(&r), "-o", "/dev/null", s(&e)]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    one_positioned_line(&o, s(&r.join("repodata/p.xml")));
}

/// `data` compressed by `cmd`.
fn pack(cmd: &[&str], data: &[u8]) -> Vec<u8> {
    let mut c = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(data).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{cmd:?}");
    o.stdout
}

#[test]
fn every_codec_treats_truncation_corruption_trailing_data_and_concatenation_alike() {
    if !["gzip", "bzip2", "xz", "zstd"].iter().all(|t| have_tool(t)) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let head = "<opt>\n<CESA-2013--1764 type=\"Security Advisory\" issue_date=\"2013-11-26 00:00:00\" os_release=\"6\" packages=\"a-1-1.el6.x86_64.rpm\"/>\n";
    let tail = "<CESA-2013--1765 type=\"Security Advisory\" issue_date=\"2013-11-27 00:00:00\" os_release=\"6\" packages=\"b-1-1.el6.x86_64.rpm\"/>\n</opt>\n";
    // big enough that a flipped byte lands in compressed data, not a header
    let filler = format!("<!-- {} -->\n", "0123456789abcdef".repeat(4000));
    let whole = format!("{head}{filler}{tail}");
    for cmd in [
        &["gzip", "-c"][..],
        &["bzip2", "-c"],
        &["xz", "-c", "-T1"],
        &["zstd", "-q", "-c"],
    ] {
        let one = pack(cmd, whole.as_bytes());
        let write = |name: &str, b: &[u8]| {
            let p = d.join(format!("{name}.{}", cmd[0]));
            fs::write(&p, b).unwrap();
            p
        };
        // concatenated members/streams/frames: one document
        let mut cat = pack(cmd, format!("{head}{filler}").as_bytes());
        cat.extend(pack(cmd, tail.as_bytes()));
        for p in [write("one", &one), write("cat", &cat)] {
            let o = ui(&["-o", "-", s(&p)]);
            assert_eq!(code(&o), 0, "{}: {}", p.display(), stderr(&o));
            assert!(stdout(&o).contains("CESA-2013:1765"), "{}", p.display());
        }
        // truncated, corrupt, trailing data: 65, one clean line with a position
        let mut corrupt = one.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0x55;
        corrupt[mid + 1] ^= 0xaa;
        let mut trailing = one.clone();
        trailing.extend_from_slice(b"trailing garbage\n");
        for p in [
            write("truncated", &one[..one.len() - 7]),
            write("corrupt", &corrupt),
            write("trailing", &trailing),
        ] {
            let o = ui(&["-o", "/dev/null", s(&p)]);
            assert_eq!(code(&o), 65, "{}: {}", p.display(), stderr(&o));
            one_positioned_line(&o, s(&p));
        }
    }
}

#[test]
fn warnings_are_capped_with_a_count_of_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let e = dir.path().join("e.xml");
    let mut x = String::from("<opt>\n");
    for i in 0..250 {
        x += &format!("<CESA-2013--{i} type=\"Security Advisory\"/>\n");
    }
    x += "<CESA-2013--9999 type=\"Security Advisory\" issue_date=\"2013-11-26\" os_release=\"6\" packages=\"a-1-1.el6.x86_64.rpm\"/>\n</opt>\n";
    fs::write(&e, x).unwrap();
    let o = ui(&["-o", "/dev/null", s(&e)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 101, "{err}");
    assert!(lines[99].contains("CESA-2013:99: no issue_date"), "{err}");
    assert_eq!(
        lines[100],
        "updateinfo: warning: 150 more warnings not shown (250 in all)"
    );
    // -q: none at all
    let o = ui(&["-q", "-o", "/dev/null", s(&e)]);
    assert_eq!(stderr(&o), "");
}

#[test]
fn inject_refuses_a_repomd_it_could_not_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let u = d.join("u.xml");
    fs::write(&u, "<updates/>\n").unwrap();
    let r = d.join("r");
    fs::create_dir_all(r.join("repodata")).unwrap();
    let deep = format!(
        "<repomd>{}{}<data type=\"primary\"><location href=\"repodata/p.xml\"/></data></repomd>\n",
        "<x>".repeat(100),
        "</x>".repeat(100)
    );
    for (md, want) in [
        (deep.as_str(), "nested deeper than 64"),
        (
            "<repomd><data type=\"primary\"></repomd>\n",
            ":1:30: expected `</data>`",
        ),
        (
            "<repomd><data type=\"primary\"/>\n",
            ":2:1: unexpected end of file",
        ),
        ("<repomd/><repomd/>\n", "a second root element"),
    ] {
        fs::write(r.join("repodata/repomd.xml"), md).unwrap();
        let o = ui(&["inject", s(&u), s(&r)]);
        assert_eq!(code(&o), 65, "{md}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{md}: {}", stderr(&o));
        one_positioned_line(&o, s(&r.join("repodata/repomd.xml")));
        // nothing written
        assert_eq!(
            fs::read_to_string(r.join("repodata/repomd.xml")).unwrap(),
            md
        );
        assert_eq!(fs::read_dir(r.join("repodata")).unwrap().count(), 1);
    }
    // a repomd with no updateinfo record: check says where it looked
    fs::write(
        r.join("repodata/repomd.xml"),
        "<repomd>\n  <data type=\"other\"/>\n</repomd>\n",
    )
    .unwrap();
    let o = ui(&["check", s(&r)]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o).ends_with("repomd.xml:3:1: no updateinfo record\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn diagnostics_are_one_escaped_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // control characters from the input, in a warning and in an error
    let e = d.join("e.xml");
    fs::write(
        &e,
        "<opt>\n<CESA-2013--1 type=\"x&#10;updateinfo: /etc/passwd:1:1: forged&#27;[2J\"/>\n<CESA-2013--2 type=\"Security Advisory\" issue_date=\"2013-11-26\" os_release=\"6\" packages=\"a-1-1.el6.x86_64.rpm\"/>\n</opt>\n",
    )
    .unwrap();
    let o = ui(&["-o", "/dev/null", s(&e)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains('\x1b'), "{err}");
    assert!(
        err.contains(
            ":2:1: CESA-2013:1: unknown type \"x\\nupdateinfo: /etc/passwd:1:1: forged\\e[2J\""
        ),
        "{err}"
    );
    let o = ui(&["--strict", "-o", "/dev/null", s(&e)]);
    assert_eq!(code(&o), 65);
    one_positioned_line(&o, s(&e));
    // check's problem lines on stdout are escaped too
    let u = d.join("u.xml");
    fs::write(
        &u,
        "<updates>\n<update type=\"security\"><id>A&#10;B&#27;</id><issued date=\"x&#13;y\"/></update>\n</updates>\n",
    )
    .unwrap();
    let o = ui(&["check", s(&u)]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains('\x1b') && !out.contains('\r'), "{out:?}");
    assert!(
        out.contains(":2:46: A\\nB\\e: date \"x\\ry\" is not one libsolv can read"),
        "{out}"
    );
    // --sha1-file: the line of the sums file that disagrees
    let sums = d.join("e.sha1");
    fs::write(
        &sums,
        format!(
            "# sums\n{} other.xml\n{} e.xml\n",
            "1".repeat(40),
            "0".repeat(40)
        ),
    )
    .unwrap();
    let o = ui(&["--sha1-file", s(&sums), "-o", "/dev/null", s(&e)]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    one_positioned_line(&o, s(&sums));
    assert!(stderr(&o).contains("e.sha1:3:1: "), "{}", stderr(&o));
}

#[test]
fn an_advisory_for_too_many_releases_is_skipped() {
    // each release gets a copy of the advisory's texts: 40 of them would be 40 copies
    let dir = tempfile::tempdir().unwrap();
    let e = dir.path().join("e.xml");
    let pkgs: Vec<String> = (1..=40)
        .map(|r| format!("a-1-1.el{r}.x86_64.rpm"))
        .collect();
    fs::write(
        &e,
        format!(
            "<opt>\n<CESA-2013--1 type=\"Security Advisory\" issue_date=\"2013-11-26\" packages=\"{}\"/>\n<CESA-2013--2 type=\"Security Advisory\" issue_date=\"2013-11-26\" packages=\"{}\"/>\n</opt>\n",
            pkgs.join(" "),
            pkgs[..32].join(" ")
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = ui(&["-d", s(&out), s(&e)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains(":2:1: CESA-2013:1: packages of 40 releases (at most 32); advisory skipped"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read_dir(&out).unwrap().count(), 32);
}
