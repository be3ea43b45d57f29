"""Score a trained PARC (a parc.pt of `probtok bench fewshot` or benchmarks/parc_convergence.py) on runs of any
meso file, as the benchmark scores it (:func:`probtok.bench.score_parc`: rollout from frame m - 1, RMSE of
T_hs, A_hs and their rates over the forecast frames with that file's hot-spot threshold, field RMSE of T and
P). The inputs are normalised with PARC's own normaliser, so runs of another file than the training one are
scored alike.

    python benchmarks/parc_runs.py --parc bench/parc/parc.pt --data meso-test.h5 --runs 0-29
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from probtok.baselines import load_parc
from probtok.bench import score_parc
from probtok.cli import _parse_runs
from probtok.data import open_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parc", required=True, help="trained PARC (parc.pt)")
    ap.add_argument("--data", required=True, help="meso run file (HDF5)")
    ap.add_argument("--runs", required=True, help="runs to forecast, e.g. 0-29")
    ap.add_argument("--first-frames", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, hist = load_parc(args.parc, return_history=True)
    runs = _parse_runs(args.runs)
    with open_dataset(args.data) as ds:
        thr = float(ds.hotspot_threshold_K)
    sc = score_parc(model, args.data, runs, args.first_frames, ("T", "P", "mu"))
    print(f"PARC {args.parc} (trained on {hist.get('data')} runs {hist.get('fit_runs')}, validated on "
          f"{hist.get('val_runs')}); {args.data} runs {runs}, hot-spot threshold {thr:g} K, first "
          f"{args.first_frames} frames given; rollout {sc['forecast_wall_s']:.1f} s")
    if sc["diverged"]:
        print(f"the rollout reached non-finite values on runs {sc['diverged']}: not scored")
        return
    for q, blk in sc["rmse"].items():
        print(f"RMSE {q}: {blk['mean']:.4g} {blk['units']} (mean over runs; over all points "
              f"{np.sqrt(np.mean(np.square(blk['per_run']))):.4g})")
    for f, blk in sc["field_rmse"].items():
        print(f"field RMSE {f}: {blk['mean']:.4g} {blk['units']}")


if __name__ == "__main__":
    main()
