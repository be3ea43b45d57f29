"""Rankine-Hugoniot state of a stiffened-gas solid shocked from rest.

For a stiffened gas (gamma, c0) shocked from rest to particle velocity Up::

    Us  = a + sqrt(a^2 + c0^2),  a = (gamma + 1) Up / 4      [km/s]
    P   = P0 + rho0 Us Up                                     [GPa]
    rho = rho0 Us / (Us - Up)                                 [g/cm^3]
    T   = solid temperature model at (P, rho)                 [K] (probtok.sim.temperature)

This is the bulk shocked state of a run: campaigns use ``T`` to place the
hot-spot threshold above the bulk (a property of the loading, unlike a
temperature read off the frames, which late in a burning meso run includes
material heated by the reaction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probtok.sim.materials import AIR, HMX, Material


@dataclass(frozen=True)
class ShockedState:
    us_kms: float
    p_gpa: float
    rho: float
    T_K: float


def shocked_state(up_kms: float, solid: Material = HMX) -> ShockedState:
    """Jump state of ``solid`` (stiffened gas, isentrope temperature model) shocked to ``up_kms``."""
    import jax
    import jax.numpy as jnp

    from probtok.sim.materials import material_arrays
    from probtok.sim.temperature import isentrope_temperature

    g, c0, rho0, p0 = solid.gamma, solid.c0_kms, solid.rho0, solid.p0_gpa
    a = (g + 1.0) / 4.0 * up_kms
    us = a + np.sqrt(a * a + c0 * c0)
    P, rho = p0 + rho0 * us * up_kms, rho0 * us / (us - up_kms)
    with jax.enable_x64(True):
        T = float(isentrope_temperature(P, rho, 0, material_arrays((solid, AIR), jnp.float64)))
    return ShockedState(float(us), float(P), float(rho), T)
