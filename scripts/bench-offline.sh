#!/usr/bin/env bash
# Offline throughput benchmark: wirewatch against peer tools on one capture.
#
#   scripts/bench-offline.sh FILE
#
# Runs, one after the other on the same FILE (page cache warmed first):
#   wirewatch  -r FILE --format csv --no-detect > /dev/null    (target/release/wirewatch)
#   capinfos   -c FILE                              (floor: just reads the records)
#   nfpcapd    -r FILE -w TMPDIR                    (nfdump's pcap-to-flow converter)
#   softflowd  -r FILE -d -m N -c none ...          (NetFlow probe; no -n: exports nowhere)
#   tshark     -q -z conv,ip -r FILE                (Wireshark's IP conversation table)
# and prints, for each, wall time, CPU time, packets/s, peak RSS and the
# ratios against wirewatch. The packet count of FILE comes from one
# `capinfos -c` run. Peers that are not installed are skipped with a reason.
#
# Environment:
#   RUNS=N                 runs per tool; the fastest wall time is kept (default 1)
#   PIN_CPU=N              pin every tool to CPU N with taskset (default: not pinned)
#   SOFTFLOWD_MAX_FLOWS=N  softflowd -m (default 2000000, so that like wirewatch it
#                          keeps every flow instead of force-expiring at 8192)
#   TOOL_TIMEOUT=S         kill a tool run after S seconds (default 3600)
#   SKIP_BUILD=1           do not run `cargo build --release -p wirewatch`
#   WIREWATCH=PATH         benchmark this binary instead (implies SKIP_BUILD)
#   KEEP_TMP=1             keep the temporary directory (tool outputs and logs)
#
# Nothing is sent over the network: softflowd runs without an export target
# (-n) and nfpcapd writes nfcapd files into a temporary directory.
set -euo pipefail
export LC_ALL=C

install_hint="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y tshark nfdump softflowd time"

if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
    sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
fi
file=$1
if [[ ! -r $file || -d $file ]]; then
    echo "bench-offline: cannot read capture $file" >&2
    exit 1
fi
file=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${RUNS:-1}
softflowd_max_flows=${SOFTFLOWD_MAX_FLOWS:-2000000}
tool_timeout=${TOOL_TIMEOUT:-3600}

if [[ ! -x /usr/bin/time ]] || ! /usr/bin/time --version 2>&1 | grep -q GNU; then
    echo "bench-offline: GNU time (/usr/bin/time) is required: apt-get install -y time" >&2
    exit 1
fi

pin=()
if [[ -n ${PIN_CPU:-} ]]; then
    if command -v taskset >/dev/null; then
        pin=(taskset -c "$PIN_CPU")
    else
        echo "bench-offline: taskset not found (util-linux); running unpinned" >&2
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-offline.XXXXXX")
if [[ -z ${KEEP_TMP:-} ]]; then
    trap 'rm -rf "$tmp"' EXIT
else
    echo "bench-offline: keeping $tmp"
fi

# Results, indexed by tool name.
declare -A status wall cpu rss note
tools=(wirewatch capinfos nfpcapd softflowd tshark)

# timeit NAME OUTFILE CMD...: runs CMD RUNS times (stdout to OUTFILE, stderr to
# $tmp/NAME.err), keeps the fastest wall time and the largest peak RSS.
timeit() {
    local name=$1 outfile=$2
    shift 2
    local i best_wall="" best_cpu="" max_rss=0 e u s m
    for ((i = 1; i <= runs; i++)); do
        if [[ $name == nfpcapd ]]; then rm -rf "$tmp/nfcapd" && mkdir -p "$tmp/nfcapd"; fi
        local rc=0 t0=$EPOCHREALTIME
        timeout "$tool_timeout" "${pin[@]}" /usr/bin/time -f '%e %U %S %M' -o "$tmp/$name.time" \
            "$@" >"$outfile" 2>"$tmp/$name.err" || rc=$?
        if ((rc == 124)); then
            status[$name]="TIMEOUT"
            note[$name]="killed after ${tool_timeout}s (TOOL_TIMEOUT)"
            return 1
        elif ((rc != 0)); then
            status[$name]="FAILED"
            note[$name]="exit status $rc; stderr: $(tail -n 3 "$tmp/$name.err" | tr '\n' ' ')"
            return 1
        fi
        read -r e u s m < <(tail -n 1 "$tmp/$name.time")
        # %e has 10 ms resolution; the shell's clock is finer (and includes
        # the few ms of timeout/time start-up).
        e=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
        if [[ -z $best_wall ]] || awk -v a="$e" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
            best_wall=$e
            best_cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
        fi
        if ((m > max_rss)); then max_rss=$m; fi
    done
    status[$name]="ok"
    wall[$name]=$best_wall
    cpu[$name]=$best_cpu
    rss[$name]=$max_rss
}

