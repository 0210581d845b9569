//! Inventories read natively: a plain list of addresses, a hosts file, an Ansible INI
//! inventory, or the JSON of `ansible-inventory --list`. All come out as hosts, groups and
//! variables, each remembering the line it came from for `FILE:LINE:` messages.

use opsbox_common::Error;
use std::collections::{BTreeMap, BTreeSet};

/// A variable's value as a list of words, and where it was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Val {
    pub items: Vec<String>,
    pub line: u64,
    /// The file it was set in, when not the inventory itself (group_vars/, host_vars/).
    pub file: Option<std::sync::Arc<str>>,
}

pub type Vars = BTreeMap<String, Val>;

#[derive(Clone, Debug, Default)]
pub struct Host {
    pub vars: Vars,
    pub line: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Group {
    pub hosts: BTreeSet<String>,
    pub children: BTreeSet<String>,
    pub vars: Vars,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    List,
    Hosts,
    Ini,
    Yaml,
    Json,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::List => "a plain list",
            Format::Hosts => "a hosts file",
            Format::Ini => "an INI inventory",
            Format::Yaml => "a YAML inventory",
            Format::Json => "JSON",
        }
    }
}

impl Format {
    pub fn parse(s: &str) -> Result<Option<Format>, String> {
        Ok(match s {
            "auto" => None,
            "list" => Some(Format::List),
            "hosts" => Some(Format::Hosts),
            "ini" => Some(Format::Ini),
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => {
                return Err(format!(
                    "'{s}': expected auto, list, hosts, ini, yaml or json"
                ));
            }
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct Inventory {
    /// The file as named in messages.
    pub file: String,
    pub hosts: BTreeMap<String, Host>,
    pub groups: BTreeMap<String, Group>,
    /// Other names of hosts (hosts-file aliases) to their inventory name.
    pub aliases: BTreeMap<String, String>,
    /// Things worth a warning that are not errors (duplicate lines).
    pub warnings: Vec<String>,
    /// A plain list: every host is named by its address.
    pub by_address: bool,
    /// Each group's distance from `all`, computed once.
    depth: std::cell::OnceCell<BTreeMap<String, usize>>,
}

impl Inventory {
    /// The inventory name of `name` (itself or through an alias).
    pub fn resolve(&self, name: &str) -> Option<&str> {
        match self.hosts.get_key_value(name) {
            Some((k, _)) => Some(k.as_str()),
            None => self.aliases.get(name).map(String::as_str),
        }
    }
    pub(crate) fn new(file: &str) -> Self {
        Inventory {
            file: file.to_string(),
            ..Default::default()
        }
    }
    pub fn err(&self, line: u64, msg: impl std::fmt::Display) -> Error {
        Error::at(&self.file, line, 0, msg)
    }
    /// An error about a variable, at the file and line it was set.
    pub fn err_val(&self, v: &Val, msg: impl std::fmt::Display) -> Error {
        Error::at(v.file.as_deref().unwrap_or(&self.file), v.line, 0, msg)
    }
    pub(crate) fn host(&mut self, name: &str, line: u64) -> &mut Host {
        self.hosts.entry(name.to_string()).or_insert(Host {
            vars: Vars::new(),
            line,
        })
    }
    pub(crate) fn group(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_string()).or_default()
    }

    /// Every group a host is in, directly or through `children`, ordered the way Ansible
    /// applies their variables: `all` first, parents before children, then by name.
    pub fn groups_of(&self, host: &str) -> Vec<&str> {
        let mut direct: BTreeSet<&str> = self
            .groups
            .iter()
            .filter(|(_, g)| g.hosts.contains(host))
            .map(|(n, _)| n.as_str())
            .collect();
        // close over parents
        loop {
            let before = direct.len();
            let parents: Vec<&str> = self
                .groups
                .iter()
                .filter(|(_, g)| g.children.iter().any(|c| direct.contains(c.as_str())))
                .map(|(n, _)| n.as_str())
                .collect();
            direct.extend(parents);
            if direct.len() == before {
                break;
            }
        }
        direct.insert("all");
        let depth = self.depth.get_or_init(|| self.depths());
        let mut v: Vec<&str> = direct.into_iter().collect();
        v.sort_by_key(|g| (depth.get(*g).copied().unwrap_or(0), *g));
        v
    }

    fn depths(&self) -> BTreeMap<String, usize> {
        let mut d: BTreeMap<String, usize> = BTreeMap::new();
        // bounded relaxation: cycles cannot loop forever
        for _ in 0..=self.groups.len() {
            let mut changed = false;
            for (name, g) in &self.groups {
                let pd = d.get(name).copied().unwrap_or(0);
                for c in &g.children {
                    if c != name && d.get(c).copied().unwrap_or(0) < pd + 1 {
                        d.insert(c.clone(), pd + 1);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        d
    }

    /// One variable of a host, by Ansible's precedence (its own, then its groups', the
    /// most specific first), without copying the rest; `h` is the host, looked up.
    pub fn var_with<'a>(&'a self, host: &str, h: Option<&'a Host>, key: &str) -> Option<&'a Val> {
        if let Some(v) = h.and_then(|h| h.vars.get(key)) {
            return Some(v);
        }
        // most keys (ansible_host, genfw_addrs) are never group variables
        if !self.groups.values().any(|g| g.vars.contains_key(key)) {
            return None;
        }
        self.groups_of(host)
            .into_iter()
            .rev()
            .find_map(|g| self.groups.get(g).and_then(|g| g.vars.get(key)))
    }

    /// All hosts in a group (through children), sorted.
    pub fn members(&self, group: &str) -> BTreeSet<String> {
        if group == "all" {
            return self.hosts.keys().cloned().collect();
        }
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![group.to_string()];
        while let Some(g) = todo.pop() {
            if !seen.insert(g.clone()) {
                continue;
            }
            if let Some(grp) = self.groups.get(&g) {
                out.extend(grp.hosts.iter().cloned());
                todo.extend(grp.children.iter().cloned());
            }
        }
        out
    }

    /// A host's variables: group variables in Ansible's order, then its own.
    pub fn vars_of(&self, host: &str) -> Vars {
        let mut vars = Vars::new();
        for g in self.groups_of(host) {
            if let Some(grp) = self.groups.get(g) {
                vars.extend(grp.vars.clone());
            }
        }
        if let Some(h) = self.hosts.get(host) {
            vars.extend(h.vars.clone());
        }
        vars
    }
}

/// Guess the format from the text.
pub fn detect(text: &str) -> Format {
    if text.trim_start().starts_with('{') {
        return Format::Json;
    }
    if crate::yaml::looks_like(text) {
        return Format::Yaml;
    }
    let mut multi = false;
    for line in text.lines() {
        let t = strip_comment(line).trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with('[') || t.contains('=') {
            return Format::Ini;
        }
        if t.split_whitespace().nth(1).is_some() {
            multi = true;
        }
    }
    if multi { Format::Hosts } else { Format::List }
}

fn strip_comment(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with('#') || t.starts_with(';') {
        return "";
    }
    // most lines hold no '#': one fast scan decides
    if !line.contains('#') {
        return line;
    }
    match line.find(" #").or_else(|| line.find("\t#")) {
        Some(i) => &line[..i],
        None => line,
    }
}

/// Largest inventory read (checked while reading, before the text is kept whole).
pub(crate) const INVENTORY_MAX: u64 = 64 << 20;

/// All of `r`, or None when it holds more than `max` bytes (at most `max + 1` read).
pub(crate) fn read_capped(r: impl std::io::Read, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut buf = Vec::new();
    r.take(max + 1).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= max).then_some(buf))
}

/// Read the inventory at `path` (`-`: stdin), named `file` in messages; also returns the
/// bytes its hash covers.
pub(crate) fn load(
    path: &str,
    file: &str,
    format: Option<Format>,
) -> Result<(Inventory, Vec<u8>), Error> {
    let reader = opsbox_common::input::open(path)?;
    let bytes = read_capped(reader, INVENTORY_MAX)
        .map_err(|e| Error::from_io(file, &e))?
        .ok_or_else(|| {
            Error::data(format!(
                "{file}: larger than {} MiB, genfw's limit for an inventory",
                INVENTORY_MAX >> 20
            ))
        })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::data(format!("{file}: not UTF-8 text (byte {})", e.valid_up_to())))?;
    let mut inv = parse(file, text, format)?;
    let mut bytes = bytes;
    if path != "-" {
        // group_vars/ and host_vars/ beside the inventory, as Ansible reads them
        let dir = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        bytes.extend(crate::yaml::vars_dirs(&mut inv, dir)?);
    }
    Ok((inv, bytes))
}

/// Read an inventory in the given (or guessed) format.
pub fn parse(file: &str, text: &str, format: Option<Format>) -> Result<Inventory, Error> {
    let guess = detect(text);
    let f = format.unwrap_or(guess);
    let res = match f {
        Format::List => parse_list(file, text),
        Format::Hosts => parse_hosts(file, text),
        Format::Ini => parse_ini(file, text),
        Format::Yaml => crate::yaml::parse(file, text),
        Format::Json => parse_json(file, text),
    };
    // read as one format, it looks like another: say so, in the user's terms
    res.map_err(|e| {
        if f != guess {
            e.with_hint(format!(
                "This was read as {} (--inventory-format), but it looks like {}.",
                f.name(),
                guess.name()
            ))
        } else {
            e
        }
    })
}

fn parse_list(file: &str, text: &str) -> Result<Inventory, Error> {
    let mut inv = Inventory::new(file);
    inv.by_address = true;
    // (name, line) collected, sorted, then built into the map in one go: a list of
    // 100,000 addresses costs no per-insert search
    let mut all: Vec<(&str, u64)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let mut words = strip_comment(line).split_whitespace();
        let Some(w) = words.next() else { continue };
        if let Some(extra) = words.next() {
            return Err(inv.err(n, format!("unexpected '{extra}': one address per line")));
        }
        if all.len() >= HOSTS_MAX {
            return Err(inv.err(n, format!("more than {HOSTS_MAX} hosts")));
        }
        // the host is named by its address
        all.push((w, n));
    }
    all.sort_unstable();
    let mut dups = Vec::new();
    all.dedup_by(|b, a| {
        let same = a.0 == b.0;
        if same {
            dups.push((b.1, a.1));
        }
        same
    });
    dups.sort_unstable();
    for (n, first) in dups {
        let msg = format!("{file}:{n}: duplicate of line {first}, listed once");
        inv.warnings.push(msg);
    }
    inv.hosts = all
        .into_iter()
        .map(|(w, line)| {
            (
                w.to_string(),
                Host {
                    vars: Vars::new(),
                    line,
                },
            )
        })
        .collect();
    Ok(inv)
}

fn parse_hosts(file: &str, text: &str) -> Result<Inventory, Error> {
    let mut inv = Inventory::new(file);
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let mut words = strip_comment(line).split_whitespace();
        let Some(addr) = words.next() else { continue };
        let Some(name) = words.next() else {
            return Err(inv.err(n, format!("'{addr}' has no host name (hosts-file line)")));
        };
        if skipped_hosts_entry(addr) {
            continue;
        }
        for alias in words {
            if alias != name {
                inv.aliases.insert(alias.to_string(), name.to_string());
            }
        }
        let h = inv.host(name, n);
        let items = &mut h
            .vars
            .entry("ansible_host".into())
            .or_insert(Val {
                items: vec![],
                line: n,
                file: None,
            })
            .items;
        if items.is_empty() {
            items.push(addr.to_string());
        } else {
            // a second line for the same name: another address of that host
            h.vars
                .entry("genfw_addrs".into())
                .or_insert(Val {
                    items: vec![],
                    line: n,
                    file: None,
                })
                .items
                .push(addr.to_string());
        }
    }
    Ok(inv)
}

/// Loopback, link-local and multicast lines of /etc/hosts are not fleet members.
fn skipped_hosts_entry(addr: &str) -> bool {
    addr.starts_with("127.")
        || addr == "::1"
        || addr.to_ascii_lowercase().starts_with("fe")
        || addr.to_ascii_lowercase().starts_with("ff")
}

/// Split a line into words, honouring single and double quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true
            }
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            None if c == '#' && cur.is_empty() && !any => break,
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A variable's text as a list: `a,b`, `a b`, `['a', 'b']`.
pub fn split_value(v: &str) -> Vec<String> {
    let t = v.trim();
    // a whole value in one pair of quotes (INI `key="a b"`) is that text
    let inner = unquote(t);
    let t = if inner.len() < t.len() && !inner.contains(&t[..1]) {
        inner
    } else {
        t
    };
    let t = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    t.split(|c: char| c == ',' || c.is_whitespace())
        .map(unquote)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A word without its quotes when they pair up (`'443'`, `"lo"`); a stray quote stays,
/// so the value is refused where it is used instead of silently changing meaning.
fn unquote(w: &str) -> &str {
    for q in ['\'', '"'] {
        if w.len() >= 2 && w.starts_with(q) && w.ends_with(q) {
            return &w[1..w.len() - 1];
        }
    }
    w
}

fn parse_ini(file: &str, text: &str) -> Result<Inventory, Error> {
    enum Sec {
        Hosts(String),
        Children(String),
        Vars(String),
    }
    let mut inv = Inventory::new(file);
    let mut errs = crate::yaml::Errors::default();
    let mut sec = Sec::Hosts("ungrouped".into());
    for (i, raw) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.starts_with('[') {
            let Some(inner) = strip_comment(t)
                .trim()
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
            else {
                errs.push(inv.err(n, format!("bad section header '{t}'")));
                continue;
            };
            let (name, kind) = match inner.split_once(':') {
                Some((g, k)) => (g.trim(), Some(k.trim())),
                None => (inner.trim(), None),
            };
            if !valid_name(name) {
                errs.push(inv.err(n, format!("bad group name '{name}'")));
                continue;
            }
            inv.group(name);
            sec = match kind {
                None | Some("hosts") => Sec::Hosts(name.into()),
                Some("children") => Sec::Children(name.into()),
                Some("vars") => Sec::Vars(name.into()),
                Some(k) => {
                    errs.push(inv.err(n, format!("unknown section kind ':{k}'")));
                    continue;
                }
            };
            continue;
        }
        match &sec {
            Sec::Vars(g) => {
                let Some((k, v)) = t.split_once('=') else {
                    errs.push(inv.err(n, format!("expected key=value in [{g}:vars]")));
                    continue;
                };
                let v = strip_comment(v);
                let val = Val {
                    items: split_value(v),
                    line: n,
                    file: None,
                };
                let g = g.clone();
                inv.group(&g).vars.insert(k.trim().to_string(), val);
            }
            Sec::Children(g) => {
                let w = words(t);
                let Some(child) = w.first() else { continue };
                if !valid_name(child) {
                    errs.push(inv.err(n, format!("bad group name '{child}'")));
                    continue;
                }
                let (g, child) = (g.clone(), child.clone());
                inv.group(&child);
                inv.group(&g).children.insert(child);
            }
            Sec::Hosts(g) => {
                let w = words(t);
                let Some(pattern) = w.first() else { continue };
                let pattern = strip_port(pattern);
                let count = match range_count(pattern) {
                    Ok(c) => c,
                    Err(m) => {
                        errs.push(inv.err(n, m));
                        continue;
                    }
                };
                if count <= RANGE_MAX as u64
                    && count.saturating_add(inv.hosts.len() as u64) > HOSTS_MAX as u64
                {
                    // the errors found so far are listed too, then this one; nothing after
                    errs.push(inv.err(
                        n,
                        format!("the inventory would hold more than {HOSTS_MAX} hosts"),
                    ));
                    break;
                }
                let names = match expand_range(pattern) {
                    Ok(v) => v,
                    Err(m) => {
                        errs.push(inv.err(n, m));
                        continue;
                    }
                };
                let mut vars = Vars::new();
                for kv in &w[1..] {
                    let Some((k, v)) = kv.split_once('=') else {
                        errs.push(inv.err(n, format!("expected key=value, found '{kv}'")));
                        continue;
                    };
                    vars.insert(
                        k.to_string(),
                        Val {
                            items: split_value(v),
                            line: n,
                            file: None,
                        },
                    );
                }
                let g = g.clone();
                for name in names {
                    let h = inv.host(&name, n);
                    h.vars.extend(vars.clone());
                    inv.group(&g).hosts.insert(name);
                }
            }
        }
    }
    errs.finish(file)?;
    Ok(inv)
}

pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Ansible's `host:port` (one colon, digits after it): the port is SSH's, not ours.
fn strip_port(pattern: &str) -> &str {
    match pattern.split_once(':') {
        Some((h, p))
            if !h.is_empty()
                && !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && !h.contains(':') =>
        {
            h
        }
        _ => pattern,
    }
}

/// Most hosts one range pattern may name (`db-[a:z][a:z][a:z]` is 17,576).
pub(crate) const RANGE_MAX: usize = 65_536;
/// Most hosts one inventory may hold (ranges counted before they are expanded).
pub(crate) const HOSTS_MAX: usize = 1_000_000;

/// One `[START:END:STEP]` of a pattern: numbers (with their zero-padding width) or letters.
enum Range {
    Num {
        from: u64,
        to: u64,
        step: u64,
        width: usize,
    },
    Alpha {
        from: u8,
        to: u8,
        step: u8,
    },
}

impl Range {
    fn len(&self) -> u64 {
        match *self {
            Range::Num { from, to, step, .. } => (to - from) / step + 1,
            Range::Alpha { from, to, step } => u64::from((to - from) / step) + 1,
        }
    }
}

/// A pattern cut into its fixed texts and ranges: `head [r] mid [r] tail`.
fn parse_pattern(pattern: &str) -> Result<(Vec<&str>, Vec<Range>), String> {
    let shown = opsbox_common::escape::quote(pattern);
    let mut texts = Vec::new();
    let mut ranges = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| c + open) else {
            return Err(format!("{shown}: unclosed range ('[' without ']')"));
        };
        texts.push(&rest[..open]);
        let inner = &rest[open + 1..close];
        let parts: Vec<&str> = inner.split(':').collect();
        let bad = |why: &str| {
            format!(
                "{shown}: [{}] {why} (a range is [START:END] or [START:END:STEP], numbers or single letters)",
                opsbox_common::escape::text(inner)
            )
        };
        if parts.len() < 2 || parts.len() > 3 {
            return Err(bad("has the wrong number of parts"));
        }
        let step = match parts.get(2) {
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|&s| s > 0)
                .ok_or_else(|| bad("has a step that is not a positive number"))?,
            None => 1,
        };
        let (a, b) = (parts[0], parts[1]);
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
        if digits(a) && digits(b) {
            let (Ok(from), Ok(to)) = (a.parse::<u64>(), b.parse::<u64>()) else {
                return Err(bad("has a number too large"));
            };
            if from > to {
                return Err(bad("runs backwards"));
            }
            let width = if a.len() > 1 && a.starts_with('0') {
                a.len()
            } else {
                0
            };
            ranges.push(Range::Num {
                from,
                to,
                step,
                width,
            });
        } else if a.len() == 1 && b.len() == 1 {
            let (x, y) = (a.as_bytes()[0], b.as_bytes()[0]);
            if !(x.is_ascii_alphabetic() && y.is_ascii_alphabetic()) {
                return Err(bad("is neither numbers nor letters"));
            }
            if x > y {
                return Err(bad("runs backwards"));
            }
            let step = u8::try_from(step).unwrap_or(u8::MAX);
            ranges.push(Range::Alpha {
                from: x,
                to: y,
                step,
            });
        } else {
            return Err(bad("is neither numbers nor letters"));
        }
        rest = &rest[close + 1..];
    }
    texts.push(rest);
    Ok((texts, ranges))
}

