//! Names that reach a rule file: interface names are validated (Linux's rules, narrowed to
//! what both nft strings and iptables words carry safely), everything else from input that
//! lands in a comment is escaped to one line.

use opsbox_common::escape;
use std::borrow::Cow;

/// Longest interface name Linux allows (IFNAMSIZ - 1).
pub(crate) const IFACE_MAX: usize = 15;

/// A trusted interface: 1–15 bytes of `A-Z a-z 0-9 _ - .`, not `.` or `..`; a trailing
/// `*` makes it a prefix wildcard (`wg*`), which nft writes as `"wg*"` and iptables as
/// `wg+`. A bare `*` (every interface) is refused. Returns the reason when refused.
pub(crate) fn iface(name: &str) -> Result<&str, String> {
    let shown = escape::quote(name);
    let stem = name.strip_suffix('*').unwrap_or(name);
    if name.is_empty() {
        return Err("an interface name is empty".into());
    }
    if stem.is_empty() {
        return Err(format!(
            "{shown}: a bare '*' would trust every interface (name them, or a prefix such as wg*)"
        ));
    }
    if name.len() > IFACE_MAX {
        return Err(format!(
            "{shown}: an interface name is at most {IFACE_MAX} bytes"
        ));
    }
    if stem == "." || stem == ".." {
        return Err(format!("{shown}: not an interface name"));
    }
    if let Some(c) = stem
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "{shown}: '{}' is not allowed in an interface name (letters, digits, '_', '-', '.', and '*' at the end)",
            escape::text(&c.to_string())
        ));
    }
    Ok(name)
}

/// The iptables spelling of a validated interface name (`*` wildcard as `+`).
pub(crate) fn iface_ipt(name: &str) -> Cow<'_, str> {
    match name.strip_suffix('*') {
        Some(stem) => Cow::Owned(format!("{stem}+")),
        None => Cow::Borrowed(name),
    }
}

/// Input text for a `#` comment of a rule file: always one line.
pub(crate) fn comment(s: &str) -> Cow<'_, str> {
    escape::text(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        for ok in [
            "lo",
            "eth0",
            "wg0",
            "br-lan",
            "eth0.100",
            "wg*",
            "abcdefghijklmno",
        ] {
            assert_eq!(iface(ok), Ok(ok), "{ok}");
        }
        for bad in [
            "",
            "*",
            ".",
            "..",
            "abcdefghijklmnop",
            "a/b",
            "a b",
            "a\tb",
            "lo\"",
            "a\\b",
            "a:b",
            "e*th",
            "**",
            "lo\" accept\nmeta nfproto ipv4 accept\niifname \"lo",
            "é",
        ] {
            assert!(iface(bad).is_err(), "{bad:?}");
        }
        assert!(iface("*").unwrap_err().contains("every interface"));
        assert_eq!(iface_ipt("wg*"), "wg+");
        assert_eq!(iface_ipt("wg0"), "wg0");
        assert_eq!(comment("a\nflush ruleset"), "a\\nflush ruleset");
    }
}
