//! updateinfo: conversion of the CEFS corpus (../shared/corpus/cefs), fatal errors with
//! positions and no output, compressed inputs, --sha1-file, filters, check, inject.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::*;

fn cefs() -> Option<PathBuf> {
    shared().map(|s| s.join("corpus/cefs"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/updateinfo").join(name)
}

fn ui(args: &[&str]) -> std::process::Output {
    run(applet("updateinfo").args(args))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn xmllint_ok(file: &Path) {
    if have_tool("xmllint") {
        let o = run(Command::new("xmllint").arg("--noout").arg(file));
        assert_eq!(code(&o), 0, "xmllint {}: {}", file.display(), stderr(&o));
    }
}

#[test]
fn real_excerpts_convert_and_check_clean() {
    let Some(c) = cefs() else { return };
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "real-CESA-2012--0370-sul-dlss.xml",
        "real-CEBA-2005--169-wied03.xml",
        "real-CEBA-2018--0330-children.xml",
        "real-CEBA-2018--0330-attributes.xml",
    ] {
        let out = dir.path().join(format!("{name}.out"));
        let o = ui(&["-o", s(&out), s(&c.join(name))]);
        assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
        assert!(stderr(&o).is_empty(), "{name}: {}", stderr(&o));
        xmllint_ok(&out);
        let o = ui(&["check", s(&out)]);
        assert_eq!(code(&o), 0, "{name}: check: {}{}", stdout(&o), stderr(&o));
    }
    let x = fs::read_to_string(dir.path().join("real-CESA-2012--0370-sul-dlss.xml.out")).unwrap();
    assert_eq!(x.matches("<package ").count(), 7, "{x}");
    assert!(x.contains("<id>CESA-2012:0370</id>"));
    assert!(x.contains(r#"type="security""#) && x.contains("<severity>Important</severity>"));
    assert!(x.contains(r#"<reference href="https://access.redhat.com/errata/RHSA-2012:0370" id="RHSA-2012:0370" title="RHSA-2012:0370" type="redhat"/>"#));
    assert!(x.contains(r#"type="self"/>"#) && !x.contains("CEFS"));
    assert!(x.contains(r#"<package name="xen-libs" version="3.0.3" release="135.el5_8.2" epoch="0" arch="x86_64" src="xen-3.0.3-135.el5_8.2.src.rpm">"#));
    assert!(x.contains(r#"<collection short="centos-5">"#));
    let b = fs::read_to_string(dir.path().join("real-CEBA-2005--169-wied03.xml.out")).unwrap();
    assert!(b.contains(r#"type="bugfix""#) && b.contains("<id>CEBA-2005:169</id>"));
    assert!(b.contains(r#"<collection short="centos-4">"#) && b.contains("up2date-gnome"));
    assert!(b.contains(r#"<issued date="2005-04-07 01:27:35"/>"#));
}

#[test]
fn child_and_attribute_forms_give_identical_output() {
    let Some(c) = cefs() else { return };
    let a = ui(&[s(&c.join("real-CEBA-2018--0330-children.xml"))]);
    let b = ui(&[s(&c.join("real-CEBA-2018--0330-attributes.xml"))]);
    assert_eq!(code(&a), 0, "{}", stderr(&a));
    assert!(stdout(&a).contains("fio-3.1-2.el7.x86_64.rpm"));
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn synthetic_files_match_the_golden_output() {
    let Some(c) = cefs() else { return };
    let syn = c.join("synthetic");
    for name in ["epoch-and-keywords", "escaping-amp-lt"] {
        let o = ui(&[s(&syn.join(format!("{name}.xml")))]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let want = fs::read_to_string(fixture(&format!("golden/{name}.xml"))).unwrap();
        assert_eq!(stdout(&o), want, "{name}");
    }
    // one record per (advisory, release), each with only that release's packages
    let dir = tempfile::tempdir().unwrap();
    let o = ui(&[
        "-d",
        s(dir.path()),
        s(&syn.join("multirelease-and-types.xml")),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for rel in ["6", "7"] {
        let got = dir.path().join(format!("updateinfo-{rel}/updateinfo.xml"));
        xmllint_ok(&got);
        let want = fs::read_to_string(fixture(&format!("golden/multirelease-{rel}.xml"))).unwrap();
        assert_eq!(fs::read_to_string(&got).unwrap(), want, "release {rel}");
    }
    let six = fs::read_to_string(dir.path().join("updateinfo-6/updateinfo.xml")).unwrap();
    assert!(!six.contains(".el7"), "{six}");
}

#[test]
fn malformed_inputs_fail_with_position_and_write_nothing() {
    let Some(c) = cefs() else { return };
    let syn = c.join("synthetic");
    let cases = [
        (
            "mismatched-tag.xml",
            ":3:16: expected `</packages>`, but `</packagez>` was found",
        ),
        ("duplicate-attr.xml", ":2:23: duplicate attribute"),
        ("unknown-entity-attr.xml", ":1:6: unknown entity &foo;"),
        ("unknown-entity-text.xml", ":1:41: unknown entity &foo;"),
        ("truncated.xml.gz", ":2451:48: unexpected end of file"),
    ];
    for (name, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = syn.join(name);
        let o = ui(&["-d", s(dir.path()), s(&file)]);
        assert_eq!(code(&o), 65, "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.starts_with(&format!("updateinfo: {}{want}", file.display())),
            "{name}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{name}: output written"
        );
    }
}

#[test]
fn structural_errors_are_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("<updates/>", ":1:1: root element is <updates>, not <opt>"),
        (
            "<opt>\n  <meta><author>x</author></meta>\n</opt>\n",
            ": no advisories in the file",
        ),
        ("", ": no root element"),
        (
            "<opt><A-1--1 type='x'></opt>",
            ":1:23: expected `</A-1--1>`",
        ),
    ];
    for (doc, want) in cases {
        let f = dir.path().join("in.xml");
        fs::write(&f, doc).unwrap();
        let o = ui(&[s(&f)]);
        assert_eq!(code(&o), 65, "{doc}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
        assert!(stderr(&o).contains(want), "{doc}: {}", stderr(&o));
    }
    let o = ui(&["/nonexistent/errata.xml"]);
    assert_eq!(code(&o), 66, "{}", stderr(&o));
    let o = ui(&[]);
    assert_eq!(code(&o), 64, "{}", stderr(&o));
}

#[test]
fn compressed_inputs_are_detected_by_content() {
    let Some(c) = cefs() else { return };
    let src = c.join("synthetic/epoch-and-keywords.xml");
    let plain = ui(&[s(&src)]);
    assert_eq!(code(&plain), 0);
    let dir = tempfile::tempdir().unwrap();
    for (tool, args) in [("gzip", ["-9c"]), ("bzip2", ["-9c"]), ("xz", ["-6c"])] {
        if !have_tool(tool) {
            continue;
        }
        // a misleading name: detection is by magic bytes
        let packed = dir.path().join(format!("errata-{tool}.txt"));
        let o = Command::new(tool)
            .args(args)
            .arg(&src)
            .stdout(fs::File::create(&packed).unwrap())
            .status()
            .unwrap();
        assert!(o.success());
        let o = ui(&[s(&packed)]);
        assert_eq!(code(&o), 0, "{tool}: {}", stderr(&o));
        assert_eq!(o.stdout, plain.stdout, "{tool}");
        // and from stdin
        let o = applet("updateinfo")
            .arg("-")
            .stdin(fs::File::open(&packed).unwrap())
            .output()
            .unwrap();
        assert_eq!(o.stdout, plain.stdout, "{tool} on stdin");
    }
    // corrupt compressed data is bad input, not a crash
    let bad = dir.path().join("bad.gz");
    let mut bytes = fs::read(dir.path().join("errata-gzip.txt")).unwrap_or_default();
    if !bytes.is_empty() {
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        bytes[n / 2 + 1] ^= 0xff;
        fs::write(&bad, &bytes).unwrap();
        let o = ui(&[s(&bad)]);
        assert_eq!(code(&o), 65, "{}", stderr(&o));
    }
}

#[test]
fn sha1_file_is_verified_first() {
    let Some(c) = cefs() else { return };
    let dir = tempfile::tempdir().unwrap();
    let errata = dir.path().join("errata.latest.xml");
    fs::copy(c.join("synthetic/epoch-and-keywords.xml"), &errata).unwrap();
    let sum = run(Command::new("sha1sum").arg(&errata));
    let line = stdout(&sum);
    let good = dir.path().join("errata.latest.sha1");
    fs::write(&good, &line).unwrap();
    let out = dir.path().join("out");
    let o = ui(&["--sha1-file", s(&good), "-d", s(&out), s(&errata)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(out.join("updateinfo-7/updateinfo.xml").is_file());
    // a cut-short download: refused before anything is written
    let bad = dir.path().join("bad.sha1");
    fs::write(&bad, format!("{}  errata.latest.xml\n", "0".repeat(40))).unwrap();
    let out2 = dir.path().join("out2");
    let o = ui(&["--sha1-file", s(&bad), "-d", s(&out2), s(&errata)]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(stderr(&o).contains("SHA-1"), "{}", stderr(&o));
    assert!(!out2.exists());
}

const BAD_ADVISORIES: &str = r#"<opt>
  <CESA-2099--0010 type="Security Advisory" issue_date="2099-01-01 00:00:00" synopsis="good" severity="LOW" os_release="7" packages="a-1-1.el7.x86_64.rpm"/>
  <CESA-2099--0011 issue_date="2099-01-01 00:00:00" synopsis="no type" os_release="7" packages="a-1-1.el7.x86_64.rpm"/>
  <CESA-2099--0012 type="Security Advisory" issue_date="Jan 1 2099" synopsis="bad date" os_release="7" packages="a-1-1.el7.x86_64.rpm"/>
  <CESA-2099--0013 type="Security Advisory" issue_date="2099-01-01 00:00:00" synopsis="bad file" os_release="7" packages="not-an-rpm.txt"/>
  <CEBA-2099--0014 type="Bug Fix Advisory" issue_date="2099-01-01 00:00:00" synopsis="bugfix" os_release="7" packages="b-1-1.el7.x86_64.rpm"/>
</opt>
"#;

#[test]
fn per_advisory_problems_warn_and_skip_or_fail_with_strict() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("e.xml");
    fs::write(&f, BAD_ADVISORIES).unwrap();
    let o = ui(&["--json", "-o", s(&dir.path().join("u.xml")), s(&f)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.matches("warning:").count(), 3, "{err}");
    assert!(
        err.contains(":3:3: CESA-2099:0011: no type; advisory skipped"),
        "{err}"
    );
    assert!(
        err.contains("CESA-2099:0012: bad issue_date \"Jan 1 2099\""),
        "{err}"
    );
    assert!(
        err.contains("CESA-2099:0013: \"not-an-rpm.txt\" is not an RPM file name"),
        "{err}"
    );
    let x = fs::read_to_string(dir.path().join("u.xml")).unwrap();
    assert!(x.contains("CESA-2099:0010") && x.contains("CEBA-2099:0014"));
    assert!(
        x.contains("<severity>Low</severity>"),
        "severity is case-normalised"
    );
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["release"], 7);
    assert_eq!(lines[0]["advisories"], 2);
    assert_eq!(lines[0]["types"]["security"], 1);
    assert_eq!(lines[1]["skipped"], 3);
    assert_eq!(lines[1]["skipped_by_reason"]["no type"], 1);
    // --strict: the first problem is fatal, with its position, and nothing is written
    let out = dir.path().join("strict.xml");
    let o = ui(&["--strict", "-o", s(&out), s(&f)]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(":3:3: CESA-2099:0011: no type"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    // filters
    let o = ui(&["--type", "bugfix", s(&f)]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("CEBA-2099:0014") && !stdout(&o).contains("CESA-2099:0010"));
    let o = ui(&["--severity", "low", "-q", s(&f)]);
    assert!(!stdout(&o).contains("CEBA-2099:0014") && stdout(&o).contains("CESA-2099:0010"));
    assert!(stderr(&o).is_empty(), "-q: {}", stderr(&o));
}

#[test]
fn output_is_deterministic_and_sorted() {
    let Some(c) = cefs() else { return };
    let generator = c.join("synthetic/mksynth.py");
    let dir = tempfile::tempdir().unwrap();
    let errata = dir.path().join("synth.xml");
    let ok = Command::new("python3")
        .arg(&generator)
        .arg("300")
        .stdout(fs::File::create(&errata).unwrap())
        .status()
        .unwrap();
    assert!(ok.success());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for d in [&a, &b] {
        let o = ui(&["-d", s(d), s(&errata)]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    for rel in ["6", "7", "8"] {
        let x = fs::read(a.join(format!("updateinfo-{rel}/updateinfo.xml"))).unwrap();
        assert_eq!(
            x,
            fs::read(b.join(format!("updateinfo-{rel}/updateinfo.xml"))).unwrap()
        );
        let text = String::from_utf8(x).unwrap();
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("<id>"))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(!ids.is_empty());
        // each release's file holds only its own packages
        let other = if rel == "7" { ".el8" } else { ".el7" };
        assert!(
            !text.contains(other),
            "release {rel} holds {other} packages"
        );
        xmllint_ok(&a.join(format!("updateinfo-{rel}/updateinfo.xml")));
    }
}

#[test]
fn check_reports_what_the_original_script_writes() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("u.xml");
    fs::write(
        &f,
        r#"<?xml version="1.0"?>
<updates>
  <update from="x" status="final" type="security" version="1">
    <id>CESA-2099:0002</id><title>t</title><issued date="2099-01-03"/>
    <references><reference href="http://x" id="CESA-2099:0002" type="CEFS"/></references>
  </update>
  <update status="final" type="security" version="1">
    <id>CESA-2099:0002</id><title>t&#1;</title><issued date="03/01/2099"/>
  </update>
</updates>
"#,
    )
    .unwrap();
    let o = ui(&["check", s(&f)]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(":5:17: CESA-2099:0002: reference type \"CEFS\""),
        "{out}"
    );
    assert!(out.contains(":7:3: CESA-2099:0002: duplicate id"), "{out}");
    assert!(out.contains("control character"), "{out}");
    assert!(out.contains("date \"03/01/2099\""), "{out}");
    assert_eq!(out.lines().count(), 4, "{out}");
    let o = ui(&["check", "--json", s(&f)]);
    let last: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["updates"].as_u64(), last["problems"].as_u64()),
        (Some(2), Some(4))
    );
    // an unescaped & (what the original writes) is not XML at all
    fs::write(
        &f,
        "<updates><update><title>a & b</title></update></updates>",
    )
    .unwrap();
    let o = ui(&["check", s(&f)]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
}

fn mini_repo(dir: &Path) {
    fs::create_dir_all(dir.join("repodata")).unwrap();
    fs::write(
        dir.join("repodata/repomd.xml"),
        r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">00</checksum>
    <location href="repodata/00-primary.xml"/>
    <timestamp>4000000000</timestamp>
  </data>
</repomd>
"#,
    )
    .unwrap();
    fs::write(
        dir.join("repodata/00-primary.xml"),
        r#"<metadata xmlns="http://linux.duke.edu/metadata/common" packages="0"></metadata>"#,
    )
    .unwrap();
}

#[test]
fn inject_replaces_the_record_and_is_idempotent() {
    let Some(c) = cefs() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (r1, r2) = (dir.path().join("r1"), dir.path().join("r2"));
    mini_repo(&r1);
    mini_repo(&r2);
    let before = fs::read_to_string(r1.join("repodata/repomd.xml")).unwrap();
    let u1 = dir.path().join("u1.xml");
    let o = ui(&["-o", s(&u1), s(&c.join("synthetic/epoch-and-keywords.xml"))]);
    assert_eq!(code(&o), 0);
    let o = ui(&["inject", s(&u1), s(&r1), s(&r2)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let md = fs::read_to_string(r1.join("repodata/repomd.xml")).unwrap();
    assert_eq!(
        md,
        fs::read_to_string(r2.join("repodata/repomd.xml")).unwrap()
    );
    // everything else kept byte for byte; the new record after the last one
    let end = before.find("</repomd>").unwrap();
    assert!(md.starts_with(&before[..end - 1]), "{md}");
    assert!(
        md.contains("<timestamp>4000000000</timestamp>\n  </data>\n  <data type=\"updateinfo\">")
    );
    let loc = md
        .split("<location href=\"")
        .nth(2)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(
        loc.starts_with("repodata/") && loc.ends_with("-updateinfo.xml.gz"),
        "{loc}"
    );
    assert!(r1.join(loc).is_file());
    assert_eq!(
        fs::read(r1.join(loc)).unwrap(),
        fs::read(r2.join(loc)).unwrap()
    );
    assert!(stdout(&o).contains(&format!("{}: updated {loc}", r1.display())));
    // timestamp never lower than the existing ones
    assert!(
        md.matches("<timestamp>4000000000</timestamp>").count() == 2,
        "{md}"
    );
    // again: nothing changes
    let o = ui(&["inject", s(&u1), s(&r1)]);
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o), format!("{}: unchanged\n", r1.display()));
    assert_eq!(
        fs::read_to_string(r1.join("repodata/repomd.xml")).unwrap(),
        md
    );
    // a different file replaces the record and the old file goes
    let u2 = dir.path().join("u2.xml");
    let o = ui(&["-o", s(&u2), s(&c.join("synthetic/escaping-amp-lt.xml"))]);
    assert_eq!(code(&o), 0);
    fs::write(r1.join("repodata/repomd.xml.asc"), "sig").unwrap();
    let o = ui(&["inject", "--compress", "xz", s(&u2), s(&r1)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("repomd.xml.asc: now stale"),
        "{}",
        stderr(&o)
    );
    let md2 = fs::read_to_string(r1.join("repodata/repomd.xml")).unwrap();
    assert_eq!(
        md2.matches("<data type=\"updateinfo\">").count(),
        1,
        "{md2}"
    );
    assert!(!r1.join(loc).exists(), "old updateinfo file left behind");
    let names: Vec<String> = fs::read_dir(r1.join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with("-updateinfo.xml.xz")),
        "{names:?}"
    );
    // check reads the repository's file back through repomd.xml
    let o = ui(&["check", s(&r1)]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    // not an updateinfo: refused before the repo is touched
    let o = ui(&[
        "inject",
        s(&c.join("real-CEBA-2018--0330-children.xml")),
        s(&r1),
    ]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(r1.join("repodata/repomd.xml")).unwrap(),
        md2
    );
}

#[test]
fn help_lists_the_commands() {
    let o = ui(&["--help"]);
    assert_eq!(code(&o), 0);
    let h = stdout(&o);
    assert!(
        h.contains("Commands:") && h.contains("  inject  ") && h.contains("  check  "),
        "{h}"
    );
    for sub in ["inject", "check"] {
        let o = ui(&[sub, "--help"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let o = ui(&["inject", "only-one-arg"]);
    assert_eq!(code(&o), 64);
    let o = run(applet("updateinfo").arg("-").stdin(Stdio::null()));
    assert_eq!(code(&o), 65, "empty stdin: {}", stderr(&o));
}

#[test]
fn primary_epochs_only_present_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let errata = dir.path().join("e.xml");
    fs::write(
        &errata,
        r#"<opt>
  <CESA-2099--0020 type="Security Advisory" issue_date="2099-01-01 00:00:00" synopsis="one" severity="Important">
    <os_release>7</os_release>
    <packages>kept-1.0-1.el7.x86_64.rpm</packages>
    <packages>kept-1.0-1.el7.i686.rpm</packages>
    <packages>gone-1.0-1.el7.x86_64.rpm</packages>
  </CESA-2099--0020>
  <CESA-2099--0021 type="Security Advisory" issue_date="2099-01-02 00:00:00" synopsis="two" severity="Low" os_release="7" packages="absent-2-2.el7.x86_64.rpm"/>
  <CESA-2099--0022 type="Security Advisory" issue_date="2099-01-03 00:00:00" synopsis="six" severity="Low" os_release="6" packages="old-2-2.el6.x86_64.rpm"/>
</opt>
"#,
    )
    .unwrap();
    let primary = dir.path().join("primary.xml");
    fs::write(
        &primary,
        r#"<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
<package type="rpm"><name>kept</name><arch>x86_64</arch><version epoch="3" ver="1.0" rel="1.el7"/><format><rpm:sourcerpm>kept-1.0-1.el7.src.rpm</rpm:sourcerpm></format></package>
<package type="rpm"><name>kept</name><arch>i686</arch><version epoch="3" ver="1.0" rel="1.el7"/><format><rpm:sourcerpm>kept-1.0-1.el7.src.rpm</rpm:sourcerpm></format></package>
</metadata>"#,
    )
    .unwrap();
    // epochs and src from --primary; what is missing is counted
    let o = ui(&["--release", "7", "--primary", s(&primary), s(&errata)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let x = stdout(&o);
    assert!(x.contains(r#"name="kept" version="1.0" release="1.el7" epoch="3" arch="x86_64" src="kept-1.0-1.el7.src.rpm""#), "{x}");
    assert!(
        x.contains(r#"name="gone" version="1.0" release="1.el7" epoch="0""#),
        "{x}"
    );
    assert!(
        stderr(&o).contains("2 of 4 packages are not in the repository (epoch 0 assumed): absent-2-2.el7.x86_64, gone-1.0-1.el7.x86_64\n"),
        "{}",
        stderr(&o)
    );
    // --stats names them too; --json lists them all
    let out = dir.path().join("o.xml");
    let o = ui(&[
        "--release",
        "7",
        "--stats",
        "--primary",
        s(&primary),
        "-o",
        s(&out),
        s(&errata),
    ]);
    assert!(
        stdout(&o).contains(
            "packages not in the repository: 2 of 4: absent-2-2.el7.x86_64, gone-1.0-1.el7.x86_64\n"
        ),
        "{}",
        stdout(&o)
    );
    let o = ui(&[
        "--release",
        "7",
        "--stats",
        "--json",
        "--primary",
        s(&primary),
        "-o",
        s(&out),
        s(&errata),
    ]);
    let last: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(
        last["missing_packages"],
        serde_json::json!(["absent-2-2.el7.x86_64", "gone-1.0-1.el7.x86_64"])
    );
    assert_eq!(last["missing_packages_truncated"], false);
    // --only-present drops the packages and the advisory left without any
    let o = ui(&[
        "--release",
        "7",
        "--only-present",
        "--primary",
        s(&primary),
        s(&errata),
    ]);
    let x = stdout(&o);
    assert!(
        x.contains("CESA-2099:0020") && !x.contains("\"gone\"") && !x.contains("CESA-2099:0021"),
        "{x}"
    );
    // --arch keeps that architecture (and noarch/src) only
    let o = ui(&["--release", "7", "--arch", "x86_64", s(&errata)]);
    let x = stdout(&o);
    assert!(
        x.contains(r#"arch="x86_64""#) && !x.contains(r#"arch="i686""#),
        "{x}"
    );
    // --release 6 alone: only the el6 advisory
    let o = ui(&["--release", "6", s(&errata)]);
    let x = stdout(&o);
    assert!(
        x.contains("CESA-2099:0022") && !x.contains("CESA-2099:0020"),
        "{x}"
    );
    // --only-present without a package list is a usage error
    let o = ui(&["--only-present", s(&errata)]);
    assert_eq!(code(&o), 64);
}
