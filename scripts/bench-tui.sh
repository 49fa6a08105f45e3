#!/usr/bin/env bash
# Screen-mode benchmark: wirewatch's terminal UI, iftop and bandwhich watch the
# same UDP traffic -- FLOWS (default 100,000) distinct 5-tuples, all of them
# live (each gets a packet every FLOWS/RATE = 1.25 s) -- one after another,
# each drawing into a detached COLSxROWS tmux pane in the receiving namespace.
# Per tool, over the measured window (after a warm-up): CPU % of the monitor
# process (/proc/PID/stat utime+stime, all threads), RSS (VmRSS sampled every
# second: the maximum and the value at the end; VmHWM), how often its screen
# changed, and the tmux server's CPU; over its whole run: kernel drops where
# they can be read and the share of the packets the tool counted. Prints a
# table and the wirewatch/iftop and wirewatch/bandwhich ratios; the final
# screens stay in $OUT.
#
# Needs root, iproute2, trafgen (netsniff-ng), tmux, tcpdump, iftop, bandwhich
# (cargo install bandwhich --locked), ss (iproute2). Only the two namespaces
# this script creates carry traffic.
#
#   scripts/bench-tui.sh                         # 100k flows at 80k pps, 40 s warm-up, 60 s measured
#   TOOLS="iftop bandwhich" scripts/bench-tui.sh
#   TOOLS="wirewatch iftop iftop-hosts bandwhich" scripts/bench-tui.sh   # also iftop without -P
#   WW_ARGS="-n -N -P --no-processes" scripts/bench-tui.sh   # other wirewatch screen flags
#   RATE=60000 WARM=20 SECS=30 FLOW_SRCS=16 FLOW_PORTS=625 scripts/bench-tui.sh   # 10,000 flows
#   HOSTS=1 WW_ARGS="-n -N" IFTOP_ARGS="-n -N" scripts/bench-tui.sh   # 100,400 host pairs
set -euo pipefail

