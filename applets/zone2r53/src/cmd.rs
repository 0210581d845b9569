//! The command line: options, loading a zone, writing batches, the subcommands.

use crate::batch::{self, Action};
use crate::diff::{self, DiffOpts, Mode};
use crate::name::{Escapes, Name};
use crate::parser::{MAX_WARNINGS, Options, Parsed, Parser, Problem};
use crate::zone::{self, BuildOpts, Zone};
use crate::{NAME, export, outdir, push, r53json, zerigo};
use argh::FromArgs;
use opsbox_common::output::{self, Output};
use opsbox_common::{Error, ExitCode, Result, ResultExt, cli, escape, exit, input};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

const COMMANDS: &str = "Commands:\n  diff     the minimal batches from Route 53's current record sets to the zone file\n  export   Route 53's record sets (list-resource-record-sets JSON) as a zone file\n  check    validate only, like named-checkzone: exit 1 with the problem list\n  push     apply batches with the AWS CLI, one at a time, each waited for until INSYNC";

/// Largest Zerigo XML document read.
const MAX_XML: u64 = 64 << 20;

fn records(s: &str) -> std::result::Result<usize, String> {
    cli::number_in(s, 1, batch::MAX_RECORDS)
}
fn chars(s: &str) -> std::result::Result<usize, String> {
    cli::number_in(s, 1, batch::MAX_CHARS)
}
fn ttl(s: &str) -> std::result::Result<u32, String> {
    cli::number_in(s, 0, 2_147_483_647)
}
fn pct(s: &str) -> std::result::Result<u32, String> {
    cli::number_in(s, 0, 100)
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(help_triggers("-h", "--help"), note = "{COMMANDS}")]
/// convert a BIND zone file (or Zerigo XML) into Route 53 change batches, offline.
struct ConvertOpts {
    /// the zone's name, for files without $ORIGIN before their first relative name
    #[argh(option)]
    origin: Option<String>,
    /// input format: zone (default) or zerigo (detected when the input starts with '<')
    #[argh(option)]
    from: Option<String>,
    /// CREATE (default), UPSERT or DELETE
    #[argh(option, default = "String::from(\"CREATE\")")]
    action: String,
    /// resource records per batch (at most and default 1000)
    #[argh(option, from_str_fn(records))]
    max_records: Option<usize>,
    /// value characters per batch (at most and default 32000)
    #[argh(option, from_str_fn(chars))]
    max_chars: Option<usize>,
    /// write the batch here instead of standard output
    #[argh(option, short = 'o')]
    output: Option<String>,
    /// write batch-0001.json... here (needed when there is more than one batch)
    #[argh(option)]
    out_dir: Option<String>,
    /// drop (and report) what Route 53 cannot hold instead of failing
    #[argh(switch)]
    lenient: bool,
    /// send the apex SOA too (as UPSERT)
    #[argh(switch)]
    with_soa: bool,
    /// send the apex NS records too
    #[argh(switch)]
    with_apex_ns: bool,
    /// the hosted zone's id, for cli53 aliases to $self
    #[argh(option)]
    zone_id: Option<String>,
    /// refuse $INCLUDE
    #[argh(switch)]
    no_include: bool,
    /// resolve relative $INCLUDE paths from this directory (default: the including file's)
    #[argh(option)]
    include_dir: Option<String>,
    /// TTL for Zerigo hosts without one (default 3600)
    #[argh(option, from_str_fn(ttl))]
    default_ttl: Option<u32>,
    /// no warnings on standard error
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// the zone file, or - for standard input
    #[argh(positional, from_str_fn(cli::path))]
    zonefile: String,
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// validate a zone file against Route 53's rules (exit 1 with the problem list).
struct CheckOpts {
    /// the zone's name, for files without $ORIGIN before their first relative name
    #[argh(option)]
    origin: Option<String>,
    /// input format: zone (default) or zerigo
    #[argh(option)]
    from: Option<String>,
    /// report what Route 53 cannot hold as drops, not problems
    #[argh(switch)]
    lenient: bool,
    /// include the apex SOA
    #[argh(switch)]
    with_soa: bool,
    /// include the apex NS records
    #[argh(switch)]
    with_apex_ns: bool,
    /// the hosted zone's id, for cli53 aliases to $self
    #[argh(option)]
    zone_id: Option<String>,
    /// refuse $INCLUDE
    #[argh(switch)]
    no_include: bool,
    /// resolve relative $INCLUDE paths from this directory
    #[argh(option)]
    include_dir: Option<String>,
    /// TTL for Zerigo hosts without one (default 3600)
    #[argh(option, from_str_fn(ttl))]
    default_ttl: Option<u32>,
    /// print the RRsets, one JSON object a line
    #[argh(switch)]
    rrsets: bool,
    /// no warnings on standard error
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// the zone file, or - for standard input
    #[argh(positional, from_str_fn(cli::path))]
    zonefile: String,
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// the minimal change batches from Route 53's record sets to the zone file.
struct DiffCmd {
    /// the JSON of aws route53 list-resource-record-sets (what Route 53 holds)
    #[argh(option)]
    current: String,
    /// create (DELETE+CREATE for changed sets), upsert (default) or sync (also delete)
    #[argh(option, default = "String::from(\"upsert\")")]
    mode: String,
    /// refuse a sync that deletes more than this percentage of the records
    #[argh(option, from_str_fn(pct))]
    max_delete_pct: Option<u32>,
    /// print a readable +/-/~ plan instead of JSON
    #[argh(switch)]
    plan: bool,
    /// exit 1 when there are changes (like git diff --exit-code); 0 otherwise
    #[argh(switch)]
    exit_code: bool,
    /// also compare alias and routing-policy records
    #[argh(switch)]
    with_routing: bool,
    /// the zone's name, for files without $ORIGIN before their first relative name
    #[argh(option)]
    origin: Option<String>,
    /// input format: zone (default) or zerigo
    #[argh(option)]
    from: Option<String>,
    /// resource records per batch (at most and default 1000)
    #[argh(option, from_str_fn(records))]
    max_records: Option<usize>,
    /// value characters per batch (at most and default 32000)
    #[argh(option, from_str_fn(chars))]
    max_chars: Option<usize>,
    /// write the batch here instead of standard output
    #[argh(option, short = 'o')]
    output: Option<String>,
    /// write batch-0001.json... here (needed when there is more than one batch)
    #[argh(option)]
    out_dir: Option<String>,
    /// drop (and report) what Route 53 cannot hold instead of failing
    #[argh(switch)]
    lenient: bool,
    /// compare the apex SOA too (changed: UPSERT)
    #[argh(switch)]
    with_soa: bool,
    /// compare the apex NS records too
    #[argh(switch)]
    with_apex_ns: bool,
    /// the hosted zone's id, for cli53 aliases to $self
    #[argh(option)]
    zone_id: Option<String>,
    /// refuse $INCLUDE
    #[argh(switch)]
    no_include: bool,
    /// resolve relative $INCLUDE paths from this directory
    #[argh(option)]
    include_dir: Option<String>,
    /// TTL for Zerigo hosts without one (default 3600)
    #[argh(option, from_str_fn(ttl))]
    default_ttl: Option<u32>,
    /// no warnings on standard error
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// the zone file, or - for standard input
    #[argh(positional, from_str_fn(cli::path))]
    zonefile: String,
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(help_triggers("-h", "--help"))]
/// Route 53's record sets (list-resource-record-sets JSON) as a zone file.
struct ExportOpts {
    /// the zone's name (default: the SOA's owner, else the shortest name)
    #[argh(option)]
    origin: Option<String>,
    /// this zone's id: aliases into it are written as $self
    #[argh(option)]
    zone_id: Option<String>,
    /// write the zone file here instead of standard output
    #[argh(option, short = 'o')]
    output: Option<String>,
    /// the JSON file, or - for standard input
    #[argh(positional, from_str_fn(cli::path))]
    rrsets: String,
}

/// What every command that reads a zone needs.
struct Source<'a> {
    file: &'a str,
    origin: Option<&'a str>,
    from: Option<&'a str>,
    no_include: bool,
    include_dir: Option<&'a str>,
    default_ttl: Option<u32>,
    build: BuildOpts,
    quiet: bool,
}

struct Loaded {
    parsed: Parsed,
    zone: Zone,
}

impl Loaded {
    fn problems(&self) -> Vec<String> {
        let p = &self.parsed;
        p.problems
            .iter()
            .chain(&self.zone.problems)
            .map(|x| escape::controls(&p.show(x)).into_owned())
            .collect()
    }
}

fn origin_arg(o: Option<&str>) -> Result<Option<Name>> {
    o.map(|s| {
        let s = if s.ends_with('.') {
            s.to_string()
        } else {
            format!("{s}.")
        };
        Name::parse(s.as_bytes(), None, Escapes::Decimal)
            .map(|x| x.0)
            .map_err(|e| Error::usage(format!("--origin: {e}")))
    })
    .transpose()
}

fn say(quiet: bool, parsed: &Parsed, kind: &str, list: &[Problem]) {
    if quiet && kind == "warning" {
        return;
    }
    let mut err = std::io::stderr().lock();
    for p in list {
        let _ = writeln!(err, "{NAME}: {kind}: {}", escape::controls(&parsed.show(p)));
    }
}

/// The parser's and the zone's warnings, at most [`MAX_WARNINGS`] lines, then a count.
fn say_warnings(quiet: bool, parsed: &Parsed, zone: &Zone) {
    if quiet {
        return;
    }
    let all: Vec<&Problem> = parsed.warnings.iter().chain(&zone.warnings).collect();
    let shown = all.len().min(MAX_WARNINGS);
    let mut err = std::io::stderr().lock();
    for p in &all[..shown] {
        let _ = writeln!(
            err,
            "{NAME}: warning: {}",
            escape::controls(&parsed.show(p))
        );
    }
    let rest = all.len() - shown + parsed.warnings_over + zone.warnings_over;
    if rest > 0 {
        let _ = writeln!(err, "{NAME}: warning: {rest} more warnings not shown");
    }
}

fn load(s: &Source) -> Result<Loaded> {
    let origin = origin_arg(s.origin)?;
    let shown = input::display_name(s.file).to_string();
    let mut reader = input::open(s.file)?;
    let xml = match s.from {
        Some("zerigo") => true,
        Some("zone") | None => {
            s.from.is_none()
                && zerigo::looks_like(reader.fill_buf().ctx_code(exit::NOINPUT, &shown)?)
        }
        Some(other) => {
            return Err(Error::usage(format!(
                "--from: '{other}' is not zone or zerigo"
            )));
        }
    };
    let (parsed, mut zone) = if xml {
        let mut doc = Vec::new();
        std::io::Read::take(&mut reader, MAX_XML + 1)
            .read_to_end(&mut doc)
            .ctx_code(exit::NOINPUT, &shown)?;
        if doc.len() as u64 > MAX_XML {
            return Err(Error::data(format!(
                "{shown}: XML document larger than {MAX_XML} bytes"
            )));
        }
        let (mut p, apex) = zerigo::parse(&shown, &doc, origin, s.default_ttl.unwrap_or(3600));
        let z = zone::build(std::mem::take(&mut p.records), apex, &s.build);
        (p, z)
    } else {
        let dir = if s.file == "-" {
            None
        } else {
            Path::new(s.file).parent().map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
        };
        let opts = Options {
            origin: origin.clone(),
            no_include: s.no_include,
            include_dir: s.include_dir.map(PathBuf::from),
            split_long_txt: s.build.lenient,
        };
        // records go into the RRsets as they are read (--origin, else the first SOA's
        // owner, else the first $ORIGIN, is the apex)
        let mut b = zone::Builder::new(origin, &s.build);
        let p = Parser::new(opts).parse_into(&shown, reader, dir, &mut b);
        let z = b.finish(p.first_origin.clone());
        (p, z)
    };
    zone.dropped.sort_by_key(|x| (x.file, x.line));
    say_warnings(s.quiet, &parsed, &zone);
    say(false, &parsed, "fixed", &zone.fixed);
    say(false, &parsed, "dropped", &zone.dropped);
    Ok(Loaded { parsed, zone })
}

/// Fail with every problem listed (on stderr), nothing written.
fn fail_listing(file: &str, l: &Loaded) -> Result<ExitCode> {
    let probs = l.problems();
    let mut err = std::io::stderr().lock();
    for p in &probs {
        let _ = writeln!(err, "{NAME}: {p}");
    }
    let more = if l.parsed.fatal {
        " (parsing stopped)"
    } else {
        ""
    };
    // the hint only when --lenient would deal with some of them: what Route 53 cannot hold
    // (dropped) and strings over 255 octets (split); syntax errors it cannot help
    let helped = l.zone.problems.len() + l.parsed.lenient_helps;
    let hint = match helped {
        0 => String::new(),
        n if n == probs.len() && l.parsed.lenient_helps == 0 => {
            " (--lenient drops what Route 53 cannot hold)".into()
        }
        n if n == probs.len() => {
            " (--lenient drops what Route 53 cannot hold and splits long strings)".into()
        }
        n => format!(" (--lenient would deal with {n} of them: what Route 53 cannot hold)"),
    };
    Err(Error::data(format!(
        "{}: {} problem{}{more}; nothing written{hint}",
        escape::text(input::display_name(file)),
        probs.len(),
        if probs.len() == 1 { "" } else { "s" }
    )))
}

/// Write the batches: one to stdout or `-o`, several to `--out-dir` (their paths on stdout).
/// `emit(w, k)` writes batch `k` (from 0) of `total` as its JSON.
fn write_batches(
    total: usize,
    emit: &(dyn Fn(&mut dyn Write, usize) -> std::io::Result<()> + Sync),
    out: Option<&str>,
    out_dir: Option<&str>,
) -> Result<()> {
    if out.is_some() && out_dir.is_some() {
        return Err(Error::usage("give -o or --out-dir, not both"));
    }
    match out_dir {
        None if total > 1 => Err(Error::usage(format!(
            "{total} batches are needed (Route 53 takes 1,000 records and 32,000 value characters a request): give --out-dir DIR"
        ))),
        None => {
            let mut o = Output::create(out)?;
            if total == 1 {
                emit(&mut o, 0).ctx_code(exit::CANTCREAT, out.unwrap_or("<stdout>"))?;
            }
            o.commit()
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).ctx_code(exit::CANTCREAT, dir)?;
            // all written (by two threads: making files is mostly the kernel's work), then
            // synced and put in place together (outdir.rs)
            let workers = if total >= 8 { 2 } else { 1 };
            let parts: Vec<Result<outdir::Set>> = std::thread::scope(|sc| {
                let handles: Vec<_> = (0..workers)
                    .map(|w| {
                        sc.spawn(move || -> Result<outdir::Set> {
                            let mut set = outdir::Set::new(Path::new(dir));
                            let mut buf: Vec<u8> = Vec::with_capacity(1 << 18);
                            for i in (w..total).step_by(workers) {
                                buf.clear();
                                let _ = emit(&mut buf, i);
                                set.add(&format!("batch-{:04}.json", i + 1), &buf)?;
                            }
                            Ok(set)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::new(exit::SOFTWARE, "a writer thread failed"))
                        })
                    })
                    .collect()
            });
            let mut set = outdir::Set::new(Path::new(dir));
            for p in parts {
                set.merge(p?);
            }
            set.commit()?;
            remove_stale_batches(Path::new(dir), total)?;
            let mut names = output::stdout();
            for i in 0..total {
                let p = Path::new(dir).join(format!("batch-{:04}.json", i + 1));
                writeln!(names, "{}", p.display())?;
            }
            names.flush()?;
            Ok(())
        }
    }
}

