//! `updateinfo`: convert CEFS errata.xml into yum updateinfo.xml and inject it into repodata.
//!
//! `updateinfo [OPTIONS] ERRATA` converts (the form of the 2013 `generate_updateinfo.py`);
//! `updateinfo inject UPDATEINFO REPO…` does modifyrepo's job; `updateinfo check FILE|REPO`
//! reads an updateinfo as libsolv would and reports what is wrong with it.
//!
//! Modules (options and commands are here): [`stream`] input (compression,
//! limits, positions) and compressors; [`xml`] quick-xml with positions and limits;
//! [`cefs`] the errata reader (a parsing thread); [`advisory`] an advisory's fields as
//! updateinfo has them; [`convert`] advisory → records; [`record`] a record, compact until
//! it is written; [`xmlesc`] XML escaping; [`spool`] the external sort and the writing
//! (two threads); [`rpm`] file names and primary.xml; [`repomd`] repomd.xml, confined
//! hrefs, inject; [`check`] the libsolv-like checker; [`frag`] a byte buffer;
//! [`warnings`] capped warnings.

pub mod advisory;
pub mod cefs;
pub mod check;
pub mod convert;
pub mod frag;
pub(crate) mod record;
pub mod repomd;
pub mod rpm;
pub mod spool;
pub mod stream;
pub mod warnings;
pub mod xml;
pub mod xmlesc;

use advisory::Kind;
use argh::FromArgs;
use convert::Filters;
use opsbox_common::escape::text;
use opsbox_common::{Error, ExitCode, Result, ResultExt, cli, exit, output};
use repomd::{Outcome, Repomd, Style};
use spool::Spooled;
use std::io::{Read, Seek, Write};
use std::path::Path;
use stream::{Compression, Sum};
use warnings::Diag;

