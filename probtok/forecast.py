"""Forecast summaries of one run from posterior-predictive field draws, and their file.

Model-independent: :func:`summarize_forecast` takes plain arrays of draws
(draw, frame, field, y, x) in physical units (and optionally the truth) and
returns an ``xarray.Dataset``; :func:`write_forecast` / :func:`read_forecast`
store it as a self-describing NetCDF-4 file (h5netcdf engine, HDF5 underneath,
readable by any netCDF/HDF5 tool).

**One file per run.** Runs of one campaign may differ in length, grid or
truth availability, and a forecast is made run by run; calibration over many
runs takes a list of these datasets (``probtok.calibration.calibration_table``).

Contents (dims in brackets; ``frame`` carries coordinate ``time_ns``):

* ``T_hs_draws``, ``A_hs_draws`` [draw, frame]: hot-spot temperature [K] and
  area [um^2] of every draw (``probtok.hotspots`` definitions; ``T_hs = 0``
  when no cell is above the threshold);
* ``dT_hs_dt_draws``, ``dA_hs_dt_draws`` [draw, interval]: forward-difference
  rates [K/ns], [um^2/ns]. **Rates live on their own dim ``interval``** (length
  frame - 1): element k is the mean rate over frames k -> k+1, with coordinates
  ``interval_start_ns``, ``interval_end_ns`` and ``time_mid_ns`` (its midpoint,
  where it is plotted);
* ``<q>_quantiles`` [quantile, frame|interval] and ``<q>_mean``: summaries
  over draws (numpy ``quantile``, linear interpolation);
* ``P_T_hs_exceeds`` [T_crit_K, frame] = P(T_hs(t) > T_crit), and
  ``P_A_hs_exceeds`` [A_crit_um2, frame] = P(A_hs(t) > A_crit): fractions of
  draws strictly above each critical value (one or several);
* ``growth_class_draws`` [draw] and ``P_growth_class`` [growth_class]: the fate of the
  hot spot per draw ("none", "quench", "grow"; ``probtok.hotspots.growth_class``) and
  the fraction of draws of each fate;
* ``field_mean``, ``field_std`` [frame, field, y, x]: mean and standard
  deviation (ddof = 1) over draws, float32, units per field in coordinate
  ``field_units``;
* with the truth: ``<q>_truth`` [frame|interval], ``growth_class_truth`` [] and ``field_truth``.

Global attributes: ``format = "probtok-forecast"``, ``format_version``,
``run_id``, ``hotspot_threshold_K``, ``dx_um``, ``dt_frame_ns``, ``n_draws``,
``has_truth`` (0/1), ``fields``/``field_units`` (JSON), ``probtok_version``,
``created`` (UTC ISO 8601). Every data variable has ``units`` and ``long_name``.
Forecasts made by :func:`probtok.predict.forecast_run` add what they came from: the model
(``model_dir``, ``model_digest``, ``model_weights_digest``, ``model_kind``, ``rollout_noise``,
``task_latent``, ``ensemble_size``), the data (``data``, ``truth_digest``: see
:func:`probtok.predict.truth_digest`, ``param_<name>``: the run's parameters) and the settings
(``first_frames``, ``new_task_c``, ``observation_noise``, ``forecast_wall_s``).
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np
import torch

from probtok.atomic import atomic_path
from probtok.errors import ConfigError, DataError
from probtok.hotspots import growth_class, hotspot_area, hotspot_temperature, rates

FORMAT = "probtok-forecast"
FORMAT_VERSION = 1
DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Default critical values for exceedance probabilities. They are user choices
#: (decision thresholds), not material constants: 1500 K is well above the
#: 875 K hot-spot threshold; 1 um^2 is about the area of a collapsed 1 um pore.
DEFAULT_T_CRIT_K = 1500.0
DEFAULT_A_CRIT_UM2 = 1.0

#: Hot-spot quantities: name -> (unit, time dim, long name).
SERIES = {
    "T_hs": ("K", "frame", "hot-spot temperature (mean T over cells above threshold; 0 if none)"),
    "A_hs": ("um^2", "frame", "hot-spot area (cells above threshold times dx^2)"),
    "dT_hs_dt": ("K/ns", "interval", "rate of hot-spot temperature over frames k -> k+1"),
    "dA_hs_dt": ("um^2/ns", "interval", "rate of hot-spot area over frames k -> k+1"),
}
#: Hot-spot fates (probtok.hotspots.growth_class): no hot cell, collapses then shrinks, keeps growing.
GROWTH_CLASSES = ("none", "quench", "grow")
REQUIRED_VARS = ("T_hs_draws", "A_hs_draws", "T_hs_quantiles", "A_hs_quantiles", "field_mean", "field_std")

# Work on at most this many bytes of float64 draws at a time (mean/std/hot spots per frame block).
_BLOCK_BYTES = 64 * 2**20


def _as_numpy(a) -> np.ndarray:
    if type(a).__module__.startswith("torch"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _as_float64_tensor(a) -> torch.Tensor:
    """A float64 copy of ``a`` as a torch tensor, on ``a``'s device when it is one."""
    if isinstance(a, torch.Tensor):
        return a.detach().to(torch.float64, copy=True)
    return torch.from_numpy(np.array(a, dtype=np.float64))


