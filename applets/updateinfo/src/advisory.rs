//! The CEFS advisory's fields as updateinfo has them: update types, ids, severities,
//! issue dates, references.

/// The advisory types of updateinfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Security,
    Bugfix,
    Enhancement,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Security => "security",
            Kind::Bugfix => "bugfix",
            Kind::Enhancement => "enhancement",
        }
    }
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "security" | "cesa" => Ok(Kind::Security),
            "bugfix" | "ceba" => Ok(Kind::Bugfix),
            "enhancement" | "ceea" => Ok(Kind::Enhancement),
            _ => Err(format!("'{s}' is not one of security, bugfix, enhancement")),
        }
    }
    /// CEFS `type` attribute.
    pub(crate) fn from_cefs(s: &str) -> Option<Self> {
        let t = s.trim();
        let is = |w: &str| t.eq_ignore_ascii_case(w);
        if is("security advisory") {
            Some(Kind::Security)
        } else if is("bug fix advisory") || is("bugfix advisory") {
            Some(Kind::Bugfix)
        } else if is("product enhancement advisory") || is("enhancement advisory") {
            Some(Kind::Enhancement)
        } else {
            None
        }
    }
    /// From the id prefix (`CESA`, `CEBA`, `CEEA`).
    pub(crate) fn from_prefix(id: &str) -> Option<Self> {
        match id.split('-').next()? {
            "CESA" => Some(Kind::Security),
            "CEBA" => Some(Kind::Bugfix),
            "CEEA" => Some(Kind::Enhancement),
            _ => None,
        }
    }
}

/// An advisory id (`CESA-2013:1764`), kept inline: ids are short, and the sort keys of
/// every record carry one.
pub type Id = heapless::String<48>;

/// The id of an advisory element: its name with `--` → `:` (`CESA-2013--1764` →
/// `CESA-2013:1764`); printable ASCII, at most 48 bytes.
pub fn advisory_id(name: &str) -> Option<Id> {
    let mut id = Id::new();
    let mut rest = name;
    while let Some(p) = rest.find("--") {
        id.push_str(&rest[..p]).ok()?;
        id.push(':').ok()?;
        rest = &rest[p + 2..];
    }
    id.push_str(rest).ok()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic())).then_some(id)
}

/// The severities updateinfo consumers know, case-normalised.
pub fn severity(s: &str) -> Option<&'static str> {
    let t = s.trim();
    ["Low", "Moderate", "Important", "Critical"]
        .into_iter()
        .find(|w| t.eq_ignore_ascii_case(w))
}

/// `YYYY-MM-DD HH:MM:SS` (a bare date gets `00:00:00`), checked field by field.
pub fn issued_date(s: &str) -> Option<heapless::String<19>> {
    let s = s.trim();
    let mut full = heapless::String::<19>::new();
    full.push_str(s).ok()?;
    if s.len() == 10 {
        full.push_str(" 00:00:00").ok()?;
    }
    let b = full.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = &full[r];
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if y < 1970
        || !(1..=12).contains(&mo)
        || d < 1
        || d > mdays[mo as usize - 1]
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    Some(full)
}

/// CEFS `references` (URLs separated by spaces) → typed references, each given to `f` as
/// (href, id, type), the first of each href only: Red Hat errata become `redhat` with the
/// RHSA id and the canonical href, the CentOS announcement `self` (with the advisory's
/// id), the rest `other`. `seen` is scratch space, reused from call to call. Returns how
/// many were given.
pub fn each_reference(
    s: &str,
    id: &str,
    seen: &mut Vec<String>,
    mut f: impl FnMut(&str, Option<&str>, &'static str),
) -> usize {
    let mut n = 0;
    for url in s.split_whitespace() {
        let mut canonical = heapless::String::<80>::new();
        let (href, rid, kind) = match redhat_id(url) {
            Some(rh)
                if canonical
                    .push_str("https://access.redhat.com/errata/")
                    .and_then(|()| canonical.push_str(&rh))
                    .is_ok() =>
            {
                (canonical.as_str(), Some(rh), "redhat")
            }
            _ if url.contains("lists.centos.org") => (url, None, "self"),
            _ => (url, None, "other"),
        };
        if seen[..n].iter().any(|h| h == href) {
            continue;
        }
        match seen.get_mut(n) {
            Some(h) => {
                h.clear();
                h.push_str(href);
            }
            None => seen.push(href.to_string()),
        }
        n += 1;
        let rid = match kind {
            "self" => Some(id),
            _ => rid.as_deref(),
        };
        f(href, rid, kind);
    }
    n
}

/// `RHSA-2012:0370` from `…/RHSA-2012-0370.html` or `…/RHSA-2012:0370`.
pub(crate) fn redhat_id(url: &str) -> Option<heapless::String<32>> {
    let b = url.as_bytes();
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&b[i..], b"RH") {
        let at = i + p;
        let t = &b[at..];
        if t.len() >= 10
            && matches!(t[2], b'S' | b'B' | b'E')
            && t[3] == b'A'
            && t[4] == b'-'
            && t[5..9].iter().all(u8::is_ascii_digit)
            && matches!(t[9], b'-' | b':')
        {
            let n = t[10..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n > 0 {
                let mut rh = heapless::String::<32>::new();
                let ok = rh.push_str(&url[at..at + 9]).is_ok()
                    && rh.push(':').is_ok()
                    && rh.push_str(&url[at + 10..at + 10 + n]).is_ok();
                if ok {
                    return Some(rh);
                }
            }
        }
        i = at + 1;
    }
    None
}