/// The applet's name, as dispatched and as it prefixes messages.
pub const NAME: &str = "updateinfo";
/// One line for `opsbox --list` and `opsbox --help`.
pub const ABOUT: &str =
    "convert CEFS errata.xml into yum updateinfo.xml and inject it into repodata";

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Commands:\n  inject   put an updateinfo.xml into REPO/repodata (as modifyrepo does)\n  check    report what yum/dnf would get wrong in an updateinfo.xml or a repo's\n\nWith no command, ERRATA (a CEFS errata.xml, plain, .gz, .bz2 or .xz; - for stdin) is\nconverted: one updateinfo.xml per CentOS release, to DEST/updateinfo-N/updateinfo.xml\nwith -d, else (one release) to standard output.",
    error_code(64, "usage error"),
    error_code(65, "bad input data (FILE:LINE:COL: reason); nothing written"),
    error_code(66, "input missing or unreadable"),
    error_code(73, "cannot create output")
)]
/// convert CEFS errata.xml into yum updateinfo.xml (one per release) and inject it into repodata.
struct Opts {
    /// write DEST/updateinfo-N/updateinfo.xml for each release N
    #[argh(option, short = 'd')]
    dest: Option<String>,
    /// write the (single) release's updateinfo.xml to FILE (- = stdout)
    #[argh(option, short = 'o')]
    output: Option<String>,
    /// only this CentOS release (repeatable): 5, 6, 7, 8
    #[argh(option, from_str_fn(release))]
    release: Vec<u32>,
    /// only packages of this architecture, plus noarch and src (repeatable)
    #[argh(option)]
    arch: Vec<String>,
    /// only advisories of this type (repeatable): security, bugfix, enhancement
    #[argh(option, from_str_fn(kind))]
    r#type: Vec<Kind>,
    /// only advisories of this severity (repeatable): low, moderate, important, critical
    #[argh(option, from_str_fn(severity))]
    severity: Vec<&'static str>,
    /// take epochs and source RPMs from this repository's primary.xml and inject the
    /// result into it (repeatable)
    #[argh(option)]
    repo: Vec<String>,
    /// take epochs and source RPMs from this primary.xml (any compression; repeatable)
    #[argh(option)]
    primary: Vec<String>,
    /// leave out packages (and advisories) that --repo/--primary do not hold
    #[argh(switch)]
    only_present: bool,
    /// make per-advisory problems (no type, bad date, bad file name) fatal
    #[argh(switch)]
    strict: bool,
    /// verify ERRATA against this sha1sum-style file first
    #[argh(option)]
    sha1_file: Option<String>,
    /// print counts per release, type and severity, and what was skipped
    #[argh(switch)]
    stats: bool,
    /// print the counts as JSON lines
    #[argh(switch)]
    json: bool,
    #[argh(option, from_str_fn(compression))]
    /// with --repo: compression of the metadata file: gz (default), xz, bz2, zst, none
    compress: Option<Compression>,
    /// with --repo: checksum type: sha256 (default), sha1, sha224, sha384, sha512
    #[argh(option, from_str_fn(sum))]
    checksum: Option<Sum>,
    /// with --repo: name the file updateinfo.xml.gz, not CHECKSUM-updateinfo.xml.gz
    #[argh(switch)]
    simple_name: bool,
    /// with --repo: take compression, checksum type and naming from the repo's primary
    #[argh(switch)]
    like_primary: bool,
    /// no warnings on stderr
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// the CEFS errata file (errata.latest.xml[.bz2]); - for stdin
    #[argh(positional, from_str_fn(cli::path))]
    errata: String,
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "UPDATEINFO may be compressed (detected by its first bytes). The new record replaces the\nupdateinfo record of REPO/repodata/repomd.xml; every other byte stays. Prints\n'REPO: updated LOCATION' or 'REPO: unchanged'."
)]
/// put an updateinfo.xml into REPO/repodata and repomd.xml, crash-safely (as modifyrepo does).
struct InjectOpts {
    /// compression of the metadata file: gz (default), xz, bz2, zst, none
    #[argh(option, from_str_fn(compression))]
    compress: Option<Compression>,
    /// checksum type: sha256 (default), sha1, sha224, sha384, sha512
    #[argh(option, from_str_fn(sum))]
    checksum: Option<Sum>,
    /// name the file updateinfo.xml.gz, not CHECKSUM-updateinfo.xml.gz
    #[argh(switch)]
    simple_name: bool,
    /// take compression, checksum type and naming from the repo's primary record
    #[argh(switch)]
    like_primary: bool,
    /// no warnings on stderr
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// the updateinfo.xml (- for stdin), then one or more repository directories
    #[argh(positional, from_str_fn(cli::path))]
    args: Vec<String>,
}

#[derive(FromArgs, argh::ArgsInfo, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Exit status: 0 no problems, 1 problems found (one line each: FILE:LINE:COL: ID: problem),\n65 the file is not well-formed XML."
)]
/// read an updateinfo.xml (or the one a repo's repomd.xml names) as libsolv would and report problems.
struct CheckOpts {
    /// compare epochs with this repository's primary.xml (repeatable)
    #[argh(option)]
    repo: Vec<String>,
    /// compare epochs with this primary.xml (repeatable)
    #[argh(option)]
    primary: Vec<String>,
    /// one JSON object per problem, then a summary object
    #[argh(switch)]
    json: bool,
    /// print only the exit status
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// an updateinfo.xml (any compression, - for stdin) or a repository directory
    #[argh(positional, from_str_fn(cli::path))]
    target: String,
}

fn release(s: &str) -> std::result::Result<u32, String> {
    cli::number_in(s, 1, 999)
}
fn kind(s: &str) -> std::result::Result<Kind, String> {
    Kind::parse(s)
}
fn severity(s: &str) -> std::result::Result<&'static str, String> {
    advisory::severity(s)
        .ok_or_else(|| format!("'{s}' is not one of low, moderate, important, critical"))
}
fn compression(s: &str) -> std::result::Result<Compression, String> {
    Compression::parse(s)
}
fn sum(s: &str) -> std::result::Result<Sum, String> {
    Sum::parse(s)
}

