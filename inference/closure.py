"""Fit the Bayesian macro-scale closure law of hot-spot area growth to meso runs (NumPyro NUTS).

Run:   python inference/closure.py --data meso.h5 --out fits/closure
(the same as `probtok closure --data meso.h5 --out fits/closure`). DATA is a probtok run file (the
stored hot-spot series of its ok runs are used) or a closure table written by
probtok.closure.save_closure_data (optionally with forecast draws (draw, run, frame)).

The law, its units and the priors are in probtok/closure.py's docstring. This script is meant to be
read and edited: change the priors or reference point below, then re-run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from rich.console import Console

from probtok.closure import ClosurePriors, closure_data_from_hdf5, fit_closure, sbc_coverage

console = Console()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="run file or closure table (HDF5)")
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--threshold-K", type=float, default=None, help="hot-spot threshold [K] (default: stored)")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--sbc", type=int, default=0, help="also run this many calibration repeats on this design")
    args = ap.parse_args()

    # 1. data: Up [km/s], porosity, time [ns], area fraction (run, frame) or (draw, run, frame)
    data = closure_data_from_hdf5(args.data, threshold_K=args.threshold_K)
    console.print(f"{data.n_run} runs, {data.time_ns.size} frames, Up {data.up_kms.min():.2f}-"
                  f"{data.up_kms.max():.2f} km/s, porosity {data.porosity.min():.3f}-{data.porosity.max():.3f}"
                  + (f", {data.area_fraction.shape[0]} forecast draws" if data.has_draws else ""))

    # 2. priors and reference point (edit for other materials or time scales)
    priors = ClosurePriors()
    up_ref_kms, phi_ref = 1.0, 0.1

    # 3. NUTS, then convergence diagnostics through ArviZ
    fit = fit_closure(data, num_warmup=args.warmup, num_samples=args.samples, num_chains=args.chains,
                      priors=priors, up_ref_kms=up_ref_kms, phi_ref=phi_ref)
    cols = ["mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "r_hat"]
    console.print(fit.summary[cols].to_string(), markup=False, highlight=False)
    console.print(f"R-hat max {fit.rhat_max:.3f}, ESS min {fit.ess_min:.0f}, divergences {fit.num_divergences}")

    # 4. outputs: closure.nc (az.from_netcdf), closure.json (for a macro code), summary CSV, PNG
    for path in fit.save(args.out, data).values():
        console.print(f"wrote {path}", highlight=False)

    # 5. the law at new conditions: area fraction of a new run at Up = 1.5 km/s, porosity 0.08
    t = np.linspace(0.0, data.time_ns[-1], 50)
    q05, q50, q95 = np.quantile(fit.predict(1.5, 0.08, t, rng=0)[:, 0], [0.05, 0.5, 0.95], axis=0)
    console.print(f"new run at Up 1.5 km/s, phi 0.08: F({t[-1]:.2f} ns) = {q50[-1]:.3f} "
                  f"(90 % interval {q05[-1]:.3f}-{q95[-1]:.3f})")

    # 6. optional: is the law identifiable on this design? (coverage of 50 % / 90 % intervals)
    if args.sbc:
        res = sbc_coverage(data.up_kms, data.porosity, data.time_ns, args.sbc, priors=priors, progress=True,
                           num_warmup=args.warmup, num_samples=args.samples, num_chains=2)
        for p, cov in res["coverage"].items():
            console.print(f"{int(p * 100)} % intervals cover: " + ", ".join(f"{k} {v:.2f}" for k, v in cov.items()))


if __name__ == "__main__":
    main()
