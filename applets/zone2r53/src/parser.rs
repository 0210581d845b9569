//! The master-file parser: directives (`$ORIGIN`, `$TTL`, `$INCLUDE`, `$GENERATE`), owners,
//! TTL and class in either order, TTL inheritance, and record data per type. Problems are
//! collected (parsing goes on with the next entry) so a run lists all of them.

use crate::lexer::{Entry, Lexer, Token};
use crate::name::{Escapes, Name};
use crate::rdata::{self, Ctx, parse_ttl};
use crate::rtype::{Class, RType};
use serde_json::{Map, Value};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Route 53's (and RFC 2181's) largest TTL.
pub const MAX_TTL: u64 = 2_147_483_647;
/// `$INCLUDE` nesting limit.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// `$INCLUDE` directives read in all.
pub const MAX_INCLUDES: usize = 1024;
/// Records in all (each is kept until the RRsets are built).
pub const MAX_RECORDS: u64 = 5_000_000;
/// Warnings kept (and printed); the rest are counted.
pub const MAX_WARNINGS: usize = 100;
/// Most records one `$GENERATE` may make, and all of them together.
/// (A /16 reverse zone is 65,536 PTRs; the total keeps a few bytes of input from taking
/// hundreds of MB.)
pub const MAX_GENERATE: u64 = 65_536;
pub const MAX_GENERATE_TOTAL: u64 = 262_144;
/// Problems listed before giving up.
pub const MAX_PROBLEMS: usize = 1000;

/// A position-tagged message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: usize,
    pub line: u32,
    pub col: u32,
    pub msg: String,
}

/// An alias record in cli53's syntax: `name TTL AWS ALIAS TYPE target zoneid evaluate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub target: Name,
    pub zone_id: String,
    pub evaluate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// A type Route 53 holds: the value in Route 53's text form.
    Value(String),
    /// A type Route 53 does not hold (kept only to report it).
    Unsupported(String),
    Alias(Box<Alias>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub file: usize,
    pub line: u32,
    /// The column of the entry's first token (the owner, or the TTL/type of a blank owner).
    pub col: u32,
    pub owner: Name,
    pub ttl: u32,
    pub class: Class,
    pub rtype: RType,
    pub data: Data,
    /// Route 53 routing fields (`SetIdentifier`, `Weight`, …) from cli53's comment syntax.
    pub routing: Option<Box<Map<String, Value>>>,
    /// Relative target names in the data that may miss their trailing dot (their text, and
    /// the name they became).
    pub relative_targets: Vec<(String, String)>,
}

/// Where parsed records go.
pub trait Sink {
    fn record(&mut self, r: Record);
}

impl Sink for Vec<Record> {
    fn record(&mut self, r: Record) {
        self.push(r);
    }
}

/// Parser settings.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub origin: Option<Name>,
    pub no_include: bool,
    /// Resolve relative `$INCLUDE` paths against this directory instead of the including
    /// file's directory.
    pub include_dir: Option<PathBuf>,
    pub split_long_txt: bool,
}

/// Everything a parse produced.
#[derive(Debug, Default)]
pub struct Parsed {
    pub files: Vec<String>,
    pub records: Vec<Record>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
    /// Warnings past [`MAX_WARNINGS`], counted only.
    pub warnings_over: usize,
    /// Problems that `--lenient` would fix (strings over 255 octets).
    pub lenient_helps: usize,
    /// The first `$ORIGIN` and the first SOA owner seen.
    pub first_origin: Option<Name>,
    pub soa_owner: Option<Name>,
    /// A lexing error that stopped the parse (hostile or broken input).
    pub fatal: bool,
}

impl Parsed {
    pub fn show(&self, p: &Problem) -> String {
        let f = self.files.get(p.file).map(String::as_str).unwrap_or("?");
        match (p.line, p.col) {
            (0, _) => format!("{f}: {}", p.msg),
            // a position always has a column (1 when the problem is the whole line)
            (l, c) => format!("{f}:{l}:{}: {}", c.max(1), p.msg),
        }
    }
}

struct State {
    origin: Option<Name>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    last_owner: Option<Name>,
    warned_rfc1035: bool,
    generated: u64,
}

