"""Ghost cells (2 per side) for the primitive variables, each array indexed [y, x].

* left (x = 0): ``"piston"``: an inflow of shocked solid at the piston particle
  velocity ``up(t)``: the ghost cells hold the Rankine-Hugoniot state of the
  solid (material 0) shocked from rest to ``up(t)`` (pressure, solid density,
  ``u = up``; volume fraction, gas density, v and lam mirrored), so the
  material that enters the fixed grid is on the Hugoniot like the material the
  shock has crossed. (A mirrored "moving wall" ghost, tried first, fed in
  material with the entropy of the first ramp-compressed cells: 730 K instead
  of the Hugoniot's 1007 K at Up = 1.75 km/s, a spurious cold layer growing
  from the piston.) ``"moving_wall"`` keeps that mirrored ghost
  (``u_ghost = 2 up - u``): it feeds in the adjacent state, right for material
  already moving at ``up``. ``up = 0`` is a fixed reflective wall in both. ``up(t)`` ramps
  linearly from 0 to ``Up`` over ``t_ramp``; an instantaneous start
  over-heats the first cells (start-up entropy error).
* right: ``"outflow"`` (zero gradient) or ``"reflective"``.
* bottom/top (y): ``"reflective"``, ``"extrapolate"`` (zero gradient) or ``"periodic"``.
"""

from __future__ import annotations

import jax.numpy as jnp

from probtok.errors import ConfigError
from probtok.sim.fiveeq import A1, M1, P_, U_, V_

X_LEFT = ("piston", "moving_wall")
X_RIGHT = ("outflow", "reflective")
Y_SIDES = ("reflective", "extrapolate", "periodic")


def check_options(right: str, y: str, left: str = "piston") -> None:
    """Raise ConfigError for unknown boundary names."""
    if left not in X_LEFT:
        raise ConfigError(f"unknown left boundary {left!r}", field="bc_left", hint=f"use one of {X_LEFT}")
    if right not in X_RIGHT:
        raise ConfigError(f"unknown right boundary {right!r}", field="bc_right", hint=f"use one of {X_RIGHT}")
    if y not in Y_SIDES:
        raise ConfigError(f"unknown top/bottom boundary {y!r}", field="bc_y", hint=f"use one of {Y_SIDES}")


def piston_velocity(t, up, t_ramp):
    """Piston particle velocity [km/s] at time t [ns]: linear ramp 0 -> up over t_ramp [ns]."""
    frac = jnp.where(t_ramp > 0.0, jnp.clip(t / jnp.where(t_ramp > 0.0, t_ramp, 1.0), 0.0, 1.0), 1.0)
    return up * frac


def hugoniot_state(up, mp):
    """(P [GPa], rho [g/cm^3]) of material 0 shocked from rest (rho0, p0) to particle velocity up [km/s].

    Stiffened gas: ``Us = a + sqrt(a^2 + c0^2)``, ``a = (gamma + 1) up / 4``,
    ``P = p0 + rho0 Us up``, ``rho = rho0 Us / (Us - up)`` (see :mod:`probtok.sim.hugoniot`).
    """
    g, pinf, rho0, p0 = mp["gamma"][0], mp["p_inf_gpa"][0], mp["rho0"][0], mp["p0_gpa"][0]
    a = 0.25 * (g + 1.0) * up
    us = a + jnp.sqrt(a * a + g * (p0 + pinf) / rho0)
    return p0 + rho0 * us * up, rho0 * us / (us - up)


def pad_x(W, up_t, right: str, mp, left: str = "piston"):
    """Add 2 ghost columns on each side along x to each of the 7 primitive arrays."""
    p_h, rho_h = hugoniot_state(up_t, mp)
    inflow = up_t > 0.0
    if left == "moving_wall":
        out = []
        for i, w in enumerate(W):
            lft = w[:, 1::-1]
            rgt = jnp.repeat(w[:, -1:], 2, axis=1) if right == "outflow" else w[:, :-3:-1]
            if i == U_:
                lft = 2.0 * up_t - lft
                if right == "reflective":
                    rgt = -rgt
            out.append(jnp.concatenate([lft, w, rgt], axis=1))
        return tuple(out)
    out = []
    for i, w in enumerate(W):
        left = w[:, 1::-1]  # ghosts -2, -1 mirror cells 1, 0 (a reflective wall when up = 0)
        rgt = jnp.repeat(w[:, -1:], 2, axis=1) if right == "outflow" else w[:, :-3:-1]
        if i == U_:
            left = jnp.where(inflow, jnp.full_like(left, up_t), -left)
            if right == "reflective":
                rgt = -rgt
        elif i == P_:
            left = jnp.where(inflow, jnp.full_like(left, p_h), left)
        elif i == M1:
            left = jnp.where(inflow, W[A1][:, 1::-1] * rho_h, left)
        out.append(jnp.concatenate([left, w, rgt], axis=1))
    return tuple(out)


def pad_y(W, y: str):
    """Add 2 ghost rows on each side along y to each of the 7 primitive arrays."""
    out = []
    for i, w in enumerate(W):
        if y == "periodic":
            lo, hi = w[-2:], w[:2]
        elif y == "extrapolate":
            lo, hi = jnp.repeat(w[:1], 2, axis=0), jnp.repeat(w[-1:], 2, axis=0)
        else:
            lo, hi = w[1::-1], w[:-3:-1]
            if i == V_:
                lo, hi = -lo, -hi
        out.append(jnp.concatenate([lo, w, hi], axis=0))
    return tuple(out)
