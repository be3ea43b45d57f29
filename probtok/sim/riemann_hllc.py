"""HLLC approximate Riemann solver for the five-equation model (Toro, ch. 10;
Coralic & Colonius, J. Comput. Phys. 274, 2014).

Wave speeds: Davis bounds ``S_L = min(u_L - c_L, u_R - c_R)``,
``S_R = max(u_L + c_L, u_R + c_R)`` with the frozen mixture sound speed.
The flux is written once for the upwind side K of the contact
(K = L if S* >= 0 else R) as ``F = F_K + S_K^* (U*_K - U_K)`` with
``S_K^* = min(S_L, 0)`` or ``max(S_R, 0)``, which covers the supersonic cases.
Every advected quantity then moves with one face velocity
``u_f = u_K + S_K^* (xi_K - 1)``, ``xi_K = (S_K - u_K)/(S_K - S*)``:
``F(m_k) = m_k,K u_f``, ``F(a1) = a1_K u_f``; the five-equation source uses the same ``u_f``.
"""

from __future__ import annotations

import jax.numpy as jnp

from probtok.sim import eos, fiveeq


def hllc_flux(WL, WR, mp, normal_axis: str):
    """Numerical fluxes and face velocity between primitive face states.

    ``WL``, ``WR``: tuples (m1, m2, u, v, p, lam, a1) of arrays. ``normal_axis``
    "x" (faces normal to x, normal velocity u) or "y" (normal velocity v).
    Returns (fluxes, u_f): fluxes is a tuple in the conserved layout of
    ``fiveeq`` (m1, m2, rho u, rho v, E, m1 lam, a1 u_f) [per um^2 per ns].
    """
    n_i, t_i = (fiveeq.U_, fiveeq.V_) if normal_axis == "x" else (fiveeq.V_, fiveeq.U_)

    def side(W):
        rho = W[fiveeq.M1] + W[fiveeq.M2]
        c = eos.sound_speed(rho, W[fiveeq.P_], W[fiveeq.A1], mp)
        return rho, W[n_i], W[fiveeq.P_], c

    rL, uL, pL, cL = side(WL)
    rR, uR, pR, cR = side(WR)
    SL = jnp.minimum(uL - cL, uR - cR)
    SR = jnp.maximum(uL + cL, uR + cR)
    dL, dR = rL * (SL - uL), rR * (SR - uR)
    s_star = (pR - pL + uL * dL - uR * dR) / (dL - dR)

    left = s_star >= 0.0
    pick = lambda a, b: jnp.where(left, a, b)  # noqa: E731
    W = [pick(a, b) for a, b in zip(WL, WR)]
    m1, m2, p, lam, a1 = W[fiveeq.M1], W[fiveeq.M2], W[fiveeq.P_], W[fiveeq.LAM], W[fiveeq.A1]
    un, ut = W[n_i], W[t_i]
    rho = m1 + m2
    S = pick(SL, SR)
    s_k = pick(jnp.minimum(SL, 0.0), jnp.maximum(SR, 0.0))
    xi = (S - un) / (S - s_star)
    uf = un + s_k * (xi - 1.0)
    E = fiveeq.total_energy(m1, m2, W[fiveeq.U_], W[fiveeq.V_], p, lam, a1, mp)
    f_mom_n = rho * un * un + p + s_k * rho * (xi * s_star - un)
    f_mom_t = rho * ut * uf
    f_E = un * (E + p) + s_k * (xi * (E + (s_star - un) * (rho * s_star + p / (S - un))) - E)
    f_m1 = m1 * uf
    mom = (f_mom_n, f_mom_t) if normal_axis == "x" else (f_mom_t, f_mom_n)
    return (f_m1, m2 * uf, mom[0], mom[1], f_E, f_m1 * lam, a1 * uf), uf
