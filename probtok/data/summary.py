"""A human summary of a run file (what ``probtok info`` prints).

:func:`summarize` collects plain numbers (testable); :func:`render` turns them
into rich tables.
"""

from __future__ import annotations

import numpy as np

from probtok.data.hdf5 import open_dataset


def summarize(path, check: bool = False) -> dict:
    """Numbers describing the file: runs, grid, frames, fields (unit, min, max, mean, std),
    parameter ranges, hot-spot statistics and ``threshold_note`` (:func:`probtok.data.threshold.
    low_threshold_note`: the threshold is below the campaigns' rule). ``check``: rescan every run (validation)."""
    from probtok.data.threshold import low_threshold_note
    from probtok.hotspots import growth_class

    with open_dataset(path) as ds:
        stats = ds.normalisation()
        if check:
            from probtok.data.validate import validate_file

            rep = validate_file(path, progress=True)
            stats = {**stats, "min": rep.min, "max": rep.max}
        H, W = ds.grid
        s = {
            "path": str(ds.path), "setup": ds.setup, "attrs": ds.attrs,
            "n_runs": ds.n_runs, "n_ok": int(len(ds.ok_runs)),
            "failures": {int(i): str(ds.failure[i]) for i in np.flatnonzero(ds.status != "ok")},
            "grid": (H, W), "dx_um": ds.dx_um, "extent_um": (H * ds.dx_um, W * ds.dx_um),
            "n_frames": ds.n_frames, "dt_frame_ns": ds.dt_frame_ns,
            "t_range_ns": (float(ds.time_ns[0]), float(ds.time_ns[-1])) if ds.n_frames else (0.0, 0.0),
            "fields": {k: {"unit": ds.units[k], **{st: float(stats[st][i]) for st in ("min", "max", "mean", "std")}}
                       for i, k in enumerate(ds.fields)},
            "params": {}, "hotspot_threshold_K": ds.hotspot_threshold_K, "hotspots": None,
            "threshold_note": low_threshold_note(ds),
        }
        for name, col in ds.params.items():
            if col.dtype.kind in "iuf":
                s["params"][name] = {"min": float(np.nanmin(col)), "max": float(np.nanmax(col)),
                                     "int": col.dtype.kind in "iu"}
            else:
                vals, counts = np.unique(col, return_counts=True)
                s["params"][name] = {"values": dict(zip(vals.tolist(), counts.tolist()))}
        hs = ds.hotspots()
        ok = ds.ok_runs
        if hs is not None and len(ok):
            T_hs, A_hs = hs["T_hs"][ok], hs["A_hs"][ok]
            classes = growth_class(A_hs)
            s["hotspots"] = {
                "runs_with_hot_spot": int((A_hs > 0).any(axis=1).sum()),
                "peak_T_hs_K": _q(T_hs.max(axis=1)), "peak_A_hs_um2": _q(A_hs.max(axis=1)),
                "final_A_hs_um2": _q(A_hs[:, -1]),
                "classes": {c: int((classes == c).sum()) for c in ("grow", "quench", "none")},
            }
    return s


#: the per-run table's default parameter columns (``probtok info --runs``), those of them the file has
DEFAULT_RUN_PARAMS = ("up_kms", "porosity", "n_pores")


def summarize_runs(path, params=None, sort: str | None = None) -> dict:
    """One row per run: {"params": [names], "sort": name or None, "hotspot_threshold_K",
    "rows": [{"run", "status", "params": {name: value}, "peak_T_hs_K", "peak_A_hs_um2", "final_A_hs_um2",
    "class"}]}; the hot-spot entries are None where the file stores no hot-spot series or the run failed.

    ``params``: parameter names (default: those of :data:`DEFAULT_RUN_PARAMS` the file has, else its first
    six); ``sort``: a parameter to order the rows by (ascending; default: run index). A name the file does
    not have is a DataError listing the ones it has (:meth:`RunDataset.param`)."""
    from probtok.hotspots import growth_class

    with open_dataset(path) as ds:
        if params is None:
            params = [p for p in DEFAULT_RUN_PARAMS if p in ds.params] or list(ds.params)[:6]
        cols = {name: ds.param(name) for name in params}
        key = None if sort is None else ds.param(sort, "--sort")
        hs = ds.hotspots()
        classes = growth_class(hs["A_hs"]) if hs is not None else None
        rows = []
        for r in range(ds.n_runs):
            ok = str(ds.status[r]) == "ok"
            row = {"run": r, "status": str(ds.status[r]),
                   "params": {name: (col[r].item() if hasattr(col[r], "item") else col[r])
                              for name, col in cols.items()},
                   "peak_T_hs_K": None, "peak_A_hs_um2": None, "final_A_hs_um2": None, "class": None}
            if hs is not None and ok:
                row.update(peak_T_hs_K=float(hs["T_hs"][r].max()), peak_A_hs_um2=float(hs["A_hs"][r].max()),
                           final_A_hs_um2=float(hs["A_hs"][r, -1]), **{"class": str(classes[r])})
            rows.append(row)
        if key is not None:
            rows = [rows[i] for i in np.argsort(key, kind="stable")]
        return {"path": str(ds.path), "params": list(params), "sort": sort,
                "hotspot_threshold_K": ds.hotspot_threshold_K, "rows": rows}


