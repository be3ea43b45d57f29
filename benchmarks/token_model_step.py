"""Benchmark: seconds per SVI step of each model config on micro-sized data, and the projected fit time.

    python benchmarks/token_model_step.py [models/micro-s4.toml ...] [--data micro.h5]

Without --data the frames are smooth random fields of the micro shape (64 x 64, 24 frames): step cost
does not depend on the values. Target (issue 3): a full micro fit in <= 20 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from probtok.fit import fit
from probtok.model_spec import load_config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("configs", nargs="*", type=Path, default=[Path("models/micro-s4.toml"), Path("models/micro-s8.toml")])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--runs", type=int, default=16)
    args = ap.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    for path in args.configs:
        cfg = load_config(path)
        x = torch.nn.functional.avg_pool2d(torch.randn(args.runs * 24, cfg.spec.n_fields, 64, 64), 5, 1, 2)
        x = x.reshape(args.runs, 24, cfg.spec.n_fields, 64, 64)
        warm = dataclasses.replace(cfg.fit, steps=2, checkpoint_every=10**6)
        fit(cfg.spec, x, warm, progress=False)
        run = dataclasses.replace(cfg.fit, steps=args.steps, checkpoint_every=10**6,
                                  rollout_horizon_start=cfg.fit.rollout_horizon_end)  # worst case: longest rollout
        t0 = time.perf_counter()
        fit(cfg.spec, x, run, progress=False)
        per = (time.perf_counter() - t0) / args.steps
        print(f"{path.stem:12s} {per:6.3f} s/step (batch {cfg.fit.batch_runs} runs x 24 frames, rollout "
              f"{cfg.fit.rollout_horizon_end}); {cfg.fit.steps} steps -> {per * cfg.fit.steps / 60:5.1f} min (upper bound)")


if __name__ == "__main__":
    main()
