"""Forecasts pooled over several fitted models of the same training runs (e.g. adapted on micro fits made
with different seeds), against each model alone.

The micro fit's random numbers decide much of an adapted model's forecast (docs/bench-2026-11-27-s4-seeds:
the A_hs error of micro-s4 adapted on the same four runs ran from 18.8 to 95.6 um^2 over the fit's seed). A
forecast from one fit leaves that uncertainty out. Pooling the draws of M models (an equal-weight mixture
over the fits: draws of model m are draws of p(y | fit m)) puts it in. Prints the calibration (coverage of
the 50 % and 90 % intervals, CRPS, RMSE of the median; probtok.calibration, the scored frames only) of each
model and of the pool over the given runs.

    python benchmarks/seed_ensemble.py --data meso.h5 --runs 24-29 --draws 100 --models A B C D

Each model forecasts with its own kappa (the one recorded at its adaptation) and ``--draws`` draws, model m
of run r with seed ``r + ENSEMBLE_SEED_STRIDE * m``; the pool has M x draws draws per run, the very draws
``probtok forecast --model A --model B ... --draws M*draws`` (:func:`probtok.predict.forecast_run` given
the M models) makes.
"""

from __future__ import annotations

import argparse
import time

import torch
import xarray as xr

from probtok.calibration import calibration_table, coverage_text
from probtok.cli import _parse_runs
from probtok.predict import ENSEMBLE_SEED_STRIDE, forecast_run, load_posterior


def pooled(forecasts: list) -> xr.Dataset:
    """One forecast dataset whose draws are the draws of all ``forecasts`` (same run), the rest the first's."""
    return xr.concat(forecasts, dim="draw", data_vars="minimal", coords="minimal", compat="override",
                     join="override", combine_attrs="override")


def line(name: str, table: dict) -> str:
    q = table["quantities"]
    return f"{name}: " + " | ".join(
        f"{n}: cov50 {coverage_text(q[n]['coverage']['0.5'], q[n]['coverage_range']['0.5'])} "
        f"cov90 {coverage_text(q[n]['coverage']['0.9'], q[n]['coverage_range']['0.9'])} RMSE {q[n]['rmse_median']:.4g} "
        f"CRPS {q[n]['crps']:.4g} {q[n]['units']}" for n in ("T_hs", "A_hs"))



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="meso run file (HDF5)")
    ap.add_argument("--runs", required=True, help="runs to forecast, e.g. 24-29")
    ap.add_argument("--models", nargs="+", required=True, help="fitted model folders (two or more)")
    ap.add_argument("--draws", type=int, default=100, help="draws per model and run")
    ap.add_argument("--first-frames", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    runs = _parse_runs(args.runs)
    by_model = []
    for m, model in enumerate(args.models):
        post = load_posterior(model)
        t0 = time.perf_counter()
        fcs = [forecast_run(post, args.data, r, first_frames=args.first_frames, n_draws=args.draws,
                            seed=r + ENSEMBLE_SEED_STRIDE * m) for r in runs]
        by_model.append(fcs)
        print(line(f"{model} (weights {post.weights_digest}, kappa {post.rollout_noise:g}, "
                   f"{time.perf_counter() - t0:.0f} s)", calibration_table(fcs)), flush=True)
    pool = [pooled([fcs[i] for fcs in by_model]) for i in range(len(runs))]
    print(line(f"pool of {len(args.models)} models ({len(args.models) * args.draws} draws a run)",
               calibration_table(pool)))
    for k in range(2, len(args.models)):  # the pools of the first k models: what fewer fits give
        print(line(f"pool of the first {k}", calibration_table([pooled([fcs[i] for fcs in by_model[:k]])
                                                                for i in range(len(runs))])))


if __name__ == "__main__":
    main()
