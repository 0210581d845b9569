#!/usr/bin/env python3
"""The story's way, for comparison: a list of IPs through a template into an
iptables-restore file, one `-s IP -j ACCEPT` rule per server (no sets, no IPv6)."""
import sys

TEMPLATE_HEAD = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
"""
TEMPLATE_RULE = "-A INPUT -s {ip}/32 -j ACCEPT\n"
TEMPLATE_TAIL = "-A INPUT -j DROP\nCOMMIT\n"

with open(sys.argv[1]) as f:
    ips = [l.split("#")[0].strip() for l in f]
out = [TEMPLATE_HEAD]
out += [TEMPLATE_RULE.format(ip=ip) for ip in ips if ip]
out.append(TEMPLATE_TAIL)
sys.stdout.write("".join(out))
