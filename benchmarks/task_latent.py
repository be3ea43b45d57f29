"""Where does a test run's task latent land? Prints, for an adapted (or from-scratch) meso model, the
training runs' q(c[n]) and, for each given test run, q(c | its first m frames after the fit's start
frame) as fitted at forecast time (:func:`probtok.predict.task_posterior`, the forecast's own code).

Why: the coupling network is trained on the task latents of the training runs only; a test run's c far
outside them makes it extrapolate, and a conditioned q(c) whose sd never leaves its starting value is
a start value, not a posterior width.

    python benchmarks/task_latent.py --model BENCH/models/K4_s0/meso-adapt --data meso.h5 \\
        --runs 24,26,27 --first-frames 3

Seconds per run (150 SVI steps on the first frames); prints a Markdown table.
"""

from __future__ import annotations

import argparse

import torch
from torch.nn import functional as F

from probtok.data import open_dataset
from probtok.predict import load_posterior, task_posterior


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an adapted or from-scratch meso model folder")
    ap.add_argument("--data", required=True, help="the meso file")
    ap.add_argument("--runs", required=True, help="test runs, e.g. 24,26,27")
    ap.add_argument("--first-frames", type=int, default=3, help="frames given (as probtok forecast)")
    args = ap.parse_args()
    post = load_posterior(args.model)
    if not post.adapted:
        raise SystemExit("a micro fit has no task latent")
    fmt = lambda v: "(" + ", ".join(f"{x:.3f}" for x in v.tolist()) + ")"  # noqa: E731
    print("| run | how | mean of c | sd of c |")
    print("|---|---|---|---|")
    locs, scales = post.guide.c_loc.detach(), F.softplus(post.guide.c_scale_raw.detach())
    for n, r in enumerate(post.meta.get("train_runs", [])):
        print(f"| {r} | q(c[n]) of this training run | {fmt(locs[n])} | {fmt(scales[n])} |")
    with open_dataset(args.data) as ds:
        for r in (int(s) for s in args.runs.split(",")):
            x = torch.as_tensor(ds.frames(r, post.spec.fields, frames=slice(0, args.first_frames)))
            c, how = task_posterior(post, args.data, r, post.normaliser.forward(x, field_axis=-3), seed=r)
            print(f"| {r} | {how} | " + (f"{fmt(c[0])} | {fmt(c[1])} |" if c is not None else "0 | 1 |"))


if __name__ == "__main__":
    main()
