//! `zone2r53 push`: apply change batches through the AWS CLI the user already has (their
//! credentials, profiles, endpoint), one batch at a time, each waited for until Route 53
//! says INSYNC; the first failure stops the run, with the batches applied named and the
//! command that resumes. Arguments reach `aws` as argv (never a shell); what `aws` says is
//! escaped before it is shown.
//!
//! The plain parts (reading a batch, the argv of each call, reading `aws`'s JSON, the delete
//! guard) are functions over data; [`run`] does the I/O.

use crate::NAME;
use argh::FromArgs;
use opsbox_common::{Error, ExitCode, Result, cli, escape, exit};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Largest batch file read (the API takes 32,000 value characters a request; pretty JSON
/// around them is far below this).
pub const MAX_BATCH_FILE: u64 = 4 << 20;
/// Most batch files one run takes.
pub const MAX_BATCHES: usize = 10_000;
/// What of `aws`'s error output a message shows.
const AWS_SAID: usize = 600;

fn pct(s: &str) -> std::result::Result<u32, String> {
    cli::number_in(s, 0, 100)
}
fn positive(s: &str) -> std::result::Result<usize, String> {
    cli::number_in(s, 1, MAX_BATCHES)
}
fn seconds(s: &str) -> std::result::Result<u64, String> {
    cli::number_in(s, 1, 86_400)
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// apply change batches with the AWS CLI, one at a time, each waited for until INSYNC.
pub struct PushOpts {
    /// the hosted zone's id (Z0123..., or /hostedzone/Z0123...)
    #[argh(option)]
    zone_id: String,
    /// the AWS CLI profile (passed to aws as --profile)
    #[argh(option)]
    profile: Option<String>,
    /// another endpoint (passed to aws as --endpoint-url)
    #[argh(option)]
    endpoint_url: Option<String>,
    /// the region (passed to aws as --region)
    #[argh(option)]
    region: Option<String>,
    /// the AWS CLI to run (default: aws, from PATH)
    #[argh(option, default = "String::from(\"aws\")")]
    aws: String,
    /// say what would be sent, send nothing
    #[argh(switch)]
    dry_run: bool,
    /// refuse when the batches delete more than this percentage of the zone's records
    #[argh(option, from_str_fn(pct))]
    max_delete_pct: Option<u32>,
    /// start with batch N of the list (the batches before it were applied)
    #[argh(option, from_str_fn(positive))]
    resume_from: Option<usize>,
    /// give up waiting for one change to be INSYNC after this many seconds (default 1800)
    #[argh(option, from_str_fn(seconds), default = "1800")]
    wait_timeout: u64,
    /// no progress lines
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// batch files, or directories of batch-NNNN.json, applied in the order given (a
    /// directory's in name order)
    #[argh(positional)]
    batches: Vec<String>,
}

/// One batch file, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub path: PathBuf,
    pub creates: usize,
    pub upserts: usize,
    /// DELETEs, and the records they remove (an alias counts one).
    pub deletes: usize,
    pub deleted_records: usize,
}

/// Check a batch document: a `Changes` array of CREATE/UPSERT/DELETE changes, each with a
/// record set that has a name and a type.
pub fn read_batch(path: &Path, doc: &[u8]) -> std::result::Result<Batch, String> {
    let v: Value = serde_json::from_slice(doc).map_err(|e| format!("not JSON: {e}"))?;
    let changes = v
        .get("Changes")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or("no Changes (a change batch holds at least one change)")?;
    let mut b = Batch {
        path: path.to_path_buf(),
        creates: 0,
        upserts: 0,
        deletes: 0,
        deleted_records: 0,
    };
    // a DELETE with a CREATE of the same set in the same batch is a replacement
    let key = |r: &Value| {
        (
            r.get("Name").and_then(Value::as_str).map(str::to_string),
            r.get("Type").and_then(Value::as_str).map(str::to_string),
            r.get("SetIdentifier")
                .and_then(Value::as_str)
                .map(str::to_string),
        )
    };
    let mut created = Vec::new();
    let mut deleted = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let r = c
            .get("ResourceRecordSet")
            .filter(|r| r.get("Name").is_some_and(Value::is_string))
            .filter(|r| r.get("Type").is_some_and(Value::is_string))
            .ok_or_else(|| format!("Changes[{i}]: no ResourceRecordSet with Name and Type"))?;
        match c.get("Action").and_then(Value::as_str) {
            Some("CREATE") => {
                b.creates += 1;
                created.push(key(r));
            }
            Some("UPSERT") => {
                b.upserts += 1;
                created.push(key(r));
            }
            Some("DELETE") => {
                b.deletes += 1;
                let n = r
                    .get("ResourceRecords")
                    .and_then(Value::as_array)
                    .map_or(1, |a| a.len().max(1));
                deleted.push((key(r), n));
            }
            _ => {
                return Err(format!(
                    "Changes[{i}]: Action is not CREATE, UPSERT or DELETE"
                ));
            }
        }
    }
    b.deleted_records = deleted
        .iter()
        .filter(|(k, _)| !created.contains(k))
        .map(|(_, n)| n)
        .sum();
    Ok(b)
}

