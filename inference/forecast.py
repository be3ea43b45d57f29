"""Forecast one meso run with calibrated uncertainty: posterior-predictive draws -> hot-spot quantiles.

Run:   python inference/forecast.py --model fits/meso --data meso.h5 --run 5 --out forecasts/
(the same as `probtok forecast --run 5`). A micro fit directory as --model gives the micro-only reference.

This script is meant to be read and edited: every step is a plain library call.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console

from probtok.forecast import write_forecast
from probtok.plots import write_forecast_plots
from probtok.predict import forecast_run, load_posterior

console = Console()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path, help="meso model directory (or a micro fit)")
    ap.add_argument("--data", required=True, type=Path, help="run file (HDF5)")
    ap.add_argument("--run", required=True, type=int)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--first-frames", type=int, default=2,
                    help="frames given (>= 2 also fits c to them; frame 0 is unshocked, frame 1 shows the shock)")
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--T-crit", type=float, default=1500.0, help="critical hot-spot temperature [K]")
    ap.add_argument("--A-crit", type=float, default=1.0, help="critical hot-spot area [um^2]")
    args = ap.parse_args()
    torch.set_num_threads(1)

    # 1. the posterior: q(phi), q(sigma_x), q(c[n]) of the adaptation runs, the encoder, the normaliser
    post = load_posterior(args.model)
    # 2. Predictive draws -> physical fields -> hot-spot metrics per draw, quantiles, exceedance probabilities
    ds = forecast_run(post, args.data, args.run, first_frames=args.first_frames, n_draws=args.draws,
                      T_crit_K=args.T_crit, A_crit_um2=args.A_crit)
    path = write_forecast(ds, args.out / f"run_{args.run:04d}.nc")
    # 3. plots: fan charts of T_hs and A_hs against the truth, field snapshots (truth, mean, std)
    for p in write_forecast_plots(ds, args.out / f"run_{args.run:04d}").values():
        console.print(f"wrote {p}")
    q = ds["T_hs_quantiles"].sel(quantile=[0.05, 0.5, 0.95]).isel(frame=-1).values
    console.print(f"wrote {path}; T_hs at the last frame: median {q[1]:.0f} K, 90 % interval [{q[0]:.0f}, {q[2]:.0f}] K;"
                  f" P(T_hs > {args.T_crit:g} K) = {float(ds['P_T_hs_exceeds'].isel(T_crit_K=0, frame=-1)):.2f}")


if __name__ == "__main__":
    main()
