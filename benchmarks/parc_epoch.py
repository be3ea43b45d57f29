"""Cost of the PARC baseline on meso-sized data: parameters, seconds per step and per epoch.

Prints figures only (no pass/fail). An epoch of train_parc visits every
training run once (``runs / batch_size`` optimiser steps at the current
rollout horizon) plus one validation rollout per validation run.

    python benchmarks/parc_epoch.py --threads 2 --runs 30 --height 128 --width 192
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from probtok.baselines import PARC, ParcConfig, count_parameters
from probtok.baselines.parc_train import l1_rollout_loss, validation_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30, help="training runs per epoch")
    ap.add_argument("--val-runs", type=int, default=6)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=192)
    ap.add_argument("--horizons", type=int, nargs="+", default=None, help="default: 1 and horizon_max")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=36, help="frames per run for --full-epoch")
    ap.add_argument("--no-checkpoint", action="store_true", help="train without gradient checkpointing")
    ap.add_argument("--full-epoch", action="store_true",
                    help="also time one real train_parc epoch at the full horizon on random runs (CPU)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ParcConfig(time_scale=1.0, grad_checkpoint=not args.no_checkpoint)
    model = PARC(cfg).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    b, hgt, wid = cfg.batch_size, args.height, args.width
    steps = -(-args.runs // b)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, grid {hgt}x{wid}")
    print(f"parameters: {count_parameters(model)}  config: unet_widths={cfg.unet_widths} "
          f"mar_hidden={cfg.mar_hidden} advection={cfg.advection} substeps={cfg.substeps}")
    horizons = args.horizons or [1, cfg.horizon_max]
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    for h in horizons:
        x = torch.randn(b, h + 1, cfg.n_state, hgt, wid, device=args.device)
        v = torch.randn(b, h + 1, 2, hgt, wid, device=args.device) * 0.1
        times = []
        for _ in range(args.repeats + 1):  # first call warms up
            sync()
            t0 = time.perf_counter()
            loss = l1_rollout_loss(model, x, v, 1.0, checkpoint=cfg.grad_checkpoint)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sync()
            times.append(time.perf_counter() - t0)
        step = min(times[1:])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(f"horizon {h}: {step:.2f} s per step (batch {b}) -> {step * steps:.1f} s per epoch of {args.runs} runs"
              f"  [peak RSS so far {peak:.2f} GB, grad_checkpoint={cfg.grad_checkpoint}]")
    vh = cfg.val_horizon or cfg.horizon_max
    vx = torch.randn(args.val_runs, vh + 1, cfg.n_state, hgt, wid, device=args.device)
    vv = torch.randn(args.val_runs, vh + 1, 2, hgt, wid, device=args.device) * 0.1
    sync()
    t0 = time.perf_counter()
    validation_loss(model.eval(), vx, vv, 1.0, vh, b)
    sync()
    print(f"validation ({args.val_runs} runs x {vh} frames): {time.perf_counter() - t0:.1f} s per epoch")
    with torch.no_grad():
        sync()
        t0 = time.perf_counter()
        model.rollout(vx[:1, 0], vv[:1, 0], 36, 1.0)
        sync()
    print(f"forecast of one run, 36 frames: {time.perf_counter() - t0:.2f} s")
    if args.full_epoch:
        import dataclasses

        from probtok.baselines import train_parc

        g = torch.Generator().manual_seed(0)
        shape = (args.runs, args.frames)
        x = torch.rand(*shape, cfg.n_state, hgt, wid, generator=g)
        v = torch.rand(*shape, 2, hgt, wid, generator=g) - 0.5
        val = (x[: args.val_runs], v[: args.val_runs])
        one = dataclasses.replace(cfg, time_scale=None, max_epochs=1, horizon_start=cfg.horizon_max)
        _, hist = train_parc(x, v, 1.0, one, val=val, progress=False)
        print(f"train_parc epoch at horizon {hist['horizon'][0]} ({args.runs} runs, {args.val_runs} val runs): "
              f"{hist['epoch_wall_s'][0]:.1f} s")


if __name__ == "__main__":
    main()