# Flows: source address 10.99.1.(10 + i mod FLOW_SRCS), source port
# 20000 + (i mod FLOW_PORTS) for packet i. Both counters step on every packet,
# so with coprime periods (32 and 3125) every one of the 32 x 3125 = 100,000
# combinations comes once per 100,000 packets.
FLOW_SRCS=${FLOW_SRCS:-32}
FLOW_PORTS=${FLOW_PORTS:-3125}
RATE=${RATE:-80000}             # packets/s offered
WARM=${WARM:-40}                # seconds of traffic before the measured window
SECS=${SECS:-60}                # measured window
SETTLE=${SETTLE:-3}             # seconds after the traffic stops before the counts are read
COLS=${COLS:-200}
ROWS=${ROWS:-60}
PIN_CPU=${PIN_CPU:-1}           # monitor on CPU 0, sender on CPU 1
TOOLS=${TOOLS:-"wirewatch iftop bandwhich"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WW=${WW:-$ROOT/target/release/wirewatch}
IF=wwtcap                       # the capture-side veth, in namespace wwtui-cap
# wirewatch's command line after `$WW -i $IF`: its screen (stdout is the tmux
# pane), one line per 5-tuple like iftop -P, no name lookups.
WW_ARGS=${WW_ARGS:-"-n -N -P"}
# iftop: -P gives one line per host pair *and ports*, so it tracks the same
# 100,000 entries as wirewatch -P and bandwhich's connections; without -P it
# would hold 32 host pairs (TOOLS=iftop-hosts runs that too, for reference).
# -n -N: no DNS or service lookups.
IFTOP_ARGS=${IFTOP_ARGS:-"-n -N -P"}
BANDWHICH=${BANDWHICH:-$(command -v bandwhich || echo "$HOME/.cargo/bin/bandwhich")}
BANDWHICH_ARGS=${BANDWHICH_ARGS:-"--no-resolve"}
OUT=${OUT:-$ROOT/bench-out/tui}
mkdir -p "$OUT"

for t in ip trafgen tmux tcpdump iftop ss taskset python3 "$BANDWHICH"; do
    command -v "$t" >/dev/null || { echo "bench-tui: needs $t" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench-tui: needs root" >&2; exit 2; }
# HOSTS=1: every flow its own source host instead (10.A.B.C with A, B, C
# stepping through 16, 25 and 251 values: 100,400 host pairs, one port), the
# worst case for the host-pair view.
HOSTS=${HOSTS:-0}
FLOWS=$((FLOW_SRCS * FLOW_PORTS))
[ "$HOSTS" = 1 ] && FLOWS=100400
[ "$HOSTS" = 1 ] || python3 -c "import math,sys; sys.exit(math.gcd($FLOW_SRCS, $FLOW_PORTS) != 1 or $FLOW_SRCS > 240 or $FLOW_PORTS > 45000)" ||
    { echo "bench-tui: FLOW_SRCS ($FLOW_SRCS, at most 240) and FLOW_PORTS ($FLOW_PORTS, at most 45000) must be coprime" >&2; exit 2; }
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p wirewatch)
fi

NS_CAP=wwtui-cap
NS_SEND=wwtui-send
TMUX_SOCK=wwbench-tui           # a private tmux server: other sessions are untouched
TM=(tmux -L $TMUX_SOCK -f "$OUT/tmux.conf")
SENDER=""                       # trafgen's process group (it forks a child per CPU)
MON=""                          # the running monitor's pid
stop_sender() {
    if [ -n "$SENDER" ]; then
        kill -KILL -- "-$SENDER" 2>/dev/null || true
        wait "$SENDER" 2>/dev/null || true
        SENDER=""
    fi
}
cleanup() {
    stop_sender
    [ -z "$MON" ] || kill -KILL "$MON" 2>/dev/null || true
    "${TM[@]}" kill-server 2>/dev/null || true
    ip netns del $NS_CAP 2>/dev/null || true
    ip netns del $NS_SEND 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cat > "$OUT/tmux.conf" <<'EOF'
set -g status off
set -g history-limit 5000
EOF
cleanup
ip netns add $NS_CAP
ip netns add $NS_SEND
ip link add $IF netns $NS_CAP type veth peer name wwtsend netns $NS_SEND
ip -n $NS_SEND addr add 10.99.0.2/24 dev wwtsend
# bandwhich refuses an interface without an address ("Failed to find any
# network interface to listen on"), so the capture side gets 10.99.0.3/32 --
# not the frames' destination 10.99.0.1: with forwarding off they are dropped
# silently after the taps (IpInAddrErrors, no ICMP back), like the address-less
# side of bench-live.sh.
ip -n $NS_CAP addr add 10.99.0.3/32 dev $IF
ip netns exec $NS_CAP sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'
for ns in $NS_CAP $NS_SEND; do
    ip -n $ns link set lo up
    ip netns exec $ns sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
done
ip -n $NS_CAP link set $IF up
ip -n $NS_SEND link set wwtsend up
CAP_MAC=$(ip netns exec $NS_CAP cat /sys/class/net/$IF/address)
SEND_MAC=$(ip netns exec $NS_SEND cat /sys/class/net/wwtsend/address)

# 60-byte frames (64 with FCS): Ethernet + IPv4 + UDP + 18 bytes payload, the
# same size as bench-live.sh. trafgen fills in the checksums per packet.
CFG=$OUT/flows.trafgen
if [ "$HOSTS" = 1 ]; then
    cat > "$CFG" <<EOF
{
  eth(da=$CAP_MAC, sa=$SEND_MAC),
  ipv4(sa=10.0.0.0, sa[1]=dinc(100, 115), sa[2]=dinc(0, 24), sa[3]=dinc(1, 251), da=10.99.0.1, ttl=64, df),
  udp(sp=20000, dp=5001),
  fill(0x00, 18)
}
EOF
else
    cat > "$CFG" <<EOF
{
  eth(da=$CAP_MAC, sa=$SEND_MAC),
  ipv4(sa=10.99.1.0, sa[3]=dinc(10, $((10 + FLOW_SRCS - 1))), da=10.99.0.1, ttl=64, df),
  udp(sp=dinc(20000, $((20000 + FLOW_PORTS - 1))), dp=5001),
  fill(0x00, 18)
}
EOF
fi

CAP_CPU=(); SEND_CPU=()
if [ "$PIN_CPU" = 1 ]; then
    CAP_CPU=(taskset -c 0); SEND_CPU=(taskset -c 1)
fi
start_sender() { # [extra trafgen args]; trafgen runs in its own process group
    # (setsid does not fork here: a background job is no group leader).
    setsid ip netns exec $NS_SEND "${SEND_CPU[@]}" trafgen --dev wwtsend --conf "$CFG" --cpus 1 \
        --rate "${RATE}pps" --no-sock-mem --notouch-irq "$@" >"$OUT/trafgen.log" 2>&1 </dev/null &
    SENDER=$!
}
rx_packets() { ip netns exec $NS_CAP cat /sys/class/net/$IF/statistics/rx_packets; }
HZ=$(getconf CLK_TCK)

# Check the traffic: capture 2 x FLOWS packets with tcpdump, count 5-tuples.
ip netns exec $NS_CAP tcpdump -i $IF -n -s 64 -c $((2 * FLOWS)) -w "$OUT/check.pcap" udp >/dev/null 2>"$OUT/check.err" &
TCPD=$!
sleep 1
start_sender --num $((2 * FLOWS + 1000))
wait "$SENDER" || true
SENDER=""
sleep 1
kill -TERM $TCPD 2>/dev/null || true
wait $TCPD 2>/dev/null || true
DISTINCT=$(tcpdump -r "$OUT/check.pcap" -n 2>/dev/null | awk '$2 == "IP" {print $3, $5}' | sort -u | wc -l)
CHECKED=$(tcpdump -r "$OUT/check.pcap" -n 2>/dev/null | wc -l)
rm -f "$OUT/check.pcap"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tools: wirewatch $(git -C "$ROOT" rev-parse --short HEAD), $(iftop -h 2>&1 | grep -m1 '^iftop, version'), $("$BANDWHICH" --version), trafgen $(trafgen -v | head -1 | awk '{print $2}'), tmux $(tmux -V | cut -d' ' -f2)"
echo "traffic: $FLOWS flows ($([ "$HOSTS" = 1 ] && echo "$FLOWS source hosts, one port" || echo "$FLOW_SRCS sources x $FLOW_PORTS source ports")), 60-byte UDP frames asked at $RATE pps (each flow every $(python3 -c "print(f'{$FLOWS/$RATE:.2f}')") s); check: $DISTINCT distinct 5-tuples in $CHECKED packets"
echo "run: ${WARM} s warm-up + ${SECS} s measured per tool, ${COLS}x${ROWS} tmux pane, monitor pinned to CPU 0 and sender to CPU 1: $([ "$PIN_CPU" = 1 ] && echo yes || echo no)"
echo

tool_cmd() { # tool -> command line (words)
    case $1 in
    wirewatch) echo "$WW -i $IF $WW_ARGS" ;;
    iftop) echo "iftop -i $IF $IFTOP_ARGS" ;;
    iftop-hosts) echo "iftop -i $IF -n -N" ;;
    bandwhich) echo "$BANDWHICH -i $IF $BANDWHICH_ARGS" ;;
    *) echo "bench-tui: unknown tool $1" >&2; exit 2 ;;
    esac
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk "/^$2:/ {print \$2}" "/proc/$1/status" 2>/dev/null || echo 0; }
host_busy() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
pane() { "${TM[@]}" capture-pane -p -t "$1" "${@:2}" 2>/dev/null || true; }
sk_drops() { # pid -> sum of the d<N> (sk_drops) of its packet sockets
    ip netns exec $NS_CAP ss -0 -m -p 2>/dev/null | python3 -c '
import re, sys
pid, total, mine = sys.argv[1], 0, False
for line in sys.stdin:
    if line.startswith("p_"):
        mine = ("pid=%s," % pid) in line
    if mine:
        m = re.search(r"skmem:\(.*\bd(\d+)\)", line)
        if m:
            total += int(m.group(1))
print(total)' "$1"
}
# What the tool itself counted: packets, kernel drops (cumulative since its
# start), read from its screen (pane plus scrollback). "-" where it shows none.
tool_counts() { # tool pane-file -> "packets drops"
    python3 - "$1" "$2" <<'PY'
import re, sys
tool, text = sys.argv[1], open(sys.argv[2], errors="replace").read()
if tool == "wirewatch":
    # the screen's status line: "pkts N | drops D" (packets decoded, kernel drops)
    m = re.findall(r"pkts (\d+) \| drops (\d+)", text)
    if m:
        print(f"{m[-1][0]} {m[-1][1]}")
    else:
        # text mode: "Kernel packets (received/dropped):  R  D" (received includes drops)
        m = re.findall(r"Kernel packets \(received/dropped\):\s+(\d+)\s+(\d+)", text)
        print(f"{int(m[-1][0]) - int(m[-1][1])} {m[-1][1]}" if m else "- -")
elif tool.startswith("iftop"):
    # cumulative received bytes, "RX:  1.47MB ..."; 46 IP bytes per packet
    m = re.findall(r"^RX:\s+([\d.]+)([KMG]?B)", text, re.M)
    units = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
    print(f"{int(float(m[-1][0]) * units[m[-1][1]] / 46)} -" if m else "- -")
else:
    print("- -")
PY
}
flows_shown() { # tool pane-file -> flows the tool reports holding, or "-"
    case $1 in
    bandwhich) # "Connections" of the process table (all of it is <UNKNOWN>)
        python3 -c '
