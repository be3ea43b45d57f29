"""Temperature of each phase, kept separate from the pressure law.

The stiffened gas alone puts the whole cold-compression energy into heat and
overestimates the solid's shock temperature badly. The solid therefore uses
an isentrope + thermal model (``"isentrope"``)::

    T = T0 exp(Gamma0 (1 - rho0/rho))                                 (Grueneisen isentrope, Gamma rho = const)
      + max(0, p + p_inf - (p0 + p_inf) (rho/rho0)^gamma) / ((gamma - 1) rho c_v)   (heat above the EOS isentrope)

and the gas the stiffened/ideal-gas law (``"stiffened"``)::

    T = (p + p_inf) / ((gamma - 1) rho c_v).

Units: T [K], p [GPa], rho [g/cm^3], c_v [(km/s)^2/K].

Reported temperature (:func:`reported_temperature`): the solid model where the
cell is solid-dominated (``mu > 0.5``); in pore (gas-dominated) cells the
temperature of the solid phase there, bounded to ``[T0_solid, cap_K]``. The
gas's own temperature is never reported: in a diffuse-interface model it is
grid-dependent and unphysical in mixed cells (1e5-1e6 K measured in collapsing
pores, a gas without dissociation or radiation) and would put spurious
"hot spots" into the pores at every shock strength. Hot spots in the output
are therefore hot solid only; the reaction, too, sees the solid model only.
"""

from __future__ import annotations

import jax.numpy as jnp


def isentrope_temperature(p, rho, k: int, mp):
    """Solid model temperature [K] of phase ``k`` at pressure ``p`` [GPa] and phase density ``rho``."""
    g, pinf, rho0, p0 = mp["gamma"][k], mp["p_inf_gpa"][k], mp["rho0"][k], mp["p0_gpa"][k]
    T0, G0, cv = mp["T0_K"][k], mp["grueneisen0"][k], mp["cv"][k]
    compression = rho / rho0
    t_isen = T0 * jnp.exp(G0 * (1.0 - 1.0 / compression))
    p_isen = (p0 + pinf) * compression**g - pinf
    # Without heat conduction the solid's entropy never falls below that of its
    # initial state, so the thermal part is >= 0 physically; negative values
    # come only from interface mixing in diffuse cells (seen: -290 K in
    # collapsing pores) and are floored here, never passed to the reaction.
    return t_isen + jnp.maximum(p - p_isen, 0.0) / ((g - 1.0) * rho * cv)


def stiffened_temperature(p, rho, k: int, mp):
    """Stiffened/ideal-gas temperature [K] ``(p + p_inf)/((gamma - 1) rho c_v)`` of phase ``k``."""
    g, pinf, cv = mp["gamma"][k], mp["p_inf_gpa"][k], mp["cv"][k]
    return (p + pinf) / ((g - 1.0) * rho * cv)


def phase_temperature(p, rho, k: int, mp):
    """Temperature [K] of phase ``k`` with its model (``mp["isentrope"][k]`` 1: isentrope, 0: stiffened)."""
    isen = isentrope_temperature(p, rho, k, mp)
    return jnp.where(mp["isentrope"][k] > 0.5, isen, stiffened_temperature(p, rho, k, mp))


def phase_densities(m1, m2, a1, floor: float = 1e-12):
    """Phase densities rho_k = m_k / a_k [g/cm^3], guarded for vanishing fractions."""
    return m1 / jnp.maximum(a1, floor), m2 / jnp.maximum(1.0 - a1, floor)


def solid_temperature(p, m1, m2, a1, mp):
    """Temperature [K] of the solid phase (material index 0) in every cell."""
    rho1, _ = phase_densities(m1, m2, a1)
    return phase_temperature(p, rho1, 0, mp)


def reported_temperature(p, m1, m2, a1, mp, cap_K: float):
    """Temperature [K] written to the output (see the module docstring)."""
    rho1, _ = phase_densities(m1, m2, a1)
    t1 = phase_temperature(p, rho1, 0, mp)
    in_pore = jnp.clip(t1, mp["T0_K"][0], cap_K)
    return jnp.where(a1 > 0.5, t1, in_pore)
