//! Networks (`opsbox_common::net`): whatever `Net::parse` accepts is written back in a form
//! it parses to the same network, has its host bits clear and agrees with the standard
//! library's reading of the address; an unmapped network still contains the same peers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use opsbox_common::net::Net;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match Net::parse(s) {
        Ok(n) => {
            let shown = n.to_string();
            assert_eq!(Net::parse(&shown), Ok(n), "{s:?} shown as {shown:?}");
            assert_eq!(n.masked(), n);
            assert!(n.contains(&n));
            let addr = s.split('/').next().unwrap();
            let std: IpAddr = addr.parse().expect("std reads what Net accepts");
            assert_eq!(n.is_v4(), std.is_ipv4());
            let u = n.unmapped();
            assert!(u.prefix() <= n.prefix());
            if n.is_host() {
                assert!(u.contains_ip(std), "{s:?}");
                assert_eq!(Net::host(std), u);
            }
        }
        Err(m) => {
            assert!(!m.chars().any(|c| c.is_control()), "{m:?}");
        }
    }
});
