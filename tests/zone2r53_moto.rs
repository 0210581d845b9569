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

    /// `aws --endpoint-url URL route53 ARGS --output json`, dummy credentials only.
    fn aws(&self, args: &[&str]) -> serde_json::Value {
        let out = run(Command::new("aws")
            .arg("--endpoint-url")
            .arg(&self.url)
            .arg("route53")
            .args(args)
            .args(["--output", "json"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.home.path().join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.path().join("credentials"),
            )
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN"));
        assert_eq!(code(&out), 0, "aws {args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
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