def _as_array_like(a):
    """numpy/memmap/h5py datasets and torch tensors as they are (read block by block later); lists as numpy."""
    if hasattr(a, "shape") and hasattr(a, "ndim"):
        return a
    return np.asarray(a)


def _check_inputs(draws, fields, units, time_ns, truth, quantiles, run_id):
    if draws.ndim != 5:
        raise DataError(f"field draws must have 5 dims (draw, frame, field, y, x), got shape {draws.shape}",
                        run=run_id, hint="stack the posterior-predictive draws along a new first axis")
    n_draw, n_frame, n_field = draws.shape[:3]
    if n_draw < 2:
        raise DataError(f"need at least 2 draws for quantiles and std, got {n_draw}", run=run_id,
                        hint="ask for more posterior-predictive draws (e.g. 200)")
    if n_frame < 2:
        raise DataError(f"need at least 2 frames (rates are differences), got {n_frame}", run=run_id)
    if len(fields) != n_field:
        raise DataError(f"{len(fields)} field names {list(fields)} for {n_field} fields in the draws", run=run_id)
    if len(units) != n_field:
        raise DataError(f"{len(units)} units for {n_field} fields", run=run_id)
    if "T" not in fields:
        raise DataError("no temperature field: hot-spot metrics need T [K]", run=run_id, field="T",
                        hint=f"the draws hold fields {list(fields)}; include T")
    if time_ns.shape != (n_frame,):
        raise DataError(f"time_ns has shape {time_ns.shape}, the draws have {n_frame} frames", run=run_id)
    step = np.diff(time_ns)
    if not np.all(step > 0) or not np.allclose(step, step[0], rtol=1e-6, atol=0):
        raise DataError("time_ns must increase with a constant frame interval", run=run_id,
                        hint="rates are forward differences over one frame interval")
    if truth is not None and truth.shape != draws.shape[1:]:
        raise DataError(f"truth has shape {truth.shape}, expected (frame, field, y, x) = {draws.shape[1:]}",
                        run=run_id)
    q = np.asarray(quantiles, dtype=np.float64)
    if q.ndim != 1 or q.size == 0 or np.any((q <= 0) | (q >= 1)) or np.any(np.diff(q) <= 0):
        raise ConfigError(f"quantiles must be increasing levels in (0, 1), got {list(quantiles)}")


def _check_finite_truth(truth: np.ndarray, fields, run_id) -> None:
    bad = ~np.isfinite(truth)
    if bad.any():
        t, c = (int(i) for i in np.argwhere(bad)[0][:2])
        raise DataError(f"the truth holds non-finite values (first: frame {t})", run=run_id, field=fields[c])


