#!/usr/bin/env bash
# Flood benchmark: a spoofed-source UDP flood (every packet a new 5-tuple:
# random source address in 10.0.0.0/8 and random source port, towards one
# port) over a veth pair between two namespaces this script makes, at a
# fixed rate; wirewatch captures it live with its default memory budget.
# Prints wirewatch's RSS every second, then packets sent / counted, kernel
# drops and flows folded. Then the same flood is recorded with -w and read
# back with -r: the totals must match and the read's peak RSS stay in budget.
#
# Needs root, iproute2, trafgen (netsniff-ng), GNU time. Only the two
# namespaces this script creates carry traffic.
#
#   scripts/bench-flood.sh                       # 12 M packets at 200 k pps (60 s)
#   COUNT=10000000 RATE=max scripts/bench-flood.sh
#   EXTRA="--memory-limit 100M" scripts/bench-flood.sh
set -euo pipefail

COUNT=${COUNT:-12000000}
RATE=${RATE:-200000}
EXTRA=${EXTRA:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WIREWATCH=${WIREWATCH:-$ROOT/target/release/wirewatch}
OUT=${OUT:-$ROOT/bench-out/flood}
mkdir -p "$OUT"

for t in ip trafgen /usr/bin/time python3; do
    command -v "$t" >/dev/null || { echo "bench-flood: needs $t" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench-flood: needs root" >&2; exit 2; }
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p wirewatch)
fi

NS_CAP=wwflood-cap
NS_SEND=wwflood-send
# shellcheck source=scripts/veth-pair.sh
. "$ROOT/scripts/veth-pair.sh"

# 60-byte frame: Ethernet + IPv4 (source 10.r.r.r) + UDP (source port random,
# destination 5000) + 18 bytes of payload.
CFG=$OUT/flood.trafgen
cat > "$CFG" <<EOF
{
  $(mac "$CAP_MAC"), $(mac "$SEND_MAC"), 0x08, 0x00,
  0x45, 0x00, 0x00, 46, 0x00, 0x00, 0x40, 0x00, 64, 17, csumip(14, 33),
  10, drnd(), drnd(), drnd(), 10, 99, 0, 1,
  drnd(), drnd(), 0x13, 0x88, 0x00, 26, 0x00, 0x00,
  fill(0x00, 18)
}
EOF

rate=()
[ "$RATE" = max ] || rate=(--rate "${RATE}pps")
send() {
    ip netns exec $NS_SEND trafgen --dev wwsend --conf "$CFG" --cpus 1 "${rate[@]}" \
        --num "$COUNT" --no-sock-mem --notouch-irq >"$OUT/trafgen.log" 2>&1 || true
}

rss_of() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Samples the RSS (MiB) of pid $1 every second into $2 until it exits.
sample() {
    local pid=$1 file=$2 t=0
    : >"$file"
    while kill -0 "$pid" 2>/dev/null; do
        echo "$t $(rss_of "$pid")" >>"$file"
        sleep 1
        t=$((t + 1))
    done
}

# The run's length: the send at the chosen rate plus margin.
if [ "$RATE" = max ]; then secs=120; else secs=$((COUNT / RATE + 8)); fi

run() { # label, extra args...
    local label=$1
    shift
    local log=$OUT/$label.json
    # shellcheck disable=SC2086
    ip netns exec $NS_CAP "$WIREWATCH" -i wwcap --no-history --no-processes --format json \
        --interval 5 -s "$secs" --user nobody $EXTRA "$@" >"$log" 2>"$OUT/$label.err" &
    local pid=$!
    sleep 1
    sample "$pid" "$OUT/$label.rss" &
    local sampler=$!
    local t0 t1
    t0=$(date +%s.%N)
    send
    t1=$(date +%s.%N)
    wait "$pid" || true
    wait "$sampler" || true
    python3 - "$log" "$OUT/$label.rss" "$COUNT" "$t0" "$t1" "$label" <<'PY'
import json, sys
log, rss, count, t0, t1, label = sys.argv[1:]
count, secs = int(count), float(t1) - float(t0)
last = None
for line in open(log):
    d = json.loads(line)
    if d.get("type") == "summary":
        last = d
series = [int(l.split()[1]) for l in open(rss) if len(l.split()) > 1]
print(f"[{label}] sent {count} in {secs:.1f} s ({count / secs:,.0f} pps)")
print(f"[{label}] RSS MiB every 5 s: {' '.join(str(v) for v in series[::5])}")
print(f"[{label}] RSS MiB peak {max(series)}, last {series[-1]}")
cap = last["capture"]
print(f"[{label}] counted {last['packets']} packets, {last['ip_bytes']} IP bytes; "
      f"kernel received {cap['kernel_received']}, dropped {cap['kernel_dropped']}")
print(f"[{label}] flows folded: {last['evicted_flows']} over the limit, {last['expired_flows']} idle")
PY
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "flood: $COUNT packets at ${RATE} pps, each from a random 10.x.y.z and source port to 10.99.0.1:5000"
run live
[ -n "${KEEP:-}" ] || rm -f "$OUT/flood.pcapng"
run write -w "$OUT/flood.pcapng"
# Read back: peak RSS and totals.
/usr/bin/time -f "%e %M" -o "$OUT/read.time" "$WIREWATCH" -r "$OUT/flood.pcapng" --format json \
    --no-progress $EXTRA >"$OUT/read.json" 2>"$OUT/read.err" || true
python3 - "$OUT/read.json" "$OUT/read.time" "$OUT/write.json" <<'PY'
import json, sys
read, timing, written = sys.argv[1:]
def summary(p):
    s = None
    for line in open(p):
        d = json.loads(line)
        if d.get("type") == "summary":
            s = d
    return s
r, w = summary(read), summary(written)
secs, kib = open(timing).read().split()
print(f"[read] -r of the -w file: {r['packets']} packets, {r['ip_bytes']} IP bytes in {secs} s, "
      f"peak RSS {int(kib) / 1024:.0f} MiB; flows folded {r['evicted_flows']}")
print(f"[read] totals equal to the live run that wrote it: "
      f"{(r['packets'], r['ip_bytes']) == (w['packets'], w['ip_bytes'])}")
PY
[ -n "${KEEP:-}" ] || rm -f "$OUT/flood.pcapng"