/// The command tree shell completions are made from (`opsbox --completions`).
pub fn info() -> cli::Info {
    use argh::ArgsInfo;
    let subs = vec![
        ("inject", InjectOpts::get_args_info()),
        ("check", CheckOpts::get_args_info()),
    ];
    cli::info::<Opts>(NAME, ABOUT, subs)
}

/// Run the applet with its arguments (the applet name not included).
pub fn run(args: Vec<String>) -> Result<ExitCode> {
    match cli::subcommand(&args, &["inject", "check"]) {
        (Some("inject"), rest) => inject_cmd(cli::parse(&[NAME, "inject"], rest)?),
        (Some("check"), rest) => check_cmd(cli::parse(&[NAME, "check"], rest)?),
        _ => convert_cmd(cli::parse(&[NAME], &args)?),
    }
}

/// The style of the metadata file: options win, then --like-primary, then the defaults.
fn style(
    md: Option<&Repomd>,
    like: bool,
    compress: Option<Compression>,
    sum: Option<Sum>,
    simple: bool,
) -> Style {
    let base = match md.filter(|_| like).and_then(Style::of_primary) {
        Some(s) => s,
        None => Style {
            compression: Compression::Gz,
            sum: Sum::Sha256,
            unique: true,
        },
    };
    Style {
        compression: compress.unwrap_or(base.compression),
        sum: sum.unwrap_or(base.sum),
        unique: base.unique && !simple,
    }
}

/// Inject `content` (re-readable) into every repo with one style, so all get identical
/// files. Prints one line per repo.
#[allow(clippy::too_many_arguments)]
fn inject_all(
    repos: &[String],
    content: &mut dyn FnMut() -> Result<Box<dyn Read + Send>>,
    like: bool,
    compress: Option<Compression>,
    sum: Option<Sum>,
    simple: bool,
    diag: &Diag,
    out: &mut dyn Write,
) -> Result<()> {
    let mut chosen: Option<Style> = None;
    for repo in repos {
        let path = Path::new(repo);
        let st = match chosen {
            Some(s) => s,
            None => {
                let md = if like {
                    Some(Repomd::load(path)?)
                } else {
                    None
                };
                let s = style(md.as_ref(), like, compress, sum, simple);
                chosen = Some(s);
                s
            }
        };
        let mut input = content()?;
        match repomd::inject(path, &mut input, st, diag)? {
            Outcome::Unchanged => writeln!(out, "{repo}: unchanged")?,
            Outcome::Updated { location, size } => {
                writeln!(out, "{repo}: updated {location} ({size} bytes)")?
            }
        }
    }
    Ok(())
}

