"""Shared 1-D helpers of the solver verification tests (grids of one row, float64).

All 1-D tests use the same static options and n_frames so the compiled solver
is shared across test files (one compilation per grid length).
"""

from __future__ import annotations

import numpy as np

from probtok.sim.materials import Material
from probtok.sim.solver import OUT_NAMES, SolverConfig, initial_state, simulate

SLOT = {n: i for i, n in enumerate(OUT_NAMES)}
N_FRAMES = 3


def config(solid: Material, gas: Material, **kw) -> SolverConfig:
    kw.setdefault("piston_ramp_ns", 0.0)
    return SolverConfig(solid=solid, gas=gas, dtype="float64", react=False, **kw)


def riemann_run(left: dict, right: dict, n: int, length_um: float, x0_um: float, t_end_ns: float):
    """Shock tube: material 1 (left, x < x0) against material 2; returns (x centres, frame at t_end)."""
    solid = Material("left", gamma=left["gamma"], p_inf_gpa=left["p_inf"], rho0=left["rho"], p0_gpa=left["p"])
    gas = Material("right", gamma=right["gamma"], p_inf_gpa=right["p_inf"], rho0=right["rho"], p0_gpa=right["p"])
    cfg = config(solid, gas)
    dx = length_um / n
    x = (np.arange(n) + 0.5) * dx
    on_left = (x < x0_um)[None, :]
    mu = np.where(on_left, 1.0, 0.0)
    p = np.where(on_left, left["p"], right["p"])
    U0 = initial_state(mu, cfg, rho_solid=left["rho"], rho_gas=right["rho"], p=p, u=np.where(on_left, left["u"], right["u"]))
    out = simulate(U0, cfg, dx_um=dx, up_kms=0.0, dt_frame_ns=t_end_ns / (N_FRAMES - 1), n_frames=N_FRAMES)
    assert out["status"] == 0
    return x, out["frames"][-1, :, 0, :]
