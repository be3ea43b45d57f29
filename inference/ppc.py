"""Posterior predictive checks and LOO model comparison of fitted token models, with ArviZ.

Run:   python inference/ppc.py --model fits/adapted --data meso.h5 --runs 6-7 --out ppc/adapted
       python inference/ppc.py --model fits/adapted --compare micro=fits/micro scratch=fits/scratch \\
              --data meso.h5 --runs 6-7 --out ppc/compare
(the same as `probtok ppc` and `probtok compare`).

What it does, step by step (edit freely):
1. load the fit (micro or meso checkpoint) and the runs, in the fit's normalisation;
2. draw the posterior from the guide, replay the model on every draw: the frame log-likelihood
   (run, frame), replicated fields and their hot-spot metrics -> an ArviZ InferenceData (NetCDF);
3. the checks: az.plot_ppc of T_hs, A_hs and their rates, LOO-PIT, fan charts per run, az.summary of
   sigma_x / phi / c, coverage of the 50 % and 90 % predictive intervals, PSIS-LOO with Pareto k counts;
4. with --compare: the same InferenceData for every other model on the same runs, and az.compare.

Reading the numbers: each LOO point is a whole frame of a run (field x y x x cells), conditioned on the
filtered tokens of that frame; Pareto k > 0.7 marks points whose PSIS estimate is unreliable (printed,
never hidden). Forecast skill from the first frame alone is `probtok evaluate` / `probtok calibrate`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from probtok.cli import _parse_runs
from probtok.diagnostics import (
    compare_models,
    inference_data_from_files,
    load_inference_data,
    ppc_plots,
    save_inference_data,
)

console = Console()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path, help="fit directory (fit-micro or adapt)")
    ap.add_argument("--data", required=True, type=Path, help="run file (HDF5)")
    ap.add_argument("--runs", default=None, help="e.g. 6-7 (default: the fit's held-out runs)")
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--draws", type=int, default=100, help="posterior draws")
    ap.add_argument("--compare", nargs="*", default=[], metavar="NAME=DIR", help="other fits to compare with")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    runs = _parse_runs(args.runs)

    # 1-2. InferenceData of the model on the runs (reused when it exists: delete it to redraw)
    nc = args.out / "idata.nc"
    if nc.exists():
        idata = load_inference_data(nc)
        console.print(f"reusing {nc}")
    else:
        idata = inference_data_from_files(args.model, args.data, runs, num_draws=args.draws, seed=args.seed)
        save_inference_data(idata, nc)
    console.print(f"{idata.posterior.attrs['model_role']}; runs {list(idata.observed_data['run'].values)}")

    # 3. checks: plots and tables in OUT
    paths = ppc_plots(idata, args.out)
    for name in ("latent_summary", "coverage", "loo"):
        console.print(f"[bold]{name}[/]  ({paths[name]})")
        console.print(paths[name].read_text(), highlight=False, markup=False, soft_wrap=True)

    # 4. comparison on exactly the same runs and frames
    if args.compare:
        runs = [int(r) for r in idata.observed_data["run"].values]
        idatas = {"model": idata}
        for item in args.compare:
            name, _, path = item.partition("=")
            idatas[name] = inference_data_from_files(Path(path), args.data, runs, num_draws=args.draws, seed=args.seed)
            save_inference_data(idatas[name], args.out / f"{name}.nc")
        table = compare_models(idatas, echo=console.print)
        table.to_csv(args.out / "compare.csv")
        console.print(table.to_string(), highlight=False, markup=False, soft_wrap=True)


if __name__ == "__main__":
    main()
