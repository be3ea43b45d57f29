"""Hot spots of a single circular pore (micro set-up) versus piston velocity and pore size.

For each (Up, pore radius) prints: peak solid temperature (cells with mu > 0.5)
over the run, bulk shocked solid temperature, the reacted area sum(lam) dx^2
[um^2] at 3/4 of the run and at its end, the hot-spot area (T > 875 K) at the
end, and a verdict: "inert" (reacted area < 0.001 um^2, a tenth of a cell),
"quenched" (something reacted but the reacted area grew < 20 % over the last
quarter of the run) or "grows" (>= 20 %).
This is the evidence behind ``DEFAULT_UP_RANGE_KMS`` and the reaction numbers
of ``probtok.sim.materials``.

Usage: python scripts/hotspot_check.py [--up 1.0 1.5 2.0] [--radius 0.4 0.8] [--q 5.0] [--z 4.4e14]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from probtok.sim.case import MICRO, Case
from probtok.sim.materials import HMX
from probtok.sim.solver import SolverConfig, run_case


def circle_mu(shape, dx_um: float, radius_um: float, centre_um) -> np.ndarray:
    """Solid fraction (H, W) with one circular pore, area-weighted at its edge (sub-sampled 4x4)."""
    H, W = shape
    sub = 4
    o = (np.arange(sub) + 0.5) / sub
    yy = (np.arange(H)[:, None, None, None] + o[None, None, :, None]) * dx_um
    xx = (np.arange(W)[None, :, None, None] + o[None, None, None, :]) * dx_um
    inside = (xx - centre_um[1]) ** 2 + (yy - centre_um[0]) ** 2 < radius_um**2
    return 1.0 - inside.mean(axis=(2, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--up", type=float, nargs="+", default=[1.0, 1.4, 1.8, 2.2])
    ap.add_argument("--radius", type=float, nargs="+", default=[0.4, 0.8], help="pore radius [um]")
    ap.add_argument("--q", type=float, default=HMX.Q_MJ_kg, help="heat of reaction [MJ/kg]")
    ap.add_argument("--z", type=float, default=HMX.Z_per_s, help="Arrhenius pre-factor [1/s]")
    ap.add_argument("--ta", type=float, default=HMX.Ta_K, help="activation temperature [K]")
    ap.add_argument("--frames", type=int, default=MICRO.n_frames)
    ap.add_argument("--dt-frame", type=float, default=MICRO.dt_frame_ns)
    args = ap.parse_args()

    from dataclasses import replace

    scale = replace(MICRO, n_frames=args.frames, dt_frame_ns=args.dt_frame)
    cfg = SolverConfig(solid=HMX.with_(Q_MJ_kg=args.q, Z_per_s=args.z, Ta_K=args.ta))
    H, W = scale.shape
    dx = scale.dx_um
    print(f"grid {H}x{W}, dx {dx} um, {scale.n_frames} frames x {scale.dt_frame_ns} ns; "
          f"Q {args.q} MJ/kg, Z {args.z:.3g} 1/s, Ta {args.ta} K")
    print(f"{'Up':>5} {'R_um':>5} {'T_bulk':>7} {'T_peak':>7} {'t_peak':>6} {'A_lam@3/4':>9} {'A_lam_end':>9} "
          f"{'A_hs_end':>8} {'verdict':>9} {'wall_s':>6}")
    for up in args.up:
        for radius in args.radius:
            mu = circle_mu((H, W), dx, radius, (H * dx / 2, W * dx / 2))
            t0 = time.perf_counter()
            res = run_case(Case("micro", 0, scale, up, mu), cfg)
            wall = time.perf_counter() - t0
            if not res.ok:
                print(f"{up:5.2f} {radius:5.2f} FAILED: {res.failure}")
                continue
            T, m, lam = res.fields["T"], res.fields["mu"], res.fields["lam"]
            solid_T = np.where(m > 0.5, T, 0.0)
            peak = solid_T.max(axis=(1, 2))
            kpk = int(np.argmax(peak))
            bulk = float(np.median(solid_T[scale.n_frames // 2][: H // 8, W // 4 : W // 2]))
            area = lam.sum(axis=(1, 2)) * dx * dx
            q3 = area[(3 * scale.n_frames) // 4]
            if area[-1] < 1e-3:
                verdict = "inert"
            else:
                verdict = "grows" if area[-1] >= 1.2 * q3 else "quenched"
            a_hs = (T[-1] > 875.0).sum() * dx * dx
            print(f"{up:5.2f} {radius:5.2f} {bulk:7.0f} {peak.max():7.0f} {res.time_ns[kpk]:6.2f} {q3:9.4f} "
                  f"{area[-1]:9.4f} {a_hs:8.2f} {verdict:>9} {wall:6.2f}")


if __name__ == "__main__":
    main()
