//! The man pages: one per applet plus opsbox.1, lint-clean, and in step with --help (every
//! long option any help text shows appears in the page).

mod support;

use std::path::PathBuf;
use support::*;

fn page_for(name: &str) -> PathBuf {
    for section in ["1", "8"] {
        let p = root().join("man").join(format!("{name}.{section}"));
        if p.exists() {
            return p;
        }
    }
    panic!("no man page man/{name}.1 or man/{name}.8");
}

/// Page text with roff escapes removed: `\-` → `-`, `\fB` etc. dropped.
fn plain(roff: &str) -> String {
    let mut s = roff
        .replace("\\-", "-")
        .replace("\\(hy", "-")
        .replace("\\&", "");
    for f in [
        "\\fB", "\\fI", "\\fR", "\\fP", "\\f(CW", "\\f[B]", "\\f[I]", "\\f[R]", "\\f[]",
    ] {
        s = s.replace(f, "");
    }
    s
}

/// Long options shown in a help text (`--name`), and the subcommands a `Commands:` block lists.
fn long_flags(help: &str) -> Vec<String> {
    let mut flags: Vec<String> = Vec::new();
    for word in help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        if let Some(rest) = word.strip_prefix("--")
            && rest.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        {
            flags.push(word.trim_end_matches('-').to_string());
        }
    }
    flags.sort();
    flags.dedup();
    flags
}

fn subcommands(help: &str) -> Vec<String> {
    let mut subs = Vec::new();
    let mut in_block = false;
    for line in help.lines() {
        if line.trim() == "Commands:" {
            in_block = true;
            continue;
        }
        if in_block {
            let t = line.trim_start();
            if t.is_empty() {
                in_block = false;
                continue;
            }
            let name = t.split_whitespace().next().unwrap_or("");
            let indented = line.len() > t.len();
            if indented && t.len() > name.len() && t[name.len()..].starts_with("  ") {
                if name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                    subs.push(name.to_string());
                }
            } else if !indented {
                in_block = false;
            }
        }
    }
    subs
}

#[test]
fn every_help_option_is_in_the_man_page() {
    let mut missing = Vec::new();
    for a in applet_names() {
        let page = plain(&std::fs::read_to_string(page_for(&a)).unwrap());
        let help = stdout(&run(applet(&a).arg("--help")));
        let mut helps = vec![(a.clone(), help.clone())];
        for sub in subcommands(&help) {
            let out = run(applet(&a).args([sub.as_str(), "--help"]));
            assert_eq!(code(&out), 0, "{a} {sub} --help: {}", stderr(&out));
            assert!(
                page.contains(&sub),
                "man page of {a} does not mention the subcommand {sub}"
            );
            helps.push((format!("{a} {sub}"), stdout(&out)));
        }
        for (who, text) in helps {
            for flag in long_flags(&text) {
                if !page.contains(&flag) {
                    missing.push(format!("{who}: {flag}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "options missing from the man pages:\n{}",
        missing.join("\n")
    );
}

#[test]
fn opsbox_page_documents_the_multiplexer() {
    let page = plain(&std::fs::read_to_string(root().join("man/opsbox.1")).unwrap());
    for word in [
        "--list",
        "--install",
        "--help",
        "--version",
        "127",
        "64",
        "65",
        "66",
        "69",
        "73",
        "74",
    ] {
        assert!(page.contains(word), "opsbox.1 does not mention {word}");
    }
    for a in applet_names() {
        assert!(page.contains(&a), "opsbox.1 does not mention {a}");
    }
}

#[test]
fn pages_pass_lint() {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("man"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    assert!(pages.len() >= 6, "expected opsbox.1 and five applet pages");
    if have_tool("mandoc") {
        for p in &pages {
            let out = run(std::process::Command::new("mandoc")
                .args(["-T", "lint", "-W", "warning"])
                .arg(p));
            assert!(
                out.stdout.is_empty() && code(&out) == 0,
                "{}:\n{}{}",
                p.display(),
                stdout(&out),
                stderr(&out)
            );
        }
    } else if have_tool("groff") {
        for p in &pages {
            let out = run(std::process::Command::new("groff")
                .args(["-man", "-ww", "-z"])
                .arg(p));
            assert!(out.stderr.is_empty(), "{}:\n{}", p.display(), stderr(&out));
        }
    }
}

#[test]
fn flag_and_subcommand_extraction() {
    let help = "Usage: x [--a-b] [-q]\n\nOptions:\n  --a-b   thing --ignored-\n  -q\n\nNotes:\n  Commands:\n    inject    do it\n    check     look\n\n";
    assert_eq!(long_flags(help), vec!["--a-b", "--ignored"]);
    assert_eq!(subcommands(help), vec!["inject", "check"]);
}
