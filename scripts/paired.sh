#!/usr/bin/env bash
# Paired timing of two commands: runs PEER and OURS in turn N times (default
# 5; one untimed run of each first, to warm the page cache), then prints each
# one's median wall time and the median of the per-pair ratios OURS ÷ PEER.
#
#   scripts/paired.sh [-n N] 'PEER COMMAND' 'OUR COMMAND'
#
# Both commands run through `sh -c`; their output goes to /dev/null.
set -euo pipefail
n=5
if [ "${1:-}" = -n ]; then n=$2; shift 2; fi
[ $# = 2 ] || { echo "usage: scripts/paired.sh [-n N] 'PEER' 'OURS'" >&2; exit 2; }
peer=$1 ours=$2
wall() { # command -> seconds
    local t0 t1
    t0=$(date +%s.%N)
    sh -c "$1" > /dev/null 2>&1
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}
wall "$peer" > /dev/null; wall "$ours" > /dev/null
p=() o=() r=()
for _ in $(seq "$n"); do
    a=$(wall "$peer"); b=$(wall "$ours")
    p+=("$a"); o+=("$b"); r+=("$(echo "$b / $a" | bc -l)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
printf 'peer %.3f s, ours %.3f s, ours / peer %.2f (medians of %d pairs)\n' \
    "$(median "${p[@]}")" "$(median "${o[@]}")" "$(median "${r[@]}")" "$n"
