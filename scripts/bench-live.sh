#!/usr/bin/env bash
# Live-capture benchmark: 64-byte UDP frames offered over a veth pair at
# increasing rates; wirewatch, `iftop -t` and `tcpdump -w /dev/null` capture
# in turn for the same seconds. Prints, per tool and rate: packets sent, seen,
# dropped (kernel counter where the tool reports one) and CPU % of the
# capturing process; then wirewatch's idle CPU.
#
# Needs root, iproute2, trafgen (netsniff-ng), iftop, tcpdump, GNU time.
# Only the two namespaces this script creates carry traffic.
#
#   scripts/bench-live.sh                 # rates 100k 250k 500k 1M 2M pps, 5 s each
#   RATES="1000000" SECS=10 scripts/bench-live.sh
#   PIN_CPU=1 scripts/bench-live.sh       # capture on CPU 0, sender on CPU 1
set -euo pipefail

RATES=${RATES:-"100000 250000 500000 1000000 2000000"}
SECS=${SECS:-5}
PIN_CPU=${PIN_CPU:-1}
TOOLS=${TOOLS:-"wirewatch iftop tcpdump"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WIREWATCH=${WIREWATCH:-$ROOT/target/release/wirewatch}
OUT=${OUT:-$ROOT/bench-out/live}
mkdir -p "$OUT"

for t in ip trafgen iftop tcpdump /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "bench-live: needs $t" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench-live: needs root" >&2; exit 2; }
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build --release -q)
fi

NS_CAP=wwbench-cap
NS_SEND=wwbench-send
cleanup() { ip netns del $NS_CAP 2>/dev/null || true; ip netns del $NS_SEND 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add $NS_CAP
ip netns add $NS_SEND
ip link add wwcap netns $NS_CAP type veth peer name wwsend netns $NS_SEND
ip -n $NS_CAP addr add 10.99.0.1/24 dev wwcap
ip -n $NS_SEND addr add 10.99.0.2/24 dev wwsend
for ns in $NS_CAP $NS_SEND; do
    ip -n $ns link set lo up
    ip netns exec $ns sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
done
ip -n $NS_CAP link set wwcap up
ip -n $NS_SEND link set wwsend up
CAP_MAC=$(ip netns exec $NS_CAP cat /sys/class/net/wwcap/address)
SEND_MAC=$(ip netns exec $NS_SEND cat /sys/class/net/wwsend/address)
# Drop the frames after capture so the receiving stack costs little.
ip netns exec $NS_CAP sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'

# 60-byte frame (64 with FCS): Ethernet + IPv4 + UDP + 18 bytes payload.
mac() { echo "$1" | sed 's/^/0x/; s/:/, 0x/g'; }
CFG=$OUT/udp64.trafgen
cat > "$CFG" <<EOF
{
  $(mac "$CAP_MAC"), $(mac "$SEND_MAC"), 0x08, 0x00,
  0x45, 0x00, 0x00, 46, 0x00, 0x00, 0x40, 0x00, 64, 17, csumip(14, 33),
  10, 99, 0, 2, 10, 99, 0, 1,
  0x30, 0x39, 0x13, 0x89, 0x00, 26, 0x00, 0x00,
  fill(0x00, 18)
}
EOF

CAP_CPU=""; SEND_CPU=""
if [ "$PIN_CPU" = 1 ] && command -v taskset >/dev/null; then
    CAP_CPU="taskset -c 0"; SEND_CPU="taskset -c 1"
fi

send() { # rate count
    ip netns exec $NS_SEND $SEND_CPU trafgen --dev wwsend --conf "$CFG" --cpus 1 \
        --rate "${1}pps" --num "$2" --no-sock-mem --notouch-irq --silent \
        >"$OUT/trafgen.log" 2>&1 || true
}

# The sender's own ceiling: as fast as it goes, nobody capturing.
start=$(date +%s.%N)
N=$((2000000))
ip netns exec $NS_SEND $SEND_CPU trafgen --dev wwsend --conf "$CFG" --cpus 1 --num $N \
    --no-sock-mem --notouch-irq --silent >"$OUT/trafgen.log" 2>&1 || true
end=$(date +%s.%N)
CEIL=$(echo "$N / ($end - $start)" | bc)
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "sender: trafgen $(trafgen -v | head -1 | awk '{print $2}'), one CPU, ceiling ${CEIL} pps with nobody capturing"
echo
printf "%-10s %10s %10s %10s %10s %8s %8s\n" tool rate_pps sent seen dropped seen_% cpu_%

cpu_of() { # time output file -> "user+sys / elapsed" as %
    awk '/^CPU/ {print $2}' "$1" | tr -d '%'
}

run_tool() { # tool rate
    local tool=$1 rate=$2 count=$((rate * SECS))
    local tf=$OUT/$tool-$rate.time log=$OUT/$tool-$rate.out
    local dur=$((SECS + 2))
    case $tool in
    wirewatch)
        ip netns exec $NS_CAP $CAP_CPU /usr/bin/time -f "CPU %P" -o "$tf" \
            "$WIREWATCH" -i wwcap -s $dur --format json --user nobody >"$log" 2>"$log.err" &
        ;;
    iftop)
        ip netns exec $NS_CAP $CAP_CPU /usr/bin/time -f "CPU %P" -o "$tf" \
            iftop -i wwcap -t -s $dur -n -N -P -B >"$log" 2>"$log.err" &
        ;;
    tcpdump)
        ip netns exec $NS_CAP $CAP_CPU /usr/bin/time -f "CPU %P" -o "$tf" \
            timeout -s INT $dur tcpdump -i wwcap -w /dev/null -n >"$log" 2>"$log.err" &
        ;;
    esac
    local pid=$!
    sleep 1
    send "$rate" "$count"
    wait $pid || true
    local seen dropped
    case $tool in
    wirewatch)
        seen=$(tail -1 "$log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["packets"])')
        dropped=$(tail -1 "$log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["capture"]["kernel_dropped"])')
        ;;
    iftop)
        # iftop prints no packet count: cumulative bytes / 46 IP bytes per packet.
        seen=$(python3 - "$log" <<'PY'
import re, sys
units = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
last = None
for line in open(sys.argv[1]):
    if line.startswith("Cumulative"):
        last = line.split()[-1]
m = re.match(r"([\d.]+)([KMG]?B)", last or "0B")
print(int(float(m.group(1)) * units[m.group(2)] / 46) if m else 0)
PY
)
        dropped="n/a"
        ;;
    tcpdump)
        seen=$(awk '/packets captured/ {print $1}' "$log.err")
        dropped=$(awk '/dropped by kernel/ {print $1}' "$log.err")
        ;;
    esac
    local pct
    pct=$(python3 -c "print(f'{100*$seen/$count:.1f}')")
    printf "%-10s %10s %10s %10s %10s %8s %8s\n" "$tool" "$rate" "$count" "$seen" "$dropped" "$pct" "$(cpu_of "$tf")"
}

for rate in $RATES; do
    for tool in $TOOLS; do
        run_tool "$tool" "$rate"
    done
done

echo
# Idle: nothing sent for 10 s.
ip netns exec $NS_CAP /usr/bin/time -f "CPU %P" -o "$OUT/idle.time" \
    "$WIREWATCH" -i wwcap -s 10 --format json --user nobody >/dev/null 2>&1
echo "wirewatch idle CPU over 10 s: $(cpu_of "$OUT/idle.time") %"
