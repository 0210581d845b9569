//! updateinfo: the primary.xml reader: see updateinfo::fuzz::primary for the properties asserted.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| updateinfo::fuzz::primary(data));
