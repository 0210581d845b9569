//! Inventories in every format genfw reads (the first byte picks it: auto, list, hosts,
//! INI, YAML, JSON): whatever parses and builds a policy renders nft and iptables files
//! with no control characters, one-line header comments naming the escaped host, no
//! statement genfw does not write, only validated interface names and addresses.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| genfw::fuzz::inventory(data));
