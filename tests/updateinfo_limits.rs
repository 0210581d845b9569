//! updateinfo against hostile inputs: decompression bombs (a few MB of gzip, bzip2, xz or
//! zstd expanding to hundreds of MB of zeros, white space, one attribute, text node,
//! element name or comment, deep nesting, entities, valid advisories repeated) are refused
//! with exit 65 and `FILE:LINE:COL`, in bounded memory (peak RSS measured by GNU time).
//! The bombs are made here, on the fly: one compressed head, then one compressed chunk of
//! filler repeated (concatenated members, streams and frames are one stream in every
//! format), and a few single-stream ones.

mod support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::*;

/// The peak RSS a bomb may reach, in KiB.
const RSS_MAX_KB: u64 = 64 << 10;
/// The filler repeated: 8 MiB, 25 times (200 MiB).
const CHUNK: usize = 8 << 20;
const TIMES: usize = 25;

const CODECS: [(&str, &[&str]); 4] = [
    ("gz", &["gzip", "-1", "-c"]),
    ("bz2", &["bzip2", "-1", "-c"]),
    ("xz", &["xz", "-0", "-c", "-T1"]),
    ("zst", &["zstd", "-1", "-q", "-c"]),
];

fn tools() -> bool {
    let have = ["gzip", "bzip2", "xz", "zstd", "time"]
        .iter()
        .all(|t| have_tool(t));
    if !have {
        assert!(!strict(), "gzip, bzip2, xz, zstd and GNU time are needed");
        eprintln!("skipped: gzip, bzip2, xz, zstd or GNU time missing");
    }
    have
}

/// `data` compressed by `cmd`.
fn pack(cmd: &[&str], data: &[u8]) -> Vec<u8> {
    let mut c = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let o = c.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    assert!(o.status.success(), "{cmd:?}");
    o.stdout
}

/// A file of `head`, then `filler` `times` times, then `tail`, compressed by `codec`.
fn bomb(
    dir: &Path,
    name: &str,
    codec: &[&str],
    head: &[u8],
    filler: &[u8],
    times: usize,
    tail: &[u8],
) -> PathBuf {
    let p = dir.join(name);
    let mut f = fs::File::create(&p).unwrap();
    f.write_all(&pack(codec, head)).unwrap();
    let chunk = pack(codec, filler);
    for _ in 0..times {
        f.write_all(&chunk).unwrap();
    }
    if !tail.is_empty() {
        f.write_all(&pack(codec, tail)).unwrap();
    }
    p
}

/// Run updateinfo under GNU time: its output and its peak RSS in KiB.
fn measured(args: &[&str]) -> (std::process::Output, u64) {
    let rss = tempfile::NamedTempFile::new().unwrap();
    let app = applet("updateinfo");
    let o = run(Command::new("time")
        .args(["-f", "%M", "-o"])
        .arg(rss.path())
        .arg(app.get_program())
        .args(args));
    let kb = fs::read_to_string(rss.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(u64::MAX);
    (o, kb)
}

/// Exit 65, one line `updateinfo: FILE:LINE:COL: …` containing `want`, RSS under bound.
fn refused(file: &Path, args: &[&str], want: &str) {
    let f = file.to_str().unwrap();
    let mut all: Vec<&str> = args.to_vec();
    all.push(f);
    let (o, kb) = measured(&all);
    let err = stderr(&o);
    assert_eq!(code(&o), 65, "{f}: {err}");
    let line = err.lines().next().unwrap_or("");
    assert_eq!(err.lines().count(), 1, "{f}: one line: {err}");
    let rest = line
        .strip_prefix(&format!("updateinfo: {f}:"))
        .unwrap_or_else(|| panic!("{f}: {err}"));
    let mut p = rest.splitn(3, ':');
    let (l, c) = (p.next().unwrap(), p.next().unwrap());
    assert!(
        l.parse::<u64>().is_ok() && c.parse::<u64>().is_ok(),
        "{f}: no LINE:COL: {err}"
    );
    assert!(err.contains(want), "{f}: want {want:?}: {err}");
    assert!(kb < RSS_MAX_KB, "{f}: peak RSS {kb} KiB");
    assert!(o.stdout.is_empty());
}

struct Shape {
    name: &'static str,
    head: &'static [u8],
    fill: u8,
    want: &'static str,
}

const SHAPES: [Shape; 6] = [
    Shape {
        name: "zeros",
        head: b"",
        fill: 0,
        want: "longer than 1048576 bytes",
    },
    Shape {
        name: "space",
        head: b"<opt>",
        fill: b' ',
        want: "longer than 1048576 bytes",
    },
    Shape {
        name: "attribute",
        head: b"<opt><CESA-2013--1 description=\"",
        fill: b'a',
        want: "longer than 1048576 bytes",
    },
    Shape {
        name: "text",
        head: b"<opt><CESA-2013--1><description>",
        fill: b'a',
        want: "longer than 1048576 bytes",
    },
    Shape {
        name: "name",
        head: b"<opt><",
        fill: b'a',
        want: "longer than 1048576 bytes",
    },
    Shape {
        name: "comment",
        head: b"<opt><!--",
        fill: b'a',
        want: "longer than 1048576 bytes",
    },
];

#[test]
fn bombs_of_every_shape_and_codec_are_refused_in_bounded_memory() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // (one compressed chunk per filler byte and codec, shared by the shapes)
    let mut chunks = std::collections::HashMap::new();
    for shape in &SHAPES {
        for (ext, cmd) in CODECS {
            let chunk = chunks
                .entry((shape.fill, ext))
                .or_insert_with(|| pack(cmd, &vec![shape.fill; CHUNK]));
            let name = format!("{}.xml.{ext}", shape.name);
            let f = dir.path().join(&name);
            let mut w = fs::File::create(&f).unwrap();
            w.write_all(&pack(cmd, shape.head)).unwrap();
            for _ in 0..TIMES {
                w.write_all(chunk).unwrap();
            }
            drop(w);
            assert!(fs::metadata(&f).unwrap().len() < 10 << 20);
            refused(&f, &["-o", "/dev/null"], shape.want);
            fs::remove_file(&f).unwrap();
        }
    }
}

