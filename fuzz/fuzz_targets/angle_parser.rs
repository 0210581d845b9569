//! The angle-command parser shared by the firmware and ser2tcp: its verdict per line
//! equals the spec's table on a simple line-splitting model (see `angle::fuzz::parser`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| angle::fuzz::parser(data));
