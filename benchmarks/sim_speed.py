"""Speed of the JAX solver on the micro and meso default grids, float32 and float64.

Prints, per (scale, dtype): compile time (first call minus a warm call),
wall time per run after compilation (best of --reps), time steps, and
cell-updates per second (one full SSP-RK2 time step of one cell each).
Targets (issue 2, 2-core CPU): micro 64x64 <= 1 s per run, meso 128x192
<= 10 s, >= 5e6 cell-updates/s in float32 and >= 2e6 in float64.
The load average is printed too: other processes on the machine slow it down;
``per-cpu-s`` divides by the process CPU time instead (all threads), the rate
an otherwise idle machine would give if the run used one core.

Usage: python benchmarks/sim_speed.py [--reps 2] [--up 1.4] [--scales micro meso] [--dtypes float32 float64]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from probtok.sim.case import SCALES, Case
from probtok.sim.materials import DEFAULT_UP_RANGE_KMS
from probtok.sim.solver import SolverConfig, run_case


def pores(shape, dx_um: float, porosity: float, seed: int) -> np.ndarray:
    """Solid fraction (H, W) with random non-overlapping circular pores of radius 0.3-1.0 um."""
    rng = np.random.default_rng(seed)
    H, W = shape
    y, x = (np.mgrid[:H, :W] + 0.5) * dx_um
    mu = np.ones(shape)
    placed = []
    while 1.0 - mu.mean() < porosity and len(placed) < 500:
        r = rng.uniform(0.3, 1.0)
        cy, cx = rng.uniform(r, H * dx_um - r), rng.uniform(1.0 + r, W * dx_um - r)
        if all((cy - py) ** 2 + (cx - px) ** 2 > (r + pr + 0.2) ** 2 for py, px, pr in placed):
            placed.append((cy, cx, r))
            mu = np.minimum(mu, np.clip(np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / dx_um - r / dx_um + 0.5, 0, 1))
    return mu


def bench(scale_name: str, dtype: str, up: float, reps: int) -> dict:
    scale = SCALES[scale_name]
    H, W = scale.shape
    porosity = 0.03 if scale_name == "micro" else 0.08
    case = Case(scale_name, 0, scale, up, pores(scale.shape, scale.dx_um, porosity, seed=1))
    cfg = SolverConfig(dtype=dtype)
    t0 = time.perf_counter()
    first = run_case(case, cfg)
    t_first = time.perf_counter() - t0
    walls, cpus = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_case(case, cfg)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall, cpu = min(walls), min(cpus)
    return dict(scale=scale_name, shape=f"{H}x{W}", dtype=dtype, compile_s=t_first - wall, wall_s=wall,
                steps=res.n_steps, rate=res.n_steps * H * W / wall, cpu_rate=res.n_steps * H * W / cpu,
                ok=res.ok and first.ok,
                sim_ns=float(res.time_ns[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--up", type=float, default=float(np.mean(DEFAULT_UP_RANGE_KMS)), help="piston velocity [km/s]")
    ap.add_argument("--scales", nargs="+", default=["micro", "meso"], choices=sorted(SCALES))
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    args = ap.parse_args()
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()[0]:.1f}, Up {args.up} km/s")
    print(f"{'scale':6} {'grid':8} {'dtype':8} {'compile_s':>9} {'run_s':>7} {'steps':>6} {'sim_ns':>6} "
          f"{'cell-upd/s':>11} {'per-cpu-s':>10} ok")
    for scale in args.scales:
        for dtype in args.dtypes:
            r = bench(scale, dtype, args.up, args.reps)
            print(f"{r['scale']:6} {r['shape']:8} {r['dtype']:8} {r['compile_s']:9.2f} {r['wall_s']:7.2f} "
                  f"{r['steps']:6d} "
                  f"{r['sim_ns']:6.2f} {r['rate']:11.3g} {r['cpu_rate']:10.3g} {r['ok']}")
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