pub struct Parser {
    /// `$INCLUDE` nesting now, and the most records allowed.
    depth: usize,
    max_records: u64,
    /// The column of the current entry's first token (for warnings).
    col: u32,
    includes: usize,
    records: u64,
    /// Nothing read yet from the current included file (for the blank-owner warning).
    fresh_include: bool,
    scratch: Vec<u8>,
    opts: Options,
    out: Parsed,
    stack: Vec<PathBuf>,
    st: State,
}

type Res<T> = Result<T, (u32, String)>;

impl Parser {
    pub fn new(opts: Options) -> Parser {
        let origin = opts.origin.clone();
        Parser {
            depth: 0,
            max_records: MAX_RECORDS,
            col: 1,
            includes: 0,
            records: 0,
            fresh_include: false,
            scratch: Vec::with_capacity(512),
            opts,
            out: Parsed::default(),
            stack: Vec::new(),
            st: State {
                origin,
                default_ttl: None,
                last_ttl: None,
                last_owner: None,
                warned_rfc1035: false,
                generated: 0,
            },
        }
    }

    /// The same parser with another limit on records (for tests at the boundary).
    #[doc(hidden)]
    pub fn max_records(mut self, n: u64) -> Parser {
        self.max_records = n;
        self
    }

    /// Parse a top-level input named `name` (`<stdin>` for standard input); the records
    /// are in the result.
    pub fn parse(self, name: &str, input: impl BufRead, dir: Option<PathBuf>) -> Parsed {
        let mut records = Vec::new();
        let mut p = self.parse_into(name, input, dir, &mut records);
        p.records = records;
        p
    }

    /// Parse, handing each record to `sink` as it is read.
    pub fn parse_into(
        mut self,
        name: &str,
        input: impl BufRead,
        dir: Option<PathBuf>,
        sink: &mut dyn Sink,
    ) -> Parsed {
        let idx = self.add_file(&show_path(Path::new(name)));
        if let Some(d) = &dir
            && let Ok(c) =
                std::fs::canonicalize(d.join(Path::new(name).file_name().unwrap_or_default()))
        {
            self.stack.push(c);
        }
        let base = dir.unwrap_or_else(|| PathBuf::from("."));
        self.parse_stream(idx, input, &base, sink);
        self.out
    }

    fn add_file(&mut self, name: &str) -> usize {
        self.out.files.push(name.to_string());
        // (names come escaped: `show_path`, or the command line's own)
        self.out.files.len() - 1
    }

    fn problem(&mut self, file: usize, line: u32, col: u32, msg: impl Into<String>) {
        if self.out.problems.len() < MAX_PROBLEMS {
            self.out.problems.push(Problem {
                file,
                line,
                col,
                msg: msg.into(),
            });
        }
    }

    /// A warning at the current entry's first column.
    fn warn(&mut self, file: usize, line: u32, msg: impl Into<String>) {
        self.warn_at(file, line, self.col, msg);
    }

    fn warn_at(&mut self, file: usize, line: u32, col: u32, msg: impl Into<String>) {
        if self.out.warnings.len() < MAX_WARNINGS {
            self.out.warnings.push(Problem {
                file,
                line,
                col,
                msg: msg.into(),
            });
        } else {
            self.out.warnings_over += 1;
        }
    }

    fn parse_stream(&mut self, file: usize, input: impl BufRead, dir: &Path, sink: &mut dyn Sink) {
        let mut lx = Lexer::new(input);
        loop {
            if self.out.problems.len() >= MAX_PROBLEMS {
                self.out.fatal = true;
                return;
            }
            match lx.next_entry() {
                Ok(None) => return,
                Ok(Some(e)) => {
                    if let Err((col, msg)) = self.entry(file, &e, dir, sink) {
                        self.problem(file, e.line, col, msg);
                    }
                    lx.recycle(e);
                    for r in self.out.records.drain(..) {
                        sink.record(r);
                    }
                    if self.out.fatal {
                        return;
                    }
                }
                Err(e) => {
                    self.problem(file, e.line, e.col, e.msg);
                    self.out.fatal = true;
                    return;
                }
            }
        }
    }

