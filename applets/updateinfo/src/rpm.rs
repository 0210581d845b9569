//! RPM file names and repository package lists (`primary.xml`): epochs and source RPMs.

use crate::xml::Src;
use opsbox_common::Result;
use quick_xml::events::Event;
use std::collections::HashMap;

/// An RPM file name split up: `name-version-release.arch.rpm`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nevra<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub release: &'a str,
    pub arch: &'a str,
}

impl<'a> Nevra<'a> {
    /// Parse an RPM file name (a path is allowed: the directory part is ignored). Every
    /// part is printable ASCII without `/ < > & "` (so it needs no XML escaping), the arch
    /// is letters, digits and `_`, the version starts with a letter or digit and neither
    /// version nor release has a `-`. The separators are found from the end, then the
    /// bytes between them checked in one pass.
    pub fn from_filename(file: &'a str) -> Option<Self> {
        const fn table() -> [bool; 256] {
            let mut t = [false; 256];
            let mut c = 0x21;
            while c < 0x7f {
                t[c] = !matches!(c as u8, b'/' | b'<' | b'>' | b'&' | b'"');
                c += 1;
            }
            t
        }
        static OK: [bool; 256] = table();
        let b = file.as_bytes();
        let [stem @ .., b'.', b'r', b'p', b'm'] = b else {
            return None;
        };
        let end = stem.len();
        // the arch after the last dot, the release and the version after the two dashes
        // before it, the name after the last slash before those
        let dot = memchr::memrchr(b'.', stem)?;
        if !stem[dot + 1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            return None;
        }
        let rel_dash = memchr::memrchr(b'-', &stem[..dot])?;
        let ver_dash = memchr::memrchr(b'-', &stem[..rel_dash])?;
        let i = memchr::memrchr(b'/', &stem[..ver_dash]).map_or(0, |s| s + 1);
        if !stem[i..dot].iter().all(|&c| OK[c as usize]) {
            return None;
        }
        let (name, version, release, arch) = (
            &file[i..ver_dash],
            &file[ver_dash + 1..rel_dash],
            &file[rel_dash + 1..dot],
            &file[dot + 1..end],
        );
        if name.is_empty()
            || release.is_empty()
            || arch.is_empty()
            || !version.as_bytes().first()?.is_ascii_alphanumeric()
        {
            return None;
        }
        Some(Nevra {
            name,
            version,
            release,
            arch,
        })
    }