import re, sys
n = [int(m.group(1)) for m in re.finditer(r"<UNKNOWN>\s+\d+\s+(\d+)", open(sys.argv[1]).read())]
print(sum(n) if n else "-")' "$2" ;;
    *) echo "-" ;;
    esac
}

declare -A R_RX R_CPU R_TMUX R_RSSMAX R_RSSEND R_HWM R_SKD R_TDROP R_SEEN R_PPS R_REDRAW R_ROWS R_FLOWS R_BUSY R_EXIT

run_tool() {
    local tool=$1 cmd i r
    cmd=$(tool_cmd "$tool")
    local pidf=$OUT/$tool.pid
    rm -f "$pidf" "$OUT/$tool.err"
    # sh writes its pid, then execs: ip netns exec and taskset exec too, so
    # the pid is the monitor's.
    cat > "$OUT/$tool.run" <<EOF
echo \$\$ > $pidf
exec ip netns exec $NS_CAP ${CAP_CPU[*]} $cmd 2>$OUT/$tool.err
EOF
    "${TM[@]}" new-session -d -s "$tool" -x "$COLS" -y "$ROWS" "sh $OUT/$tool.run"
    for i in $(seq 50); do [ -s "$pidf" ] && break; sleep 0.1; done
    MON=$(cat "$pidf")
    local tmuxpid
    tmuxpid=$("${TM[@]}" display -p -t "$tool" '#{pid}')
    sleep 1
    local rx_base rss_max=0 t_start
    rx_base=$(rx_packets)
    start_sender
    t_start=$(date +%s.%N)
    for i in $(seq "$WARM"); do
        sleep "$(python3 -c "import time; print(max(0, $t_start + $i - time.time()))")"
        r=$(rss_kb "$MON" VmRSS); [ "${r:-0}" -le "$rss_max" ] || rss_max=$r
    done
    # The measured window: CPU, RSS, screen changes.
    local c0 m0 rx0 b0 w0 redraws=0 prev cur
    c0=$(ticks "$MON"); m0=$(ticks "$tmuxpid"); rx0=$(rx_packets); b0=$(host_busy)
    w0=$(date +%s.%N)
    prev=$(pane "$tool" | md5sum)
    for i in $(seq "$SECS"); do
        sleep "$(python3 -c "import time; print(max(0, $w0 + $i - time.time()))")"
        r=$(rss_kb "$MON" VmRSS); [ "${r:-0}" -le "$rss_max" ] || rss_max=$r
        cur=$(pane "$tool" | md5sum)
        [ "$cur" = "$prev" ] || redraws=$((redraws + 1))
        prev=$cur
    done
    local c1 m1 rx1 b1 w1 rss_end hwm
    c1=$(ticks "$MON"); m1=$(ticks "$tmuxpid"); rx1=$(rx_packets); b1=$(host_busy)
    w1=$(date +%s.%N)
    rss_end=$(rss_kb "$MON" VmRSS); hwm=$(rss_kb "$MON" VmHWM)
    [ "${rss_end:-0}" -le "$rss_max" ] || rss_max=$rss_end
    pane "$tool" > "$OUT/$tool.screen"
    # Stop the traffic, give the tool SETTLE seconds to count the rest and
    # redraw, then read what it counted over its whole run.
    stop_sender
    sleep "$SETTLE"
    local rx_total drops
    rx_total=$(( $(rx_packets) - rx_base ))
    drops=$(sk_drops "$MON")
    pane "$tool" -S -5000 > "$OUT/$tool.final"
    local alive=1 how=died
    kill -0 "$MON" 2>/dev/null || alive=0
    # Quit as a user would: q, then Ctrl-C, then signals.
    if [ $alive = 1 ]; then
        how=q
        "${TM[@]}" send-keys -t "$tool" q 2>/dev/null || true
        for i in $(seq 50); do kill -0 "$MON" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$MON" 2>/dev/null; then
            how=C-c
            "${TM[@]}" send-keys -t "$tool" C-c 2>/dev/null || true
            for i in $(seq 50); do kill -0 "$MON" 2>/dev/null || break; sleep 0.1; done
        fi
        if kill -0 "$MON" 2>/dev/null; then
            how=TERM; kill -TERM "$MON" 2>/dev/null || true; sleep 2
        fi
        if kill -0 "$MON" 2>/dev/null; then
            how=KILL; kill -KILL "$MON" 2>/dev/null || true
        fi
    fi
    "${TM[@]}" kill-session -t "$tool" 2>/dev/null || true
    MON=""
    local secs counted tdrops
    secs=$(python3 -c "print($w1 - $w0)")
    read -r counted tdrops <<<"$(tool_counts "$tool" "$OUT/$tool.final")"
    if [ "$tool" = bandwhich ]; then
        # a plain (ring-less) packet socket: each packet is queued or counted in sk_drops
        counted=$((rx_total - drops))
    fi
    R_SEEN[$tool]=-
    [ "$counted" = - ] || R_SEEN[$tool]=$(python3 -c "print(f'{100 * $counted / $rx_total:.1f}')")
    R_CPU[$tool]=$(python3 -c "print(f'{100 * ($c1 - $c0) / $HZ / $secs:.1f}')")
    R_TMUX[$tool]=$(python3 -c "print(f'{100 * ($m1 - $m0) / $HZ / $secs:.1f}')")
    R_RSSMAX[$tool]=$(python3 -c "print(f'{$rss_max / 1024:.1f}')")
    R_RSSEND[$tool]=$(python3 -c "print(f'{${rss_end:-0} / 1024:.1f}')")
    R_HWM[$tool]=$(python3 -c "print(f'{${hwm:-0} / 1024:.1f}')")
    R_SKD[$tool]=$drops
    R_TDROP[$tool]=$tdrops
    R_RX[$tool]=$rx_total
    R_PPS[$tool]=$(python3 -c "print(f'{($rx1 - $rx0) / $secs:.0f}')")
    R_REDRAW[$tool]=$redraws
    R_ROWS[$tool]=$(grep -c '10\.99\.' "$OUT/$tool.screen" || true)
    R_FLOWS[$tool]=$(flows_shown "$tool" "$OUT/$tool.screen")
    read -r bb0 bt0 <<<"$b0"; read -r bb1 bt1 <<<"$b1"
    R_BUSY[$tool]=$(python3 -c "print(f'{100 * ($bb1 - $bb0) / ($bt1 - $bt0):.0f}')")
    R_EXIT[$tool]=$how
    echo "$tool: $cmd  (quit: $how)" >&2
    sleep 2
}

