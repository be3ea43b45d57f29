"""Writer and lazy reader of probtok run files (layout: :mod:`probtok.data.schema`).

Writing streams one run at a time (:class:`RunWriter`), so a dataset never has
to fit in memory, and is atomic: the file appears under its name only when
complete. Reading (:func:`open_dataset`) is lazy: one frame of one run is one
HDF5 chunk.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from probtok.atomic import atomic_path
from probtok.data import validate as _v
from probtok.data.normalize import Normaliser, RunningStats
from probtok.data.schema import (
    DEFAULT_HOTSPOT_THRESHOLD_K,
    DIMS,
    FORMAT,
    FORMAT_VERSION,
    NORMALISATION_STATS,
    STATUS_FAILED,
    STATUS_OK,
)
from probtok.errors import DataError, ProbtokError


def json_default(o):
    """``json.dumps`` default for NumPy scalars and arrays (TypeError for anything else)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def _to_json(obj) -> str:
    return json.dumps(obj, default=json_default)


class RunWriter:
    """Write a run file run by run; use as a context manager (atomic on success).

    Parameters
    ----------
    path : output file (created atomically when the writer closes without error).
    n_runs : number of runs; every run must be written once (ok or failed).
    time_ns : (frame,) frame times [ns].
    fields, units : field names, and {field: unit}.
    grid : (H, W) cells.
    dx_um, dt_frame_ns : cell size [um], frame interval [ns].
    setup : "micro", "meso" or "imported".
    hotspot_threshold_K : threshold stored and used for the per-run hot-spot series.
    attrs : extra root attributes (str/number, or JSON-serialisable values).
    compression : "gzip" (portable, default) or "lzf" (faster, h5py only).
    """

    def __init__(self, path, *, n_runs, time_ns, fields, units, grid, dx_um, dt_frame_ns, setup,
                 hotspot_threshold_K=DEFAULT_HOTSPOT_THRESHOLD_K, attrs=None, compression="gzip"):
        import h5py

        from probtok import __version__

        self.path = Path(path)
        self.n_runs = int(n_runs)
        self.time_ns = np.asarray(time_ns, dtype=np.float64)
        self.fields = tuple(fields)
        missing = [k for k in self.fields if k not in units]
        if missing:
            raise ProbtokError("field has no unit", file=path, field=missing[0], hint="give a unit for every field")
        self.units = {k: str(units[k]) for k in self.fields}
        self.grid = tuple(int(n) for n in grid)
        self.dx_um, self.dt_frame_ns = float(dx_um), float(dt_frame_ns)
        self.threshold_K = float(hotspot_threshold_K)
        n_frames = self.time_ns.size
        self.frame_shape = (n_frames, len(self.fields), *self.grid)
        if min(self.n_runs, *self.frame_shape) < 1:
            raise DataError(f"empty dataset: {self.n_runs} runs of (frame, field, y, x) = {self.frame_shape}",
                            file=path, hint="a run file needs at least one run, frame, field and cell")
        self._stats = RunningStats(len(self.fields))
        self._written = np.zeros(self.n_runs, dtype=bool)
        self._status = [STATUS_FAILED] * self.n_runs
        self._failure = [""] * self.n_runs
        self._geometry = ["[]"] * self.n_runs
        self._params: list[dict] = [{} for _ in range(self.n_runs)]
        self._T_hs = np.full((self.n_runs, n_frames), np.nan)
        self._A_hs = np.full((self.n_runs, n_frames), np.nan)
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path, suffix=".h5.tmp"))
        try:
            # no chunk cache: every frame is one whole chunk, and a failed write (disk full) then
            # surfaces in write_run instead of as dirty cache that crashes libhdf5 when closing
            self._f = h5py.File(tmp, "w", rdcc_nbytes=0)
            self._stack.callback(_close_quietly, self._f)
            self._frames = self._f.create_dataset(
                "frames", shape=(self.n_runs, *self.frame_shape), dtype="float32",
                chunks=(1, 1, len(self.fields), *self.grid), fillvalue=np.float32(np.nan),
                **frame_filters(compression))
            t = self._f.create_dataset("time_ns", data=self.time_ns)
            t.attrs["units"] = "ns"
            t.make_scale("time_ns")
            for k, label in enumerate(DIMS):
                self._frames.dims[k].label = label
            self._frames.dims[1].attach_scale(t)
            root = self._f.attrs
            root["format"] = FORMAT
            root["format_version"] = FORMAT_VERSION
            root["setup"] = str(setup)
            root["dx_um"] = self.dx_um
            root["dt_frame_ns"] = self.dt_frame_ns
            root["fields"] = list(self.fields)
            root["units"] = _to_json(self.units)
            root["creator"] = "probtok"
            root["version"] = __version__
            root["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            for key, value in (attrs or {}).items():
                root[key] = value if isinstance(value, (str, int, float, np.number)) else _to_json(value)
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise

    def write_run(self, run: int, frames=None, *, params=None, geometry=None, ok: bool = True,
                  failure: str = "", raw_chunks=None) -> None:
        """Store run ``run``: frames (frame, field, y, x) in physical units when ok; a failed
        run keeps NaN frames (``frames`` is ignored) and its ``failure`` reason.

        ``raw_chunks``: optional list, per frame, of ``(filter_mask, bytes)`` already
        compressed with :func:`frame_filters` of this writer's compression (one frame of
        ``frames`` each); they are stored as they are instead of compressing again.
        """
        if not 0 <= run < self.n_runs:
            raise ProbtokError(f"run index {run} out of range 0..{self.n_runs - 1}", file=self.path)
        if ok:
            frames = np.asarray(frames, dtype=np.float32)
            if frames.shape != self.frame_shape:
                raise DataError(f"frames have shape {frames.shape}, expected (frame, field, y, x) = "
                                f"{self.frame_shape}", file=self.path, run=run,
                                hint="all runs of one file share frames, fields and grid")
            _v.check_values(frames, self.fields, self.path, run)
            try:
                if raw_chunks is None:
                    self._frames[run] = frames
                else:
                    for t, (mask, data) in enumerate(raw_chunks):
                        self._frames.id.write_direct_chunk((run, t, 0, 0, 0), data, mask)
            except OSError as exc:
                raise _write_failed(self.path, exc, run) from exc
            self._stats.update(frames, field_axis=1)
            if "T" in self.fields:
                from probtok.hotspots import hotspot_area, hotspot_temperature

                T = frames[:, self.fields.index("T")]
                self._T_hs[run] = hotspot_temperature(T, self.threshold_K)
                self._A_hs[run] = hotspot_area(T, self.dx_um, self.threshold_K)
        self._status[run] = STATUS_OK if ok else STATUS_FAILED
        self._failure[run] = "" if ok else (failure or "unknown failure")
        self._geometry[run] = geometry if isinstance(geometry, str) else _to_json(geometry if geometry is not None else [])
        self._params[run] = dict(params or {})
        self._written[run] = True

    def close(self) -> None:
        """Write the per-run tables, normalisation and hot-spot series; rename into place."""
        import h5py

        if not self._written.all():
            missing = np.flatnonzero(~self._written)
            self.abort()
            raise ProbtokError(f"{missing.size} runs were never written (first: {missing[:5].tolist()})",
                               file=self.path, hint="write every run, ok or failed, before closing")
        try:
            f = self._f
            sdt = h5py.string_dtype()
            f.create_dataset("status", data=np.array(self._status, dtype=object), dtype=sdt)
            f.create_dataset("failure", data=np.array(self._failure, dtype=object), dtype=sdt)
            f.create_dataset("geometry", data=np.array(self._geometry, dtype=object), dtype=sdt)
            g = f.create_group("params")
            for name, values in _param_columns(self._params).items():
                g.create_dataset(name, data=values, dtype=sdt if values.dtype == object else values.dtype)
            norm = f.create_group("normalisation")
            for key, value in self._stats.as_dict().items():
                norm.create_dataset(key, data=value)
            norm.attrs["n_values"] = self._stats.count
            norm.attrs["over"] = "ok runs"
            hs = f.create_group("hotspots")
            hs.create_dataset("T_hs_K", data=self._T_hs)
            hs.create_dataset("A_hs_um2", data=self._A_hs)
            hs.attrs["threshold_K"] = self.threshold_K
            f.attrs["hotspot_threshold_K"] = self.threshold_K
            f.close()  # flush here, so that a failing write is an error and not a half-written file
        except OSError as exc:
            err = _write_failed(self.path, exc)
            self._stack.__exit__(type(err), err, None)
            raise err from exc
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self._stack.close()

    def abort(self) -> None:
        """Discard everything written (the target file is left untouched)."""
        exc = ProbtokError("writer aborted", file=self.path)
        self._stack.__exit__(type(exc), exc, None)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self._stack.__exit__(exc_type, exc, tb)
        return False


def _close_quietly(f) -> None:
    """Close an h5py file that may already be closed or broken (the write error is reported instead)."""
    with contextlib.suppress(Exception):
        f.close()


def _write_failed(path, exc: OSError, run=None) -> DataError:
    why = os.strerror(exc.errno) if exc.errno else " ".join(str(exc).split())[:160]
    return DataError(f"write failed ({why}); the previous file, "
                     f"if any, is unchanged", file=path, run=run,
                     hint="free disk space (or raise the file-size limit) and run the same command again")


def frame_filters(compression: str = "gzip") -> dict:
    """h5py create_dataset options of the frames' filter pipeline (shuffle + compression)."""
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 1, "shuffle": True}  # level 1: ~20 % faster than 4
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    raise ProbtokError(f"unknown compression {compression!r}", hint="use gzip (portable) or lzf (h5py only)")