    /// The file name `self` was parsed from, without its directory (`file` is that path).
    pub fn base_name<'f>(&self, file: &'f str) -> &'f str {
        let at = (self.name.as_ptr() as usize).wrapping_sub(file.as_ptr() as usize);
        file.get(at..).unwrap_or(file)
    }

    /// `name-version-release.arch`, the key of [`Primary`].
    pub fn key(&self) -> String {
        format!(
            "{}-{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }
}

/// The major release a package release string is built for: the dist tag `.elN`,
/// `.elN_M`, `.module_elN…` or `.centosN`.
pub fn dist_release(release: &str) -> Option<u32> {
    // (release strings are short: a plain scan, no searcher to set up)
    let b = release.as_bytes();
    for tag in [&b"el"[..], &b"centos"[..]] {
        for at in 1..b.len() {
            // (the first byte before the comparison: it is rarely there)
            if !matches!(b[at - 1], b'.' | b'_') || b[at] != tag[0] || !b[at..].starts_with(tag) {
                continue;
            }
            let digits = &b[at + tag.len()..];
            let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
            if (1..=3).contains(&n) {
                return Some(
                    digits[..n]
                        .iter()
                        .fold(0, |v, d| v * 10 + u32::from(d - b'0')),
                );
            }
        }
    }
    None
}

/// What a repository says about one binary package.
#[derive(Debug, Clone)]
pub struct Known {
    pub epoch: Box<str>,
    pub src: Box<str>,
}

/// The packages of one or more repositories, by `name-version-release.arch`.
#[derive(Debug, Default)]
pub struct Primary {
    pub pkgs: HashMap<Box<str>, Known>,
    /// How often each dist-tag release occurs (to tell which release a repo is).
    pub releases: HashMap<u32, usize>,
}

impl Primary {
    pub fn get(&self, n: &Nevra) -> Option<&Known> {
        self.pkgs.get(n.key().as_str())
    }

    /// The release most of the repository's packages are built for.
    pub fn main_release(&self) -> Option<u32> {
        self.releases
            .iter()
            .max_by_key(|(r, n)| (**n, std::cmp::Reverse(**r)))
            .map(|(r, _)| *r)
    }

    /// Stream a primary.xml (any compression) and add its packages.
    pub fn load(&mut self, src: &mut Src) -> Result<usize> {
        let mut buf = Vec::with_capacity(1 << 12);
        let (mut name, mut arch, mut epoch, mut ver, mut rel, mut srpm) = (
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        );
        #[derive(PartialEq)]
        enum In {
            Other,
            Name,
            Arch,
            Srpm,
        }
        let mut cur = In::Other;
        let mut in_pkg = false;
        let mut count = 0;
        let mut root_checked = false;
        loop {
            let (off, ev) = src.next(&mut buf)?;
            match ev {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let local = e.local_name();
                    if !root_checked {
                        root_checked = true;
                        if local.as_ref().as_bytes() != b"metadata" {
                            return Err(
                                src.at(off, "root element is not <metadata>: not a primary.xml")
                            );
                        }
                        continue;
                    }
                    match local.as_ref().as_bytes() {
                        b"package" => {
                            in_pkg = true;
                            src.forget_before(off);
                            for s in [
                                &mut name, &mut arch, &mut epoch, &mut ver, &mut rel, &mut srpm,
                            ] {
                                s.clear();
                            }
                        }
                        b"name" if in_pkg && src.depth() == 3 => cur = In::Name,
                        b"arch" if in_pkg => cur = In::Arch,
                        b"sourcerpm" if in_pkg => cur = In::Srpm,
                        b"version" if in_pkg => {
                            src.attrs(off, e, |k, v| {
                                match k {
                                    b"epoch" => epoch.push_str(&v),
                                    b"ver" => ver.push_str(&v),
                                    b"rel" => rel.push_str(&v),
                                    _ => {}
                                }
                                Ok(())
                            })?;
                        }
                        _ => {}
                    }
                    if matches!(ev, Event::Empty(_)) {
                        cur = In::Other;
                    }
                }
                Event::Text(t) => match cur {
                    In::Name => name.push_str(&t.xml10_content()),
                    In::Arch => arch.push_str(&t.xml10_content()),
                    In::Srpm => srpm.push_str(&t.xml10_content()),
                    In::Other => {}
                },
                Event::GeneralRef(r) => {
                    let c = src.reference(off, &r)?;
                    match cur {
                        In::Name => name.push(c),
                        In::Arch => arch.push(c),
                        In::Srpm => srpm.push(c),
                        In::Other => {}
                    }
                }
                Event::End(ref e) => {
                    cur = In::Other;
                    if e.local_name().as_ref().as_bytes() == b"package" && in_pkg {
                        in_pkg = false;
                        if !name.is_empty() && !ver.is_empty() && !rel.is_empty() {
                            count += 1;
                            if let Some(r) = dist_release(&rel) {
                                *self.releases.entry(r).or_default() += 1;
                            }
                            let key = format!("{name}-{ver}-{rel}.{arch}");
                            let e = if epoch.is_empty() {
                                "0"
                            } else {
                                epoch.as_str()
                            };
                            self.pkgs.insert(
                                key.into(),
                                Known {
                                    epoch: e.into(),
                                    src: srpm.as_str().into(),
                                },
                            );
                        }
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !root_checked {
            return Err(src.at(0, "no root element: not a primary.xml"));
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition `from_filename` implements in one pass.
    fn by_splitting(file: &str) -> Option<Nevra<'_>> {
        let base = file.rsplit('/').next()?;
        let stem = base.strip_suffix(".rpm")?;
        let (nvr, arch) = stem.rsplit_once('.')?;
        let (nv, release) = nvr.rsplit_once('-')?;
        let (name, version) = nv.rsplit_once('-')?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'<' | b'>' | b'&' | b'"'))
        };
        let arch_ok =
            !arch.is_empty() && arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        (ok(name)
            && ok(version)
            && ok(release)
            && arch_ok
            && version.as_bytes()[0].is_ascii_alphanumeric())
        .then_some(Nevra {
            name,
            version,
            release,
            arch,
        })
    }

    /// The definition `dist_release` implements without a searcher.
    fn dist_by_search(release: &str) -> Option<u32> {
        let b = release.as_bytes();
        for tag in [&b"el"[..], &b"centos"[..]] {
            let mut i = 0;
            while let Some(p) = memchr::memmem::find(&b[i..], tag) {
                let at = i + p;
                let before_ok = at > 0 && matches!(b[at - 1], b'.' | b'_');
                let digits: &[u8] = &b[at + tag.len()..];
                let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
                if before_ok && n > 0 && n <= 3 {
                    return std::str::from_utf8(&digits[..n]).ok()?.parse().ok();
                }
                i = at + 1;
            }
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn dist_release_is_the_search_definition(r in "([0-9a-z._]|el|centos|\\.el|_el|\\.centos){0,12}") {
            proptest::prop_assert_eq!(dist_release(&r), dist_by_search(&r));
        }

        #[test]
        fn base_name_is_after_the_last_slash(
            dir in "(/?[a-z]{0,3}/){0,3}",
            base in "[a-z]{1,4}-[0-9]{1,2}-[0-9]\\.el7\\.x86_64\\.rpm",
        ) {
            let file = format!("{dir}{base}");
            let n = Nevra::from_filename(&file).unwrap();
            proptest::prop_assert_eq!(n.base_name(&file), base.as_str());
        }

        #[test]
        fn one_pass_parse_is_the_split_definition(
            s in "[a-z0-9._/<&\"é -]{0,12}-[a-z0-9._/ -]{0,6}-[a-zA-Z0-9._/-]{0,8}\\.[a-z0-9_.-]{0,7}(\\.rpm)?"
        ) {
            proptest::prop_assert_eq!(Nevra::from_filename(&s), by_splitting(&s));
        }
    }

    #[test]
    fn nevra_and_dist() {
        let n = Nevra::from_filename("xen-devel-3.0.3-135.el5_8.2.x86_64.rpm").unwrap();
        assert_eq!(
            (n.name, n.version, n.release, n.arch),
            ("xen-devel", "3.0.3", "135.el5_8.2", "x86_64")
        );
        assert_eq!(n.key(), "xen-devel-3.0.3-135.el5_8.2.x86_64");
        assert!(Nevra::from_filename("foo.rpm").is_none());
        assert!(Nevra::from_filename("foo-1.x86_64.rpm").is_none());
        assert!(Nevra::from_filename("foo-1-2.x86_64").is_none());
        assert!(Nevra::from_filename("foo-1-2.x86_64.rpm").is_some());
        assert_eq!(dist_release("135.el5_8.2"), Some(5));
        assert_eq!(dist_release("2.centos4"), Some(4));
        assert_eq!(dist_release("1.module_el8.4.0+2"), Some(8));
        assert_eq!(dist_release("3.fc30"), None);
        assert_eq!(dist_release("1.elvis"), None);
    }

    #[test]
    fn primary_gives_epochs_and_sources() {
        let doc = r#"<?xml version="1.0"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm"><name>epochy</name><arch>noarch</arch><version epoch="1" ver="2.0" rel="2.el7"/>
<location href="epochy-2.0-2.el7.noarch.rpm"/><format><rpm:sourcerpm>epochy-2.0-2.el7.src.rpm</rpm:sourcerpm>
<rpm:provides><rpm:entry name="epochy" flags="EQ" epoch="1" ver="2.0" rel="2.el7"/></rpm:provides></format></package>
<package type="rpm"><name>plain</name><arch>x86_64</arch><version epoch="0" ver="1" rel="1.el7"/></package>
</metadata>"#;
        let mut src = Src::new(Box::new(std::io::Cursor::new(doc.to_string())), "p");
        let mut p = Primary::default();
        assert_eq!(p.load(&mut src).unwrap(), 2);
        let n = Nevra::from_filename("epochy-2.0-2.el7.noarch.rpm").unwrap();
        let k = p.get(&n).unwrap();
        assert_eq!((&*k.epoch, &*k.src), ("1", "epochy-2.0-2.el7.src.rpm"));
        assert_eq!(p.main_release(), Some(7));
    }
}
