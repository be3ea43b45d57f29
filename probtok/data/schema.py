"""The probtok HDF5 run format (``format = "probtok-runs"``, version 1): names only.

One file holds one dataset of runs on one grid::

    /                      attrs: format, format_version, setup, dx_um, dt_frame_ns,
                                  fields (names), units (JSON {field: unit}),
                                  hotspot_threshold_K, creator, version, created (UTC ISO 8601)
    /frames                float32 (run, frame, field, y, x), chunks (1, 1, F, H, W),
                           compressed; h5py dimension labels 'run','frame','field','y','x';
                           fill value NaN (a failed run's frames stay NaN)
    /time_ns               float64 (frame,) time of each frame [ns], dimension scale of 'frame'
    /status                str (run,) "ok" or "failed"
    /failure               str (run,) reason of a failure, "" when ok
    /geometry              str (run,) JSON of the run's pore geometry
    /params/<name>         (run,) one scalar parameter per run (float, int or str)
    /normalisation/{min,max,mean,std}   float64 (field,) over the ok runs
    /hotspots/{T_hs_K,A_hs_um2}         float64 (run, frame) at hotspot_threshold_K

Lengths in um, times in ns, temperatures in K, pressures in GPa, velocities in km/s.
"""

from __future__ import annotations

FORMAT = "probtok-runs"
FORMAT_VERSION = 1
DIMS: tuple[str, ...] = ("run", "frame", "field", "y", "x")
STATUS_OK = "ok"
STATUS_FAILED = "failed"
SETUPS = ("micro", "meso", "imported")

#: Hot-spot temperature threshold [K] (PARC papers); must exceed the bulk shocked T.
DEFAULT_HOTSPOT_THRESHOLD_K = 875.0

REQUIRED_ATTRS = ("format", "format_version", "setup", "dx_um", "dt_frame_ns", "fields", "units",
                  "hotspot_threshold_K")
REQUIRED_DATASETS = ("frames", "time_ns", "status", "failure", "geometry")
NORMALISATION_STATS = ("min", "max", "mean", "std")

#: Lowest admissible value per field; temperature and density-like fields are
#: non-negative (fractions get a round-off allowance below 0).
LOWER_BOUNDS: dict[str, float] = {"T": 0.0, "rho": 0.0, "mu": -1e-5, "lam": -1e-5}

#: Canonical units of the known fields (the importer converts into these).
CANONICAL_UNITS: dict[str, str] = {
    "T": "K", "P": "GPa", "mu": "1", "u": "km/s", "v": "km/s", "lam": "1", "rho": "g/cm^3",
}
