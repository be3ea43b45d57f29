"""Materials as data: equation-of-state, temperature-model and reaction numbers.

Units throughout: rho [g/cm^3], p [GPa], velocities [km/s], specific energy
[(km/s)^2 = MJ/kg], temperature [K], time [ns]. 1 GPa = 1 g/cm^3 (km/s)^2.

Pressure law (``eos.py``): stiffened gas ``p + gamma p_inf = (gamma - 1) rho e_th``
(``p_inf = 0``: ideal gas). Temperature (``temperature.py``) is a separate
model per material: ``"isentrope"`` (solid, Grueneisen isentrope + thermal
part of the stiffened gas) or ``"stiffened"`` (``T = (p + p_inf)/((gamma-1) rho c_v)``,
the ideal-gas law for ``p_inf = 0``).

HMX parameters (:data:`HMX`)
----------------------------
Target Hugoniot: the linear fit ``Us = 2.901 + 2.058 Up`` [km/s] of the LASL
shock Hugoniot data for HMX (S. P. Marsh, ed., *LASL Shock Hugoniot Data*,
University of California Press, 1980; rho0 = 1.891 g/cm^3), the fit quoted in
issue 2 (it reproduces the issue's 3.93 / 4.96 / 7.02 km/s at Up = 0.5 / 1 / 2).
A stiffened gas shocked from rest has
``Us = (gamma+1)/4 Up + sqrt(((gamma+1)/4 Up)^2 + c0^2)``; a grid search over
(gamma, c0) keeping c0 near the issue's 2.9 km/s gave gamma = 4.9, c0 = 3.0 km/s
(p_inf = rho0 c0^2 / gamma = 3.49 GPa):

    Up [km/s]          0.5    1.0    1.5    2.0
    Us model [km/s]   3.83   4.82   5.94   7.16
    Us Marsh fit      3.93   4.96   5.99   7.02
    error            -2.6%  -2.8%  -0.8%  +2.0%   (max 3.2 % over 0.5..2, at Up ~ 0.75)

(the prototype's gamma = 5.0, p_inf = 3.196 GPa was 4.8 % off at Up = 0.5).
Solid temperature model with Grueneisen Gamma0 = 1.1 and c_v = 1500 J/(kg K)
gives bulk shocked temperatures 362 / 501 / 792 / 1270 K at Up = 0.5 / 1 / 1.5 / 2
(``tests/sim/test_hugoniot.py`` checks solver against these jump conditions).

Reaction: single step ``d lam/dt = Z (1 - lam) exp(-Ta / T_solid)`` with heat
release ``Q`` (constant-volume adiabatic temperature rise ``Q / c_v``). The
products share the reactant's EOS (a deliberate simplification: heat release
raises the pressure through the energy, not through a product EOS).
Tuned with ``scripts/hotspot_check.py`` (circular pores, micro grid) for graded
growth inside :data:`DEFAULT_UP_RANGE_KMS` = 1.0..1.8 km/s, where the bulk stays
at 500-1030 K (so it does not react) while hot spots reach 700-2700 K:
Ta = 26000 K (the prototype's), Z = 2e17 1/s (prototype 4.4e14: its ignition
threshold sat at Up ~ 2 km/s, where the bulk itself is at 1270 K) and
Q = 1.2 MJ/kg (prototype 5: an ignited hot spot then consumed the micro domain
within ~1 ns). Measured (micro 64x64, one circular pore of radius 0.3-1.2 um,
1.61 ns): Up <= 1.4 inert (hot spots 720-1220 K, nothing reacts); 1.5-1.7
hot spots of 1200-2500 K react 0.002-1.8 um^2 and stop (quench); 1.8 hot
spots of 2000-3000 K grow to 0.5-13 um^2 of the 41 um^2 domain; at 1.9-2.0
half the domain burns (so 1.8 is the top of the default range).
Pure hydrodynamics (no strength, no conduction) makes hot spots cooler than in
real HMX; these are the numbers of this model, not of the material.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from probtok.errors import ConfigError

#: Specific heats are given in J/(kg K); the solver works in (km/s)^2/K = 1e6 J/(kg K).
J_PER_KG_K = 1e-6

TEMPERATURE_MODELS = ("isentrope", "stiffened")


@dataclass(frozen=True)
class Material:
    """One material: stiffened-gas EOS, temperature model, optional Arrhenius reaction.

    Attributes (units)
    ------------------
    gamma : stiffened-gas exponent (> 1).
    p_inf_gpa : stiffened-gas stiffness p_inf [GPa] (0 for an ideal gas).
    rho0 : reference (initial) density [g/cm^3].
    p0_gpa : initial pressure [GPa].
    T0_K : initial temperature [K].
    cv_J_kgK : specific heat at constant volume [J/(kg K)].
    grueneisen0 : Gamma0 of the isentrope ``T0 exp(Gamma0 (1 - rho0/rho))`` (isentrope model only).
    temperature_model : "isentrope" (solid) or "stiffened" (gas).
    Z_per_s : Arrhenius pre-factor [1/s] (0: inert).
    Ta_K : activation temperature Ea/R [K].
    Q_MJ_kg : heat of reaction [MJ/kg].
    """

    name: str
    gamma: float
    p_inf_gpa: float
    rho0: float
    p0_gpa: float = 1.01325e-4
    T0_K: float = 300.0
    cv_J_kgK: float = 1500.0
    grueneisen0: float = 1.1
    temperature_model: str = "stiffened"
    Z_per_s: float = 0.0
    Ta_K: float = 26000.0
    Q_MJ_kg: float = 0.0

    def __post_init__(self):
        if self.gamma <= 1.0:
            raise ConfigError(f"material {self.name}: gamma must be > 1, got {self.gamma}", field="gamma",
                              hint="stiffened gas needs gamma > 1 (ideal diatomic gas: 1.4)")
        if self.p_inf_gpa < 0 or self.rho0 <= 0 or self.cv_J_kgK <= 0 or self.Z_per_s < 0:
            raise ConfigError(f"material {self.name}: p_inf >= 0, rho0 > 0, cv > 0, Z >= 0 required",
                              hint="check the material numbers and their units (GPa, g/cm^3, J/(kg K), 1/s)")
        if self.temperature_model not in TEMPERATURE_MODELS:
            raise ConfigError(f"material {self.name}: unknown temperature_model {self.temperature_model!r}",
                              field="temperature_model", hint=f"use one of {TEMPERATURE_MODELS}")
        if self.p0_gpa + self.p_inf_gpa <= 0:
            raise ConfigError(f"material {self.name}: p0 + p_inf must be > 0", hint="raise p0_gpa")

    @property
    def c0_kms(self) -> float:
        """Ambient sound speed [km/s]."""
        return (self.gamma * (self.p0_gpa + self.p_inf_gpa) / self.rho0) ** 0.5

    @property
    def cv(self) -> float:
        """Specific heat in solver units [(km/s)^2 / K]."""
        return self.cv_J_kgK * J_PER_KG_K

    def with_(self, **changes) -> "Material":
        """A copy with some numbers changed (e.g. ``HMX.with_(Q_MJ_kg=0)``)."""
        known = {f.name for f in fields(self)}
        bad = set(changes) - known
        if bad:
            raise ConfigError(f"unknown material field(s) {sorted(bad)}", hint=f"fields: {sorted(known)}")
        return replace(self, **changes)


#: HMX-like explosive (see module docstring for the Hugoniot fit and temperatures).
HMX = Material(
    name="HMX",
    gamma=4.9,
    p_inf_gpa=3.49,
    rho0=1.90,
    cv_J_kgK=1500.0,
    grueneisen0=1.1,
    temperature_model="isentrope",
    Z_per_s=2.0e17,
    Ta_K=26000.0,
    Q_MJ_kg=1.2,
)

#: Pore gas: air, ideal gas gamma 1.4, 1 atm, 300 K (rho = p / (R T) with R = 287 J/(kg K)).
AIR = Material(name="AIR", gamma=1.4, p_inf_gpa=0.0, rho0=1.177e-3, cv_J_kgK=717.5, temperature_model="stiffened")

#: Recommended default piston particle velocities [km/s] for the set-ups (see the report / scripts/hotspot_check.py).
DEFAULT_UP_RANGE_KMS = (1.0, 1.8)


#: Numeric fields handed to the jitted solver as traced arrays of shape (2,) (solid, gas).
NUMERIC_FIELDS = (
    "gamma", "p_inf_gpa", "rho0", "p0_gpa", "T0_K", "cv", "grueneisen0", "Z_per_ns", "Ta_K", "Q_MJ_kg", "isentrope",
)


def material_arrays(materials: tuple[Material, Material], dtype) -> dict:
    """Traced parameters of (material 1 = solid, material 2 = gas): dict name -> array (2,) of ``dtype``.

    Kept out of the compiled code's constants so changing a number does not recompile.
    ``Z_per_ns`` is ``Z_per_s * 1e-9``; ``cv`` is in (km/s)^2/K; ``isentrope`` is 1.0 for the
    isentrope temperature model, 0.0 for the stiffened one (traced too: no recompilation).
    """
    import jax.numpy as jnp

    def get(m: Material, name: str) -> float:
        if name == "Z_per_ns":
            return m.Z_per_s * 1e-9
        if name == "isentrope":
            return 1.0 if m.temperature_model == "isentrope" else 0.0
        return float(getattr(m, name))

    return {name: jnp.asarray([get(m, name) for m in materials], dtype=dtype) for name in NUMERIC_FIELDS}
