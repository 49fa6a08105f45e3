#!/usr/bin/env bash
# Memory benchmark: wirewatch's peak RSS must follow flows, not packets.
#
#   scripts/bench-memory.sh [SMALL_CAPTURE]
#
# Streams the same capture 1, 4 and 16 times through `wirewatch -r -` (the
# records repeated, so the flows stay the same while packets grow 16-fold) and
# prints packets, flows (5-tuple view entries), wall time and peak RSS.
# Without an argument it builds bench-out/small.pcap (~50 MB) from the corpus
# with the synth_capture example.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo build --release -q -p wirewatch
small=${1:-bench-out/small.pcap}
if [[ ! -f $small ]]; then
    mkdir -p bench-out
    cargo build --release -q -p wirewatch-capture --example synth_capture
    mapfile -t inputs < <(awk -F'\t' '$5 ~ /^ether/ && $6 > 300 && $1 ~ /^(nDPI|zeek)\// && $7 !~ /READ-ERROR|robustness/ {print "../shared/corpus/" $1}' ../shared/corpus/MANIFEST.tsv | head -60)
    target/release/examples/synth_capture --out "$small" --target-bytes 50000000 --min-flows 0 "${inputs[@]}" >/dev/null
fi
printf '%-8s %12s %10s %8s %10s\n' copies packets flows wall_s rss_MiB
for n in 1 4 16; do
    out=$(mktemp)
    stats=$( { /usr/bin/time -f '%e %M' bash -c "{ cat '$small'; for ((i = 1; i < $n; i++)); do tail -c +25 '$small'; done; } | target/release/wirewatch -r - --format json -P > '$out'"; } 2>&1 | tail -1)
    packets=$(tail -1 "$out" | grep -o '"packets":[0-9]*' | head -1 | cut -d: -f2)
    flows=$(head -1 "$out" | grep -o '"family"' | wc -l)
    read -r wall rss <<<"$stats"
    printf '%-8s %12s %10s %8s %10.1f\n' "$n" "$packets" "$flows" "$wall" "$(awk -v r="$rss" 'BEGIN{print r/1024}')"
    rm -f "$out"
done