fn inject_cmd(o: InjectOpts) -> Result<ExitCode> {
    if o.args.len() < 2 {
        return Err(
            Error::usage("inject: need UPDATEINFO and at least one REPO")
                .with_hint("Try 'updateinfo inject --help' for more information."),
        );
    }
    let diag = Diag::new(NAME).quiet(o.quiet);
    let file = o.args[0].clone();
    // stdin can be read once: spool it so several repos get the same bytes
    let spool = if file == "-" {
        let (_, mut r) = stream::open_input("-")?;
        let mut t = tempfile::tempfile().ctx("creating a temporary file")?;
        std::io::copy(&mut r, &mut t).map_err(|e| stream::read_error("<stdin>", &e))?;
        Some(t)
    } else {
        None
    };
    let mut content = || -> Result<Box<dyn Read + Send>> {
        match &spool {
            Some(t) => {
                let mut t = t.try_clone().ctx("temporary file")?;
                t.seek(std::io::SeekFrom::Start(0)).ctx("temporary file")?;
                Ok(Box::new(t))
            }
            None => {
                let (_, r) = stream::open_input(&file)?;
                Ok(Box::new(r))
            }
        }
    };
    // it must be an updateinfo: check before touching any repo
    {
        let mut src = xml::Src::new(
            Box::new(std::io::BufReader::new(content()?)),
            opsbox_common::input::display_name(&file),
        );
        check::check(&mut src, None)?;
    }
    let mut out = output::stdout();
    inject_all(
        &o.args[1..],
        &mut content,
        o.like_primary,
        o.compress,
        o.checksum,
        o.simple_name,
        &diag,
        &mut out,
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Load the primary.xml of a repository (the one its repomd.xml names).
fn load_repo_primary(repo: &str, p: &mut rpm::Primary) -> Result<usize> {
    let md = Repomd::load(Path::new(repo))?;
    let rec = md.need("primary")?;
    let (file, name) = rec.open(&md, Path::new(repo))?;
    p.load(&mut xml::Src::from_file(file, &name)?)
}

fn load_primaries(repos: &[String], files: &[String]) -> Result<Option<rpm::Primary>> {
    if repos.is_empty() && files.is_empty() {
        return Ok(None);
    }
    let mut p = rpm::Primary::default();
    for r in repos {
        load_repo_primary(r, &mut p)?;
    }
    for f in files {
        p.load(&mut xml::Src::open(f)?)?;
    }
    Ok(Some(p))
}

/// `--sha1-file`: the first 40-hex word of the line naming ERRATA (or of the first line).
fn verify_sha1(errata: &str, sumfile: &str) -> Result<()> {
    if errata == "-" {
        return Err(Error::usage(
            "--sha1-file needs ERRATA to be a file, not stdin",
        ));
    }
    // (a sums file is small: its first MiB is read)
    let mut raw = Vec::new();
    opsbox_common::input::open_file(sumfile)?
        .take(1 << 20)
        .read_to_end(&mut raw)
        .ctx_code(exit::NOINPUT, sumfile)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let base = Path::new(errata)
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut want = None;
    for (n, line) in text.lines().enumerate() {
        let mut w = line.split_whitespace();
        let Some(h) = w.next() else { continue };
        let name = w.next().map(|n| n.trim_start_matches('*'));
        if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            let named = name.is_some_and(|n| {
                Path::new(n)
                    .file_name()
                    .is_some_and(|f| f.to_string_lossy() == base)
            });
            if named || want.is_none() {
                want = Some((h.to_ascii_lowercase(), n as u64 + 1));
            }
            if named {
                break;
            }
        }
    }
    let (want, at) =
        want.ok_or_else(|| Error::at(sumfile, 1, 1, "no SHA-1 sum in it (40 hex digits)"))?;
    let mut f = opsbox_common::input::open_file(errata)?;
    let mut h = Sum::Sha1.hasher();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).ctx_code(exit::NOINPUT, errata)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let got = h.hex();
    if got != want {
        return Err(Error::at(
            sumfile,
            at,
            1,
            format!(
                "{errata}: SHA-1 is {got}, this line says {want}: incomplete or altered download"
            ),
        ));
    }
    Ok(())
}

