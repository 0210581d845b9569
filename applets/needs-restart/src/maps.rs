//! `/proc/PID/maps` lines: which executable mappings name a file, whether the kernel marks
//! it deleted, and which paths are never worth reporting (pseudo-files, shared memory,
//! devices, temporary directories).

/// One executable, file-backed mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping<'a> {
    /// Device of the mapped file as the kernel shows it (major, minor).
    pub(crate) dev: (u32, u32),
    pub(crate) inode: u64,
    /// The path with ` (deleted)` and package managers' temporary suffixes removed.
    pub(crate) path: std::borrow::Cow<'a, str>,
    /// The kernel's ` (deleted)` marker ends the line. A live file may really be named so:
    /// the scan trusts the marker only when this path is not that same file.
    pub(crate) deleted: bool,
    /// With the marker: the whole path as shown, marker included.
    pub(crate) literal: Option<String>,
}

/// Parse one maps line; `None` for non-executable, anonymous or pseudo mappings, and for
/// files in temporary directories unless `temp` (`--include-temp`).
pub(crate) fn parse_line(line: &str, temp: bool) -> Option<Mapping<'_>> {
    let mut rest = line;
    let mut field = || {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ').unwrap_or(rest.len());
        let (f, r) = rest.split_at(end);
        rest = r;
        f
    };
    let _addr = field();
    let perms = field();
    if perms.as_bytes().get(2) != Some(&b'x') {
        return None;
    }
    let _offset = field();
    let dev = field();
    let inode: u64 = field().parse().ok()?;
    let path = rest.trim_start_matches(' ');
    if inode == 0 || !path.starts_with('/') {
        return None;
    }
    let (maj, min) = dev.split_once(':')?;
    let dev = (
        u32::from_str_radix(maj, 16).ok()?,
        u32::from_str_radix(min, 16).ok()?,
    );
    let (path, literal) = match path.strip_suffix(" (deleted)") {
        Some(p) => (p, Some(unescape(path).into_owned())),
        None => (path, None),
    };
    if is_ignored_path(path, temp) {
        return None;
    }
    Some(Mapping {
        dev,
        inode,
        path: unescape(normalize(path)),
        deleted: literal.is_some(),
        literal,
    })
}

/// Strip rpm's `;HEX` and dpkg's `.dpkg-new` / `.dpkg-tmp` temporary-name suffixes.
pub(crate) fn normalize(path: &str) -> &str {
    if let Some((base, hex)) = path.rsplit_once(';')
        && !hex.is_empty()
        && hex.len() <= 16
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return base;
    }
    for suffix in [".dpkg-new", ".dpkg-tmp"] {
        if let Some(base) = path.strip_suffix(suffix) {
            return base;
        }
    }
    path
}

/// The kernel writes a newline in a path as `\012` in maps.
fn unescape(path: &str) -> std::borrow::Cow<'_, str> {
    if path.contains("\\012") {
        path.replace("\\012", "\n").into()
    } else {
        path.into()
    }
}

/// Paths that are not files a package manager replaces: pseudo-paths, memfd and SysV
/// shared memory, devices (`/dev/shm` included), aio and DRM objects; and, unless `temp`,
/// the temporary directories [`TEMP_DIRS`].
pub(crate) fn is_ignored_path(path: &str, temp: bool) -> bool {
    const PREFIXES: &[&str] = &["/memfd:", "/SYSV", "/dev/", "/[aio]", "/drm", "/i915"];
    !path.starts_with('/')
        || PREFIXES.iter().any(|p| path.starts_with(p))
        || (!temp && TEMP_DIRS.iter().any(|p| path.starts_with(p)))
}

/// Temporary directories, skipped unless `--include-temp`.
pub(crate) const TEMP_DIRS: &[&str] = &["/tmp/", "/var/tmp/", "/run/"];

#[cfg(test)]
mod tests {
    use super::*;

    fn map(line: &str) -> Option<(String, bool, (u32, u32), u64)> {
        parse_line(line, false).map(|m| (m.path.into_owned(), m.deleted, m.dev, m.inode))
    }

