"""A run file's hot-spot threshold: the campaigns' rule, and a copy of a file at another threshold.

A hot spot is the set of cells with T > threshold [K]. The threshold belongs to the file: it is stored with
the per-run series ``T_hs`` [K] and ``A_hs`` [um^2] (:meth:`RunDataset.hotspots`), and every forecast, score
and benchmark of the file's runs uses it. It must clear every bulk shocked state of the file, or the metrics
count shocked bulk as hot spots.

The rule (:func:`rule_threshold`, what ``probtok simulate`` applies): ``max(875 K, hottest bulk + 100 K)``,
rounded up to 25 K, where the bulk of a run is the hotter of

* ``bulk_T_K``: the median temperature of its unreacted shocked solid at the last frame (NaN when all of it
  has reacted, as in the strongest meso runs), and
* ``inflow_T_K``: the Rankine-Hugoniot state its piston feeds in (:mod:`probtok.sim.hugoniot`), the hottest
  unreacted solid of a run: the porous bulk further in is cooler.

Campaigns made before ``inflow_T_K`` existed used ``bulk_T_K`` alone. In the default meso data that placed the
threshold 0-20 K above the inflow layer of the strongest runs (1000 and 1025 K against 1007-1056 K), so their
hot-spot series counted the layer behind the piston from the first frames. :func:`rethreshold` writes a copy
of such a file at the rule's threshold (the Hugoniot state computed from each run's ``up_kms``), or at one
given.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from probtok.data.hdf5 import RunWriter, open_dataset
from probtok.data.schema import DEFAULT_HOTSPOT_THRESHOLD_K
from probtok.errors import DataError

#: the rule as a file's ``hotspot_threshold_rule`` attribute states it
RULE_TEXT = ("max(default, hottest bulk shocked T + 100 K, rounded up to 25 K); the bulk of a run: the hotter of "
             "its unreacted shocked solid at the last frame (bulk_T_K) and the Hugoniot state its piston feeds in "
             "(inflow_T_K)")

#: root attributes the writer sets itself (not copied from the source file)
_WRITER_ATTRS = frozenset({"format", "format_version", "setup", "dx_um", "dt_frame_ns", "fields", "units",
                           "creator", "version", "created", "hotspot_threshold_K"})


def inflow_temperatures(ds) -> np.ndarray:
    """(run,) temperature [K] of the solid each run's piston feeds in: the file's ``inflow_T_K`` where it has
    one, else the HMX Hugoniot state at the run's ``up_kms`` (files of ``probtok simulate``, whose solid is
    HMX); NaN where neither is known."""
    n = ds.n_runs
    stored = ds.params.get("inflow_T_K")
    out = np.full(n, np.nan) if stored is None else np.asarray(stored, dtype=np.float64).copy()
    up = ds.params.get("up_kms")
    if ds.setup in ("micro", "meso") and up is not None:
        from probtok.sim.hugoniot import shocked_state

        up = np.asarray(up, dtype=np.float64)
        for r in np.flatnonzero(np.isnan(out) & np.isfinite(up) & (up > 0)):
            out[r] = shocked_state(float(up[r])).T_K
    return out


def rule_threshold(ds, default_K: float = DEFAULT_HOTSPOT_THRESHOLD_K, inflow=None) -> float:
    """The campaigns' threshold [K] for the ok runs of the open run file ``ds`` (module docstring);
    ``inflow``: its :func:`inflow_temperatures` when already computed. A DataError when the file records no
    bulk temperature of any kind (an imported file: give a threshold)."""
    from probtok.hotspots import choose_threshold

    ok = ds.ok_runs
    bulk = ds.params.get("bulk_T_K")
    bulk = np.full(ds.n_runs, np.nan) if bulk is None else np.asarray(bulk, dtype=np.float64)
    inflow = inflow_temperatures(ds) if inflow is None else inflow
    if not np.isfinite(np.fmax(bulk, inflow)[ok]).any():
        raise DataError("the file records no bulk shocked temperature (no bulk_T_K, inflow_T_K or up_kms of a "
                        "simulated run)", file=ds.path, hint="give the threshold: --threshold-K")
    return choose_threshold(bulk[ok], default_K=default_K, inflow_T_K=inflow[ok])


def low_threshold_note(ds) -> str | None:
    """A one-line note when the open run file ``ds`` has a hot-spot threshold below the rule's (a file
    simulated before the rule counted the piston's inflow state), naming the fix; None otherwise (and for
    files with no bulk temperature to judge by)."""
    inflow = inflow_temperatures(ds)
    try:
        rule = rule_threshold(ds, inflow=inflow)
    except DataError:
        return None
    if ds.hotspot_threshold_K >= rule:
        return None
    inflow = inflow[ds.ok_runs]
    hottest = f"{np.nanmax(inflow):.0f} K" if np.isfinite(inflow).any() else "unknown"
    return (f"hot-spot threshold {ds.hotspot_threshold_K:g} K is below the rule's {rule:g} K (the hottest "
            f"piston inflow of its runs: {hottest}): its hot-spot series may count shocked bulk as hot; "
            f"`probtok rethreshold {ds.path.name} --out COPY` writes a copy at {rule:g} K")


def rethreshold(src, out, threshold_K: float | None = None, progress: bool = False) -> tuple[float, float]:
    """Copy the run file ``src`` to ``out`` with the hot-spot threshold ``threshold_K`` [K] (default: the
    rule's, :func:`rule_threshold`) and its hot-spot series recomputed; frames, parameters, geometry,
    statuses and attributes as they were (plus ``inflow_T_K`` where it was computed, and the attribute
    ``rethresholded_from``). Written atomically; ``out`` must not be ``src``. Returns (old, new) threshold."""
    src, out = Path(src), Path(out)
    if out.resolve() == src.resolve():
        raise DataError("the copy would replace the file it is read from", file=out,
                        hint="write to another path, then move it over the original if you want")
    with open_dataset(src) as ds:
        old = float(ds.hotspot_threshold_K)
        inflow = inflow_temperatures(ds)
        new = rule_threshold(ds, inflow=inflow) if threshold_K is None else float(threshold_K)
        if not np.isfinite(new) or new <= 0:
            raise DataError(f"a threshold must be a positive temperature [K], got {new}", file=src)
        attrs = {k: v for k, v in ds.attrs.items() if k not in _WRITER_ATTRS}
        attrs["rethresholded_from"] = json.dumps({"file": src.name, "hotspot_threshold_K": old})
        attrs["hotspot_threshold_rule"] = RULE_TEXT if threshold_K is None else "given (probtok rethreshold)"
        params = dict(ds.params)
        if np.isfinite(inflow).any():
            params["inflow_T_K"] = inflow
            attrs["inflow_T_K_max"] = float(np.nanmax(inflow[ds.ok_runs])) if len(ds.ok_runs) else float("nan")
        runs = range(ds.n_runs)
        if progress:
            from probtok.progress import track

            runs = track(runs, f"{src.name} -> {out.name} at {new:g} K", total=ds.n_runs)
        with RunWriter(out, n_runs=ds.n_runs, time_ns=ds.time_ns, fields=ds.fields, units=ds.units, grid=ds.grid,
                       dx_um=ds.dx_um, dt_frame_ns=ds.dt_frame_ns, setup=ds.setup, hotspot_threshold_K=new,
                       attrs=attrs) as w:
            for r in runs:
                ok = str(ds.status[r]) == "ok"
                row = {k: (v[r].item() if hasattr(v[r], "item") else v[r]) for k, v in params.items()}
                w.write_run(r, ds.frames(r) if ok else None, params=row, geometry=ds.geometry(r), ok=ok,
                            failure=str(ds.failure[r]))
    return old, new
