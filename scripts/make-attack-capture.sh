#!/usr/bin/env bash
# Builds a scan/flood-heavy capture for the detection-cost bench (issue 17):
# the demo sample (an office network with a port scan, a DNS tunnel and a
# spoofed SYN flood) with three labelled attacks laid into its five minutes
# (the spoofed SYN flood of ../shared/labeled at 0:20, the SSH brute force at
# 1:30, the ICMP port scan at 2:30), the whole repeated COPIES times (default
# 29, about 1.4 M packets), each copy 10 s after the one before, addresses
# unchanged (so the same spoofed sources come back every copy, as in the
# issue's capture).
#
#   scripts/make-attack-capture.sh [OUT]     (default OUT: bench-out/attack.pcap)
#
# Needs editcap and mergecap (Debian package wireshark-common, which tshark
# brings) and ../shared/labeled (or LABELED=DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench-out/attack.pcap}
COPIES=${COPIES:-29}
LABELED=${LABELED:-../shared/labeled}
[ -d "$LABELED" ] || LABELED=/work/shared/labeled
for t in editcap mergecap capinfos; do
    command -v "$t" > /dev/null || { echo "make-attack-capture: $t not found (apt-get install tshark)" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
first() { capinfos -a -S -T "$1" | tail -1 | cut -f2; }
span() { capinfos -u -T "$1" | tail -1 | cut -f2; }
demo=samples/demo.pcapng
start=$(first "$demo")
# Each labelled attack shifted to start OFFSET seconds into the demo.
lay() {
    local f=$1 offset=$2
    local shift
    shift=$(awk "BEGIN{printf \"%.6f\", $start + $offset - $(first "$f")}")
    editcap -F pcap -t "$shift" "$f" "$tmp/$(basename "$f" .pcap).shifted.pcap"
}
lay "$LABELED/ddos-synflood-spoofed.pcap" 20
lay "$LABELED/ssh-bruteforce.pcap" 90
lay "$LABELED/icmp-portscan.pcap" 150
editcap -F pcap "$demo" "$tmp/demo.pcap"
mergecap -F pcap -w "$tmp/base.pcap" "$tmp/demo.pcap" "$tmp"/*.shifted.pcap
step=$(awk "BEGIN{printf \"%.6f\", $(span "$tmp/base.pcap") + 10}")
copies=()
for i in $(seq 0 $((COPIES - 1))); do
    editcap -F pcap -t "$(awk "BEGIN{printf \"%.6f\", $i * $step}")" "$tmp/base.pcap" "$tmp/copy$i.pcap"
    copies+=("$tmp/copy$i.pcap")
done
mkdir -p "$(dirname "$OUT")"
mergecap -F pcap -a -w "$OUT" "${copies[@]}"
capinfos -c -u "$OUT" | tail -2
