"""Scores of forecasts against the factor kappa on the free rollout's transition noise (``rollout_noise``).

For each fitted model folder (an adapted meso model, or a micro fit) and each kappa, forecasts runs of a
meso file from their first ``--first-frames`` frames and prints the pooled 50 / 90 % coverage, the RMSE of
the median and the CRPS of ``T_hs`` [K] and ``A_hs`` [um^2] (probtok.calibration), plus the median and the
truth of ``A_hs`` at the last frame per run.

``--runs train`` forecasts the model's OWN adaptation runs as if they were new: the task latent c is drawn
from the prior N(0, I), not from the run's fitted q(c[n]) (the rule for a new run). This is how kappa = 0.3
was first picked without looking at test runs; every fit now makes that choice itself, by a rule
(probtok.rollout_noise). This script shows the scores beside coverage and the final hot area:

    python benchmarks/rollout_noise.py --data meso.h5 --models bench/models/K4_s0/meso-adapt \\
        bench/models/K4_s1/meso-adapt --runs train --kappas 0.1,0.3,1 --draws 40

``--runs 24-29`` scores the benchmark's test runs instead. One torch thread; seed r for run r.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from probtok.calibration import calibration_table
from probtok.cli import _parse_runs as parse_runs
from probtok.predict import forecast_run, load_posterior


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="meso run file (HDF5)")
    ap.add_argument("--models", nargs="+", required=True, help="fitted model folders")
    ap.add_argument("--runs", default="train", help="'train' (the model's adaptation runs, c from the prior) or e.g. 24-29")
    ap.add_argument("--kappas", default="0.1,0.3,1", help="rollout noise factors, e.g. 0.1,0.3,1")
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--first-frames", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for model in args.models:
        post = load_posterior(model)
        print(f"{model}: weights digest {post.weights_digest} (probtok.checkpoint.weights_digest)", flush=True)
        if args.runs == "train":
            runs = [int(r) for r in post.meta.get("train_runs", [])]
            if not runs:
                raise SystemExit(f"{model}: no adaptation runs (a micro fit?); give --runs")
            # forecast them as new runs: without their q(c[n]) (probtok.predict.task_posterior)
            post.meta["train_runs"] = []
        else:
            runs = parse_runs(args.runs)
        for kappa in [float(k) for k in args.kappas.split(",")]:
            t0 = time.perf_counter()
            dss = [forecast_run(post, args.data, r, first_frames=args.first_frames, n_draws=args.draws, seed=r,
                                rollout_noise=kappa) for r in runs]
            q = calibration_table(dss)["quantities"]
            scores = " | ".join(f"{n}: cov50 {q[n]['coverage']['0.5']:.2f} cov90 {q[n]['coverage']['0.9']:.2f} "
                                f"RMSE {q[n]['rmse_median']:.4g} CRPS {q[n]['crps']:.4g} {q[n]['units']}"
                                for n in ("T_hs", "A_hs"))
            last = "; ".join(f"run {r}: {np.median(ds.A_hs_draws.values[:, -1]):.1f} ({ds.A_hs_truth.values[-1]:.1f})"
                             for r, ds in zip(runs, dss))
            print(f"{model} runs {runs} kappa {kappa:g}: {scores} ({time.perf_counter() - t0:.0f} s)\n"
                  f"  median A_hs at the last frame (truth) [um^2]: {last}", flush=True)


if __name__ == "__main__":
    main()
