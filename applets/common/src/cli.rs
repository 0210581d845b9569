//! Argument parsing through argh, without argh's `from_env` (which exits 1 and refuses
//! non-UTF-8 arguments).
//!
//! Every applet's options struct carries `#[argh(help_triggers("-h", "--help"))]`, so a
//! file called `help` is still a file.

use crate::{Error, Result};
use std::io::Write;

/// Parse `args` (without the program name) for the command `cmd` (`["zone2r53"]`, or
/// `["zone2r53", "diff"]` for a subcommand).
///
/// `-h`/`--help` prints the help on stdout and returns a quiet exit 0; a parse error is a
/// usage error (exit 64) with a hint line naming the help option.
///
/// A lone `-` (standard input or output) is fine as an option's value, but argh refuses it
/// as a positional argument: when parsing fails and the arguments hold lone `-`s, the
/// fewest of them that make argh accept the line travel as a stand-in, which positional
/// fields declared with `from_str_fn(cli::path)` turn back into `-`.
///
/// Before argh sees the line: `--version` alone prints `APPLET (opsbox) VERSION`, and at the
/// top level a first argument that misspells one of the applet's subcommands (as given to
/// [`subcommand`]) and is not an existing file is a usage error saying which was meant.
/// `--long=value` is accepted for every option that takes a value: when argh refuses the
/// line and it holds such words, they are split in two (at the first `=`, so the value may
/// hold more) and the line is parsed again.
pub fn parse<T: argh::FromArgs>(cmd: &[&str], args: &[String]) -> Result<T> {
    if let [only] = args
        && only == "--version"
    {
        return version(cmd[0]);
    }
    if cmd.len() == 1 {
        misspelled_subcommand(cmd[0], args)?;
    }
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut outcome = parse_dashes::<T>(cmd, &strs);
    if matches!(&outcome, Err(e) if e.status.is_err() && e.output.contains("Unrecognized argument"))
    {
        let split = split_long_values::<T>(cmd, &strs);
        if split.len() != strs.len() {
            let split: Vec<&str> = split.iter().map(String::as_str).collect();
            outcome = parse_dashes::<T>(cmd, &split);
        }
    }
    match outcome {
        Ok(v) => Ok(v),
        Err(argh::EarlyExit {
            output,
            status: Ok(()),
        }) => {
            let mut out = std::io::stdout().lock();
            out.write_all(output.as_bytes())
                .and_then(|_| {
                    if output.ends_with('\n') {
                        Ok(())
                    } else {
                        out.write_all(b"\n")
                    }
                })
                .and_then(|_| out.flush())
                .map_err(Error::from)?;
            Err(Error::quiet(0))
        }
        Err(argh::EarlyExit {
            output,
            status: Err(()),
        }) => {
            let sub = if cmd.len() > 1 {
                format!("{}: ", cmd[1..].join(" "))
            } else {
                String::new()
            };
            let first = first_message(&output);
            Err(
                Error::usage(format!("{sub}{}", lowercase_first(&first))).with_hint(format!(
                    "Try '{} --help' for more information.",
                    cmd.join(" ")
                )),
            )
        }
    }
}

/// argh's parse, retried with lone `-`s as positionals when it fails (see [`parse`]).
fn parse_dashes<T: argh::FromArgs>(
    cmd: &[&str],
    args: &[&str],
) -> std::result::Result<T, argh::EarlyExit> {
    match T::from_args(cmd, args) {
        Err(argh::EarlyExit {
            status: Err(()), ..
        }) if args.contains(&"-") => positional_dashes(cmd, args),
        other => other,
    }
}

/// What an option name is to argh: found by parsing the name alone, which is refused as
/// unrecognized, or as an option without its value.
#[derive(Clone, Copy, PartialEq, Debug)]
enum OptKind {
    Unknown,
    TakesValue,
    Other,
}

