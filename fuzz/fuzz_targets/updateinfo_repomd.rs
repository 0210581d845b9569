//! updateinfo: the repomd.xml reader (href confinement): see updateinfo::fuzz::repomd for the properties asserted.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| updateinfo::fuzz::repomd(data));
