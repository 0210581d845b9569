#!/usr/bin/env bash
# Per-packet cost: run inside a fresh network namespace (the caller's `unshare -n`).
#   rtt.sh KIND FILE SRC COUNT     KIND: none | nft | iptables
# Makes a "world" namespace (nested, dies with this script), joins it by a veth pair,
# loads the rules here, ping-floods this side from SRC, prints µs per round trip (the
# flood's wall time over COUNT: ping -f sends the next request when the reply is in, and
# its own rtt average has only 1 µs resolution).
set -euo pipefail
kind=$1 file=$2 src=$3 count=$4
unshare -n sleep 600 & world=$!
trap 'kill $world 2>/dev/null' EXIT
sleep 0.2
ip link add srv0 type veth peer name wld0 netns $world
ip link set lo up; ip link set srv0 up; ip addr add 10.0.0.1/8 dev srv0
W="nsenter -t $world -n"
$W ip link set lo up; $W ip link set wld0 up; $W ip addr add "$src/8" dev wld0
case $kind in
  nft) nft -f "$file" ;;
  iptables) iptables-restore < "$file" ;;
  none) ;;
esac
$W ping -q -c 200 -i 0.002 -I "$src" 10.0.0.1 >/dev/null   # warm up (ARP, caches)
$W ping -q -f -c "$count" -I "$src" 10.0.0.1 |
  awk -v n="$count" '/packets transmitted/ { for (i = 1; i < NF; i++) if ($i == "time") { t = $(i + 1); sub(/ms/, "", t) } }
                     END { if (t == "") exit 1; printf "%.2f\n", t * 1000 / n }'
