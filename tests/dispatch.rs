//! The multicall binary: dispatch by link name and by first argument, --list, --install,
//! unknown applets, usage errors, non-UTF-8 arguments, closed pipes.

mod support;

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::process::Stdio;
use support::*;

const APPLETS: [&str; 5] = [
    "genfw",
    "needs-restart",
    "ser2tcp",
    "updateinfo",
    "zone2r53",
];

#[test]
fn list_prints_the_five_applets_sorted() {
    let out = run(opsbox().arg("--list"));
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out), APPLETS.map(|a| format!("{a}\n")).concat());
}

#[test]
fn version() {
    let out = run(opsbox().arg("--version"));
    assert_eq!(code(&out), 0);
    assert_eq!(
        stdout(&out),
        format!("opsbox {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn every_applet_helps_through_link_and_multiplexer() {
    for a in APPLETS {
        let via_link = run(applet(a).arg("--help"));
        assert_eq!(code(&via_link), 0, "{a} --help: {}", stderr(&via_link));
        assert!(
            stdout(&via_link).starts_with(&format!("Usage: {a}")),
            "{a}: {}",
            stdout(&via_link)
        );
        assert!(via_link.stderr.is_empty());
        let short = run(applet(a).arg("-h"));
        assert_eq!(stdout(&short), stdout(&via_link), "{a} -h");
        let via_opsbox = run(opsbox().args([a, "--help"]));
        assert_eq!(stdout(&via_opsbox), stdout(&via_link), "opsbox {a} --help");
        let via_help = run(opsbox().args(["--help", a]));
        assert_eq!(stdout(&via_help), stdout(&via_link), "opsbox --help {a}");
    }
}

#[test]
fn opsbox_help_lists_applets_and_exit_codes() {
    let out = run(opsbox().arg("--help"));
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    for a in APPLETS {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(a)),
            "{a} missing from:\n{text}"
        );
    }
    assert!(text.contains("127 unknown applet"));
}

#[test]
fn unknown_applet_exits_127() {
    let out = run(opsbox().arg("frobnicate"));
    assert_eq!(code(&out), 127);
    assert_eq!(stderr(&out), "opsbox: frobnicate: applet not found\n");
    opsbox()
        .arg("zone2r35")
        .run()
        .code(127)
        .stderr_is("opsbox: zone2r35: applet not found (did you mean 'zone2r53'?)\n");
    opsbox()
        .arg("needs")
        .run()
        .code(127)
        .stderr_is("opsbox: needs: applet not found (did you mean 'needs-restart'?)\n");

    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("frobnicate");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let out = run(&mut std::process::Command::new(&link));
    assert_eq!(code(&out), 127);
    assert_eq!(stderr(&out), "opsbox: frobnicate: applet not found\n");

    let out = run(opsbox().args(["--help", "frobnicate"]));
    assert_eq!(code(&out), 127);
}

#[test]
fn a_name_starting_with_opsbox_is_the_multiplexer() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("opsbox-1.0");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let out = run(std::process::Command::new(&link).arg("--list"));
    assert_eq!(stdout(&out).lines().count(), APPLETS.len());
}

#[test]
fn usage_errors_exit_64_with_one_line_and_a_hint() {
    for a in APPLETS {
        let out = run(applet(a).arg("--no-such-option"));
        assert_eq!(code(&out), 64, "{a}");
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{a}: {err}");
        assert!(
            lines[0].starts_with(&format!("{a}: ")) && lines[0].contains("--no-such-option"),
            "{err}"
        );
        assert_eq!(lines[1], format!("Try '{a} --help' for more information."));
        assert!(!err.contains("panicked"));
    }
    let out = run(&mut opsbox());
    assert_eq!(code(&out), 64);
    assert!(stderr(&out).starts_with("Usage: opsbox"));
    let out = run(opsbox().arg("--bogus"));
    assert_eq!(code(&out), 64);
    assert_eq!(
        stderr(&out).lines().next(),
        Some("opsbox: unknown option '--bogus'")
    );
}

#[test]
fn non_utf8_arguments_are_a_usage_error() {
    let bad = std::ffi::OsStr::from_bytes(b"zone\xff.db");
    for a in APPLETS {
        let out = run(applet(a).arg(bad));
        assert_eq!(code(&out), 64, "{a}");
        assert!(
            stderr(&out).starts_with(&format!("{a}: argument 1 is not valid UTF-8")),
            "{}",
            stderr(&out)
        );
    }
}

