//! opsbox: one static binary, many applets (BusyBox-style dispatch only; the applets live
//! in `applets/`).

mod completions;
mod install;

use opsbox_common::{Error, ExitCode, cli, escape, exit};
use std::ffi::OsString;
use std::io::Write;

type RunFn = fn(Vec<String>) -> Result<ExitCode, Error>;

/// One applet: its name (and link name), its one-line summary, its entry point.
pub struct Applet {
    pub name: &'static str,
    pub about: &'static str,
    pub run: RunFn,
    /// Its options and subcommands, for shell completions.
    pub info: fn() -> opsbox_common::cli::Info,
}

/// Every applet, sorted by name. (`--cfg opsbox_without="NAME"` leaves one out: that is
/// how `scripts/size` measures what each applet adds to the binary.)
pub const APPLETS: &[Applet] = &[
    #[cfg(not(opsbox_without = "genfw"))]
    Applet {
        name: genfw::NAME,
        about: genfw::ABOUT,
        run: genfw::run,
        info: genfw::info,
    },
    #[cfg(not(opsbox_without = "needs-restart"))]
    Applet {
        name: needs_restart::NAME,
        about: needs_restart::ABOUT,
        run: needs_restart::run,
        info: needs_restart::info,
    },
    #[cfg(not(opsbox_without = "ser2tcp"))]
    Applet {
        name: ser2tcp::NAME,
        about: ser2tcp::ABOUT,
        run: ser2tcp::run,
        info: ser2tcp::info,
    },
    #[cfg(not(opsbox_without = "updateinfo"))]
    Applet {
        name: updateinfo::NAME,
        about: updateinfo::ABOUT,
        run: updateinfo::run,
        info: updateinfo::info,
    },
    #[cfg(not(opsbox_without = "zone2r53"))]
    Applet {
        name: zone2r53::NAME,
        about: zone2r53::ABOUT,
        run: zone2r53::run,
        info: zone2r53::info,
    },
];

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_else(|| OsString::from("opsbox"));
    let rest: Vec<OsString> = argv.collect();
    let name = basename(&argv0);

    if name.starts_with("opsbox") {
        let args = match utf8_args("opsbox", rest) {
            Ok(a) => a,
            Err(code) => return code,
        };
        multiplexer(args)
    } else {
        match find(&name) {
            Some(applet) => run_applet(applet, rest),
            None => not_found(&name),
        }
    }
}

fn basename(argv0: &OsString) -> String {
    let s = argv0.to_string_lossy();
    s.rsplit('/').next().unwrap_or(&s).to_string()
}

fn find(name: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|a| a.name == name)
}

/// `opsbox: NAME: applet not found`, with the closest applet's name when one is close.
fn not_found(name: &str) -> ExitCode {
    let names: Vec<&str> = APPLETS.iter().map(|a| a.name).collect();
    let hint = match cli::did_you_mean(name, &names) {
        Some(near) => format!(" (did you mean '{near}'?)"),
        None => String::new(),
    };
    eprintln_safe(&format!(
        "opsbox: {}: applet not found{hint}",
        escape::text(name)
    ));
    ExitCode::from(exit::NOTFOUND)
}

/// Arguments must be UTF-8: a clear usage error otherwise, never a panic.
fn utf8_args(who: &str, args: Vec<OsString>) -> Result<Vec<String>, ExitCode> {
    let mut out = Vec::with_capacity(args.len());
    for (i, a) in args.into_iter().enumerate() {
        match a.into_string() {
            Ok(s) => out.push(s),
            Err(bad) => {
                eprintln_safe(&format!(
                    "{who}: argument {} is not valid UTF-8: {}",
                    i + 1,
                    bad.to_string_lossy()
                ));
                return Err(ExitCode::from(exit::USAGE));
            }
        }
    }
    Ok(out)
}