/// Remove `batch-NNNN.json` files numbered above `keep` left by an earlier, longer run, so
/// that `for f in DIR/batch-*.json` never pushes a stale batch.
fn remove_stale_batches(dir: &Path, keep: usize) -> Result<usize> {
    let shown = dir.display().to_string();
    let mut removed = 0;
    for e in std::fs::read_dir(dir).ctx_code(exit::CANTCREAT, &shown)? {
        let e = e.ctx_code(exit::CANTCREAT, &shown)?;
        let name = e.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix("batch-"))
            .and_then(|n| n.strip_suffix(".json"))
            .filter(|n| n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if n > keep {
            std::fs::remove_file(e.path()).ctx_code(exit::CANTCREAT, e.path().display())?;
            removed += 1;
        }
    }
    if removed > 0 {
        output::sync_dir(dir);
    }
    Ok(removed)
}

/// Nothing to send: what an earlier run left at `-o` or in `--out-dir` is removed (and
/// said), so a stale batch can never be pushed for this run's.
fn clear_outputs(out: Option<&str>, out_dir: Option<&str>, why: &str, quiet: bool) -> Result<()> {
    if out.is_some() && out_dir.is_some() {
        return Err(Error::usage("give -o or --out-dir, not both"));
    }
    let mut said = format!("{NAME}: {why}");
    let mut removed = false;
    if let Some(f) = out.filter(|f| *f != "-") {
        match std::fs::remove_file(f) {
            Ok(()) => {
                output::sync_dir(
                    Path::new(f)
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(Path::new(".")),
                );
                said.push_str(&format!("; removed the earlier {}", escape::text(f)));
                removed = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                said.push_str(&format!("; {} not written", escape::text(f)))
            }
            Err(e) => return Err(Error::from_io_code(exit::CANTCREAT, escape::text(f), &e)),
        }
    }
    if let Some(d) = out_dir {
        let n = if Path::new(d).is_dir() {
            remove_stale_batches(Path::new(d), 0)?
        } else {
            0
        };
        said.push_str(&format!(
            "; no batch in {} ({n} earlier batch file{} removed)",
            escape::text(d),
            if n == 1 { "" } else { "s" }
        ));
        removed |= n > 0;
    }
    if !quiet || removed {
        let _ = writeln!(std::io::stderr(), "{}", escape::controls(&said));
    }
    Ok(())
}