    fn entry(&mut self, file: usize, e: &Entry, dir: &Path, sink: &mut dyn Sink) -> Res<()> {
        let first = &e.tokens[0];
        self.col = first.col;
        if !e.blank_owner && !first.quoted && first.text.first() == Some(&b'$') {
            return self.directive(file, e, dir, sink);
        }
        let fresh = std::mem::replace(&mut self.fresh_include, false);
        let (owner, rest) = if e.blank_owner {
            let o = self
                .st
                .last_owner
                .clone()
                .ok_or((first.col, "blank owner but no previous owner".to_string()))?;
            if fresh {
                let msg = format!(
                    "a blank owner at the start of an included file continues {} from the including file",
                    o.to_r53()
                );
                self.warn(file, e.line, msg);
            }
            (o, &e.tokens[..])
        } else {
            let (n, _) = Name::parse(&first.text, self.st.origin.as_ref(), Escapes::Decimal)
                .map_err(|m| (first.col, m))?;
            (n, &e.tokens[1..])
        };
        self.st.last_owner = Some(owner.clone());
        self.record(file, e.line, owner, rest, comment_of(e), e.tokens[0].col)
    }

    fn record(
        &mut self,
        file: usize,
        line: u32,
        owner: Name,
        toks: &[Token],
        comment: Option<(&str, u32)>,
        col0: u32,
    ) -> Res<()> {
        self.col = col0;
        if self.records >= self.max_records {
            self.out.fatal = true;
            return Err((col0, format!("more than {} records", self.max_records)));
        }
        self.records += 1;
        let mut ttl: Option<u64> = None;
        let mut class: Option<Class> = None;
        let mut i = 0;
        while i < toks.len() && i < 2 {
            let t = &toks[i];
            if t.quoted {
                break;
            }
            if ttl.is_none()
                && let Some(v) = parse_ttl(&t.text)
            {
                ttl = Some(v);
            } else if class.is_none()
                && let Some(c) = Class::parse(&t.text)
            {
                class = Some(c);
            } else {
                break;
            }
            i += 1;
        }
        let tt = toks
            .get(i)
            .ok_or((col0, "missing record type".to_string()))?;
        let class = class.unwrap_or(Class::In);
        let data_toks = &toks[i + 1..];
        let dcol = data_toks.first().map_or(tt.col, |t| t.col);
        let mut soa_min: Option<u32> = None;
        let (rtype, data, rel) = if class == Class::Aws {
            if !tt.is("ALIAS") {
                return Err((
                    tt.col,
                    format!(
                        "class AWS is cli53's alias syntax: expected ALIAS, not {}",
                        tt.q()
                    ),
                ));
            }
            let (rtype, alias) = self.alias(data_toks).map_err(|m| (dcol, m))?;
            (rtype, Data::Alias(Box::new(alias)), Vec::new())
        } else {
            match RType::parse_bytes(&tt.text).filter(|_| !tt.quoted) {
                None => (
                    RType::from_code(0),
                    Data::Unsupported(
                        if tt.text.len() <= 16 && tt.text.iter().all(u8::is_ascii_alphanumeric) {
                            tt.show().to_ascii_uppercase()
                        } else {
                            tt.q()
                        },
                    ),
                    Vec::new(),
                ),
                Some(rt) if rt.route53() => {
                    let mut ctx = Ctx::new(self.st.origin.as_ref(), Escapes::Decimal);
                    ctx.split_long = self.opts.split_long_txt;
                    let mut w = std::mem::take(&mut self.scratch);
                    let r = rdata::from_text_into(&rt, data_toks, &mut ctx, &mut w)
                        .and_then(|_| {
                            if rdata::too_long(&w) {
                                Err("record data longer than 65535 octets".into())
                            } else {
                                rdata::render(&rt, &w, Escapes::Octal)
                            }
                        })
                        .map_err(|m| (dcol, format!("{}: {m}", rt.name())));
                    if rt.name() == "SOA" && w.len() >= 4 {
                        let m = &w[w.len() - 4..];
                        soa_min = Some(u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
                    }
                    self.scratch = w;
                    if ctx.too_long {
                        self.out.lenient_helps += 1;
                    }
                    let value = r?;
                    let (split, rel) = (ctx.split, ctx.relative_targets);
                    for n in ctx.notes {
                        self.warn_at(file, line, dcol, n);
                    }
                    for n in split {
                        self.warn(
                            file,
                            line,
                            format!("TXT string of {n} octets split into strings of 255"),
                        );
                    }
                    (rt, Data::Value(value), rel)
                }
                Some(rt) => {
                    if data_toks
                        .first()
                        .is_some_and(|x| !x.quoted && x.text == b"\\#")
                    {
                        rdata::generic(data_toks)
                            .map_err(|m| (dcol, format!("{}: {m}", rt.name())))?;
                    }
                    (rt, Data::Unsupported(rt.name().into_owned()), Vec::new())
                }
            }
        };
        let ttl = self.resolve_ttl(file, line, ttl, soa_min)?;
        if rtype.name() == "SOA" && self.out.soa_owner.is_none() {
            self.out.soa_owner = Some(owner.clone());
        }
        // `TXT v=DMARC1; p=none`: the unquoted ';' started a comment and the rest is lost
        // (only when the ';' touches the last data token, unquoted: `v=DMARC1;`)
        if matches!(rtype.code, 16 | 99)
            && let Some((c, ccol)) = comment
            && !c.starts_with("AWS ")
            && data_toks
                .last()
                .is_some_and(|t| !t.quoted && t.col as usize + t.text.len() == ccol as usize)
        {
            self.warn_at(
                file,
                line,
                ccol,
                format!("{}: unquoted text ends at ';' (the rest, {}, is a comment); quote the string to keep it", rtype.name(), opsbox_common::escape::quote(c)),
            );
        }
        let routing = match comment {
            Some((c, ccol)) if c.starts_with("AWS ") => Some(Box::new(
                crate::routing::from_comment(&c[4..]).map_err(|m| (ccol, m))?,
            )),
            _ => None,
        };
        self.out.records.push(Record {
            file,
            line,
            col: col0,
            owner,
            ttl,
            class,
            rtype,
            data,
            routing,
            relative_targets: rel,
        });
        Ok(())
    }

    fn resolve_ttl(
        &mut self,
        file: usize,
        line: u32,
        ttl: Option<u64>,
        soa_min: Option<u32>,
    ) -> Res<u32> {
        let v = match ttl {
            Some(v) => {
                let v = self.clamp(file, line, v);
                self.st.last_ttl = Some(v);
                v
            }
            None => {
                match (self.st.default_ttl, self.st.last_ttl) {
                    (Some(d), _) => d,
                    (None, Some(l)) => {
                        if !self.st.warned_rfc1035 {
                            self.st.warned_rfc1035 = true;
                            self.warn(file, line, "no $TTL: records without a TTL take the previous record's (RFC 1035)");
                        }
                        l
                    }
                    (None, None) => match soa_min {
                        Some(min) => {
                            let min = self.clamp(file, line, u64::from(min));
                            self.warn(
                                file,
                                line,
                                format!("no TTL and no $TTL: using the SOA minimum {min}"),
                            );
                            self.st.warned_rfc1035 = true;
                            self.st.last_ttl = Some(min);
                            min
                        }
                        _ => {
                            return Err((
                                0,
                                "no TTL: give one, or a $TTL directive before this record".into(),
                            ));
                        }
                    },
                }
            }
        };
        Ok(v)
    }

    fn clamp(&mut self, file: usize, line: u32, v: u64) -> u32 {
        if v > MAX_TTL {
            self.warn(
                file,
                line,
                format!("TTL {v} above {MAX_TTL}: clamped to {MAX_TTL}"),
            );
            MAX_TTL as u32
        } else {
            v as u32
        }
    }

    fn alias(&self, t: &[Token]) -> Result<(RType, Alias), String> {
        if t.len() != 4 {
            return Err("alias: expected 'AWS ALIAS TYPE TARGET ZONEID EVALUATE'".into());
        }
        let rtype = RType::parse(&t[0].show())
            .filter(RType::route53)
            .ok_or_else(|| format!("alias: {} is not a Route 53 type", t[0].q()))?;
        let (target, _) = Name::parse(&t[1].text, self.st.origin.as_ref(), Escapes::Decimal)?;
        let evaluate = if t[3].is("true") {
            true
        } else if t[3].is("false") {
            false
        } else {
            return Err(format!(
                "alias: evaluate-target-health {} is not true or false",
                t[3].q()
            ));
        };
        let zone_id = t[2].show();
        if zone_id != "$self" {
            crate::routing::zone_id(&zone_id).map_err(|e| format!("alias: {e}"))?;
        }
        Ok((
            rtype,
            Alias {
                target,
                zone_id,
                evaluate,
            },
        ))
    }

    fn directive(&mut self, file: usize, e: &Entry, dir: &Path, sink: &mut dyn Sink) -> Res<()> {
        let t = &e.tokens;
        let word = t[0].show().to_ascii_uppercase();
        let arg = |i: usize, what: &str| -> Res<&Token> {
            t.get(i).ok_or((t[0].col, format!("{word} needs {what}")))
        };
        match word.as_str() {
            "$ORIGIN" => {
                let a = arg(1, "a name")?;
                let (n, _) = Name::parse(&a.text, self.st.origin.as_ref(), Escapes::Decimal)
                    .map_err(|m| (a.col, m))?;
                if t.len() > 2 {
                    return Err((t[2].col, "$ORIGIN takes one name".into()));
                }
                if self.out.first_origin.is_none() {
                    self.out.first_origin = Some(n.clone());
                }
                self.st.origin = Some(n);
            }
            "$TTL" => {
                let a = arg(1, "a TTL")?;
                let v = parse_ttl(&a.text).ok_or((a.col, format!("{} is not a TTL", a.q())))?;
                if t.len() > 2 {
                    return Err((t[2].col, "$TTL takes one TTL".into()));
                }
                let v = self.clamp(file, e.line, v);
                self.st.default_ttl = Some(v);
            }
            "$INCLUDE" => {
                if self.opts.no_include {
                    return Err((t[0].col, "$INCLUDE refused (--no-include)".into()));
                }
                let a = arg(1, "a file name")?;
                let path =
                    rdata::string_bytes(&a.text, Escapes::Decimal).map_err(|m| (a.col, m))?;
                let path = PathBuf::from(String::from_utf8_lossy(&path).into_owned());
                let origin = match t.get(2) {
                    Some(o) => Some(
                        Name::parse(&o.text, self.st.origin.as_ref(), Escapes::Decimal)
                            .map_err(|m| (o.col, m))?
                            .0,
                    ),
                    None => None,
                };
                if t.len() > 3 {
                    return Err((
                        t[3].col,
                        "$INCLUDE takes a file name and an optional origin".into(),
                    ));
                }
                self.include(a.col, dir, &path, origin, sink)?;
            }
            "$GENERATE" => self.generate(file, e)?,
            _ => {
                return Err((
                    t[0].col,
                    format!("unknown directive {}", opsbox_common::escape::quote(&word)),
                ));
            }
        }
        Ok(())
    }

    fn include(
        &mut self,
        col: u32,
        dir: &Path,
        path: &Path,
        origin: Option<Name>,
        sink: &mut dyn Sink,
    ) -> Res<()> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err((
                col,
                format!("$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH}"),
            ));
        }
        let full = if path.is_absolute() {
            path.to_path_buf()
        } else {
            let base = self.opts.include_dir.as_deref().unwrap_or(dir);
            if base == Path::new(".") {
                path.to_path_buf()
            } else {
                base.join(path)
            }
        };
        let shown = show_path(&full);
        if self.includes >= MAX_INCLUDES {
            return Err((col, format!("more than {MAX_INCLUDES} $INCLUDEs")));
        }
        self.includes += 1;
        let f = crate::include::open(&full).map_err(|e| (col, format!("$INCLUDE {shown}: {e}")))?;
        let canon = std::fs::canonicalize(&full).unwrap_or_else(|_| full.clone());
        if self.stack.contains(&canon) {
            return Err((col, format!("$INCLUDE loop: {shown} includes itself")));
        }
        self.stack.push(canon);
        self.depth += 1;
        let idx = self.add_file(&shown);
        let saved = self.st.origin.clone();
        if let Some(o) = origin {
            self.st.origin = Some(o);
        }
        let sub = full
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        self.fresh_include = true;
        self.parse_stream(idx, std::io::BufReader::new(f), &sub, sink);
        self.fresh_include = false;
        self.st.origin = saved;
        self.stack.pop();
        self.depth -= 1;
        Ok(())
    }

    fn generate(&mut self, file: usize, e: &Entry) -> Res<()> {
        let t = &e.tokens;
        if t.len() < 4 {
            return Err((
                t[0].col,
                "$GENERATE needs a range, an owner, a type and data".into(),
            ));
        }
        let (start, stop, step) =
            gen_range(&t[1].text).ok_or((t[1].col, format!("bad $GENERATE range {}", t[1].q())))?;
        let count = (stop - start) / step + 1;
        if count > MAX_GENERATE || self.st.generated + count > MAX_GENERATE_TOTAL {
            return Err((
                t[1].col,
                format!(
                    "$GENERATE makes more than {MAX_GENERATE} records (or {MAX_GENERATE_TOTAL} in all)"
                ),
            ));
        }
        self.st.generated += count;
        let mut v = start;
        while v <= stop {
            let mut toks = Vec::with_capacity(t.len() - 2);
            for (k, tok) in t[2..].iter().enumerate() {
                // only the owner and the data are templates
                let templ = k == 0 || k + 2 == t.len() - 1 || tok.text.contains(&b'$');
                let text = if templ {
                    expand(&tok.text, v).map_err(|m| (tok.col, m))?
                } else {
                    tok.text.clone()
                };
                toks.push(Token {
                    text,
                    quoted: tok.quoted,
                    line: tok.line,
                    col: tok.col,
                });
            }
            let (owner, _) = Name::parse(&toks[0].text, self.st.origin.as_ref(), Escapes::Decimal)
                .map_err(|m| (toks[0].col, m))?;
            self.st.last_owner = Some(owner.clone());
            self.record(file, e.line, owner, &toks[1..], None, t[2].col)?;
            v += step;
        }
        Ok(())
    }
}

