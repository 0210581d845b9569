//! systemd's unit-name grammar (`unit_name_is_valid`): what may be written into a
//! `systemctl` command. Names read from cgroups that break it are never restarted; they are
//! named, escaped, in a comment instead.

/// Longest unit name systemd accepts (`UNIT_NAME_MAX` less the NUL).
pub(crate) const UNIT_NAME_MAX: usize = 255;

const TYPES: &[&str] = &[
    "service",
    "socket",
    "target",
    "device",
    "mount",
    "automount",
    "swap",
    "timer",
    "path",
    "slice",
    "scope",
];

/// systemd's `VALID_CHARS`: letters, digits and `:-_.\`.
fn valid_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":-_.\\".contains(&b))
}

/// Whether `name` is a valid unit name: `PREFIX[@[INSTANCE]].TYPE`, the prefix of
/// `[A-Za-z0-9:_.\-]`, the instance of the same and `@`, a known type, at most 255 bytes.
pub(crate) fn is_valid(name: &str) -> bool {
    if name.is_empty() || name.len() > UNIT_NAME_MAX {
        return false;
    }
    let Some((stem, ty)) = name.rsplit_once('.') else {
        return false;
    };
    if !TYPES.contains(&ty) {
        return false;
    }
    let (prefix, instance) = match stem.split_once('@') {
        Some((p, i)) => (p, Some(i)),
        None => (stem, None),
    };
    !prefix.is_empty()
        && valid_chars(prefix)
        && instance.is_none_or(|i| i.split('@').all(valid_chars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for ok in [
            "nginx.service",
            "getty@tty1.service",
            "systemd-fsck@dev-disk-by\\x2duuid-1234.service",
            "user@1000.service",
            "foo@.service",
            "session-3.scope",
            "a:b_c.d-e.service",
            "x@a@b.service",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            ".service",
            "nginx",
            "nginx.exe",
            "@x.service",
            "a b.service",
            "a\n.service",
            "a\x1b[31m.service",
            "$(reboot).service",
            "a'b.service",
            "a/b.service",
            "é.service",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
        let long = format!("{}.service", "a".repeat(UNIT_NAME_MAX - 8));
        assert_eq!(long.len(), UNIT_NAME_MAX);
        assert!(is_valid(&long));
        assert!(!is_valid(&format!("a{long}")));
    }
}