fn convert_cmd(o: Opts) -> Result<ExitCode> {
    let diag = Diag::new(NAME).quiet(o.quiet);
    if o.dest.is_some() && o.output.is_some() {
        return Err(Error::usage("-d and -o exclude each other"));
    }
    if let Some(s) = &o.sha1_file {
        verify_sha1(&o.errata, s)?;
    }
    let primary = load_primaries(&o.repo, &o.primary)?;
    if o.only_present && primary.is_none() {
        return Err(Error::usage("--only-present needs --repo or --primary"));
    }
    let filters = Filters {
        releases: o.release.clone(),
        arches: o.arch.clone(),
        types: o.r#type.clone(),
        severities: o.severity.clone(),
        only_present: o.only_present,
    };
    let src = xml::Src::open(&o.errata)?;
    let mut conv = convert::Converter::new(&filters, primary.as_ref(), &diag, o.strict, &src.name)?;
    cefs::read_parallel(src, |raw| conv.add(raw))?;
    let spooled = conv.finish()?;
    let st = &spooled.stats;
    if primary.is_some() && st.packages_not_found > 0 {
        diag.note(format!(
            "{} of {} packages are not in the repository (epoch 0 assumed{}): {}",
            st.packages_not_found,
            st.packages_looked_up,
            if o.only_present { "; left out" } else { "" },
            st.missing_short()
        ));
    }
    let mut releases = spooled.releases();
    if releases.is_empty() {
        releases = o.release.clone();
    }
    let mut to_stdout = false;
    if !o.repo.is_empty() {
        let rel = match releases.as_slice() {
            [r] => *r,
            [] => {
                diag.warn("no advisory is left for the repository: nothing injected");
                return finish_stats(&o, &spooled, false);
            }
            many => match primary.as_ref().and_then(rpm::Primary::main_release) {
                Some(r) if many.contains(&r) => r,
                _ => {
                    return Err(Error::usage(format!(
                        "the errata cover releases {}: choose the repository's with --release",
                        join(many)
                    )));
                }
            },
        };
        let mut tmp = tempfile::tempfile().ctx("creating a temporary file")?;
        {
            let mut w = std::io::BufWriter::new(&mut tmp);
            spooled.write_release(rel, &mut w)?;
            w.flush().ctx("writing a temporary file")?;
        }
        let mut content = || -> Result<Box<dyn Read + Send>> {
            let mut t = tmp.try_clone().ctx("temporary file")?;
            t.seek(std::io::SeekFrom::Start(0)).ctx("temporary file")?;
            Ok(Box::new(std::io::BufReader::new(t)))
        };
        let mut out = output::stdout();
        inject_all(
            &o.repo,
            &mut content,
            o.like_primary,
            o.compress,
            o.checksum,
            o.simple_name,
            &diag,
            &mut out,
        )?;
        out.flush()?;
    }
    if let Some(dest) = &o.dest {
        write_dest(Path::new(dest), &releases, &spooled)?;
    } else if o.repo.is_empty() || o.output.is_some() {
        let rel = match releases.as_slice() {
            [r] => *r,
            [] => {
                diag.warn("no advisory is left after filtering: nothing written");
                return finish_stats(&o, &spooled, false);
            }
            many => {
                return Err(Error::usage(format!(
                    "the errata cover releases {}: use -d DEST, or choose one with --release",
                    join(many)
                )));
            }
        };
        let mut out = output::Output::create(o.output.as_deref())?;
        to_stdout = matches!(out, output::Output::Stdout(_));
        spooled.write_release(rel, &mut out)?;
        out.commit()?;
    }
    finish_stats(&o, &spooled, to_stdout)
}

/// `-d DEST`: each release's `DEST/updateinfo-N/updateinfo.xml`, written at once (two
/// threads write the two halves of the output, each record at its place), each file
/// fsynced and renamed into place by itself as soon as it is written.
fn write_dest(dest: &Path, releases: &[u32], spooled: &Spooled) -> Result<()> {
    let mut files = Vec::with_capacity(releases.len());
    for &rel in releases {
        let dir = dest.join(format!("updateinfo-{rel}"));
        std::fs::create_dir_all(&dir).ctx_code(exit::CANTCREAT, dir.display())?;
        files.push((rel, output::AtomicFile::create(dir.join("updateinfo.xml"))?));
    }
    if files.iter().all(|(_, f)| f.positioned()) {
        return spooled.write_files(files);
    }
    // (a device or a FIFO among them: each in turn, front to back)
    for (rel, mut f) in files {
        spooled.write_release(rel, &mut f)?;
        f.commit()?;
    }
    Ok(())
}