def _draw_chunks(shape, itemsize: int = 8):
    """(first draw, last draw + 1) ranges of one frame whose draws fit in _BLOCK_BYTES (at least one draw)."""
    n_draw = shape[0]
    per_draw = int(np.prod(shape[2:])) * itemsize
    step = max(1, _BLOCK_BYTES // max(per_draw, 1))
    return [(d0, min(d0 + step, n_draw)) for d0 in range(0, n_draw, step)]


def _draw_statistics(draws, dx_um, threshold_K, fields, run_id) -> "DrawStatistics":
    """A :class:`DrawStatistics` of a whole array of draws, fed one frame of at most _BLOCK_BYTES at a time
    (a memmap or h5py dataset is read block by block)."""
    stats = DrawStatistics(draws.shape, fields, dx_um, threshold_K, run_id=run_id)
    for t in range(draws.shape[1]):
        for d0, d1 in _draw_chunks(draws.shape):
            stats.add(d0, t, draws[d0:d1, t])
    return stats


class DrawStatistics:
    """What :func:`summarize_forecast` needs of the draws of one run, gathered as the draws are made, one
    frame of one batch of draws at a time, so that the draws are never all held at once: 200 draws of a
    default meso run (3 fields, 128 x 192, 36 frames) are 2.1 GB of float32; of a 512 x 768 run with 5
    fields, 57 GB.

    Keeps the hot-spot metrics of every draw (draw, frame) and, per frame, the mean and the sum of squared
    deviations over draws (float64, merged batch by batch: Chan, Golub & LeVeque 1979), for the field mean
    and std (ddof = 1). Pass it to :func:`summarize_forecast` in place of the draws.

    shape : (draw, frame, field, y, x) of the draws it will be given.
    dx_um [um], threshold_K [K] : as in :func:`summarize_forecast` (which checks that they match).
    """

    ndim = 5

    def __init__(self, shape, fields, dx_um: float, threshold_K: float, run_id="0"):
        self.shape = tuple(int(n) for n in shape)
        if len(self.shape) != 5:
            raise DataError(f"draw statistics need the shape (draw, frame, field, y, x), got {shape}", run=run_id)
        self.fields = [str(f) for f in fields]
        if "T" not in self.fields:
            raise DataError("no temperature field: hot-spot metrics need T [K]", run=run_id, field="T")
        self.dx_um, self.threshold_K, self.run_id = float(dx_um), float(threshold_K), run_id
        n_draw, n_frame = self.shape[:2]
        self.T_hs = np.zeros((n_draw, n_frame))
        self.A_hs = np.zeros((n_draw, n_frame))
        self._seen = np.zeros((n_draw, n_frame), bool)
        self._mean = np.zeros(self.shape[1:])
        self._m2 = np.zeros(self.shape[1:])

    def add(self, first_draw: int, frame: int, block) -> None:
        """Draws ``first_draw`` .. ``first_draw + n - 1`` of ``frame``: ``block`` (n, field, y, x), physical
        units (numpy, torch or array-like). A DataError names the first non-finite draw (a diverged rollout).

        The reductions run in float64 where a torch block lies (a GPU forecast's draws stay on the GPU);
        only the block's hot-spot metrics (n,) and its mean and squared deviations (field, y, x) leave it."""
        x = _as_float64_tensor(block)
        n = x.shape[0]
        d1 = first_draw + n
        if tuple(x.shape[1:]) != self.shape[2:] or not (0 <= first_draw and d1 <= self.shape[0]) \
                or not 0 <= frame < self.shape[1]:
            raise DataError(f"a block of shape {tuple(x.shape)} for draws {first_draw}..{d1 - 1} of frame {frame} "
                            f"does not fit draws of shape {self.shape}", run=self.run_id)
        if n == 0:
            return
        if self._seen[first_draw:d1, frame].any():
            raise DataError(f"draws {first_draw}..{d1 - 1} of frame {frame} were given twice", run=self.run_id)
        # a draw is finite iff its sum is: float32 values summed in float64 cannot overflow (and a check
        # element by element allocates a mask as large as the block afresh at every call)
        bad = ~torch.isfinite(x.flatten(1).sum(dim=1))
        if bad.any():
            d = int(bad.nonzero()[0, 0])
            c = int((~torch.isfinite(x[d])).nonzero()[0, 0])
            raise DataError(f"{int(bad.sum())} draw(s) hold non-finite values (first: draw {first_draw + d}, "
                            f"frame {frame})", run=self.run_id, field=self.fields[c],
                            hint="the rollout diverged; drop those draws or check the model before summarising")
        T = x[:, self.fields.index("T")]
        self.T_hs[first_draw:d1, frame] = hotspot_temperature(T, self.threshold_K).cpu().numpy()
        self.A_hs[first_draw:d1, frame] = hotspot_area(T, self.dx_um, self.threshold_K).cpu().numpy()
        # merge the block's mean and squared deviations into the frame's (exact up to round-off)
        na, nb = int(self._seen[:, frame].sum()), n
        self._seen[first_draw:d1, frame] = True
        mean_b = x.mean(dim=0)
        m2_b = x.sub_(mean_b).square_().sum(dim=0).cpu().numpy()  # in place: x is this method's own copy
        delta = mean_b.cpu().numpy() - self._mean[frame]
        self._mean[frame] += delta * (nb / (na + nb))
        self._m2[frame] += m2_b + delta**2 * (na * nb / (na + nb))

    def result(self):
        """(T_hs, A_hs (draw, frame), field mean, std (frame, field, y, x) float32) once every draw of every
        frame was added; else a DataError naming the first missing one."""
        if not self._seen.all():
            d, t = (int(i) for i in np.argwhere(~self._seen)[0])
            raise DataError(f"draw {d} of frame {t} was never added ({int((~self._seen).sum())} missing)",
                            run=self.run_id)
        std = np.sqrt(self._m2 / (self.shape[0] - 1))
        return self.T_hs, self.A_hs, self._mean.astype(np.float32), std.astype(np.float32)


def _series_vars(name: str, draws: np.ndarray, quantiles: np.ndarray) -> dict:
    unit, dim, long = SERIES[name]
    attrs = {"units": unit, "long_name": long}
    return {
        f"{name}_draws": (("draw", dim), draws, attrs),
        f"{name}_quantiles": (("quantile", dim), np.quantile(draws, quantiles, axis=0),
                              {**attrs, "long_name": f"quantiles over draws of {name}"}),
        f"{name}_mean": ((dim,), draws.mean(axis=0), {**attrs, "long_name": f"mean over draws of {name}"}),
    }


def _exceedance(series: np.ndarray, crit: np.ndarray) -> np.ndarray:
    """P(series > crit) over draws: (crit, frame) from series (draw, frame)."""
    return (series[None, :, :] > crit[:, None, None]).mean(axis=1)


def _crit_values(value, name: str) -> np.ndarray:
    c = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)):
        raise ConfigError(f"{name} must be a finite number or a list of numbers, got {value!r}")
    return c


