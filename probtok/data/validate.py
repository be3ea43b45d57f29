"""Checks of probtok run files: every problem is a DataError naming file, run and field.

Cheap structural checks run when a file is opened (:func:`open_h5`,
:func:`check_header`); value checks (NaN/inf, negative temperature or
density-like fields) run on every run that is read (:func:`check_values`) and
over the whole file in :func:`validate_file`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probtok.data.schema import (
    DIMS,
    FORMAT,
    FORMAT_VERSION,
    LOWER_BOUNDS,
    REQUIRED_ATTRS,
    REQUIRED_DATASETS,
    STATUS_FAILED,
    STATUS_OK,
)
from probtok.errors import DataError


def open_h5(path):
    """Open ``path`` read-only as HDF5, or raise DataError (missing, not HDF5, truncated)."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise DataError("no such file", file=path, hint="check the path, or create it with `probtok simulate`")
    if path.is_dir():
        raise DataError("is a directory, not a run file", file=path)
    try:
        is_h5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise DataError(f"cannot be read ({exc})", file=path) from exc
    if not is_h5:
        raise DataError("not an HDF5 file", file=path,
                        hint="probtok reads HDF5 run files; bring NumPy arrays in with `probtok import-arrays`")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"HDF5 file is truncated or corrupt ({exc})", file=path,
                        hint="re-create it; probtok writes files atomically, so a partial copy is the usual cause") from exc


