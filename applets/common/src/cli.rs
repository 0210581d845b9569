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
pub fn parse<T: argh::FromArgs>(cmd: &[&str], args: &[String]) -> Result<T> {
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = T::from_args(cmd, &strs);
    let outcome = match first {
        Err(argh::EarlyExit {
            status: Err(()), ..
        }) if strs.contains(&"-") => positional_dashes(cmd, &strs),
        other => other,
    };
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
            let first = output
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("invalid arguments");
            Err(
                Error::usage(format!("{sub}{}", lowercase_first(first))).with_hint(format!(
                    "Try '{} --help' for more information.",
                    cmd.join(" ")
                )),
            )
        }
    }
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
pub fn subcommand<'a>(
    args: &'a [String],
    names: &[&'static str],
) -> (Option<&'static str>, &'a [String]) {
    match args.first() {
        Some(first) => match names.iter().find(|n| **n == first.as_str()) {
            Some(name) => (Some(*name), &args[1..]),
            None => (None, args),
        },
        None => (None, args),
    }
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
}
