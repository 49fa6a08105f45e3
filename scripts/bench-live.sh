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
#   scripts/bench-live.sh                 # 100k, 200k, 300k pps and the sender's maximum, 5 s each
#   RATES="1000000" SECS=10 scripts/bench-live.sh
#   PIN_CPU=1 scripts/bench-live.sh       # capture on CPU 0, sender on CPU 1
set -euo pipefail

RATES=${RATES:-"100000 200000 300000 max"}
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
# shellcheck source=scripts/veth-pair.sh
. "$ROOT/scripts/veth-pair.sh"

# 60-byte frame (64 with FCS): Ethernet + IPv4 + UDP + 18 bytes payload.
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
# A trickle from another source port: iftop checks its -s timer only when a
# packet arrives, so it needs one after the burst to exit.
sed 's/0x30, 0x39,/0x30, 0x3a,/' "$CFG" > "$OUT/trickle.trafgen"

CAP_CPU=""; SEND_CPU=""
if [ "$PIN_CPU" = 1 ] && command -v taskset >/dev/null; then
    CAP_CPU="taskset -c 0"; SEND_CPU="taskset -c 1"
fi

send() { # rate|max count
    local rate=()
    [ "$1" = max ] || rate=(--rate "${1}pps")
    ip netns exec $NS_SEND $SEND_CPU trafgen --dev wwsend --conf "$CFG" --cpus 1 \
        "${rate[@]}" --num "$2" --no-sock-mem --notouch-irq \
        >"$OUT/trafgen.log" 2>&1 || true
}

# The sender's own ceiling: as fast as it goes, nobody capturing.
start=$(date +%s.%N)
N=$((2000000))
ip netns exec $NS_SEND $SEND_CPU trafgen --dev wwsend --conf "$CFG" --cpus 1 --num $N \
    --no-sock-mem --notouch-irq >"$OUT/trafgen.log" 2>&1 || true
end=$(date +%s.%N)
CEIL=$(python3 -c "print(int($N / ($end - $start)))")
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "sender: trafgen $(trafgen -v | head -1 | awk '{print $2}'), one CPU, ceiling ${CEIL} pps with nobody capturing"
echo
printf "%-10s %10s %10s %10s %10s %8s %8s %8s\n" tool rate_pps sent seen dropped seen_% cpu_% sent_pps
# seen_%: seen / sent. cpu_%: the capturing process's CPU seconds over the
# sending seconds. sent_pps: the rate the sender achieved during this run.
# iftop's "seen" is derived from its byte count (3 significant digits).

cpu_secs() { # GNU time output file -> user+sys seconds
    awk '/^CPUSECS/ {print $2 + $3}' "$1"
}

run_tool() { # tool rate
    local tool=$1 rate=$2 count
    if [ "$rate" = max ]; then count=$((CEIL * SECS)); else count=$((rate * SECS)); fi
    local tf=$OUT/$tool-$rate.time log=$OUT/$tool-$rate.out
    # Long enough for the slowest send (the sender slows down while a tool
    # captures, since on a veth the capture copy runs on the sender's CPU).
    local dur=$((2 * SECS + 3))
    case $tool in
    wirewatch)
        ip netns exec $NS_CAP $CAP_CPU /usr/bin/time -f "CPUSECS %U %S" -o "$tf" \
            "$WIREWATCH" -i wwcap -s $dur --format json --user nobody >"$log" 2>"$log.err" &
        ;;
    iftop)
        ip netns exec $NS_CAP $CAP_CPU /usr/bin/time -f "CPUSECS %U %S" -o "$tf" \
            iftop -i wwcap -t -s $dur -n -N -P -B >"$log" 2>"$log.err" &
        ;;
    tcpdump)
        ip netns exec $NS_CAP $CAP_CPU /usr/bin/time -f "CPUSECS %U %S" -o "$tf" \
            timeout -s TERM $dur tcpdump -i wwcap -w /dev/null -n >"$log" 2>"$log.err" &
        ;;
    esac
    local pid=$!
    sleep 1
    local t0 t1
    t0=$(date +%s.%N)
    send "$rate" "$count"
    t1=$(date +%s.%N)
    local trickle=""
    if [ "$tool" = iftop ]; then
        ip netns exec $NS_SEND trafgen --dev wwsend --conf "$OUT/trickle.trafgen" --cpus 1 \
            --rate 20pps --no-sock-mem --notouch-irq >/dev/null 2>&1 &
        disown
        trickle=$!
    fi
    wait $pid || true
    [ -z "$trickle" ] || { pkill -KILL -f trickle.trafgen || true; wait $trickle 2>/dev/null || true; }
    local seen dropped
    case $tool in
    wirewatch)
        seen=$(tail -1 "$log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["packets"])')
        dropped=$(tail -1 "$log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["capture"]["kernel_dropped"])')
        ;;
    iftop)
        # iftop prints no packet count: the burst's entry (source port 12345)
        # cumulative bytes / 46 IP bytes per packet (3 significant digits).
        seen=$(python3 - "$log" <<'PY'
import re, sys
units = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
last = "0B"
for line in open(sys.argv[1]):
    if ":12345 " in line:
        last = line.split()[-1]
m = re.match(r"([\d.]+)([KMG]?B)", last)
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
    local pct cpu
    pct=$(python3 -c "print(f'{100*$seen/$count:.1f}')")
    # CPU seconds of the whole run over the seconds the sender was sending.
    cpu=$(python3 -c "print(f'{100*$(cpu_secs "$tf")/($t1-$t0):.1f}')")
    printf "%-10s %10s %10s %10s %10s %8s %8s %8s\n" "$tool" "$rate" "$count" "$seen" "$dropped" "$pct" "$cpu" \
        "$(python3 -c "print(f'{$count/($t1-$t0):.0f}')")"
}

for rate in $RATES; do
    for tool in $TOOLS; do
        run_tool "$tool" "$rate"
    done
done

echo
# Idle: nothing sent; CPU time between 2 s and 32 s after start (steady
# state, not start-up), from /proc/PID/stat.
ip netns exec $NS_CAP "$WIREWATCH" -i wwcap -s 40 --format json --user nobody >/dev/null 2>&1 &
IDLE=$!
sleep 2
ticks() { awk '{print $14 + $15}' /proc/$IDLE/stat; }
t0=$(ticks); sleep 30; t1=$(ticks)
kill -TERM $IDLE; wait $IDLE || true
HZ=$(getconf CLK_TCK)
echo "wirewatch idle CPU (30 s, steady state): $(python3 -c "print(f'{100*($t1-$t0)/$HZ/30:.2f}')") %"