fn join(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// --stats / --json: on stdout, or on stderr when the updateinfo itself went to stdout.
fn finish_stats(o: &Opts, sp: &Spooled, to_stdout: bool) -> Result<ExitCode> {
    if !o.stats && !o.json {
        return Ok(ExitCode::SUCCESS);
    }
    let st = &sp.stats;
    let mut text = Vec::new();
    let skipped: usize = st.skipped.values().sum();
    if o.json {
        for (rel, r) in &st.releases {
            let line = serde_json::json!({
                "release": rel, "advisories": r.advisories, "packages": r.packages,
                "types": r.types, "severities": r.severities,
            });
            writeln!(text, "{line}")?;
        }
        let line = serde_json::json!({
            "read": st.read, "skipped": skipped, "skipped_by_reason": st.skipped,
            "filtered": st.filtered, "duplicates": st.duplicates,
            "packages_looked_up": st.packages_looked_up, "packages_not_found": st.packages_not_found,
            "missing_packages": st.missing, "missing_packages_truncated": st.missing_truncated,
        });
        writeln!(text, "{line}")?;
    } else {
        writeln!(
            text,
            "{:<8} {:>10} {:>9} {:>9} {:>7} {:>11} {:>4} {:>8} {:>9} {:>5} {:>8}",
            "release",
            "advisories",
            "packages",
            "security",
            "bugfix",
            "enhancement",
            "low",
            "moderate",
            "important",
            "critical",
            "none"
        )?;
        for (rel, r) in &st.releases {
            let t = |k: &str| r.types.get(k).copied().unwrap_or(0);
            let s = |k: &str| r.severities.get(k).copied().unwrap_or(0);
            writeln!(
                text,
                "{:<8} {:>10} {:>9} {:>9} {:>7} {:>11} {:>4} {:>8} {:>9} {:>5} {:>8}",
                rel,
                r.advisories,
                r.packages,
                t("security"),
                t("bugfix"),
                t("enhancement"),
                s("Low"),
                s("Moderate"),
                s("Important"),
                s("Critical"),
                s("none")
            )?;
        }
        writeln!(
            text,
            "read {} advisories; skipped {skipped}; filtered out {}; duplicates {}",
            st.read, st.filtered, st.duplicates
        )?;
        for (why, n) in &st.skipped {
            writeln!(text, "  skipped ({why}): {n}")?;
        }
        if st.packages_looked_up > 0 {
            writeln!(
                text,
                "packages not in the repository: {} of {}{}{}",
                st.packages_not_found,
                st.packages_looked_up,
                if st.missing.is_empty() { "" } else { ": " },
                st.missing_short()
            )?;
        }
    }
    if to_stdout {
        std::io::stderr().write_all(&text)?;
    } else {
        let mut out = output::stdout();
        out.write_all(&text)?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn check_cmd(o: CheckOpts) -> Result<ExitCode> {
    let mut repos = o.repo.clone();
    let target = Path::new(&o.target);
    let (file, record) = if o.target != "-" && target.is_dir() {
        let md = Repomd::load(target)?;
        let rec = md.need("updateinfo")?.clone();
        if md.record("primary").is_some() {
            repos.push(o.target.clone());
        }
        let (f, name) = rec.open(&md, target)?;
        (name, Some((rec, f, md)))
    } else {
        (o.target.clone(), None)
    };
    let primary = load_primaries(&repos, &o.primary)?;
    let mut rep = check::Report::default();
    // the file a repomd.xml names must exist and match its checksum
    let mut src = match record {
        Some((rec, mut f, md)) => {
            if let Ok(s) = Sum::parse(&rec.checksum_type) {
                let mut h = s.hasher();
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = f.read(&mut buf).ctx_code(exit::NOINPUT, &file)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                let got = h.hex();
                if got != rec.checksum {
                    rep.problems.push(check::Problem {
                        at: format!(
                            "{}:{}:{}",
                            md.path.display(),
                            rec.location_at.0,
                            rec.location_at.1
                        ),
                        id: String::new(),
                        what: format!(
                            "{} checksum of {file} is {got}, repomd.xml says {}",
                            rec.checksum_type, rec.checksum
                        ),
                    });
                }
            }
            let (f, name) = rec.open(&md, target)?;
            xml::Src::from_file(f, &name)?
        }
        None => xml::Src::open(&file)?,
    };
    let r = check::check(&mut src, primary.as_ref())?;
    rep.updates = r.updates;
    rep.problems.extend(r.problems);
    if !o.quiet {
        let mut out = output::stdout();
        for p in &rep.problems {
            if o.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"at": p.at, "id": p.id, "problem": p.what})
                )?;
            } else if p.id.is_empty() {
                writeln!(
                    out,
                    "{}: {}",
                    text(&p.at),
                    opsbox_common::escape::controls(&p.what)
                )?;
            } else {
                writeln!(
                    out,
                    "{}: {}: {}",
                    text(&p.at),
                    text(&p.id),
                    opsbox_common::escape::controls(&p.what)
                )?;
            }
        }
        if o.json {
            writeln!(
                out,
                "{}",
                serde_json::json!({"file": file, "updates": rep.updates, "problems": rep.problems.len()})
            )?;
        }
        out.flush()?;
        if !o.json {
            let _ = writeln!(
                std::io::stderr(),
                "{NAME}: {file}: {} updates, {} problems",
                rep.updates,
                rep.problems.len()
            );
        }
    }
    Ok(if rep.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::ANSWER_1)
    })
}

