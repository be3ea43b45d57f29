"""Exact solution of the 1-D Riemann problem for two stiffened gases.

Each side ``K`` (left ``L``, right ``R``) is a stiffened gas with its own
``gamma_K`` and ``p_inf_K``::

    p + gamma p_inf = (gamma - 1) rho e          (p_inf = 0: ideal gas)

With the shifted pressure ``pbar = p + p_inf`` a stiffened gas obeys the ideal
gas shock and rarefaction relations in ``pbar``, so the solution is Toro's
(*Riemann Solvers and Numerical Methods for Fluid Dynamics*, 3rd ed., ch. 4)
with ``p -> p + p_inf_K`` on each side. The star pressure is the root of::

    f(p) = f_L(p) + f_R(p) + (u_R - u_L) = 0
    f_K(p) = (p - p_K) sqrt(A_K / (p + p_inf_K + B_K))                 p > p_K (shock)
           = 2 c_K / (gamma_K - 1) [(pbar/pbar_K)^((gamma_K-1)/(2 gamma_K)) - 1]   otherwise
    A_K = 2 / ((gamma_K + 1) rho_K),  B_K = (gamma_K - 1)/(gamma_K + 1) pbar_K,
    c_K = sqrt(gamma_K pbar_K / rho_K)

``f`` is increasing and concave, found here by Newton's method safeguarded by
bisection inside a bracket (converged to 1e-14 relative). ``f`` is defined only
for ``p > -min(p_inf_L, p_inf_R)``; if the root lies below, the waves pull a
vacuum (cavitation), which this solver reports as an error.

Units: any consistent set. probtok uses rho [g/cm^3], u [km/s], p [GPa],
x [um], t [ns] (1 km/s = 1 um/ns; e in [GPa cm^3/g] = [MJ/kg] = [(km/s)^2]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from probtok.errors import ConfigError

_KEYS = ("rho", "u", "p", "gamma", "p_inf")
_HINT = "give each state as dict(rho=[g/cm^3], u=[km/s], p=[GPa], gamma=>1, p_inf=[GPa] >= 0)"


@dataclass(frozen=True)
class _Side:
    rho: float
    u: float
    p: float
    gamma: float
    p_inf: float

    @property
    def pbar(self) -> float:
        return self.p + self.p_inf

    @property
    def c(self) -> float:
        """Sound speed [km/s]."""
        return math.sqrt(self.gamma * self.pbar / self.rho)


@dataclass(frozen=True)
class RiemannWaves:
    """The wave structure of one Riemann problem (speeds in km/s = um/ns).

    For a shock on side K, ``head_K == tail_K`` is the shock speed; for a
    rarefaction, ``head_K`` is the fan edge facing the initial state K and
    ``tail_K`` the edge facing the star region. ``contact == u_star``.
    """

    p_star: float  # [GPa]
    u_star: float  # [km/s]
    rho_star_l: float  # left of the contact [g/cm^3]
    rho_star_r: float  # right of the contact [g/cm^3]
    shock_l: bool
    shock_r: bool
    head_l: float
    tail_l: float
    head_r: float
    tail_r: float


def _side(state: dict, name: str) -> _Side:
    if not isinstance(state, dict):
        raise ConfigError(f"{name} state must be a dict, got {type(state).__name__}", hint=_HINT)
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise ConfigError(f"{name} state lacks {', '.join(missing)}", hint=_HINT)
    try:
        s = _Side(*(float(state[k]) for k in _KEYS))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} state has a non-numeric value ({exc})", hint=_HINT) from exc
    if not all(math.isfinite(v) for v in (s.rho, s.u, s.p, s.gamma, s.p_inf)):
        raise ConfigError(f"{name} state has a non-finite value: {state}", hint=_HINT)
    if s.rho <= 0:
        raise ConfigError(f"{name} density must be > 0, got {s.rho}", field="rho", hint=_HINT)
    if s.gamma <= 1:
        raise ConfigError(f"{name} gamma must be > 1, got {s.gamma}", field="gamma", hint=_HINT)
    if s.p_inf < 0:
        raise ConfigError(f"{name} p_inf must be >= 0, got {s.p_inf}", field="p_inf", hint=_HINT)
    if s.pbar <= 0:
        raise ConfigError(
            f"{name} state has p + p_inf = {s.pbar} <= 0 (no sound speed)", field="p", hint=_HINT
        )
    return s


def _f_side(p: float, s: _Side) -> tuple[float, float]:
    """Toro's f_K(p) and its derivative for a stiffened gas."""
    pbar = p + s.p_inf
    if p > s.p:  # shock
        a = 2.0 / ((s.gamma + 1.0) * s.rho)
        b = (s.gamma - 1.0) / (s.gamma + 1.0) * s.pbar
        q = math.sqrt(a / (pbar + b))
        return (p - s.p) * q, q * (1.0 - 0.5 * (p - s.p) / (pbar + b))
    # rarefaction
    ratio = pbar / s.pbar
    if ratio <= 0.0:  # fan expanding to pbar = 0 (the vacuum limit): finite f, infinite slope
        return -2.0 * s.c / (s.gamma - 1.0), math.inf
    expo = (s.gamma - 1.0) / (2.0 * s.gamma)
    f = 2.0 * s.c / (s.gamma - 1.0) * (ratio**expo - 1.0)
    df = ratio ** (-(s.gamma + 1.0) / (2.0 * s.gamma)) / (s.rho * s.c)
    return f, df


