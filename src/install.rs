//! `opsbox --install [-s] [-f] DIR`: a link per applet, pointing at the running binary
//! (DIR is created when missing); each link is said on stdout.

use opsbox_common::{Error, ExitCode, ResultExt, escape, exit};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct Opts {
    symbolic: bool,
    force: bool,
    dir: PathBuf,
}

pub fn parse(args: &[String]) -> Result<Opts, Error> {
    let hint = "Try 'opsbox --help' for more information.";
    let (mut symbolic, mut force, mut dir) = (false, false, None);
    for a in args {
        match a.as_str() {
            "-s" => symbolic = true,
            "-f" => force = true,
            "-sf" | "-fs" => (symbolic, force) = (true, true),
            s if s.starts_with('-') && s != "-" => {
                return Err(
                    Error::usage(format!("--install: unknown option '{s}'")).with_hint(hint)
                );
            }
            s if dir.is_none() => dir = Some(PathBuf::from(s)),
            s => {
                return Err(
                    Error::usage(format!("--install: unexpected argument '{s}'")).with_hint(hint),
                );
            }
        }
    }
    let dir = dir.ok_or_else(|| Error::usage("--install: missing DIR").with_hint(hint))?;
    Ok(Opts {
        symbolic,
        force,
        dir,
    })
}

/// `PREFIX/share` when the links went to `PREFIX/bin`: where completions belong.
pub fn share_beside(opts: &Opts) -> Option<PathBuf> {
    let dir = std::path::absolute(&opts.dir).ok()?;
    (dir.file_name()? == "bin").then(|| dir.parent().map(|p| p.join("share")))?
}

/// Create the links. A name that exists and is not already a link to this binary is left
/// alone (reported, exit 73 at the end) unless `-f`.
pub fn install<'a>(opts: &Opts, names: impl Iterator<Item = &'a str>) -> Result<ExitCode, Error> {
    let exe = std::env::current_exe().ctx("cannot find the running binary")?;
    let exe = fs::canonicalize(&exe).ctx(exe.display())?;
    let exe_meta = fs::metadata(&exe).ctx(exe.display())?;
    let mut out = io::stdout().lock();
    let dir_meta = match fs::metadata(&opts.dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(&opts.dir).ctx_code(exit::CANTCREAT, opts.dir.display())?;
            writeln!(out, "created {}/", shown(&opts.dir))?;
            fs::metadata(&opts.dir).ctx_code(exit::CANTCREAT, opts.dir.display())?
        }
        m => m.ctx_code(exit::CANTCREAT, opts.dir.display())?,
    };
    if !dir_meta.is_dir() {
        return Err(Error::cantcreat(format!(
            "{}: not a directory",
            opts.dir.display()
        )));
    }
    let mut refused = 0;
    let mut err = io::stderr().lock();
    for name in names {
        let link = opts.dir.join(name);
        match fs::symlink_metadata(&link) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::from_io_code(exit::CANTCREAT, link.display(), &e)),
            Ok(m) => {
                let ours = is_link_to(&link, &m, &exe, &exe_meta);
                if ours && opts.symbolic == m.file_type().is_symlink() {
                    writeln!(out, "{} (already there)", what(&link, &exe, opts.symbolic))?;
                    continue;
                }
                if !ours && !opts.force {
                    let _ = writeln!(
                        err,
                        "opsbox: {}: exists and is not a link to opsbox; not replaced (use -f)",
                        link.display()
                    );
                    refused += 1;
                    continue;
                }
            }
        }
        place_link(&exe, &link, opts.symbolic)?;
        writeln!(out, "{}", what(&link, &exe, opts.symbolic))?;
    }
    out.flush()?;
    Ok(ExitCode::from(if refused > 0 {
        exit::CANTCREAT
    } else {
        exit::OK
    }))
}

/// A path for a line of output: escaped (see `opsbox_common::escape`).
fn shown(p: &Path) -> String {
    escape::bytes(p.as_os_str().as_bytes()).into_owned()
}

/// `DIR/NAME -> EXE` for a symbolic link, `DIR/NAME: hard link to EXE` for a hard one.
fn what(link: &Path, exe: &Path, symbolic: bool) -> String {
    if symbolic {
        format!("{} -> {}", shown(link), shown(exe))
    } else {
        format!("{}: hard link to {}", shown(link), shown(exe))
    }
}

fn is_link_to(link: &Path, m: &fs::Metadata, exe: &Path, exe_meta: &fs::Metadata) -> bool {
    if m.file_type().is_symlink() {
        fs::canonicalize(link).is_ok_and(|t| t == exe)
    } else {
        m.dev() == exe_meta.dev() && m.ino() == exe_meta.ino()
    }
}

/// Make the link under a temporary name, then rename it over `link` (atomic replace).
fn place_link(exe: &Path, link: &Path, symbolic: bool) -> Result<(), Error> {
    let tmp = link.with_file_name(format!(
        ".{}.opsbox-install.{}",
        link.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    let made = if symbolic {
        std::os::unix::fs::symlink(exe, &tmp)
    } else {
        fs::hard_link(exe, &tmp)
    };
    if let Err(e) = made {
        let mut err = Error::from_io_code(exit::CANTCREAT, link.display(), &e);
        if e.raw_os_error() == Some(18) {
            err = err.with_hint(
                "The directory is on another filesystem: use --install -s for symbolic links.",
            );
        }
        return Err(err);
    }
    fs::rename(&tmp, link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::from_io_code(exit::CANTCREAT, link.display(), &e)
    })
}
