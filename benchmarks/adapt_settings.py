"""Compare adaptation settings on held-out meso runs: adapt a micro fit on K runs, forecast the
test runs from their first frames, print coverage / RMSE / CRPS of T_hs and A_hs.

Every setting is an ``AdaptConfig`` override (JSON); one line of scores per setting, pooled over
(test run, forecast frame) points as ``probtok forecast --evaluate`` does. Used for the README's
adaptation numbers (rollout horizon, adaptation steps, theta frozen vs prior):

    probtok simulate --preset micro --out micro.h5 && probtok simulate --preset meso --out meso.h5
    probtok fit-micro --data micro.h5 --config models/tiny.toml --out micro-fit
    python benchmarks/adapt_settings.py --micro micro-fit --data meso.h5 --out adapt-settings \\
        --train-runs 0,1,2,3 --test-runs 24-29 \\
        --setting '{"steps": 100, "rollout_horizon": 12}' --setting '{"steps": 100}' \\
        --setting '{"steps": 300}' --setting '{"steps": 100, "theta": "prior"}'

``--noise-scale 1,2`` also scores each adapted model with its transition noise sigma_z multiplied
by each factor after the fact (a diagnostic: can wider intervals be bought with noise?).

One torch thread; an adaptation folder per setting under --out (re-running reuses it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from probtok.adapt import AdaptConfig, adapt_files
from probtok.calibration import calibration_table
from probtok.cli import _parse_runs as parse_runs
from probtok.predict import forecast_run, load_posterior


def scaled_noise(forward, f: float):
    """The transition network's forward with its variance output times f^2 (diagnostic only)."""

    def scaled(z):
        drift, var = forward(z)
        return drift, var * f * f

    return scaled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micro", required=True, help="micro fit folder")
    ap.add_argument("--data", required=True, help="meso run file")
    ap.add_argument("--out", required=True, help="folder for one adaptation per setting")
    ap.add_argument("--train-runs", required=True, help="e.g. 0,1,2,3")
    ap.add_argument("--test-runs", required=True, help="e.g. 24-29")
    ap.add_argument("--setting", action="append", default=[], help="AdaptConfig overrides as JSON (repeatable)")
    ap.add_argument("--first-frames", type=int, default=2)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--noise-scale", default="1", help="factors for sigma_z at forecast time, e.g. 1,2")
    args = ap.parse_args()
    torch.set_num_threads(1)
    train, test = parse_runs(args.train_runs), parse_runs(args.test_runs)
    for text in args.setting or ["{}"]:
        over = json.loads(text)
        tag = "_".join(f"{k}-{v}" for k, v in sorted(over.items())) or "default"
        out = Path(args.out) / tag
        t0 = time.perf_counter()
        adapt_files(args.micro, args.data, train, out, AdaptConfig(**over), progress=False)
        adapt_s = time.perf_counter() - t0
        post = load_posterior(out)
        transition = post.model.transition
        forward = transition.forward
        for f in [float(v) for v in args.noise_scale.split(",")]:
            transition.forward = scaled_noise(forward, f)
            t0 = time.perf_counter()
            dss = [forecast_run(post, args.data, r, first_frames=args.first_frames, n_draws=args.draws, seed=r)
                   for r in test]
            fc_s = time.perf_counter() - t0
            q = calibration_table(dss)["quantities"]
            row = " | ".join(f"{n}: cov50 {q[n]['coverage']['0.5']:.2f} cov90 {q[n]['coverage']['0.9']:.2f} "
                             f"RMSE {q[n]['rmse_median']:.4g} CRPS {q[n]['crps']:.4g} {q[n]['units']}"
                             for n in ("T_hs", "A_hs"))
            print(f"{json.dumps(over)} sigma_z x {f:g}: adapt {adapt_s:.0f} s (this session), forecasts {fc_s:.0f} s"
                  f" | {row}", flush=True)


if __name__ == "__main__":
    main()