/// Entry points of the fuzz targets (fuzz/fuzz_targets/updateinfo_*.rs): each runs a
/// reader on the bytes and asserts properties of what it gives.
#[doc(hidden)]
pub mod fuzz {
    use crate::{cefs, convert, repomd, rpm, xml};
    use quick_xml::events::Event;
    use std::path::{Component, Path, PathBuf};

    fn src(data: &[u8], name: &str) -> xml::Src {
        xml::Src::new(Box::new(std::io::Cursor::new(data.to_vec())), name)
    }

    /// CEFS errata → updateinfo.xml: never a panic; every output is well-formed XML that
    /// quick-xml reads back, with one `<id>` per `<update>`, each reading back to an
    /// advisory id (printable ASCII, escaped as needed), as many as the counts say.
    pub fn cefs(data: &[u8]) {
        let diag = crate::warnings::Diag::new("fuzz").quiet(true);
        let filters = convert::Filters::default();
        let Ok(mut conv) = convert::Converter::new(&filters, None, &diag, false, "in") else {
            return;
        };
        if cefs::read(&mut src(data, "in"), |raw| {
            raw.read_tag("in")?;
            conv.add(raw)
        })
        .is_err()
        {
            return;
        }
        let Ok(sp) = conv.finish() else { return };
        for rel in sp.releases() {
            let mut out = Vec::new();
            sp.write_release(rel, &mut out).expect("writing to memory");
            let (updates, ids) = reread(&out);
            assert_eq!(updates, ids.len(), "one <id> per <update>");
            assert_eq!(updates, sp.stats.releases[&rel].advisories);
            for id in &ids {
                assert!(
                    crate::advisory::advisory_id(&id.replace(':', "--")).is_some() || id.is_empty(),
                    "{id:?}"
                );
                assert!(id.bytes().all(|b| (0x21..0x7f).contains(&b)), "{id:?}");
            }
            // and our own checker reads it as an updateinfo
            crate::check::check(&mut src(&out, "out"), None).expect("check reads our output");
        }
    }

