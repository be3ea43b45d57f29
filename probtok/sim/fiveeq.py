"""The Kapila five-equation two-phase model (solid = phase 1, pore gas = phase 2).

Conserved state ``U`` (shape (7, H, W)), per unit volume::

    0 m1 = a1 rho1     solid partial density [g/cm^3]
    1 m2 = a2 rho2     gas partial density [g/cm^3]
    2 rho u, 3 rho v   momentum [g/cm^3 km/s]
    4 E                total energy [GPa], chemical energy included: E = rho e + rho|u|^2/2,
                       rho e = rho e_th - m1 lam Q  (the heat of reaction is stored, so E is conserved
                       by the reaction too)
    5 m1 lam           reacted solid mass [g/cm^3], lam advected with the solid
    6 a1 = mu          solid volume fraction (non-conservative)

Primitive state ``W`` (same layout): m1, m2, u, v, p [GPa], lam, a1.

Volume fraction equation (Kapila et al., Phys. Fluids 13, 2001)::

    d a1/dt + u . grad a1 = K div u,   K = a1 a2 (Z2 - Z1) / (a1 Z2 + a2 Z1),  Z_k = rho_k c_k^2

discretised as ``-div(a1 u_f) + (a1 + K) div(u_f)`` with the HLLC face velocity
``u_f`` of the mass fluxes (Coralic & Colonius, J. Comput. Phys. 274, 2014), so a
uniform ``a1`` and an interface in uniform (p, u) stay exact. ``K div u`` can push
``a1`` out of [0, 1]; :func:`clamp` restores ``[eps, 1 - eps]``.
"""

from __future__ import annotations

import jax.numpy as jnp

from probtok.sim import eos

NVAR = 7
M1, M2, MOMX, MOMY, ENER, MLAM, A1 = range(NVAR)
# primitive indices (same slots): velocities, pressure and lam replace momentum, energy, m1 lam
U_, V_, P_, LAM = MOMX, MOMY, ENER, MLAM

#: pressure floor [GPa]: the pore gas (p_inf = 0) needs p > 0 for a real sound speed.
P_FLOOR = 1e-9
_TINY_MASS = 1e-30


def primitives(U, mp):
    """Primitive variables (m1, m2, u, v, p, lam, a1) of conserved U (7, ...), as a tuple of arrays.

    The pressure is floored at :data:`P_FLOOR`.
    """
    m1, m2, a1 = U[M1], U[M2], U[A1]
    rho = m1 + m2
    u, v = U[MOMX] / rho, U[MOMY] / rho
    lam = jnp.clip(U[MLAM] / jnp.maximum(m1, _TINY_MASS), 0.0, 1.0)
    rho_e_th = U[ENER] - 0.5 * rho * (u * u + v * v) + m1 * lam * mp["Q_MJ_kg"][0]
    p = jnp.maximum(eos.pressure(rho_e_th, a1, mp), P_FLOOR)
    return (m1, m2, u, v, p, lam, a1)


def cons_to_prim(U, mp):
    """Primitive state W (7, ...) from conserved U (7, ...); pressure floored at :data:`P_FLOOR`."""
    return jnp.stack(primitives(U, mp))


def total_energy(m1, m2, u, v, p, lam, a1, mp):
    """Total energy per volume E [GPa] (thermal - chemical + kinetic) of primitive variables."""
    rho = m1 + m2
    return eos.thermal_energy(p, a1, mp) - m1 * lam * mp["Q_MJ_kg"][0] + 0.5 * rho * (u * u + v * v)


def prim_to_cons(W, mp):
    """Conserved state U from primitive W (both (7, ...))."""
    m1, m2, u, v, p, lam, a1 = (W[i] for i in range(NVAR))
    rho = m1 + m2
    E = total_energy(m1, m2, u, v, p, lam, a1, mp)
    return jnp.stack([m1, m2, rho * u, rho * v, E, m1 * lam, a1])


def k_coefficient(p, a1, mp):
    """Kapila's K [1] of the volume-fraction source ``K div u``."""
    z1, z2 = eos.phase_stiffness(p, mp)
    a2 = 1.0 - a1
    return a1 * a2 * (z2 - z1) / (a1 * z2 + a2 * z1)


def clamp(U, eps: float):
    """Keep a1 in [eps, 1 - eps], partial densities >= 0 and lam in [0, 1]."""
    m1 = jnp.maximum(U[M1], 0.0)
    m2 = jnp.maximum(U[M2], 0.0)
    mlam = jnp.clip(U[MLAM], 0.0, m1)
    a1 = jnp.clip(U[A1], eps, 1.0 - eps)
    return U.at[M1].set(m1).at[M2].set(m2).at[MLAM].set(mlam).at[A1].set(a1)


def initial_state(mu, rho_solid, rho_gas, p, u=0.0, v=0.0, lam=0.0, *, mp, eps: float):
    """Conserved U for a solid fraction field ``mu`` (H, W) at uniform or given (p, u, v, lam).

    Phase densities ``rho_solid``, ``rho_gas`` [g/cm^3], pressure ``p`` [GPa],
    velocities [km/s]; every argument broadcasts to ``mu``'s shape.
    """
    a1 = jnp.clip(mu, eps, 1.0 - eps)
    shape = a1.shape
    b = lambda x: jnp.broadcast_to(jnp.asarray(x, a1.dtype), shape)  # noqa: E731
    W = jnp.stack([a1 * b(rho_solid), (1.0 - a1) * b(rho_gas), b(u), b(v), b(p), b(lam), a1])
    return prim_to_cons(W, mp)