def _solve_p_star(lft: _Side, rgt: _Side, rtol: float = 1e-14, max_iter: int = 200) -> float:
    du = rgt.u - lft.u

    def f(p):
        fl, dl = _f_side(p, lft)
        fr, dr = _f_side(p, rgt)
        return fl + fr + du, dl + dr

    p_min = -min(lft.p_inf, rgt.p_inf)  # f is defined for p >= p_min (pbar >= 0 on both sides)
    if f(p_min)[0] >= 0.0:  # even pbar_star = 0 on the softer side cannot stop the separation
        raise ConfigError(
            "the two states separate fast enough to create a vacuum (cavitation); "
            "the exact solver does not handle vacuum",
            hint="reduce u_R - u_L or raise the pressures",
        )
    # bracket [lo, hi] with f(lo) < 0 <= f(hi)
    lo = p_min
    hi = max(lft.p, rgt.p) + max(lft.pbar, rgt.pbar)
    while f(hi)[0] < 0.0:
        hi = hi + 2.0 * (hi - lo)
    # primitive-variable (acoustic) guess, clipped into the bracket
    p = 0.5 * (lft.p + rgt.p) - 0.125 * du * (lft.rho + rgt.rho) * (lft.c + rgt.c)
    if not (lo < p < hi):
        p = 0.5 * (lo + hi)
    for _ in range(max_iter):
        val, der = f(p)
        if val == 0.0:
            return p
        if val < 0.0:
            lo = p
        else:
            hi = p
        # f is increasing and concave: Newton converges; bisect when a step leaves the bracket
        p_new = p - val / der
        if not (lo < p_new < hi):
            p_new = 0.5 * (lo + hi)
        scale = abs(p_new) + min(lft.p_inf, rgt.p_inf) + 1e-300
        if abs(p_new - p) <= rtol * scale or hi - lo <= rtol * scale:
            return p_new
        p = p_new
    raise ConfigError(  # pragma: no cover - Newton+bisection converges on a bracket
        "exact Riemann solver did not converge", hint="check the states for extreme values"
    )


def _rho_behind(p_star: float, s: _Side) -> float:
    """Density behind the wave of side K at star pressure p_star [g/cm^3]."""
    ratio = (p_star + s.p_inf) / s.pbar
    if p_star > s.p:
        g = (s.gamma - 1.0) / (s.gamma + 1.0)
        return s.rho * (ratio + g) / (g * ratio + 1.0)
    return s.rho * ratio ** (1.0 / s.gamma)


def riemann_waves(left: dict, right: dict) -> RiemannWaves:
    """Star state and wave speeds of the Riemann problem ``left | right``.

    States are dicts ``rho`` [g/cm^3], ``u`` [km/s], ``p`` [GPa], ``gamma``,
    ``p_inf`` [GPa]. Raises ConfigError for invalid states or vacuum.
    """
    lft, rgt = _side(left, "left"), _side(right, "right")
    p_star = _solve_p_star(lft, rgt)
    fl, _ = _f_side(p_star, lft)
    fr, _ = _f_side(p_star, rgt)
    u_star = 0.5 * (lft.u + rgt.u) + 0.5 * (fr - fl)
    rho_l, rho_r = _rho_behind(p_star, lft), _rho_behind(p_star, rgt)
    shock_l, shock_r = p_star > lft.p, p_star > rgt.p
    if shock_l:
        s = lft.u - lft.c * math.sqrt(
            (lft.gamma + 1) / (2 * lft.gamma) * (p_star + lft.p_inf) / lft.pbar + (lft.gamma - 1) / (2 * lft.gamma)
        )
        head_l = tail_l = s
    else:
        c_star = math.sqrt(lft.gamma * (p_star + lft.p_inf) / rho_l)
        head_l, tail_l = lft.u - lft.c, u_star - c_star
    if shock_r:
        s = rgt.u + rgt.c * math.sqrt(
            (rgt.gamma + 1) / (2 * rgt.gamma) * (p_star + rgt.p_inf) / rgt.pbar + (rgt.gamma - 1) / (2 * rgt.gamma)
        )
        head_r = tail_r = s
    else:
        c_star = math.sqrt(rgt.gamma * (p_star + rgt.p_inf) / rho_r)
        head_r, tail_r = rgt.u + rgt.c, u_star + c_star
    return RiemannWaves(p_star, u_star, rho_l, rho_r, shock_l, shock_r, head_l, tail_l, head_r, tail_r)


