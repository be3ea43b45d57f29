"""Finite-volume right-hand side dU/dt of the five-equation model on a uniform grid.

Unsplit: x and y fluxes from the same state, MUSCL faces, HLLC fluxes::

    dU/dt = -(F_{i+1/2} - F_{i-1/2}) / dx - (G_{j+1/2} - G_{j-1/2}) / dy
    d a1/dt gets in addition (a1 + K) * div(u_f)    (u_f: HLLC face velocities)

A grid with a single row (H = 1) is one-dimensional: no y fluxes.
"""

from __future__ import annotations

import jax.numpy as jnp

from probtok.sim import boundaries, fiveeq
from probtok.sim.reconstruction import muscl_faces
from probtok.sim.riemann_hllc import hllc_flux


def rhs(U, up_t, mp, dx, *, limiter: str, bc_right: str, bc_y: str, eps: float, bc_left: str = "piston"):
    """dU/dt (7, H, W) for conserved U (7, H, W); ``up_t`` piston velocity now [km/s], dx [um].

    Returns (dU/dt, W) with W the tuple of primitive arrays of U (reused for the time step).
    """
    W = fiveeq.primitives(U, mp)
    WL, WR = muscl_faces(boundaries.pad_x(W, up_t, bc_right, mp, bc_left), axis=1, limiter=limiter, eps=eps)
    F, uf = hllc_flux(WL, WR, mp, "x")
    div = [(f[:, 1:] - f[:, :-1]) for f in F]
    div_u = uf[:, 1:] - uf[:, :-1]
    if U.shape[1] > 1:
        GL, GR = muscl_faces(boundaries.pad_y(W, bc_y), axis=0, limiter=limiter, eps=eps)
        G, vf = hllc_flux(GL, GR, mp, "y")
        div = [d + (g[1:] - g[:-1]) for d, g in zip(div, G)]
        div_u = div_u + (vf[1:] - vf[:-1])
    a1 = W[fiveeq.A1]
    K = fiveeq.k_coefficient(W[fiveeq.P_], a1, mp)
    div[fiveeq.A1] = div[fiveeq.A1] - (a1 + K) * div_u
    return -jnp.stack(div) / dx, W
