"""Fixed finite-difference stencils on a 2-D grid (torch), for PARC's explicit terms.

All operators act on tensors ``(batch, channel, y, x)`` in grid units: a
gradient is per cell, a Laplacian per cell^2. Physical spacing and time scales
are absorbed by the learned coefficients that multiply these terms.

Boundaries are set by padding one ghost cell: ``"circular"`` (periodic),
``"replicate"`` (zero normal gradient, the usual choice for PARC's meso runs,
whose walls are outflow/symmetry boundaries) or ``"reflect"`` (mirror).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PADDINGS = ("circular", "replicate", "reflect")


def pad1(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Pad one ghost cell on every side of ``x`` (batch, ch, y, x) with boundary ``mode``."""
    return F.pad(x, (1, 1, 1, 1), mode=mode)


def upwind_advection(x: torch.Tensor, u: torch.Tensor, v: torch.Tensor, mode: str) -> torch.Tensor:
    """First-order upwind ``u dx/dx + v dx/dy`` per channel.

    x : (B, C, H, W) advected fields; u, v : velocity components along x (last
    axis, W) and y (H) in cells per time unit, broadcastable to x (one
    velocity for all channels, or one per channel). Returns (B, C, H, W).
    The one-sided difference is picked from the sign of the velocity that
    actually multiplies it (so a learned coefficient that flips the velocity
    still gets an upwind, stable stencil). Monotone but first order: it adds
    a numerical diffusion of about |u|/2 cell^2 per time unit.
    """
    p = pad1(x, mode)
    c = p[..., 1:-1, 1:-1]
    dx_minus = c - p[..., 1:-1, :-2]
    dx_plus = p[..., 1:-1, 2:] - c
    dy_minus = c - p[..., :-2, 1:-1]
    dy_plus = p[..., 2:, 1:-1] - c
    ddx = torch.where(u > 0, dx_minus, dx_plus)
    ddy = torch.where(v > 0, dy_minus, dy_plus)
    return u * ddx + v * ddy


def central_advection(x: torch.Tensor, u: torch.Tensor, v: torch.Tensor, mode: str) -> torch.Tensor:
    """Second-order central ``u dx/dx + v dx/dy`` per channel (arguments as :func:`upwind_advection`).

    No numerical diffusion, so it suits smooth fields; RK4 keeps it stable for
    Courant numbers below about 2.8 per integration step.
    """
    p = pad1(x, mode)
    ddx = 0.5 * (p[..., 1:-1, 2:] - p[..., 1:-1, :-2])
    ddy = 0.5 * (p[..., 2:, 1:-1] - p[..., :-2, 1:-1])
    return u * ddx + v * ddy


ADVECTION_SCHEMES = {"upwind": upwind_advection, "central": central_advection}


def laplacian(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Five-point Laplacian of every channel of ``x`` (B, C, H, W), per cell^2."""
    p = pad1(x, mode)
    c = p[..., 1:-1, 1:-1]
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:] - 4.0 * c