/// The command tree shell completions are made from.
pub fn info() -> cli::Info {
    use argh::ArgsInfo;
    let subs = vec![
        ("check", CheckOpts::get_args_info()),
        ("diff", DiffCmd::get_args_info()),
        ("export", ExportOpts::get_args_info()),
        ("push", crate::push::PushOpts::get_args_info()),
    ];
    cli::info::<ConvertOpts>(NAME, crate::ABOUT, subs)
}

pub fn run(args: Vec<String>) -> Result<ExitCode> {
    match cli::subcommand(&args, &["diff", "export", "check", "push"]) {
        (Some("push"), rest) => push::run(cli::parse(&[NAME, "push"], rest)?),
        (Some("check"), rest) => check(cli::parse(&[NAME, "check"], rest)?),
        (Some("diff"), rest) => diff_cmd(cli::parse(&[NAME, "diff"], rest)?),
        (Some("export"), rest) => export_cmd(cli::parse(&[NAME, "export"], rest)?),
        (_, rest) => convert(cli::parse(&[NAME], rest)?),
    }
}

fn convert(o: ConvertOpts) -> Result<ExitCode> {
    let action = Action::parse(&o.action).map_err(|e| Error::usage(format!("--action: {e}")))?;
    let src = Source {
        file: &o.zonefile,
        origin: o.origin.as_deref(),
        from: o.from.as_deref(),
        no_include: o.no_include,
        include_dir: o.include_dir.as_deref(),
        default_ttl: o.default_ttl,
        build: BuildOpts {
            lenient: o.lenient,
            with_soa: o.with_soa,
            with_apex_ns: o.with_apex_ns,
            zone_id: o.zone_id.clone(),
        },
        quiet: o.quiet,
    };
    let l = load(&src)?;
    if !l.problems().is_empty() {
        return fail_listing(&o.zonefile, &l);
    }
    let sets = &l.zone.rrsets;
    if sets.is_empty() {
        let why = format!("{}: no records to send", input::display_name(&o.zonefile));
        clear_outputs(o.output.as_deref(), o.out_dir.as_deref(), &why, o.quiet)?;
        return Ok(ExitCode::SUCCESS);
    }
    // the record sets are written where they are: no change objects are made
    let act = |s: &zone::RRset| {
        if s.rtype.code == 6 && action == Action::Create {
            Action::Upsert
        } else {
            action
        }
    };
    let items = batch::Sets { sets, action: &act };
    let cut = batch::cut(
        &items,
        o.max_records.unwrap_or(batch::MAX_RECORDS),
        o.max_chars.unwrap_or(batch::MAX_CHARS),
    )
    .map_err(Error::data)?;
    let slices: Vec<&[u32]> = cut.batches().collect();
    let total = slices.len();
    let emit = |w: &mut dyn Write, k: usize| {
        let mut it = slices[k].iter().map(|&i| {
            let s = &sets[i as usize];
            (act(s), s)
        });
        batch::write_json_of(w, &mut it, k + 1, total, action.as_str())
    };
    write_batches(total, &emit, o.output.as_deref(), o.out_dir.as_deref())?;
    // the record sets are let go with the process, not one by one
    std::mem::forget(l);
    Ok(ExitCode::SUCCESS)
}

