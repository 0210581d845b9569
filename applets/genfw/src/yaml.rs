//! YAML inventories as Ansible reads them (`all:` → `hosts:`, `children:`, `vars:`, host
//! ranges in host keys), through saphyr's marked nodes so every host and variable keeps
//! its line; and the `group_vars/` and `host_vars/` directories beside an inventory file
//! (YAML or JSON files, or directories of them), which override the inventory's own
//! variables as in Ansible. Every structural mistake is collected, not only the first.

use crate::inventory::{self, Inventory, Val, Vars};
use opsbox_common::{Error, escape};
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use std::path::Path;
use std::sync::Arc;

/// Most errors listed before the rest are only counted.
pub(crate) const ERRORS_MAX: usize = 50;
/// Largest group_vars/host_vars file read.
pub(crate) const VARS_FILE_MAX: u64 = 1 << 20;
/// Most files read from one group_vars/NAME/ or host_vars/NAME/ directory.
pub(crate) const VARS_DIR_MAX: usize = 256;
/// Deepest children: nesting followed.
pub(crate) const DEPTH_MAX: usize = 64;

/// Whether text looks like a YAML inventory: a `---` start, or a first line that is a
/// bare `name:` key.
pub(crate) fn looks_like(text: &str) -> bool {
    let Some(first) = text
        .lines()
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    else {
        return false;
    };
    if first.starts_with("---") {
        return true;
    }
    let first = first.split(" #").next().unwrap_or(first).trim_end();
    match first.strip_suffix(':') {
        Some(key) => {
            !key.is_empty()
                && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        }
        None => false,
    }
}

thread_local! {
    static LISTED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The error lines listed by [`Errors::finish`] since the last call (one line each).
pub(crate) fn take_listed() -> Vec<String> {
    LISTED.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// Collected errors: all listed (up to [`ERRORS_MAX`]), then one error naming the count.
#[derive(Default)]
pub(crate) struct Errors {
    pub list: Vec<Error>,
}

impl Errors {
    pub fn push(&mut self, e: Error) {
        self.list.push(e);
    }
    /// Ok when empty; one error as it is; several: each kept for [`take_listed`] (the
    /// command line prints them before the summary error this returns).
    pub fn finish(mut self, what: &str) -> Result<(), Error> {
        match self.list.len() {
            0 => Ok(()),
            1 => Err(self.list.remove(0)),
            n => {
                LISTED.with(|l| {
                    let mut l = l.borrow_mut();
                    for e in self.list.iter().take(ERRORS_MAX) {
                        l.push(escape::controls(e.message().unwrap_or("error")).into_owned());
                    }
                });
                let shown = n.min(ERRORS_MAX);
                Err(Error::data(if n > shown {
                    format!("{n} errors in {what} (the first {shown} shown)")
                } else {
                    format!("{n} errors in {what}")
                }))
            }
        }
    }
}

fn line(n: &MarkedYaml) -> u64 {
    n.span.start.line() as u64
}

/// A scalar as the text Ansible would give the variable.
fn scalar_text(n: &MarkedYaml) -> Option<String> {
    match &n.data {
        YamlData::Value(s) => Some(match s {
            Scalar::Null => String::new(),
            Scalar::Boolean(b) => b.to_string(),
            Scalar::Integer(i) => i.to_string(),
            Scalar::FloatingPoint(f) => f.to_string(),
            Scalar::String(s) => s.to_string(),
        }),
        YamlData::Representation(s, _, _) => Some(s.to_string()),
        YamlData::Tagged(_, inner) => scalar_text(inner),
        _ => None,
    }
}

/// A variable's value as items: a string is a list in itself (`a,b`), a sequence's
/// strings are taken whole.
fn items(n: &MarkedYaml) -> Vec<String> {
    match &n.data {
        YamlData::Sequence(seq) => seq
            .iter()
            .flat_map(|i| match scalar_text(i) {
                Some(t) => vec![t.trim().to_string()],
                None => items(i),
            })
            .filter(|s| !s.is_empty())
            .collect(),
        YamlData::Mapping(_) => vec!["<mapping>".into()],
        _ => scalar_text(n)
            .map(|t| inventory::split_value(&t))
            .unwrap_or_default(),
    }
}

fn is_null(n: &MarkedYaml) -> bool {
    matches!(n.data, YamlData::Value(Scalar::Null))
}

/// The variables of a mapping node; other shapes are errors.
fn vars(file: &str, src: Option<&Arc<str>>, n: &MarkedYaml, what: &str, errs: &mut Errors) -> Vars {
    let mut out = Vars::new();
    match &n.data {
        YamlData::Mapping(m) => {
            for (k, v) in m {
                let Some(key) = scalar_text(k) else {
                    errs.push(Error::at(
                        file,
                        line(k),
                        0,
                        format!("{what}: a variable name must be text"),
                    ));
                    continue;
                };
                out.insert(
                    key,
                    Val {
                        items: items(v),
                        line: line(v).max(line(k)),
                        file: src.cloned(),
                    },
                );
            }
        }
        _ if is_null(n) => {}
        _ => errs.push(Error::at(
            file,
            line(n),
            0,
            format!("{what}: expected variables (name: value lines)"),
        )),
    }
    out
}

/// Read a YAML inventory.
pub(crate) fn parse(file: &str, text: &str) -> Result<Inventory, Error> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        Error::at(
            file,
            e.marker().line() as u64,
            e.marker().col() as u64 + 1,
            format!("bad YAML: {}", e.info()),
        )
    })?;
    let mut inv = Inventory::new(file);
    let mut errs = Errors::default();
    match docs.first().map(|d| &d.data) {
        None => {}
        Some(YamlData::Mapping(top)) => {
            for (k, v) in top {
                match scalar_text(k) {
                    Some(g) => group(&mut inv, &g, v, &mut errs, 0),
                    None => errs.push(inv.err(line(k), "a group name must be text")),
                }
            }
        }
        Some(_) if docs.first().is_some_and(is_null) => {}
        Some(_) => {
            return Err(inv.err(
                docs.first().map(line).unwrap_or(1),
                "expected groups at the top level (all: with hosts:, children:, vars:)",
            ));
        }
    }
    errs.finish(file)?;
    Ok(inv)
}