def star_state(left: dict, right: dict) -> tuple[float, float]:
    """Star-region pressure [GPa] and velocity [km/s] of the Riemann problem ``left | right``."""
    w = riemann_waves(left, right)
    return w.p_star, w.u_star


def _fan(s: _Side, xi: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """State inside a rarefaction fan at similarity coordinate xi = (x - x0)/t.

    sign = +1 for the left fan (moves with u - c), -1 for the right fan.
    """
    g = s.gamma
    base = 2.0 / (g + 1.0) + sign * (g - 1.0) / ((g + 1.0) * s.c) * (s.u - xi)
    rho = s.rho * base ** (2.0 / (g - 1.0))
    u = 2.0 / (g + 1.0) * (sign * s.c + 0.5 * (g - 1.0) * s.u + xi)
    pbar = s.pbar * base ** (2.0 * g / (g - 1.0))
    return rho, u, pbar - s.p_inf


def exact_riemann(left: dict, right: dict, x: np.ndarray, t: float, x0: float = 0.0) -> dict[str, np.ndarray]:
    """Sample the exact solution at positions ``x`` [um] and time ``t`` [ns].

    The discontinuity starts at ``x0`` [um] at t = 0. Returns float64 arrays
    shaped like ``x``: ``rho`` [g/cm^3], ``u`` [km/s], ``p`` [GPa], ``e``
    (specific internal energy [MJ/kg], from each side's own EOS) and
    ``material`` (int8: 0 = left gas, 1 = right gas). At t = 0 it returns the
    initial states (x < x0 left, x >= x0 right).
    """
    lft, rgt = _side(left, "left"), _side(right, "right")
    x = np.asarray(x, dtype=np.float64)
    t = float(t)
    if not math.isfinite(t) or t < 0:
        raise ConfigError(f"time must be finite and >= 0, got {t}", hint="t is in ns")
    rho = np.empty_like(x)
    u = np.empty_like(x)
    p = np.empty_like(x)
    if t == 0.0:
        on_left = x < x0
        for mask, s in ((on_left, lft), (~on_left, rgt)):
            rho[mask], u[mask], p[mask] = s.rho, s.u, s.p
    else:
        w = riemann_waves(left, right)
        xi = (x - x0) / t
        on_left = xi < w.u_star
        # left of the contact: initial state | (fan) | star
        lft_init = on_left & (xi < w.head_l)
        lft_star = on_left & (xi >= w.tail_l)
        lft_fan = on_left & ~lft_init & ~lft_star
        rho[lft_init], u[lft_init], p[lft_init] = lft.rho, lft.u, lft.p
        rho[lft_star], u[lft_star], p[lft_star] = w.rho_star_l, w.u_star, w.p_star
        if lft_fan.any():
            rho[lft_fan], u[lft_fan], p[lft_fan] = _fan(lft, xi[lft_fan], +1.0)
        # right of the contact: star | (fan) | initial state
        rgt_init = ~on_left & (xi >= w.head_r)
        rgt_star = ~on_left & (xi < w.tail_r)
        rgt_fan = ~on_left & ~rgt_init & ~rgt_star
        rho[rgt_init], u[rgt_init], p[rgt_init] = rgt.rho, rgt.u, rgt.p
        rho[rgt_star], u[rgt_star], p[rgt_star] = w.rho_star_r, w.u_star, w.p_star
        if rgt_fan.any():
            rho[rgt_fan], u[rgt_fan], p[rgt_fan] = _fan(rgt, xi[rgt_fan], -1.0)
    gamma = np.where(on_left, lft.gamma, rgt.gamma)
    p_inf = np.where(on_left, lft.p_inf, rgt.p_inf)
    e = (p + gamma * p_inf) / ((gamma - 1.0) * rho)
    return {"rho": rho, "u": u, "p": p, "e": e, "material": np.where(on_left, 0, 1).astype(np.int8)}