#[test]
fn single_stream_bombs_and_newlines_are_refused() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // one gzip member, one zstd frame: 200 MiB of zeros and of newlines
    let zeros = vec![0u8; CHUNK * TIMES];
    let f = dir.path().join("zeros.gz");
    fs::write(&f, pack(&["gzip", "-1", "-c"], &zeros)).unwrap();
    refused(&f, &["-o", "/dev/null"], "longer than 1048576 bytes");
    let mut nl = b"<opt>".to_vec();
    nl.resize(CHUNK * TIMES, b'\n');
    let f = dir.path().join("newlines.zst");
    fs::write(&f, pack(&["zstd", "-1", "-q", "-c"], &nl)).unwrap();
    refused(&f, &["-o", "/dev/null"], "longer than 1048576 bytes");
    // the position is the start of the token: line 1, column 6
    let (o, _) = measured(&["-o", "/dev/null", f.to_str().unwrap()]);
    assert!(stderr(&o).contains(":1:6: "), "{}", stderr(&o));
}

#[test]
fn many_small_tokens_in_one_advisory_and_deep_nesting_are_refused() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gz: &[&str] = &["gzip", "-1", "-c"];
    // entities: each a token of its own, the advisory grows
    let f = bomb(
        dir.path(),
        "entities.gz",
        gz,
        b"<opt>\n<CESA-2013--1 type=\"Security Advisory\"><description>",
        &b"&amp;".repeat(CHUNK / 5),
        TIMES,
        b"",
    );
    refused(
        &f,
        &[],
        "advisory \"CESA-2013--1\" is longer than 1048576 bytes",
    );
    let (o, _) = measured(&[f.to_str().unwrap()]);
    assert!(stderr(&o).contains(":2:1: "), "{}", stderr(&o));
    // empty elements and newlines inside one advisory
    let f = bomb(
        dir.path(),
        "children.gz",
        gz,
        b"<opt><CESA-2013--1>",
        &b"<x/>\n".repeat(CHUNK / 5),
        TIMES,
        b"",
    );
    refused(&f, &[], "is longer than 1048576 bytes");
    // nesting
    let f = bomb(
        dir.path(),
        "deep.gz",
        gz,
        b"<opt>",
        &b"<a>".repeat(CHUNK / 3),
        TIMES,
        b"",
    );
    refused(&f, &[], "nested deeper than 64");
    // the same for check (an updateinfo.xml) and --primary (a primary.xml)
    let f = bomb(
        dir.path(),
        "deep-updates.gz",
        gz,
        b"<updates>",
        &b"<a>".repeat(CHUNK / 3),
        TIMES,
        b"",
    );
    refused(&f, &["check"], "nested deeper than 64");
    let f = bomb(
        dir.path(),
        "long-primary.gz",
        gz,
        b"<metadata><package><name>",
        &vec![b'n'; CHUNK],
        TIMES,
        b"",
    );
    let errata = fixture_errata(dir.path());
    let p = f.to_str().unwrap().to_string();
    let (o, kb) = measured(&["--primary", &p, "-o", "/dev/null", &errata]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with(&format!("updateinfo: {p}:1:26: ")),
        "{}",
        stderr(&o)
    );
    assert!(kb < RSS_MAX_KB, "peak RSS {kb} KiB");
}

fn fixture_errata(dir: &Path) -> String {
    let p = dir.join("errata.xml");
    fs::write(
        &p,
        "<opt><CESA-2013--1764 type=\"Security Advisory\" issue_date=\"2013-11-26 00:00:00\" \
         os_release=\"6\" packages=\"a-1-1.el6.x86_64.rpm\"/></opt>\n",
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn valid_advisories_repeated_past_the_expansion_ratio_are_refused() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let adv = b"<CESA-2013--1764 type=\"Security Advisory\" issue_date=\"2013-11-26 00:00:00\" os_release=\"6\" packages=\"a-1-1.el6.x86_64.rpm\"/>\n";
    let filler = adv.repeat(CHUNK / adv.len());
    // (gzip at -9: deflate's -1 stays under 250:1 on this text)
    for (ext, cmd) in CODECS {
        let cmd = if ext == "gz" {
            &["gzip", "-9", "-c"][..]
        } else {
            cmd
        };
        let name = format!("repeated.xml.{ext}");
        let f = bomb(
            dir.path(),
            &name,
            cmd,
            b"<opt>\n",
            &filler,
            TIMES,
            b"</opt>\n",
        );
        refused(&f, &["-q", "-o", "/dev/null"], "more than 250 times");
    }
}