for tool in $TOOLS; do
    run_tool "$tool"
done

FMT="%-11s %6s %7s %7s %7s %6s %8s %8s %6s %9s %9s %9s %6s %6s %6s %5s\n"
printf "$FMT" tool cpu_% rss_max rss_end hwm tmux_% redraws rows flows arrived sk_drops tool_drops seen_% pps busy_% quit
for tool in $TOOLS; do
    printf "$FMT" "$tool" "${R_CPU[$tool]}" "${R_RSSMAX[$tool]}" "${R_RSSEND[$tool]}" "${R_HWM[$tool]}" \
        "${R_TMUX[$tool]}" "${R_REDRAW[$tool]}" "${R_ROWS[$tool]}" "${R_FLOWS[$tool]}" "${R_RX[$tool]}" \
        "${R_SKD[$tool]}" "${R_TDROP[$tool]}" "${R_SEEN[$tool]}" "${R_PPS[$tool]}" "${R_BUSY[$tool]}" "${R_EXIT[$tool]}"
done
cat <<EOF

Over the ${SECS} s window: cpu_% the monitor's user+system CPU (all threads; 100 = one
core); rss_max the largest VmRSS sampled once a second from its start to the end of the
window, rss_end VmRSS at the end of the window, hwm VmHWM then (MiB); tmux_% the tmux
server's CPU (rendering what the tool draws); redraws the seconds in which the pane changed;
rows the screen lines (at the end of the window) showing a flow's address; flows the
entries the tool says it holds (bandwhich: its connection count); pps packets/s arriving
on the capture veth; busy_% the whole machine's busy share (other load shows here).
Over the tool's whole run (warm-up + window, read ${SETTLE} s after the traffic stopped):
arrived the packets that reached the capture veth; sk_drops the kernel drops on the
tool's packet sockets (ss -0 -m: a plain socket's queue overflows count there, a
PACKET_RX_RING's do not); tool_drops the kernel drops the tool itself shows (wirewatch:
"drops" on its status line); seen_% the packets the tool counted / arrived (wirewatch:
"pkts" on its status line; iftop: RX cumulative bytes / 46 as last drawn, 3
significant digits; bandwhich: arrived - sk_drops). quit: how it was stopped (q, then C-c,
then TERM, then KILL).
EOF
ratio() { # a b -> a/b
    python3 -c "
a, b = '$1', '$2'
try: print(f'{float(a) / float(b):.2f}')
except (ValueError, ZeroDivisionError): print('-')"
}
for other in iftop bandwhich; do
    case " $TOOLS " in *" wirewatch "*) ;; *) continue ;; esac
    case " $TOOLS " in *" $other "*) ;; *) continue ;; esac
    echo "wirewatch/$other: cpu $(ratio "${R_CPU[wirewatch]}" "${R_CPU[$other]}"), rss_max $(ratio "${R_RSSMAX[wirewatch]}" "${R_RSSMAX[$other]}"), rss_end $(ratio "${R_RSSEND[wirewatch]}" "${R_RSSEND[$other]}"), hwm $(ratio "${R_HWM[wirewatch]}" "${R_HWM[$other]}")"
done
echo "wirewatch ran as: $(tool_cmd wirewatch)"
echo "final screens: $OUT/<tool>.screen"
