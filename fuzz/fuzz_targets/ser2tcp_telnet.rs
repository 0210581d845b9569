//! ser2tcp's telnet / RFC 2217 decoder: data bytes equal an independent model of the
//! framing, re-encoding round-trips, replies are whole, no baud out of range is planned
//! (see `ser2tcp::fuzz::telnet`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ser2tcp::fuzz::telnet(data));
