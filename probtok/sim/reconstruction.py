"""MUSCL reconstruction of primitive variables with a slope limiter.

Primitive (not conserved) variables are reconstructed: with p and u
reconstructed directly, an interface in uniform pressure and velocity gives
uniform face pressure and velocity (no spurious pressure oscillations).
Positivity: a cell whose reconstructed face states would have a negative
partial density or a pressure below the floor falls back to first order
(zero slope in every variable); face volume fractions and lam are clamped.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from probtok.sim import fiveeq


def minmod(a, b):
    """Minmod limiter: the smaller one-sided slope, 0 at extrema (most dissipative TVD)."""
    # selects, not the textbook sign() form: jnp.sign made the whole right-hand side 2.5x slower on XLA:CPU
    return jnp.where(a * b > 0.0, jnp.where(jnp.abs(a) < jnp.abs(b), a, b), 0.0)


def monotonized_central(a, b):
    """MC limiter: minmod(2a, 2b, (a + b)/2) (sharp, still TVD)."""
    return minmod(minmod(2.0 * a, 2.0 * b), 0.5 * (a + b))


def van_leer(a, b):
    """Van Leer limiter: harmonic mean of the one-sided slopes, 0 at extrema."""
    ab = a * b
    return jnp.where(ab > 0.0, 2.0 * ab / jnp.where(ab > 0.0, a + b, 1.0), 0.0)


LIMITERS = {"minmod": minmod, "mc": monotonized_central, "vanleer": van_leer}


def _sl(x, start, stop, axis):
    return lax.slice_in_dim(x, start, stop, axis=axis)


def muscl_faces(Wp, axis: int, limiter: str, eps: float):
    """Left/right face states along ``axis`` from padded primitives.

    ``Wp`` is a sequence of the 7 primitive arrays, each with 2 ghost cells on
    each side along ``axis`` (n + 4 cells); returns ``(WL, WR)``, tuples of 7
    arrays with n + 1 faces along ``axis``: face f lies between interior cells
    f - 1 and f (face 0 is the low boundary).
    """
    lim = LIMITERS[limiter]
    n = Wp[0].shape[axis] - 4
    centre, slopes = [], []
    for w in Wp:
        d = jnp.diff(w, axis=axis)  # n + 3 differences
        slopes.append(lim(_sl(d, 0, n + 2, axis), _sl(d, 1, n + 3, axis)))  # cells 1 .. n+2
        centre.append(_sl(w, 1, n + 3, axis))
    bad = None
    for i, floor in ((fiveeq.M1, 0.0), (fiveeq.M2, 0.0), (fiveeq.P_, fiveeq.P_FLOOR)):
        half = 0.5 * jnp.abs(slopes[i])
        b = centre[i] - half < floor if floor == 0.0 else centre[i] - half <= floor
        bad = b if bad is None else bad | b
    WL, WR = [], []
    for i, (wc, s) in enumerate(zip(centre, slopes)):
        s = jnp.where(bad, 0.0, s)
        hi, lo = _sl(wc + 0.5 * s, 0, n + 1, axis), _sl(wc - 0.5 * s, 1, n + 2, axis)
        if i == fiveeq.A1:
            hi, lo = jnp.clip(hi, eps, 1.0 - eps), jnp.clip(lo, eps, 1.0 - eps)
        elif i == fiveeq.LAM:
            hi, lo = jnp.clip(hi, 0.0, 1.0), jnp.clip(lo, 0.0, 1.0)
        WL.append(hi)
        WR.append(lo)
    return tuple(WL), tuple(WR)