/// A path for messages: escaped, and shortened when it is long.
fn show_path(p: &Path) -> String {
    let s = opsbox_common::escape::bytes(p.as_os_str().as_encoded_bytes());
    match s.char_indices().nth(200) {
        None => s.into_owned(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

/// The entry's comment, when it is on the line of the entry's last token (the one that can
/// be cli53's routing comment or the rest of an unquoted TXT), with its column.
fn comment_of(e: &Entry) -> Option<(&str, u32)> {
    let last = e.tokens.last()?;
    let c = e.comment.as_deref()?;
    (e.comment_line == last.line && e.comment_col > last.col).then_some((c, e.comment_col))
}

fn gen_range(s: &[u8]) -> Option<(u64, u64, u64)> {
    let s = std::str::from_utf8(s).ok()?;
    let (range, step) = match s.split_once('/') {
        Some((r, st)) => (r, st.parse::<u64>().ok()?),
        None => (s, 1),
    };
    let (a, b) = range.split_once('-')?;
    let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
    if step == 0 || a > b || b > u64::from(u32::MAX) {
        return None;
    }
    Some((a, b, step))
}

/// Expand a `$GENERATE` template: `$` → the value, `${offset,width,base}` (base d o x X n N),
/// `\$` stays an escaped `$`.
fn expand(t: &[u8], v: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(t.len() + 8);
    let mut i = 0;
    while i < t.len() {
        match t[i] {
            b'\\' if i + 1 < t.len() => {
                out.extend_from_slice(&t[i..i + 2]);
                i += 2;
            }
            b'$' if t.get(i + 1) == Some(&b'{') => {
                let end = t[i..]
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or("unterminated ${...} in $GENERATE")?
                    + i;
                let raw = std::str::from_utf8(&t[i + 2..end]).map_err(|_| "bad ${...}")?;
                let inner = opsbox_common::escape::quote(&format!("${{{raw}}}"));
                let mut parts = raw.split(',');
                let off: i64 = parts
                    .next()
                    .unwrap_or("0")
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad offset in {inner}"))?;
                let width: usize = match parts.next() {
                    Some(w) => w
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad width in {inner}"))?,
                    None => 0,
                };
                if width > 255 {
                    return Err(format!("width above 255 in {inner}"));
                }
                let base = parts.next().unwrap_or("d").trim();
                if parts.next().is_some() {
                    return Err(format!("too many fields in {inner}"));
                }
                let n = (v as i64)
                    .checked_add(off)
                    .filter(|n| *n >= 0)
                    .ok_or("$GENERATE value out of range")? as u64;
                let s = match base {
                    "d" => format!("{n:0width$}"),
                    "o" => format!("{n:0width$o}"),
                    "x" => format!("{n:0width$x}"),
                    "X" => format!("{n:0width$X}"),
                    "n" | "N" => nibbles(n, width, base == "N"),
                    _ => {
                        return Err(format!(
                            "bad base {} in {inner}",
                            opsbox_common::escape::quote(base)
                        ));
                    }
                };
                out.extend_from_slice(s.as_bytes());
                i = end + 1;
            }
            b'$' => {
                out.extend_from_slice(v.to_string().as_bytes());
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// BIND's nibble format: hex digits lowest first, each followed by a dot, `width` characters.
fn nibbles(n: u64, width: usize, upper: bool) -> String {
    let hex = if upper {
        format!("{n:X}")
    } else {
        format!("{n:x}")
    };
    let mut s = String::new();
    let digits: Vec<char> = hex.chars().rev().collect();
    let mut k = 0;
    while s.len() < width.max(1) || k < digits.len() {
        let d = digits.get(k).copied().unwrap_or('0');
        s.push(d);
        s.push('.');
        k += 1;
        if s.len() >= width && k >= digits.len() {
            break;
        }
    }
    if width > 0 && s.len() > width {
        s.truncate(width);
    }
    s.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn parse(s: &str, origin: Option<&str>) -> Parsed {
        let opts = Options {
            origin: origin.map(|o| Name::parse(o.as_bytes(), None, Escapes::Decimal).unwrap().0),
            ..Options::default()
        };
        Parser::new(opts).parse("t.zone", s.as_bytes(), None)
    }

    #[test]
    fn ttl_and_class_any_order() {
        let p = parse(
            "$TTL 1h\na 300 IN A 1.2.3.4\nb IN 1H30M A 1.2.3.4\nc A 1.2.3.4\n d 60 A 1.1.1.1\n",
            Some("x."),
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let t: Vec<u32> = p.records.iter().map(|r| r.ttl).collect();
        assert_eq!(t, [300, 5400, 3600, 3600]);
        assert_eq!(p.records[3].owner.to_r53(), "c.x.");
    }

    #[test]
    fn rfc1035_inheritance() {
        let p = parse(
            "@ IN SOA ns h 1 2 3 4 3600\nns A 1.2.3.4\nb 10 A 1.2.3.4\nc A 1.2.3.4\n",
            Some("x."),
        );
        let t: Vec<u32> = p.records.iter().map(|r| r.ttl).collect();
        assert_eq!(t, [3600, 3600, 10, 10]);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        let p = parse("a A 1.2.3.4\n", Some("x."));
        assert!(p.problems[0].msg.contains("no TTL"));
    }

    #[test]
    fn clamp_and_errors() {
        let p = parse(
            "a 4294967295 A 1.2.3.4\nb 1 CH A 1.2.3.4\nc 1 A 1.2.3\n$FOO\n",
            Some("x."),
        );
        assert_eq!(p.records[0].ttl, 2147483647);
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.records[1].class, Class::Other(3));
        assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
        assert_eq!((p.problems[0].line, p.problems[0].col), (3, 7));
    }

    #[test]
    fn generate() {
        let p = parse(
            "$TTL 1\n$GENERATE 0-16 $.${1,2,o}.${3,4,d}.${5,6,X}.${7,8,x} A 1.2.3.4\n$GENERATE 1-3/2 h$ CNAME t${10}\n",
            Some("u."),
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.records.len(), 19);
        assert_eq!(p.records[0].owner.to_r53(), "0.01.0003.000005.00000007.u.");
        assert_eq!(
            p.records[16].owner.to_r53(),
            "16.21.0019.000015.00000017.u."
        );
        assert_eq!(nibbles(0x1234, 0, false), "4.3.2.1");
        assert_eq!(nibbles(0x12, 7, false), "2.1.0.0");
        let p = parse("$GENERATE 0-99999999 $ A 1.2.3.4\n", Some("u."));
        assert!(p.problems[0].msg.contains("more than"));
    }

    #[test]
    fn unquoted_semicolon_warns() {
        let p = parse(
            "$TTL 1\n_dmarc TXT v=DMARC1; p=none\nok TXT \"a;b\" ; fine\n",
            Some("x."),
        );
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].msg.contains("\"p=none\""), "{:?}", p.warnings);
        assert_eq!(p.warnings[0].line, 2);
        // a comment line before an unquoted TXT, or a comment after a space, is no loss
        let p = parse(
            "$TTL 1\n; a comment about the next record\n\nt TXT hello\nu TXT hello ; fine\n",
            Some("x."),
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn records_limit_at_the_boundary() {
        let src = "$TTL 1\na A 192.0.2.1\nb A 192.0.2.2\n$GENERATE 1-3 g$ A 192.0.2.3\n";
        let run = |max| {
            Parser::new(Options {
                origin: Some(Name::parse(b"x.", None, Escapes::Decimal).unwrap().0),
                ..Options::default()
            })
            .max_records(max)
            .parse("t.zone", src.as_bytes(), None)
        };
        let p = run(5);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.records.len(), 5);
        let p = run(4);
        assert!(p.fatal);
        assert_eq!(p.records.len(), 4);
        assert_eq!(p.show(&p.problems[0]), "t.zone:4:15: more than 4 records");
    }

    #[test]
    fn routing_and_alias() {
        let p = parse(
            "$TTL 1\nw A 1.2.3.4 ; AWS routing=\"WEIGHTED\" weight=1 identifier=\"One\"\nal 60 AWS ALIAS A w $self false\n",
            Some("x."),
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let r = p.records[0].routing.as_ref().unwrap();
        assert_eq!(r["Weight"], 1);
        assert_eq!(r["SetIdentifier"], "One");
        assert!(
            matches!(&p.records[1].data, Data::Alias(a) if a.zone_id == "$self" && a.target.to_r53() == "w.x.")
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::zone::{BuildOpts, build};
    use proptest::prelude::*;

    const SEED: &str = "$ORIGIN ex.\n$TTL 1h\n@ SOA ns h ( 1 2 3 4 5 )\n\tNS ns\nw A 192.0.2.1 ; AWS routing=\"WEIGHTED\" weight=1 identifier=\"a\"\nt TXT \"a\\\"b\" c\\032d\nm MX 10 m\ns SRV 0 0 0 .\nh HTTPS 1 . alpn=\"h2,h3\" port=443\nd DS 1 2 3 ABCD\n$GENERATE 1-3 g$ A 10.0.0.${1,2,d}\nx TYPE1 \\# 4 0A000001\nal 0 AWS ALIAS A w $self false\n";

    proptest! {
        /// Arbitrary bytes, and a valid zone with bytes replaced, inserted or cut: the
        /// parser and the RRset builder return (problems or RRsets), they never panic.
        #[test]
        fn never_panics(junk in prop::collection::vec(any::<u8>(), 0..400),
                        edits in prop::collection::vec((0usize..400, any::<u8>(), 0u8..3), 0..12)) {
            let mut z = SEED.as_bytes().to_vec();
            for (at, b, how) in edits {
                let at = at % (z.len() + 1);
                match how {
                    0 if at < z.len() => z[at] = b,
                    1 => z.insert(at, b),
                    _ if at < z.len() => { z.remove(at); }
                    _ => {}
                }
            }
            for input in [junk, z] {
                for lenient in [false, true] {
                    let p = Parser::new(Options { split_long_txt: lenient, ..Options::default() })
                        .parse("f", input.as_slice(), None);
                    let _ = build(p.records, p.soa_owner.clone(), &BuildOpts { lenient, zone_id: Some("Z".into()), ..BuildOpts::default() });
                }
            }
        }
    }
}
