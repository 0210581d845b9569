//! needs-restart: see `needs_restart::fuzz::cgroup_file` for the properties asserted.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| needs_restart::fuzz::cgroup_file(data));