/// How many hosts a pattern names, without expanding it (`None`: it is not a pattern the
/// parser accepts, and [`expand_range`] says why).
pub(crate) fn range_count(pattern: &str) -> Result<u64, String> {
    if pattern.contains("::") || pattern.split('[').next().unwrap_or("").contains(':') {
        return Ok(1);
    }
    let (_, ranges) = parse_pattern(pattern)?;
    Ok(ranges
        .iter()
        .try_fold(1u64, |n, r| n.checked_mul(r.len()))
        .unwrap_or(u64::MAX))
}

/// Ansible host ranges: `web[01:20].example.com`, `db-[a:c]`, `h[1:10:2]`; at most
/// [`RANGE_MAX`] hosts, counted before anything is allocated.
pub fn expand_range(pattern: &str) -> Result<Vec<String>, String> {
    // an IPv6 literal is not a range
    if !pattern.contains('[')
        || pattern.contains("::")
        || pattern.split('[').next().unwrap_or("").contains(':')
    {
        return Ok(vec![pattern.to_string()]);
    }
    let n = range_count(pattern)?;
    if n > RANGE_MAX as u64 {
        return Err(format!(
            "{}: the range names {} hosts; one pattern may name at most {RANGE_MAX}",
            opsbox_common::escape::quote(pattern),
            if n == u64::MAX {
                "too many".to_string()
            } else {
                n.to_string()
            },
        ));
    }
    let (texts, ranges) = parse_pattern(pattern)?;
    let mut out = vec![texts[0].to_string()];
    for (r, text) in ranges.iter().zip(&texts[1..]) {
        let mut next = Vec::with_capacity(out.len() * r.len() as usize);
        for head in &out {
            match *r {
                Range::Num {
                    from,
                    to,
                    step,
                    width,
                } => {
                    for v in (from..=to).step_by(step as usize) {
                        next.push(format!("{head}{v:0width$}{text}"));
                    }
                }
                Range::Alpha { from, to, step } => {
                    for v in (from..=to).step_by(step as usize) {
                        next.push(format!("{head}{}{text}", v as char));
                    }
                }
            }
        }
        out = next;
    }
    Ok(out)
}