def _attr_str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_header(f, path) -> dict:
    """Validate format, version, attributes and dataset shapes; return the parsed header.

    Returns {"setup", "fields", "units", "dx_um", "dt_frame_ns", "hotspot_threshold_K",
    "n_runs", "n_frames", "grid"}.
    """
    attrs = f.attrs
    fmt = _attr_str(attrs.get("format", ""))
    if fmt != FORMAT:
        raise DataError(f"not a probtok run file (format attribute {fmt!r}, expected {FORMAT!r})", file=path,
                        hint="import foreign data with `probtok import-arrays`")
    version = int(attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise DataError(f"format_version {version} is not supported (this probtok reads {FORMAT_VERSION})",
                        file=path, hint="use the probtok version that wrote the file, or re-create it")
    for key in REQUIRED_ATTRS:
        if key not in attrs:
            raise DataError(f"missing root attribute {key!r}", file=path, hint="the file is incomplete; re-create it")
    for key in REQUIRED_DATASETS:
        if key not in f:
            raise DataError(f"missing dataset {key!r}", file=path, hint="the file is incomplete; re-create it")
    fields = [_attr_str(x) for x in np.atleast_1d(attrs["fields"])]
    try:
        units = json.loads(_attr_str(attrs["units"]))
    except json.JSONDecodeError as exc:
        raise DataError(f"units attribute is not JSON ({exc})", file=path) from exc
    for name in fields:
        if name not in units:
            raise DataError("field has no unit", file=path, field=name, hint="units must name every field")
    frames = f["frames"]
    if frames.ndim != len(DIMS):
        raise DataError(f"frames has {frames.ndim} dims {frames.shape}, expected {len(DIMS)} {DIMS}", file=path,
                        hint="the layout is (run, frame, field, y, x)")
    labels = tuple(d.label for d in frames.dims)
    if any(labels) and labels != DIMS:
        raise DataError(f"frames dimension order is {labels}, expected {DIMS}", file=path,
                        hint="transpose the data to (run, frame, field, y, x) and re-import it")
    n_runs, n_frames, n_fields, H, W = frames.shape
    if frames.dtype.kind != "f":
        raise DataError(f"frames have dtype {frames.dtype}, expected floating point", file=path,
                        hint="store fields as float32 in physical units")
    if min(frames.shape) == 0:
        raise DataError(f"empty dataset: frames has shape {frames.shape} (run, frame, field, y, x)", file=path,
                        hint="the file holds no data; write or import at least one run of at least one frame")
    if n_fields != len(fields):
        raise DataError(f"frames has {n_fields} fields but the fields attribute names {len(fields)}: {fields}",
                        file=path, hint="wrong shape or dimension order")
    if f["time_ns"].shape != (n_frames,):
        raise DataError(f"time_ns has shape {f['time_ns'].shape}, expected ({n_frames},)", file=path)
    for key in ("status", "failure", "geometry"):
        if f[key].shape != (n_runs,):
            raise DataError(f"{key} has shape {f[key].shape}, expected ({n_runs},)", file=path)
    for name, ds in f.get("params", {}).items():
        if ds.shape != (n_runs,):
            raise DataError(f"parameter {name!r} has shape {ds.shape}, expected ({n_runs},)", file=path)
    dx, dt, thr = float(attrs["dx_um"]), float(attrs["dt_frame_ns"]), float(attrs["hotspot_threshold_K"])
    if not (0 < dx < np.inf and 0 < dt < np.inf):
        raise DataError(f"dx_um={dx} and dt_frame_ns={dt} must be positive and finite", file=path)
    if not 0 < thr < np.inf:
        raise DataError(f"hotspot_threshold_K={thr} must be positive and finite", file=path)
    return {
        "setup": _attr_str(attrs["setup"]),
        "fields": tuple(fields),
        "units": {k: units[k] for k in fields},
        "dx_um": dx,
        "dt_frame_ns": dt,
        "hotspot_threshold_K": thr,
        "n_runs": n_runs,
        "n_frames": n_frames,
        "grid": (H, W),
    }


def check_status(status, path) -> None:
    """Every status is "ok" or "failed"."""
    for i, s in enumerate(status):
        if s not in (STATUS_OK, STATUS_FAILED):
            raise DataError(f"status {str(s)!r} is neither {STATUS_OK!r} nor {STATUS_FAILED!r}", file=path, run=i)


def check_values(frames: np.ndarray, fields, path=None, run=None, frame_offset: int = 0) -> None:
    """Raise DataError on NaN/inf or values below a field's lower bound.

    ``frames`` has shape (frame, field, y, x) for run ``run``; ``frame_offset``
    is the index of its first frame, for the message.
    """
    finite = np.isfinite(frames)
    if not finite.all():
        bad = ~finite
        for k, name in enumerate(fields):
            if bad[:, k].any():
                t = int(np.argmax(bad[:, k].reshape(bad.shape[0], -1).any(axis=1)))
                n = int(bad[:, k].sum())
                raise DataError(f"{n} non-finite values (NaN/inf), first at frame {t + frame_offset}",
                                file=path, run=run, field=name,
                                hint="a diverged simulation must be marked failed, not stored as ok")
    for k, name in enumerate(fields):
        lo = LOWER_BOUNDS.get(name)
        if lo is not None:
            vmin = float(frames[:, k].min())
            if vmin < lo:
                t = int(np.argmin(frames[:, k].reshape(frames.shape[0], -1).min(axis=1)))
                raise DataError(f"negative values (min {vmin:.6g}, at frame {t + frame_offset}); "
                                f"this field must be >= {lo:g}", file=path, run=run, field=name,
                                hint="check the units (T must be in K) and the simulation")


@dataclass
class ValidationReport:
    """Result of a full scan: per-field min/max over ok runs, run counts."""

    path: str
    n_runs: int
    n_ok: int
    n_failed: int
    fields: tuple
    min: np.ndarray
    max: np.ndarray


def validate_file(path, progress: bool = False) -> ValidationReport:
    """Open ``path`` and check every ok run's values; raise DataError on the first problem."""
    from probtok.data.hdf5 import open_dataset

    with open_dataset(path) as ds:
        lo = np.full(len(ds.fields), np.inf)
        hi = np.full(len(ds.fields), -np.inf)
        runs = ds.ok_runs
        if progress:
            from probtok.progress import track

            runs = track(runs, "validating", total=len(runs))
        for i in runs:
            x = ds.frames(int(i))  # checks values
            lo = np.minimum(lo, x.min(axis=(0, 2, 3)))
            hi = np.maximum(hi, x.max(axis=(0, 2, 3)))
        n_ok = len(ds.ok_runs)
        return ValidationReport(str(path), ds.n_runs, n_ok, ds.n_runs - n_ok, ds.fields, lo, hi)


def require_fields(ds, fields, source, needed_by: str = "the model", hint: str = "") -> None:
    """DataError naming the first of ``fields`` that the opened run file ``ds`` lacks."""
    for f in fields:
        if f not in ds.fields:
            raise DataError(f"missing field {needed_by} needs", file=source, field=f,
                            hint=f"the file has {list(ds.fields)}{hint}")


def check_compatible(micro, meso, steps_per_frame: int | None = None, rtol: float = 1e-3) -> int:
    """Check that a meso dataset can be read with tokens learned on a micro dataset; return r.

    ``micro``, ``meso``: opened run files (``RunDataset``: dx_um, dt_frame_ns, fields, units, path).
    Same physics, same resolution: the cell size dx [um] must agree (a token is s x s *cells*),
    the meso frame interval must be a whole multiple r >= 1 of the micro one (one meso frame =
    r micro transition steps), equal to ``steps_per_frame`` when given, and fields both files
    hold must have the same units. DataError otherwise, naming the meso file.
    """
    where = getattr(meso, "path", None)
    if abs(meso.dx_um - micro.dx_um) > rtol * micro.dx_um:
        raise DataError(f"cell size dx = {meso.dx_um:g} um differs from the micro data's {micro.dx_um:g} um "
                        f"({getattr(micro, 'path', 'micro')})", file=where,
                        hint="tokens are s x s cells: simulate or resample both scales on the same grid spacing")
    ratio = meso.dt_frame_ns / micro.dt_frame_ns
    r = int(round(ratio))
    if r < 1 or abs(ratio - r) > rtol * ratio:
        raise DataError(f"frame interval {meso.dt_frame_ns:g} ns is {ratio:.4g} micro frame intervals "
                        f"({micro.dt_frame_ns:g} ns), not a whole multiple", file=where,
                        hint="write meso frames every r micro frame intervals (r = 1, 2, ...)")
    if steps_per_frame is not None and r != int(steps_per_frame):
        raise DataError(f"frame interval {meso.dt_frame_ns:g} ns is {r} micro frame intervals, but the model "
                        f"takes steps_per_frame = {steps_per_frame}", file=where,
                        hint=f"set [meso] steps_per_frame = {r} in the model config and refit")
    for name in meso.fields:
        if name in micro.fields and meso.units[name] != micro.units[name]:
            raise DataError(f"unit {meso.units[name]!r} differs from the micro data's {micro.units[name]!r}",
                            file=where, field=name, hint="re-import one of the files with the same units")
    return r