fn run_applet(applet: &Applet, args: Vec<OsString>) -> ExitCode {
    let args = match utf8_args(applet.name, args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    // `APPLET --version`, for every applet alike
    let outcome = match args.as_slice() {
        [only] if only == "--version" => cli::version(applet.name),
        _ => (applet.run)(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => report(applet.name, &e),
    }
}

/// Print `WHO: message` (and the hint line) on stderr; return the error's exit code.
fn report(who: &str, e: &Error) -> ExitCode {
    if let Some(m) = e.message() {
        eprintln_safe(&format!("{who}: {m}"));
    }
    if let Some(h) = e.hint() {
        eprintln_safe(h);
    }
    e.exit_code()
}

fn eprintln_safe(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

const USAGE: &str = "\
Usage: opsbox APPLET [ARGS...]
       APPLET [ARGS...]            (through a link named after the applet)
       APPLET --version
       opsbox --list
       opsbox --install [-s] [-f] DIR
       opsbox --completions bash|zsh|fish
       opsbox --install-completions SHARE
       opsbox --help [APPLET]
       opsbox --version

Options:
  --list              print the applet names, one a line
  --install [-s] [-f] DIR
                      create a link named after each applet in DIR (made if
                      missing), pointing at this binary, and say each on stdout
                      (-s: symbolic links; -f: replace files that are not already
                      such links)
                      Completions for bash, zsh and fish go to PREFIX/share
                      too when DIR is PREFIX/bin.
  --completions SHELL print the completion script of bash, zsh or fish for
                      opsbox and every applet
  --install-completions SHARE
                      write each shell's completion files under SHARE
                      (bash-completion/completions/, zsh/vendor-completions/,
                      fish/vendor_completions.d/), saying each on stdout
  --help [APPLET]     this help, or an applet's
  --version           print the version

Every applet takes --long=value as well as --long value, and --version.

Exit status: 0 success; 1-3 an applet's documented answer; 64 usage error;
65 bad input data; 66 input missing or unreadable; 69 required tool or device
unavailable; 73 cannot create output; 74 I/O error; 127 unknown applet.
";

fn print_stdout(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`opsbox --list | head -1`) is not an error.
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    ExitCode::SUCCESS
}

fn multiplexer(args: Vec<String>) -> ExitCode {
    let Some(first) = args.first() else {
        eprintln_safe(USAGE.trim_end());
        return ExitCode::from(exit::USAGE);
    };
    match first.as_str() {
        "--list" | "-l" if args.len() == 1 => {
            let list: String = APPLETS.iter().map(|a| format!("{}\n", a.name)).collect();
            print_stdout(&list)
        }
        "--version" | "-V" if args.len() == 1 => print_stdout(&format!("opsbox {VERSION}\n")),
        "--help" | "-h" => match args.get(1) {
            None => {
                let mut text = format!(
                    "opsbox {VERSION}: operations tools in one static binary\n\n{USAGE}\nApplets:\n"
                );
                for a in APPLETS {
                    text.push_str(&format!("  {:<15} {}\n", a.name, a.about));
                }
                print_stdout(&text)
            }
            Some(name) => match find(name) {
                Some(applet) => run_applet(applet, vec![OsString::from("--help")]),
                None => not_found(name),
            },
        },
        "--install" => match install::parse(&args[1..]) {
            Ok(opts) => match install::install(&opts, APPLETS.iter().map(|a| a.name)) {
                // beside DIR=PREFIX/bin, the completions go to PREFIX/share
                Ok(code) => match install::share_beside(&opts) {
                    Some(share) => match completions::install(&share, APPLETS) {
                        Ok(()) => code,
                        Err(e) => report("opsbox", &e),
                    },
                    None => code,
                },
                Err(e) => report("opsbox", &e),
            },
            Err(e) => report("opsbox", &e),
        },
        "--completions" => match args.get(1..) {
            Some([shell]) => match completions::Shell::parse(shell) {
                Ok(sh) => print_stdout(&completions::script(sh, APPLETS)),
                Err(e) => report("opsbox", &e),
            },
            _ => report(
                "opsbox",
                &Error::usage("--completions: give one shell: bash, zsh or fish")
                    .with_hint("Try 'opsbox --help' for more information."),
            ),
        },
        "--install-completions" => match args.get(1..) {
            Some([dir]) => match completions::install(std::path::Path::new(dir), APPLETS) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => report("opsbox", &e),
            },
            _ => report(
                "opsbox",
                &Error::usage("--install-completions: give one directory (a share/)")
                    .with_hint("Try 'opsbox --help' for more information."),
            ),
        },
        s if s.starts_with('-') => report(
            "opsbox",
            &Error::usage(format!("unknown option '{s}'"))
                .with_hint("Try 'opsbox --help' for more information."),
        ),
        name => match find(name) {
            Some(applet) => run_applet(applet, args[1..].iter().map(OsString::from).collect()),
            None => not_found(name),
        },
    }
}
