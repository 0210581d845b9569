//! updateinfo side by side with the seed's original generate_updateinfo.py
//! (../shared/peers/generate_updateinfo/, GPL, run as it is, never copied): on the same
//! input, the same advisories per release, with the same types, severities, issue dates
//! and package files; and the known differences, where ours is right, asserted one by
//! one. Skips with a message without ../shared (or without python3 and its `six`).

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// One `<update>` as compared: type, severity, issue date, package files (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Update {
    kind: String,
    severity: Option<String>,
    date: String,
    files: Vec<String>,
}

/// release → id → update.
type Releases = BTreeMap<String, BTreeMap<String, Update>>;

fn peer() -> Option<PathBuf> {
    let p = shared()?.join("peers/generate_updateinfo/generate_updateinfo.py");
    if !p.is_file() {
        eprintln!("skipped: {} is not there", p.display());
        return None;
    }
    let six = Command::new("python3").args(["-c", "import six"]).output();
    if !six.is_ok_and(|o| o.status.success()) {
        assert!(
            !strict(),
            "python3 with six is needed (scripts/setup installs it)"
        );
        eprintln!("skipped: python3 with six is not installed");
        return None;
    }
    Some(p)
}

/// The text between `start` and the next `end` in `line`.
fn between<'a>(line: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let a = line.find(start)? + start.len();
    let b = line[a..].find(end)? + a;
    Some(&line[a..b])
}

/// The updates of every `DIR/updateinfo-N/updateinfo.xml`, read line by line (both
/// tools write one element a line; the original's output need not be well-formed XML).
fn read_dir(dir: &Path) -> Releases {
    let mut out = Releases::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rel) = name.strip_prefix("updateinfo-") else {
            continue;
        };
        let text = fs::read_to_string(e.path().join("updateinfo.xml")).unwrap();
        let updates = out.entry(rel.to_string()).or_default();
        let mut cur: Option<(String, Update)> = None;
        let mut done = |cur: &mut Option<(String, Update)>| {
            if let Some((id, mut u)) = cur.take() {
                u.files.sort();
                assert!(updates.insert(id.clone(), u).is_none(), "{id} twice");
            }
        };
        for line in text.lines() {
            let l = line.trim();
            if l.starts_with("<update ") {
                done(&mut cur);
                cur = Some((
                    String::new(),
                    Update {
                        kind: between(l, " type=\"", "\"").unwrap().to_string(),
                        severity: None,
                        date: String::new(),
                        files: Vec::new(),
                    },
                ));
            } else if let Some((id, u)) = cur.as_mut() {
                if let Some(v) = between(l, "<id>", "</id>") {
                    *id = v.to_string();
                } else if let Some(v) = between(l, "<issued date=\"", "\"") {
                    u.date = v.to_string();
                } else if let Some(v) = between(l, "<severity>", "</severity>") {
                    u.severity = Some(v.to_string());
                } else if let Some(v) = between(l, "<filename>", "</filename>") {
                    u.files.push(v.to_string());
                }
            }
        }
        done(&mut cur);
    }
    out
}

