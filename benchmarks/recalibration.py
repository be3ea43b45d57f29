"""Can a few-shot model's intervals be recalibrated on its own training runs?

An adapted model (or an ensemble of them) is forecast on its K training runs as if they were new runs (task
latent c from the prior, as :mod:`probtok.rollout_noise` does to choose kappa), and the randomized PIT of the
truth under the pooled draws (:func:`probtok.calibration.pit_values`) is gathered over their scored frames.
Three recalibrations are fitted on those training PITs and applied to held-out runs:

* **levels** (Kuleshov, Fenner & Ermon 2018): the central interval of level a becomes the draws' quantiles at
  R^-1((1 - a) / 2) and R^-1((1 + a) / 2), R the empirical CDF of the training PITs;
* **shift**: the quantile levels moved by (median of the training PITs - 0.5), widths kept (a bias
  correction: the truth sits above the median more often than below);
* **spread**: the draws scaled about their median by the factor (of 0.5 .. 3) with the lowest training CRPS.

Prints, per quantity (T_hs, A_hs): the training PITs' tails (fractions below 0.05 / 0.25, above 0.75 /
0.95) and the fitted maps; then per held-out set the same tails and the coverage of the 50 % and 90 %
intervals raw and under each recalibration (points where every draw equals the truth left out, as in
:func:`probtok.calibration.coverage`).

    python benchmarks/recalibration.py --models A B C D --data meso.h5 --train-runs 0-3 \\
        --test meso.h5:24-29 --test meso-test.h5:0-29 --draws 200

Each run r is forecast with seed r (member m: r + ENSEMBLE_SEED_STRIDE m), the pooled draws that
``probtok forecast --model A --model B ...`` makes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from probtok.calibration import crps_samples, pit_values, scored_index, trivial_mask
from probtok.cli import _parse_runs
from probtok.predict import forecast_run, load_posterior

QUANTITIES = ("T_hs", "A_hs")
SPREADS = (0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0, 3.0)


def forecast_set(posts, data, runs, draws, first_frames) -> dict:
    """{quantity: ([draws (draw, frame) per run], [truth (frame,) per run])}, scored frames only."""
    out = {q: ([], []) for q in QUANTITIES}
    for r in runs:
        fc = forecast_run(posts, data, r, first_frames=first_frames, n_draws=draws, seed=r)
        keep = scored_index(fc, "frame")
        for q in QUANTITIES:
            out[q][0].append(fc[f"{q}_draws"].values[:, keep])
            out[q][1].append(fc[f"{q}_truth"].values[keep])
    return out


def pits(draws, truths, rng) -> np.ndarray:
    return np.concatenate([pit_values(x, y, rng=rng)[~trivial_mask(x, y)] for x, y in zip(draws, truths)])


def coverage_at(draws, truths, lo: float, hi: float) -> float:
    """Fraction of non-trivial points inside the draws' [lo, hi] quantile levels (clipped to [0, 1])."""
    lo, hi = min(max(lo, 0.0), 1.0), min(max(hi, 0.0), 1.0)
    hits = []
    for x, y in zip(draws, truths):
        a, b = np.quantile(x, [lo, hi], axis=0)
        hits.append(((a <= y) & (y <= b))[~trivial_mask(x, y)])
    return float(np.concatenate(hits).mean())


def scaled(draws, s: float) -> list:
    """Draws scaled by ``s`` about their median (clipped at 0: T_hs and A_hs are >= 0)."""
    return [np.maximum(np.median(x, axis=0) + s * (x - np.median(x, axis=0)), 0.0) for x in draws]


def tails(u: np.ndarray) -> str:
    return (f"n {u.size}, PIT < 0.05: {np.mean(u < 0.05):.2f}, < 0.25: {np.mean(u < 0.25):.2f}, "
            f"> 0.75: {np.mean(u > 0.75):.2f}, > 0.95: {np.mean(u > 0.95):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", required=True, help="fitted model folders (one, or an ensemble)")
    ap.add_argument("--data", required=True, help="the meso file the models were adapted on")
    ap.add_argument("--train-runs", required=True, help="the models' training runs, e.g. 0-3")
    ap.add_argument("--test", action="append", required=True, help="held-out runs as FILE:RUNS (repeatable)")
    ap.add_argument("--draws", type=int, default=200, help="draws per run, pooled over the models")
    ap.add_argument("--first-frames", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    posts = [load_posterior(m) for m in args.models]
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    train = forecast_set(posts, args.data, _parse_runs(args.train_runs), args.draws, args.first_frames)
    tests = {}
    for spec in args.test:
        path, _, runs = spec.rpartition(":")
        tests[spec] = forecast_set(posts, path, _parse_runs(runs), args.draws, args.first_frames)
    print(f"{len(posts)} model(s): {', '.join(args.models)}; training runs {args.train_runs} of {args.data}; "
          f"{args.draws} draws a run; forecasts {time.perf_counter() - t0:.0f} s\n")
    for q in QUANTITIES:
        d, y = train[q]
        u = pits(d, y, rng)
        lv = {a: (float(np.quantile(u, (1 - a) / 2)), float(np.quantile(u, (1 + a) / 2))) for a in (0.5, 0.9)}
        shift = float(np.median(u)) - 0.5
        crps = [np.mean(np.concatenate([crps_samples(x, t).ravel() for x, t in zip(scaled(d, s), y)]))
                for s in SPREADS]
        spread = SPREADS[int(np.argmin(crps))]
        print(f"{q}, training runs as new runs: {tails(u)}; coverage 50 / 90 %: "
              f"{coverage_at(d, y, 0.25, 0.75):.2f} / {coverage_at(d, y, 0.05, 0.95):.2f}")
        print(f"  fitted: levels 50 % -> [{lv[0.5][0]:.2f}, {lv[0.5][1]:.2f}], 90 % -> [{lv[0.9][0]:.2f}, "
              f"{lv[0.9][1]:.2f}]; shift {shift:+.2f}; spread x{spread:g}")
        print("  | held out | PIT tails | raw 50 / 90 % | levels | shift | spread |")
        print("  | --- | --- | --- | --- | --- | --- |")
        for name, st in tests.items():
            d, y = st[q]
            cells = [f"{coverage_at(d, y, 0.25, 0.75):.2f} / {coverage_at(d, y, 0.05, 0.95):.2f}",
                     f"{coverage_at(d, y, *lv[0.5]):.2f} / {coverage_at(d, y, *lv[0.9]):.2f}",
                     f"{coverage_at(d, y, 0.25 + shift, 0.75 + shift):.2f} / "
                     f"{coverage_at(d, y, 0.05 + shift, 0.95 + shift):.2f}",
                     f"{coverage_at(scaled(d, spread), y, 0.25, 0.75):.2f} / "
                     f"{coverage_at(scaled(d, spread), y, 0.05, 0.95):.2f}"]
            print(f"  | {name} | {tails(pits(d, y, rng))} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