/// The records of a `list-resource-record-sets` answer (an alias counts one).
pub fn count_records(listing: &Value) -> Option<usize> {
    let sets = listing.get("ResourceRecordSets")?.as_array()?;
    Some(
        sets.iter()
            .map(|s| {
                s.get("ResourceRecords")
                    .and_then(Value::as_array)
                    .map_or(1, |a| a.len().max(1))
            })
            .sum(),
    )
}

/// `ChangeInfo.Id` and `ChangeInfo.Status` of a change-resource-record-sets or get-change
/// answer.
pub fn change_info(v: &Value) -> Option<(String, String)> {
    let c = v.get("ChangeInfo")?;
    Some((
        c.get("Id")?.as_str()?.to_string(),
        c.get("Status")?.as_str()?.to_string(),
    ))
}

/// The options every `aws` call takes (before the service name).
fn global_args(o: &PushOpts) -> Vec<String> {
    let mut a = Vec::new();
    for (flag, v) in [
        ("--profile", &o.profile),
        ("--endpoint-url", &o.endpoint_url),
        ("--region", &o.region),
    ] {
        if let Some(v) = v {
            a.push(flag.to_string());
            a.push(v.clone());
        }
    }
    a
}

/// argv (after `aws`) that applies one batch.
pub fn change_args(global: &[String], zone_id: &str, batch: &Path) -> Vec<String> {
    let mut a = global.to_vec();
    a.extend(
        [
            "route53",
            "change-resource-record-sets",
            "--hosted-zone-id",
            zone_id,
            "--change-batch",
        ]
        .map(String::from),
    );
    a.push(format!("file://{}", batch.display()));
    a.extend(["--output", "json"].map(String::from));
    a
}

/// The batch files named by the arguments: files as given, directories' `batch-NNNN.json`
/// in name order.
fn batch_files(args: &[String]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        let p = Path::new(a);
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::from_io_code(exit::NOINPUT, escape::text(a), &e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.strip_prefix("batch-"))
                        .and_then(|n| n.strip_suffix(".json"))
                        .is_some_and(|n| n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect();
            v.sort();
            if v.is_empty() {
                return Err(Error::noinput(format!(
                    "{}: no batch-NNNN.json files",
                    escape::text(a)
                )));
            }
            out.extend(v);
        } else {
            out.push(p.to_path_buf());
        }
        if out.len() > MAX_BATCHES {
            return Err(Error::usage(format!("more than {MAX_BATCHES} batches")));
        }
    }
    if out.is_empty() {
        return Err(Error::usage("give the batch files (or their directory)"));
    }
    Ok(out)
}

