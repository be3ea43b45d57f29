"""Calibration of sample forecasts against the truth: interval coverage, CRPS, PIT, RMSE of the median.

Conventions. ``draws`` has the draws on axis 0 and any point dims after it
(e.g. (draw, frame) for one run, or (draw, point) over many runs and frames);
``truth`` has the point dims only. Points whose truth is NaN are skipped.

*Trivial points.* Hot-spot series are often exactly 0 in every draw and in the
truth (before the shock reaches a pore). Such a point is "covered" by every
interval and would pull coverage towards 1 while saying nothing about the
forecast's calibration. Functions that take ``drop_trivial`` (default True)
skip points where every draw equals the truth exactly; their number is reported.

*PIT.* Ensemble forecasts of discrete-valued quantities (areas are multiples of
dx^2) have ties; :func:`pit_values` is the randomized PIT of Czado, Gneiting &
Held (2009): ``u = F(y-) + V (F(y) - F(y-))``, V ~ U(0, 1), which is uniform
for a calibrated forecast even with ties.

*Atoms: interval coverage is not nominal there, PIT coverage is.* ``T_hs`` and
``A_hs`` are exactly 0 while no cell is hot, and a forecast puts a point mass
(an atom) there. When the atom holds more than (1 - level) / 2 of the draws the
central interval starts at 0, so it holds more than ``level`` of the forecast's
own mass (:func:`interval_content`), and a *calibrated* forecast covers the truth
that often: with an atom of 0.3 at 0, a calibrated forecast's 50 % interval covers
0.75 of the truths (``tests/test_calibration.py``). So interval coverage
(:func:`coverage`, the literal "fraction inside the 50 % interval") overstates the
spread wherever the forecast has an atom. :func:`pit_coverage` is the coverage of
the randomized central interval: the fraction of points whose randomized PIT lies
in [(1 - level) / 2, (1 + level) / 2], averaged over the randomization (so it is
deterministic). It equals ``level`` in expectation for a calibrated forecast,
atoms or not, and equals the interval coverage where the forecast has no ties. Tables report both; compare the interval coverage with the
interval's own content, the PIT coverage with the nominal level.

*Correlation.* Frames of one run are strongly correlated, so the effective
number of independent points is closer to the number of runs than to
runs x frames; read coverages over few runs with that in mind.
:func:`calibration_table` therefore gives each pooled coverage a range with the
number of runs as the sample size (:func:`run_coverage_range`).
"""

from __future__ import annotations

import json
import math

import numpy as np

from probtok.errors import DataError

DEFAULT_LEVELS = (0.5, 0.9)
RANGE_CONFIDENCE = 0.9  # of the range given to a pooled coverage (run_coverage_range)
RELIABILITY_LEVELS = tuple(np.round(np.arange(0.1, 1.0, 0.1), 10))
QUANTITIES = ("T_hs", "A_hs", "dT_hs_dt", "dA_hs_dt")
UNITS = {"T_hs": "K", "A_hs": "um^2", "dT_hs_dt": "K/ns", "dA_hs_dt": "um^2/ns"}


