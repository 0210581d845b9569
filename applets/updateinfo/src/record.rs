//! A converted record as it is kept until it is written: its `<update>` head as XML (from
//! `<update` to the collection's `<name>`), then its packages as lengths and bytes, about a
//! sixth of their XML. [`expand`] writes the XML; [`package`] tells the length of a
//! package's XML as it adds it, so that every record's place in its file is known before
//! any is written.
//!
//! Layout: `reboot: u8`, `head_len: u32`, the head, then per package its file name's,
//! name's, version's and release's lengths, its epoch's length and its src's code (none,
//! the previous package's, its own file name, or a length), each a LEB128 number, then the
//! file name and the epoch and src bytes (escaped). Little-endian.

use crate::frag::Frag;
use crate::rpm::Nevra;
use crate::xmlesc::escape;

/// Where expanded XML goes: a buffer, or a [`Count`] of its bytes.
pub(crate) trait Sink {
    fn put(&mut self, b: &[u8]);
}

impl Sink for Frag {
    #[inline(always)]
    fn put(&mut self, b: &[u8]) {
        Frag::put(self, b)
    }
}

/// The length of what would be written.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Count(pub(crate) u64);

#[cfg(test)]
impl Sink for Count {
    #[inline(always)]
    fn put(&mut self, b: &[u8]) {
        self.0 += b.len() as u64;
    }
}

/// The src codes of a package: none, the previous package's, its own file name; a
/// length is coded as itself plus [`SRC_LEN`].
const NO_SRC: u32 = 0;
const SAME_SRC: u32 = 1;
const OWN_SRC: u32 = 2;
const SRC_LEN: u32 = 3;

/// Append `v` as a LEB128 number.
fn num(w: &mut Frag, mut v: u32) {
    while v >= 0x80 {
        w.byte(v as u8 | 0x80);
        v >>= 7;
    }
    w.byte(v as u8);
}

/// The end of every record.
const TAIL: &[u8] = b"      </collection>\n    </pkglist>\n  </update>\n";

/// Start a record in `w` (then write its head as XML, then call [`packages`]); returns
/// where it starts.
pub(crate) fn begin(w: &mut Frag, reboot: bool) -> usize {
    let start = w.len();
    w.byte(u8::from(reboot));
    w.put(&[0; 4]);
    start
}

/// The head of the record begun at `start` is written: its packages follow. Returns the
/// length of the record's XML without its packages.
pub(crate) fn packages(w: &mut Frag, start: usize) -> u64 {
    let head = (w.len() - start - 5) as u32;
    w.patch(start + 1, &head.to_le_bytes());
    u64::from(head) + TAIL.len() as u64
}

/// The pieces of a package's XML around its fields.
const PKG_NAME: &[u8] = b"        <package name=\"";
const PKG_VERSION: &[u8] = b"\" version=\"";
const PKG_RELEASE: &[u8] = b"\" release=\"";
const PKG_EPOCH: &[u8] = b"\" epoch=\"";
const PKG_ARCH: &[u8] = b"\" arch=\"";
const PKG_SRC: &[u8] = b"\" src=\"";
const PKG_FILE: &[u8] = b"\">\n          <filename>";
const PKG_END: &[u8] = b"</filename>\n        </package>\n";
const PKG_END_REBOOT: &[u8] =
    b"</filename>\n          <reboot_suggested>True</reboot_suggested>\n        </package>\n";

/// A package's epoch and src: escaped when `escape` (they come from a repository), else
/// they are a number and a file name read as the package's was (no escaping needed);
/// `prev` is the src of the package added before it in the record.
pub(crate) struct Texts<'a> {
    pub(crate) epoch: &'a str,
    pub(crate) src: Option<&'a str>,
    /// The previous package's src, and the length it was written with.
    pub(crate) prev: Option<(&'a str, u64)>,
    pub(crate) escape: bool,
    /// The record's packages have `<reboot_suggested>`.
    pub(crate) reboot: bool,
}

