//! Differential test against BIND: for every corpus zone that `named-compilezone` accepts,
//! our RRsets (name, type, TTL, value set) equal BIND's. BIND's canonical output (one RR a
//! line, absolute names, explicit TTLs) is read back through our value normaliser, and the
//! record counts are compared independently of it.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use support::*;

/// (directory under the corpus, file, origin) for each zone in SOURCES.md's table.
fn corpus_zones(corpus: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(corpus.join("SOURCES.md")).unwrap();
    let mut v = Vec::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| File") && !l.starts_with("|---"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (file, origin) = (cells[1].split_whitespace().next().unwrap_or(""), cells[6]);
        let origin = origin.rsplit('`').nth(1).unwrap_or("").to_string();
        if file.ends_with(".xml") || origin.is_empty() {
            continue;
        }
        let (dir, file) = match file.split_once('/') {
            Some((d, f)) => (d.to_string(), f.to_string()),
            None => (".".to_string(), file.to_string()),
        };
        v.push((dir, file, origin));
    }
    v
}

/// Our RRsets as `name type ttl value|value…` (values sorted), and the record count.
fn ours(dir: &Path, file: &str, origin: &str) -> (BTreeSet<String>, usize, usize) {
    let out = run(applet("zone2r53")
        .args([
            "check",
            "--rrsets",
            "--lenient",
            "--with-soa",
            "--with-apex-ns",
            "-q",
            "--include-dir",
            ".",
            "--origin",
            origin,
            file,
        ])
        .current_dir(dir));
    assert_eq!(
        code(&out),
        0,
        "zone2r53 on {file}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let mut sets = BTreeSet::new();
    let mut records = 0;
    for l in stdout(&out).lines() {
        let r: serde_json::Value = serde_json::from_str(l).unwrap();
        let mut vals: Vec<String> = r["ResourceRecords"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["Value"].as_str().unwrap().to_string())
            .collect();
        records += vals.len();
        vals.sort();
        sets.insert(format!(
            "{} {} {} {}",
            r["Name"].as_str().unwrap(),
            r["Type"].as_str().unwrap(),
            r["TTL"],
            vals.join("|")
        ));
    }
    let dropped = stderr(&out).matches("dropped:").count();
    (sets, records, dropped)
}

#[test]
fn rrsets_equal_binds() {
    let Some(shared) = shared() else { return };
    if !have_tool("named-compilezone") {
        return;
    }
    let corpus = shared.join("corpus/zones");
    let tmp = tempfile::tempdir().unwrap();
    let mut compared = Vec::new();
    for (dir, file, origin) in corpus_zones(&corpus) {
        let d = corpus.join(&dir);
        let bind_out = tmp.path().join(format!("{}.bind", file.replace('/', "_")));
        let st = Command::new("named-compilezone")
            .args([
                "-i", "none", "-k", "ignore", "-n", "ignore", "-s", "full", "-o",
            ])
            .arg(&bind_out)
            .args([origin.as_str(), file.as_str()])
            .current_dir(&d)
            .output()
            .unwrap();
        if !st.status.success() {
            continue; // BIND refuses this one: nothing to compare
        }
        let bind_text = std::fs::read_to_string(&bind_out).unwrap();
        let bind_records: BTreeSet<&str> =
            bind_text.lines().filter(|l| !l.trim().is_empty()).collect();
        let (mine, records, dropped) = ours(&d, &file, &origin);
        let (theirs, _, _) = ours(
            tmp.path(),
            bind_out.file_name().unwrap().to_str().unwrap(),
            &origin,
        );
        assert_eq!(mine, theirs, "{dir}/{file}: our RRsets differ from BIND's");
        // every record BIND loaded is one of ours, or one we dropped (and said so)
        assert_eq!(
            records + dropped,
            bind_records.len(),
            "{dir}/{file}: record count differs from BIND's"
        );
        compared.push(file);
    }
    // SOURCES.md: BIND accepts these (the test must have compared them)
    for f in [
        "root.zone",
        "cli53-basic.txt",
        "octodns-bind-2.0.192.in-addr.arpa.zone",
        "nsd-bug086_chars.zone",
        "nsd-bug090_000_txt.zone",
        "m/com/example.com.zone",
        "warn.inherited.owner.db",
    ] {
        assert!(
            compared.iter().any(|c| c == f),
            "{f} was not compared (compared: {compared:?})"
        );
    }
}
