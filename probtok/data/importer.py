"""Bring your own data: NumPy arrays in the paper code's layout -> a probtok run file.

The paper's code keeps a dataset as one array of shape ``(runs, H, W, fields, frames)``.
:func:`import_arrays` checks names, units, shape and values, converts known
units into probtok's (T in K, P in GPa, velocities in km/s, density in g/cm^3,
fractions in 1), and writes the HDF5 run file atomically, run by run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from probtok.data.hdf5 import RunWriter
from probtok.data.schema import CANONICAL_UNITS, DEFAULT_HOTSPOT_THRESHOLD_K
from probtok.errors import ConfigError, DataError

#: Accepted spellings of each canonical unit: canonical = value * scale + offset.
UNIT_CONVERSIONS: dict[str, dict[str, tuple[float, float]]] = {
    "K": {"K": (1.0, 0.0), "kelvin": (1.0, 0.0), "C": (1.0, 273.15), "degC": (1.0, 273.15),
          "°C": (1.0, 273.15), "celsius": (1.0, 273.15)},
    "GPa": {"GPa": (1.0, 0.0), "MPa": (1e-3, 0.0), "kPa": (1e-6, 0.0), "Pa": (1e-9, 0.0),
            "bar": (1e-4, 0.0), "kbar": (0.1, 0.0), "Mbar": (100.0, 0.0)},
    "km/s": {"km/s": (1.0, 0.0), "m/s": (1e-3, 0.0), "mm/us": (1.0, 0.0), "um/ns": (1.0, 0.0),
             "cm/us": (10.0, 0.0)},
    "g/cm^3": {"g/cm^3": (1.0, 0.0), "g/cm3": (1.0, 0.0), "g/cc": (1.0, 0.0), "kg/m^3": (1e-3, 0.0),
               "kg/m3": (1e-3, 0.0)},
    "1": {"1": (1.0, 0.0), "": (1.0, 0.0), "-": (1.0, 0.0), "dimensionless": (1.0, 0.0),
          "fraction": (1.0, 0.0), "%": (0.01, 0.0)},
}

#: Common long names of the known fields (case-insensitive).
FIELD_ALIASES = {"temperature": "T", "temp": "T", "pressure": "P", "microstructure": "mu",
                 "solid_fraction": "mu", "reaction_progress": "lam", "density": "rho"}


def canonical_field(name: str) -> str:
    """probtok's name of a field ("temperature" -> "T"); unknown names are kept."""
    return FIELD_ALIASES.get(name.strip().lower(), name.strip())


def unit_conversion(field: str, unit: str, file=None) -> tuple[str, float, float]:
    """(canonical unit, scale, offset) for ``field`` given in ``unit``; ConfigError if unknown.

    Fields probtok does not know keep their unit unchanged.
    """
    target = CANONICAL_UNITS.get(field)
    if target is None:
        return unit, 1.0, 0.0
    table = UNIT_CONVERSIONS[target]
    key = unit.strip()
    if key not in table:
        raise ConfigError(f"unknown unit {unit!r}", file=file, field=field,
                          hint=f"{field} must be in {target}; accepted: {sorted(k for k in table if k)}")
    scale, offset = table[key]
    return target, scale, offset


