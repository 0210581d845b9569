//! needs-restart: see `needs_restart::fuzz::fleet_input` for the properties asserted.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| needs_restart::fuzz::fleet_input(data));
