#!/usr/bin/env bash
# Web server under load (issue 18): `wirewatch serve` captures UDP traffic
# spread over FLOWS flows (default 100,000; every flow seen every 20 s, so the
# table holds them all) on a veth pair between two namespaces this script
# creates; then for SECS seconds (default 60) nothing else (phase 1), then
# SSE clients (default 100) and API requests (default 1,000 a second, a new
# connection each, over /api/v1/top, /interfaces, /status and /metrics)
# against its loopback (phase 2). Prints per phase the kernel drops, the
# RSS (min and max of one sample a second) and the flows in the table; for
# phase 2 the requests' latency percentiles, errors and SSE events.
#
# Needs root, iproute2, curl and ps. Only the two namespaces this script creates
# carry traffic; the HTTP load stays on the capture namespace's loopback.
#
#   scripts/bench-web.sh
#   FLOWS=50000 SSE=10 RPS=200 SECS=20 scripts/bench-web.sh
set -euo pipefail

FLOWS=${FLOWS:-100000}
PPS=${PPS:-$((FLOWS / 20))}
SSE=${SSE:-100}
RPS=${RPS:-1000}
SECS=${SECS:-60}
WARM=${WARM:-45}
PORT=${PORT:-8088}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WIREWATCH=${WIREWATCH:-$ROOT/target/release/wirewatch}
LOAD=${LOAD:-$ROOT/target/release/examples/web_load}
OUT=${OUT:-$ROOT/bench-out/web}
mkdir -p "$OUT"

for t in ip curl ps; do
    command -v "$t" >/dev/null || { echo "bench-web: needs $t" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench-web: needs root" >&2; exit 2; }
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p wirewatch && cargo build --release -q -p wirewatch-web --example web_load)
fi

NS_CAP=wwweb-cap
NS_SEND=wwweb-send
# shellcheck source=scripts/veth-pair.sh
. "$ROOT/scripts/veth-pair.sh"
# The datagrams go to the capture side's MAC (it has no address to answer ARP).
ip -n "$NS_SEND" neigh add 10.99.0.1 lladdr "$CAP_MAC" dev wwsend

pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; cleanup; }
trap stop_all EXIT

rm -rf "$OUT/history"
# The default budget (150M) holds about 68,000 live flows: 400M holds them all.
ip netns exec "$NS_CAP" "$WIREWATCH" --memory-limit 400M --db "$OUT/history/wirewatch.db" \
    serve -i wwcap --web "127.0.0.1:$PORT" > "$OUT/serve.out" 2> "$OUT/serve.err" &
ww=$!
pids+=("$ww")
for _ in $(seq 100); do grep -q "serving http" "$OUT/serve.err" && break; sleep 0.1; done
grep -q "serving http" "$OUT/serve.err" || { cat "$OUT/serve.err" >&2; exit 1; }

ip netns exec "$NS_SEND" "$LOAD" udp 10.99.0.1 --flows "$FLOWS" --pps "$PPS" \
    --secs $((WARM + 2 * SECS + 5)) > "$OUT/udp.out" &
pids+=("$!")

field() { # JSON text, key: the first number after "key":
    grep -o "\"$2\":[0-9]*" <<< "$1" | head -1 | cut -d: -f2
}
drops() { field "$(ip netns exec "$NS_CAP" curl -s "http://127.0.0.1:$PORT/api/v1/interfaces" 2>/dev/null || true)" kernel_dropped; }
flows() { field "$(ip netns exec "$NS_CAP" curl -s "http://127.0.0.1:$PORT/api/v1/status" 2>/dev/null || true)" flows_active; }
rss_sampler() { # seconds -> "min max" in MiB
    local min=999999 max=0 r
    for _ in $(seq "$1"); do
        r=$(($(ps -o rss= -p "$ww") / 1024))
        ((r < min)) && min=$r
        ((r > max)) && max=$r
        sleep 1
    done
    echo "$min $max"
}

echo "warming up ${WARM} s: ${FLOWS} flows at ${PPS} datagrams/s" >&2
sleep "$WARM"
d0=$(drops); f0=$(flows)
rss1=$(rss_sampler "$SECS")
d1=$(drops); f1=$(flows)
echo "phase 1 (capture only, ${SECS} s): flows ${f0}..${f1}, kernel drops +$((d1 - d0)), RSS MiB min/max ${rss1// //}"

ip netns exec "$NS_CAP" "$LOAD" http "127.0.0.1:$PORT" --sse "$SSE" --rps "$RPS" --secs "$SECS" > "$OUT/http.out" &
load=$!
rss2=$(rss_sampler "$SECS")
wait "$load"
d2=$(drops); f2=$(flows)
echo "phase 2 (${SSE} SSE clients + ${RPS} requests/s, ${SECS} s): flows ${f1}..${f2}, kernel drops +$((d2 - d1)), RSS MiB min/max ${rss2// //}"
echo "phase 2 load: $(cat "$OUT/http.out")"