fn opt_kind<T: argh::FromArgs>(cmd: &[&str], name: &str) -> OptKind {
    match T::from_args(cmd, &[name]) {
        Err(e) if e.status.is_err() && e.output.starts_with("Unrecognized argument") => {
            OptKind::Unknown
        }
        Err(e) if e.status.is_err() && e.output.starts_with("No value provided for option") => {
            OptKind::TakesValue
        }
        _ => OptKind::Other,
    }
}

/// The line with each `--long=value` split into `--long`, `value` where `--long` is an
/// option taking a value and the word stands where an option may (not as another option's
/// value, not after `--`).
fn split_long_values<T: argh::FromArgs>(cmd: &[&str], args: &[&str]) -> Vec<String> {
    let mut kinds: Vec<(String, OptKind)> = Vec::new();
    let mut kind = |name: &str| -> OptKind {
        if let Some((_, k)) = kinds.iter().find(|(n, _)| n == name) {
            return *k;
        }
        let k = opt_kind::<T>(cmd, name);
        kinds.push((name.to_string(), k));
        k
    };
    let mut out = Vec::with_capacity(args.len() + 2);
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        if a == "--" {
            out.extend(args[i - 1..].iter().map(|s| s.to_string()));
            break;
        }
        if let Some((name, value)) = a.split_once('=')
            && name.starts_with("--")
            && name.len() > 2
            && kind(name) == OptKind::TakesValue
        {
            out.push(name.to_string());
            out.push(value.to_string());
            continue;
        }
        out.push(a.to_string());
        if a.starts_with('-') && a.len() > 1 && kind(a) == OptKind::TakesValue {
            // its value, whatever it looks like
            if let Some(v) = args.get(i) {
                out.push(v.to_string());
                i += 1;
            }
        }
    }
    out
}

/// `APPLET --version`: `APPLET (opsbox) VERSION` on stdout, exit 0.
pub fn version<T>(applet: &str) -> Result<T> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{applet} (opsbox) {}", env!("CARGO_PKG_VERSION"))
        .and_then(|_| out.flush())
        .map_err(Error::from)?;
    Err(Error::quiet(0))
}

thread_local! {
    /// The subcommand names the running applet gave [`subcommand`].
    static SUBCOMMANDS: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A top-level first argument that is no subcommand, no option and no existing file but
/// is close to a subcommand's name: `APPLET: unknown command 'chek' (did you mean 'check'?)`.
fn misspelled_subcommand(applet: &str, args: &[String]) -> Result<()> {
    let Some(first) = args.first() else {
        return Ok(());
    };
    if first.starts_with('-') || first.contains('/') || std::path::Path::new(first).exists() {
        return Ok(());
    }
    let names = SUBCOMMANDS.with(|s| s.borrow().clone());
    let visible: Vec<&str> = names.into_iter().filter(|n| !n.starts_with('_')).collect();
    if visible.contains(&first.as_str()) {
        return Ok(());
    }
    match did_you_mean(first, &visible) {
        Some(near) => Err(Error::usage(format!(
            "unknown command '{}' (did you mean '{near}'?)",
            crate::escape::text(first)
        ))
        .with_hint(format!("Try '{applet} --help' for more information."))),
        None => Ok(()),
    }
}

/// The name in `names` closest to `word` within an edit distance of 2 (optimal string
/// alignment: a swap of two letters is one edit), or of which `word` is a prefix of three
/// letters or more; ties go to the first.
pub fn did_you_mean<'a>(word: &str, names: &[&'a str]) -> Option<&'a str> {
    let mut best: Option<(usize, &'a str)> = None;
    for n in names {
        let d = strsim::osa_distance(word, n);
        let d = if word.len() >= 3 && n.starts_with(word) {
            d.min(2)
        } else {
            d
        };
        if d <= 2 && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, n));
        }
    }
    best.map(|(_, n)| n)
}

/// What a lone `-` positional argument travels as through argh (see [`parse`]).
const DASH: &str = "\u{1}-";

