"""Train the PARC baseline of ``probtok bench fewshot`` to convergence and print its validation curve.

The benchmark trains PARC itself within a wall-time budget (``BenchConfig.parc_max_time_s``, 2400 s,
on its own worker); this script trains the same model on the same split (the benchmark's pool, its
last ``--val-runs`` runs held out for early stopping; the same test runs) alone, with a budget of your
choice, and prints per epoch the validation loss (is it flat when the budget ends?), then the test
scores in the benchmark's metrics (RMSE of T_hs, A_hs and their rates, field RMSE). Its parc.pt can be
scored by ``probtok bench fewshot --parc-model``:

    python benchmarks/parc_convergence.py --data meso.h5 --out parc-conv --max-time 3600 --epochs 200

Writes --out/parc/parc.pt (model + history) and --out/parc_convergence.json (entry + info + curve).
One torch thread, as the benchmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from probtok.atomic import atomic_write_text
from probtok.bench import BenchConfig, run_parc, split_runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="meso run file (the benchmark's)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--max-time", type=float, default=3600.0, help="wall-time budget per training stage (s)")
    ap.add_argument("--epochs", type=int, default=200, help="epoch budget of the differentiator stage")
    ap.add_argument("--val-runs", type=int, default=BenchConfig.parc_val_runs)
    ap.add_argument("--test-runs", type=int, default=BenchConfig.test_runs)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = dataclasses.replace(BenchConfig(), parc_max_time_s=args.max_time, parc_epochs=args.epochs,
                              parc_val_runs=args.val_runs, test_runs=args.test_runs)
    test, pool, _ = split_runs(args.data, cfg.test_runs, ["all"])
    out = Path(args.out)
    entry, info = run_parc(args.data, pool, test, out, cfg, ["T", "P", "mu"])
    hist = torch.load(out / "parc" / "parc.pt", weights_only=True)["history"]
    curve = {k: hist[k] for k in ("stage", "epoch", "horizon", "train_loss", "val_loss", "lr", "epoch_wall_s")}
    for i in range(len(curve["epoch"])):
        print(f"{curve['stage'][i]:>14} epoch {curve['epoch'][i]:3d} horizon {curve['horizon'][i]} "
              f"train {curve['train_loss'][i]:.5f} val {curve['val_loss'][i]:.5f} lr {curve['lr'][i]:.2e} "
              f"{curve['epoch_wall_s'][i]:.0f} s")
    print(f"stopped: {info['stopped']}; {info['epochs']} epochs, {entry['train_wall_s']:.0f} s, "
          f"{info['n_parameters']} parameters; fit runs {info['fit_runs']}, validation runs {info['val_runs']}")
    for q, block in entry["rmse"].items():
        print(f"test RMSE {q}: {block['mean']:.4g} {block['units']}")
    for f, block in entry["field_rmse"].items():
        print(f"test field RMSE {f}: {block['mean']:.4g} {block['units']}")
    atomic_write_text(out / "parc_convergence.json", json.dumps({"entry": entry, "info": info, "curve": curve},
                                                                 indent=1, default=float))


if __name__ == "__main__":
    main()