skip() {
    status[$1]="skipped"
    note[$1]=$2
    echo "skip $1: $2"
}

echo "capture: $file ($(stat -c %s "$file") bytes)"
echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(free -g | awk '/^Mem:/ { print $2 " GiB RAM" }')"
echo "runs per tool: $runs (fastest kept)${PIN_CPU:+, pinned to CPU $PIN_CPU}"

# Packet count (and a warm page cache for everyone).
packets=""
if command -v capinfos >/dev/null; then
    packets=$(capinfos -c -M "$file" 2>/dev/null | awk -F': *' '/^Number of packets/ { gsub(/[^0-9]/, "", $2); print $2 }')
fi
if [[ -z $packets ]]; then
    echo "packets: unknown (capinfos missing or failed: $install_hint); packets/s will be n/a"
    cat "$file" >/dev/null
else
    echo "packets: $packets"
fi
echo

# --- wirewatch -------------------------------------------------------------
ww=${WIREWATCH:-$root/target/release/wirewatch}
build_ok=1
if [[ -z ${SKIP_BUILD:-} && -z ${WIREWATCH:-} ]]; then
    echo "building: cargo build --release -p wirewatch"
    if ! (cd "$root" && cargo build --release -p wirewatch) >"$tmp/build.log" 2>&1; then
        build_ok=0
        status[wirewatch]="FAILED"
        note[wirewatch]="cargo build --release -p wirewatch failed: $(grep -m 1 '^error' "$tmp/build.log" || tail -n 1 "$tmp/build.log")"
    fi
fi
if ((build_ok)) && [[ ! -x $ww ]]; then
    build_ok=0
    status[wirewatch]="FAILED"
    note[wirewatch]="$ww not found"
fi
if ((build_ok)); then
    # A build that does not implement `-r FILE --format csv` yet may exit 0 and
    # print nothing; timing it would be meaningless. Probe on the first 4 MiB
    # (the last record may be cut off: only "prints CSV" is checked here).
    head -c 4194304 "$file" >"$tmp/probe.cap"
    "$ww" -r "$tmp/probe.cap" --format csv >"$tmp/probe.csv" 2>"$tmp/probe.err" || true
    if [[ ! -s $tmp/probe.csv ]]; then
        status[wirewatch]="FAILED"
        note[wirewatch]="\`wirewatch -r FILE --format csv\` printed no CSV on the first 4 MiB of FILE (does this build implement -r/--format csv?); stderr: $(head -c 300 "$tmp/probe.err" | tr '\n' ' ')"
    else
        echo "running: wirewatch -r FILE --format csv --no-detect > /dev/null"
        timeit wirewatch /dev/null "$ww" -r "$file" --format csv --no-detect || true
    fi
fi

# --- capinfos --------------------------------------------------------------
if command -v capinfos >/dev/null; then
    echo "running: capinfos -c FILE"
    timeit capinfos "$tmp/capinfos.out" capinfos -c "$file" || true
else
    skip capinfos "not installed (comes with wireshark-common: $install_hint)"
fi

# --- nfpcapd ---------------------------------------------------------------
if command -v nfpcapd >/dev/null; then
    echo "running: nfpcapd -r FILE -w TMPDIR"
    if timeit nfpcapd "$tmp/nfpcapd.out" nfpcapd -r "$file" -w "$tmp/nfcapd"; then
        note[nfpcapd]="$(grep -h -m 1 'Total:' "$tmp/nfpcapd.out" "$tmp/nfpcapd.err" 2>/dev/null | sed 's/^.*Total: *//' || true)"
    fi
else
    skip nfpcapd "not installed (package nfdump: $install_hint)"
fi

