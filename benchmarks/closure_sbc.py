"""Simulation-based calibration of the NumPyro closure law (probtok.closure).

Draws the law's parameters from the prior ``--repeats`` times, simulates a
meso-like design (runs with Up in [0.8, 2.0] km/s, porosity in [0.02, 0.2],
36 frames every 0.12 ns), fits each with NUTS, and prints how often the 50 %
and 90 % central credible intervals cover the truth, per parameter, plus the
wall time. Calibrated: about 0.5 and 0.9, within the binomial noise printed.

    python benchmarks/closure_sbc.py --repeats 50
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from probtok.closure import PARAM_NAMES, sbc_coverage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rng = np.random.default_rng(12345)
    up = np.linspace(0.8, 2.0, args.runs)
    phi = rng.uniform(0.02, 0.2, args.runs)
    t = np.arange(36) * 0.12
    t0 = time.perf_counter()
    res = sbc_coverage(up, phi, t, args.repeats, seed=args.seed, num_warmup=args.warmup,
                       num_samples=args.samples, num_chains=args.chains, progress=True)
    wall = time.perf_counter() - t0
    n = args.repeats
    print(f"closure SBC: {n} repeats x {len(PARAM_NAMES)} params, {args.runs} runs x 36 frames, "
          f"NUTS {args.chains} chains x ({args.warmup} warmup + {args.samples} samples)")
    print(f"{'param':>8} {'cov50':>7} {'cov90':>7}")
    for name in PARAM_NAMES:
        print(f"{name:>8} {res['coverage'][0.5][name]:7.2f} {res['coverage'][0.9][name]:7.2f}")
    for p in (0.5, 0.9):
        allc = res["hits"][p].mean()
        se = np.sqrt(p * (1 - p) / res["hits"][p].size)
        print(f"all params, {int(p * 100)} % intervals: coverage {allc:.3f} (nominal {p}, binomial sd {se:.3f})")
    print(f"R-hat max over repeats: {res['rhat_max'].max():.3f} (median {np.median(res['rhat_max']):.3f}); "
          f"repeats with divergences: {(res['divergences'] > 0).sum()} / {n}")
    bad = np.flatnonzero(res["rhat_max"] > 1.05)
    print(f"repeats with R-hat > 1.05: {bad.size} / {n}")
    for r in bad:
        truth = ", ".join(f"{k}={v:.3g}" for k, v in zip(PARAM_NAMES, res["truth"][r]))
        print(f"  repeat {r}: R-hat {res['rhat_max'][r]:.2f}, divergences {res['divergences'][r]}; truth {truth}")
    print(f"wall time: {wall:.1f} s ({wall / n:.2f} s per fit)")


if __name__ == "__main__":
    main()
