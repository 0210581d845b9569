//! The floor of `scripts/bench/updateinfo`: a bare quick-xml parse of a file (events read
//! with one reused buffer, attributes of every element iterated), doing nothing else.
//! Prints the number of elements and attributes.

use quick_xml::Reader;
use quick_xml::events::Event;
use std::io::{BufReader, Write};

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        let _ = writeln!(std::io::stderr(), "usage: bare_parse FILE");
        return std::process::ExitCode::from(64);
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "bare_parse: {path}: {e}");
            return std::process::ExitCode::from(66);
        }
    };
    let mut reader = Reader::from_reader(BufReader::with_capacity(1 << 16, file));
    let mut buf = Vec::with_capacity(1 << 12);
    let (mut elements, mut attributes) = (0u64, 0u64);
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                elements += 1;
                attributes += e.attributes().filter(Result::is_ok).count() as u64;
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "bare_parse: {path}: {e}");
                return std::process::ExitCode::from(65);
            }
        }
    }
    let _ = writeln!(
        std::io::stdout(),
        "{elements} elements, {attributes} attributes"
    );
    std::process::ExitCode::SUCCESS
}
