"""Quick start: the whole probtok pipeline, step by step, on small built-in data (what `probtok demo` runs).

Run:   python examples/quickstart.py --out quickstart-out        (about 5-10 minutes on a 2-core CPU)
       python examples/quickstart.py --out quickstart-out --quick  (a smoke run: fewer runs and steps)

1. simulate micro runs (one pore) and meso runs (many pores) with the JAX solver;
2. fit probabilistic latent tokens to the micro runs (amortized SVI);
3. adapt the model to K = 2 meso runs (few-shot SVI: task latents c[n], coupling phi, sigma_x);
4. forecast a held-out meso run from its first two frames (posterior-predictive draws) and plot it
   (frame 0 is the unshocked state, the same for every piston velocity: the shock shows in frame 1,
   and the tiny config's fit starts there, so a forecast needs frames 0 and 1);
5. score the forecasts of all held-out runs: coverage of 50/90 % intervals, CRPS, RMSE of the median.

Every step writes files and is skipped/resumed when they exist: re-run after a kill.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console

console = Console()
MODELS = Path(__file__).resolve().parent.parent / "models"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("quickstart-out"))
    ap.add_argument("--micro-runs", type=int, default=48)
    ap.add_argument("--meso-runs", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="smoke run: 8 micro and 4 meso runs, few steps and draws")
    args = ap.parse_args()
    if args.quick:
        args.micro_runs, args.meso_runs = 8, 4
    micro_steps, adapt_steps, n_draws = (20, 10, 20) if args.quick else (None, 150, 200)  # None: the config's
    out = args.out
    torch.set_num_threads(1)  # the networks are tiny: one thread is fastest, and robust on a busy machine

    # 1. data: two campaigns through Dask (resumable); one self-describing HDF5 file each
    from probtok.sim.campaign import run_campaign

    run_campaign("micro-small", args.micro_runs, out / "micro.h5", seed=0)
    run_campaign("meso-small", args.meso_runs, out / "meso.h5", seed=0)

    # 2. micro tokens: models/tiny.toml (4 x 4 patches, 8 channels per token); the normaliser is stored
    #    with the checkpoint and used for the meso data too (tokens mean the same thing at both scales)
    from probtok.fit import fit_micro_files

    fit_micro_files(out / "micro.h5", MODELS / "tiny.toml", out / "micro-fit", steps=micro_steps, holdout=0.1)

    # 3. few-shot meso adaptation on the first two ok meso runs; theta (micro globals) frozen
    from probtok.adapt import AdaptConfig, adapt_files
    from probtok.data import open_dataset

    with open_dataset(out / "meso.h5") as ds:
        ok = [int(r) for r in ds.ok_runs]
    train, held = ok[:2], ok[2:]
    adapt_files(out / "micro-fit", out / "meso.h5", train, out / "meso-fit",
                AdaptConfig(steps=adapt_steps, theta="frozen"))

    # 4. one forecast, in detail: 200 posterior-predictive draws -> hot-spot quantiles, exceedance, field mean/std;
    #    given frames 0 and 1 (the fit starts at frame 1: one frame would be refused)
    from probtok.forecast import write_forecast
    from probtok.plots import write_forecast_plots
    from probtok.predict import forecast_run, load_posterior

    post = load_posterior(out / "meso-fit")
    ds = forecast_run(post, out / "meso.h5", held[0], first_frames=2, n_draws=n_draws)
    write_forecast(ds, out / "forecasts" / f"run_{held[0]:04d}.nc")
    write_forecast_plots(ds, out / "forecasts" / f"run_{held[0]:04d}")
    q = ds["A_hs_quantiles"].isel(frame=-1).values
    console.print(f"run {held[0]}: A_hs at the last frame, 5/25/50/75/95 %: {q.round(3)} um^2; truth "
                  f"{float(ds['A_hs_truth'].isel(frame=-1)):.3f} um^2")

    # 5. every held-out run, then calibration pooled over runs and frames
    from probtok.calibration import print_table
    from probtok.predict import evaluate_forecasts, forecast_files

    files = forecast_files(out / "meso-fit", out / "meso.h5", held, out / "forecasts", first_frames=2,
                           n_draws=n_draws, plots=False, skip_existing=True)
    print_table(evaluate_forecasts(list(files.values()), json_out=out / "calibration.json"), console)


if __name__ == "__main__":
    main()
