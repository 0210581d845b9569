//! A converted record as it is kept until it is written: its `<update>` head as XML (from
//! `<update` to the collection's `<name>`), then its packages as lengths and bytes, about a
//! fifth of their XML. [`expand`] writes the XML; with a [`Count`] it measures it without
//! writing, so that every record's place in its file is known before any is written.
//!
//! Layout: `reboot: u8`, `head_len: u32`, the head, then per package six `u32` (file name,
//! name, version and release lengths, then epoch and src lengths, [`NO_SRC`] for none) and
//! the file name, epoch and src bytes (epoch and src escaped). Little-endian.

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
#[derive(Default)]
pub(crate) struct Count(pub(crate) u64);

impl Sink for Count {
    #[inline(always)]
    fn put(&mut self, b: &[u8]) {
        self.0 += b.len() as u64;
    }
}

/// The src length of a package without a source RPM.
const NO_SRC: u32 = u32::MAX;

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

/// The head of the record begun at `start` is written: its packages follow.
pub(crate) fn packages(w: &mut Frag, start: usize) {
    let head = (w.len() - start - 5) as u32;
    w.patch(start + 1, &head.to_le_bytes());
}

/// Add a package: `file` is its base name (`name-version-release.arch.rpm`, as
/// [`Nevra::from_filename`] read it: no escaping needed); epoch and src are escaped here
/// when `escape_them` (they come from a repository), else they are a number and a file
/// name read as `file` was. False if `file` is not `n`'s file name (then nothing is added).
pub(crate) fn package(
    w: &mut Frag,
    n: &Nevra,
    file: &str,
    epoch: &str,
    src: Option<&str>,
    escape_them: bool,
) -> bool {
    let parts = n.name.len() + n.version.len() + n.release.len() + n.arch.len();
    if file.len() != parts + 7 || !file.starts_with(n.name) || u32::try_from(file.len()).is_err() {
        return false;
    }
    let at = w.len();
    for l in [file.len(), n.name.len(), n.version.len(), n.release.len()] {
        w.put(&(l as u32).to_le_bytes());
    }
    w.put(&[0; 8]);
    w.put(file.as_bytes());
    let text = |w: &mut Frag, s: &str| {
        let b = w.len();
        if escape_them {
            escape(w, s, true);
        } else {
            w.put(s.as_bytes());
        }
        (w.len() - b) as u32
    };
    let epoch_len = text(w, epoch);
    w.patch(at + 16, &epoch_len.to_le_bytes());
    let src_len = src.map_or(NO_SRC, |s| text(w, s));
    w.patch(at + 20, &src_len.to_le_bytes());
    true
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
}

/// Write the `<update>` XML of the record `rec`.
pub(crate) fn expand(rec: &[u8], out: &mut impl Sink) -> Result<(), Corrupt> {
    let mut f = Fields(rec);
    let reboot = f.bytes(1)?[0] != 0;
    let head = f.u32()? as usize;
    out.put(f.bytes(head)?);
    while !f.0.is_empty() {
        let [file, name, version, release, epoch, src] =
            [f.u32()?, f.u32()?, f.u32()?, f.u32()?, f.u32()?, f.u32()?];
        let file = f.bytes(file as usize)?;
        // name-version-release.arch.rpm
        let (name, version, release) = (name as usize, version as usize, release as usize);
        let arch_at = name + version + release + 3;
        if arch_at + 4 > file.len() {
            return Err(Corrupt);
        }
        out.put(b"        <package name=\"");
        out.put(&file[..name]);
        out.put(b"\" version=\"");
        out.put(&file[name + 1..name + 1 + version]);
        out.put(b"\" release=\"");
        out.put(&file[name + version + 2..arch_at - 1]);
        out.put(b"\" epoch=\"");
        out.put(f.bytes(epoch as usize)?);
        out.put(b"\" arch=\"");
        out.put(&file[arch_at..file.len() - 4]);
        if src == NO_SRC {
            out.put(b"\">\n          <filename>");
        } else {
            out.put(b"\" src=\"");
            out.put(f.bytes(src as usize)?);
            out.put(b"\">\n          <filename>");
        }
        out.put(file);
        if reboot {
            out.put(b"</filename>\n          <reboot_suggested>True</reboot_suggested>\n        </package>\n");
        } else {
            out.put(b"</filename>\n        </package>\n");
        }
    }
    out.put(TAIL);
    Ok(())
}

/// The length of the record's XML.
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
        packages(&mut w, start);
        let mut ends = vec![w.len() - start];
        for (file, epoch, src) in [
            ("a-1-2.el7.x86_64.rpm", "0", Some("a-1-2.el7.src.rpm")),
            ("b-lib-1.0-3.el7_9.noarch.rpm", "1&2", None),
        ] {
            let n = Nevra::from_filename(file).unwrap();
            assert!(package(&mut w, &n, file, epoch, src, true));
            ends.push(w.len() - start);
        }
        let rec = w.as_bytes()[start..].to_vec();
        let rec = &rec[..];
        let mut out = Frag::new();
        expand(rec, &mut out).unwrap();
        let want = "  <update>\n\
            \x20       <package name=\"a\" version=\"1\" release=\"2.el7\" epoch=\"0\" arch=\"x86_64\" src=\"a-1-2.el7.src.rpm\">\n\
            \x20         <filename>a-1-2.el7.x86_64.rpm</filename>\n\
            \x20         <reboot_suggested>True</reboot_suggested>\n\
            \x20       </package>\n\
            \x20       <package name=\"b-lib\" version=\"1.0\" release=\"3.el7_9\" epoch=\"1&amp;2\" arch=\"noarch\">\n\
            \x20         <filename>b-lib-1.0-3.el7_9.noarch.rpm</filename>\n\
            \x20         <reboot_suggested>True</reboot_suggested>\n\
            \x20       </package>\n\
            \x20     </collection>\n    </pkglist>\n  </update>\n";
        assert_eq!(String::from_utf8_lossy(out.as_bytes()), want);
        assert_eq!(size(rec).unwrap(), want.len() as u64);
        // a file name that is not the package's is refused; cut records do not read
        let n = Nevra::from_filename("a-1-2.el7.x86_64.rpm").unwrap();
        assert!(!package(
            &mut w,
            &n,
            "b-1-2.el7.x86_64.rpm.x",
            "0",
            None,
            false
        ));
        for cut in 0..rec.len() {
            let r = expand(&rec[..cut], &mut Count::default());
            // (a cut at a package boundary reads as fewer packages)
            assert_eq!(r.is_ok(), ends.contains(&cut), "{cut}");
        }
    }
}
