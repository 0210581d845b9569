//! Streaming XML input on quick-xml with what quick-xml leaves to us: `FILE:LINE:COL`
//! positions, unknown entities and duplicate attributes as errors, and a truncated document
//! (quick-xml reports a plain EOF) as an error. One reused buffer: constant memory.

use crate::frag::Frag;
use crate::stream::{self, Tracked, limits};
use opsbox_common::{Error, Result};
use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};
use std::borrow::Cow;
use std::io::BufRead;

pub struct Src {
    reader: Reader<Tracked<stream::Input>>,
    /// The input's name in messages.
    pub name: String,
    /// Names of the open elements, concatenated, and where each starts.
    stack: Frag,
    starts: Vec<usize>,
    /// The root element was seen (and closed, once the depth is 0 again).
    rooted: bool,
}

impl Src {
    pub fn new(input: Box<dyn BufRead + Send>, name: &str) -> Self {
        Self::from_input(stream::Input::Other(input, None), name)
    }

    fn from_input(input: stream::Input, name: &str) -> Self {
        let packed = input.packed();
        let mut reader = Reader::from_reader(Tracked::new(input).limited(limits::TOKEN, packed));
        let c = reader.config_mut();
        c.check_end_names = true;
        c.trim_text(false);
        c.expand_empty_elements = false;
        Src {
            reader,
            name: name.to_string(),
            stack: Frag::new(),
            starts: Vec::new(),
            rooted: false,
        }
    }

    /// Open a file (`-` = stdin), undoing its compression.
    pub fn open(path: &str) -> Result<Self> {
        let (_, r) = stream::open_input(path)?;
        Ok(Self::from_input(
            r,
            opsbox_common::input::display_name(path),
        ))
    }

    /// Read a file already open, named `name` in messages, undoing its compression.
    pub fn from_file(file: std::fs::File, name: &str) -> Result<Self> {
        let (_, r) = stream::open_file_input(file, name)?;
        Ok(Self::from_input(r, name))
    }

    /// The offset after the last event read.
    pub fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    /// How many elements are open.
    pub fn depth(&self) -> usize {
        self.starts.len()
    }

    /// A data error at byte offset `off`: `FILE:LINE:COL: msg`.
    pub fn at(&self, off: u64, msg: impl std::fmt::Display) -> Error {
        let (l, c) = self.reader.get_ref().lines.line_col(off);
        Error::at(&self.name, l, c, msg)
    }

    /// The line and column of offset `off`.
    pub fn line_col(&self, off: u64) -> (u64, u64) {
        self.reader.get_ref().lines.line_col(off)
    }

    /// `FILE:LINE:COL` of offset `off`, for warnings.
    pub fn pos(&self, off: u64) -> String {
        let (l, c) = self.reader.get_ref().lines.line_col(off);
        format!("{}:{l}:{c}", self.name)
    }

    /// Positions before `off` will not be asked for again (keeps memory bounded).
    pub fn forget_before(&mut self, off: u64) {
        self.reader.get_mut().lines.forget_before(off);
    }

