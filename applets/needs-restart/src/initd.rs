//! Without systemd: the init script that restarts a process, found as needrestart and
//! checkrestart find it: the executable's package (`dpkg -S`, else `rpm -qf`), then the
//! `/etc/init.d/NAME` script that package ships (`dpkg -L` / `rpm -ql`); failing that, a
//! script named as the executable. The choice is [`script_for`], a plain function over
//! the package manager's answers and the init.d listing; [`resolve`] gathers them.

use crate::group::Finding;
use std::collections::HashMap;
use std::process::{Command, Stdio};

/// Where init scripts live.
const INITD: &str = "/etc/init.d";

/// The init.d entries that are scripts of services (not the rc machinery, templates or a
/// package manager's leftovers), sorted.
pub(crate) fn scripts_in<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    const NOT_SERVICES: &[&str] = &["README", "skeleton", "rc", "rcS", "rc.local", "functions"];
    let mut v: Vec<String> = names
        .into_iter()
        .filter(|n| !n.is_empty() && !n.starts_with('.') && !NOT_SERVICES.contains(n))
        .filter(|n| {
            ![
                ".dpkg-old",
                ".dpkg-new",
                ".dpkg-dist",
                ".rpmsave",
                ".rpmnew",
                "~",
            ]
            .iter()
            .any(|s| n.ends_with(s))
        })
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The packages `dpkg -S PATH` names as owning exactly `path` (diversion lines skipped,
/// `:ARCH` qualifiers removed).
pub(crate) fn parse_dpkg_search(out: &str, path: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with("diversion by "))
        .filter_map(|l| l.split_once(": "))
        .filter(|(_, p)| *p == path)
        .flat_map(|(pkgs, _)| pkgs.split(", "))
        .map(|p| p.split(':').next().unwrap_or(p).trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    v.dedup();
    v
}

/// The init script for an executable. `package`: the owning package's name and its file
/// list, when a package manager knows it; `scripts`: the init.d listing ([`scripts_in`]).
/// Among the package's scripts one is taken when it is the only one, or is named as the
/// executable, or as the package; else a script named as the executable.
pub(crate) fn script_for(
    exe: &str,
    package: Option<(&str, &[String])>,
    scripts: &[String],
) -> Option<String> {
    let base = exe.rsplit('/').next().unwrap_or(exe);
    let present = |n: &str| scripts.iter().any(|s| s == n);
    if let Some((name, files)) = package {
        let mut own: Vec<&str> = files
            .iter()
            .filter_map(|f| f.strip_prefix("/etc/init.d/"))
            .filter(|n| !n.contains('/') && present(n))
            .collect();
        own.sort_unstable();
        own.dedup();
        let pick = match own.as_slice() {
            [one] => Some(*one),
            _ => own.iter().copied().find(|n| *n == base || *n == name),
        };
        if let Some(p) = pick {
            return Some(p.to_string());
        }
    }
    present(base).then(|| base.to_string())
}

/// Run a package-manager query; its standard output when it succeeds (or, `any_status`,
/// whatever it printed: `dpkg -S` fails when one of several paths is not found).
fn query(cmd: &str, args: &[&str], any_status: bool) -> Option<String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    (any_status || out.status.success()).then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Merged-/usr systems record `/bin/x` or `/usr/bin/x`: both names of an executable.
fn both_names(exe: &str) -> [String; 2] {
    let alt = match exe.strip_prefix("/usr") {
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => format!("/usr{exe}"),
    };
    [exe.to_string(), alt]
}

/// The packages owning each executable and their files: one `dpkg -S` for all of them
/// (it is slow to start), then `dpkg -L` per package; `rpm -qf`/`rpm -ql` for what dpkg
/// does not know (each only when installed).
pub(crate) fn packages_of(exes: &[&str]) -> HashMap<String, (String, Vec<String>)> {
    let mut found: HashMap<String, (String, Vec<String>)> = HashMap::new();
    if exes.is_empty() {
        return found;
    }
    let names: Vec<[String; 2]> = exes.iter().map(|e| both_names(e)).collect();
    let mut args: Vec<&str> = vec!["-S"];
    args.extend(names.iter().flatten().map(String::as_str));
    let dpkg = query("dpkg", &args, true);
    let mut lists: HashMap<String, Option<Vec<String>>> = HashMap::new();
    for (exe, both) in exes.iter().zip(&names) {
        let pkg = dpkg.as_deref().and_then(|out| {
            both.iter()
                .find_map(|n| parse_dpkg_search(out, n).into_iter().next())
        });
        let pkg = pkg.map(|p| ("dpkg", p)).or_else(|| {
            both.iter().find_map(|n| {
                query("rpm", &["-qf", "--qf", "%{NAME}\\n", n], false)
                    .and_then(|o| {
                        o.lines()
                            .next()
                            .filter(|l| !l.is_empty())
                            .map(str::to_string)
                    })
                    .map(|p| ("rpm", p))
            })
        });
        let Some((tool, pkg)) = pkg else { continue };
        let files = lists
            .entry(pkg.clone())
            .or_insert_with(|| {
                let flag = if tool == "dpkg" { "-L" } else { "-ql" };
                query(tool, &[flag, &pkg], false).map(|o| o.lines().map(str::to_string).collect())
            })
            .clone();
        if let Some(files) = files {
            found.insert(exe.to_string(), (pkg, files));
        }
    }
    found
}

/// Fill in [`Finding::service`] for the process trees (not containers, not processes with
/// another root directory: their packages are not ours), each executable looked up once.
pub(crate) fn resolve(findings: &mut [Finding]) {
    let wanted = |f: &Finding| f.unit.is_none() && !f.other_root && !f.exe.is_empty();
    if !findings.iter().any(wanted) {
        return;
    }
    let Ok(dir) = std::fs::read_dir(INITD) else {
        return;
    };
    let names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::metadata(e.path()).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    let scripts = scripts_in(names.iter().map(String::as_str));
    if scripts.is_empty() {
        return;
    }
    let mut exes: Vec<&str> = findings
        .iter()
        .filter(|f| wanted(f))
        .map(|f| f.exe.as_str())
        .collect();
    exes.sort_unstable();
    exes.dedup();
    let packages = packages_of(&exes);
    let chosen: HashMap<String, Option<String>> = exes
        .iter()
        .map(|e| {
            let pkg = packages.get(*e);
            let s = script_for(
                e,
                pkg.map(|(n, files)| (n.as_str(), files.as_slice())),
                &scripts,
            );
            (e.to_string(), s)
        })
        .collect();
    for f in findings.iter_mut() {
        if wanted(f) {
            f.service = chosen.get(&f.exe).cloned().flatten();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn listing() {
        assert_eq!(
            scripts_in([
                "ssh",
                "README",
                "skeleton",
                "rcS",
                ".depend.boot",
                "nginx.dpkg-old",
                "apache2",
                "ssh"
            ]),
            v(&["apache2", "ssh"])
        );
    }

    #[test]
    fn dpkg_search_output() {
        let out = "diversion by dash from: /bin/sh\nopenssh-server: /usr/sbin/sshd\n";
        assert_eq!(
            parse_dpkg_search(out, "/usr/sbin/sshd"),
            v(&["openssh-server"])
        );
        let out = "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6\n";
        assert_eq!(
            parse_dpkg_search(out, "/lib/x86_64-linux-gnu/libc.so.6"),
            v(&["libc6"])
        );
        let out = "a, b:i386: /usr/share/doc\nc: /usr/share/doc/c\n";
        assert_eq!(parse_dpkg_search(out, "/usr/share/doc"), v(&["a", "b"]));
        assert!(
            parse_dpkg_search("dpkg-query: no path found matching pattern /x\n", "/x").is_empty()
        );
    }

    #[test]
    fn choosing_the_script() {
        let scripts = v(&["apache2", "apache-htcacheclean", "nginx", "ssh", "nrtd"]);
        let ssh = v(&["/usr/sbin/sshd", "/etc/init.d/ssh", "/etc/default/ssh"]);
        // the package's only script, whatever its name
        assert_eq!(
            script_for("/usr/sbin/sshd", Some(("openssh-server", &ssh)), &scripts),
            Some("ssh".into())
        );
        // several: the one named as the executable, else as the package
        let apache = v(&[
            "/usr/sbin/apache2",
            "/etc/init.d/apache2",
            "/etc/init.d/apache-htcacheclean",
        ]);
        assert_eq!(
            script_for(
                "/usr/sbin/apache2",
                Some(("apache2-bin", &apache)),
                &scripts
            ),
            Some("apache2".into())
        );
        assert_eq!(
            script_for("/usr/sbin/httpd", Some(("apache2", &apache)), &scripts),
            Some("apache2".into())
        );
        assert_eq!(
            script_for("/usr/sbin/httpd", Some(("other", &apache)), &scripts),
            None
        );
        // a script the package ships but that is not installed does not count
        let gone = v(&["/etc/init.d/gone"]);
        assert_eq!(
            script_for("/usr/sbin/gone", Some(("gone", &gone)), &scripts),
            None
        );
        // no package: a script named as the executable
        assert_eq!(
            script_for("/opt/x/nrtd", None, &scripts),
            Some("nrtd".into())
        );
        assert_eq!(script_for("/opt/x/nginx-debug", None, &scripts), None);
        assert_eq!(
            script_for("/usr/sbin/nginx", Some(("nginx-core", &v(&[]))), &scripts),
            Some("nginx".into())
        );
    }

    /// The real package manager: openssh-server ships sshd and /etc/init.d/ssh (another
    /// name than the executable's) where both are installed.
    #[test]
    fn real_dpkg_maps_sshd_to_ssh() {
        if !std::path::Path::new("/usr/sbin/sshd").exists()
            || !std::path::Path::new("/etc/init.d/ssh").exists()
            || query("dpkg", &["--version"], false).is_none()
        {
            eprintln!("skipped: no dpkg-installed openssh-server here");
            return;
        }
        let all = packages_of(&["/usr/sbin/sshd", "/no/such/exe"]);
        assert_eq!(all.len(), 1, "{all:?}");
        let pkg = &all["/usr/sbin/sshd"];
        assert_eq!(pkg.0, "openssh-server");
        let scripts = v(&["ssh"]);
        assert_eq!(
            script_for("/usr/sbin/sshd", Some((&pkg.0, &pkg.1)), &scripts),
            Some("ssh".into())
        );
    }
}