/// Add a package: `file` is its base name (`name-version-release.arch.rpm`, as
/// [`Nevra::from_filename`] read it: no escaping needed). `scratch` is any buffer. Returns
/// the length of the package's XML, and of its src as written; `None` if `file` is not
/// `n`'s file name (then nothing is added).
pub(crate) fn package(
    w: &mut Frag,
    scratch: &mut Frag,
    n: &Nevra,
    file: &str,
    t: Texts,
) -> Option<(u64, Option<u64>)> {
    let parts = n.name.len() + n.version.len() + n.release.len() + n.arch.len();
    // (`n` was read from `file`: its name starts where the file name does)
    if file.len() != parts + 7
        || !std::ptr::eq(file.as_ptr(), n.name.as_ptr())
        || u32::try_from(file.len()).is_err()
    {
        return None;
    }
    for l in [file.len(), n.name.len(), n.version.len(), n.release.len()] {
        num(w, l as u32);
    }
    // epoch and src bytes gathered in `scratch` (their lengths come first)
    scratch.clear();
    let mut text = |s: &str| {
        let at = scratch.len();
        if t.escape {
            escape(scratch, s, true);
        } else {
            scratch.put(s.as_bytes());
        }
        (scratch.len() - at) as u32
    };
    let epoch = text(t.epoch);
    num(w, epoch);
    // (a src equal to the previous one reads the same escaped: what needs escaping was
    // escaped for that package too)
    let (src, src_len) = match t.src {
        None => (NO_SRC, None),
        Some(s) => match t.prev {
            Some((p, len)) if same(p, s) => (SAME_SRC, Some(len)),
            _ if s == file => (OWN_SRC, Some(file.len() as u64)),
            _ => {
                let len = text(s);
                (SRC_LEN.saturating_add(len), Some(u64::from(len)))
            }
        },
    };
    num(w, src);
    w.put(file.as_bytes());
    w.put(scratch.as_bytes());
    let fixed = [
        PKG_NAME,
        PKG_VERSION,
        PKG_RELEASE,
        PKG_EPOCH,
        PKG_ARCH,
        PKG_FILE,
    ];
    let end = if t.reboot { PKG_END_REBOOT } else { PKG_END };
    let xml = fixed.iter().map(|p| p.len()).sum::<usize>()
        + parts
        + epoch as usize
        + file.len()
        + end.len()
        + src_len.map_or(0, |l| PKG_SRC.len() + l as usize);
    Some((xml as u64, src_len))
}

/// Equal texts: the same one (the usual case: a src guessed from the advisory's own file
/// is that file) or the same bytes.
pub(crate) fn same(a: &str, b: &str) -> bool {
    (std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()) || a == b
}

/// A record's bytes do not read back (only a damaged temporary file does that).
#[derive(Debug)]
pub(crate) struct Corrupt;

/// Reads a record's fields front to back.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        if n > self.0.len() {
            return Err(Corrupt);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, Corrupt> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A LEB128 number (the usual one is a byte).
    #[inline(always)]
    fn num(&mut self) -> Result<u32, Corrupt> {
        let (&b, rest) = self.0.split_first().ok_or(Corrupt)?;
        self.0 = rest;
        if b < 0x80 {
            return Ok(u32::from(b));
        }
        self.num_more(b)
    }

    #[inline(never)]
    fn num_more(&mut self, first: u8) -> Result<u32, Corrupt> {
        let mut v = u32::from(first & 0x7f);
        for shift in [7, 14, 21, 28] {
            let (&b, rest) = self.0.split_first().ok_or(Corrupt)?;
            self.0 = rest;
            v |= u32::from(b & 0x7f).checked_shl(shift).ok_or(Corrupt)?;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Corrupt)
    }
}

/// Write the `<update>` XML of the record `rec`.
pub(crate) fn expand(rec: &[u8], out: &mut impl Sink) -> Result<(), Corrupt> {
    let mut f = Fields(rec);
    let reboot = f.bytes(1)?[0] != 0;
    let head = f.u32()? as usize;
    out.put(f.bytes(head)?);
    let mut prev: &[u8] = &[];
    while !f.0.is_empty() {
        let [file, name, version, release, epoch, src] =
            [f.num()?, f.num()?, f.num()?, f.num()?, f.num()?, f.num()?];
        let file = f.bytes(file as usize)?;
        let epoch = f.bytes(epoch as usize)?;
        let src = match src {
            NO_SRC => None,
            SAME_SRC => Some(prev),
            OWN_SRC => Some(file),
            n => Some(f.bytes((n - SRC_LEN) as usize)?),
        };
        // name-version-release.arch.rpm
        let (name, version, release) = (name as usize, version as usize, release as usize);
        let arch_at = name + version + release + 3;
        if arch_at + 4 > file.len() {
            return Err(Corrupt);
        }
        out.put(PKG_NAME);
        out.put(&file[..name]);
        out.put(PKG_VERSION);
        out.put(&file[name + 1..name + 1 + version]);
        out.put(PKG_RELEASE);
        out.put(&file[name + version + 2..arch_at - 1]);
        out.put(PKG_EPOCH);
        out.put(epoch);
        out.put(PKG_ARCH);
        out.put(&file[arch_at..file.len() - 4]);
        if let Some(s) = src {
            out.put(PKG_SRC);
            out.put(s);
            prev = s;
        }
        out.put(PKG_FILE);
        out.put(file);
        out.put(if reboot { PKG_END_REBOOT } else { PKG_END });
    }
    out.put(TAIL);
    Ok(())
}

