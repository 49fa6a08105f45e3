#!/usr/bin/env bash
# Forecast speed: wirewatch-forecast's bench (30 days at 5 minutes, the
# automatic choice and each model), and, when a Python with statsforecast
# is given (PYTHON=/path/to/python, e.g. a venv where
# `pip install statsforecast==2.1.1` ran), the reference library on the same
# real series in the same run. Results: docs/BENCHMARKS.md.
#
#   scripts/bench-forecast.sh            FORECAST_BENCH_REPS=5 by default
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export FORECAST_BENCH_REPS="${FORECAST_BENCH_REPS:-5}"
cargo bench -q -p wirewatch-forecast --bench forecast 2>/dev/null
csv="$root/../shared/series/internet-traffic-data-in-bits-fr_UK_5m.csv"
py="${PYTHON:-python3}"
echo
if [ -f "$csv" ] && "$py" -c 'import statsforecast' 2>/dev/null; then
    "$py" scripts/forecast-reference.py "$csv" "$FORECAST_BENCH_REPS"
else
    echo "statsforecast: skipped (needs ../shared/series and PYTHON with statsforecast)"
fi
