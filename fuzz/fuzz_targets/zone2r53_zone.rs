//! zone2r53: see `zone2r53::fuzz::zone` for the properties checked.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zone2r53::fuzz::zone(data));
