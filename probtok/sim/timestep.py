"""SSP-RK2 (Shu-Osher) stages, CFL-adaptive time step, health checks.

``U1 = U0 + dt L(U0)``, ``U2 = (U0 + U1 + dt L(U1)) / 2``; ``solver`` runs one
stage per loop iteration (one right-hand side in the compiled graph).

``dt = cfl * dx / max((|u| + c) + (|v| + c))`` (the unsplit 2-D bound; the y
term is dropped on one-row grids), c the frozen mixture sound speed.
After each stage the state is clamped (volume fraction, partial densities,
lam; see ``fiveeq.clamp``); a step that leaves a non-finite value or a
non-positive density is flagged (:data:`STATUS`) and the run stops there.
"""

from __future__ import annotations

import jax.numpy as jnp

from probtok.sim import eos, fiveeq

#: status codes of a run (0 = fine)
STATUS = {
    0: "ok",
    1: "non-finite state (NaN/Inf)",
    2: "positivity lost (non-positive density)",
    3: "step limit reached before the last frame",
    4: "time step collapsed (dt < 1e-9 frame interval)",
}


def cfl_dt(W, mp, dx, cfl, two_d: bool):
    """Largest stable dt [ns] for primitive state W (7, H, W), cell size dx [um]."""
    rho = W[fiveeq.M1] + W[fiveeq.M2]
    c = eos.sound_speed(rho, W[fiveeq.P_], W[fiveeq.A1], mp)
    speed = jnp.abs(W[fiveeq.U_]) + c
    if two_d:
        speed = speed + jnp.abs(W[fiveeq.V_]) + c
    return cfl * dx / jnp.max(speed)


def rk2_stage1(U0, dU0, dt, eps: float):
    """First SSP-RK2 stage (forward Euler), clamped."""
    return fiveeq.clamp(U0 + dt * dU0, eps)


def rk2_stage2(U0, U1, dU1, dt, eps: float):
    """Second SSP-RK2 stage (average of U0 and a forward Euler step from U1), clamped."""
    return fiveeq.clamp(0.5 * U0 + 0.5 * (U1 + dt * dU1), eps)


def health(U):
    """Status code of a state: 0 ok, 1 non-finite, 2 non-positive density."""
    finite = jnp.all(jnp.isfinite(U))
    positive = jnp.min(U[fiveeq.M1] + U[fiveeq.M2]) > 0.0
    return jnp.where(finite, jnp.where(positive, 0, 2), 1).astype(jnp.int32)
