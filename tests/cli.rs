//! One command-line convention for every applet (`opsbox_common::cli`), checked across all
//! of them from tables: `--opt=value`, misspelled subcommands, `--version`, `--help` per
//! subcommand, exit codes.

mod support;

use std::process::Command;
use support::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `APPLET [SUB]`, arguments, the exit code, and what stderr says: each line uses
/// `--long=value` where the value is what the check is about, so a message naming the
/// option *and* the value shows argh got them apart (no "unrecognized argument").
const EQUALS: &[(&str, &[&str], i32, &str)] = &[
    (
        "zone2r53",
        &["--max-records=0", "z.zone"],
        64,
        "zone2r53: error parsing option '--max-records' with value '0'",
    ),
    (
        "zone2r53",
        &["check", "--default-ttl=x", "z.zone"],
        64,
        "zone2r53: check: error parsing option '--default-ttl' with value 'x'",
    ),
    (
        "zone2r53",
        &["diff", "--mode=bogus", "--current=c.json", "z.zone"],
        64,
        "zone2r53: --mode: 'bogus' is not",
    ),
    (
        "updateinfo",
        &["inject", "--compress=zip", "repo", "u.xml"],
        64,
        "updateinfo: inject: error parsing option '--compress' with value 'zip'",
    ),
    (
        "updateinfo",
        &["check", "--repo=/nonexistent=dir", "u.xml"],
        66,
        "updateinfo: /nonexistent=dir/repodata/repomd.xml: No such file or directory",
    ),
    (
        "updateinfo",
        &["--type=foo", "errata.xml"],
        64,
        "updateinfo: error parsing option '--type' with value 'foo'",
    ),
    (
        "needs-restart",
        &["--pid=abc"],
        64,
        "needs-restart: --pid: 'abc' is not a process id",
    ),
    (
        "ser2tcp",
        &["--databits=9", "/dev/null"],
        64,
        "ser2tcp: error parsing option '--databits' with value '9'",
    ),
    (
        "ser2tcp",
        &["--allow=10.0.0.1/8", "/dev/null"],
        64,
        "host bits set; write '10.0.0.0/8' for the network or '10.0.0.1' for the host",
    ),
    (
        "genfw",
        &["render", "--format=pf"],
        64,
        "genfw: render: error parsing option '--format' with value 'pf'",
    ),
    (
        "genfw",
        &["check", "--inventory-format=x", "-i", "inv"],
        64,
        "genfw: check: error parsing option '--inventory-format' with value 'x'",
    ),
];

#[test]
fn long_options_take_their_value_after_equals() {
    for (a, args, want, says) in EQUALS {
        applet(a).args(*args).run().code(*want).stderr_has(says);
    }
}

/// A value may hold `=` and start with `-`; a switch takes no value; after `--` nothing is
/// an option.
#[test]
fn equals_values_whole_switches_refused() {
    let zone =
        "$TTL 300\n@ IN SOA ns1 host 1 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.1\n";
    let with_eq = applet("zone2r53")
        .args(["check", "--rrsets", "--origin=example.com.", "-"])
        .run_with(zone.as_bytes());
    with_eq.ok().stdout_has("\"ns1.example.com.\"");
    let spaced = applet("zone2r53")
        .args(["check", "--rrsets", "--origin", "example.com.", "-"])
        .run_with(zone.as_bytes());
    assert_eq!(with_eq.stdout(), spaced.stdout());

    applet("genfw")
        .args(["render", "-i", "/nonexistent/inv", "--host=web=1"])
        .run()
        .code(66);
    applet("zone2r53")
        .args(["check", "--rrsets=yes", "-"])
        .run()
        .code(64)
        .stderr_has("unrecognized argument: --rrsets=yes");
    applet("zone2r53")
        .args(["check", "--", "--origin=example.com."])
        .run()
        .code(66)
        .stderr_has("--origin=example.com.: No such file or directory");
}

/// (applet, misspelling, meant)
const MISSPELLED: &[(&str, &str, &str)] = &[
    ("zone2r53", "chek", "check"),
    ("zone2r53", "dif", "diff"),
    ("zone2r53", "exprot", "export"),
    ("updateinfo", "chek", "check"),
    ("updateinfo", "injcet", "inject"),
    ("genfw", "rendr", "render"),
    ("genfw", "aply", "apply"),
    ("genfw", "confrim", "confirm"),
];

