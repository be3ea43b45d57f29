"""Seconds per SVI step of a meso adaptation at several torch thread counts, and the projected adaptation time.

    python benchmarks/adapt_speed.py --micro FIT --data meso.h5 --train-runs 3,7,13,14 [--theta prior]
        [--threads 1 2] [--steps 10]

For each thread count: a fresh adaptation (``probtok.adapt.adapt_files`` into a temporary folder, no kappa
choice): two untimed steps, then ``--steps`` more resumed from them, timed per step (the SVI loop's own time);
the projection is that times the adaptation's default 100 steps. Issue 4's target: an adaptation <= 10 minutes on a 2-core CPU. Run it alone on
the machine: other jobs on the cores change the answer.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import torch

from probtok.adapt import AdaptConfig, adapt_files
from probtok.rollout_noise import NoiseChoice


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else whatever platform.processor() says."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.processor())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--micro", type=Path, required=True, help="micro fit folder (fit-micro)")
    ap.add_argument("--data", type=Path, required=True, help="meso run file")
    ap.add_argument("--train-runs", required=True, help="e.g. 3,7,13,14")
    ap.add_argument("--theta", default="frozen", choices=("frozen", "prior"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    runs = [int(r) for r in args.train_runs.split(",")]
    # the CPU count `probtok adapt` takes its default thread count from; the load says whether it ran alone
    print(f"{platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), load average {os.getloadavg()[0]:.1f}; "
          f"torch {torch.__version__}; {args.micro} on runs {runs} of {args.data}, theta {args.theta}")
    print("| torch threads | s per step | 100 steps [min] |\n| ---: | ---: | ---: |")
    for n in args.threads:
        torch.set_num_threads(n)
        with tempfile.TemporaryDirectory() as tmp:
            # two untimed steps (the first steps' one-off costs), then the timed ones resume from them; wall_s is
            # the SVI loop's own time (not the loading, not the kappa choice: one kappa given)
            for steps in (2, 2 + args.steps):
                res = adapt_files(args.micro, args.data, runs, Path(tmp), AdaptConfig(steps=steps, theta=args.theta),
                                  progress=False, noise_choice=NoiseChoice(kappas=[1.0]))
            per = res.wall_s / (res.step - res.resumed_from)
        print(f"| {n} | {per:.2f} | {per * 100 / 60:.1f} |", flush=True)


if __name__ == "__main__":
    main()
