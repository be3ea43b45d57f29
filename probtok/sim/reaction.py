"""Single-step Arrhenius reaction of the solid, exact exponential update.

``d lam / dt = k (1 - lam)``, ``k = Z exp(-Ta / T_solid)`` [1/ns]. With k frozen
over a step (operator splitting), the stiff ODE has the exact solution
``lam(t + dt) = 1 - (1 - lam) exp(-k dt)``: unconditionally stable, lam stays
in [0, 1]. The self-heating feedback is taken second-order accurate by a
predictor-corrector on k: predict lam with k(T), raise T by the constant-volume
heat release ``d lam Q / c_v``, correct with the mean of both rates.
The rate sees the SOLID temperature model only and only in
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


def reacting_temperature(W, mp, mu_min: float = 0.5):
    """Solid temperature [K] where the solid may react (``a1 > mu_min``), 0 elsewhere (rate 0)."""
    T = solid_temperature(W[fiveeq.P_], W[fiveeq.M1], W[fiveeq.M2], W[fiveeq.A1], mp)
    return jnp.where(W[fiveeq.A1] > mu_min, T, 0.0)


def rate_constant(W, mp, mu_min: float = 0.5):
    """k [1/ns] per cell from primitive variables W (tuple): solid temperature, solid-dominated cells only."""
    return arrhenius_rate(reacting_temperature(W, mp, mu_min), mp)


def react(U, T_react, dt, mp):
    """Advance lam over dt [ns] in the conserved state U (7, H, W).

    ``T_react`` (H, W) [K] is :func:`reacting_temperature` at the start of the
    step (0 where the solid may not react); lam is the transported one at its end.
    """
    m1 = U[fiveeq.M1]
    lam = jnp.clip(U[fiveeq.MLAM] / jnp.maximum(m1, 1e-30), 0.0, 1.0)
    k0 = arrhenius_rate(T_react, mp)
    lam_pred = exact_update(lam, k0, dt)
    T_pred = jnp.where(T_react > 0.0, T_react + (lam_pred - lam) * mp["Q_MJ_kg"][0] / mp["cv"][0], 0.0)
    k = 0.5 * (k0 + arrhenius_rate(T_pred, mp))
    return U.at[fiveeq.MLAM].set(m1 * exact_update(lam, k, dt))
