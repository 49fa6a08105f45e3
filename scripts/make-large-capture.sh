#!/usr/bin/env bash
# Builds a large realistic Ethernet capture for offline benchmarks.
#
#   scripts/make-large-capture.sh [OUT]          (default OUT: bench-out/large.pcap)
#
# Replays the frames of the bigger, realistic Ethernet captures of the
# third-party corpus (shared/corpus, read-only: nothing is copied into the
# repository) with the synth_capture example of wirewatch-capture, rewriting
# IPv4 addresses per round, until the file is >= TARGET_BYTES (default 1.1e9)
# and holds >= MIN_FLOWS (default 100000) distinct bidirectional IPv4 flows.
#
# Environment: CORPUS (corpus directory), TARGET_BYTES, MIN_FLOWS,
# MIN_PACKETS (smallest input file used, in packets; default 300).
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-bench-out/large.pcap}
target_bytes=${TARGET_BYTES:-1.1e9}
min_flows=${MIN_FLOWS:-100000}
min_packets=${MIN_PACKETS:-300}

corpus=${CORPUS:-}
if [[ -z $corpus ]]; then
    for c in "$root/../shared/corpus" "$root/shared/corpus" /work/shared/corpus; do
        if [[ -f $c/MANIFEST.tsv ]]; then corpus=$(cd "$c" && pwd); break; fi
    done
fi
if [[ -z $corpus || ! -f $corpus/MANIFEST.tsv ]]; then
    echo "make-large-capture: corpus not found (set CORPUS=DIR holding MANIFEST.tsv)" >&2
    exit 1
fi

# Selection from MANIFEST.tsv (file bytes linktype packets notes):
# Ethernet (linktype 1), from nDPI and Zeek (real application traffic),
# at least MIN_PACKETS packets, mostly IPv4 (IPv4 frames are what get new
# addresses per round), readable by tshark, not a robustness/fuzz file,
# fewer than 10% packets flagged malformed by Wireshark, and not Zeek's
# contentline tests (four near-identical synthetic 17 MB single-flow
# sessions that would make up 60% of the bytes and add 4 flows).
mapfile -t inputs < <(
    awk -F'\t' -v dir="$corpus" -v minp="$min_packets" '
        function tag(name,   m) {
            if (match($7, name "=[0-9]+")) return substr($7, RSTART + length(name) + 1, RLENGTH - length(name) - 1) + 0
            return 0
        }
        NR > 1 && $5 == "ether(1)" && $6 + 0 >= minp && $1 ~ /^(nDPI|zeek)\// && $1 !~ /^zeek\/contentline\// \
            && $7 !~ /READ-ERROR|robustness-named/ \
            && tag("ipv4") * 2 >= $6 + 0 && tag("malformed_pkts") * 10 < $6 + 0 { print dir "/" $1 }
    ' "$corpus/MANIFEST.tsv"
)
if ((${#inputs[@]} == 0)); then
    echo "make-large-capture: no corpus file matched the selection" >&2
    exit 1
fi
echo "make-large-capture: ${#inputs[@]} corpus captures selected from $corpus"

cargo build --release -p wirewatch-capture --example synth_capture
mkdir -p "$(dirname "$out")"
"$root/target/release/examples/synth_capture" --out "$out" \
    --target-bytes "$target_bytes" --min-flows "$min_flows" "${inputs[@]}"
ls -l "$out"
