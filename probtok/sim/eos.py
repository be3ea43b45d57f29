"""Stiffened-gas pressure law of each phase and of the five-equation mixture.

Each phase k obeys ``p + gamma_k p_inf_k = (gamma_k - 1) rho_k e_k`` (``p_inf = 0``:
ideal gas). In a mixed cell at pressure equilibrium with solid volume fraction
``a1`` (gas ``a2 = 1 - a1``) the mixture thermal energy per volume is linear in p::

    rho e_th = xi(a1) p + B(a1),   xi = sum a_k / (gamma_k - 1),
                                   B  = sum a_k gamma_k p_inf_k / (gamma_k - 1)

(Allaire et al., J. Comput. Phys. 181, 2002). Units: p [GPa], rho [g/cm^3],
energy per volume [GPa], sound speed [km/s]. ``mp`` is
:func:`probtok.sim.materials.material_arrays` (index 0 = solid, 1 = gas).
"""

from __future__ import annotations

import jax.numpy as jnp


def mixture_coefficients(a1, mp):
    """(xi, B) of the mixture law ``rho e_th = xi p + B`` for solid fraction ``a1`` (any shape)."""
    g, pinf = mp["gamma"], mp["p_inf_gpa"]
    xi0, xi1 = 1.0 / (g[0] - 1.0), 1.0 / (g[1] - 1.0)
    a2 = 1.0 - a1
    xi = a1 * xi0 + a2 * xi1
    b = a1 * (g[0] * pinf[0] * xi0) + a2 * (g[1] * pinf[1] * xi1)
    return xi, b


def pressure(rho_e_th, a1, mp):
    """Mixture pressure [GPa] from thermal energy per volume ``rho_e_th`` [GPa]."""
    xi, b = mixture_coefficients(a1, mp)
    return (rho_e_th - b) / xi


def thermal_energy(p, a1, mp):
    """Mixture thermal energy per volume [GPa] at pressure ``p`` [GPa]."""
    xi, b = mixture_coefficients(a1, mp)
    return xi * p + b


def sound_speed(rho, p, a1, mp):
    """Frozen mixture sound speed [km/s]: ``c^2 = ((1 + xi) p + B) / (xi rho)``.

    Exact for a pure phase (``gamma (p + p_inf) / rho``) and never below the
    Wood speed in mixed cells, hence safe for wave-speed bounds and the CFL.
    """
    xi, b = mixture_coefficients(a1, mp)
    c2 = ((1.0 + xi) * p + b) / (xi * rho)
    return jnp.sqrt(jnp.maximum(c2, 0.0))


def phase_stiffness(p, mp):
    """``rho_k c_k^2 = gamma_k (p + p_inf_k)`` [GPa] of (solid, gas); needs no phase density."""
    g, pinf = mp["gamma"], mp["p_inf_gpa"]
    return g[0] * (p + pinf[0]), g[1] * (p + pinf[1])