fn check(o: CheckOpts) -> Result<ExitCode> {
    let src = Source {
        file: &o.zonefile,
        origin: o.origin.as_deref(),
        from: o.from.as_deref(),
        no_include: o.no_include,
        include_dir: o.include_dir.as_deref(),
        default_ttl: o.default_ttl,
        build: BuildOpts {
            lenient: o.lenient,
            with_soa: o.with_soa,
            with_apex_ns: o.with_apex_ns,
            zone_id: o.zone_id.clone(),
        },
        quiet: o.quiet,
    };
    let l = load(&src)?;
    let mut out = output::stdout();
    let probs = l.problems();
    for p in &probs {
        writeln!(out, "{p}")?;
    }
    if o.rrsets && probs.is_empty() {
        for s in &l.zone.rrsets {
            writeln!(out, "{}", batch::rrset_value(s))?;
        }
    }
    out.flush()?;
    let n = l.zone.rrsets.len();
    // the record sets are let go with the process, not one by one
    std::mem::forget(l);
    if probs.is_empty() {
        if !o.quiet && !o.rrsets {
            writeln!(
                out,
                "{}: OK, {} RRsets",
                escape::text(input::display_name(&o.zonefile)),
                n
            )?;
            out.flush()?;
        }
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(exit::ANSWER_1))
    }
}

