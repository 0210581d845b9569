//! Shared helpers of the integration tests: the binary under test, applet links, the
//! shared corpora, and external tools.
//!
//! The binary is `$OPSBOX_BIN` when set (scripts/test sets it to the static `dist/opsbox`),
//! else the debug build cargo made for this test run. Applets are run through symlinks
//! named after them, as users run them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The opsbox binary under test. With `$OPSBOX_RUNNER` set (`qemu-aarch64`, to test a
/// binary of another architecture), it is a script beside the links that runs
/// `$OPSBOX_RUNNER -0 ARGV0 BINARY ARGS...` (qemu-user's way of passing the name the
/// program was called by), so that links, shells and every test run it unchanged.
pub fn bin() -> PathBuf {
    let real = real_bin();
    match std::env::var_os("OPSBOX_RUNNER") {
        Some(runner) if !runner.is_empty() => runner_script(&runner, &real),
        _ => real,
    }
}

/// The binary file itself (`$OPSBOX_BIN` or cargo's build), also under a runner: what
/// `opsbox --install` links to.
pub fn real_bin() -> PathBuf {
    match std::env::var_os("OPSBOX_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_opsbox")),
    }
}

/// A command running the program at `path` (a link to the binary made by a test), through
/// `$OPSBOX_RUNNER` when one is set.
pub fn exec(path: &Path) -> Command {
    match std::env::var_os("OPSBOX_RUNNER") {
        Some(runner) if !runner.is_empty() => {
            let mut c = Command::new(runner);
            c.arg("-0").arg(path).arg(path);
            c
        }
        _ => Command::new(path),
    }
}

fn runner_script(runner: &std::ffi::OsStr, real: &Path) -> PathBuf {
    static SCRIPT: OnceLock<PathBuf> = OnceLock::new();
    SCRIPT
        .get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("runner-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let real = std::fs::canonicalize(real)
                .unwrap_or_else(|e| panic!("OPSBOX_BIN {}: {e}", real.display()));
            let q =
                |s: &std::ffi::OsStr| format!("'{}'", s.to_str().unwrap().replace('\'', "'\\''"));
            let script = dir.join("opsbox");
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\nexec {} -0 \"$0\" {} \"$@\"\n",
                    q(runner),
                    q(real.as_os_str())
                ),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            script
        })
        .clone()
}

/// A directory holding one symlink per applet, pointing at [`bin`] (made once per process).
pub fn links_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new(bin())
            .arg("--list")
            .output()
            .expect("run opsbox --list");
        for name in String::from_utf8(out.stdout).unwrap().lines() {
            std::os::unix::fs::symlink(bin(), dir.join(name)).unwrap();
        }
        dir
    })
}

/// A command running `applet` through its symlink.
pub fn applet(name: &str) -> Command {
    Command::new(links_dir().join(name))
}

/// `opsbox ARGS...` (the multiplexer form).
pub fn opsbox() -> Command {
    Command::new(bin())
}

/// Run and capture; panics only if the process could not be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit code (panics if killed by a signal: that is always a test failure).
pub fn code(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {:?}\nstderr: {}", o.status, stderr(o)))
}

/// The project's root directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the checkout (or `$OPSBOX_SHARED`), if it is there. Tests that read
/// the corpora call this and skip, saying so, when it is absent (a user's clone has none).
pub fn shared() -> Option<PathBuf> {
    let p = std::env::var_os("OPSBOX_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"));
    if p.join("corpus").is_dir() {
        Some(p)
    } else {
        eprintln!(
            "skipped: the shared corpora ({}) are not beside this checkout",
            p.display()
        );
        None
    }
}

/// True when scripts/test runs us: every tool has been installed, so a missing one is a
/// failure, not a skip.
pub fn strict() -> bool {
    std::env::var_os("OPSBOX_STRICT").is_some_and(|v| v == "1")
}