def import_arrays(array, field_names, units, dx_um: float, dt_frame_ns: float, params=None, out=None, *,
                  time_ns=None, geometry=None, hotspot_threshold_K: float = DEFAULT_HOTSPOT_THRESHOLD_K,
                  source=None, compression: str = "gzip") -> Path:
    """Write ``array`` of shape (runs, H, W, fields, frames) as a probtok run file ``out``.

    field_names, units : one per field (units converted to probtok's, see UNIT_CONVERSIONS).
    dx_um, dt_frame_ns : cell size [um] and frame interval [ns].
    params : optional {name: sequence of length runs} of scalar run parameters.
    time_ns : optional frame times [ns] (default ``arange(frames) * dt_frame_ns``).
    source : the input's file name, for error messages.
    Returns the output path. Nothing is written unless every run passes the checks.
    """
    where = source if source is not None else "input array"
    if out is None:
        raise ConfigError("no output path given", hint="pass out='data.h5'")
    array = np.asarray(array) if not isinstance(array, np.ndarray) else array
    if array.ndim != 5:
        raise DataError(f"array has shape {array.shape}; expected 5 dims (runs, H, W, fields, frames)", file=where,
                        hint="the paper code's layout is (runs, H, W, fields, frames)")
    n_runs, H, W, n_fields, n_frames = array.shape
    names = [canonical_field(n) for n in field_names]
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate field names {list(field_names)}", file=where)
    if len(units) != len(names):
        raise ConfigError(f"{len(units)} units for {len(names)} fields", file=where, hint="give one unit per field")
    if n_fields != len(names):
        other = [ax for ax, n in zip(("runs", "H", "W", "fields", "frames"), array.shape) if n == len(names)]
        raise DataError(f"array axis 3 (fields) has length {n_fields}, but {len(names)} field names were given",
                        file=where, hint="wrong shape or dimension order: expected (runs, H, W, fields, frames)"
                        + (f"; axis {other} has length {len(names)}" if other else ""))
    conv = [unit_conversion(n, u, where) for n, u in zip(names, units)]
    params = dict(params or {})
    for name, col in params.items():
        if len(col) != n_runs:
            raise ConfigError(f"parameter {name!r} has {len(col)} values for {n_runs} runs", file=where)
    if not (dx_um > 0 and dt_frame_ns > 0):
        raise ConfigError(f"dx_um={dx_um} and dt_frame_ns={dt_frame_ns} must be positive", file=where)
    t = np.arange(n_frames) * float(dt_frame_ns) if time_ns is None else np.asarray(time_ns, dtype=np.float64)
    if t.shape != (n_frames,):
        raise ConfigError(f"time_ns has shape {t.shape}, expected ({n_frames},)", file=where)
    scale = np.array([c[1] for c in conv], dtype=np.float64)[None, :, None, None]
    offset = np.array([c[2] for c in conv], dtype=np.float64)[None, :, None, None]
    with RunWriter(out, n_runs=n_runs, time_ns=t, fields=names, units={n: c[0] for n, c in zip(names, conv)},
                   grid=(H, W), dx_um=dx_um, dt_frame_ns=dt_frame_ns, setup="imported",
                   hotspot_threshold_K=hotspot_threshold_K, compression=compression,
                   attrs={"imported_from": str(where), "original_units": dict(zip(names, units))}) as w:
        for i in range(n_runs):
            # (H, W, field, frame) -> (frame, field, H, W), converted in float64 then stored float32
            run = np.transpose(np.asarray(array[i], dtype=np.float64), (3, 2, 0, 1)) * scale + offset
            row = {k: (v[i].item() if isinstance(v, np.ndarray) else v[i]) for k, v in params.items()}
            w.write_run(i, run, params=row, geometry=None if geometry is None else geometry[i])
    return Path(out)


def load_arrays(path, key: str | None = None) -> tuple[np.ndarray, dict]:
    """Read a .npy (the array) or .npz (the array under ``key`` plus 1-D per-run parameters).

    Uses ``np.load(allow_pickle=False)``: object arrays are refused. A .npy is
    memory-mapped, so large inputs are converted run by run. Returns (array, params).
    """
    path = Path(path)
    if not path.exists():
        raise DataError("no such file", file=path)
    try:
        loaded = np.load(path, allow_pickle=False, mmap_mode="r" if path.suffix == ".npy" else None)
    except ValueError as exc:
        raise DataError(f"cannot be read without pickle ({exc})", file=path,
                        hint="save plain numeric arrays with np.save / np.savez") from exc
    except OSError as exc:
        raise DataError(f"not a NumPy .npy/.npz file ({exc})", file=path) from exc
    if isinstance(loaded, np.ndarray):
        if key is not None:
            raise ConfigError(f"--key {key!r} given but a .npy file holds one array", file=path)
        return loaded, {}
    with loaded:
        names = list(loaded.files)
        if key is None:
            five = [n for n in names if loaded[n].ndim == 5]
            if len(five) != 1:
                raise ConfigError(f"cannot tell which array holds the runs (arrays: {names})", file=path,
                                  hint="pass --key NAME of the (runs, H, W, fields, frames) array")
            key = five[0]
        if key not in names:
            raise ConfigError(f"no array named {key!r} (arrays: {names})", file=path)
        try:
            array = loaded[key]
            n_runs = array.shape[0] if array.ndim else 0
            params = {n: loaded[n] for n in names
                      if n != key and loaded[n].ndim == 1 and loaded[n].shape[0] == n_runs}
        except ValueError as exc:
            raise DataError(f"cannot be read without pickle ({exc})", file=path) from exc
    return array, params


def load_params_json(path) -> dict:
    """Per-run parameters from JSON {name: [one value per run]}."""
    import json

    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError("no such file", file=path) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON ({exc})", file=path) from exc
    if not isinstance(d, dict) or not all(isinstance(v, list) for v in d.values()):
        raise ConfigError("expected {name: [one value per run], ...}", file=path)
    return d
