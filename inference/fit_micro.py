"""Fit the probabilistic token model to micro runs by SVI, then evaluate it on the held-out runs.

Run:   python inference/fit_micro.py --data micro.h5 --config models/micro-s4.toml --out fits/micro-s4
(the same as `probtok fit-micro` followed by `probtok evaluate`). Re-running the same command after a
kill resumes from OUT/checkpoint.pt and ends exactly where an uninterrupted fit would.

This script is meant to be read and edited: every step is a plain library call.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from probtok.data import open_dataset
from probtok.evaluate import evaluate, render_tables
from probtok.fit import fit, split_runs
from probtok.model_spec import load_config

console = Console()

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="micro run file (HDF5)")
    ap.add_argument("--config", required=True, type=Path, help="models/*.toml")
    ap.add_argument("--out", required=True, type=Path, help="fit directory")
    ap.add_argument("--steps", type=int, default=None, help="override [fit] steps")
    ap.add_argument("--holdout", type=float, default=0.2, help="fraction of ok runs held out (the last ones)")
    ap.add_argument("--draws", type=int, default=20, help="stochastic rollouts per held-out run")
    args = ap.parse_args()

    # 1. the model specification and fit settings (a checkpoint only resumes with the same ones)
    cfg = load_config(args.config)
    spec = cfg.spec
    fit_cfg = cfg.fit if args.steps is None else dataclasses.replace(cfg.fit, steps=args.steps)

    # 2. data: train on the first runs, hold out the last ones; normalise with the dataset's stored ranges
    with open_dataset(args.data) as ds:
        train, held = split_runs(ds.ok_runs, args.holdout)
        norm = ds.normaliser("minmax", spec.fields)  # x_norm = (x - shift) / scale, in [-1, 1]
        x = norm.forward(torch.as_tensor(np.stack([ds.frames(r, spec.fields) for r in train])), field_axis=2)

    # 3. SVI (progress bar shows -ELBO per run-frame; checkpoints every fit_cfg.checkpoint_every steps)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "config.toml").write_text(args.config.read_text())
    meta = {"data": str(args.data), "config": str(args.config), "train_runs": train, "holdout_runs": held,
            "fields": list(spec.fields), "n_runs": len(train)}
    res = fit(spec, x, fit_cfg, out_dir=args.out, normalisation=norm.to_dict(), meta=meta)
    console.print(f"fit: {res.step} steps, {res.wall_s:.0f} s this session, final loss {res.losses[-1]:,.2f}")

    # 4. evaluation on the held-out runs: rollouts from frame 0 vs persistence and the mean-only model
    if held:
        result = evaluate(args.out, args.data, held, n_draws=args.draws, out_json=args.out / "eval.json")
        for table in render_tables(result):
            console.print(table)

if __name__ == "__main__":
    main()
