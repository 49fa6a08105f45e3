#!/usr/bin/env bash
# Detection speed (issue 6): the large capture through -r with no detector,
# with the default detectors (heuristics + baselines) and with every
# detector (--ml), one core each (taskset), fastest of RUNS; then the ML
# detector alone (the kitsune bench: generated traffic and dns-mix-dnscat2).
#
#   scripts/make-large-capture.sh          # once: bench-out/large.pcap
#   RUNS=3 scripts/bench-detect.sh [FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=${1:-bench-out/large.pcap}
RUNS=${RUNS:-3}
CPU=${CPU:-1}
[ -f "$FILE" ] || { echo "no $FILE: run scripts/make-large-capture.sh first" >&2; exit 2; }
cargo build --release -q
W=target/release/wirewatch
PACKETS=$(capinfos -c -M "$FILE" 2>/dev/null | awk -F: '/Number of packets/ {gsub(/ /,"",$2); print $2}' || true)
if [ -z "$PACKETS" ]; then
    # No capinfos: count with wirewatch's own summary.
    PACKETS=$($W -r "$FILE" --no-detect --format json | tail -1 | sed -n 's/.*"packets":\([0-9]*\).*/\1/p')
fi
cat "$FILE" > /dev/null   # warm the page cache
echo "file: $FILE ($PACKETS packets), CPU $CPU, fastest of $RUNS"
printf '%-28s %9s %9s %12s %9s\n' mode wall_s cpu_s packets/s rss_MiB
run() {
    local name=$1; shift
    local best=""
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f "%e %U %S %M" -o /tmp/bench-detect.time \
            taskset -c "$CPU" $W -r "$FILE" --format csv "$@" > /dev/null 2> /tmp/bench-detect.err
        read -r wall user sys rss < /tmp/bench-detect.time
        if [ -z "$best" ] || awk "BEGIN{exit !($wall < ${best%% *})}"; then
            best="$wall $(awk "BEGIN{print $user+$sys}") $rss"
        fi
    done
    read -r wall cpu rss <<< "$best"
    printf '%-28s %9.2f %9.2f %12.0f %9.1f\n' "$name" "$wall" "$cpu" \
        "$(awk "BEGIN{print $PACKETS/$wall}")" "$(awk "BEGIN{print $rss/1024}")"
}
run "no detector (--no-detect)" --no-detect
run "default detectors" --alerts none
run "all detectors (--ml)" --alerts none --ml
echo
echo "ML detector alone (cargo bench -p wirewatch-detect --bench kitsune):"
taskset -c "$CPU" cargo bench -q -p wirewatch-detect --bench kitsune 2>/dev/null
