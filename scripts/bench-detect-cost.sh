#!/usr/bin/env bash
# What the default detectors cost over accounting alone (issue 17): the
# same capture through `wirewatch -r FILE --format csv` with `--no-detect`
# (A) and with the default detectors, `--alerts none` (B), the two runs
# alternating RUNS times; prints each pair's wall and CPU seconds and the
# median of the ratios B / A (1.50 = the detectors add 50 %), with peak RSS.
#
#   scripts/make-attack-capture.sh                 # once: bench-out/attack.pcap
#   scripts/make-large-capture.sh                  # once: bench-out/large.pcap
#   RUNS=5 scripts/bench-detect-cost.sh bench-out/attack.pcap bench-out/large.pcap
#
# Environment: RUNS (default 5), WIREWATCH=PATH (benchmark this binary;
# default: build and use target/release/wirewatch).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
[ $# -ge 1 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
if [ -z "${WIREWATCH:-}" ]; then
    cargo build --release -q -p wirewatch
    WIREWATCH=target/release/wirewatch
fi
[ -x /usr/bin/time ] || { echo "bench-detect-cost: GNU time is required (apt-get install time)" >&2; exit 2; }
one() { # FILE ARGS... -> "wall cpu rss_kib"
    local f=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o /tmp/bench-detect-cost.time \
        "$WIREWATCH" -r "$f" --format csv "$@" > /dev/null 2> /dev/null
    awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' /tmp/bench-detect-cost.time
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
for f in "$@"; do
    [ -r "$f" ] || { echo "bench-detect-cost: cannot read $f" >&2; exit 2; }
    cat "$f" > /dev/null   # warm the page cache
    echo "== $f ($RUNS pairs)"
    printf '%-5s %9s %8s %9s %8s %9s %9s\n' pair A_wall A_cpu B_wall B_cpu B/A_wall B/A_cpu
    ratios_wall=(); ratios_cpu=(); rss_a=0; rss_b=0
    for i in $(seq "$RUNS"); do
        read -r aw ac ar < <(one "$f" --no-detect)
        read -r bw bc br < <(one "$f" --alerts none)
        rw=$(awk "BEGIN{printf \"%.3f\", $bw / $aw}")
        rc=$(awk "BEGIN{printf \"%.3f\", $bc / ($ac > 0 ? $ac : 0.01)}")
        ratios_wall+=("$rw"); ratios_cpu+=("$rc")
        rss_a=$(( ar > rss_a ? ar : rss_a )); rss_b=$(( br > rss_b ? br : rss_b ))
        printf '%-5s %9s %8s %9s %8s %9s %9s\n' "$i" "$aw" "$ac" "$bw" "$bc" "$rw" "$rc"
    done
    printf 'median B/A: wall %s, CPU %s; peak RSS A %.1f MiB, B %.1f MiB\n' \
        "$(printf '%s\n' "${ratios_wall[@]}" | median)" \
        "$(printf '%s\n' "${ratios_cpu[@]}" | median)" \
        "$(awk "BEGIN{print $rss_a/1024}")" "$(awk "BEGIN{print $rss_b/1024}")"
done
