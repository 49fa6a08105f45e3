#!/usr/bin/env python3
"""Times statsforecast (the reference library of ../shared/series/README.md)
on the same series as the wirewatch-forecast bench: the last 30 days of the
UK 5-minute ISP series (8,640 points), seasons 288 and 2016, 288 points
ahead with 80/95 % intervals. Prints min and median seconds of the fit +
forecast of each model, after one warm-up call (numba compiles on the first).

    python3 scripts/forecast-reference.py CSV [REPS]
"""
import sys, time
import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import MSTL, AutoETS, HoltWinters, SeasonalNaive

path = sys.argv[1]
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
y = pd.read_csv(path, usecols=[0, 1]).iloc[:, 1].astype(float).to_numpy()[-30 * 288:]
df = pd.DataFrame({"unique_id": "uk", "ds": np.arange(len(y)), "y": y})
models = {
    "MSTL(288,2016)+AutoETS": lambda: MSTL(season_length=[288, 2016], trend_forecaster=AutoETS(model="ZZN")),
    "HoltWinters(288, additive)": lambda: HoltWinters(season_length=288, error_type="A"),
    "SeasonalNaive(288)": lambda: SeasonalNaive(season_length=288),
}
print(f"statsforecast: {len(y)} points, horizon 288, levels 80/95, {reps} repetitions")
for name, make in models.items():
    def run():
        sf = StatsForecast(models=[make()], freq=1, n_jobs=1)
        return sf.forecast(df=df, h=288, level=[80, 95])
    run()  # warm-up: numba compiles
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"  {name:<28} min {times[0]:.3f} s  median {times[len(times)//2]:.3f} s")