fn group(inv: &mut Inventory, name: &str, n: &MarkedYaml, errs: &mut Errors, depth: usize) {
    let file = inv.file.clone();
    if !inventory::valid_name(name) {
        errs.push(inv.err(
            line(n),
            format!(
                "{}: not a group name (letters, digits, '_', '-', '.')",
                escape::quote(name)
            ),
        ));
        return;
    }
    if depth > DEPTH_MAX {
        errs.push(inv.err(
            line(n),
            format!("group {name}: children nested deeper than {DEPTH_MAX}"),
        ));
        return;
    }
    inv.group(name);
    let m = match &n.data {
        YamlData::Mapping(m) => m,
        _ if is_null(n) => return,
        _ => {
            errs.push(inv.err(
                line(n),
                format!("group {name}: expected hosts:, children: or vars:"),
            ));
            return;
        }
    };
    for (k, v) in m {
        match scalar_text(k).as_deref() {
            Some("hosts") => match &v.data {
                YamlData::Mapping(hosts) => {
                    for (hk, hv) in hosts {
                        let Some(pattern) = scalar_text(hk) else {
                            errs.push(inv.err(line(hk), "a host name must be text"));
                            continue;
                        };
                        let hl = line(hk);
                        let hvars = vars(&file, None, hv, &format!("host {pattern}"), errs);
                        let count = match inventory::range_count(&pattern) {
                            Ok(c) => c,
                            Err(m) => {
                                errs.push(inv.err(hl, m));
                                continue;
                            }
                        };
                        if count <= inventory::RANGE_MAX as u64
                            && count.saturating_add(inv.hosts.len() as u64)
                                > inventory::HOSTS_MAX as u64
                        {
                            errs.push(inv.err(
                                hl,
                                format!("the inventory would hold more than {} hosts", inventory::HOSTS_MAX),
                            ));
                            return;
                        }
                        match inventory::expand_range(&pattern) {
                            Ok(names) => {
                                for h in names {
                                    inv.host(&h, hl).vars.extend(hvars.clone());
                                    inv.group(name).hosts.insert(h);
                                }
                            }
                            Err(m) => errs.push(inv.err(hl, m)),
                        }
                    }
                }
                _ if is_null(v) => {}
                YamlData::Sequence(_) => errs.push(inv.err(
                    line(v),
                    format!("group {name}: hosts: is a mapping (one 'name:' per line), not a list"),
                )),
                _ => errs.push(inv.err(line(v), format!("group {name}: hosts: expected host names"))),
            },
            Some("children") => match &v.data {
                YamlData::Mapping(kids) => {
                    for (ck, cv) in kids {
                        let Some(child) = scalar_text(ck) else {
                            errs.push(inv.err(line(ck), "a group name must be text"));
                            continue;
                        };
                        group(inv, &child, cv, errs, depth + 1);
                        if inventory::valid_name(&child) {
                            inv.group(name).children.insert(child);
                        }
                    }
                }
                _ if is_null(v) => {}
                _ => errs.push(inv.err(
                    line(v),
                    format!("group {name}: children: expected group names"),
                )),
            },
            Some("vars") => {
                let vs = vars(&file, None, v, &format!("group {name}: vars"), errs);
                inv.group(name).vars.extend(vs);
            }
            Some(other) => errs.push(inv.err(
                line(k),
                format!(
                    "group {name}: unknown key {} (a group has hosts:, children: and vars:; a host belongs under hosts:)",
                    escape::quote(other)
                ),
            )),
            None => errs.push(inv.err(line(k), format!("group {name}: a key must be text"))),
        }
    }
}