fn load(files: &[PathBuf]) -> Result<Vec<Batch>> {
    files
        .iter()
        .map(|f| {
            let shown = escape::text(&f.display().to_string()).into_owned();
            let file = std::fs::File::open(f)
                .map_err(|e| Error::from_io_code(exit::NOINPUT, &shown, &e))?;
            let meta = file
                .metadata()
                .map_err(|e| Error::from_io_code(exit::NOINPUT, &shown, &e))?;
            if !meta.is_file() {
                return Err(Error::noinput(format!("{shown}: not a regular file")));
            }
            if meta.len() > MAX_BATCH_FILE {
                return Err(Error::data(format!(
                    "{shown}: larger than {MAX_BATCH_FILE} bytes: not a change batch"
                )));
            }
            let doc =
                std::fs::read(f).map_err(|e| Error::from_io_code(exit::NOINPUT, &shown, &e))?;
            read_batch(f, &doc).map_err(|e| Error::data(format!("{shown}: {e}")))
        })
        .collect()
}

/// What running `aws` gave: its JSON answer, or why not.
enum Aws {
    Ok(Value),
    Failed(String),
}

fn aws(bin: &str, args: &[String]) -> Result<Aws> {
    let out = Command::new(bin)
        .args(args)
        // no pager (AWS CLI v2 pipes into one when its output is a terminal)
        .env("AWS_PAGER", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::unavailable(format!(
                "{}: not found: install the AWS CLI, or give --aws PATH",
                escape::text(bin)
            )));
        }
        Err(e) => {
            return Err(Error::from_io_code(
                exit::UNAVAILABLE,
                escape::text(bin),
                &e,
            ));
        }
    };
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said.trim();
        let why = if said.is_empty() {
            format!("exit status {}", out.status)
        } else {
            escape::quote_max(said, AWS_SAID)
        };
        return Ok(Aws::Failed(why));
    }
    match serde_json::from_slice(&out.stdout) {
        Ok(v) => Ok(Aws::Ok(v)),
        Err(_) => Ok(Aws::Failed(format!(
            "its answer is not JSON: {}",
            escape::quote(&String::from_utf8_lossy(&out.stdout))
        ))),
    }
}