/// Run both tools on `input`: (ours, the original's).
fn both(input: &Path, work: &Path) -> (Releases, Releases) {
    let ours = work.join("ours");
    let o = run(applet("updateinfo")
        .args(["-q", "-d"])
        .arg(&ours)
        .arg(input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let theirs = work.join("theirs");
    fs::create_dir_all(&theirs).unwrap();
    let o = run(Command::new("python3")
        .arg(peer().unwrap())
        .args(["-t", "all", "-s", "all", "-l", "ERROR", "-d"])
        .arg(&theirs)
        .arg(input));
    assert!(o.status.success(), "{}", stderr(&o));
    (read_dir(&ours), read_dir(&theirs))
}

/// The original writes a file for each of releases 5 to 8 and `other`, empty when no
/// advisory is for it; ours writes only the releases that have advisories.
fn without_empty(mut r: Releases) -> Releases {
    r.retain(|_, u| !u.is_empty());
    r
}

#[test]
fn synthetic_errata_give_the_same_advisories_and_packages() {
    let Some(sh) = shared() else { return };
    if peer().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("synth.xml");
    let mksynth = sh.join("corpus/cefs/synthetic/mksynth.py");
    let o = run(Command::new("python3").arg(&mksynth).args(["600", "7"]));
    assert!(o.status.success());
    fs::write(&input, &o.stdout).unwrap();
    let (ours, theirs) = both(&input, dir.path());
    // the original's extra files: 5 and other, empty
    for r in ["5", "other"] {
        assert_eq!(theirs.get(r).map(BTreeMap::len), Some(0), "{r}");
        assert!(!ours.contains_key(r));
    }
    let mut theirs = without_empty(theirs);
    assert_eq!(ours.keys().collect::<Vec<_>>(), ["6", "7", "8"]);
    let count: usize = theirs.values().map(BTreeMap::len).sum();
    assert_eq!(count, 600);
    // an advisory of a source RPM alone updates nothing installed: the original lists
    // it, ours leaves it out (counted as filtered); the generator makes a few
    let mut src_only = 0;
    for (rel, ups) in theirs.iter_mut() {
        ups.retain(|id, u| {
            if ours[rel].contains_key(id) {
                return true;
            }
            assert!(
                u.files.iter().all(|f| f.ends_with(".src.rpm")),
                "{id} missing from ours: {u:?}"
            );
            src_only += 1;
            false
        });
    }
    assert!(src_only > 0 && src_only < 60, "{src_only}");
    // ids, types, severities, dates and package files per release: all the same
    for (rel, ups) in &ours {
        for (id, u) in ups {
            assert_eq!(Some(u), theirs[rel].get(id), "release {rel}, {id}");
        }
    }
    assert_eq!(ours, theirs);
}

#[test]
fn the_known_differences_where_ours_is_right() {
    let Some(sh) = shared() else { return };
    if peer().is_none() {
        return;
    }
    // 1. an advisory for several releases: the original puts every package in every
    //    release's file (el6 packages offered to EL7 hosts); ours splits them by dist tag
    let dir = tempfile::tempdir().unwrap();
    let multi = sh.join("corpus/cefs/synthetic/multirelease-and-types.xml");
    let (ours, theirs) = both(&multi, dir.path());
    let files = |r: &Releases, rel: &str| r[rel]["CESA-2099:0003"].files.clone();
    let all = [
        "foo-1.0-1.el6.i686.rpm",
        "foo-1.0-1.el6.x86_64.rpm",
        "foo-1.0-1.el7.x86_64.rpm",
    ];
    assert_eq!(files(&theirs, "6"), all);
    assert_eq!(files(&theirs, "7"), all);
    assert_eq!(files(&ours, "6"), all[..2]);
    assert_eq!(files(&ours, "7"), all[2..]);
    // the rest of that file alike
    for id in ["CEBA-2099:0004", "CESA-2099:0005"] {
        assert_eq!(ours["7"][id], theirs["7"][id], "{id}");
    }

    // 2. text is written unescaped by the original: `&` and `<` in a synopsis make its
    //    file malformed XML; ours escapes them and yum's parser reads the file
    let dir = tempfile::tempdir().unwrap();
    let esc = sh.join("corpus/cefs/synthetic/escaping-amp-lt.xml");
    let (ours, theirs) = both(&esc, dir.path());
    assert_eq!(ours["7"], theirs["7"]);
    let t = fs::read_to_string(dir.path().join("theirs/updateinfo-7/updateinfo.xml")).unwrap();
    assert!(t.contains("<title>Important CentOS hello-ui & friends <Security> Update</title>"));
    let o = run(applet("updateinfo")
        .arg("check")
        .arg(dir.path().join("theirs/updateinfo-7/updateinfo.xml")));
    assert_eq!(
        code(&o),
        65,
        "the original's file is not XML: {}",
        stderr(&o)
    );
    let x = fs::read_to_string(dir.path().join("ours/updateinfo-7/updateinfo.xml")).unwrap();
    assert!(x.contains(
        "<title>Important CentOS hello-ui &amp; friends &lt;Security&gt; Update</title>"
    ));
    let o = run(applet("updateinfo")
        .arg("check")
        .arg(dir.path().join("ours/updateinfo-7/updateinfo.xml")));
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    // 3. a security advisory without a severity: the original drops it, ours keeps it
    //    (without <severity>); a bare issue date: the original copies it, ours completes
    //    it to the form every consumer reads; a lower-case severity: copied, or normalised
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("e.xml");
    fs::write(
        &input,
        r#"<opt>
  <CESA-2099--0010 type="Security Advisory" issue_date="2099-01-01 00:00:00" synopsis="no severity" references="" os_release="7" packages="a-1-1.el7.x86_64.rpm"/>
  <CESA-2099--0011 type="Security Advisory" issue_date="2099-01-02" severity="Low" synopsis="bare date" references="" os_release="7" packages="b-1-1.el7.x86_64.rpm"/>
  <CESA-2099--0012 type="Security Advisory" issue_date="2099-01-03 00:00:00" severity="important" synopsis="lower case" references="" os_release="7" packages="c-1-1.el7.x86_64.rpm"/>
</opt>
"#,
    )
    .unwrap();
    let (ours, theirs) = both(&input, dir.path());
    assert!(!theirs["7"].contains_key("CESA-2099:0010"));
    assert_eq!(ours["7"]["CESA-2099:0010"].severity, None);
    assert_eq!(theirs["7"]["CESA-2099:0011"].date, "2099-01-02");
    assert_eq!(ours["7"]["CESA-2099:0011"].date, "2099-01-02 00:00:00");
    // (the original's severity filter is case-sensitive: it drops "important" as unwanted)
    assert!(!theirs["7"].contains_key("CESA-2099:0012"));
    assert_eq!(
        ours["7"]["CESA-2099:0012"].severity.as_deref(),
        Some("Important")
    );
}
