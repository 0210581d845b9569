#!/usr/bin/env python3
"""A synthetic zone of N records (default 200,000) for the zone2r53 benchmark: the shapes
of a hosting provider's zone (A, AAAA, MX, TXT, CNAME, SRV, relative names, $TTL, a
multi-line SOA, blank owners), deterministic."""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
out = sys.stdout
w = out.write
w("$ORIGIN bench.example.\n$TTL 3600\n")
w("@ IN SOA ns1 hostmaster (\n  2024010101 ; serial\n  3h 30m 2w 5m )\n")
w("@ IN NS ns1\n@ IN NS ns2.example.net.\nns1 IN A 192.0.2.1\n")
count = 4
i = 0
while count < n:
    h = f"host{i}"
    a, b = (i >> 8) & 255, i & 255
    w(f"{h} 300 IN A 10.{(i >> 16) & 255}.{a}.{b}\n")
    w(f"     IN AAAA 2001:db8:{(i >> 16) & 0xffff:x}:{i & 0xffff:x}::1\n")
    w(f"     IN MX 10 mail.{h}\n")
    w(f"     IN TXT \"v=spf1 ip4:10.{a}.{b}.0/24 -all\" \"id={i}\"\n")
    w(f"www.{h} IN CNAME {h}\n")
    w(f"_sip._tcp.{h} 600 IN SRV 10 60 5060 sip.{h}.bench.example.\n")
    count += 6
    i += 1
