"""Bring your own data: arrays in the paper code's layout -> probtok files -> fit, adapt, forecast.

Run:   python examples/bring_your_own_data.py --out byod-out          (about 1.5 minutes on a 2-core CPU)
       python examples/bring_your_own_data.py --out byod-out --quick  (a smoke run: fewer steps and draws)

Your simulations are NumPy arrays of shape (runs, H, W, fields, frames) (the layout of the paper's
code), one for micro runs (single pores) and one for meso runs (many pores), with the field names and
units, the cell size and the frame interval. Replace `synthetic_runs` below by `np.load(...)`.
Requirements: both scales share the cell size; the token size (4 in models/tiny.toml) divides H and W;
the meso frame interval is steps_per_frame ([meso] table of the config, 2 in tiny.toml) micro intervals.

The table printed at the end scores a short fit (150 steps, the config's are 400) on stand-in data: its
intervals are far too narrow (90 % coverage 0.32 for T_hs, 2026-11-29). Read it as the check to run, not as a
result: on your data, fit with the config's steps, adapt on K >= 4 runs and read the same table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

console = Console()
MODELS = Path(__file__).resolve().parent.parent / "models"


def synthetic_runs(n_runs, H, W, n_frames, n_spots, dt_ns, seed):
    """Stand-in data, (runs, H, W, fields, frames): hot spots growing e-fold per 0.5 ns; T [degC], P [MPa], mu [1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    out = np.zeros((n_runs, H, W, 3, n_frames))
    for n in range(n_runs):
        spots = [(rng.uniform(3, H - 3), rng.uniform(3, W - 3), rng.uniform(500, 900)) for _ in range(n_spots)]
        for t in range(n_frames):
            T = 25.0 + sum(a * np.exp(t * dt_ns / 0.5) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 4.0)
                           for cy, cx, a in spots) / 2.0
            out[n, :, :, 0, t] = T
            out[n, :, :, 1, t] = 1000.0 + 10.0 * T
            out[n, :, :, 2, t] = 1.0 - 0.9 * sum(((y - cy) ** 2 + (x - cx) ** 2 < 2.0) for cy, cx, _ in spots)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("byod-out"))
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer fit and adaptation steps and draws")
    args = ap.parse_args()
    micro_steps, adapt_steps, n_draws = (30, 20, 20) if args.quick else (150, 100, 100)
    out = args.out
    torch.set_num_threads(1)

    # 1. import: (runs, H, W, fields, frames) + names + units (converted: degC -> K, MPa -> GPa)
    from probtok.data.importer import import_arrays

    fields, units, dx_um = ["T", "P", "mu"], ["C", "MPa", "1"], 0.1
    micro = synthetic_runs(24, 16, 16, 9, 1, dt_ns=0.05, seed=0)  # e.g. np.load("micro_runs.npy")
    meso = synthetic_runs(6, 16, 32, 9, 3, dt_ns=0.10, seed=1)  # e.g. np.load("meso_runs.npy")
    import_arrays(micro, fields, units, dx_um, 0.05, out=out / "micro.h5", source="micro_runs.npy")
    import_arrays(meso, fields, units, dx_um, 0.10, out=out / "meso.h5", source="meso_runs.npy")

    # 2. micro tokens (a short fit for the example; drop `steps` to use the config's)
    from probtok.fit import fit_micro_files

    fit_micro_files(out / "micro.h5", MODELS / "tiny.toml", out / "micro-fit", steps=micro_steps, holdout=0.1)

    # 3. few-shot adaptation on two meso runs
    from probtok.adapt import AdaptConfig, adapt_files

    adapt_files(out / "micro-fit", out / "meso.h5", [0, 1], out / "meso-fit", AdaptConfig(steps=adapt_steps))

    # 4. forecasts of the other meso runs from their first two frames, with plots and calibration (the tiny
    #    config's fit starts at frame 1, frame 0 being a simulation's unshocked state: one frame is refused)
    from probtok.calibration import print_table
    from probtok.predict import evaluate_forecasts, forecast_files

    files = forecast_files(out / "meso-fit", out / "meso.h5", [2, 3, 4, 5], out / "forecasts", first_frames=2,
                           n_draws=n_draws)
    print_table(evaluate_forecasts(list(files.values()), json_out=out / "calibration.json"), console)


if __name__ == "__main__":
    main()
