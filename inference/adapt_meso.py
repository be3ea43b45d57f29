"""Adapt a fitted micro token model to a few meso runs by SVI (few-shot), then score forecasts of the others.

Run:   python inference/adapt_meso.py --micro fits/micro-s4 --data meso.h5 --train-runs 0,1 --out fits/meso
(the same as `probtok adapt` followed by `probtok forecast --evaluate`). Re-running after a kill resumes
from OUT/checkpoint.pt.

This script is meant to be read and edited: every step is a plain library call. What adapts is set in
AdaptConfig below: c[n] (task latent per meso run), phi (meso coupling, prior centred on "no correction"),
sigma_x, the coupling feature network, and optionally theta (the micro globals) with theta = "prior".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from probtok.adapt import AdaptConfig, adapt, micro_data_grid
from probtok.data.validate import check_compatible
from probtok.calibration import render_table
from probtok.checkpoint import load_fitted
from probtok.data import open_dataset
from probtok.data.normalize import Normaliser
from probtok.predict import evaluate_forecasts, forecast_files

console = Console()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micro", required=True, type=Path, help="micro fit directory (fit-micro output)")
    ap.add_argument("--data", required=True, type=Path, help="meso run file (HDF5)")
    ap.add_argument("--train-runs", required=True, help="comma-separated meso runs to adapt on, e.g. 0,1")
    ap.add_argument("--out", required=True, type=Path, help="meso model directory")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--theta", default="frozen", choices=["frozen", "prior"])
    ap.add_argument("--draws", type=int, default=200, help="forecast draws per held-out run")
    args = ap.parse_args()
    torch.set_num_threads(1)  # small token networks: one thread is fastest on a shared CPU

    # 1. the micro fit: theta, the amortized encoder, q(sigma_x) and the ONE normaliser of both scales
    micro_model, micro_guide, ckpt = load_fitted(args.micro)
    spec = micro_model.spec
    norm = Normaliser.from_dict(ckpt["normalisation"])

    # 2. the K meso runs, in the micro fit's normalised units
    train = [int(r) for r in args.train_runs.split(",")]
    with open_dataset(args.data) as ds:
        # same cell size, and r = steps_per_frame = dt_meso / dt_micro (grid recorded with the micro fit)
        grid = micro_data_grid(ckpt)
        if grid is not None:
            check_compatible(grid, ds, spec.steps_per_frame)
        x = norm.forward(torch.as_tensor(np.stack([ds.frames(r, spec.fields) for r in train])), field_axis=2)
        held = [int(r) for r in ds.ok_runs if int(r) not in train]

    # 3. few-shot SVI (progress bar shows -ELBO per run-frame)
    cfg = AdaptConfig(steps=args.steps, theta=args.theta, learning_rate=1e-2, rollout_weight=1.0,
                      coupling_net="train")  # rollout term over the whole run (the default)
    meta = {"data": str(args.data), "train_runs": train, "holdout_runs": held, "micro_dir": str(args.micro)}
    res = adapt((micro_model, micro_guide, ckpt["normalisation"]), x, cfg, out_dir=args.out, meta=meta)
    console.print(f"adapted {res.step} steps in {res.wall_s:.0f} s; q(c[n]) means:\n{res.guide.c_loc}")

    # 4. forecasts of the held-out runs from their first frame, and their calibration
    if held:
        files = forecast_files(args.out, args.data, held, args.out / "forecasts", n_draws=args.draws, plots=False)
        table = evaluate_forecasts(list(files.values()), json_out=args.out / "calibration.json")
        console.print(render_table(table))


if __name__ == "__main__":
    main()
