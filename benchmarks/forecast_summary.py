"""Time the model-independent forecast stages on a default-meso-sized forecast.

Synthetic draws (draw, frame, field, y, x) of the default meso scale (36 frames,
128 x 192 cells, fields T, P, mu) are summarised (probtok.forecast), written
and read back, scored (probtok.calibration) and plotted (probtok.plots).
Prints the wall time of each stage and the file size.

    python benchmarks/forecast_summary.py --draws 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from probtok.calibration import calibration_table
from probtok.forecast import read_forecast, summarize_forecast, write_forecast
from probtok.plots import write_forecast_plots


def synthetic(n_draw: int, n_frame: int, H: int, W: int, dx: float, dt: float, seed: int = 0):
    """float32 draws and truth: a shock front and a hot disc of random growth per draw."""
    rng = np.random.default_rng(seed)
    Y, X = np.meshgrid((np.arange(H) + 0.5) * dx, (np.arange(W) + 0.5) * dx, indexing="ij")
    r2 = (X - W * dx / 2) ** 2 + (Y - H * dx / 2) ** 2
    out = np.empty((n_draw + 1, n_frame, 3, H, W), np.float32)
    for d in range(n_draw + 1):
        rate = rng.uniform(0.5, 1.5)
        for k in range(n_frame):
            shocked = X < 5.0 * k * dt * 4
            rad = max(rate * k * dt * 2, 1e-3)
            out[d, k, 0] = np.where(shocked, 700.0, 300.0) + 1500 * np.exp(-r2 / (2 * rad**2))
            out[d, k, 1] = np.where(shocked, 10.0, 0.0)
            out[d, k, 2] = 1.0
    return out[:-1], out[-1], dt * np.arange(n_frame)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--frames", type=int, default=36)
    ap.add_argument("--grid", type=int, nargs=2, default=(128, 192))
    args = ap.parse_args()
    H, W = args.grid
    t0 = time.perf_counter()
    draws, truth, t = synthetic(args.draws, args.frames, H, W, 0.1, 0.12)
    print(f"draws {draws.shape} float32 = {draws.nbytes / 2**30:.2f} GiB (made in {time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    ds = summarize_forecast(draws, ["T", "P", "mu"], ["K", "GPa", "1"], t, 0.1, 875.0, run_id=0, truth=truth)
    print(f"summarize_forecast: {time.perf_counter() - t0:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run0.nc"
        t0 = time.perf_counter()
        write_forecast(ds, path)
        t1 = time.perf_counter()
        back = read_forecast(path)
        t2 = time.perf_counter()
        size = path.stat().st_size / 2**20
        print(f"write_forecast: {t1 - t0:.2f} s ({size:.1f} MiB), read_forecast: {t2 - t1:.2f} s")
        t0 = time.perf_counter()
        calibration_table([back] * 8)
        print(f"calibration_table (8 runs): {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        write_forecast_plots(back, tmp, fields=["T"])
        print(f"fan chart + T snapshots PNG: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