/// The files Ansible reads for `dir/NAME`: `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json`,
/// or every such file in the directory `NAME/` (sorted).
fn vars_files(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let ok_ext = |p: &Path| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            None | Some("yml" | "yaml" | "json")
        )
    };
    let base = dir.join(name);
    if base.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(&base)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && ok_ext(p))
            .filter(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        v.sort();
        v.truncate(VARS_DIR_MAX);
        return v;
    }
    ["", ".yml", ".yaml", ".json"]
        .iter()
        .map(|ext| dir.join(format!("{name}{ext}")))
        .filter(|p| p.is_file())
        .collect()
}

/// One variables file: a YAML (or JSON) mapping of variables.
fn vars_file(path: &Path, errs: &mut Errors, hashed: &mut Vec<u8>) -> Option<Vars> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > VARS_FILE_MAX {
        errs.push(Error::data(format!(
            "{shown}: larger than {VARS_FILE_MAX} bytes"
        )));
        return None;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            errs.push(Error::from_io(&shown, &e));
            return None;
        }
    };
    hashed.extend_from_slice(shown.as_bytes());
    hashed.push(0);
    hashed.extend_from_slice(&bytes);
    let Ok(text) = std::str::from_utf8(&bytes) else {
        errs.push(Error::data(format!("{shown}: not UTF-8 text")));
        return None;
    };
    let docs = match MarkedYaml::load_from_str(text) {
        Ok(d) => d,
        Err(e) => {
            errs.push(Error::at(
                &shown,
                e.marker().line() as u64,
                e.marker().col() as u64 + 1,
                format!("bad YAML: {}", e.info()),
            ));
            return None;
        }
    };
    let src: Arc<str> = Arc::from(shown.as_str());
    let doc = docs.first()?;
    Some(vars(&shown, Some(&src), doc, "variables file", errs))
}

