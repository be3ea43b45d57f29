"""The contract between set-ups, the solver and campaigns.

A :class:`Case` is one fully specified run (initial microstructure, loading,
frame schedule); :func:`probtok.sim.solver.run_case` turns it into a
:class:`SimResult`. Campaigns only move these two objects around, so the
solver, the set-up samplers and the HDF5 writer can change independently.

Conventions: arrays are indexed ``[y, x]`` with ``x`` the shock direction
(the piston is at ``x = 0``); lengths in um, times in ns, velocities in km/s,
pressures in GPa, temperatures in K.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Fields written per frame, in this order, with their units.
FIELDS: tuple[str, ...] = ("T", "P", "mu", "u", "v", "lam")
UNITS: dict[str, str] = {"T": "K", "P": "GPa", "mu": "1", "u": "km/s", "v": "km/s", "lam": "1"}
DESCRIPTIONS: dict[str, str] = {
    "T": "temperature (solid EOS temperature model in solid-dominated cells)",
    "P": "pressure",
    "mu": "solid volume fraction (0 = pore gas, 1 = solid)",
    "u": "velocity along x (shock direction)",
    "v": "velocity along y",
    "lam": "reaction progress of the solid (0 = unreacted, 1 = fully reacted)",
}


@dataclass(frozen=True)
class ScaleSpec:
    """Grid and frame schedule of one scale (micro or meso).

    Both scales share the cell size ``dx_um`` (same physics, same resolution);
    the meso frame interval is ``r`` times the micro one.
    """

    name: str
    shape: tuple[int, int]  # (H, W) cells: y, x
    dx_um: float  # cell size [um]
    dt_frame_ns: float  # interval between written frames [ns]
    n_frames: int  # frames written, the first at t = 0

    @property
    def extent_um(self) -> tuple[float, float]:
        """Domain size (Ly, Lx) [um]."""
        return (self.shape[0] * self.dx_um, self.shape[1] * self.dx_um)


# Defaults (the solver issue may retune the numbers; keep r = 2 and keep the
# frames covering the shock from entry until it has crossed the domain for
# the slowest default shock).
MICRO = ScaleSpec("micro", (64, 64), dx_um=0.1, dt_frame_ns=0.07, n_frames=24)
MESO = ScaleSpec("meso", (128, 192), dx_um=0.1, dt_frame_ns=0.14, n_frames=36)
SCALES = {"micro": MICRO, "meso": MESO}


@dataclass
class Case:
    """One run to simulate.

    ``mu0`` is the initial solid volume fraction on the grid, shape (H, W),
    values in [0, 1]. ``params`` holds the scalar per-run parameters stored in
    the dataset (JSON-serialisable: float, int or str), ``geometry`` the pore
    list (a list of JSON-serialisable dicts, one per pore).
    """

    setup: str
    seed: int
    scale: ScaleSpec
    up_kms: float  # piston particle velocity [km/s]
    mu0: np.ndarray
    params: dict = field(default_factory=dict)
    geometry: list = field(default_factory=list)


@dataclass
class SimResult:
    """Output of one run: ``fields[name]`` has shape (frame, H, W), physical units."""

    fields: dict
    time_ns: np.ndarray  # (frame,)
    ok: bool = True
    failure: str | None = None  # reason when not ok (non-finite state, positivity lost...)
    n_steps: int = 0
    wall_s: float = 0.0
    # temperature [K] of the solid the piston feeds in (its Rankine-Hugoniot state at up_kms): the hottest
    # unreacted bulk of the run, which the hot-spot threshold must clear; None where not known
    inflow_T_K: float | None = None