# --- softflowd -------------------------------------------------------------
if command -v softflowd >/dev/null; then
    # -c none: softflowd 1.1.0 in -r mode tests poll() results it never
    # computed and can block forever in accept() on its control socket.
    echo "running: softflowd -r FILE -d -m $softflowd_max_flows -c none -p TMP/pid (no -n: exports nowhere)"
    if timeit softflowd "$tmp/softflowd.out" softflowd -r "$file" -d -m "$softflowd_max_flows" \
        -c none -p "$tmp/softflowd.pid"; then
        note[softflowd]="$(grep -h -m 1 'Flows expired' "$tmp/softflowd.out" "$tmp/softflowd.err" 2>/dev/null || true)"
    fi
else
    skip softflowd "not installed (package softflowd: $install_hint)"
fi

# --- tshark ----------------------------------------------------------------
if command -v tshark >/dev/null; then
    echo "running: tshark -q -z conv,ip -r FILE"
    timeit tshark "$tmp/tshark.out" tshark -q -z conv,ip -r "$file" || true
    if [[ ${status[tshark]} == ok ]]; then
        note[tshark]="$(grep -c '<->' "$tmp/tshark.out" || true) IP conversations"
    fi
else
    skip tshark "not installed ($install_hint)"
fi

# --- table -----------------------------------------------------------------
pps() { # wall -> packets/s
    if [[ -n $packets && -n $1 ]]; then awk -v p="$packets" -v w="$1" 'BEGIN { if (w > 0) printf "%.0f", p / w; else print "inf" }'; else echo "n/a"; fi
}
ratio() { # a b -> a/b
    if [[ -n $1 && -n $2 && $1 != n/a && $2 != n/a && $1 != inf && $2 != inf ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
    else echo "n/a"; fi
}
ww_ok=0 ww_pps=n/a
if [[ ${status[wirewatch]:-} == ok ]]; then
    ww_ok=1
    ww_pps=$(pps "${wall[wirewatch]}")
fi

echo
printf '%-10s %-8s %9s %9s %12s %10s %12s %12s %12s\n' tool status wall_s cpu_s pkts/s rss_MiB "ww/peer pps" "ww/peer wall" "ww/peer rss"
for t in "${tools[@]}"; do
    st=${status[$t]:-skipped}
    if [[ $st == ok ]]; then
        p=$(pps "${wall[$t]}")
        mib=$(awk -v k="${rss[$t]}" 'BEGIN { printf "%.1f", k / 1024 }')
        if ((ww_ok)); then
            rp=$(ratio "$ww_pps" "$p")
            rw=$(ratio "${wall[wirewatch]}" "${wall[$t]}")
            rr=$(ratio "${rss[wirewatch]}" "${rss[$t]}")
        else
            rp=n/a rw=n/a rr=n/a
        fi
        printf '%-10s %-8s %9s %9s %12s %10s %12s %12s %12s\n' "$t" ok "${wall[$t]}" "${cpu[$t]}" "$p" "$mib" "$rp" "$rw" "$rr"
    else
        printf '%-10s %-8s %9s %9s %12s %10s %12s %12s %12s\n' "$t" "$st" - - - - - - -
    fi
done
echo
if ((ww_ok)); then
    for t in "${tools[@]:1}"; do
        if [[ ${status[$t]:-} == ok ]]; then
            echo "packets/s ratio wirewatch/$t: $(ratio "$ww_pps" "$(pps "${wall[$t]}")")"
        fi
    done
    if [[ ${status[capinfos]:-} == ok ]]; then
        echo "wall ratio wirewatch/capinfos: $(ratio "${wall[wirewatch]}" "${wall[capinfos]}")"
    fi
    if [[ ${status[softflowd]:-} == ok ]]; then
        echo "RSS ratio wirewatch/softflowd: $(ratio "${rss[wirewatch]}" "${rss[softflowd]}")"
    fi
else
    echo "wirewatch: ${status[wirewatch]:-not run}: ratios not available"
fi
for t in "${tools[@]}"; do
    if [[ -n ${note[$t]:-} ]]; then echo "note $t: ${note[$t]}"; fi
done
# Exit 3 when wirewatch itself could not be measured (the peers' figures above still stand).
if ((ww_ok)); then exit 0; else exit 3; fi
