#!/usr/bin/env bash
# tshark's TCP analysis of every capture in the shared corpus, per TCP stream:
# the oracle `crates/flow/tests/tcp_oracle.rs` compares TcpAnalysis with.
#
#   scripts/tcp-oracle.sh [CORPUS_DIR] > crates/flow/tests/data/tcp-oracle.tsv
#
# CORPUS_DIR defaults to $WIREWATCH_CORPUS or ../shared/corpus beside the
# checkout. Needs tshark (Debian package `tshark`). Output, tab-separated:
#
#   capture stream src sport dst dport packets retransmission
#   fast_retransmission out_of_order duplicate_ack zero_window initial_rtt
#
# one row per tcp.stream where tshark flagged anything or measured an initial
# RTT (seconds, empty when the handshake was not seen); src/sport is the
# stream's first packet's sender. Then one row per capture with stream `quiet`
# and in `packets` the number of its other TCP streams (nothing flagged, no
# handshake seen). Captures without TCP have no row.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
dir=${1:-${WIREWATCH_CORPUS:-../shared/corpus}}
[ -d "$dir" ] || { echo "tcp-oracle: $dir is not a directory" >&2; exit 2; }
command -v tshark > /dev/null || { echo "tcp-oracle: tshark is required (apt-get install tshark)" >&2; exit 2; }
printf '# %s\n' "$(tshark --version 2>/dev/null | head -1)"
printf 'capture\tstream\tsrc\tsport\tdst\tdport\tpackets\tretransmission\tfast_retransmission\tout_of_order\tduplicate_ack\tzero_window\tinitial_rtt\n'
find "$dir" -type f ! -name '*.tsv' ! -name '*.md' | sort | while read -r f; do
    rel=${f#"$dir"/}
    # One line per TCP packet; the innermost IP header's addresses (tunnels).
    tshark -n -r "$f" -Y tcp -T fields -E separator=/t -E occurrence=l \
        -e tcp.stream -e frame.protocols -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst \
        -e tcp.srcport -e tcp.dstport \
        -e tcp.analysis.retransmission -e tcp.analysis.fast_retransmission \
        -e tcp.analysis.out_of_order -e tcp.analysis.duplicate_ack \
        -e tcp.analysis.zero_window -e tcp.analysis.initial_rtt < /dev/null 2>/dev/null |
    awk -F '\t' -v cap="$rel" '
        $1 == "" { next }
        {
            s = $1
            if (!(s in pk)) {
                order[n++] = s
                p = ":" $2 ":"
                v6 = match(p, /:ipv6:.*$/) && !match(substr(p, RSTART + 5), /:ip:/)
                if (v6) { src[s] = $5; dst[s] = $6 } else { src[s] = $3; dst[s] = $4 }
                sp[s] = $7; dp[s] = $8
            }
            pk[s]++
            for (i = 9; i <= 13; i++) if ($i != "") c[s, i]++
            if ($14 != "" && !(s in rtt)) rtt[s] = $14
        }
        END {
            quiet = 0
            for (k = 0; k < n; k++) {
                s = order[k]; any = (s in rtt)
                for (i = 9; i <= 13; i++) if (c[s, i]) any = 1
                if (!any) { quiet++; continue }
                printf "%s\t%s\t%s\t%s\t%s\t%s\t%d", cap, s, src[s], sp[s], dst[s], dp[s], pk[s]
                for (i = 9; i <= 13; i++) printf "\t%d", c[s, i]
                printf "\t%s\n", rtt[s]
            }
            if (n) printf "%s\tquiet\t\t\t\t\t%d\t0\t0\t0\t0\t0\t\n", cap, quiet
        }' || true # tshark fails on some broken captures after printing what it could read
done