def _attr_id(run_id):
    if isinstance(run_id, (np.integer, int)) and not isinstance(run_id, bool):
        return int(run_id)
    return str(run_id)


def summarize_forecast(field_draws, fields, units, time_ns, dx_um: float, threshold_K: float, *,
                       run_id="0", truth=None, T_crit_K=DEFAULT_T_CRIT_K, A_crit_um2=DEFAULT_A_CRIT_UM2,
                       quantiles=DEFAULT_QUANTILES, attrs: dict | None = None):
    """Summarise posterior-predictive draws of one run as an ``xarray.Dataset`` (see the module doc).

    field_draws : (draw, frame, field, y, x), physical units (numpy, torch or anything array-like;
        a memmap or h5py dataset is read a block of draws of one frame at a time), or a :class:`DrawStatistics`
        gathered while the draws were made.
    fields, units : field names and their units (sequence, or a dict {field: unit} for ``units``).
    time_ns : (frame,) frame times [ns], constant interval.
    dx_um : cell size [um]; threshold_K : hot-spot threshold [K].
    truth : optional (frame, field, y, x), same units.
    T_crit_K, A_crit_um2 : one or several critical values [K], [um^2] for exceedance probabilities.
    quantiles : increasing levels in (0, 1); the plots need 0.05, 0.25, 0.5, 0.75, 0.95.
    attrs : extra global attributes (str/number values), e.g. the model directory.
    Raises DataError on inconsistent shapes, a missing T field or non-finite values.
    """
    import xarray as xr

    from probtok import __version__

    run_id = _attr_id(run_id)
    gathered = isinstance(field_draws, DrawStatistics)
    draws = field_draws if gathered else _as_array_like(field_draws)
    fields = [str(f) for f in fields]
    if isinstance(units, dict):
        missing = [f for f in fields if f not in units]
        if missing:
            raise DataError(f"no unit given for fields {missing}", run=run_id, field=missing[0],
                            hint="units: one per field, e.g. {'T': 'K', 'P': 'GPa'}")
        units = [str(units[f]) for f in fields]
    else:
        units = [str(u) for u in units]
    time_ns = np.asarray(time_ns, dtype=np.float64)
    truth = None if truth is None else np.asarray(_as_numpy(truth), dtype=np.float64)
    _check_inputs(draws, fields, units, time_ns, truth, quantiles, run_id)
    q = np.asarray(quantiles, dtype=np.float64)
    t_crit, a_crit = _crit_values(T_crit_K, "T_crit_K"), _crit_values(A_crit_um2, "A_crit_um2")
    n_draw, n_frame, _, H, W = draws.shape
    dt_ns = float(time_ns[-1] - time_ns[0]) / (n_frame - 1)
    ti = fields.index("T")

    if gathered:
        if (draws.fields, draws.dx_um, draws.threshold_K) != (fields, float(dx_um), float(threshold_K)):
            raise ConfigError(f"the draw statistics were gathered for fields {draws.fields}, dx = {draws.dx_um} um "
                              f"and threshold {draws.threshold_K} K, not {fields}, {dx_um} um and {threshold_K} K")
        T_hs, A_hs, mean, std = draws.result()
    else:
        T_hs, A_hs, mean, std = _draw_statistics(draws, dx_um, threshold_K, fields, run_id).result()
    series = {"T_hs": T_hs, "A_hs": A_hs, "dT_hs_dt": rates(T_hs, dt_ns), "dA_hs_dt": rates(A_hs, dt_ns)}
    data_vars = {}
    for name, s in series.items():
        data_vars.update(_series_vars(name, s, q))
    data_vars["P_T_hs_exceeds"] = (("T_crit_K", "frame"), _exceedance(T_hs, t_crit),
                                   {"units": "1", "long_name": "P(T_hs(t) > T_crit) over draws"})
    data_vars["P_A_hs_exceeds"] = (("A_crit_um2", "frame"), _exceedance(A_hs, a_crit),
                                   {"units": "1", "long_name": "P(A_hs(t) > A_crit) over draws"})
    data_vars["growth_class_draws"] = (("draw",), growth_class(A_hs).astype(object),
                                       {"units": "1", "long_name": "hot-spot fate per draw "
                                        "(probtok.hotspots.growth_class of A_hs)"})
    data_vars["P_growth_class"] = (("growth_class",), np.array([np.mean(data_vars["growth_class_draws"][1] == c)
                                                                 for c in GROWTH_CLASSES]),
                                   {"units": "1", "long_name": "fraction of draws per hot-spot fate"})
    field_attrs = {"units": "see coordinate field_units"}
    data_vars["field_mean"] = (("frame", "field", "y", "x"), mean, {**field_attrs, "long_name": "mean over draws"})
    data_vars["field_std"] = (("frame", "field", "y", "x"), std,
                              {**field_attrs, "long_name": "standard deviation over draws (ddof=1)"})
    if truth is not None:
        _check_finite_truth(truth, fields, run_id)
        Tt = truth[:, ti]
        tt = {"T_hs": hotspot_temperature(Tt, threshold_K), "A_hs": hotspot_area(Tt, dx_um, threshold_K)}
        tt["dT_hs_dt"], tt["dA_hs_dt"] = rates(tt["T_hs"], dt_ns), rates(tt["A_hs"], dt_ns)
        for name, s in tt.items():
            unit, dim, long = SERIES[name]
            data_vars[f"{name}_truth"] = ((dim,), s, {"units": unit, "long_name": f"truth: {long}"})
        data_vars["growth_class_truth"] = ((), np.array(growth_class(tt["A_hs"]).item(), dtype=object),
                                           {"units": "1", "long_name": "truth: hot-spot fate"})
        data_vars["field_truth"] = (("frame", "field", "y", "x"), truth.astype(np.float32),
                                    {**field_attrs, "long_name": "true fields"})

    coords = {
        "draw": ("draw", np.arange(n_draw)),
        "frame": ("frame", np.arange(n_frame)),
        "time_ns": ("frame", time_ns, {"units": "ns", "long_name": "time of the frame"}),
        "interval": ("interval", np.arange(n_frame - 1)),
        "interval_start_ns": ("interval", time_ns[:-1], {"units": "ns"}),
        "interval_end_ns": ("interval", time_ns[1:], {"units": "ns"}),
        "time_mid_ns": ("interval", 0.5 * (time_ns[:-1] + time_ns[1:]), {"units": "ns"}),
        "quantile": ("quantile", q, {"units": "1"}),
        "growth_class": ("growth_class", np.array(GROWTH_CLASSES, dtype=object)),
        "T_crit_K": ("T_crit_K", t_crit, {"units": "K"}),
        "A_crit_um2": ("A_crit_um2", a_crit, {"units": "um^2"}),
        "field": ("field", np.array(fields, dtype=object)),
        "field_units": ("field", np.array(units, dtype=object)),
        "y_um": ("y", (np.arange(H) + 0.5) * float(dx_um), {"units": "um", "long_name": "cell centre y"}),
        "x_um": ("x", (np.arange(W) + 0.5) * float(dx_um), {"units": "um", "long_name": "cell centre x"}),
    }
    gattrs = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "run_id": run_id,
        "hotspot_threshold_K": float(threshold_K), "dx_um": float(dx_um), "dt_frame_ns": dt_ns,
        "n_draws": int(n_draw), "has_truth": int(truth is not None),
        "fields": json.dumps(fields), "field_units": json.dumps(dict(zip(fields, units))),
        "exceedance": f"P_T_hs_exceeds = P(T_hs > T_crit) for T_crit_K = {t_crit.tolist()}; "
                      f"P_A_hs_exceeds = P(A_hs > A_crit) for A_crit_um2 = {a_crit.tolist()} (strict, over draws)",
        "rates": "forward differences on dim 'interval': element k is the mean rate over frames k -> k+1",
        "probtok_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    for k, v in (attrs or {}).items():
        gattrs[str(k)] = v if isinstance(v, (int, float, str)) else json.dumps(v)
    return xr.Dataset(data_vars, coords=coords, attrs=gattrs)