    /// Read an updateinfo document with plain quick-xml (not our reader): the number of
    /// `<update>`s and the text of each `<id>`.
    fn reread(doc: &[u8]) -> (usize, Vec<String>) {
        let mut r = quick_xml::Reader::from_reader(doc);
        r.config_mut().check_end_names = true;
        let (mut updates, mut ids, mut cur) = (0, Vec::new(), None::<String>);
        let mut depth = 0usize;
        loop {
            match r.read_event().expect("our output is well-formed XML") {
                Event::Start(e) => {
                    depth += 1;
                    match e.name().as_ref() {
                        "update" => updates += 1,
                        "id" => cur = Some(String::new()),
                        _ => {}
                    }
                }
                Event::End(e) => {
                    depth -= 1;
                    if e.name().as_ref() == "id" {
                        ids.extend(cur.take());
                    }
                }
                Event::Text(t) => {
                    if let Some(c) = cur.as_mut() {
                        c.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(g) => {
                    if let Some(c) = cur.as_mut() {
                        let ch = match g.resolve_char_ref().expect("a character reference") {
                            Some(ch) => ch,
                            None => match &*g {
                                "amp" => '&',
                                "lt" => '<',
                                "gt" => '>',
                                "quot" => '"',
                                "apos" => '\'',
                                other => panic!("unknown entity &{other}; in our output"),
                            },
                        };
                        c.push(ch);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(depth, 0, "every element closed");
        (updates, ids)
    }

    /// primary.xml: never a panic; no more packages than `<package` tags.
    pub fn primary(data: &[u8]) {
        let mut p = rpm::Primary::default();
        if let Ok(n) = p.load(&mut src(data, "primary.xml")) {
            let tags = memchr::memmem::find_iter(data, b"package").count();
            assert!(n <= tags, "{n} packages from {tags} tags");
        }
    }

    /// repomd.xml: never a panic; every href that passes the confinement check stays
    /// inside the repository whatever it says; the record inject would write reads back.
    pub fn repomd(data: &[u8]) {
        let Ok(md) = repomd::Repomd::parse(PathBuf::from("repodata/repomd.xml"), data.to_vec())
        else {
            return;
        };
        for r in &md.records {
            if repomd::href_problem(&r.location).is_none() {
                let p = Path::new(&r.location);
                assert!(p.is_relative(), "{:?}", r.location);
                assert!(
                    p.components()
                        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
                    "{:?} escapes",
                    r.location
                );
            }
        }
        let loc = "repodata/0123-updateinfo.xml.gz";
        let new = md.with_record("updateinfo", |i| {
            format!("<data type=\"updateinfo\">\n{i}{i}<location href=\"{loc}\"/>\n{i}</data>")
        });
        // (inject refuses what does not read back); what does has the new record
        if let Ok(back) = repomd::Repomd::parse(PathBuf::from("repomd.xml"), new) {
            assert_eq!(
                back.record("updateinfo").map(|r| r.location.as_str()),
                Some(loc)
            );
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_fuzz_properties_hold_on_the_fixtures() {
            let root = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/updateinfo"
            );
            let e2e = std::fs::read(format!("{root}/e2e-errata.xml")).unwrap();
            super::cefs(&e2e);
            super::cefs(b"<opt><CESA-2013--1 type=\"Security Advisory\" issue_date=\"2013-01-01\" os_release=\"7\" packages=\"a-1-1.el7.x86_64.rpm\" synopsis=\"a &amp; &lt;b&gt;\"/></opt>");
            super::primary(b"<metadata><package><name>a</name><arch>x86_64</arch><version epoch=\"1\" ver=\"1\" rel=\"1.el7\"/></package></metadata>");
            super::repomd(b"<repomd>\n  <data type=\"primary\"><location href=\"repodata/p.xml\"/></data>\n</repomd>\n");
            super::repomd(
                b"<repomd><data type=\"primary\"><location href=\"../x\"/></data></repomd>",
            );
            // every seed, and what fuzzing found (a record nested in a record: inject put
            // its new record where it was not read back)
            for e in std::fs::read_dir(format!("{root}/fuzz-seeds")).unwrap() {
                let data = std::fs::read(e.unwrap().path()).unwrap();
                super::cefs(&data);
                super::primary(&data);
                super::repomd(&data);
            }
        }
    }
}