def render_runs(s: dict):
    """A rich table of :func:`summarize_runs`."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    order = f", sorted by {s['sort']}" if s["sort"] else ""
    # light borders: a row of three parameters and the hot-spot columns fits 80 columns uncut
    t = Table(title=f"runs{order} (hot spots: T > {s['hotspot_threshold_K']:g} K)", title_justify="left",
              box=box.SIMPLE_HEAD)
    failed = any(row["status"] != "ok" for row in s["rows"])
    t.add_column("run", justify="right")
    if failed:  # a column of "ok" only when some run failed
        t.add_column("status")
    for name in s["params"]:  # names and values uncut; the hot-spot headers wrap instead
        t.add_column(escape(name), justify="right", min_width=len(name), no_wrap=True)
    for label in ("peak T_hs [K]", "peak A_hs [um^2]", "final A_hs [um^2]"):
        t.add_column(escape(label), justify="right", min_width=6)
    t.add_column("hot spot", min_width=6, no_wrap=True)

    def fmt(v):
        if v is None:
            return "-"
        return f"{v:.4g}" if isinstance(v, float) else escape(str(v))  # ints (counts, seeds) in full

    for row in s["rows"]:
        t.add_row(str(row["run"]), *([escape(row["status"])] if failed else []),
                  *(fmt(row["params"][n]) for n in s["params"]),
                  *(fmt(row[k]) for k in ("peak_T_hs_K", "peak_A_hs_um2", "final_A_hs_um2", "class")))
    return t


def _q(x) -> dict:
    return {"min": float(np.min(x)), "median": float(np.median(x)), "max": float(np.max(x))}


def render(s: dict) -> list:
    """Rich renderables for a summary from :func:`summarize`."""
    from rich.markup import escape
    from rich.table import Table

    a = s["attrs"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    n_fail = s["n_runs"] - s["n_ok"]
    head.add_row("file", s["path"])
    head.add_row("format", f"{a.get('format')} v{a.get('format_version')}, written by {a.get('creator')} "
                           f"{a.get('version')} at {a.get('created')}")
    head.add_row("setup", s["setup"])
    head.add_row("runs", f"{s['n_runs']} ({s['n_ok']} ok, {n_fail} failed)")
    head.add_row("grid", f"{s['grid'][0]} x {s['grid'][1]} cells (y, x), dx = {s['dx_um']:g} um, "
                         f"domain {s['extent_um'][0]:g} x {s['extent_um'][1]:g} um")
    head.add_row("frames", f"{s['n_frames']}, every {s['dt_frame_ns']:g} ns, t = {s['t_range_ns'][0]:g} .. "
                           f"{s['t_range_ns'][1]:g} ns")
    out = [head]
    if s["failures"]:
        ft = Table(title="failed runs", title_justify="left")
        ft.add_column("run", justify="right")
        ft.add_column("reason")
        for i, why in list(s["failures"].items())[:10]:
            ft.add_row(str(i), escape(why))
        if len(s["failures"]) > 10:
            ft.add_row("...", f"{len(s['failures']) - 10} more")
        out.append(ft)
    t = Table(title="fields (over ok runs)", title_justify="left")
    for col in ("field", "unit", "min", "max", "mean", "std"):
        t.add_column(col, justify="left" if col in ("field", "unit") else "right")
    for k, f in s["fields"].items():
        t.add_row(k, f["unit"], *(f"{f[st]:.4g}" for st in ("min", "max", "mean", "std")))
    out.append(t)
    if s["params"]:
        p = Table(title="run parameters", title_justify="left")
        p.add_column("parameter")
        p.add_column("range / values")
        for name, v in s["params"].items():
            fmt = "{:d}" if v.get("int") else "{:.4g}"
            p.add_row(name, f"{fmt.format(int(v['min']) if v.get('int') else v['min'])} .. "
                      f"{fmt.format(int(v['max']) if v.get('int') else v['max'])}" if "min" in v else
                      ", ".join(f"{k} ({n})" for k, n in v["values"].items()))
        out.append(p)
    h = s["hotspots"]
    if h is not None:
        ht = Table(title=f"hot spots (T > {s['hotspot_threshold_K']:g} K)", title_justify="left")
        ht.add_column("quantity", justify="left")
        for col in ("min", "median", "max"):
            ht.add_column(col, justify="right")
        for label, key in (("peak T_hs [K]", "peak_T_hs_K"), ("peak A_hs [um^2]", "peak_A_hs_um2"),
                           ("final A_hs [um^2]", "final_A_hs_um2")):
            ht.add_row(escape(label), *(f"{h[key][q]:.4g}" for q in ("min", "median", "max")))
        out.append(ht)
        c = h["classes"]
        n = max(sum(c.values()), 1)
        out.append(f"runs with a hot spot: {h['runs_with_hot_spot']} of {s['n_ok']} ok; "
                   f"grow {c['grow']} ({100 * c['grow'] / n:.0f} %), quench {c['quench']} "
                   f"({100 * c['quench'] / n:.0f} %), none {c['none']} ({100 * c['none'] / n:.0f} %)")
    if s.get("threshold_note"):
        out.append(f"[yellow]note:[/yellow] {escape(s['threshold_note'])}")
    return out