def write_forecast(ds, path) -> Path:
    """Write a forecast dataset to ``path`` (NetCDF-4 via h5netcdf), atomically; returns the path.

    Field snapshots are gzip-compressed; everything else is stored as is (exact round trip).
    """
    import dask

    path = Path(path)
    if ds.attrs.get("format") != FORMAT:
        raise DataError("not a probtok forecast dataset (attribute format is missing or wrong)", file=path,
                        hint="build it with probtok.forecast.summarize_forecast")
    encoding = {v: {"zlib": True, "complevel": 4} for v in ds.data_vars if v.startswith("field_")}
    with atomic_path(path, suffix=".nc") as tmp:
        try:
            # built in memory, written with plain file I/O: a full disk is then an ordinary OSError
            # (when libhdf5's own writes failed with EFBIG/ENOSPC, it crashed the process on close)
            # the synchronous scheduler: inside a Dask worker (probtok bench fewshot) xarray would otherwise take a
            # distributed Lock named after the in-memory target, which the scheduler rejects
            with dask.config.set(scheduler="synchronous"):
                blob = ds.to_netcdf(engine="h5netcdf", encoding=encoding)
            with open(tmp, "wb") as fh:
                fh.write(blob)
        except OSError as exc:
            raise DataError(f"cannot write the forecast ({exc.strerror or exc}); the previous file, if any, "
                            "is unchanged", file=path,
                            hint="free disk space (or raise the file-size limit) and run the same command again") from exc
    return path