def _param_columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Per-run parameter dicts -> one column per name (missing: NaN or "")."""
    names = sorted({k for r in rows for k in r})
    cols = {}
    for name in names:
        vals = [r.get(name) for r in rows]
        present = [v for v in vals if v is not None]
        if all(isinstance(v, (bool, np.bool_, int, np.integer)) for v in present) and len(present) == len(vals):
            cols[name] = np.asarray(vals, dtype=np.int64)
        elif all(isinstance(v, (bool, int, float, np.number)) for v in present):
            cols[name] = np.asarray([np.nan if v is None else float(v) for v in vals], dtype=np.float64)
        else:
            cols[name] = np.array(["" if v is None else str(v) for v in vals], dtype=object)
    return cols


def write_dataset(path, frames, time_ns, *, fields, units, dx_um, dt_frame_ns, setup="imported",
                  params=None, geometry=None, status=None, failure=None,
                  hotspot_threshold_K=DEFAULT_HOTSPOT_THRESHOLD_K, attrs=None, compression="gzip") -> Path:
    """Write in-memory runs (run, frame, field, y, x) [physical units] to ``path`` atomically.

    ``params`` is {name: sequence of length run}; ``geometry`` a list (per run) of
    JSON-serialisable objects; ``status`` a list of "ok"/"failed" with ``failure`` reasons.
    """
    frames = np.asarray(frames)
    if frames.ndim != 5:
        raise DataError(f"frames have shape {frames.shape}, expected 5 dims (run, frame, field, y, x)", file=path)
    n = frames.shape[0]
    params = params or {}
    for name, col in params.items():
        if len(col) != n:
            raise DataError(f"parameter {name!r} has {len(col)} values for {n} runs", file=path)
    rows = [{k: (v[i].item() if isinstance(v, np.ndarray) else v[i]) for k, v in params.items()} for i in range(n)]
    with RunWriter(path, n_runs=n, time_ns=time_ns, fields=fields, units=units, grid=frames.shape[3:],
                   dx_um=dx_um, dt_frame_ns=dt_frame_ns, setup=setup, hotspot_threshold_K=hotspot_threshold_K,
                   attrs=attrs, compression=compression) as w:
        for i in range(n):
            ok = status is None or status[i] == STATUS_OK
            w.write_run(i, frames[i] if ok else None, params=rows[i],
                        geometry=None if geometry is None else geometry[i], ok=ok,
                        failure="" if failure is None else failure[i])
    return Path(path)


class RunDataset:
    """A probtok run file opened lazily (one frame of one run is one chunk read).

    Attributes: ``path, setup, fields, units, dx_um, dt_frame_ns, hotspot_threshold_K,
    n_runs, n_frames, grid (H, W), shape (run, frame, field, y, x), time_ns (frame,) [ns],
    status, failure, ok_runs, params {name: (run,)}``.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._open()

    def _open(self):
        self._f = _v.open_h5(self.path)
        try:
            h = _v.check_header(self._f, self.path)
            self.setup, self.fields, self.units = h["setup"], h["fields"], h["units"]
            self.dx_um, self.dt_frame_ns = h["dx_um"], h["dt_frame_ns"]
            self.hotspot_threshold_K = h["hotspot_threshold_K"]
            self.n_runs, self.n_frames, self.grid = h["n_runs"], h["n_frames"], h["grid"]
            self.time_ns = self._f["time_ns"][()]
            self.status = np.array([_decode(s) for s in self._f["status"][()]])
            self.failure = np.array([_decode(s) for s in self._f["failure"][()]])
            _v.check_status(self.status, self.path)
            self.params = {k: _decode_col(d[()]) for k, d in self._f.get("params", {}).items()}
        except _H5_FAULTS as exc:
            self._f.close()
            raise DataError(f"HDF5 file is truncated, corrupt or malformed ({type(exc).__name__}: {exc})",
                            file=self.path, hint="re-create the file (probtok writes files atomically; "
                            "a partial copy or a foreign writer is the usual cause)") from exc
        except BaseException:
            self._f.close()
            raise

    # -- metadata -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """(run, frame, field, y, x)."""
        return (self.n_runs, self.n_frames, len(self.fields), *self.grid)

    @property
    def ok_runs(self) -> np.ndarray:
        """Indices of the runs with status "ok"."""
        return np.flatnonzero(self.status == STATUS_OK)

    def param(self, name: str, role: str | None = None) -> np.ndarray:
        """Run parameter ``name`` (run,), or a DataError naming the file's parameters; ``role`` says in the
        message what asked for it (e.g. "--stratify")."""
        if name not in self.params:
            raise DataError(f"the runs have no parameter {name!r}{f' ({role})' if role else ''}", file=self.path,
                            hint=f"parameters in this file: {', '.join(sorted(self.params)) or 'none'}")
        return np.asarray(self.params[name])

    @property
    def attrs(self) -> dict:
        """All root attributes (strings decoded)."""
        return {k: (_decode(v) if isinstance(v, bytes) else v) for k, v in self._f.attrs.items()}

    def geometry(self, run: int):
        """The pore geometry of ``run`` (parsed JSON)."""
        r = self._run(run)
        try:
            return json.loads(_decode(self._f["geometry"][r]))
        except _H5_FAULTS as exc:  # json.JSONDecodeError is a ValueError
            raise DataError(f"unreadable pore geometry ({type(exc).__name__}: {exc})", file=self.path,
                            run=r) from exc

    def normalisation(self) -> dict[str, np.ndarray]:
        """Stored per-field statistics over ok runs: {"min","max","mean","std"} each (field,)."""
        import h5py

        try:
            g = self._f.get("normalisation")
            ok = isinstance(g, h5py.Group) and all(isinstance(g.get(k), h5py.Dataset) for k in NORMALISATION_STATS)
            stats = {k: np.asarray(g[k][()], dtype=np.float64) for k in NORMALISATION_STATS} if ok else None
        except _H5_FAULTS as exc:
            raise DataError(f"unreadable normalisation statistics ({type(exc).__name__}: {exc})", file=self.path,
                            hint="re-create the file") from exc
        if stats is None or any(v.shape != (len(self.fields),) for v in stats.values()):
            raise DataError("no normalisation statistics stored (one value per field)", file=self.path,
                            hint="re-create the file")
        return stats

    def normaliser(self, kind: str = "minmax", fields=None, log_fields=()) -> Normaliser:
        """The stored normalisation as a :class:`Normaliser` for ``fields`` (default all); ``log_fields``
        are normalised as ln x."""
        n = Normaliser.from_stats(self.fields, self.normalisation(), kind, self._field_names(log_fields))
        return n if fields is None else n.subset(self._field_names(fields))

    def hotspots(self) -> dict[str, np.ndarray] | None:
        """Stored per-run series {"T_hs" [K], "A_hs" [um^2]} (run, frame) at the stored threshold."""
        import h5py

        g = self._f.get("hotspots")
        if g is None:
            return None
        try:
            ok = isinstance(g, h5py.Group) and all(
                isinstance(g.get(k), h5py.Dataset) and g[k].shape == (self.n_runs, self.n_frames)
                for k in ("T_hs_K", "A_hs_um2"))
            out = {"T_hs": np.asarray(g["T_hs_K"][()], np.float64),
                   "A_hs": np.asarray(g["A_hs_um2"][()], np.float64)} if ok else None
        except _H5_FAULTS as exc:
            raise DataError(f"unreadable hot-spot series ({type(exc).__name__}: {exc})", file=self.path,
                            hint="re-create the file") from exc
        if out is None:
            raise DataError("malformed hot-spot series (expected /hotspots/T_hs_K and A_hs_um2 of shape "
                            "(run, frame))", file=self.path, hint="re-create the file")
        return out

    # -- data -----------------------------------------------------------------------------
    def _run(self, run) -> int:
        r = int(run)
        if not 0 <= r < self.n_runs:
            raise DataError(f"run index out of range (the file has {self.n_runs} runs)", file=self.path, run=r)
        return r

    def _field_names(self, fields) -> tuple:
        if fields is None:
            return self.fields
        fields = (fields,) if isinstance(fields, str) else tuple(fields)
        for name in fields:
            if name not in self.fields:
                raise DataError("missing field", file=self.path, field=name,
                                hint=f"the file has fields {list(self.fields)}")
        return fields

    def _field_index(self, fields) -> list[int]:
        return [self.fields.index(k) for k in self._field_names(fields)]

    def _check_ok(self, r: int) -> None:
        if self.status[r] != STATUS_OK:
            raise DataError(f"run failed in simulation ({self.failure[r]}); it has no frames", file=self.path,
                            run=r, hint="iterate over dataset.ok_runs")

    def frames(self, run: int, fields=None, frames=None, check: bool = True) -> np.ndarray:
        """Frames of one run, (frame, field, y, x) float32, physical units.

        ``fields``: names to select (default all); ``frames``: a slice of frame
        indices (default all); ``check``: validate values (NaN/inf, negatives).
        """
        r = self._run(run)
        self._check_ok(r)
        idx = self._field_index(fields)
        sl = frames if frames is not None else slice(None)
        try:
            x = self._f["frames"][r, sl]
        except _H5_FAULTS as exc:
            raise DataError(f"cannot read frames ({type(exc).__name__}: {exc}); the file is truncated or corrupt",
                            file=self.path, run=r, hint="re-create the file") from exc
        x = x[:, idx] if idx != list(range(len(self.fields))) else x
        if check:
            start = (sl.start or 0) if isinstance(sl, slice) else 0
            _v.check_values(x, [self.fields[i] for i in idx], self.path, r, frame_offset=start)
        return x

    def frame(self, run: int, t: int, fields=None, check: bool = True) -> np.ndarray:
        """One frame of one run, (field, y, x) float32 (a single chunk read)."""
        return self.frames(run, fields, frames=slice(int(t), int(t) + 1), check=check)[0]

    def to_xarray(self, runs=None, fields=None, lazy: bool = False):
        """Runs (default: ok runs) as an ``xarray.DataArray`` with dims
        (run, frame, field, y, x) and coords run, time_ns (frame), field, units (field),
        y_um, x_um (cell centres) and the per-run parameters and status.

        ``lazy=True`` wraps the file in a dask array (one chunk per run) instead of
        loading it; values are then not validated and the file must stay open.
        """
        import xarray as xr

        runs = self.ok_runs if runs is None else np.atleast_1d(np.asarray(runs, dtype=int))
        for r in runs:
            self._check_ok(self._run(r))
        names = self._field_names(fields)
        if lazy:
            import dask.array as dsa

            d = self._f["frames"]
            full = dsa.from_array(d, chunks=(1, *d.shape[1:]), name=False)  # random key: no hashing of the file
            data = full[runs][:, :, self._field_index(names)]
        elif len(runs):
            data = np.stack([self.frames(int(r), names) for r in runs])
        else:
            data = np.empty((0, self.n_frames, len(names), *self.grid), np.float32)
        H, W = self.grid
        coords = {
            "run": ("run", runs),
            "time_ns": ("frame", self.time_ns, {"units": "ns"}),
            "field": ("field", list(names)),
            "units": ("field", [self.units[k] for k in names]),
            "y_um": ("y", (np.arange(H) + 0.5) * self.dx_um, {"units": "um"}),
            "x_um": ("x", (np.arange(W) + 0.5) * self.dx_um, {"units": "um"}),
            "status": ("run", self.status[runs]),
        }
        for k, col in self.params.items():
            coords[k] = ("run", col[runs])
        attrs = {"setup": self.setup, "dx_um": self.dx_um, "dt_frame_ns": self.dt_frame_ns,
                 "hotspot_threshold_K": self.hotspot_threshold_K, "source": str(self.path)}
        return xr.DataArray(data, dims=DIMS, coords=coords, name="frames", attrs=attrs)

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "_f", None) is not None:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __getstate__(self):
        # h5py handles cannot cross processes (DataLoader workers): reopen by path.
        return {"path": self.path}

    def __setstate__(self, state):
        self.path = state["path"]
        self._open()

    def __repr__(self) -> str:
        H, W = self.grid
        return (f"RunDataset({str(self.path)!r}, setup={self.setup!r}, runs={self.n_runs} "
                f"({len(self.ok_runs)} ok), frames={self.n_frames}, grid={H}x{W}, fields={list(self.fields)})")


#: What h5py raises on corrupt or malformed files besides OSError (bad symbol tables, wrong types...).
_H5_FAULTS = (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError)


def _decode(s) -> str:
    return s.decode() if isinstance(s, bytes) else str(s)


def _decode_col(a: np.ndarray) -> np.ndarray:
    return np.array([_decode(s) for s in a]) if a.dtype == object else a


def open_dataset(path) -> RunDataset:
    """Open a probtok run file lazily, validating its structure (DataError on problems)."""
    return RunDataset(path)
