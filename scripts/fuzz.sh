#!/usr/bin/env bash
# Seeds the fuzz corpora, then fuzzes each target in turn for SECONDS (default 660).
#
#   scripts/fuzz.sh [SECONDS]
#   TARGETS=filter scripts/fuzz.sh 600     (only some targets)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain the
# nightly-only sanitizer flags are allowed by RUSTC_BOOTSTRAP=1. One libFuzzer
# job per target, run one after the other. Crashes land in
# fuzz/artifacts/<target>/ (gitignored); a minimized copy worth keeping goes to
# fuzz/regressions/<target>-<n>.bin (committed). Logs: fuzz/artifacts/<target>.log.
# Not part of CI (.ci/run); see docs/FUZZING.md.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-660}"
cd "$root"
bash scripts/fuzz-seed.sh || exit 1
export RUSTC_BOOTSTRAP=1
status=0
mkdir -p fuzz/artifacts
for target in ${TARGETS:-read_capture decode filter config procs dns series_csv respond}; do
    log="fuzz/artifacts/$target.log"
    echo "== $target: ${secs}s, log $log"
    if ! cargo fuzz run "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
        echo "!! $target stopped on a finding: see $log and fuzz/artifacts/$target/" >&2
        status=1
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units' "$log" || tail -n 5 "$log"
done
exit "$status"