    /// The next event and the offset where it starts. Errors carry their position; an EOF
    /// inside an element is an error ("truncated").
    pub fn next<'b>(&mut self, buf: &'b mut Vec<u8>) -> Result<(u64, Event<'b>)> {
        buf.clear();
        let off = self.reader.buffer_position();
        // positions before this event are not asked for again: newlines before it go
        {
            let t = self.reader.get_mut();
            t.start_token();
            t.lines.forget_before(off);
        }
        match self.reader.read_event_into(buf) {
            Ok(ev) => {
                match &ev {
                    Event::Start(e) | Event::Empty(e) => {
                        if self.starts.is_empty() {
                            if self.rooted {
                                return Err(self.at(off, "a second root element"));
                            }
                            self.rooted = true;
                        }
                        let qname = e.name();
                        let name = qname.as_ref().as_bytes();
                        if name.len() > limits::NAME {
                            return Err(self.at(
                                off,
                                format!("an element name longer than {} bytes", limits::NAME),
                            ));
                        }
                        if matches!(ev, Event::Start(_)) {
                            if self.starts.len() >= limits::DEPTH {
                                return Err(self.at(
                                    off,
                                    format!("elements nested deeper than {}", limits::DEPTH),
                                ));
                            }
                            self.starts.push(self.stack.len());
                            self.stack.put(name);
                        }
                    }
                    Event::End(_) => {
                        if let Some(s) = self.starts.pop() {
                            self.stack.truncate(s);
                        }
                    }
                    Event::Text(t)
                        if self.starts.is_empty()
                            && !t.as_ref().bytes().all(|b| b.is_ascii_whitespace()) =>
                    {
                        return Err(
                            self.at(off, "text outside the root element (not an XML document?)")
                        );
                    }
                    Event::Eof if !self.starts.is_empty() => {
                        let innermost = match self.starts.last() {
                            Some(&s) => {
                                String::from_utf8_lossy(&self.stack.as_bytes()[s..]).into_owned()
                            }
                            None => String::new(),
                        };
                        return Err(self.at(
                            off,
                            format!(
                                "unexpected end of file: <{}> and {} enclosing element(s) not closed (truncated document?)",
                                opsbox_common::escape::text(&innermost),
                                self.starts.len() - 1
                            ),
                        ));
                    }
                    _ => {}
                }
                Ok((off, ev))
            }
            Err(quick_xml::Error::Io(e)) => {
                if let Some(l) = stream::over_limit(&e) {
                    return Err(self.at(off, l));
                }
                let pos = self.reader.buffer_position();
                Err(match e.kind() {
                    std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::InvalidInput
                    | std::io::ErrorKind::UnexpectedEof => self.at(
                        pos,
                        format!("corrupt compressed data: {}", opsbox_common::io_reason(&e)),
                    ),
                    _ => stream::read_error(&self.name, &e),
                })
            }
            Err(e) => {
                let pos = self.reader.error_position();
                Err(self.at(pos, xml_reason(&e)))
            }
        }
    }

    /// The character an entity or character reference in text stands for. Only the five
    /// predefined entities exist in these documents: anything else is an error.
    pub fn reference(&self, off: u64, r: &BytesRef) -> Result<char> {
        match r.resolve_char_ref() {
            Ok(Some(c)) => return Ok(c),
            Ok(None) => {}
            Err(e) => return Err(self.at(off, format!("bad character reference &{};: {e}", &**r))),
        }
        match &**r {
            "lt" => Ok('<'),
            "gt" => Ok('>'),
            "amp" => Ok('&'),
            "apos" => Ok('\''),
            "quot" => Ok('"'),
            other => Err(self.at(off, format!("unknown entity &{other};"))),
        }
    }

    /// Call `f(key, value)` for every attribute of `e` (which started at `off`), values
    /// unescaped and normalised; duplicates and unknown entities are errors.
    pub fn attrs(
        &self,
        off: u64,
        e: &BytesStart,
        f: impl FnMut(&[u8], Cow<str>) -> Result<()>,
    ) -> Result<()> {
        attributes(e, |d, msg| self.at(off + d, msg), f)
    }
}

/// Call `f(key, value)` for every attribute of `e`, values unescaped and normalised;
/// duplicates and unknown entities are errors, made by `at(offset from the tag's '<',
/// message)`.
pub fn attributes(
    e: &BytesStart,
    at: impl Fn(u64, String) -> Error,
    mut f: impl FnMut(&[u8], Cow<str>) -> Result<()>,
) -> Result<()> {
    // duplicates: a key is compared with the earlier ones only when a 64-bit mask of
    // their hashes (length, first and last byte) says it may be one of them
    let mut keys = heapless::Vec::<&[u8], { limits::ATTRIBUTES }>::new();
    let mut seen = 0u64;
    let tag: &[u8] = e.as_bytes();
    let mut attrs = e.attributes();
    attrs.with_checks(false);
    for a in attrs {
        let a = a.map_err(|err| at(0, attr_reason(&err)))?;
        let key = a.key.into_inner().as_bytes();
        let bit = match (key.first(), key.last()) {
            (Some(&a), Some(&z)) => {
                1u64 << ((key.len() * 7 + usize::from(a) * 3 + usize::from(z)) % 64)
            }
            _ => 1,
        };
        if seen & bit != 0 && keys.contains(&key) {
            // the position inside the tag, after its `<`
            let d = (key.as_ptr() as usize).wrapping_sub(tag.as_ptr() as usize);
            let d = if d < tag.len() { d as u64 + 1 } else { 0 };
            return Err(at(d, "duplicate attribute".into()));
        }
        seen |= bit;
        if keys.push(key).is_err() {
            return Err(at(
                0,
                format!("more than {} attributes", limits::ATTRIBUTES),
            ));
        }
        let v = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| at(0, xml_reason(&err)))?;
        f(a.key.as_ref().as_bytes(), v)?;
    }
    Ok(())
}

fn attr_reason(e: &quick_xml::events::attributes::AttrError) -> String {
    use quick_xml::events::attributes::AttrError;
    match e {
        AttrError::Duplicated(_, _) => "duplicate attribute".to_string(),
        other => format!("bad attribute: {other}"),
    }
}

fn xml_reason(e: &quick_xml::Error) -> String {
    match e {
        quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
            format!("unknown entity &{name};")
        }
        other => {
            let s = other.to_string();
            s.strip_prefix("ill-formed document: ")
                .or_else(|| s.strip_prefix("syntax error: "))
                .unwrap_or(&s)
                .to_string()
        }
    }
}

/// The text of an element name as UTF-8 (quick-xml guarantees it for names it returns).
pub fn name_str(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}
