#!/usr/bin/env bash
# Seeds the (gitignored) fuzz corpora from the third-party capture corpus.
#
#   scripts/fuzz-seed.sh [CORPUS_DIR]      (default: ../shared/corpus, else /work/shared/corpus)
#
# read_capture: every capture smaller than 64 KiB is copied as is; gzip ones are
#               decompressed first (the target feeds bytes straight to
#               CaptureReader, which does not gunzip) and kept if still < 64 KiB.
# decode:       up to 16 distinct frames per capture, each prefixed with the
#               target's two link-type selector bytes (fuzz/examples/seed_decode.rs).
#
# The corpus files are test inputs only and must never be committed: both
# fuzz/corpus/* directories are ignored by git.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="${1:-}"
if [[ -z "$src" ]]; then
    for c in "$root/../shared/corpus" /work/shared/corpus; do
        if [[ -d "$c" ]]; then src="$c"; break; fi
    done
fi
if [[ -z "$src" || ! -d "$src" ]]; then
    echo "fuzz-seed: no capture corpus found (pass its directory); fuzzing starts from empty corpora" >&2
    mkdir -p "$root/fuzz/corpus/read_capture" "$root/fuzz/corpus/decode" "$root/fuzz/corpus/filter"
    exit 0
fi
max=65536
rc="$root/fuzz/corpus/read_capture"
dc="$root/fuzz/corpus/decode"
mkdir -p "$rc" "$dc"

list="$(mktemp)"
trap 'rm -f "$list"' EXIT
# Capture files only (not the manifest, README or *.oracle.tsv files).
find "$src" -type f ! -name '*.tsv' ! -name '*.md' -print0 | sort -z >"$list"

copied=0
while IFS= read -r -d '' f; do
    rel="${f#"$src"/}"
    name="${rel//\//__}"
    if [[ "$(head -c2 "$f" | od -An -tx1 | tr -d ' \n')" == "1f8b" ]]; then
        name="${name%.gz}"
        [[ -e "$rc/$name" ]] && continue
        # Decompress at most max+1 bytes; keep only if it fits.
        if gzip -dc "$f" 2>/dev/null | head -c $((max + 1)) >"$rc/$name.tmp" || true; then
            if (($(stat -c %s "$rc/$name.tmp") < max)); then
                mv "$rc/$name.tmp" "$rc/$name"; copied=$((copied + 1))
            else
                rm -f "$rc/$name.tmp"
            fi
        fi
    elif (($(stat -c %s "$f") < max)); then
        [[ -e "$rc/$name" ]] && continue
        cp "$f" "$rc/$name"; copied=$((copied + 1))
    fi
done <"$list"
echo "fuzz-seed: read_capture: $copied new files, $(find "$rc" -type f | wc -l) in $rc"

# All captures (any size) feed the decode seeds: only a few frames of each are kept.
(cd "$root/fuzz" && xargs -0 cargo run --quiet --release --example seed_decode -- "$dc" <"$list")
echo "fuzz-seed: decode: $(find "$dc" -type f | wc -l) in $dc"

# filter: every distinct expression of filters.tsv, for Ethernet (selector 0),
# then a NUL and no frame.
fc="$root/fuzz/corpus/filter"
mkdir -p "$fc"
if [[ -f "$src/filters.tsv" ]]; then
    n=0
    while IFS= read -r expr; do
        n=$((n + 1))
        printf '\x00%s\x00' "$expr" >"$fc/tsv-$n"
    done < <(tail -n +2 "$src/filters.tsv" | cut -f2 | sort -u)
fi
echo "fuzz-seed: filter: $(find "$fc" -type f | wc -l) in $fc"

# config: a full iftoprc and a full TOML file written here (every directive),
# plus this machine's ~/.iftoprc if there is one.
cc="$root/fuzz/corpus/config"
mkdir -p "$cc"
printf '%s\n' '# iftop' 'interface: eth0' 'dns-resolution: yes' 'port-resolution: no' \
    'filter-code: tcp port 443' 'show-bars: true' 'promiscuous: off' 'port-display: source-only' \
    'hide-source: no' 'hide-destination: no' 'use-bytes: yes' 'sort: 40s' \
    'line-display: one-line-both' 'show-totals: yes' 'log-scale: no' 'max-bandwidth: 10M' \
    'net-filter: 10.0.0.0/255.0.0.0' 'net-filter6: fd00::/8' 'link-local: yes' 'screen-filter: web' \
    >"$cc/iftoprc"
printf '%s\n' 'interface = "eth0"' 'dns-resolution = false' 'port-display = "on"' 'sort = "2s"' \
    'max-bandwidth = "1G"' 'net-filter = "192.168.0.0/16"' 'processes = false' '[tui]' 'refresh-ms = 500' \
    '[history]' 'db = "/var/lib/ww.db"' 'flush = "10s"' 'keep-minutes = "7d"' 'keep-hours = "90d"' \
    'keep-days = "forever"' >"$cc/config.toml"