/// The length of the record's XML.
#[cfg(test)]
pub(crate) fn size(rec: &[u8]) -> Result<u64, Corrupt> {
    let mut c = Count::default();
    expand(rec, &mut c)?;
    Ok(c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_to_the_xml_and_counts_it() {
        let mut w = Frag::new();
        w.put(b"junk before");
        let start = begin(&mut w, true);
        w.put(b"  <update>\n");
        let mut xml = packages(&mut w, start);
        let mut ends = vec![w.len() - start];
        let mut scratch = Frag::new();
        let mut prev = None;
        for (file, epoch, src) in [
            ("a-1-2.el7.src.rpm", "0", Some("a-1-2.el7.src.rpm")),
            ("a-1-2.el7.x86_64.rpm", "0", Some("a-1-2.el7.src.rpm")),
            ("b-lib-1.0-3.el7_9.noarch.rpm", "1&2", None),
            ("c-1-1.el7.x86_64.rpm", "0", Some("other-1-1.el7.src.rpm")),
        ] {
            let n = Nevra::from_filename(file).unwrap();
            let t = Texts {
                epoch,
                src,
                prev,
                escape: true,
                reboot: true,
            };
            let (len, src_len) = package(&mut w, &mut scratch, &n, file, t).unwrap();
            xml += len;
            prev = src.zip(src_len);
            ends.push(w.len() - start);
        }
        let rec = w.as_bytes()[start..].to_vec();
        let rec = &rec[..];
        let mut out = Frag::new();
        expand(rec, &mut out).unwrap();
        let pkg = |attrs: &str, file: &str| {
            format!(
                "        <package {attrs}>\n          <filename>{file}</filename>\n          \
                 <reboot_suggested>True</reboot_suggested>\n        </package>\n"
            )
        };
        let want = [
            "  <update>\n".to_string(),
            pkg(
                "name=\"a\" version=\"1\" release=\"2.el7\" epoch=\"0\" arch=\"src\" src=\"a-1-2.el7.src.rpm\"",
                "a-1-2.el7.src.rpm",
            ),
            pkg(
                "name=\"a\" version=\"1\" release=\"2.el7\" epoch=\"0\" arch=\"x86_64\" src=\"a-1-2.el7.src.rpm\"",
                "a-1-2.el7.x86_64.rpm",
            ),
            pkg(
                "name=\"b-lib\" version=\"1.0\" release=\"3.el7_9\" epoch=\"1&amp;2\" arch=\"noarch\"",
                "b-lib-1.0-3.el7_9.noarch.rpm",
            ),
            pkg(
                "name=\"c\" version=\"1\" release=\"1.el7\" epoch=\"0\" arch=\"x86_64\" src=\"other-1-1.el7.src.rpm\"",
                "c-1-1.el7.x86_64.rpm",
            ),
            "      </collection>\n    </pkglist>\n  </update>\n".to_string(),
        ]
        .concat();
        assert_eq!(String::from_utf8_lossy(out.as_bytes()), want.as_str());
        assert_eq!(size(rec).unwrap(), want.len() as u64);
        assert_eq!(xml, want.len() as u64, "the lengths package() gave");
        // a file name that is not the package's is refused; cut records do not read
        let n = Nevra::from_filename("a-1-2.el7.x86_64.rpm").unwrap();
        let t = Texts {
            epoch: "0",
            src: None,
            prev: None,
            escape: false,
            reboot: false,
        };
        assert!(package(&mut w, &mut scratch, &n, "b-1-2.el7.x86_64.rpm.x", t).is_none());
        for cut in 0..rec.len() {
            let r = expand(&rec[..cut], &mut Count::default());
            // (a cut at a package boundary reads as fewer packages)
            assert_eq!(r.is_ok(), ends.contains(&cut), "{cut}");
        }
    }
}