def read_forecast(path):
    """Read and validate a forecast file written by :func:`write_forecast`; returns an in-memory Dataset.

    Raises DataError when the file is missing, not NetCDF/HDF5, not a probtok forecast, of a newer
    format version, or lacks a required variable.
    """
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise DataError("no such forecast file", file=path, hint="check the path (forecasts end in .nc)")
    try:
        with xr.open_dataset(path, engine="h5netcdf", decode_times=False, decode_timedelta=False,
                             phony_dims="sort") as f:
            ds = f.load()
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"not a readable NetCDF/HDF5 file ({type(exc).__name__}: {exc})", file=path,
                        hint="a forecast file is written by `probtok forecast` / write_forecast") from exc
    fmt = ds.attrs.get("format")
    if not (isinstance(fmt, str) and fmt == FORMAT):
        raise DataError(f"not a probtok forecast (format attribute {fmt!r}, expected {FORMAT!r})", file=path,
                        hint="run files (format probtok-runs) are read with probtok.data.open_dataset")
    version = _int_attr(ds, "format_version", -1, path)
    if not 1 <= version <= FORMAT_VERSION:
        raise DataError(f"forecast format version {version} is not supported (this probtok reads "
                        f"1..{FORMAT_VERSION})", file=path, hint="upgrade probtok")
    missing = [v for v in REQUIRED_VARS if v not in ds.variables]
    if _int_attr(ds, "has_truth", 0, path):
        missing += [v for v in ("T_hs_truth", "A_hs_truth") if v not in ds.variables]
    if missing:
        raise DataError(f"forecast file lacks variables {missing}", file=path, hint="the file is incomplete; "
                        "write it again")
    return ds


def _int_attr(ds, name: str, default: int, path) -> int:
    value = ds.attrs.get(name, default)
    try:
        return int(np.asarray(value).item())
    except (TypeError, ValueError) as exc:
        raise DataError(f"attribute {name} = {value!r} is not an integer", file=path,
                        hint="the file was edited or written by another tool; write it again") from exc
