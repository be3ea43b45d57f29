"""Ghost cells (2 per side) for the primitive variables, each array indexed [y, x].

* left (x = 0): ``"piston"``: a wall moving at the piston particle velocity
  ``up(t)``: mirrored state with ``u_ghost = 2 up - u``, so the face velocity is
  exactly ``up`` and shocked material enters the domain (``up = 0``: a fixed
  reflective wall). ``up(t)`` ramps linearly from 0 to ``Up`` over ``t_ramp``;
  an instantaneous start over-heats the first cells (start-up entropy error).
* right: ``"outflow"`` (zero gradient) or ``"reflective"``.
* bottom/top (y): ``"reflective"``, ``"extrapolate"`` (zero gradient) or ``"periodic"``.
"""

from __future__ import annotations

import jax.numpy as jnp

from probtok.errors import ConfigError
from probtok.sim.fiveeq import U_, V_

X_RIGHT = ("outflow", "reflective")
Y_SIDES = ("reflective", "extrapolate", "periodic")


def check_options(right: str, y: str) -> None:
    """Raise ConfigError for unknown boundary names."""
    if right not in X_RIGHT:
        raise ConfigError(f"unknown right boundary {right!r}", field="bc_right", hint=f"use one of {X_RIGHT}")
    if y not in Y_SIDES:
        raise ConfigError(f"unknown top/bottom boundary {y!r}", field="bc_y", hint=f"use one of {Y_SIDES}")


def piston_velocity(t, up, t_ramp):
    """Piston particle velocity [km/s] at time t [ns]: linear ramp 0 -> up over t_ramp [ns]."""
    frac = jnp.where(t_ramp > 0.0, jnp.clip(t / jnp.where(t_ramp > 0.0, t_ramp, 1.0), 0.0, 1.0), 1.0)
    return up * frac


def pad_x(W, up_t, right: str):
    """Add 2 ghost columns on each side along x to each of the 7 primitive arrays."""
    out = []
    for i, w in enumerate(W):
        left = w[:, 1::-1]  # ghosts -2, -1 mirror cells 1, 0
        rgt = jnp.repeat(w[:, -1:], 2, axis=1) if right == "outflow" else w[:, :-3:-1]
        if i == U_:
            left = 2.0 * up_t - left
            if right == "reflective":
                rgt = -rgt
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
