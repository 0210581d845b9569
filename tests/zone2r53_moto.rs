//! End to end against a local Route 53 emulator: `moto_server` on 127.0.0.1 (a free port,
//! killed on drop) and the real `aws` CLI with dummy credentials and `--endpoint-url`.
//! Create a zone, push our batches, list the record sets back and compare; edit the zone,
//! diff, push, compare again; export and re-convert gives the same RRsets.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

struct Moto {
    child: Child,
    url: String,
    home: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let m = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            home: tempfile::tempdir().unwrap(),
        };
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        m
    }

    /// The environment of an AWS CLI run against this emulator: dummy credentials only.
    fn env<'c>(&self, c: &'c mut Command) -> &'c mut Command {
        c.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.home.path().join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.path().join("credentials"),
            )
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
    }

    /// `aws --endpoint-url URL route53 ARGS --output json`.
    fn aws(&self, args: &[&str]) -> serde_json::Value {
        let mut c = Command::new("aws");
        c.arg("--endpoint-url")
            .arg(&self.url)
            .arg("route53")
            .args(args)
            .args(["--output", "json"]);
        let out = run(self.env(&mut c));
        assert_eq!(code(&out), 0, "aws {args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    fn create_zone(&self, name: &str) -> String {
        let created = self.aws(&[
            "create-hosted-zone",
            "--name",
            name,
            "--caller-reference",
            name,
        ]);
        created["HostedZone"]["Id"]
            .as_str()
            .unwrap()
            .trim_start_matches("/hostedzone/")
            .to_string()
    }

    /// `zone2r53 push --zone-id ID --endpoint-url URL ARGS`.
    fn zone2r53_push(&self, zone_id: &str, args: &[&str]) -> std::process::Output {
        let mut c = applet("zone2r53");
        c.args(["push", "--zone-id", zone_id, "--endpoint-url", &self.url])
            .args(args);
        run(self.env(&mut c))
    }

    fn push(&self, zone_id: &str, batch: &Path) {
        let arg = format!("file://{}", batch.display());
        self.aws(&[
            "change-resource-record-sets",
            "--hosted-zone-id",
            zone_id,
            "--change-batch",
            &arg,
        ]);
    }

    /// list-resource-record-sets into a file.
    fn list(&self, zone_id: &str, to: &Path) {
        let v = self.aws(&["list-resource-record-sets", "--hosted-zone-id", zone_id]);
        std::fs::write(to, v.to_string()).unwrap();
    }
}

fn z(args: &[&str], paths: &[&Path]) -> std::process::Output {
    run(applet("zone2r53").args(args).args(paths))
}

/// Convert or diff into DIR, push every batch.
fn push_all(m: &Moto, zone_id: &str, dir: &Path) -> usize {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        m.push(zone_id, f);
    }
    files.len()
}

/// The RRsets `check --rrsets` gives for a zone file, as sorted lines with sorted values.
fn rrsets(zone: &Path, zone_id: &str) -> Vec<String> {
    let out = z(&["check", "--rrsets", "-q", "--zone-id", zone_id], &[zone]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let mut v: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            let mut r: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(a) = r["ResourceRecords"].as_array_mut() {
                a.sort_by_key(|x| x["Value"].as_str().unwrap_or("").to_string());
            }
            r.to_string()
        })
        .collect();
    v.sort();
    v
}

/// The plan when nothing is to change.
const NOTHING: &str = "0 to create, 0 to update, 0 to delete\n";

struct Session<'a> {
    m: &'a Moto,
    id: String,
    dir: &'a Path,
    step: usize,
}

impl Session<'_> {
    /// `diff --mode MODE --current LIST ZONE` into a fresh directory, push every batch,
    /// list what Route 53 then holds; returns that listing.
    fn apply(&mut self, mode: &str, current: &Path, zone: &Path) -> PathBuf {
        self.step += 1;
        let out_dir = self.dir.join(format!("step{}", self.step));
        let args = ["diff", "--mode", mode, "--zone-id", &self.id, "--out-dir"];
        let out = z(&args, &[&out_dir, Path::new("--current"), current, zone]);
        assert_eq!(code(&out), 0, "{mode}: {}", stderr(&out));
        assert!(push_all(self.m, &self.id, &out_dir) >= 1);
        let list = self.dir.join(format!("list{}.json", self.step));
        self.m.list(&self.id, &list);
        list
    }
    /// What `diff --plan --exit-code --mode sync` says from LIST to ZONE (exit code, plan).
    fn plan(&self, current: &Path, zone: &Path) -> (i32, String) {
        let args = [
            "diff",
            "--plan",
            "--exit-code",
            "--mode",
            "sync",
            "--with-routing",
            "--zone-id",
            &self.id,
            "--current",
        ];
        let out = z(&args, &[current, zone]);
        (code(&out), stdout(&out))
    }
}

