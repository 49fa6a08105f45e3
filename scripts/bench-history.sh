#!/usr/bin/env bash
# History benchmark (issue 5): 30 days of minute rows for 1,000 active flows
# per minute written through the writer thread (commits, roll-ups and
# retention included), the database size, then the latency of the month-long
# queries, in the library (crates/store/benches/history.rs) and through the
# CLI (process start included; median of RUNS).
#
#   scripts/bench-history.sh [DB] [DAYS]     default bench-out/history.db, 30
#   QUERY_ONLY=1 END=<unix s> scripts/bench-history.sh DB   reuse a database
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
db="$(realpath -m "${1:-bench-out/history.db}")"
days="${2:-30}"
runs="${RUNS:-9}"
mkdir -p "$(dirname "$db")"
cargo build --release -q
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== library: ingest and queries"
cargo bench -q -p wirewatch-store --bench history -- "$db" "$days" 2>&1 | grep -v '^coverage'
ww="$root/target/release/wirewatch"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "== CLI: wall time, median of $runs (ms)"
for q in "top --since 30d" "top --since 30d --by process" "series --step 1h --since 30d" \
         "series --step 5m --since 24h" "flows --since 1h --limit 10"; do
    for _ in $(seq "$runs"); do
        t0=$(date +%s%N)
        # shellcheck disable=SC2086
        "$ww" history $q --db "$db" >/dev/null
        t1=$(date +%s%N)
        echo $(( (t1 - t0) / 1000000 ))
    done | median | xargs printf "history %-32s %s ms\n" "$q"
done