    #[test]
    fn executable_file_mappings() {
        let l = "7f1c2a400000-7f1c2a5a5000 r-xp 00028000 fe:01 1835231                    /usr/lib/x86_64-linux-gnu/libc.so.6";
        assert_eq!(
            map(l),
            Some((
                "/usr/lib/x86_64-linux-gnu/libc.so.6".into(),
                false,
                (0xfe, 1),
                1835231
            ))
        );
        let l =
            "7f1c2a400000-7f1c2a5a5000 r-xp 00028000 103:02 42 /opt/lib/libgnutls.so.30 (deleted)";
        assert_eq!(
            map(l),
            Some(("/opt/lib/libgnutls.so.30".into(), true, (0x103, 2), 42))
        );
        // a path with spaces keeps them
        let l = "7f00-7f01 r-xp 00000000 08:01 7 /opt/my app/lib x.so (deleted)";
        assert_eq!(map(l).unwrap().0, "/opt/my app/lib x.so");
    }

    #[test]
    fn not_executable_or_anonymous() {
        assert_eq!(
            map("7f00-7f01 r--p 00000000 fe:01 1835231 /usr/lib/libc.so.6"),
            None
        );
        assert_eq!(map("7f00-7f01 r-xp 00000000 00:00 0 "), None);
        assert_eq!(map("7ffd-7ffe r-xp 00000000 00:00 0 [vdso]"), None);
        assert_eq!(map("7ffd-7ffe --xp 00000000 00:00 0 [vsyscall]"), None);
        assert_eq!(map("7ffd-7ffe r-xp 00000000 00:00 0 [anon:jit]"), None);
        assert_eq!(map("garbage"), None);
        assert_eq!(map(""), None);
    }

    #[test]
    fn decoys_are_ignored() {
        for path in [
            "/memfd:jit (deleted)",
            "/SYSV00000000 (deleted)",
            "/dev/zero (deleted)",
            "/[aio] (deleted)",
            "/drm mm object (deleted)",
            "/tmp/ffiXXXX (deleted)",
            "/var/tmp/x.so (deleted)",
            "/run/user/1000/x.so",
            "/dev/shm/pulse-shm-1 (deleted)",
            "anon_inode:[perf_event]",
        ] {
            let l = format!("7f00-7f01 r-xp 00000000 00:05 99 {path}");
            assert_eq!(map(&l), None, "{path}");
        }
        // --include-temp: temporary directories are looked at, the rest still not
        let with = |p: &str| parse_line(&format!("7f00-7f01 r-xp 0 fe:01 9 {p}"), true).is_some();
        assert!(with("/tmp/app/x.so (deleted)"));
        assert!(with("/var/tmp/x.so"));
        assert!(with("/run/user/1000/x.so"));
        assert!(!with("/dev/shm/pulse-shm-1 (deleted)"));
        assert!(!with("/memfd:jit (deleted)"));
    }

    #[test]
    fn package_manager_suffixes() {
        assert_eq!(
            normalize("/usr/lib64/libssl.so.3;65a1b2c3"),
            "/usr/lib64/libssl.so.3"
        );
        assert_eq!(
            normalize("/usr/lib/libz.so.1.dpkg-new"),
            "/usr/lib/libz.so.1"
        );
        assert_eq!(
            normalize("/usr/lib/libz.so.1.dpkg-tmp"),
            "/usr/lib/libz.so.1"
        );
        assert_eq!(normalize("/usr/lib/a;b/libz.so"), "/usr/lib/a;b/libz.so");
        let l = "7f00-7f01 r-xp 00000000 fe:01 5 /usr/lib64/libssl.so.3;65a1b2c3 (deleted)";
        assert_eq!(map(l).unwrap().0, "/usr/lib64/libssl.so.3");
        let l = "7f00-7f01 r-xp 00000000 fe:01 5 /opt/a\\012b.so";
        assert_eq!(map(l).unwrap().0, "/opt/a\nb.so");
        // the marker: trusted later only if the literal path is not the mapped file
        let m = parse_line("7f00-7f01 r-xp 0 fe:01 5 /opt/d (deleted) (deleted)", false).unwrap();
        assert_eq!(m.path, "/opt/d (deleted)");
        assert_eq!(m.literal.as_deref(), Some("/opt/d (deleted) (deleted)"));
    }
}