/// A value parser for argh (`from_str_fn(cli::path)`) for positional arguments that may be
/// `-`: it turns [`parse`]'s stand-in back into `-`.
pub fn path(s: &str) -> std::result::Result<String, String> {
    Ok(if s == DASH {
        "-".to_string()
    } else {
        s.to_string()
    })
}

/// Retry a failed parse with the fewest lone `-`s replaced by the stand-in (at most four
/// of them are considered: more is no command line anyone types). When nothing works, the
/// error is the one argh gives with every `-` replaced: the line's real problem.
fn positional_dashes<T: argh::FromArgs>(
    cmd: &[&str],
    args: &[&str],
) -> std::result::Result<T, argh::EarlyExit> {
    let dashes: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(_, a)| **a == "-")
        .map(|(i, _)| i)
        .take(4)
        .collect();
    let mut subsets: Vec<u32> = (1..1u32 << dashes.len()).collect();
    subsets.sort_by_key(|m| m.count_ones());
    let mut last = None;
    for mask in subsets {
        let mut tried = args.to_vec();
        for (bit, &i) in dashes.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                tried[i] = DASH;
            }
        }
        match T::from_args(cmd, &tried) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(argh::EarlyExit { output, status }) => Err(argh::EarlyExit {
            output: output.replace(DASH, "-"),
            status,
        }),
        None => T::from_args(cmd, args),
    }
}

/// The subcommand a first argument names, if any: `updateinfo inject …` selects `inject`,
/// `updateinfo errata.xml` selects none (the argument is an input file).
///
/// The names are remembered for [`parse`], which answers a misspelled one with a usage
/// error naming the closest (names starting with `_` are hidden and never suggested).
pub fn subcommand<'a>(
    args: &'a [String],
    names: &[&'static str],
) -> (Option<&'static str>, &'a [String]) {
    SUBCOMMANDS.with(|s| *s.borrow_mut() = names.to_vec());
    match args.first() {
        Some(first) => match names.iter().find(|n| **n == first.as_str()) {
            Some(name) => (Some(*name), &args[1..]),
            None => (None, args),
        },
        None => (None, args),
    }
}

/// What shell completions are generated from (argh's `ArgsInfo`, as `--help` shows it).
pub type Info = argh::CommandInfoWithArgs;

/// An applet's command tree for completions: its top-level options (`T`) and, for each
/// subcommand [`subcommand`] selects, that subcommand's (`(name, info)`).
pub fn info<T: argh::ArgsInfo>(
    name: &'static str,
    about: &'static str,
    subs: Vec<(&'static str, Info)>,
) -> Info {
    let mut top = T::get_args_info();
    top.name = name;
    top.description = about;
    top.commands = subs
        .into_iter()
        .map(|(sub, mut command)| {
            command.name = sub;
            argh::SubCommandInfo { name: sub, command }
        })
        .collect();
    top
}

/// A value parser for argh: a number within bounds, with a plain message.
pub fn number_in<T>(s: &str, lo: T, hi: T) -> std::result::Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match s.parse::<T>() {
        Ok(v) if v >= lo && v <= hi => Ok(v),
        _ => Err(format!("'{s}' is not a number from {lo} to {hi}")),
    }
}