/// A command line to show: each word as a shell word, or escaped text if it cannot be one.
fn shown_command(words: &[String]) -> String {
    words
        .iter()
        .map(|w| match escape::sh(w) {
            Ok(s) => s.into_owned(),
            Err(_) => escape::quote(w),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Wait until the change is INSYNC: get-change now, then after 1, 2, 4 ... (at most 15) s.
fn wait_insync(
    o: &PushOpts,
    global: &[String],
    id: &str,
) -> Result<std::result::Result<(), String>> {
    let start = Instant::now();
    let mut pause = Duration::from_secs(1);
    loop {
        let mut args = global.to_vec();
        args.extend(["route53", "get-change", "--id", id, "--output", "json"].map(String::from));
        match aws(&o.aws, &args)? {
            Aws::Failed(why) => return Ok(Err(format!("get-change failed: {why}"))),
            Aws::Ok(v) => match change_info(&v) {
                Some((_, s)) if s == "INSYNC" => return Ok(Ok(())),
                Some(_) => {}
                None => return Ok(Err("get-change gave no ChangeInfo".into())),
            },
        }
        if start.elapsed() + pause > Duration::from_secs(o.wait_timeout) {
            return Ok(Err(format!(
                "not INSYNC after {} s (it may still complete: aws route53 get-change --id {})",
                o.wait_timeout,
                escape::text(id)
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(15));
    }
}

fn say(o: &PushOpts, line: &str) {
    if !o.quiet {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", escape::controls(line));
        let _ = out.flush();
    }
}

/// The command that resumes at batch `n` (1-based).
fn resume_command(o: &PushOpts, n: usize) -> String {
    let mut w: Vec<String> = vec![
        NAME.into(),
        "push".into(),
        "--zone-id".into(),
        o.zone_id.clone(),
    ];
    w.extend(global_args(o));
    if o.aws != "aws" {
        w.extend(["--aws".into(), o.aws.clone()]);
    }
    w.extend(["--resume-from".into(), n.to_string()]);
    w.extend(o.batches.iter().cloned());
    shown_command(&w)
}

fn name_of(b: &Batch) -> String {
    escape::text(&b.path.display().to_string()).into_owned()
}

/// The `push` subcommand.
pub fn run(o: PushOpts) -> Result<ExitCode> {
    let zid = o.zone_id.strip_prefix("/hostedzone/").unwrap_or(&o.zone_id);
    crate::routing::zone_id(zid).map_err(|e| Error::usage(format!("--zone-id: {e}")))?;
    let files = batch_files(&o.batches)?;
    let batches = load(&files)?;
    let total = batches.len();
    let from = o.resume_from.unwrap_or(1);
    if from > total {
        return Err(Error::usage(format!(
            "--resume-from {from}: there are {total} batches"
        )));
    }
    let todo = &batches[from - 1..];
    let global = global_args(&o);
    if let Some(max) = o.max_delete_pct {
        let deleted: usize = todo.iter().map(|b| b.deleted_records).sum();
        let mut args = global.clone();
        args.extend(
            [
                "route53",
                "list-resource-record-sets",
                "--hosted-zone-id",
                zid,
                "--output",
                "json",
            ]
            .map(String::from),
        );
        let current = match aws(&o.aws, &args)? {
            Aws::Ok(v) => count_records(&v).ok_or_else(|| {
                Error::new(
                    exit::UNAVAILABLE,
                    "list-resource-record-sets gave no ResourceRecordSets",
                )
            })?,
            Aws::Failed(why) => {
                return Err(Error::new(
                    exit::UNAVAILABLE,
                    format!("list-resource-record-sets (for --max-delete-pct) failed: {why}"),
                ));
            }
        };
        if current > 0 && deleted * 100 > max as usize * current {
            let _ = writeln!(
                std::io::stderr(),
                "{NAME}: push: refusing: the batches would delete {deleted} of {current} records (more than {max}%); nothing sent"
            );
            return Ok(ExitCode::from(exit::ANSWER_2));
        }
    }
    for (k, b) in todo.iter().enumerate() {
        let n = from + k;
        let args = change_args(&global, zid, &b.path);
        let what = format!(
            "{} create, {} upsert, {} delete",
            b.creates, b.upserts, b.deletes
        );
        if o.dry_run {
            say(
                &o,
                &format!(
                    "would apply {n}/{total} {} ({what}): {} {}",
                    name_of(b),
                    escape::text(&o.aws),
                    shown_command(&args)
                ),
            );
            continue;
        }
        let failed = match aws(&o.aws, &args)? {
            Aws::Failed(why) => Some(format!("aws said: {why}")),
            Aws::Ok(v) => match change_info(&v) {
                None => Some("the answer has no ChangeInfo".to_string()),
                Some((id, status)) => {
                    say(
                        &o,
                        &format!(
                            "sent {n}/{total} {} ({what}): change {} {}",
                            name_of(b),
                            escape::text(&id),
                            escape::text(&status)
                        ),
                    );
                    let waited = if status == "INSYNC" {
                        Ok(())
                    } else {
                        wait_insync(&o, &global, &id)?
                    };
                    match waited {
                        Ok(()) => {
                            say(&o, &format!("applied {n}/{total} {}: INSYNC", name_of(b)));
                            None
                        }
                        Err(e) => Some(format!("sent as change {}, but {e}", escape::text(&id))),
                    }
                }
            },
        };
        if let Some(why) = failed {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "{NAME}: push: batch {n} of {total} ({}) failed: {}",
                name_of(b),
                escape::controls(&why)
            );
            let applied = if n == from + 1 {
                format!(
                    "applied in this run: batch {from} ({})",
                    name_of(&batches[from - 1])
                )
            } else if n > from {
                format!(
                    "applied in this run: batches {from} to {} ({} to {})",
                    n - 1,
                    name_of(&batches[from - 1]),
                    name_of(&batches[n - 2])
                )
            } else {
                "applied in this run: none".to_string()
            };
            let before = if from > 1 {
                format!(
                    " (1 to {} were applied before, as --resume-from says)",
                    from - 1
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                err,
                "{NAME}: push: {applied}{before}; not sent: batches {n} to {total}"
            );
            let _ = writeln!(
                err,
                "{NAME}: push: to resume once batch {n} is fixed: {}",
                escape::controls(&resume_command(&o, n))
            );
            return Ok(ExitCode::from(exit::ANSWER_1));
        }
    }
    if o.dry_run {
        say(
            &o,
            &format!("dry run: {} batches, nothing sent", todo.len()),
        );
    } else {
        say(
            &o,
            &format!("done: {} batches applied, all INSYNC", todo.len()),
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_read_and_counted() {
        let doc = br#"{"Comment":"x","Changes":[
          {"Action":"DELETE","ResourceRecordSet":{"Name":"a.","Type":"A","TTL":1,"ResourceRecords":[{"Value":"192.0.2.1"},{"Value":"192.0.2.2"}]}},
          {"Action":"CREATE","ResourceRecordSet":{"Name":"a.","Type":"A","TTL":1,"ResourceRecords":[{"Value":"192.0.2.3"}]}},
          {"Action":"DELETE","ResourceRecordSet":{"Name":"b.","Type":"A","AliasTarget":{"HostedZoneId":"Z","DNSName":"a.","EvaluateTargetHealth":false}}},
          {"Action":"UPSERT","ResourceRecordSet":{"Name":"c.","Type":"TXT","TTL":1,"ResourceRecords":[{"Value":"\"x\""}]}}
        ]}"#;
        let b = read_batch(Path::new("b.json"), doc).unwrap();
        assert_eq!((b.creates, b.upserts, b.deletes), (1, 1, 2));
        // the DELETE of a. is a replacement; b.'s alias is one record gone
        assert_eq!(b.deleted_records, 1);
        assert!(read_batch(Path::new("x"), b"{\"Changes\":[]}").is_err());
        assert!(read_batch(Path::new("x"), b"{\"Changes\":[{\"Action\":\"MOVE\",\"ResourceRecordSet\":{\"Name\":\"a.\",\"Type\":\"A\"}}]}").is_err());
        assert!(read_batch(Path::new("x"), b"[1]").is_err());
    }

    #[test]
    fn argv_and_answers() {
        let a = change_args(
            &["--profile".into(), "p x".into()],
            "Z1",
            Path::new("d/batch-0001.json"),
        );
        assert_eq!(
            a,
            [
                "--profile",
                "p x",
                "route53",
                "change-resource-record-sets",
                "--hosted-zone-id",
                "Z1",
                "--change-batch",
                "file://d/batch-0001.json",
                "--output",
                "json"
            ]
        );
        let v: Value =
            serde_json::from_str(r#"{"ChangeInfo":{"Id":"/change/C1","Status":"PENDING"}}"#)
                .unwrap();
        assert_eq!(
            change_info(&v),
            Some(("/change/C1".into(), "PENDING".into()))
        );
        let l: Value = serde_json::from_str(
            r#"{"ResourceRecordSets":[{"ResourceRecords":[{},{}]},{"AliasTarget":{}}]}"#,
        )
        .unwrap();
        assert_eq!(count_records(&l), Some(3));
        assert_eq!(
            shown_command(&["a b".into(), "x\ny".into()]),
            "'a b' \"x\\ny\""
        );
    }
}