/// The line of the first occurrence of `needle` in `text` (1-based; 0 if absent).
/// Where each string of a JSON text first appears (serde_json keeps no positions): one
/// pass over the text, so an inventory of 100,000 hosts costs no search per host.
/// Strings are as written between their quotes (a name with escapes is not found: line 0).
struct JsonLines<'a> {
    strings: std::collections::HashMap<&'a str, u64>,
    keys: std::collections::HashMap<&'a str, u64>,
}

impl<'a> JsonLines<'a> {
    fn new(text: &'a str) -> Self {
        let mut strings = std::collections::HashMap::new();
        let mut keys = std::collections::HashMap::new();
        let b = text.as_bytes();
        let (mut i, mut line) = (0, 1u64);
        while i < b.len() {
            match b[i] {
                b'\n' => {
                    line += 1;
                    i += 1;
                }
                b'"' => {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && b[j] != b'"' {
                        // (valid JSON: no raw newline inside a string)
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                    let j = j.min(b.len());
                    // start and j sit next to an ASCII quote or at the end: char boundaries
                    let Some(tok) = text.get(start..j) else { break };
                    strings.entry(tok).or_insert(line);
                    let mut k = j + 1;
                    while k < b.len() && matches!(b[k], b' ' | b'\t' | b'\r') {
                        k += 1;
                    }
                    if b.get(k) == Some(&b':') {
                        keys.entry(tok).or_insert(line);
                    }
                    i = k;
                }
                _ => i += 1,
            }
        }
        JsonLines { strings, keys }
    }
    /// The line of the first string `s` (0: none).
    fn string(&self, s: &str) -> u64 {
        self.strings.get(s).copied().unwrap_or(0)
    }
    /// The line of `s` as an object's key, else as any string.
    fn key(&self, s: &str) -> u64 {
        self.keys.get(s).copied().unwrap_or_else(|| self.string(s))
    }
}

fn json_items(v: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match v {
        // a list's strings are items as they are (a string alone may be "a,b")
        Value::Array(a) => a
            .iter()
            .flat_map(|i| match i {
                Value::String(s) => vec![s.trim().to_string()],
                other => json_items(other),
            })
            .filter(|s| !s.is_empty())
            .collect(),
        Value::String(s) => split_value(s),
        Value::Null => vec![],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        Value::Object(_) => vec![v.to_string()],
    }
}

fn json_vars(lines: &JsonLines, obj: Option<&serde_json::Value>) -> Vars {
    let mut vars = Vars::new();
    if let Some(serde_json::Value::Object(m)) = obj {
        for (k, v) in m {
            let items = json_items(v);
            // the line of the value's first word, else of the key
            let line = items
                .first()
                .map(|w| lines.string(w))
                .filter(|&l| l > 0)
                .unwrap_or_else(|| lines.key(k));
            vars.insert(
                k.clone(),
                Val {
                    items,
                    line,
                    file: None,
                },
            );
        }
    }
    vars
}

/// Read the JSON of `ansible-inventory --list`. Every mistake in its shape is listed (up to
/// [`crate::yaml::ERRORS_MAX`], then the count), each at the line of the name it concerns.
fn parse_json(file: &str, text: &str) -> Result<Inventory, Error> {
    use serde_json::Value;
    let mut inv = Inventory::new(file);
    let root: Value = serde_json::from_str(text).map_err(|e| {
        Error::at(
            file,
            e.line() as u64,
            e.column() as u64,
            format!("bad JSON: {e}")
                .split(" at line ")
                .next()
                .unwrap_or("bad JSON")
                .to_string(),
        )
    })?;
    let Value::Object(top) = &root else {
        return Err(inv.err(1, "expected the JSON object of `ansible-inventory --list`"));
    };
    let mut errs = crate::yaml::Errors::default();
    let q = opsbox_common::escape::quote;
    let lines = JsonLines::new(text);
    let hostvars = match top.get("_meta") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => match m.get("hostvars") {
            None | Some(Value::Null) => None,
            Some(Value::Object(hv)) => Some(hv),
            Some(_) => {
                let line = lines.key("hostvars");
                errs.push(inv.err(line, "_meta: hostvars is not an object"));
                None
            }
        },
        Some(_) => {
            errs.push(inv.err(lines.key("_meta"), "_meta is not an object"));
            None
        }
    };
    let mut capped = false;
    'groups: for (gname, g) in top {
        if gname == "_meta" {
            continue;
        }
        let line = lines.key(gname);
        let Value::Object(g) = g else {
            errs.push(inv.err(
                line,
                format!(
                    "group {}: expected an object, found {}",
                    q(gname),
                    json_kind(g)
                ),
            ));
            continue;
        };
        let what = format!("group {}", q(gname));
        let mut grp = Group {
            vars: json_vars_obj(
                file,
                &lines,
                g.get("vars"),
                line,
                &format!("{what} vars"),
                &mut errs,
            ),
            ..Default::default()
        };
        for h in json_names(
            file,
            g.get("hosts"),
            line,
            &format!("{what} hosts"),
            &mut errs,
        ) {
            if !inv.hosts.contains_key(h) && inv.hosts.len() >= HOSTS_MAX {
                errs.push(inv.err(
                    lines.string(h),
                    format!("the inventory would hold more than {HOSTS_MAX} hosts"),
                ));
                capped = true;
                break 'groups;
            }
            grp.hosts.insert(h.to_string());
            let hl = lines.string(h);
            inv.host(h, hl);
        }
        for c in json_names(
            file,
            g.get("children"),
            line,
            &format!("{what} children"),
            &mut errs,
        ) {
            grp.children.insert(c.to_string());
        }
        inv.groups.insert(gname.clone(), grp);
    }
    // (after the limit, nothing more is read)
    let hostvars = hostvars.filter(|_| !capped);
    for (h, vars) in hostvars.into_iter().flatten() {
        if inv.hosts.len() >= HOSTS_MAX && !inv.hosts.contains_key(h) {
            // (listed under a group or not, the cap is the cap)
            errs.push(inv.err(
                lines.string(h),
                format!("the inventory would hold more than {HOSTS_MAX} hosts"),
            ));
            break;
        }
        let hl = lines.string(h);
        let vars = json_vars_obj(
            file,
            &lines,
            Some(vars),
            hl,
            &format!("host {}", q(h)),
            &mut errs,
        );
        inv.host(h, hl).vars.extend(vars);
    }
    errs.finish(file)?;
    // children referenced but not listed are empty groups
    let kids: Vec<String> = inv
        .groups
        .values()
        .flat_map(|g| g.children.iter().cloned())
        .collect();
    for k in kids {
        inv.group(&k);
    }
    Ok(inv)
}