#[test]
fn moto_round_trip() {
    if !have_tool("moto_server") || !have_tool("aws") {
        return;
    }
    let m = Moto::start();
    let created = m.aws(&[
        "create-hosted-zone",
        "--name",
        "example.com",
        "--caller-reference",
        "zone2r53-test",
    ]);
    let id = created["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let zone = root().join("examples/zone2r53/example.com.zone");
    let mut s = Session {
        m: &m,
        id: id.clone(),
        dir: tmp.path(),
        step: 0,
    };

    // 1. convert and push (a small --max-records makes several batches, pushed in order)
    let b1 = tmp.path().join("b1");
    let out = z(
        &["--zone-id", &id, "--max-records", "8", "--out-dir"],
        &[&b1, &zone],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(push_all(&m, &id, &b1) > 1);
    let list = tmp.path().join("list0.json");
    m.list(&id, &list);
    // what Route 53 holds now is exactly the zone file: no change, even in sync mode
    assert_eq!(s.plan(&list, &zone), (0, NOTHING.to_string()));
    let held: serde_json::Value = serde_json::from_slice(&std::fs::read(&list).unwrap()).unwrap();
    let n = held["ResourceRecordSets"].as_array().unwrap().len();
    assert_eq!(
        n,
        rrsets(&zone, &id).len() + 2,
        "our RRsets plus moto's own SOA and NS"
    );

    // 2. edit: a TTL changes and a value is added, a target changes, a record is added,
    //    one removed
    let text = std::fs::read_to_string(&zone).unwrap();
    let edited =
        text.replace(
            "www\t300\tIN\tA\t192.0.2.10",
            "www\t600\tIN\tA\t192.0.2.10\nwww\t600\tIN\tA\t192.0.2.11",
        )
        .replace("sip\t\tIN\tA\t192.0.2.30\n", "")
        .replace(
            "_sip._tcp\tIN\tSRV\t10 60 5060 sip",
            "_sip._tcp\tIN\tSRV\t10 60 5060 mail",
        ) + "new\t\tIN\tTXT\t\"added after the move\"\n";
    let zone2 = tmp.path().join("edited.zone");
    std::fs::write(&zone2, &edited).unwrap();
    assert_eq!(
        s.plan(&list, &zone2),
        (1, "~ _sip._tcp.example.com. SRV: 3600 10 60 5060 sip.example.com. -> 3600 10 60 5060 mail.example.com.\n+ new.example.com. TXT 3600 \"added after the move\"\n~ www.example.com. A: 300 192.0.2.10 -> 600 192.0.2.10 | 192.0.2.11\n- sip.example.com. A 3600 192.0.2.30\n1 to create, 2 to update, 1 to delete\n".to_string())
    );
    // create mode first: each changed RRset is a DELETE (the exact old values) and a CREATE
    // in one batch, which the API applies atomically; then sync deletes what is left over
    let list = s.apply("create", &list, &zone2);
    assert_eq!(
        s.plan(&list, &zone2),
        (
            1,
            "- sip.example.com. A 3600 192.0.2.30\n0 to create, 0 to update, 1 to delete\n"
                .to_string()
        )
    );
    let list = s.apply("sync", &list, &zone2);
    assert_eq!(
        s.plan(&list, &zone2),
        (0, NOTHING.to_string()),
        "after the edit"
    );

    // 3. back to the original with UPSERTs and DELETEs (sync)
    let list = s.apply("sync", &list, &zone);
    assert_eq!(
        s.plan(&list, &zone),
        (0, NOTHING.to_string()),
        "back to the original"
    );

    // 4. export what Route 53 holds, convert the export: the same RRsets as the zone file
    let exported = tmp.path().join("exported.zone");
    let out = z(&["export", "--zone-id", &id, "-o"], &[&exported, &list]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut want = rrsets(&zone, &id);
    let mut got = rrsets(&exported, &id);
    // the export also holds the apex SOA/NS moto made; the zone's own are not sent
    want.retain(|l| !l.contains("\"Type\":\"SOA\""));
    got.retain(|l| !l.contains("\"Type\":\"SOA\""));
    assert_eq!(got, want);
}

#[test]
fn push_stops_at_the_failing_batch_and_resumes() {
    if !have_tool("moto_server") || !have_tool("aws") {
        return;
    }
    let m = Moto::start();
    let id = m.create_zone("example.com");
    let tmp = tempfile::tempdir().unwrap();
    let zone = root().join("examples/zone2r53/example.com.zone");
    let dir = tmp.path().join("batches");
    let out = z(
        &["--zone-id", &id, "--max-records", "8", "--out-dir"],
        &[&dir, &zone],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let n = std::fs::read_dir(&dir).unwrap().count();
    assert!(n >= 3, "{n} batches");
    let second = dir.join("batch-0002.json");
    let good = std::fs::read(&second).unwrap();
    // batch 2 deletes a record that does not exist: Route 53 (and moto) refuse it
    std::fs::write(&second, r#"{"Changes":[{"Action":"DELETE","ResourceRecordSet":{"Name":"nothere.example.com.","Type":"A","TTL":60,"ResourceRecords":[{"Value":"192.0.2.99"}]}}]}"#).unwrap();
    let dir_s = dir.to_str().unwrap();

    // a dry run sends nothing
    let out = m.zone2r53_push(&id, &["--dry-run", dir_s]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("would apply 1/{n} ")),
        "{}",
        stdout(&out)
    );
    let list = tmp.path().join("l0.json");
    m.list(&id, &list);
    let held = |f: &Path| -> usize {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        v["ResourceRecordSets"].as_array().unwrap().len()
    };
    assert_eq!(held(&list), 2, "only moto's SOA and NS");

    // the run stops at batch 2: batch 1 applied and INSYNC, the rest not sent
    let out = m.zone2r53_push(&id, &[dir_s]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(
        o.contains(&format!(
            "applied 1/{n} {}: INSYNC",
            dir.join("batch-0001.json").display()
        )),
        "{o}"
    );
    // nothing said of batch 2 on stdout ("2/" alone could be part of the temporary path)
    assert!(!o.contains(&format!(" 2/{n} ")), "{o}");
    assert!(
        e.contains(&format!(
            "zone2r53: push: batch 2 of {n} ({}) failed: aws said: ",
            second.display()
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "applied in this run: batch 1 ({}); not sent: batches 2 to {n}",
            dir.join("batch-0001.json").display()
        )),
        "{e}"
    );
    let first: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("batch-0001.json")).unwrap()).unwrap();
    m.list(&id, &list);
    assert_eq!(held(&list), 2 + first["Changes"].as_array().unwrap().len());

    // fixed, the printed command resumes at batch 2 (run as printed, by sh)
    std::fs::write(&second, good).unwrap();
    let resume = e
        .lines()
        .find_map(|l| l.strip_prefix("zone2r53: push: to resume once batch 2 is fixed: "))
        .unwrap()
        .to_string();
    assert!(resume.contains("--resume-from 2"), "{resume}");
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(&resume).env(
        "PATH",
        format!(
            "{}:{}",
            links_dir().display(),
            std::env::var("PATH").unwrap()
        ),
    );
    let out = run(m.env(&mut sh));
    assert_eq!(code(&out), 0, "{resume}: {}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("applied {n}/{n} ")),
        "{}",
        stdout(&out)
    );
    assert!(
        !stdout(&out).contains("applied 1/"),
        "batch 1 sent again: {}",
        stdout(&out)
    );
    // Route 53 now holds exactly the zone
    m.list(&id, &list);
    let out = z(
        &[
            "diff",
            "--plan",
            "--exit-code",
            "--mode",
            "sync",
            "--zone-id",
            &id,
            "--current",
        ],
        &[&list, &zone],
    );
    assert_eq!(
        (code(&out), stdout(&out)),
        (0, NOTHING.to_string()),
        "{}",
        stderr(&out)
    );

    // a sync to a nearly empty zone would delete most records: refused, nothing sent
    let small = tmp.path().join("small.zone");
    std::fs::write(&small, "$ORIGIN example.com.\n$TTL 300\nwww A 192.0.2.10\n").unwrap();
    let del = tmp.path().join("del");
    let out = z(
        &["diff", "--mode", "sync", "--zone-id", &id, "--out-dir"],
        &[&del, Path::new("--current"), &list, &small],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = m.zone2r53_push(&id, &["--max-delete-pct", "10", del.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("push: refusing: the batches would delete"),
        "{}",
        stderr(&out)
    );
    let after = tmp.path().join("l2.json");
    m.list(&id, &after);
    assert_eq!(
        std::fs::read(&after).unwrap(),
        std::fs::read(&list).unwrap()
    );
}
