//! updateinfo: the CEFS errata reader and converter: see updateinfo::fuzz::cefs for the properties asserted.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| updateinfo::fuzz::cefs(data));