/// A value that should be a list of names: its names, and an error for each entry that is
/// not one (or for the value, if it is not a list).
fn json_names<'a>(
    file: &str,
    v: Option<&'a serde_json::Value>,
    line: u64,
    what: &str,
    errs: &mut crate::yaml::Errors,
) -> Vec<&'a str> {
    use serde_json::Value;
    let mut out = Vec::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for x in a {
                match x.as_str() {
                    Some(s) => out.push(s),
                    None => errs.push(Error::at(
                        file,
                        line,
                        0,
                        format!("{what}: {} is not a name", json_kind(x)),
                    )),
                }
            }
        }
        Some(x) => errs.push(Error::at(
            file,
            line,
            0,
            format!("{what}: expected a list of names, found {}", json_kind(x)),
        )),
    }
    out
}

/// A value that should be an object of variables (or absent).
fn json_vars_obj(
    file: &str,
    lines: &JsonLines,
    v: Option<&serde_json::Value>,
    line: u64,
    what: &str,
    errs: &mut crate::yaml::Errors,
) -> Vars {
    use serde_json::Value;
    match v {
        None | Some(Value::Null) | Some(Value::Object(_)) => json_vars(lines, v),
        Some(x) => {
            errs.push(Error::at(
                file,
                line,
                0,
                format!(
                    "{what}: expected an object of variables, found {}",
                    json_kind(x)
                ),
            ));
            Vars::new()
        }
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            expand_range("web[01:03].ex").unwrap(),
            ["web01.ex", "web02.ex", "web03.ex"]
        );
        assert_eq!(expand_range("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand_range("h[1:5:2]").unwrap(), ["h1", "h3", "h5"]);
        assert_eq!(expand_range("r[1:2]x[a:b]").unwrap().len(), 4);
        assert!(expand_range("h[5:1]").is_err());
        assert!(expand_range("h[1:2").is_err());
        assert!(expand_range("a[1:90000]b[1:90000]").is_err());
        assert_eq!(expand_range("h[1:10:4]").unwrap(), ["h1", "h5", "h9"]);
        assert_eq!(
            expand_range("h[z:a]").unwrap_err(),
            "\"h[z:a]\": [z:a] runs backwards (a range is [START:END] or [START:END:STEP], numbers or single letters)"
        );
        // the limit, at the boundary and counted before expanding
        assert_eq!(expand_range("h[1:65536]").unwrap().len(), RANGE_MAX);
        assert_eq!(
            expand_range("web[0:999999]").unwrap_err(),
            "\"web[0:999999]\": the range names 1000000 hosts; one pattern may name at most 65536"
        );
        assert!(
            expand_range("h[0:65536]")
                .unwrap_err()
                .contains("65537 hosts")
        );
        let five = "db-[a:z][a:z][a:z][a:z][a:z]";
        assert!(expand_range(five).unwrap_err().contains("11881376 hosts"));
        assert!(
            expand_range("h[0:99999999999999999999]")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            expand_range("h[0:4000000000][0:4000000000][0:4000000000]")
                .unwrap_err()
                .contains("too many hosts")
        );
        assert_eq!(strip_port("db1:2222"), "db1");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
    }

    #[test]
    fn detection() {
        assert_eq!(detect("10.0.0.1\n# c\n10.0.0.2\n"), Format::List);
        assert_eq!(detect("10.0.0.1 a a.ex\n"), Format::Hosts);
        assert_eq!(detect("[web]\na\n"), Format::Ini);
        assert_eq!(detect("a ansible_host=10.0.0.1\n"), Format::Ini);
        assert_eq!(detect(" {\"all\":{}}"), Format::Json);
    }

    #[test]
    fn ini_groups_children_vars() {
        let text = "\
[all:vars]
genfw_mgmt=10.8.0.0/24
[web]
web[1:2] ansible_host=10.0.0.1
[db]
db1 ansible_host=10.0.1.1 genfw_public_tcp='5432'
[backend:children]
db
[backend:vars]
genfw_public_tcp=[\"80\", '443']
";
        let inv = parse("inv", text, None).unwrap();
        assert_eq!(inv.hosts.len(), 3);
        assert_eq!(
            inv.members("backend").into_iter().collect::<Vec<_>>(),
            ["db1"]
        );
        assert_eq!(inv.groups_of("db1"), ["all", "backend", "db"]);
        let v = inv.vars_of("db1");
        assert_eq!(v["genfw_public_tcp"].items, ["5432"]);
        assert_eq!(v["genfw_mgmt"].line, 2);
        let v = inv.vars_of("web1");
        assert!(!v.contains_key("genfw_public_tcp"));
        let e = parse("inv", "[web]\nh x\n", None).unwrap_err();
        assert_eq!(e.message(), Some("inv:2: expected key=value, found 'x'"));
    }

    #[test]
    fn json_inventory() {
        let text = r#"{
  "_meta": {"hostvars": {"a": {"ansible_host": "10.0.0.1"}}},
  "all": {"children": ["ungrouped", "web"], "vars": {"genfw_mgmt": ["10.8.0.0/24"]}},
  "web": {"hosts": ["a"]}
}"#;
        let inv = parse("j", text, None).unwrap();
        assert_eq!(inv.vars_of("a")["ansible_host"].items, ["10.0.0.1"]);
        assert_eq!(inv.vars_of("a")["genfw_mgmt"].line, 3);
        let e = parse("j", "{\n  \"all\": [}", None).unwrap_err();
        assert!(e.message().unwrap().starts_with("j:2:"), "{e:?}");
    }

    #[test]
    fn json_errors_all_listed() {
        let text = r#"{
  "_meta": {"hostvars": {"a": {"ansible_host": "10.0.0.1"}, "b": ["x"]}},
  "all": {"children": ["web", 7], "vars": "genfw_mgmt"},
  "web": {"hosts": ["a", null, {"c": 1}]},
  "db": ["d1"],
  "lb": {"hosts": "lb1"}
}"#;
        crate::yaml::take_listed();
        let e = parse("j", text, None).unwrap_err();
        assert_eq!(e.message(), Some("7 errors in j"));
        assert_eq!(
            crate::yaml::take_listed(),
            [
                // groups in the order serde_json's map keeps them (sorted), then hostvars
                "j:3: group \"all\" vars: expected an object of variables, found a string",
                "j:3: group \"all\" children: a number is not a name",
                "j:5: group \"db\": expected an object, found a list",
                "j:6: group \"lb\" hosts: expected a list of names, found a string",
                "j:4: group \"web\" hosts: null is not a name",
                "j:4: group \"web\" hosts: an object is not a name",
                "j:2: host \"b\": expected an object of variables, found a list",
            ]
        );
        // one error is that error
        let e = parse("j", "{\"web\": {\"hosts\": [1]}}", None).unwrap_err();
        assert_eq!(
            e.message(),
            Some("j:1: group \"web\" hosts: a number is not a name")
        );
        // more than fifty: fifty, then the count
        let many: Vec<String> = (0..60).map(|i| format!("\"g{i}\": 1")).collect();
        let e = parse("j", &format!("{{{}}}", many.join(",\n")), None).unwrap_err();
        assert_eq!(e.message(), Some("60 errors in j (the first 50 shown)"));
        assert_eq!(crate::yaml::take_listed().len(), 50);
    }
}

#[cfg(test)]
mod ini_errors {
    #[test]
    fn quotes_pair_up_or_stay() {
        assert_eq!(super::split_value("[\"80\", '443']"), ["80", "443"]);
        assert_eq!(super::split_value("lo\" accept"), ["lo\"", "accept"]);
        assert_eq!(super::split_value("''"), [""; 0]);
        assert_eq!(
            super::split_value("\"10.8.0.0/24 tcp/80\""),
            ["10.8.0.0/24", "tcp/80"]
        );
        assert_eq!(super::split_value("\"a\", \"b\""), ["a", "b"]);
    }

    #[test]
    fn size_cap_at_the_boundary() {
        let r = |n: usize| super::read_capped(&vec![b'x'; n][..], 10).unwrap();
        assert_eq!(r(10).map(|v| v.len()), Some(10));
        assert_eq!(r(11), None);
        assert_eq!(r(0).map(|v| v.len()), Some(0));
    }

    #[test]
    fn all_listed() {
        let e = super::parse("i", "[web]\nh x\n[a:bogus]\n[db]\nd[3:1]\n", None).unwrap_err();
        assert_eq!(e.message(), Some("3 errors in i"));
    }
}