def _pair(draws, truth):
    """Draws flattened to (draw, point) and truth to (point,), float64, NaN-truth points dropped."""
    x = np.asarray(draws, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if x.ndim < 1 or x.shape[1:] != y.shape:
        raise DataError(f"draws of shape {x.shape} do not match truth of shape {y.shape}",
                        hint="draws need one leading draw axis in front of the truth's shape")
    if x.shape[0] < 1:
        raise DataError("no draws")
    x = x.reshape(x.shape[0], -1)
    y = y.reshape(-1)
    keep = np.isfinite(y)
    return x[:, keep], y[keep]


def trivial_mask(draws, truth) -> np.ndarray:
    """True where every draw equals the truth exactly (no information on calibration); (point,)."""
    x, y = _pair(draws, truth)
    return np.all(x == y[None, :], axis=0)


def _select(draws, truth, drop_trivial: bool):
    x, y = _pair(draws, truth)
    if drop_trivial:
        keep = ~np.all(x == y[None, :], axis=0)
        return x[:, keep], y[keep], int((~keep).sum())
    return x, y, 0


def central_interval(draws, level: float, axis: int = 0):
    """(lower, upper) bounds of the central ``level`` interval: the (1-level)/2 and (1+level)/2
    empirical quantiles of ``draws`` along ``axis`` (numpy linear interpolation)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    lo, hi = np.quantile(np.asarray(draws, dtype=np.float64), [(1 - level) / 2, (1 + level) / 2], axis=axis)
    return lo, hi


def covered(draws, truth, level: float) -> np.ndarray:
    """Whether each truth value lies in the central ``level`` interval of its draws (bounds inclusive);
    boolean, shape of ``truth`` (NaN truth counts as not covered)."""
    lo, hi = central_interval(draws, level)
    y = np.asarray(truth, dtype=np.float64)
    return (lo <= y) & (y <= hi)


def coverage(draws, truth, levels=DEFAULT_LEVELS, drop_trivial: bool = True) -> dict[float, float]:
    """Empirical coverage {level: fraction of points covered} of central intervals; NaN without points."""
    x, y, _ = _select(draws, truth, drop_trivial)
    if y.size == 0:
        return {float(lv): float("nan") for lv in levels}
    return {float(lv): float(covered(x, y, lv).mean()) for lv in levels}


def interval_content(draws, level: float) -> np.ndarray:
    """The forecast's own probability of its central ``level`` interval (bounds inclusive): the fraction of the
    draws inside it, shape of the point dims. About ``level`` for a continuous forecast, more where the draws
    have an atom (e.g. 1 where all of them are 0); the interval coverage a calibrated forecast has."""
    x = np.asarray(draws, dtype=np.float64)
    lo, hi = central_interval(x, level)
    return ((x >= lo[None]) & (x <= hi[None])).mean(axis=0)


def _checked(draws, truth):
    """(draws, truth) as float64 arrays, draws with one leading draw axis in front of the truth's shape."""
    x = np.asarray(draws, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if x.shape[1:] != y.shape:
        raise DataError(f"draws of shape {x.shape} do not match truth of shape {y.shape}")
    return x, y


def _cdf_bounds(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F(y-), F(y)) of the draws' empirical CDF at the truth: the share of draws below it, at or below it."""
    n = x.shape[0]
    return (x < y[None]).sum(axis=0) / n, (x <= y[None]).sum(axis=0) / n


def _band_share(below: np.ndarray, at_or_below: np.ndarray, level: float) -> np.ndarray:
    """The probability that a PIT uniform on [below, at_or_below] lies in the central ``level`` band (the
    indicator of ``below`` in the band where the two are equal: no tie)."""
    a, b = (1 - level) / 2, (1 + level) / 2
    width = at_or_below - below
    share = np.clip(np.minimum(at_or_below, b) - np.maximum(below, a), 0, None) / np.where(width > 0, width, 1.0)
    return np.where(width > 0, share, ((a <= below) & (below <= b)).astype(np.float64))


def _interval_scores(x: np.ndarray, y: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`covered`, :func:`interval_content`) of the central ``level`` interval, its quantiles computed once."""
    lo, hi = central_interval(x, level)
    return (lo <= y) & (y <= hi), ((x >= lo[None]) & (x <= hi[None])).mean(axis=0)


def pit_covered(draws, truth, level: float) -> np.ndarray:
    """The probability that the randomized PIT of each point (:func:`pit_values`) lies in the central band
    [(1 - level) / 2, (1 + level) / 2], i.e. that the truth lies inside the randomized central ``level``
    interval; shape of ``truth``, NaN where the truth is. The expectation over the randomization V, not one
    draw of it: the randomized PIT is uniform on [F(y-), F(y)], so this is the share of that range inside the
    band (0 or 1 where no draw ties with the truth). Its mean over points is ``level`` in expectation for a
    calibrated forecast, with ties or atoms, and has no randomization noise."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    x, y = _checked(draws, truth)
    return np.where(np.isfinite(y), _band_share(*_cdf_bounds(x, y), level), np.nan)


def pit_coverage(draws, truth, levels=DEFAULT_LEVELS, drop_trivial: bool = True) -> dict[float, float]:
    """Coverage {level: mean over points} of the randomized central intervals (:func:`pit_covered`); NaN without
    points."""
    x, y, _ = _select(draws, truth, drop_trivial)
    if y.size == 0:
        return {float(lv): float("nan") for lv in levels}
    return {float(lv): float(pit_covered(x, y, lv).mean()) for lv in levels}


def crps_samples(draws, truth, fair: bool = False) -> np.ndarray:
    """CRPS of the sample forecast at every point, same shape as ``truth``, in the truth's unit.

    Energy form ``CRPS = E|X - y| - 0.5 E|X - X'|`` with X, X' independent draws from the
    empirical distribution of the n draws (the CRPS of the ensemble's step CDF). The pair term
    is exact in O(n log n) from the sorted draws x_(1) <= ... <= x_(n):
    ``E|X - X'| = 2 / n^2 * sum_i (2 i - n - 1) x_(i)``.
    ``fair=True`` divides the pair sum by n (n - 1) instead of n^2 (the unbiased "fair" CRPS
    of an n-member ensemble, Ferro 2014).
    """
    x, y = _checked(draws, truth)
    n = x.shape[0]
    term1 = np.abs(x - y[None]).mean(axis=0)
    xs = np.sort(x, axis=0)
    w = (2 * np.arange(1, n + 1) - n - 1).reshape((n,) + (1,) * y.ndim)
    pair_sum = 2.0 * (w * xs).sum(axis=0)  # = sum_{i,j} |x_i - x_j|
    denom = n * (n - 1) if fair else n * n
    if fair and n < 2:
        raise DataError("the fair CRPS needs at least 2 draws")
    return term1 - 0.5 * pair_sum / denom


def pit_values(draws, truth, rng=None) -> np.ndarray:
    """Randomized PIT of the truth under the draws' empirical CDF, shape of ``truth`` (NaN where truth is).

    ``u = F(y-) + V (F(y) - F(y-))`` with ``F(y) = #(x <= y) / n``, ``F(y-) = #(x < y) / n``, V ~ U(0, 1)
    (seeded by ``rng``: a Generator or int seed; default seed 0 so results are reproducible).
    """
    x, y = _checked(draws, truth)
    rng = _generator(rng)
    return _randomized_pit(*_cdf_bounds(x, y), y, rng)


def _generator(rng) -> np.random.Generator:
    """``rng`` if a Generator, else one seeded by it (seed 0 for None: reproducible by default)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)


def _randomized_pit(below: np.ndarray, at_or_below: np.ndarray, y: np.ndarray, rng) -> np.ndarray:
    u = below + rng.uniform(size=y.shape) * (at_or_below - below)
    return np.where(np.isfinite(y), u, np.nan)


def rmse_median(draws, truth) -> float:
    """Root-mean-square error of the draws' median against the truth (truth's unit), over finite points."""
    x, y = _pair(draws, truth)
    if y.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean((np.median(x, axis=0) - y) ** 2)))


def point_scores(draws, truth, levels=DEFAULT_LEVELS, rng=None) -> dict:
    """Per-point ingredients of every score (points with finite truth, flattened):
    {"trivial": bool, "covered": {level: bool}, "content": {level: the interval's own probability}, "covered_pit":
    {level: probability inside the randomized interval}, "crps", "pit", "err_median" (median - truth)}.

    Scores of different forecasts (even with different numbers of draws) pool by concatenation.
    """
    x, y = _pair(draws, truth)
    rng = _generator(rng)
    intervals = {float(lv): _interval_scores(x, y, lv) for lv in levels}
    bounds = _cdf_bounds(x, y)  # every level's PIT coverage and the PIT itself from one pass over the draws
    return {
        "trivial": np.all(x == y[None, :], axis=0),
        "covered": {lv: cov for lv, (cov, _) in intervals.items()},
        "content": {lv: content for lv, (_, content) in intervals.items()},
        "covered_pit": {float(lv): _band_share(*bounds, lv) for lv in levels},
        "crps": crps_samples(x, y),
        "pit": _randomized_pit(*bounds, y, rng),
        "err_median": np.median(x, axis=0) - y,
    }


def aggregate(parts, levels=DEFAULT_LEVELS, drop_trivial: bool = True, pit_bins: int = 10) -> dict:
    """Pool :func:`point_scores` of several forecasts into one JSON-ready dict.

    Keys: n_points (scored), n_trivial (dropped), coverage {"0.5": ..} (of the central intervals),
    interval_content {"0.5": ..} (their mean own probability: the coverage a calibrated forecast has),
    coverage_pit {"0.5": ..} (of the randomized central intervals: ``level`` for a calibrated forecast),
    crps (mean), pit_histogram (counts in ``pit_bins`` equal bins), rmse_median, bias_median (mean of
    median - truth). Coverages, content, CRPS and PIT use the non-trivial points (all if not
    ``drop_trivial``); RMSE and bias of the median use every point with finite truth.
    """
    cat = {k: np.concatenate([p[k] for p in parts]) for k in ("trivial", "crps", "pit", "err_median")}
    keep = ~cat["trivial"] if drop_trivial else np.ones_like(cat["trivial"])
    n = int(keep.sum())

    def pooled_mean(key):
        return {_key(lv): float(np.concatenate([p[key][float(lv)] for p in parts])[keep].mean()) if n
                else float("nan") for lv in levels}

    cov, content, cov_pit = pooled_mean("covered"), pooled_mean("content"), pooled_mean("covered_pit")
    err = cat["err_median"]
    return {
        "n_points": n, "n_trivial": int(cat["trivial"].size - n), "coverage": cov, "interval_content": content,
        "coverage_pit": cov_pit,
        "crps": float(cat["crps"][keep].mean()) if n else float("nan"),
        "pit_histogram": np.histogram(cat["pit"][keep], bins=pit_bins, range=(0.0, 1.0))[0].tolist(),
        "rmse_median": float(np.sqrt(np.mean(err**2))) if err.size else float("nan"),
        "bias_median": float(np.mean(err)) if err.size else float("nan"),
    }


def score(draws, truth, levels=DEFAULT_LEVELS, drop_trivial: bool = True, pit_bins: int = 10, rng=None) -> dict:
    """All scores of one quantity over one set of points; see :func:`aggregate` for the keys."""
    return aggregate([point_scores(draws, truth, levels, rng)], levels, drop_trivial, pit_bins)


def run_coverage_range(coverage: float, n_runs: int, confidence: float = RANGE_CONFIDENCE) -> list[float]:
    """[lo, hi]: the Wilson score interval (``confidence``, default 90 %) of a coverage pooled over ``n_runs``
    runs, with the number of runs as the sample size: as if the points of a run were covered all together
    or not at all. Frames of one simulated run nearly are, so this is the conservative end; counting every
    point as independent would make the range far too narrow. Over six runs a coverage is known to about
    +-0.2-0.3; [nan, nan] for a NaN coverage or no runs."""
    from scipy.stats import norm

    c = float(coverage)
    if n_runs < 1 or not math.isfinite(c):
        return [float("nan"), float("nan")]
    z2 = float(norm.ppf(0.5 + confidence / 2)) ** 2
    centre = (c + z2 / (2 * n_runs)) / (1 + z2 / n_runs)
    half = math.sqrt(z2 * c * (1 - c) / n_runs + z2**2 / (4 * n_runs**2)) / (1 + z2 / n_runs)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def coverage_text(coverage, rng=None) -> str:
    """A coverage to two decimals with its range (:func:`run_coverage_range`), "0.86 [0.52-0.97]"; "n/a" for
    none; without the range when there is none to show."""
    if coverage is None or not math.isfinite(coverage):
        return "n/a"
    ok = rng is not None and all(v is not None and math.isfinite(v) for v in rng)
    return f"{coverage:.2f}" + (f" [{rng[0]:.2f}-{rng[1]:.2f}]" if ok else "")


def _key(level: float) -> str:
    return f"{float(level):g}"


def _quantity_arrays(fc, quantity: str, i: int):
    """(draws (draw, ...), truth (...)) of one quantity of one forecast (Dataset or mapping)."""
    if hasattr(fc, "data_vars"):  # an xarray Dataset from summarize_forecast
        run = fc.attrs.get("run_id", i)
        if f"{quantity}_draws" not in fc:
            raise DataError(f"forecast has no {quantity}_draws", run=run)
        if f"{quantity}_truth" not in fc:
            raise DataError(f"forecast has no truth for {quantity}: calibration needs the true run", run=run,
                            hint="pass truth= to summarize_forecast (held-out runs with known fields)")
        keep = scored_index(fc, fc[f"{quantity}_draws"].dims[-1])
        return fc[f"{quantity}_draws"].values[:, keep], fc[f"{quantity}_truth"].values[keep]
    if quantity not in fc:
        raise DataError(f"forecast {i} has no entry {quantity!r}", hint="give {quantity: (draws, truth)}")
    return fc[quantity]


def scored_index(fc, dim: str) -> slice:
    """The forecast horizon along ``dim`` of a forecast Dataset: frames t >= m and frame intervals
    k >= m - 1 (those that end on a forecast frame), m = ``attrs["first_frames"]`` (1 when absent).

    The first m frames were given to the model (its filtered reconstruction, not a forecast), so
    scores leave them out."""
    return horizon_slice(int(fc.attrs.get("first_frames", 1)), dim)


def horizon_slice(first_frames: int, dim: str) -> slice:
    """Frames t >= m (``dim == "frame"``) or intervals k >= m - 1 (any other dim), m = ``first_frames``."""
    m = int(first_frames)
    return slice(m if dim == "frame" else max(m - 1, 0), None)


def _run_ids(forecasts) -> list:
    ids = []
    for i, fc in enumerate(forecasts):
        rid = fc.attrs.get("run_id", i) if hasattr(fc, "attrs") else fc.get("run_id", i)
        ids.append(rid.item() if hasattr(rid, "item") else rid)
    return ids


def calibration_table(forecasts, quantities=QUANTITIES, levels=DEFAULT_LEVELS, drop_trivial: bool = True,
                      rng=0) -> dict:
    """Calibration of forecasts (list of Datasets with truth, or {quantity: (draws, truth)} mappings,
    optionally with "run_id") pooled over runs and frames, plus the same per run; JSON-ready.

    Returns {"runs": [...], "n_runs", "levels": [...], "drop_trivial", "quantities":
    {q: {"units", "n_points", "n_trivial", "coverage": {"0.5", "0.9"}, "coverage_range": {"0.5": [lo, hi],
    "0.9": ...}, "interval_content", "coverage_pit", "coverage_pit_range", "crps", "pit_histogram",
    "rmse_median", "bias_median"}}, "per_run": [{"run", "quantities": {q: {the same keys but the ranges}}}]}
    (keys as in :func:`aggregate`). The ranges: the 90 % range of each pooled coverage with the number of
    runs as the sample size (:func:`run_coverage_range`).
    CRPS, RMSE and bias are in the quantity's unit. ``rng`` seeds the randomized PIT (each quantity's
    afresh), or is the Generator to draw it from.
    """
    forecasts = list(forecasts)
    if not forecasts:
        raise DataError("no forecasts to evaluate", hint="give at least one held-out run with its truth")
    runs = _run_ids(forecasts)
    table = {"runs": runs, "n_runs": len(forecasts), "levels": [float(lv) for lv in levels],
             "drop_trivial": bool(drop_trivial), "quantities": {}, "per_run": [{"run": r, "quantities": {}}
                                                                              for r in runs]}
    for q in quantities:
        # a seed starts every quantity's randomized PIT (its histogram) afresh
        q_rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        parts = [point_scores(*_quantity_arrays(fc, q, i), levels, q_rng) for i, fc in enumerate(forecasts)]
        agg = aggregate(parts, levels, drop_trivial)
        table["quantities"][q] = {"units": UNITS.get(q, ""), **agg, **{
            f"{key}_range": {k: run_coverage_range(v, len(forecasts)) for k, v in agg[key].items()}
            for key in ("coverage", "coverage_pit")}}
        for row, part in zip(table["per_run"], parts):
            row["quantities"][q] = aggregate([part], levels, drop_trivial)
    return table


def reliability_curves(forecasts, quantity: str, levels=RELIABILITY_LEVELS, drop_trivial: bool = True):
    """(levels, empirical coverage of the central intervals, of the randomized ones (PIT coverage, on the
    diagonal for a calibrated forecast even where its draws tie at 0), n_points) of ``quantity`` pooled over
    forecasts, from one scoring of the points."""
    parts = [point_scores(*_quantity_arrays(fc, quantity, i), levels) for i, fc in enumerate(forecasts)]
    agg = aggregate(parts, levels, drop_trivial)
    plain, pit = (np.array([agg[key][_key(lv)] for lv in levels]) for key in ("coverage", "coverage_pit"))
    return np.asarray(levels, dtype=np.float64), plain, pit, agg["n_points"]


def reliability_curve(forecasts, quantity: str, levels=RELIABILITY_LEVELS, drop_trivial: bool = True,
                      randomized: bool = False):
    """(levels, empirical coverage, n_points) of central intervals of ``quantity`` pooled over forecasts;
    ``randomized``: of the randomized central intervals (:func:`reliability_curves` has both)."""
    lv, plain, pit, n = reliability_curves(forecasts, quantity, levels, drop_trivial)
    return lv, pit if randomized else plain, n


def _json_clean(obj):
    if isinstance(obj, dict):
        return {str(k): _json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # strict JSON has no NaN
    if isinstance(obj, np.generic):
        return _json_clean(obj.item())
    return obj


def table_to_json(table: dict) -> str:
    """Strict JSON text of a calibration table (NaN -> null)."""
    return json.dumps(_json_clean(table), indent=2, allow_nan=False)


def write_calibration_json(table: dict, path) -> None:
    """Write a calibration table as JSON, atomically."""
    from probtok.atomic import atomic_write_text

    atomic_write_text(path, table_to_json(table) + "\n")


def render_table(table: dict, label: str | None = None):
    """A rich Table of a calibration table: one row per quantity; ``label`` (e.g. the model) heads the title."""
    from rich import box
    from rich.table import Table

    levels = table["levels"]
    title = f"calibration over {table['n_runs']} run(s)"
    t = Table(title=f"{label}: {title}" if label else title, title_justify="left", box=box.SIMPLE_HEAD,
              pad_edge=False, padding=(0, 0), collapse_padding=True,
              caption="n: points scored, below it those dropped (triv: every draw equals the truth); "
              "cov: coverage of central intervals, below it its 90 % range with the runs counted as the sample; "
              "own: the intervals' own probability under the forecast (above the level where draws tie at 0: "
              "the coverage a calibrated forecast has); PIT: coverage of the randomized central intervals "
              "(the level, for a calibrated forecast); CRPS, RMSE and bias of the median in the unit shown",
              caption_justify="left")
    t.add_column("quantity", no_wrap=True)  # its unit on a second line: the table fits 80 columns
    t.add_column("n", justify="right", no_wrap=True)
    for lv in levels:
        t.add_column(f"cov {100 * lv:g} %", justify="right", no_wrap=True)
    for lv in levels:
        t.add_column(f"PIT {100 * lv:g} %", justify="right", no_wrap=True)
    for name in ("CRPS", "RMSE\nmed", "bias\nmed"):
        t.add_column(name, justify="right", no_wrap=True)
    for q, s in table["quantities"].items():
        # the interval coverage, its range, and the intervals' own content (what a calibrated forecast covers)
        cov = [_fmt(s["coverage"][_key(lv)], ".2f") + _range_text(s.get("coverage_range", {}).get(_key(lv)))
               + f"\n[dim]own {_fmt(s['interval_content'][_key(lv)], '.2f')}[/dim]" for lv in levels]
        pit = [_fmt(s["coverage_pit"][_key(lv)], ".2f") + _range_text(s.get("coverage_pit_range", {}).get(_key(lv)))
               for lv in levels]
        t.add_row(f"{q}\n[dim]{s['units']}[/dim]", f"{s['n_points']}\n[dim]{s['n_trivial']} triv[/dim]",
                  *cov, *pit, *[_fmt(s[k], ".4g") for k in ("crps", "rmse_median", "bias_median")])
    return t


def _range_text(rng) -> str:
    """"\n0.82-0.96" (a second line in the table's cell: narrow enough for 80 columns) for a coverage range,
    "" for none."""
    if not rng or any(v is None or not math.isfinite(v) for v in rng):
        return ""
    return f"\n[dim]{rng[0]:.2f}-{rng[1]:.2f}[/dim]"


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def print_table(table: dict, console=None) -> None:
    """Print a calibration table with rich (to stdout unless a Console is given)."""
    from rich.console import Console

    (console or Console()).print(render_table(table))