/// Apply `group_vars/` and `host_vars/` found in `dir` (the inventory's directory).
/// Returns the bytes read, for the inventory's hash.
pub(crate) fn vars_dirs(inv: &mut Inventory, dir: &Path) -> Result<Vec<u8>, Error> {
    let mut errs = Errors::default();
    let mut hashed = Vec::new();
    let gdir = dir.join("group_vars");
    if gdir.is_dir() {
        let mut names: Vec<String> = inv.groups.keys().cloned().collect();
        if !names.iter().any(|g| g == "all") {
            names.insert(0, "all".into());
        }
        for g in names {
            for f in vars_files(&gdir, &g) {
                if let Some(vs) = vars_file(&f, &mut errs, &mut hashed) {
                    inv.group(&g).vars.extend(vs);
                }
            }
        }
    }
    let hdir = dir.join("host_vars");
    if hdir.is_dir() {
        let names: Vec<String> = inv.hosts.keys().cloned().collect();
        for h in names {
            for f in vars_files(&hdir, &h) {
                if let Some(vs) = vars_file(&f, &mut errs, &mut hashed)
                    && let Some(host) = inv.hosts.get_mut(&h)
                {
                    host.vars.extend(vs);
                }
            }
        }
    }
    errs.finish("group_vars/host_vars")?;
    Ok(hashed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBESPRAY: &str = "\
all:
  hosts:
    node1:
      ansible_host: 192.0.2.11
      ip: 192.0.2.11
    node2:
      ansible_host: 192.0.2.12
    node[3:4]:
  vars:
    genfw_mgmt: [10.8.0.0/24, 'fd00:8::/64']
  children:
    kube_control_plane:
      hosts:
        node1:
    kube_node:
      hosts:
        node2:
        node3:
      vars:
        genfw_public_tcp: 80,443
    k8s_cluster:
      children:
        kube_control_plane:
        kube_node:
";

    #[test]
    fn kubespray_shape() {
        assert!(looks_like(KUBESPRAY));
        assert!(looks_like("---\nall: {}\n"));
        assert!(!looks_like("[all]\nh1\n"));
        assert!(!looks_like("fd00::1\n"));
        assert!(!looks_like("10.0.0.1 a\n"));
        let inv = parse("k.yml", KUBESPRAY).unwrap();
        assert_eq!(inv.hosts.len(), 4);
        assert_eq!(inv.hosts["node2"].line, 6);
        assert_eq!(inv.members("k8s_cluster").len(), 3);
        let v = inv.vars_of("node3");
        assert_eq!(v["genfw_public_tcp"].items, ["80", "443"]);
        assert_eq!(v["genfw_mgmt"].items, ["10.8.0.0/24", "fd00:8::/64"]);
        assert_eq!(v["genfw_mgmt"].line, 10);
        assert!(!inv.vars_of("node1").contains_key("genfw_public_tcp"));
        assert_eq!(inv.groups_of("node2"), ["all", "k8s_cluster", "kube_node"]);
    }

    #[test]
    fn mistakes_all_listed() {
        let bad = "all:\n  hosts:\n    - web1\n  children:\n    web:\n      host:\n        web2:\n    'bad name':\n  varz: 1\n";
        let e = parse("b.yml", bad).unwrap_err();
        assert_eq!(e.message(), Some("4 errors in b.yml"));
        let e = parse("b.yml", "all:\n  hosts: [\n").unwrap_err();
        assert!(e.message().unwrap().starts_with("b.yml:3:"), "{e:?}");
        let e = parse("b.yml", "- a\n- b\n").unwrap_err();
        assert!(
            e.message().unwrap().contains("expected groups at the top"),
            "{e:?}"
        );
        let one = parse("b.yml", "all:\n  hosts:\n    web[0:999999]:\n").unwrap_err();
        assert!(
            one.message()
                .unwrap()
                .contains("b.yml:3: \"web[0:999999]\": the range names 1000000 hosts"),
            "{one:?}"
        );
    }

    #[test]
    fn billion_laughs_is_bounded() {
        let mut t = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            t.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        assert!(parse("l.yml", &t).is_err());
    }
}