#[test]
fn misspelled_subcommands_get_a_suggestion() {
    for (a, typo, meant) in MISSPELLED {
        applet(a)
            .args([typo, "x.in"])
            .run()
            .code(64)
            .stderr_is(&format!(
                "{a}: unknown command '{typo}' (did you mean '{meant}'?)\nTry '{a} --help' for more information.\n"
            ));
    }
    // an existing file of that name is an input, not a typo
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chek"), "not a zone\n").unwrap();
    applet("zone2r53")
        .arg("chek")
        .current_dir(dir.path())
        .run()
        .code(65)
        .stderr_has("zone2r53: chek:1:");
}

#[test]
fn every_applet_and_subcommand_has_version() {
    let cmds: &[&[&str]] = &[
        &["genfw"],
        &["genfw", "check"],
        &["needs-restart"],
        &["ser2tcp"],
        &["updateinfo"],
        &["updateinfo", "check"],
        &["zone2r53"],
        &["zone2r53", "diff"],
    ];
    for cmd in cmds {
        let want = format!("{} (opsbox) {VERSION}\n", cmd[0]);
        applet(cmd[0])
            .args(&cmd[1..])
            .arg("--version")
            .run()
            .ok()
            .stdout_is(&want)
            .stderr_is("");
        opsbox()
            .args(*cmd)
            .arg("--version")
            .run()
            .ok()
            .stdout_is(&want);
    }
}

/// `--help` of a subcommand lists its own options and not another's.
const HELP: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "zone2r53",
        "check",
        &["--rrsets", "--origin"],
        &["--current", "--action", "--max-records"],
    ),
    (
        "zone2r53",
        "diff",
        &["--current", "--mode", "--max-delete-pct"],
        &["--rrsets", "--action"],
    ),
    (
        "zone2r53",
        "export",
        &["--zone-id", "--output"],
        &["--max-records", "--lenient"],
    ),
    (
        "updateinfo",
        "inject",
        &["--compress", "--checksum"],
        &["--release", "--dest", "--json"],
    ),
    (
        "updateinfo",
        "check",
        &["--repo", "--json"],
        &["--dest", "--release", "--compress"],
    ),
    (
        "genfw",
        "confirm",
        &["--state-dir"],
        &["--inventory", "--root"],
    ),
];

#[test]
fn help_per_subcommand_shows_its_options() {
    for (a, sub, own, foreign) in HELP {
        let ran = applet(a).args([sub, "--help"]).run();
        ran.ok().stdout_has(&format!("Usage: {a} {sub}"));
        for o in *own {
            ran.stdout_has(o);
        }
        for o in *foreign {
            ran.stdout_lacks(o);
        }
    }
}

/// Each genfw command's help shows only its own options (`check` has no `--confirm`,
/// `--root` or `--init`, which belong to apply and persist).
#[test]
fn genfw_check_help_shows_only_check_options() {
    applet("genfw")
        .args(["check", "--help"])
        .run()
        .ok()
        .stdout_has("--inventory")
        .stdout_lacks("--confirm")
        .stdout_lacks("--root")
        .stdout_lacks("--init");
}

/// The documented exit codes, one case each across the applets: usage 64, bad data 65,
/// missing input 66, device missing 69.
#[test]
fn exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "this is not a zone (\n").unwrap();
    let junk = junk.to_str().unwrap();
    let cases: &[(&str, &[&str], i32)] = &[
        ("genfw", &["--no-such-option"], 64),
        ("genfw", &[], 64),
        ("zone2r53", &[junk], 65),
        ("updateinfo", &[junk], 65),
        ("zone2r53", &["/nonexistent/z.zone"], 66),
        ("updateinfo", &["/nonexistent/errata.xml"], 66),
        ("genfw", &["render", "-i", "/nonexistent/inv"], 66),
        ("ser2tcp", &["/nonexistent/ttyUSB0", "-P", "0"], 69),
        ("needs-restart", &["--pid", "0", "extra"], 64),
    ];
    for (a, args, want) in cases {
        let ran = applet(a).args(*args).run();
        ran.code(*want).stderr_has(&format!("{a}: "));
        assert_eq!(
            ran.stderr()
                .lines()
                .next()
                .map(|l| l.starts_with(&format!("{a}: "))),
            Some(true),
            "{a} {args:?}: {}",
            ran.stderr()
        );
    }
}