/// The firmware image (`$OPSBOX_FIRMWARE_ELF`, else `dist/firmware.elf`, which
/// scripts/firmware builds) when it and the `tools` are there. Missing: a skip with a
/// message, or under [`strict`] (scripts/test builds the firmware first) a failure.
pub fn firmware(tools: &[&str]) -> Option<PathBuf> {
    let elf = std::env::var_os("OPSBOX_FIRMWARE_ELF")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("dist/firmware.elf"));
    if !elf.is_file() {
        assert!(
            !strict(),
            "{} is missing: scripts/firmware should have built it",
            elf.display()
        );
        eprintln!(
            "skipped: no firmware at {} (build it with scripts/firmware, or set OPSBOX_FIRMWARE_ELF)",
            elf.display()
        );
        return None;
    }
    // (every tool is looked for, so that each missing one is said)
    let found = tools.iter().filter(|t| have_tool(t)).count();
    (found == tools.len()).then_some(elf)
}

/// Whether an external program is on PATH. Missing: a skip with a message, or under
/// [`strict`] a failure naming the setup step that should have installed it.
pub fn have_tool(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| is_executable(&d.join(name))))
        .unwrap_or(false);
    if !found {
        assert!(
            !strict(),
            "{name} is not installed: scripts/setup should have installed it"
        );
        eprintln!("skipped: {name} is not installed (scripts/setup installs it)");
    }
    found
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The names `opsbox --list` prints.
pub fn applet_names() -> Vec<String> {
    let out = run(opsbox().arg("--list"));
    stdout(&out).lines().map(str::to_string).collect()
}

/// A finished run, for assertions that read as the behaviour they check:
/// `applet("zone2r53").args(["check", "x.zone"]).run().code(65).stderr_has("x.zone:3:1: ")`.
/// Each assertion's failure message shows the command, its exit code and both outputs.
pub struct Ran {
    what: String,
    out: Output,
}

/// `.run()` on a [`Command`] (from [`applet`], [`opsbox`] or anything else).
pub trait RunExt {
    fn run(&mut self) -> Ran;
    /// Run with `input` on standard input.
    fn run_with(&mut self, input: &[u8]) -> Ran;
}

impl RunExt for Command {
    fn run(&mut self) -> Ran {
        let what = describe(self);
        Ran {
            what,
            out: run(self),
        }
    }

    fn run_with(&mut self, input: &[u8]) -> Ran {
        use std::io::Write;
        use std::process::Stdio;
        let what = describe(self);
        let mut child = self
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        Ran { what, out }
    }
}

/// `genfw check x` for a command run through a link, as a person would type it.
fn describe(cmd: &Command) -> String {
    let prog = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    std::iter::once(prog)
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Ran {
    fn context(&self) -> String {
        format!(
            "`{}` exited {:?}\n--- stdout:\n{}--- stderr:\n{}",
            self.what,
            self.out.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    /// Exit code 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    /// This exit code (a signal is always a failure).
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(self.out.status.code(), Some(want), "{}", self.context());
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, part: &str) -> &Self {
        assert!(
            self.stdout().contains(part),
            "no {part:?} in stdout: {}",
            self.context()
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, part: &str) -> &Self {
        assert!(
            !self.stdout().contains(part),
            "{part:?} in stdout: {}",
            self.context()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, part: &str) -> &Self {
        assert!(
            self.stderr().contains(part),
            "no {part:?} in stderr: {}",
            self.context()
        );
        self
    }

    /// Exactly this on stdout.
    #[track_caller]
    pub fn stdout_is(&self, want: &str) -> &Self {
        assert_eq!(self.stdout(), want, "{}", self.context());
        self
    }

    /// Exactly this on stderr.
    #[track_caller]
    pub fn stderr_is(&self, want: &str) -> &Self {
        assert_eq!(self.stderr(), want, "{}", self.context());
        self
    }

    pub fn stdout(&self) -> String {
        stdout(&self.out)
    }

    pub fn stderr(&self) -> String {
        stderr(&self.out)
    }

    pub fn output(&self) -> &Output {
        &self.out
    }
}
