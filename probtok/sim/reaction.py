"""Single-step Arrhenius reaction of the solid, exact exponential update.

``d lam / dt = k (1 - lam)``, ``k = Z exp(-Ta / T_solid)`` [1/ns]. With T frozen
over a step (operator splitting), the stiff ODE has the exact solution
``lam(t + dt) = 1 - (1 - lam) exp(-k dt)``: unconditionally stable, lam stays
in [0, 1]. The rate sees the SOLID temperature model only and only in
solid-dominated cells (``a1 > mu_min``): the gas temperature of mixed cells is
unphysical and must not ignite anything. The heat of reaction is part of the
stored energy (see ``fiveeq``), so the update changes only ``m1 lam``; the
pressure and the temperature rise through the equation of state.
"""

from __future__ import annotations

import jax.numpy as jnp

from probtok.sim import fiveeq
from probtok.sim.temperature import solid_temperature


def arrhenius_rate(T, mp):
    """Rate constant k [1/ns] of the solid at temperature T [K] (0 for T <= 0)."""
    Tpos = jnp.maximum(T, 1.0)
    return jnp.where(T > 0.0, mp["Z_per_ns"][0] * jnp.exp(-mp["Ta_K"][0] / Tpos), 0.0)


def exact_update(lam, k, dt):
    """lam after dt [ns] at constant rate constant k [1/ns]: ``1 - (1 - lam) exp(-k dt)``."""
    return 1.0 - (1.0 - lam) * jnp.exp(-k * dt)


def rate_constant(W, mp, mu_min: float = 0.5):
    """k [1/ns] per cell from primitive variables W (tuple): solid temperature, solid-dominated cells only."""
    T = solid_temperature(W[fiveeq.P_], W[fiveeq.M1], W[fiveeq.M2], W[fiveeq.A1], mp)
    return jnp.where(W[fiveeq.A1] > mu_min, arrhenius_rate(T, mp), 0.0)


def react(U, k, dt):
    """Advance lam over dt [ns] at rate constants k [1/ns] (H, W) in the conserved state U (7, H, W).

    The solver evaluates k at the start of the step (Lie splitting, first order
    in dt) and applies the exact update to the advected lam at its end.
    """
    m1 = U[fiveeq.M1]
    lam = jnp.clip(U[fiveeq.MLAM] / jnp.maximum(m1, 1e-30), 0.0, 1.0)
    return U.at[fiveeq.MLAM].set(m1 * exact_update(lam, k, dt))