/// `opsbox --completions bash`, loaded by bash, completes options and subcommands of the
/// applets (through their links and through `opsbox APPLET`) from the argh definitions.
#[test]
fn bash_completion_completes_applet_options() {
    if !have_tool("bash") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("opsbox.bash");
    let ran = opsbox().args(["--completions", "bash"]).run();
    ran.ok();
    std::fs::write(&script, ran.stdout()).unwrap();
    Command::new("bash")
        .arg("-n")
        .arg(&script)
        .run()
        .ok()
        .stderr_is("");
    // each case: the words typed, then what the completion function offers for the last
    let cases: &[(&str, &str)] = &[
        ("zone2r53 check --rr", "--rrsets"),
        ("zone2r53 ex", "export"),
        ("opsbox updateinfo check --js", "--json"),
        ("opsbox zone2r53 diff --cu", "--current"),
        ("opsbox genfw confirm --st", "--state-dir"),
        ("opsbox zon", "zone2r53"),
        ("opsbox --completions fi", "fish"),
        ("needs-restart --un", "--unit --units"),
        ("ser2tcp --max-c", "--max-clients"),
    ];
    let mut probe = format!("source {}\n", script.display());
    probe.push_str(
        r#"t() {
    COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()
    local f; f=$(complete -p "$1" | sed -E 's/.* -F ([^ ]+) .*/\1/')
    "$f"; echo "${COMPREPLY[*]}"
}
"#,
    );
    for (words, _) in cases {
        probe.push_str(&format!("t {words}\n"));
    }
    let ran = Command::new("bash").arg("-c").arg(&probe).run();
    ran.ok().stderr_is("");
    let got = ran.stdout();
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got.len(), cases.len(), "{got:?}");
    for ((words, want), got) in cases.iter().zip(got) {
        assert_eq!(got, *want, "{words}");
    }
    // a completion for every command name
    let ran = Command::new("bash")
        .arg("-c")
        .arg(format!("source {}; complete -p", script.display()))
        .run();
    for name in [
        "opsbox",
        "genfw",
        "needs-restart",
        "ser2tcp",
        "updateinfo",
        "zone2r53",
    ] {
        ran.stdout_has(&format!("-F _{name} "));
    }
}

/// zsh and fish read their scripts (`zsh -n`, `fish -n`); fish completes from them.
#[test]
fn zsh_and_fish_completions_parse() {
    for (shell, check) in [("zsh", "-n"), ("fish", "-n")] {
        if !have_tool(shell) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join(format!("opsbox.{shell}"));
        let ran = opsbox().args(["--completions", shell]).run();
        ran.ok().stdout_has("rrsets").stdout_has("zone2r53");
        std::fs::write(&script, ran.stdout()).unwrap();
        Command::new(shell)
            .arg(check)
            .arg(&script)
            .run()
            .ok()
            .stderr_is("");
    }
    if have_tool("fish") {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("opsbox.fish");
        std::fs::write(
            &script,
            opsbox().args(["--completions", "fish"]).run().stdout(),
        )
        .unwrap();
        Command::new("fish")
            .arg("-c")
            .arg(format!(
                "source {}; complete -C 'zone2r53 check --rr'; complete -C 'opsbox updateinfo check --js'",
                script.display()
            ))
            .run()
            .ok()
            .stderr_is("")
            .stdout_has("--rrsets\tprint the RRsets")
            .stdout_has("--json\t");
    }
    if have_tool("zsh") {
        // compinit, then the script registers a completion function per command
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("opsbox.zsh");
        std::fs::write(
            &script,
            opsbox().args(["--completions", "zsh"]).run().stdout(),
        )
        .unwrap();
        Command::new("zsh")
            .arg("-fc")
            .arg(format!(
                "autoload -U compinit; compinit -u -d {}/zcd; source {}; print -r -- $_comps[opsbox] $_comps[genfw] $_comps[needs-restart]",
                dir.path().display(),
                script.display()
            ))
            .run()
            .ok()
            .stdout_is("_opsbox _genfw _needs-restart\n");
    }
}

#[test]
fn completions_usage_errors() {
    opsbox()
        .args(["--completions", "tcsh"])
        .run()
        .code(64)
        .stderr_has("opsbox: --completions: \"tcsh\" is not bash, zsh or fish");
    opsbox().arg("--completions").run().code(64);
}

/// man/opsbox.1 states the conventions tested here.
#[test]
fn opsbox_page_documents_the_conventions() {
    let page = std::fs::read_to_string(root().join("man/opsbox.1"))
        .unwrap()
        .replace("\\-", "-");
    for word in [
        "--output=out.json",
        "--completions",
        "--install-completions",
        "(opsbox) VERSION",
        "did you mean",
        "applet not found",
        "bash-completion/completions",
        "zsh/vendor-completions",
        "fish/vendor_completions.d",
        "Escaping",
        "single-quoted",
    ] {
        assert!(page.contains(word), "opsbox.1 does not mention {word}");
    }
}