# A [respond] policy with rules of every action (the same target reads it).
printf '%s\n' '[respond]' 'mode = "enforce"' 'allow = ["10.0.0.0/8", "2001:db8::/32"]' 'ssh-ports = [22, 2222]' \
    'max-blocks = 100' '[[respond.rule]]' 'kinds = ["brute_force"]' 'severity = "low"' 'action = "block-source"' \
    'duration = "6h"' '[[respond.rule]]' 'action = "exec"' 'program = "tee"' 'args = ["/tmp/a"]' \
    '[[respond.rule]]' 'action = "webhook"' 'url = "https://h.example/x"' 'headers = { Authorization = "Bearer t" }' \
    >"$cc/respond.toml"
# History query times (the same target reads them).
for t in 24h 1h30m 2w now 2026-11-23T14:00:00Z 2026-11-23T15:00:00.25+01:00 2026-02-29; do
    printf '%s' "$t" >"$cc/time-$t"
done
[[ -f "$HOME/.iftoprc" ]] && cp "$HOME/.iftoprc" "$cc/home-iftoprc"
echo "fuzz-seed: config: $(find "$cc" -type f | wc -l) in $cc"

# procs: this machine's socket tables and passwd (text; the netlink replies
# start from the empty input).
pc="$root/fuzz/corpus/procs"
mkdir -p "$pc"
for f in tcp tcp6 udp udp6; do head -c 16384 "/proc/net/$f" >"$pc/$f" 2>/dev/null || true; done
head -c 16384 /etc/passwd >"$pc/passwd" 2>/dev/null || true
printf 'socket:[12345]' >"$pc/fd-link"
echo "fuzz-seed: procs: $(find "$pc" -type f | wc -l) in $pc"

# dns: a few DNS messages built here (a query, a TXT query with a long
# random-looking label, an answer with a compression pointer).
nc="$root/fuzz/corpus/dns"
mkdir -p "$nc"
python3 - "$nc" <<'PY'
import struct, sys, os
d = sys.argv[1]
def name(*labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"
def msg(flags, qname, qtype, answers=b"", an=0):
    return struct.pack(">HHHHHH", 0x1234, flags, 1, an, 0, 0) + qname + struct.pack(">HH", qtype, 1) + answers
seeds = {
    "query-a": msg(0x0100, name(b"www", b"example", b"com"), 1),
    "query-txt-long": msg(0x0100, name(b"a7f3k9q2m5x8z1c4v6b0n7h2j5g8d3s1" * 1, b"tun", b"example", b"com"), 16),
    "answer-ptr": msg(0x8180, name(b"www", b"example", b"com"), 1,
                      b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1]), 1),
}
for k, v in seeds.items():
    open(os.path.join(d, k), "wb").write(v)
PY
echo "fuzz-seed: dns: $(find "$nc" -type f | wc -l) in $nc"

# series_csv: small series CSVs written here: hourly times with a quoted
# header, a gap and an empty cell; plain numbers; a bad cell.
sc="$root/fuzz/corpus/series_csv"
mkdir -p "$sc"
{
    echo 'Time,"traffic, bits",'
    for d in 01 02 03; do for h in 00 04 08 12 16 20; do
        [ "$d$h" = "0212" ] && continue
        echo "2005-01-$d $h:00:00,$((1000 + 10#$h * 50)),"
    done; done
    echo "2005-01-04 00:00:00,,"
} >"$sc/hourly"
printf 'n,v\n1,5\n2,7\n3,6\n4,9\n5,5\n6,7\n7,6\n8,9\n' >"$sc/plain"
printf 't,v\n1,2\n2,abc\n' >"$sc/bad-cell"
echo "fuzz-seed: series_csv: $(find "$sc" -type f | wc -l) in $sc"

# respond: this machine's routing tables and resolv.conf, an nft listing of
# a table with blocks of every kind, block targets and webhook URLs.
rc="$root/fuzz/corpus/respond"
mkdir -p "$rc"
head -c 16384 /proc/net/route >"$rc/route" 2>/dev/null || true
head -c 16384 /proc/net/ipv6_route >"$rc/ipv6_route" 2>/dev/null || true
head -c 16384 /etc/resolv.conf >"$rc/resolv.conf" 2>/dev/null || true
cat >"$rc/listing.json" <<'JSON'
{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}, {"set": {"family": "inet", "name": "block_v4", "table": "wirewatch", "type": "ipv4_addr", "handle": 3, "flags": ["interval", "timeout"], "elem": [{"elem": {"val": "198.51.100.7", "timeout": 3600, "expires": 3599}}, {"elem": {"val": {"prefix": {"addr": "10.9.0.0", "len": 24}}, "timeout": 60, "expires": 30}}]}}, {"set": {"family": "inet", "name": "dstport_v4", "table": "wirewatch", "type": ["ipv4_addr", "inet_service"], "handle": 7, "flags": ["timeout"], "elem": [{"elem": {"val": {"concat": ["192.0.2.9", 443]}, "timeout": 3600, "expires": 3500}}]}}]}
JSON
printf 'from 198.51.100.7\nfrom 10.1.0.0/16\nto 192.0.2.9:443\nto [2001:db8::9]:53\nhttps://hooks.example.org:8443/x?t=1\nhttp://[::1]/hook\n' >"$rc/targets-and-urls"
echo "fuzz-seed: respond: $(find "$rc" -type f | wc -l) in $rc"
