"""JAX reactive multi-material shock solver, micro/meso set-ups and Dask campaigns."""

from probtok.sim.case import FIELDS, MESO, MICRO, SCALES, UNITS, Case, ScaleSpec, SimResult  # noqa: F401
