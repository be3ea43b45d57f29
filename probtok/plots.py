"""Plots of forecasts (fan charts, field snapshots) and of calibration (reliability), as PNG.

Every function builds a ``matplotlib.figure.Figure`` directly (no pyplot state,
no GUI backend: safe in scripts, workers and tests) and returns it; tests can
inspect titles, labels and artists. :func:`save_png` writes one atomically.

Inputs are forecast datasets from :func:`probtok.forecast.summarize_forecast`
(or :func:`probtok.forecast.read_forecast`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from probtok.atomic import atomic_path
from probtok.errors import ConfigError, DataError

BAND_QUANTILES = ((0.05, 0.95), (0.25, 0.75))
#: Axis labels (mathtext) and units of the hot-spot quantities.
LABELS = {
    "T_hs": r"$T_\mathrm{hs}$ [K]",
    "A_hs": r"$A_\mathrm{hs}$ [$\mu$m$^2$]",
    "dT_hs_dt": r"$dT_\mathrm{hs}/dt$ [K/ns]",
    "dA_hs_dt": r"$dA_\mathrm{hs}/dt$ [$\mu$m$^2$/ns]",
}
NAMES_TEX = {"T_hs": r"$T_\mathrm{hs}$", "A_hs": r"$A_\mathrm{hs}$", "dT_hs_dt": r"$dT_\mathrm{hs}/dt$",
             "dA_hs_dt": r"$dA_\mathrm{hs}/dt$"}
_UNIT_TEX = {"um^2": r"$\mu$m$^2$", "um": r"$\mu$m", "km/s": "km/s", "1": "-"}
FIELD_CMAPS = {"T": "inferno", "P": "viridis", "mu": "gray", "lam": "magma", "u": "RdBu_r", "v": "RdBu_r"}
_BAND_COLOR = "tab:blue"
_REFERENCE_COLORS = ("tab:green", "tab:purple", "tab:brown", "tab:olive")


def _figure(**kw):
    from matplotlib.figure import Figure

    return Figure(layout="constrained", **kw)


def _quantile(ds, name: str, q: float) -> np.ndarray:
    da = ds[f"{name}_quantiles"]
    levels = da["quantile"].values
    i = np.flatnonzero(np.isclose(levels, q))
    if i.size == 0:
        raise ConfigError(f"the forecast has no {q:g} quantile of {name} (it has {levels.tolist()})",
                          hint="summarise with quantiles including 0.05, 0.25, 0.5, 0.75, 0.95")
    return da.values[i[0]]


def _time(ds, name: str) -> np.ndarray:
    dim = ds[f"{name}_quantiles"].dims[-1]
    return ds["time_ns"].values if dim == "frame" else ds["time_mid_ns"].values


def _run_label(ds) -> str:
    return f"run {ds.attrs.get('run_id', '?')}"


def fan_panel(ax, ds, name: str, reference: dict | None = None) -> None:
    """Draw the fan chart of one hot-spot quantity (5-95 and 25-75 % bands, median, truth) on ``ax``.

    ``reference``: {label: {quantity: series}} of deterministic forecasts of the same run (e.g. PARC's),
    drawn as dashed lines; each series has one value per point of the quantity's time axis (frames,
    or frame intervals for rates). A label without this quantity is skipped."""
    if f"{name}_quantiles" not in ds:
        raise DataError(f"the forecast has no quantiles of {name}", run=ds.attrs.get("run_id"))
    t = _time(ds, name)
    for (lo, hi), alpha in zip(BAND_QUANTILES, (0.2, 0.4)):
        ax.fill_between(t, _quantile(ds, name, lo), _quantile(ds, name, hi), color=_BAND_COLOR, alpha=alpha,
                        linewidth=0, label=f"{100 * lo:g}-{100 * hi:g} %")
    ax.plot(t, _quantile(ds, name, 0.5), color=_BAND_COLOR, lw=1.8, label="median")
    if f"{name}_truth" in ds:
        ax.plot(t, ds[f"{name}_truth"].values, color="k", lw=1.4, marker="o", ms=3, label="truth (simulation)")
    for (label, series), color in zip((reference or {}).items(), _REFERENCE_COLORS):
        if name not in series:
            continue
        y = np.asarray(series[name], dtype=float)
        if y.shape != t.shape:
            raise DataError(f"the reference {label!r} has {y.size} values of {name}, the forecast {t.size}",
                            run=ds.attrs.get("run_id"), hint="give the reference's series over the same frames")
        ax.plot(t, y, color=color, lw=1.5, ls="--", label=label)
    ax.set_ylabel(LABELS.get(name, name))
    ax.grid(alpha=0.3, lw=0.5)


def _mark_T_axis(ax, ds) -> None:
    """Threshold and critical temperatures; T_hs = 0 (no hot cell) falls below the axis."""
    thr = float(ds.attrs["hotspot_threshold_K"])
    ax.axhline(thr, color="0.4", ls=":", lw=1, label=f"threshold {thr:g} K")
    for c in ds["T_crit_K"].values:
        ax.axhline(c, color="tab:red", ls="--", lw=1, label=f"$T_\\mathrm{{crit}}$ = {c:g} K")
    # headroom above the data and T_crit for the legend
    top = max(ax.get_ylim()[1], float(ds["T_crit_K"].values.max()))
    bottom = thr - 0.08 * (top - thr)
    ax.set_ylim(bottom, top + 0.35 * (top - bottom))
    ax.text(0.99, 0.97, "no hot cell ($T_\\mathrm{hs}$ = 0): below the axis", transform=ax.transAxes,
            ha="right", va="top", fontsize=7, color="0.4")


def _mark_A_axis(ax, ds) -> None:
    for c in ds["A_crit_um2"].values:
        ax.axhline(c, color="tab:red", ls="--", lw=1, label=f"$A_\\mathrm{{crit}}$ = {c:g} $\\mu$m$^2$")
    top = max(ax.get_ylim()[1], float(ds["A_crit_um2"].values.max()))
    ax.set_ylim(0, 1.35 * top)


def exceedance_panel(ax, ds) -> None:
    """P(T_hs > T_crit), P(A_hs > A_crit) and P(any hot cell) against time on ``ax``."""
    t = ds["time_ns"].values
    for c, p in zip(ds["T_crit_K"].values, ds["P_T_hs_exceeds"].values):
        ax.plot(t, p, color="tab:red", lw=1.5, label=f"P($T_\\mathrm{{hs}}$ > {c:g} K)")
    for c, p in zip(ds["A_crit_um2"].values, ds["P_A_hs_exceeds"].values):
        ax.plot(t, p, color="tab:purple", lw=1.5, ls="-.", label=f"P($A_\\mathrm{{hs}}$ > {c:g} $\\mu$m$^2$)")
    ax.plot(t, (ds["A_hs_draws"].values > 0).mean(axis=0), color="0.4", lw=1, ls=":", label="P(any hot cell)")
    if "P_growth_class" in ds:
        fates = ", ".join(f"P({c}) = {p:.2f}" for c, p in zip(ds["growth_class"].values, ds["P_growth_class"].values))
        if "growth_class_truth" in ds:
            fates += f"; truth: {ds['growth_class_truth'].item()}"
        ax.set_title(f"hot-spot fate: {fates}", fontsize=8, loc="left")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("probability")
    ax.grid(alpha=0.3, lw=0.5)


def fan_chart(ds, quantities=("T_hs", "A_hs"), exceedance: bool = True, reference: dict | None = None):
    """Fan charts of hot-spot quantities against time [ns], one panel each, plus an exceedance panel;
    ``reference`` as in :func:`fan_panel` (e.g. the PARC baseline's forecast of the same run).

    Returns the Figure (axes share the time axis; the last one has the x label).
    """
    n = len(quantities) + int(exceedance)
    ratios = [3] * len(quantities) + ([1.6] if exceedance else [])
    fig = _figure(figsize=(7.0, 2.6 * len(quantities) + (1.6 if exceedance else 0)))
    axes = fig.subplots(n, 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, quantities):
        fan_panel(ax, ds, name, reference)
        if name == "T_hs":
            _mark_T_axis(ax, ds)
        elif name == "A_hs":
            _mark_A_axis(ax, ds)
        ax.legend(fontsize=7, loc="upper left", ncols=2, frameon=False)
    if exceedance:
        exceedance_panel(axes[-1], ds)
        axes[-1].legend(fontsize=7, loc="upper left", frameon=False)
    axes[-1].set_xlabel("time [ns]")
    fig.suptitle(f"{_run_label(ds)}: hot-spot forecast, {int(ds.sizes['draw'])} draws "
                 f"(threshold {float(ds.attrs['hotspot_threshold_K']):g} K)", fontsize=10)
    return fig


def default_frames(n_frames: int, k: int = 3) -> list[int]:
    """``k`` frames spread over the run, the last included, the initial frame (given) excluded when possible."""
    if n_frames <= k:
        return list(range(n_frames))
    return sorted({int(round(v)) for v in np.linspace(0, n_frames - 1, k + 1)[1:]})


def _unit_tex(u: str) -> str:
    return _UNIT_TEX.get(u, u)


def field_snapshots(ds, field: str = "T", frames=None):
    """Truth / forecast mean / forecast std of one field at a few frames (rows), in um.

    Truth and mean share one colour scale (over the frames shown); std has its own, from 0.
    On temperature panels a contour marks the hot-spot threshold.
    """
    names = [str(f) for f in ds["field"].values]
    if field not in names:
        raise DataError(f"the forecast has no field {field!r} (it has {names})", field=field,
                        run=ds.attrs.get("run_id"))
    n_frames = int(ds.sizes["frame"])
    frames = default_frames(n_frames) if frames is None else [int(f) for f in frames]
    bad = [f for f in frames if not 0 <= f < n_frames]
    if bad:
        raise ConfigError(f"frames {bad} do not exist (the forecast has {n_frames} frames)")
    unit = _unit_tex(str(ds["field_units"].sel(field=field).values))
    has_truth = "field_truth" in ds
    cols = (["field_truth"] if has_truth else []) + ["field_mean", "field_std"]
    titles = {"field_truth": "truth (simulation)", "field_mean": "forecast mean", "field_std": "forecast std"}
    data = {c: ds[c].sel(field=field).values[frames] for c in cols}
    shared = np.concatenate([data[c].ravel() for c in cols if c != "field_std"])
    vmin, vmax = float(np.min(shared)), float(np.max(shared))
    smax = float(np.max(data["field_std"])) or 1.0
    x, y = ds["x_um"].values, ds["y_um"].values
    dx = float(ds.attrs["dx_um"])
    extent = (x[0] - dx / 2, x[-1] + dx / 2, y[0] - dx / 2, y[-1] + dx / 2)
    aspect = (extent[3] - extent[2]) / (extent[1] - extent[0])
    fig = _figure(figsize=(2.6 * len(cols) + 1.8, (2.6 * aspect + 0.15) * len(frames) + 0.5))
    axes = np.atleast_2d(fig.subplots(len(frames), len(cols), sharex=True, sharey=True, squeeze=False))
    cmap = FIELD_CMAPS.get(field, "viridis")
    thr = float(ds.attrs["hotspot_threshold_K"])
    ims = {}
    for r, f in enumerate(frames):
        for c, col in enumerate(cols):
            ax = axes[r, c]
            img = data[col][r]
            if col == "field_std":
                ims[col] = ax.imshow(img, origin="lower", extent=extent, cmap="cividis", vmin=0, vmax=smax)
            else:
                ims[col] = ax.imshow(img, origin="lower", extent=extent, cmap=cmap, vmin=vmin, vmax=vmax)
                if field == "T" and img.max() > thr > img.min():
                    ax.contour(x, y, img, levels=[thr], colors="c", linewidths=0.7)
            if r == 0:
                ax.set_title(titles[col], fontsize=9)
            if c == 0:
                ax.set_ylabel(f"t = {float(ds['time_ns'].values[f]):.3g} ns\ny [$\\mu$m]", fontsize=8)
            if r == len(frames) - 1:
                ax.set_xlabel("x [$\\mu$m]", fontsize=8)
            ax.tick_params(labelsize=7)
    main_cols = [i for i, col in enumerate(cols) if col != "field_std"]
    cb = fig.colorbar(ims["field_mean"], ax=axes[:, main_cols].ravel().tolist(), shrink=0.9, aspect=30)
    cb.set_label(f"{field} [{unit}]")
    cbs = fig.colorbar(ims["field_std"], ax=axes[:, -1].tolist(), shrink=0.9, aspect=30)
    cbs.set_label(f"std of {field} [{unit}]")
    note = f", cyan: {thr:g} K contour" if field == "T" else ""
    fig.suptitle(f"{_run_label(ds)}: {field} snapshots ({int(ds.sizes['draw'])} draws{note})", fontsize=10)
    return fig


def reliability_plot(curves: dict, title: str = "reliability of central intervals", dashed: dict | None = None):
    """Nominal vs empirical coverage, one line per quantity, with the diagonal.

    curves : {quantity: (levels, empirical, n_points)} (see ``probtok.calibration.reliability_curve``);
    ``dashed`` (the same form): drawn thin and dashed in the colour of the quantity of the same name in
    ``curves`` (the interval coverage beside the PIT coverage).
    The grey band is the 95 % binomial range of the empirical coverage of a perfectly calibrated
    forecast for the smallest n_points, valid if points were independent (frames of one run are not,
    so the true sampling spread is wider).
    """
    fig = _figure(figsize=(4.6, 5.0 + (0.3 if dashed else 0.0)))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.3", ls="--", lw=1, label="perfect calibration")
    ns = [int(c[2]) for c in curves.values() if int(c[2]) > 0]
    if ns:
        p = np.linspace(0, 1, 101)
        half = 1.96 * np.sqrt(p * (1 - p) / min(ns))
        ax.fill_between(p, np.clip(p - half, 0, 1), np.clip(p + half, 0, 1), color="0.85", lw=0,
                        label=f"95 % binomial range, n = {min(ns)} (if independent)")
    markers = "osD^v"
    for i, (name, (lv, emp, n)) in enumerate(curves.items()):
        line, = ax.plot(lv, emp, marker=markers[i % len(markers)], ms=4, lw=1.5,
                        label=f"{NAMES_TEX.get(name, name)} (n = {int(n)})")
        if dashed and name in dashed:
            ax.plot(dashed[name][0], dashed[name][1], ls="--", lw=0.9, color=line.get_color(),
                    label=f"{NAMES_TEX.get(name, name)}, plain intervals")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("nominal coverage of central interval")
    ax.set_ylabel("empirical coverage")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, lw=0.5)
    fig.legend(fontsize=7, loc="outside lower center", ncols=2, frameon=False)
    return fig


def reliability_from_forecasts(forecasts, quantities=("T_hs", "A_hs"), drop_trivial: bool = True):
    """Reliability plot of forecast datasets (with truth), pooled over runs and frames: the coverage of the
    randomized central intervals (on the diagonal for a calibrated forecast, atoms at 0 included), and dashed
    that of the plain intervals (above the diagonal where the draws tie at 0, even when calibrated)."""
    from probtok.calibration import reliability_curves

    forecasts = list(forecasts)
    both = {q: reliability_curves(forecasts, q, drop_trivial=drop_trivial) for q in quantities}
    curves = {q: (lv, pit, n) for q, (lv, _, pit, n) in both.items()}
    plain = {q: (lv, cov, n) for q, (lv, cov, _, n) in both.items()}
    return reliability_plot(curves, title=f"reliability (PIT) over {len(forecasts)} held-out run(s)", dashed=plain)


def save_png(fig, path, dpi: int = 150) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def write_forecast_plots(ds, out_dir, fields=None, prefix: str | None = None) -> dict[str, Path]:
    """Fan chart and field snapshots (default: every field) of one forecast as PNGs in ``out_dir``.

    Returns {"fan": path, "fields_<name>": path, ...}; names start with ``prefix``
    (default ``run<run_id>``).
    """
    out_dir = Path(out_dir)
    prefix = prefix or f"run{ds.attrs.get('run_id', 0)}"
    paths = {"fan": save_png(fan_chart(ds), out_dir / f"{prefix}_fan.png")}
    for f in fields or [str(v) for v in ds["field"].values]:
        paths[f"fields_{f}"] = save_png(field_snapshots(ds, f), out_dir / f"{prefix}_fields_{f}.png")
    return paths
