#!/usr/bin/env bash
# Time to block (issue 19): how long from the first packet of a port scan
# to the scanner's address being in nftables. A victim namespace
# (10.99.0.1) runs `wirewatch -i VETH --respond enforce` with a fresh
# history database; an attacker namespace (10.99.0.2) scans 300 of its
# ports with `nmap -sS -T5`; `tcpdump -c 1` in the victim's namespace
# timestamps the first SYN, and `nft -j list set inet wirewatch block_v4`
# is polled (every ~5 ms plus nft's own run time) until the attacker is in
# it. Repeated RUNS times (a fresh wirewatch and an empty table each time);
# prints each run's time, split at the alert (the time of the packet that
# fired it, from `respond log --json`) into detection and the responder's
# part, and their medians and maximums in milliseconds.
#
#   sudo RUNS=10 scripts/bench-respond.sh
#   sudo KIND=syn_flood RUNS=10 scripts/bench-respond.sh   # hping3 -S instead
#
# Needs root, ip, nft, nmap (or hping3), tcpdump. Environment: RUNS
# (default 10), KIND (vertical_scan or syn_flood; default vertical_scan),
# WIREWATCH=PATH (this binary; default: build and use
# target/release/wirewatch). Traffic stays inside the two namespaces, which
# are removed at the end.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
KIND=${KIND:-vertical_scan}
case "$KIND" in
    vertical_scan) ATTACK=(nmap -sS -Pn -n -T5 --max-retries 0 -p 1-300 10.99.0.1) ;;
    syn_flood) ATTACK=(hping3 -q -S -p 81 -i u200 10.99.0.1) ;;
    *) echo "bench-respond: KIND must be vertical_scan or syn_flood, not '$KIND'" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "bench-respond: needs root (namespaces, nftables)" >&2; exit 2; }
for t in ip nft tcpdump "${ATTACK[0]}"; do
    command -v "$t" > /dev/null || { echo "bench-respond: '$t' is not installed" >&2; exit 2; }
done
if [ -z "${WIREWATCH:-}" ]; then
    cargo build --release -q -p wirewatch
    WIREWATCH=target/release/wirewatch
fi
WIREWATCH=$(realpath "$WIREWATCH")

# The victim ($V, `wwcap`, given 10.99.0.1) and the attacker ($X,
# `wwsend`, 10.99.0.2): scripts/veth-pair.sh, removed at exit.
NS_CAP=wwrv$$ NS_SEND=wwrx$$
V=$NS_CAP X=$NS_SEND
# shellcheck source=scripts/veth-pair.sh
. scripts/veth-pair.sh
ip -n "$V" addr add 10.99.0.1/24 dev wwcap
WORK=$(mktemp -d)
WW_PID=
finish() {
    [ -n "$WW_PID" ] && kill "$WW_PID" 2>/dev/null && wait "$WW_PID" 2>/dev/null || true
    rm -rf "$WORK"
    cleanup
}
trap finish EXIT

# Waits (up to 30 s) until FILE holds TEXT.
wait_for() {
    for _ in $(seq 3000); do grep -q "$2" "$1" 2> /dev/null && return 0; sleep 0.01; done
    echo "bench-respond: timed out waiting for '$2' in $1" >&2
    cat "$1" >&2
    return 1
}

# One run: appends the milliseconds from the first SYN to the block to
# $WORK/all (not in a subshell, so the cleanup knows wirewatch's pid).
one() {
    local run=$WORK/run$1
    mkdir "$run"
    ip netns exec "$V" nft delete table inet wirewatch 2> /dev/null || true
    ip netns exec "$V" "$WIREWATCH" -i wwcap --respond enforce --db "$run/h.db" \
        -t -n --interval 60 > /dev/null 2> "$run/err" &
    WW_PID=$!
    wait_for "$run/err" "dropped privileges"
    ip netns exec "$V" tcpdump -i wwcap -n -tt -l -c 1 \
        'src host 10.99.0.2 and tcp[tcpflags] & tcp-syn != 0' > "$run/first" 2> "$run/tcpdump" &
    local dump=$!
    wait_for "$run/tcpdump" "listening on"
    ip netns exec "$X" timeout 30 "${ATTACK[@]}" > /dev/null 2>&1 &
    local attack=$!
    local blocked=
    for _ in $(seq 3000); do
        if ip netns exec "$V" nft -j list set inet wirewatch block_v4 2> /dev/null | grep -q '"10.99.0.2"'; then
            blocked=$(date +%s.%N)
            break
        fi
        sleep 0.005
    done
    kill "$attack" 2> /dev/null || true
    wait "$attack" 2> /dev/null || true
    wait "$dump" || true
    kill "$WW_PID" && wait "$WW_PID" 2> /dev/null || true
    WW_PID=
    [ -n "$blocked" ] || { echo "bench-respond: run $1 was never blocked" >&2; cat "$run/err" >&2; exit 1; }
    # The alert's time is the packet that fired it: before it, detection;
    # after it, the responder and nft.
    local alert
    alert=$("$WIREWATCH" --db "$run/h.db" respond log --json | grep -o '"time":"[^"]*"' | head -1 | cut -d'"' -f4)
    awk -v b="$blocked" -v a="$(date -d "$alert" +%s.%N)" '{
        printf "%.0f %.0f %.0f\n", (b - $1) * 1000, (a - $1) * 1000, (b - a) * 1000; exit }' \
        "$run/first" >> "$WORK/all"
    tail -1 "$WORK/all" | awk -v i="$1" '{printf "run %d: %d ms (the alert after %d ms, then %d ms to the block)\n", i, $1, $2, $3}'
}

echo "time to block ($KIND), ms from the first attack packet; $RUNS runs of $WIREWATCH"
for i in $(seq "$RUNS"); do one "$i"; done
# Median and maximum of column $1 of $WORK/all.
stats() {
    cut -d' ' -f"$1" "$WORK/all" | sort -g | awk '{v[NR]=$1} END {
        m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
        printf "median %.0f ms, max %.0f ms", m, v[NR] }'
}
echo "time to block: $(stats 1) ($RUNS runs); to the alert: $(stats 2); alert to block: $(stats 3)"