/// argh's first message as one line: `Required positional arguments not provided:` and the
/// indented names under it become `…provided: zone, current`.
fn first_message(output: &str) -> String {
    let mut lines = output.lines().skip_while(|l| l.trim().is_empty());
    let Some(first) = lines.next() else {
        return "invalid arguments".to_string();
    };
    let first = first.trim();
    if !first.ends_with(':') {
        return first.to_string();
    }
    let names: Vec<&str> = lines
        .take_while(|l| l.starts_with(' '))
        .map(str::trim)
        .collect();
    if names.is_empty() {
        first.to_string()
    } else {
        format!("{first} {}", names.join(", "))
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        // keep acronyms and option names as they are
        Some(f) if f.is_uppercase() && !c.clone().next().is_some_and(char::is_uppercase) => {
            f.to_lowercase().chain(c).collect()
        }
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argh::FromArgs;

    /// test applet
    #[derive(FromArgs, Debug)]
    #[argh(help_triggers("-h", "--help"))]
    struct Opts {
        /// a number
        #[argh(option, short = 'n', from_str_fn(small))]
        n: Option<u8>,
        /// the input
        #[argh(positional)]
        file: Option<String>,
    }
    fn small(s: &str) -> std::result::Result<u8, String> {
        number_in(s, 1, 9)
    }
    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn help_word_is_a_file() {
        let o: Opts = parse(&["t"], &v(&["help"])).unwrap();
        assert_eq!((o.file.as_deref(), o.n), (Some("help"), None));
        let o: Opts = parse(&["t"], &v(&["-n", "3"])).unwrap();
        assert_eq!(o.n, Some(3));
    }

    #[test]
    fn errors_are_usage_with_hint() {
        let e = parse::<Opts>(&["t"], &v(&["--bogus"])).unwrap_err();
        assert_eq!(e.code(), 64);
        assert!(e.message().unwrap().contains("--bogus"), "{e:?}");
        assert_eq!(e.hint(), Some("Try 't --help' for more information."));
        let e = parse::<Opts>(&["t", "sub"], &v(&["-n", "10"])).unwrap_err();
        assert!(e.message().unwrap().starts_with("sub: "), "{e:?}");
        assert!(e.message().unwrap().contains("from 1 to 9"), "{e:?}");
    }

    /// test applet with a positional that may be `-` and an output option
    #[derive(FromArgs, Debug)]
    #[argh(help_triggers("-h", "--help"))]
    struct Files {
        /// output
        #[argh(option, short = 'o')]
        output: Option<String>,
        /// a name
        #[argh(option)]
        name: Option<String>,
        /// a switch
        #[argh(switch)]
        lenient: bool,
        /// inputs
        #[argh(positional, from_str_fn(path))]
        inputs: Vec<String>,
    }

    #[test]
    fn lone_dash_as_positional_and_as_option_value() {
        let o: Files = parse(&["t"], &v(&["-o", "-", "--lenient", "-", "b"])).unwrap();
        assert_eq!(
            (o.output.as_deref(), o.lenient, o.inputs),
            (Some("-"), true, v(&["-", "b"]))
        );
        let o: Files = parse(&["t"], &v(&["a", "-", "-o", "-"])).unwrap();
        assert_eq!((o.output.as_deref(), o.inputs), (Some("-"), v(&["a", "-"])));
        let o: Files = parse(&["t"], &v(&["-o", "x"])).unwrap();
        assert_eq!((o.output.as_deref(), o.inputs.len()), (Some("x"), 0));
        // other errors are still reported as they were
        let e = parse::<Files>(&["t"], &v(&["-", "--bogus"])).unwrap_err();
        assert!(e.message().unwrap().contains("--bogus"), "{e:?}");
    }

    #[test]
    fn subcommand_selection() {
        let a = v(&["inject", "x"]);
        assert_eq!(
            subcommand(&a, &["inject", "check"]),
            (Some("inject"), &a[1..])
        );
        let a = v(&["errata.xml"]);
        assert_eq!(subcommand(&a, &["inject", "check"]), (None, &a[..]));
    }

    #[test]
    fn long_option_with_equals_value() {
        let o: Files = parse(&["t"], &v(&["--output=a=b", "x"])).unwrap();
        assert_eq!((o.output.as_deref(), o.inputs), (Some("a=b"), v(&["x"])));
        let o: Files = parse(&["t"], &v(&["--output=", "--lenient"])).unwrap();
        assert_eq!((o.output.as_deref(), o.lenient), (Some(""), true));
        // a word standing as another option's value is that value, whole
        let o: Files = parse(&["t"], &v(&["-o", "--name=x", "--name=y"])).unwrap();
        assert_eq!(
            (o.output.as_deref(), o.name.as_deref()),
            (Some("--name=x"), Some("y"))
        );
        let o: Files = parse(&["t"], &v(&["--output=-", "-"])).unwrap();
        assert_eq!((o.output.as_deref(), o.inputs), (Some("-"), v(&["-"])));
        // after `--` nothing is split
        let o: Files = parse(&["t"], &v(&["--", "--output=x"])).unwrap();
        assert_eq!((o.output, o.inputs), (None, v(&["--output=x"])));
        // a switch takes no value, an unknown option stays unknown
        let e = parse::<Files>(&["t"], &v(&["--lenient=yes"])).unwrap_err();
        assert!(e.message().unwrap().contains("--lenient=yes"), "{e:?}");
        let e = parse::<Files>(&["t"], &v(&["--bogus=1"])).unwrap_err();
        assert!(e.message().unwrap().contains("--bogus=1"), "{e:?}");
        let e = parse::<Opts>(&["t"], &v(&["--n=10"])).unwrap_err();
        assert!(e.message().unwrap().contains("from 1 to 9"), "{e:?}");
    }

    /// test applet with required arguments
    #[derive(FromArgs, Debug)]
    #[argh(help_triggers("-h", "--help"))]
    struct Needs {
        /// a needed option
        #[argh(option)]
        current: String,
        /// the zone
        #[argh(positional)]
        zone: String,
        /// the origin
        #[argh(positional)]
        origin: String,
    }

    #[test]
    fn missing_arguments_are_named_on_the_line() {
        let e = parse::<Needs>(&["t"], &v(&[])).unwrap_err();
        assert_eq!(
            e.message(),
            Some("required positional arguments not provided: zone, origin")
        );
        let o: Needs = parse(&["t"], &v(&["--current=c", "a", "b"])).unwrap();
        assert_eq!((&*o.current, &*o.zone, &*o.origin), ("c", "a", "b"));
        let e = parse::<Needs>(&["t"], &v(&["a", "b"])).unwrap_err();
        assert_eq!(
            e.message(),
            Some("required options not provided: --current")
        );
    }

    #[test]
    fn version_alone_is_answered() {
        let e = parse::<Opts>(&["t"], &v(&["--version"])).unwrap_err();
        assert_eq!((e.code(), e.message()), (0, None));
        let e = parse::<Opts>(&["t"], &v(&["--version", "x"])).unwrap_err();
        assert_eq!(e.code(), 64);
    }

    #[test]
    fn misspelled_subcommands() {
        let a = v(&["chek", "x"]);
        assert_eq!(subcommand(&a, &["check", "diff", "__hidden"]).0, None);
        let e = parse::<Opts>(&["t"], &a).unwrap_err();
        assert_eq!(e.code(), 64);
        assert_eq!(
            e.message(),
            Some("unknown command 'chek' (did you mean 'check'?)")
        );
        // far from every name, an option, a path, or an existing file: not a command
        for ok in [&["zone.db"][..], &["-n", "3"], &["./chek"], &["__hidde"]] {
            let a = v(ok);
            subcommand(&a, &["check", "diff", "__hidden"]);
            assert!(parse::<Opts>(&["t"], &a).is_ok(), "{ok:?}");
        }
        // (tests run in the crate's directory, which has `src`)
        let a = v(&["src"]);
        subcommand(&a, &["srv", "check"]);
        assert!(
            parse::<Opts>(&["t"], &a).is_ok(),
            "an existing file is a file"
        );
    }

    #[test]
    fn suggestions() {
        let names = [
            "genfw",
            "needs-restart",
            "ser2tcp",
            "updateinfo",
            "zone2r53",
        ];
        assert_eq!(did_you_mean("zone2r35", &names), Some("zone2r53"));
        assert_eq!(did_you_mean("genwf", &names), Some("genfw"));
        assert_eq!(did_you_mean("needs", &names), Some("needs-restart"));
        assert_eq!(did_you_mean("frobnicate", &names), None);
        assert_eq!(did_you_mean("ne", &names), None);
    }
}