/// A reader that went away (`opsbox --list | head -0`) is not an error: exit 0, nothing on
/// stderr. The pipe's read end is closed before the child starts, so every write fails.
#[test]
fn closed_stdout_pipe_exits_zero_silently() {
    let cases: Vec<Vec<&str>> = vec![
        vec!["--list"],
        vec!["--help"],
        vec!["--version"],
        vec!["genfw", "--help"],
        vec!["zone2r53", "--help"],
    ];
    for args in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = opsbox()
            .args(&args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn install_symlinks_then_refuses_to_clobber() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("zone2r53"), "my own script\n").unwrap();

    let out = run(opsbox().args(["--install", "-s"]).arg(d));
    assert_eq!(
        code(&out),
        73,
        "a foreign file must be reported: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("zone2r53: exists and is not a link to opsbox"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("zone2r53")).unwrap(),
        "my own script\n"
    );

    let real = std::fs::canonicalize(real_bin()).unwrap();
    for a in APPLETS.iter().filter(|a| **a != "zone2r53") {
        let target = std::fs::read_link(d.join(a)).unwrap();
        assert_eq!(target, real, "{a}");
        let out = run(exec(&d.join(a)).arg("--help"));
        assert!(stdout(&out).starts_with(&format!("Usage: {a}")));
    }

    // Running it again is a no-op apart from the same refusal.
    let out = run(opsbox().args(["--install", "-s"]).arg(d));
    assert_eq!(code(&out), 73);

    // -f replaces the foreign file.
    let out = run(opsbox().args(["--install", "-s", "-f"]).arg(d));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_link(d.join("zone2r53")).unwrap(), real);
    assert_eq!(
        std::fs::read_dir(d).unwrap().count(),
        APPLETS.len(),
        "no temporary files left"
    );
}

#[test]
fn install_hard_links() {
    // Hard links need the same filesystem as the binary: make the directory beside it.
    let bin_dir = std::fs::canonicalize(real_bin())
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let dir = tempfile::tempdir_in(&bin_dir).unwrap();
    let out = run(opsbox().arg("--install").arg(dir.path()));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ino = std::fs::metadata(real_bin()).unwrap().ino();
    for a in APPLETS {
        let m = std::fs::symlink_metadata(dir.path().join(a)).unwrap();
        assert!(m.file_type().is_file(), "{a}");
        assert_eq!(m.ino(), ino, "{a} is not a hard link to opsbox");
    }
    // Switching an existing installation to symlinks replaces our own hard links.
    let out = run(opsbox().args(["--install", "-s"]).arg(dir.path()));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        std::fs::symlink_metadata(dir.path().join("genfw"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn install_usage_errors() {
    let out = run(opsbox().arg("--install"));
    assert_eq!(code(&out), 64);
    assert_eq!(
        stderr(&out).lines().next(),
        Some("opsbox: --install: missing DIR")
    );
    // a directory that cannot be made: exit 73, saying why
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "").unwrap();
    let under_file = dir.path().join("file/bin");
    let out = run(opsbox().arg("--install").arg(&under_file));
    assert_eq!(code(&out), 73);
    assert_eq!(
        stderr(&out),
        format!("opsbox: {}: Not a directory\n", under_file.display())
    );
}

/// A missing directory is made; every link is said on stdout, also when it was there.
#[test]
fn install_makes_the_directory_and_says_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("new/bin");
    let real = std::fs::canonicalize(real_bin()).unwrap();
    let ran = opsbox().args(["--install", "-s"]).arg(&d).run();
    ran.ok();
    let mut want = format!("created {}/\n", d.display());
    for a in APPLETS {
        want.push_str(&format!("{} -> {}\n", d.join(a).display(), real.display()));
        assert_eq!(std::fs::read_link(d.join(a)).unwrap(), real, "{a}");
    }
    // DIR is PREFIX/bin: the completions went to PREFIX/share, each file said
    let share = dir.path().join("new/share");
    for f in [
        "bash-completion/completions/opsbox",
        "bash-completion/completions/zone2r53",
        "zsh/vendor-completions/_genfw",
        "fish/vendor_completions.d/needs-restart.fish",
    ] {
        assert!(share.join(f).is_file(), "{f}");
        want.push_str(&format!("{}\n", share.join(f).display()));
    }
    let said = ran.stdout();
    for line in want.lines() {
        assert!(said.lines().any(|l| l == line), "{line} not said:\n{said}");
    }
    assert_eq!(
        said.lines().count(),
        1 + APPLETS.len() + 3 * (1 + APPLETS.len())
    );
    let again = opsbox().args(["--install", "-s"]).arg(&d).run();
    again
        .ok()
        .stdout_has(&format!(
            "{} -> {} (already there)\n",
            d.join("genfw").display(),
            real.display()
        ))
        .stdout_lacks("created");
    assert_eq!(
        again.stdout().lines().count(),
        APPLETS.len() + 3 * (1 + APPLETS.len())
    );
}

/// When scripts/test (or scripts/build) has made dist/opsbox, it must be a static
/// executable and its dist/bin links must work.
#[test]
fn dist_binary_is_static_and_links_dispatch() {
    let dist = root().join("dist/opsbox");
    if !dist.exists() {
        assert!(!strict(), "scripts/test builds dist/opsbox first");
        eprintln!("skipped: no dist/opsbox (run scripts/build)");
        return;
    }
    if have_tool("file") {
        let out = run(std::process::Command::new("file").arg("-b").arg(&dist));
        assert!(
            stdout(&out).contains("statically linked"),
            "{}",
            stdout(&out)
        );
    }
    let out = run(std::process::Command::new("ldd").arg(&dist));
    assert_ne!(code(&out), 0, "ldd thinks it is dynamic: {}", stdout(&out));
    let out = run(std::process::Command::new(root().join("dist/bin/genfw")).arg("--help"));
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).starts_with("Usage: genfw"));
}