fn diff_cmd(o: DiffCmd) -> Result<ExitCode> {
    let mode = Mode::parse(&o.mode).map_err(|e| Error::usage(format!("--mode: {e}")))?;
    if o.max_delete_pct.is_some() && mode != Mode::Sync {
        return Err(Error::usage("--max-delete-pct goes with --mode sync"));
    }
    let doc = input::read_all(&o.current)?;
    let current = r53json::parse(&doc)
        .map_err(|e| Error::data(format!("{}: {e}", input::display_name(&o.current))))?;
    let src = Source {
        file: &o.zonefile,
        origin: o.origin.as_deref(),
        from: o.from.as_deref(),
        no_include: o.no_include,
        include_dir: o.include_dir.as_deref(),
        default_ttl: o.default_ttl,
        build: BuildOpts {
            lenient: o.lenient,
            with_soa: true,
            with_apex_ns: true,
            zone_id: o.zone_id.clone(),
        },
        quiet: o.quiet,
    };
    let l = load(&src)?;
    if !l.problems().is_empty() {
        return fail_listing(&o.zonefile, &l);
    }
    let apex = l
        .zone
        .apex
        .clone()
        .or_else(|| export::guess_origin(&current));
    let dopts = DiffOpts {
        with_soa: o.with_soa,
        with_apex_ns: o.with_apex_ns,
        with_routing: o.with_routing,
    };
    let d = diff::diff(&l.zone.rrsets, &current, apex.as_ref(), mode, &dopts)
        .map_err(|e| Error::data(format!("{}: {e}", input::display_name(&o.current))))?;
    if let Some(max) = o.max_delete_pct
        && d.current_records > 0
        && d.deleted_records * 100 > max as usize * d.current_records
    {
        let _ = writeln!(
            std::io::stderr(),
            "{NAME}: refusing: the sync would delete {} of {} records (more than {max}%)",
            d.deleted_records,
            d.current_records
        );
        return Ok(ExitCode::from(exit::ANSWER_2));
    }
    let code = if o.exit_code && !d.units.is_empty() {
        ExitCode::from(exit::ANSWER_1)
    } else {
        ExitCode::SUCCESS
    };
    if d.units.is_empty() && !o.plan {
        clear_outputs(
            o.output.as_deref(),
            o.out_dir.as_deref(),
            "no changes",
            o.quiet,
        )?;
        return Ok(code);
    }
    if o.plan {
        let mut out = Output::create(o.output.as_deref())?;
        out.write_all(diff::plan(&d.units).as_bytes())?;
        out.commit()?;
    } else {
        let packed = batch::pack_flat(
            d.units,
            o.max_records.unwrap_or(batch::MAX_RECORDS),
            o.max_chars.unwrap_or(batch::MAX_CHARS),
        )
        .map_err(Error::data)?;
        let slices: Vec<&[batch::Change]> = packed.batches().collect();
        let total = slices.len();
        let emit =
            |w: &mut dyn Write, k: usize| batch::write_json(w, slices[k], k + 1, total, "diff");
        write_batches(total, &emit, o.output.as_deref(), o.out_dir.as_deref())?;
    }
    Ok(code)
}

fn export_cmd(o: ExportOpts) -> Result<ExitCode> {
    let doc = input::read_all(&o.rrsets)?;
    let shown = input::display_name(&o.rrsets);
    let sets = r53json::parse(&doc).map_err(|e| Error::data(format!("{shown}: {e}")))?;
    let origin = match origin_arg(o.origin.as_deref())? {
        Some(n) => n,
        None => export::guess_origin(&sets)
            .ok_or_else(|| Error::data(format!("{shown}: no record sets")))?,
    };
    let (text, warnings) = export::export(&sets, &origin, o.zone_id.as_deref())
        .map_err(|e| Error::data(format!("{shown}: {e}")))?;
    for w in warnings {
        let _ = writeln!(
            std::io::stderr(),
            "{NAME}: warning: {}",
            escape::controls(&format!("{shown}: {w}"))
        );
    }
    let mut out = Output::create(o.output.as_deref())?;
    out.write_all(text.as_bytes())
        .ctx_code(exit::CANTCREAT, o.output.as_deref().unwrap_or("<stdout>"))?;
    out.commit()?;
    Ok(ExitCode::SUCCESS)
}
