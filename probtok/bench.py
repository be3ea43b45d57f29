"""`probtok bench fewshot`: few-shot data efficiency of probtok against its references and PARC.

Every model is given the first ``first_frames`` = m frames of a test run (default 2) and forecasts
the rest; scores cover the forecast frames t >= m only (intervals ending on them for rates). Why
m = 2: frame 0 of a simulated run is the unshocked initial state, identical in law for every piston
velocity; the shock strength (the boundary condition that decides whether hot spots grow) first
shows in frame 1, where the shocked layer has entered. From frame 0 alone no model can tell a
1.0 km/s run from a 1.8 km/s one. With the shipped (rest-centred) configs the fits describe frames
from 1 on, so m = 2 leaves one frame, too few to condition a test run's task latent c on: it is
drawn by the rule ``new_task`` (default: the prior N(0, I); or the adaptation runs' q(c[n]),
moment-matched; :func:`probtok.predict.task_posterior`). Every token model draws its free rollout with
kappa = ``rollout_noise`` times its fitted transition noise (default None: each model's own kappa, chosen
on its training runs when it was fitted, :mod:`probtok.rollout_noise`; 1 for micro only).

One micro fit (``models/<config>``) on the micro file; the ok meso runs are split into a fixed
held-out test set (the LAST ``test_runs`` ok runs) and a training pool (the others). For every
K in ``k_values`` ("all" = the whole pool) and every subset (subset 0 = the first K pool runs,
further subsets random K-subsets of the pool, seeded; with ``stratify`` = a run parameter, one run from
each of K strata of that parameter, :func:`subset_runs`), four models forecast every test run from
its first m frames:

* ``adapted``: the micro fit adapted on the K runs (:func:`probtok.adapt.adapt_files`);
* ``scratch``: the same meso model fitted from scratch on the K runs, no micro tokens
  (:func:`probtok.pipeline.stage_scratch`), with the same number of meso SVI steps as the adaptation
  (``scratch_steps``, default ``adapt_steps``);
* ``micro-only``: the micro fit with phi = 0 (K = 0, one entry);
* ``parc``: the deterministic PARC baseline (:mod:`probtok.baselines`) trained on ALL pool runs
  (K = number of pool runs, one entry; the last ``parc_val_runs`` of them only decide when to stop),
  rolled out from frame m - 1.

``models`` (``probtok bench fewshot --model``) scores only some of the four: e.g. ``adapted`` alone, to compare
adaptation settings (``--theta``) without re-running the references; the micro fits run in any case.

Ensembles (``ensemble`` = M > 1, ``probtok bench fewshot --ensemble M``): every token model is then M fits
whose forecasts are pooled (:func:`probtok.predict.forecast_run` given the M members: ``n_draws`` split
evenly, member m drawing with its own seed, kappa and task latent). Member m of the micro fit has the config's
[fit] seed + m (folder ``micro-fit-m<m>``; member 0 is ``micro-fit``, the config's seed); ``adapted`` member m
is micro fit m adapted on the K runs (``meso-adapt-m<m>``), ``scratch`` member m a from-scratch fit with the
config's seed + m (``meso-scratch-m<m>``), ``micro-only`` the M micro fits. One fit is one job, so M fits
of a model run side by side. Why fit seeds: the spread between fits of one model on the same data (which
single fits do not know about) was the largest part of the calibration gap (docs/bench-2026-11-27-tiny-seeds).
An ``adapted`` ensemble of three or more members with ``theta`` "prior" is checked before it forecasts: a member
whose final loss is far above the others' (:func:`probtok.divergence.diverged_members`) is adapted once more
with theta's learning rate warmed up over ``readapt_theta_warmup_steps`` steps from a tenth
(:mod:`probtok.optim`; ``meso-adapt-m<m>-readapted``), and the pool takes
that fit (:func:`readapt_diverged`; bench.json's ``readapted``).

Metrics (physical units). Per test run, the RMSE over the forecast frames of the median forecast (PARC: its
single forecast) of ``T_hs`` [K], ``A_hs`` [um^2] (frames) and ``dT_hs_dt`` [K/ns],
``dA_hs_dt`` [um^2/ns] (frame intervals); the field RMSE of T [K] and P [GPa] over frames and
cells of the mean over draws (PARC: its forecast). ``mean`` = the average of the per-run values.
Probabilistic models also get the pooled CRPS and coverage of the central 50 % / 90 % intervals
(:func:`probtok.calibration.calibration_table`, points where every draw equals the truth dropped).

bench.json schema (``schema`` = "probtok-bench-fewshot", ``schema_version`` = 1):

* ``config``: the :class:`BenchConfig` used; ``quick``: bool;
* ``machine``: ``platform``, ``processor``, ``cpu_count``, ``torch_threads`` (per job), ``workers`` (jobs
  run side by side, see :func:`run_bench`), ``python``;
* ``wall_s``: the whole benchmark's wall time [s], as run (folders reused from an interrupted run count ~0);
* ``data``: ``micro``, ``meso`` (paths), ``test_runs`` (list), ``train_pool`` (list), ``k_values`` (list of int);
* ``simulator``: ``wall_s_per_run`` (mean over the meso runs' stored ``wall_s`` parameter, or null),
  ``note`` (where it came from / "not available");
* ``micro_fit``: ``dir``, ``steps``, ``wall_s`` (the fit's SVI time as its fit.json recorded it, also when
  an interrupted earlier run of the benchmark did the fit; the time measured now for a fit resumed from
  a checkpoint), ``weights_digest``, ``members`` (every ensemble member's micro fit, member 0 first:
  ``dir``, ``seed``, ``wall_s``, ``weights_digest``; one entry without an ensemble), ``task_covariate`` (the
  config's ``[meso] task_covariate``, "" for none: test runs then draw c from p(c | that run parameter),
  :mod:`probtok.covariate`), ``fields`` (the token model's fields; PARC's state fields are these less
  ``u`` and ``v``, which it carries as its velocity);
* ``parc``: empty when ``config.models`` leaves it out; else ``n_parameters``, ``epochs``, ``stopped`` (reason
  per training stage), ``best_val_loss``, ``val_on`` ("val": early stopping on the held-out ``val_runs``;
  "train": on the training runs, when the pool is too small to hold any out), ``fit_runs`` and ``val_runs``
  (together the pool), ``state_fields``, ``config`` (size and budget), ``series`` (PARC's forecast of every test run:
  ``runs`` (aligned with ``data.test_runs``), ``T_hs`` [K] and ``A_hs`` [um^2], each a list per run of one
  value per frame, the given frames included (they are the truth's); absent when the rollout diverged);
* ``results``: a list, one entry per model, K and subset, with keys
  ``model``, ``k``, ``subset``, ``train_runs``, ``probabilistic``, ``n_draws`` (null for PARC),
  ``ensemble_size`` (fits pooled in the forecasts; not for PARC),
  ``rmse`` {quantity: {``mean``, ``per_run`` (aligned with ``data.test_runs``; each the RMSE over that run's
  forecast frames), ``per_frame`` (the RMSE over the test runs at each frame, or frame interval for rates;
  null for the given frames), ``units``}} for ``T_hs``, ``A_hs``, ``dT_hs_dt``, ``dA_hs_dt``;
  ``field_rmse`` {``T``, ``P``: ``mean``, ``per_run``, ``units``};
  ``crps``, ``coverage50``, ``coverage90`` {quantity: float} (null for PARC); ``coverage50_range``,
  ``coverage90_range`` {quantity: [lo, hi]} (not for PARC: the 90 % range of that coverage with the test runs
  as the sample, :func:`probtok.calibration.run_coverage_range`); ``coverage50_pit``, ``coverage90_pit``
  {quantity: float} (null for PARC; the coverage of the randomized central intervals, nominal for a
  calibrated forecast even where its draws tie at 0: :mod:`probtok.calibration`; absent in records from
  before 2026-11-28) and their ``_range``s (not for PARC); ``reliability`` (not for PARC)
  {``T_hs``, ``A_hs``: {``levels`` (nominal coverages 0.1..0.9 of central intervals), ``coverage`` (empirical,
  pooled over test runs and frames like ``coverage90``), ``coverage_pit`` (the same of the randomized
  intervals, like ``coverage90_pit``; absent in older records), ``n_points``}};
  ``rollout_noise`` (kappa of the forecasts: one number, or one per ensemble member; not for PARC);
  ``weights_digest`` (of the fitted model, comma-joined for an ensemble; not for PARC);
  ``training_crps_T_hs`` (adapted and from scratch: per member, the CRPS of ``T_hs`` [K] on its training runs at
  its kappa, :func:`probtok.rollout_noise.training_crps`, null where kappa was given; absent in older records);
  ``final_loss_per_run_frame`` (adapted and from scratch: per member, the median of its fit's last 10 SVI losses
  per run-frame, :func:`probtok.divergence.final_loss`; absent in older records);
  ``readapted`` (adapted: the members adapted a second time because their final loss flagged them as diverged,
  :func:`readapt_diverged`, whose second fits the forecasts pool and the two keys above describe: ``member``,
  ``dir``, ``theta_warmup_steps``, ``final_loss_before``, ``deviations_before``, ``final_loss_after``, ``wall_s``;
  empty when none was; absent in older records);
  ``train_wall_s`` (adapted: adaptation and the choice of kappa, the micro fit is in ``micro_fit``; from
  scratch: its fit and the choice of kappa; micro-only: the
  micro fit; recorded like ``micro_fit.wall_s``; of an ensemble: the sum over its members' fits);
  ``forecast_wall_s_per_run``;
  ``forecast_wall_s_per_draw`` (null for PARC; both null when reused forecasts recorded no time; the
  wall time of forecasting all test runs, posterior load included, divided by the runs (and draws); a
  re-run that reuses every forecast reports the time recorded in ``forecast_wall.json`` beside them);
* ``summary``: one entry per model and K: ``model``, ``k``, ``n_subsets`` and the mean over subsets of
  ``rmse_<quantity>``, ``field_rmse_T``, ``field_rmse_P``, ``crps_<quantity>``, ``coverage50_<quantity>``,
  ``coverage90_<quantity>``, ``coverage50_pit_<quantity>``, ``coverage90_pit_<quantity>``
  (null for PARC), ``train_wall_s``;
* ``plots``: {name: PNG path}: ``error_vs_k``, ``error_vs_time`` (:func:`error_vs_time_figure`),
  ``reliability`` (:func:`reliability_figure`) and
  ``fan_<model>`` for every probabilistic model (the largest K, last subset), of one test run,
  ``fan_run`` (:func:`fan_run`), with PARC's forecast of it drawn as a dashed line;
* ``fan_run``: the test run of the fan charts.
* ``failed``: a list of the (model, K, subset) whose forecasts could not be scored (e.g. a rollout
  diverged to non-finite values; PARC included, whose entry also has ``train_wall_s``): ``model``, ``k``,
  ``subset``, ``train_runs``, ``error`` (the message).
  They have no entry in ``results`` or ``summary``; the benchmark goes on with the other models.

Nothing here claims a target: the numbers are what this run measured.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

QUANTITIES = ("T_hs", "A_hs", "dT_hs_dt", "dA_hs_dt")
QUANTITY_UNITS = {"T_hs": "K", "A_hs": "um^2", "dT_hs_dt": "K/ns", "dA_hs_dt": "um^2/ns"}
FIELD_METRICS = ("T", "P")
PROBABILISTIC = ("adapted", "scratch", "micro-only")
SERIES = ("T_hs", "A_hs")  # PARC's forecast series kept in bench.json (parc.series) and drawn on the fan charts
MODELS = ("adapted", "scratch", "micro-only", "parc")  # what a benchmark can score (BenchConfig.models)
SCHEMA = "probtok-bench-fewshot"
SCHEMA_VERSION = 1


@dataclass
class BenchConfig:
    """Budgets of one benchmark run (see :func:`quick_config` for the --quick preset)."""

    k_values: list = field(default_factory=lambda: [1, 2, 4, 8, "all"])  # ints or "all"
    subsets: int = 1  # subsets per K (1 for K = all)
    test_runs: int = 6
    model_config: str = "tiny.toml"
    micro_steps: int | None = None  # None: the config's [fit] steps
    adapt_steps: int = 100
    # the adaptation's micro globals (probtok.adapt.AdaptConfig.theta): "frozen" | "prior"; None: the model config's
    # [adapt] theta, else "frozen" (resolved at construction: bench.json records the mode that ran)
    theta: str | None = None
    # the adaptation's amortized encoder (probtok.adapt.AdaptConfig.encoder): "frozen" (re-used) | "train"
    encoder: str = "frozen"
    scratch_steps: int | None = None  # None: adapt_steps (the same meso SVI budget as the adaptation)
    n_draws: int = 100  # draws of each forecast (of an ensemble: split among its members, probtok.predict)
    ensemble: int = 1  # fits per token model, pooled in its forecasts (module doc); 1: single models
    first_frames: int = 2  # frames given to every model (frame 0 is the unshocked state, see the module doc)
    new_task: str = "prior"  # c of a test run (probtok.predict.task_posterior): "prior" | "training-runs"
    stratify: str | None = None  # a run parameter (e.g. "up_kms"): K-subsets span its range (subset_runs)
    rollout_noise: float | None = None  # kappa on every token model's rollout noise; None: each model's own
    # theta_warmup_steps of a second adaptation of a member of an adapted ensemble (theta "prior", >= 3 members)
    # whose final loss flags it as diverged (probtok.divergence; readapt_diverged); the pool takes the second fit.
    # Both members flagged on the default data (small-up-u, subsets 0 and 1) forecast far better so (T_hs RMSE
    # 938 -> 543 and 850 -> 467 K; with theta_lr_factor 0.1 instead 637 and 615 K; docs/bench-2026-11-29-encoder).
    # None: no second adaptation
    readapt_theta_warmup_steps: int | None = 20
    # PARC's budget: on the default meso data its validation loss is flat by then (benchmarks/parc_convergence.py,
    # docs/bench-2026-11-26-rest/parc_convergence.json); it trains on its own worker while the other jobs run
    # (docs/bench-2026-11-26-workers)
    parc_epochs: int = 200
    parc_widths: tuple = (16, 32, 48)
    parc_max_time_s: float = 2400.0
    parc_val_runs: int = 4  # the last pool runs validate PARC's early stopping (0: validate on its training runs)
    # the models scored (names in MODELS); the micro fits run whatever it says (the adaptations start from them)
    models: list = field(default_factory=lambda: list(MODELS))
    seed: int = 0
    torch_threads: int = 1
    quick: bool = False

    def __post_init__(self):
        # checked here, not at the first adaptation: by then the micro fits have run
        from probtok.errors import ConfigError
        from probtok.model_spec import THETA_MODES

        if self.theta is None:
            from probtok.model_spec import load_config
            from probtok.pipeline import DemoConfig, _config_path

            self.theta = load_config(_config_path(DemoConfig(model_config=self.model_config))).theta
        if self.theta not in THETA_MODES:
            raise ConfigError(f"--theta must be one of {', '.join(THETA_MODES)}, not {self.theta!r}", field="theta")
        from probtok.adapt import ENCODER_MODES

        if self.encoder not in ENCODER_MODES:
            raise ConfigError(f"--encoder must be one of {', '.join(ENCODER_MODES)}, not {self.encoder!r}",
                              field="encoder")
        if self.readapt_theta_warmup_steps is not None and not self.readapt_theta_warmup_steps >= 1:
            raise ConfigError(f"readapt_theta_warmup_steps must be >= 1 or None, not {self.readapt_theta_warmup_steps!r}",
                              field="readapt_theta_warmup_steps")
        given = [self.models] if isinstance(self.models, str) else list(self.models)
        unknown = [m for m in given if m not in MODELS]
        if unknown or not given:
            raise ConfigError(f"--model must name one or more of {', '.join(MODELS)}, not "
                              f"{', '.join(map(repr, unknown)) if unknown else 'none'}", field="models")
        self.models = [m for m in MODELS if m in given]  # the benchmark's order, no repeats


def quick_config(**overrides) -> BenchConfig:
    """The --quick preset: tiny budgets for a smoke run of the whole benchmark (not for results)."""
    base = dict(k_values=[1, 2], subsets=1, test_runs=2, micro_steps=20, adapt_steps=10, scratch_steps=10,
                n_draws=20, parc_epochs=2, parc_widths=(4, 8), parc_max_time_s=20.0, parc_val_runs=1, quick=True)
    base.update(overrides)
    return BenchConfig(**base)


def parse_k(text: str) -> list:
    """'1,2,4,all' -> [1, 2, 4, 'all']; ConfigError on anything else."""
    from probtok.errors import ConfigError

    out = []
    for tok in str(text).split(","):
        tok = tok.strip().lower()
        if tok == "all":
            out.append("all")
        elif tok.isdigit() and int(tok) >= 1:
            out.append(int(tok))
        else:
            raise ConfigError(f"bad K value {tok!r}", field="k", hint="positive integers or 'all', e.g. 1,2,4,all")
    return out


def split_runs(meso_file, n_test: int, k_values) -> tuple[list[int], list[int], list[int]]:
    """(test runs = the last n_test ok runs, training pool = the other ok runs, resolved K values)."""
    from probtok.data import open_dataset
    from probtok.errors import DataError

    with open_dataset(meso_file) as ds:
        ok = [int(r) for r in ds.ok_runs]
    if n_test < 1 or len(ok) < n_test + 1:
        raise DataError(f"{len(ok)} ok meso runs: need {n_test} test runs and at least one to train on",
                        file=meso_file, hint="lower --test-runs or simulate more meso runs")
    pool, test = ok[:-n_test], ok[-n_test:]
    ks = sorted({len(pool) if k == "all" else int(k) for k in k_values})
    too_big = [k for k in ks if k > len(pool)]
    if too_big:
        raise DataError(f"K = {too_big} exceeds the {len(pool)} training runs", file=meso_file,
                        hint="lower --k or --test-runs")
    return test, pool, ks


def subset_runs(pool: list[int], k: int, subset: int, seed: int, values=None) -> list[int]:
    """The training runs of subset ``subset`` of size k. Without ``values``: subset 0 the first k pool runs,
    subset s > 0 a random k-subset (seeded by seed, k, s). With ``values`` (a run parameter of each pool run,
    e.g. the piston velocity): stratified, so that the k runs span the parameter's range. The pool sorted by
    the parameter is cut into k strata of (nearly) equal size; subset 0 takes each stratum's middle run,
    subset s > 0 a random run of each (seeded likewise)."""
    if k == len(pool):
        return list(pool)
    if values is None:
        if subset == 0:
            return pool[:k]
        rng = np.random.default_rng([seed, k, subset])
        return sorted(int(r) for r in rng.choice(pool, size=k, replace=False))
    order = np.asarray(pool)[np.argsort(np.asarray(values, dtype=float), kind="stable")]
    strata = np.array_split(order, k)
    if subset == 0:
        return sorted(int(st[len(st) // 2]) for st in strata)
    rng = np.random.default_rng([seed, k, subset])
    return sorted(int(rng.choice(st)) for st in strata)


def stratify_values(meso_file, name: str, pool: list[int]) -> np.ndarray:
    """The run parameter ``name`` of the pool runs (for :func:`subset_runs`), or a DataError."""
    from probtok.covariate import parameter_values
    from probtok.data import open_dataset

    with open_dataset(meso_file) as ds:
        return parameter_values(ds, name, pool, meso_file, role="--stratify")


def _metric_block(per_run: list[float], units: str) -> dict:
    return {"mean": float(np.mean(per_run)), "per_run": [float(v) for v in per_run], "units": units}


def _error_block(errors, units: str, start: int) -> dict:
    """The ``rmse`` block of one quantity from its errors (forecast - truth), (test run, scored point), the
    scored points beginning at index ``start`` of the series: ``per_run`` (RMSE over a run's points),
    ``mean``, and ``per_frame`` (RMSE over the runs at each point, None for the given points before ``start``)."""
    sq = np.asarray(errors, float) ** 2
    block = _metric_block(np.sqrt(sq.mean(axis=1)), units)
    block["per_frame"] = [None] * int(start) + [float(v) for v in np.sqrt(sq.mean(axis=0))]
    return block


def forecast_scores(files: list[Path]) -> dict:
    """rmse / field_rmse / crps / coverage entries of a probabilistic model's forecast files (one per test run)."""
    from probtok.calibration import calibration_table, reliability_curves, scored_index
    from probtok.forecast import read_forecast

    dss = [read_forecast(p) for p in files]
    rmse = {}
    for q in QUANTITIES:
        errs = []
        for ds in dss:
            keep = scored_index(ds, ds[f"{q}_truth"].dims[-1])
            med = ds[f"{q}_quantiles"].sel(quantile=0.5, method="nearest").values[keep]
            errs.append(np.asarray(med, float) - np.asarray(ds[f"{q}_truth"].values[keep], float))
        rmse[q] = _error_block(errs, QUANTITY_UNITS[q], keep.start)
    field_rmse = {}
    for f in FIELD_METRICS:
        vals = []
        for ds in dss:
            keep = scored_index(ds, "frame")
            err = (ds["field_mean"].sel(field=f).values[keep].astype(float)
                   - ds["field_truth"].sel(field=f).values[keep].astype(float))
            vals.append(float(np.sqrt(np.mean(err**2))))
        unit = str(dict(zip(dss[0]["field"].values, dss[0]["field_units"].values))[f])
        field_rmse[f] = _metric_block(vals, unit)
    table = calibration_table(dss, quantities=QUANTITIES)
    qs = table["quantities"]
    reliability = {}
    for q in SERIES:
        levels, emp, emp_pit, n = reliability_curves(dss, q)
        reliability[q] = {"levels": [float(v) for v in levels], "coverage": [_float_or_none(v) for v in emp],
                          "coverage_pit": [_float_or_none(v) for v in emp_pit], "n_points": int(n)}
    return {"rmse": rmse, "field_rmse": field_rmse,
            "crps": {q: qs[q]["crps"] for q in QUANTITIES},
            "coverage50": {q: qs[q]["coverage"]["0.5"] for q in QUANTITIES},
            "coverage90": {q: qs[q]["coverage"]["0.9"] for q in QUANTITIES},
            "coverage50_range": {q: qs[q]["coverage_range"]["0.5"] for q in QUANTITIES},
            "coverage90_range": {q: qs[q]["coverage_range"]["0.9"] for q in QUANTITIES},
            "coverage50_pit": {q: qs[q]["coverage_pit"]["0.5"] for q in QUANTITIES},
            "coverage90_pit": {q: qs[q]["coverage_pit"]["0.9"] for q in QUANTITIES},
            "coverage50_pit_range": {q: qs[q]["coverage_pit_range"]["0.5"] for q in QUANTITIES},
            "coverage90_pit_range": {q: qs[q]["coverage_pit_range"]["0.9"] for q in QUANTITIES},
            "reliability": reliability}


def _float_or_none(v) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


FORECAST_WALL_JSON = "forecast_wall.json"  # beside a model's forecasts: the benchmark-level wall time


def run_forecasts(model_dir, meso, test_runs, out_dir, cfg: BenchConfig,
                  progress: bool = False) -> tuple[dict[int, Path], float]:
    """Forecast every test run; (files, wall seconds). Forecasts of an interrupted earlier run of the benchmark
    are reused when their model was not refitted since (their wall time is then the recorded one).
    ``progress``: a progress bar over the runs to forecast (not in Dask workers)."""
    from probtok.checkpoint import load_checkpoint
    from probtok.predict import _members, forecast_files, forecast_path, reusable_forecast_attrs
    from probtok.rollout_noise import model_rollout_noise

    # each member's own kappa, read once (None would make every reuse check below load the checkpoints again)
    members = _members(model_dir)
    kappas = [cfg.rollout_noise if cfg.rollout_noise is not None else model_rollout_noise(
        load_checkpoint(d)["meta"]) for d in members]
    attrs = [reusable_forecast_attrs(forecast_path(out_dir, r), model_dir, cfg.first_frames, cfg.n_draws,
                                     cfg.new_task, kappas, data=meso) for r in test_runs]
    reused = [a for a in attrs if a is not None]
    walls = [a.get("forecast_wall_s") for a in reused]
    record = Path(out_dir) / FORECAST_WALL_JSON
    key = {"runs": [int(r) for r in test_runs], "n_draws": int(cfg.n_draws), "first_frames": int(cfg.first_frames),
           "new_task": cfg.new_task, "rollout_noise": kappas[0] if len(kappas) == 1 else kappas}
    # only the runs without a reusable file (each run's seed is cfg.seed + run, whichever runs are made)
    todo = [int(r) for r, a in zip(test_runs, attrs) if a is None]
    t0 = time.perf_counter()
    if todo:
        forecast_files(model_dir, meso, todo, out_dir, first_frames=cfg.first_frames, n_draws=cfg.n_draws,
                       seed=cfg.seed, plots=False, skip_existing=False, progress=progress, new_task=cfg.new_task,
                       rollout_noise=cfg.rollout_noise)
    wall = time.perf_counter() - t0
    files = {int(r): forecast_path(out_dir, r) for r in test_runs}
    if len(reused) == len(test_runs) and (recorded := _recorded_forecast_wall(record, key)) is not None:
        return files, recorded  # all reused: what the run that made them measured (posterior load included)
    if reused and all(w is not None for w in walls):
        wall += float(np.sum(walls))
    elif reused:  # older files without a recorded time: scale the new ones' mean, or unknown (None)
        new = len(test_runs) - len(reused)
        wall = wall * len(test_runs) / new if new else None
    if wall is not None:
        from probtok.atomic import atomic_write_text

        atomic_write_text(record, json.dumps({**key, "wall_s": wall}))
    return files, wall


def _kappa_text(bench: dict) -> str:
    """How the forecasts' rollout noise kappa was set, and the values the token models used."""
    fixed = bench["config"].get("rollout_noise", 1.0)
    used = [(r["model"], r["k"], r["subset"], r.get("rollout_noise", 1.0)) for r in bench["results"] if r["probabilistic"]]
    if fixed is not None:
        return f"{fixed:g} x the fitted one for every model"
    return ("each model's own kappa x the fitted one, chosen on its training runs (probtok.rollout_noise): "
            + ", ".join(f"{m} K={k} s{s}: {_kappas(v)}" for m, k, s, v in used))


def _kappas(v) -> str:
    """One kappa ("0.3"), or an ensemble's, one per member ("(0.3, 1, 0.3, 0.3)")."""
    return "(" + ", ".join(f"{x:g}" for x in v) + ")" if isinstance(v, list) else f"{v:g}"


def _recorded_forecast_wall(record: Path, key: dict) -> float | None:
    """The benchmark-level forecast wall time [s] recorded beside forecasts of the same runs and settings."""
    try:
        d = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return float(d["wall_s"]) if all(d.get(k) == v for k, v in key.items()) and "wall_s" in d else None


def _prob_entry(name, k, subset, train, files, wall_fc, train_s, cfg: BenchConfig, test_runs) -> dict:
    from probtok.forecast import read_forecast

    n = len(test_runs)
    attrs = read_forecast(files[test_runs[0]]).attrs
    size = int(attrs.get("ensemble_size", 1))
    kappa = attrs.get("rollout_noise", 1.0)
    return {"model": name, "k": int(k), "subset": int(subset), "train_runs": [int(r) for r in train],
            "probabilistic": True, "n_draws": cfg.n_draws, "ensemble_size": size,
            **forecast_scores([files[r] for r in test_runs]),
            # one kappa, or one per ensemble member (recorded as "0.3, 1")
            "rollout_noise": float(kappa) if size == 1 else [float(v) for v in str(kappa).split(",")],
            "weights_digest": attrs.get("model_weights_digest"),  # None: forecasts made before it was recorded
            "train_wall_s": float(train_s), "forecast_wall_s_per_run": None if wall_fc is None else wall_fc / n,
            "forecast_wall_s_per_draw": None if wall_fc is None else wall_fc / (n * cfg.n_draws)}


def simulator_timing(meso) -> dict:
    """Mean simulator wall time per run from the file's ``wall_s`` run parameter, if stored."""
    from probtok.data import open_dataset

    with open_dataset(meso) as ds:
        params = ds.params
        ok = [int(r) for r in ds.ok_runs]
    if "wall_s" not in params:
        return {"wall_s_per_run": None, "note": "not available (the meso file stores no per-run wall_s)"}
    w = np.asarray(params["wall_s"], float)[ok]
    w = w[np.isfinite(w)]
    if not w.size:
        return {"wall_s_per_run": None, "note": "not available (no finite wall_s in the meso file)"}
    return {"wall_s_per_run": float(w.mean()), "note": f"mean of the stored wall_s of {w.size} ok meso runs "
                                                       "(the simulating machine, its worker count)"}


PARC_VELOCITY = ("u", "v")  # PARC carries the velocity apart from its state fields (its advection)


def parc_state_fields(fields) -> list[str]:
    """PARC's state fields for a token model of ``fields``: those fields less the velocity components, which
    PARC always carries as its separate velocity (a token model with ``u`` among its fields, such as
    tiny-up-u, and one without it are both compared with the same PARC)."""
    return [f for f in fields if f not in PARC_VELOCITY]


def _parc_data(meso, runs, state_fields, norm):
    import torch

    from probtok.data import open_dataset

    with open_dataset(meso) as ds:
        raw = np.stack([ds.frames(r, list(state_fields) + list(PARC_VELOCITY)) for r in runs]).astype(np.float32)
    x = norm.forward(torch.as_tensor(raw), field_axis=2)
    s = len(state_fields)
    return x[:, :, :s], x[:, :, s:]


def run_parc(meso, pool, test_runs, out: Path, cfg: BenchConfig, state_fields, trained=None) -> tuple[dict, dict]:
    """Train PARC on the pool runs, the last ``cfg.parc_val_runs`` of them held out for early stopping on
    their loss (all of them when the pool is too small: then early stopping watches the training runs;
    the test runs stay unseen either way); roll out every test run from frame m - 1; (result entry, info).
    A rollout with non-finite values in the forecast frames gives a ``failed`` entry (with ``error``)
    instead of the result entry.

    ``trained``: a parc.pt written by this function before (e.g. by benchmarks/parc_convergence.py,
    trained to convergence outside the benchmark's time budget) is scored instead of training a new
    one; its recorded fit and validation runs must be this split's (ConfigError otherwise)."""
    from probtok.baselines import ParcConfig, load_parc, save_parc, train_parc
    from probtok.data import open_dataset
    from probtok.errors import DataError

    with open_dataset(meso) as ds:
        missing = [f for f in list(state_fields) + list(PARC_VELOCITY) if f not in ds.fields]
        if missing:
            raise DataError("PARC needs the velocity and state fields", file=meso, field=missing[0],
                            hint=f"the file has {list(ds.fields)}")
        norm = ds.normaliser("minmax", list(state_fields) + list(PARC_VELOCITY))
        dt, n_frames = float(ds.dt_frame_ns), int(ds.n_frames)
    n_val = cfg.parc_val_runs if 0 < cfg.parc_val_runs < len(pool) else 0
    fit_runs, val_runs = pool[: len(pool) - n_val], pool[len(pool) - n_val:]
    if trained is None:
        x, vel = _parc_data(meso, fit_runs, state_fields, norm)
        val = _parc_data(meso, val_runs, state_fields, norm) if val_runs else None
        pcfg = ParcConfig(n_state=len(state_fields), unet_widths=tuple(cfg.parc_widths), max_epochs=cfg.parc_epochs,
                          max_time_s=cfg.parc_max_time_s, horizon_max=min(6, n_frames - 1),
                          batch_size=min(4, len(fit_runs)))
        t0 = time.perf_counter()
        model, hist = train_parc(x, vel, dt, pcfg, val=val, seed=cfg.seed, normaliser=norm)
        train_s = time.perf_counter() - t0
        hist = dict(hist, fit_runs=[int(r) for r in fit_runs], val_runs=[int(r) for r in val_runs],
                    data=Path(str(meso)).name, train_wall_s=train_s)
        save_parc(model, out / "parc" / "parc.pt", history=hist)
    else:
        from probtok.errors import ConfigError

        model, hist = load_parc(trained, return_history=True)  # one read; a damaged file is a CheckpointError
        split = ([int(r) for r in hist.get("fit_runs", [])], [int(r) for r in hist.get("val_runs", [])])
        if split != (list(map(int, fit_runs)), list(map(int, val_runs))) or hist.get("data") != Path(str(meso)).name:
            raise ConfigError(f"this PARC was trained on {hist.get('data')} runs {split[0]} (validation {split[1]}), "
                              f"not on {Path(str(meso)).name} runs {fit_runs} (validation {val_runs})", file=trained,
                              hint="train it on this split: benchmarks/parc_convergence.py with the same data, "
                                   "--val-runs and --test-runs")
        train_s = float(hist.get("train_wall_s", hist.get("wall_s", float("nan"))))
    info = {"n_parameters": int(hist["n_parameters"]), "epochs": len(hist["epoch"]), "stopped": hist["stopped"],
            "best_val_loss": hist["best_val_loss"], "val_on": hist["val_on"], "val_runs": [int(r) for r in val_runs],
            "fit_runs": [int(r) for r in fit_runs], "state_fields": list(state_fields),
            "config": hist["config"], "trained_by": "this benchmark" if trained is None else str(trained),
            "val_loss_last": [float(v) for v in hist["val_loss"][-10:]]}
    sc = score_parc(model, meso, test_runs, cfg.first_frames, state_fields, norm=norm)
    if not sc["diverged"]:
        info["series"] = sc["series"]
    return parc_entry(sc, pool, train_s, len(test_runs)), info


def parc_entry(sc: dict, pool, train_s: float, n_runs: int) -> dict:
    """PARC's result entry from its scores ``sc`` (:func:`score_parc`) on ``n_runs`` runs; a failed entry
    (with ``error``) when its rollout diverged: a failure, as for the token models, not an infinite score."""
    head = {"model": "parc", "k": len(pool), "subset": 0, "train_runs": [int(r) for r in pool]}
    if sc["diverged"]:
        return {**head, "train_wall_s": train_s,
                "error": f"the rollout reached non-finite values on test run(s) {sc['diverged']}"}
    return {**head, "probabilistic": False, "n_draws": None, "rmse": sc["rmse"], "field_rmse": sc["field_rmse"],
            "crps": None, "coverage50": None, "coverage90": None, "coverage50_pit": None, "coverage90_pit": None,
            "train_wall_s": train_s, "forecast_wall_s_per_run": sc["forecast_wall_s"] / n_runs,
            "forecast_wall_s_per_draw": None}


def score_parc(model, data, runs, first_frames: int, state_fields, norm=None) -> dict:
    """Roll a trained PARC out on ``runs`` of the file ``data`` from frame ``first_frames`` - 1 (the last given
    one, as the token models) and score it as :func:`forecast_scores` scores a token model, with the file's
    hot-spot threshold: {"rmse", "field_rmse" (as in a result entry), "series" ({"runs", "T_hs", "A_hs"}: its
    forecast series, the given frames the truth's), "diverged" (runs whose forecast frames have non-finite
    values; then no scores), "forecast_wall_s"}. ``norm``: the normaliser of the inputs (default: PARC's own,
    the one it was trained with), so that runs of another file than the training one are scored alike."""
    import torch

    from probtok.calibration import horizon_slice
    from probtok.data import open_dataset
    from probtok.data.normalize import Normaliser
    from probtok.hotspots import hotspot_metrics

    fields = list(state_fields) + list(PARC_VELOCITY)
    if norm is None:
        norm = Normaliser(tuple(fields), model.field_shift.double().numpy(), model.field_scale.double().numpy())
    with open_dataset(data) as ds:
        dt, dx, thr = float(ds.dt_frame_ns), float(ds.dx_um), float(ds.hotspot_threshold_K)
        units = {f: ds.units[f] for f in FIELD_METRICS}
    xt, vt = _parc_data(data, runs, state_fields, norm)
    n_frames, m = xt.shape[1], int(first_frames)
    t0 = time.perf_counter()
    with torch.no_grad():
        px, pv = model.rollout(xt[:, m - 1], vt[:, m - 1], n_frames - m + 1, dt)
    fc_s = time.perf_counter() - t0
    px, pv = torch.cat([xt[:, : m - 1], px], 1), torch.cat([vt[:, : m - 1], pv], 1)
    phys = norm.inverse(torch.cat([px, pv], 2), field_axis=2).numpy().astype(float)
    truth = norm.inverse(torch.cat([xt, vt], 2), field_axis=2).numpy().astype(float)
    out = {"diverged": [int(r) for i, r in enumerate(runs) if not np.isfinite(phys[i, m:]).all()],
           "forecast_wall_s": fc_s}
    if out["diverged"]:
        return out
    ti = list(state_fields).index("T")
    keeps = {q: horizon_slice(m, "frame" if q in ("T_hs", "A_hs") else "interval") for q in QUANTITIES}
    errs = {q: [] for q in QUANTITIES}
    per_field = {f: [] for f in FIELD_METRICS}
    series = {"runs": [int(r) for r in runs], **{q: [] for q in SERIES}}
    for i in range(len(runs)):
        mp, mt = hotspot_metrics(phys[i, :, ti], dx, dt, thr), hotspot_metrics(truth[i, :, ti], dx, dt, thr)
        for q in SERIES:
            series[q].append([float(v) for v in mp[q]])
        for q, keep in keeps.items():  # the forecast horizon only, as forecast_scores
            errs[q].append(np.asarray(mp[q][keep], float) - np.asarray(mt[q][keep], float))
        keep = horizon_slice(m, "frame")
        for f in FIELD_METRICS:
            j = list(state_fields).index(f)
            per_field[f].append(float(np.sqrt(np.mean((phys[i, keep, j] - truth[i, keep, j]) ** 2))))
    out.update(rmse={q: _error_block(errs[q], QUANTITY_UNITS[q], keeps[q].start) for q in QUANTITIES},
               field_rmse={f: _metric_block(per_field[f], units[f]) for f in FIELD_METRICS}, series=series)
    return out


def _time_ns(meso) -> np.ndarray:
    """The frame times [ns] of the meso file."""
    from probtok.data import open_dataset

    with open_dataset(meso) as ds:
        return np.asarray(ds.time_ns, float)


def fan_run(meso, test_runs) -> int:
    """The test run of the benchmark's fan charts: the one with the largest hot-spot area at its last frame
    in the simulation (the most growth to forecast; the first of them on a tie)."""
    from probtok.data import open_dataset
    from probtok.hotspots import hotspot_area

    with open_dataset(meso) as ds:
        last = ds.n_frames - 1
        areas = [float(hotspot_area(ds.frame(int(r), last, ["T"])[0], ds.dx_um, ds.hotspot_threshold_K))
                 for r in test_runs]
    return int(test_runs[int(np.argmax(areas))])


def parc_reference(parc_info: dict, run: int) -> dict | None:
    """{label: {quantity: series}} of PARC's forecast of ``run`` for :func:`probtok.plots.fan_chart`, or None
    when PARC has no series of that run (its rollout diverged)."""
    series = parc_info.get("series")
    if not series or int(run) not in series["runs"]:
        return None
    i = series["runs"].index(int(run))
    label = f"PARC ({len(parc_info['fit_runs']) + len(parc_info['val_runs'])} runs)"
    return {label: {q: series[q][i] for q in SERIES}}


def summarize_results(results: list[dict]) -> list[dict]:
    """Mean over subsets per (model, K) of the headline numbers (see the module doc)."""
    groups: dict = {}
    for r in results:
        groups.setdefault((r["model"], r["k"]), []).append(r)
    out = []
    for (model, k), rs in groups.items():
        row = {"model": model, "k": k, "n_subsets": len(rs),
               "train_wall_s": float(np.mean([r["train_wall_s"] for r in rs]))}
        for q in QUANTITIES:
            row[f"rmse_{q}"] = float(np.mean([r["rmse"][q]["mean"] for r in rs]))
            for key in ("crps", "coverage50", "coverage90", "coverage50_pit", "coverage90_pit"):
                # records from before the PIT coverage have no such key
                vals = [r[key][q] for r in rs if r.get(key) is not None and r[key][q] is not None]
                row[f"{key}_{q}"] = float(np.mean(vals)) if vals else None
        for f in FIELD_METRICS:
            row[f"field_rmse_{f}"] = float(np.mean([r["field_rmse"][f]["mean"] for r in rs]))
        out.append(row)
    return out


def error_vs_k_figure(summary: list[dict], results: list[dict] | None = None):
    """Data-efficiency curves: one panel per metric, error against K (log2 axis) per model: the mean over
    training subsets (lines) and, where a K has several, each subset (small dots, from ``results``)."""
    from probtok.plots import _figure

    metrics = [f"rmse_{q}" for q in QUANTITIES] + [f"field_rmse_{f}" for f in FIELD_METRICS]
    units = [QUANTITY_UNITS[q] for q in QUANTITIES] + ["K", "GPa"]
    fig = _figure(figsize=(13, 7))
    axes = fig.subplots(2, 3)
    for ax, m, u in zip(np.ravel(axes), metrics, units):
        for model, style in (("adapted", "o-"), ("scratch", "s--")):
            rows = sorted((r for r in summary if r["model"] == model), key=lambda r: r["k"])
            if not rows:  # a benchmark of some models only (BenchConfig.models)
                continue
            line, = ax.plot([r["k"] for r in rows], [r[m] for r in rows], style, label=model)
            each = [r for r in results or [] if r["model"] == model and
                    any(s["n_subsets"] > 1 for s in rows if s["k"] == r["k"])]
            if each:
                ax.plot([r["k"] for r in each], [_result_metric(r, m) for r in each], ".", ms=5,
                        color=line.get_color(), alpha=0.6)
        for model, ls in (("micro-only", ":"), ("parc", "-.")):
            for r in summary:
                if r["model"] == model:
                    ax.axhline(r[m], ls=ls, color="gray" if model == "micro-only" else "k",
                               label=f"{model} (K = {r['k']})")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("K (meso training runs)")
        ax.set_ylabel(f"{m} [{u}]")
    np.ravel(axes)[0].legend(fontsize=8)
    fig.suptitle("few-shot benchmark: error against K (test runs, median forecast)")
    return fig


def _k_colors(ks) -> dict:
    """{K: colour}: one viridis shade per K, in order (the reliability and error-vs-time plots)."""
    from matplotlib import colormaps

    ks = sorted(ks)
    return {k: colormaps["viridis"](0.85 * i / max(1, len(ks) - 1)) for i, k in enumerate(ks)}


def pooled_reliability(results: list[dict], model: str, k: int, quantity: str, key: str = "coverage"):
    """(levels, coverage, n_points) of ``model`` at ``k`` pooled over its training subsets: each level's
    coverage averaged with the subsets' numbers of scored points as weights (= the coverage of all their
    points together); None when no entry of them has a reliability curve (of ``key``: "coverage", or
    "coverage_pit" for the randomized intervals, which records from before 2026-11-28 lack)."""
    rows = [r["reliability"][quantity] for r in results if r["model"] == model and r["k"] == k
            and r.get("reliability") and r["reliability"][quantity]["n_points"] > 0]
    if not rows or any(key not in r for r in rows):
        return None
    n = np.array([r["n_points"] for r in rows], dtype=float)
    cov = np.array([[np.nan if c is None else c for c in r[key]] for r in rows])
    return np.asarray(rows[0]["levels"]), (cov * n[:, None]).sum(0) / n.sum(), int(n.sum())


def reliability_figure(results: list[dict]):
    """Calibration of every probabilistic model: empirical against nominal coverage of the randomized central
    intervals (PIT coverage, :mod:`probtok.calibration`: on the diagonal for a calibrated forecast although
    hot-spot series sit at 0) of ``T_hs`` and ``A_hs`` (one panel each), one line per model and K (pooled over
    subsets, :func:`pooled_reliability`); of the plain intervals for records that have no PIT coverage.
    PARC has no intervals and no line."""
    from probtok.plots import NAMES_TEX, _figure

    keys = sorted({(r["model"], r["k"]) for r in results if r.get("reliability")},
                  key=lambda mk: (PROBABILISTIC.index(mk[0]), mk[1]))
    pit = all("coverage_pit" in r["reliability"][q] for r in results if r.get("reliability") for q in SERIES)
    key = "coverage_pit" if pit else "coverage"
    shade = _k_colors({k for m, k in keys if m != "micro-only"})
    fig = _figure(figsize=(10, 5))
    axes = fig.subplots(1, len(SERIES))
    for ax, q in zip(np.atleast_1d(axes), SERIES):
        ax.plot([0, 1], [0, 1], color="0.3", ls="--", lw=1, label="perfect calibration")
        for model, k in keys:
            curve = pooled_reliability(results, model, k, q, key)
            if curve is None:
                continue
            lv, cov, n = curve
            style = {"adapted": dict(ls="-", marker="o", color=shade.get(k)),
                     "scratch": dict(ls=":", marker="s", color=shade.get(k)),
                     "micro-only": dict(ls="-.", marker="^", color="0.4")}[model]
            ax.plot(lv, cov, ms=3.5, lw=1.4, label=f"{model}, K = {k} (n = {n})", **style)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("nominal coverage of " + ("randomized central interval (PIT)" if pit else "central interval"))
        ax.set_ylabel("empirical coverage")
        ax.set_title(NAMES_TEX.get(q, q))
        ax.grid(alpha=0.3, lw=0.5)
    np.atleast_1d(axes)[-1].legend(fontsize=7, loc="upper left", frameon=False)
    fig.suptitle("few-shot benchmark: calibration on the test runs (below the diagonal: over-confident)")
    return fig


def pooled_per_frame(results: list[dict], model: str, k: int, quantity: str):
    """The per-frame RMSE of ``model`` at ``k`` over all its subsets' test runs: the root of the mean over
    subsets of the squared per-frame RMSEs (each subset scores the same test runs); NaN at the given
    (unscored) points; None when no entry has a per-frame RMSE."""
    rows = [r["rmse"][quantity].get("per_frame") for r in results if r["model"] == model and r["k"] == k]
    rows = [row for row in rows if row is not None]
    if not rows:
        return None
    sq = np.array([[np.nan if v is None else v * v for v in row] for row in rows])
    return np.sqrt(sq.mean(0))


def error_vs_time_figure(results: list[dict], time_ns):
    """Where in time the forecasts miss: RMSE over the test runs of the median ``T_hs`` and ``A_hs`` at each
    forecast frame against time [ns], adapted at every K (pooled over subsets, :func:`pooled_per_frame`),
    micro only and PARC; ``time_ns``: the frame times."""
    from probtok.plots import LABELS, _figure

    shade = _k_colors({r["k"] for r in results if r["model"] == "adapted"})
    lines = [("adapted", k, dict(color=color, lw=1.4), f"adapted, K = {k}") for k, color in shade.items()]
    lines += [(m, r["k"], style, f"{m}, K = {r['k']}") for m, style in
              (("micro-only", dict(color="0.4", ls="-.", lw=1.4)), ("parc", dict(color="k", ls="--", lw=1.6)))
              for r in results if r["model"] == m]
    fig = _figure(figsize=(11, 4.2))
    for ax, q in zip(fig.subplots(1, len(SERIES)), SERIES):
        for model, k, style, label in lines:
            y = pooled_per_frame(results, model, k, q)
            if y is not None:
                ax.plot(np.asarray(time_ns)[: len(y)], y, label=label, **style)
        ax.set_xlabel("time [ns]")
        ax.set_ylabel(f"RMSE of the median {LABELS.get(q, q)}")
        ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7, frameon=False)
    fig.suptitle("few-shot benchmark: error of the median forecast against time (test runs)")
    return fig


def _result_metric(r: dict, m: str) -> float:
    """A summary column (``rmse_T_hs``, ``field_rmse_P``, ...) of one result entry."""
    block, name = ("field_rmse", m[len("field_rmse_"):]) if m.startswith("field_rmse_") else ("rmse", m[len("rmse_"):])
    return r[block][name]["mean"]


def _several_subsets(bench: dict) -> set:
    """(model, K) pairs the benchmark ran on more than one training subset (failed subsets included)."""
    runs: dict = {}
    for r in bench["results"] + bench.get("failed", []):
        runs.setdefault((r["model"], r["k"]), set()).add(r["subset"])
    return {key for key, subs in runs.items() if len(subs) > 1}


def _subset_lines(bench: dict, several: set) -> list[str]:
    """The per-subset rows behind every mean over several training subsets (``several``: from
    :func:`_several_subsets`), a failed subset (not in the mean) included; empty when every K ran one."""
    rows = [r for r in bench["results"] + bench.get("failed", []) if (r["model"], r["k"]) in several]
    if not rows:
        return []
    lines = ["", "Each training subset of the means above (a failed one is not in the mean):", "",
             "| model | K | subset | training runs | RMSE T_hs [K] | RMSE A_hs [um^2] | CRPS T_hs [K] | "
             "cov90 T_hs | cov90 A_hs | cov50 T_hs | cov50 A_hs | PIT90 T_hs | PIT90 A_hs | PIT50 T_hs | "
             "PIT50 A_hs |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    values = bench["data"].get("stratify_values")  # {pool run: value} of a stratified benchmark
    for r in sorted(rows, key=lambda r: (r["model"], r["k"], r["subset"])):
        runs = str(r["train_runs"])
        if values and r["train_runs"] and all(str(t) in values for t in r["train_runs"]):
            runs += (f" ({bench['config']['stratify']} "
                     f"{', '.join(f'{values[str(t)]:.3g}' for t in r['train_runs'])})")
        head = f"| {r['model']} | {r['k']} | {r['subset']} | {runs} | "
        if "error" in r:
            lines.append(head + "failed (see below) | | | | | | | | | | |")
            continue
        covs = " | ".join(_fmt((r.get(c) or {}).get(q)) for c in ("coverage90", "coverage50", "coverage90_pit",
                                                                   "coverage50_pit") for q in SERIES)
        lines.append(head + f"{_fmt(r['rmse']['T_hs']['mean'])} | {_fmt(r['rmse']['A_hs']['mean'])} | "
                     f"{_fmt((r['crps'] or {}).get('T_hs'))} | {covs} |")
    return lines


def bench_markdown(bench: dict) -> str:
    """bench.md: one row per model and K (means over subsets)."""
    d = bench["data"]
    sim = bench["simulator"]
    quick = " (--quick: smoke-test budgets, not results)" if bench["quick"] else ""
    rescored = bench.get("rescored")
    if rescored:  # probtok.rescore: the benchmark's models on other runs
        head = [f"# probtok bench rescore{quick}", "",
                f"The fitted models of the benchmark {rescored['bench']} (training pool {d['train_pool']} of "
                f"{rescored['bench_data']}, K = {d['k_values']}; its test runs were {rescored['bench_test_runs']}) "
                f"scored on runs {d['test_runs']} of {d['test_data']}; machine: {bench['machine']['platform']}, "
                f"{bench['machine']['cpu_count']} CPUs."]
    else:
        strat = bench["config"].get("stratify")
        head = [f"# probtok bench fewshot{quick}", "",
                f"Test runs {d['test_runs']}, training pool {d['train_pool']}, K = {d['k_values']}"
                f"{f' (subsets stratified by {strat})' if strat else ''}; "
                f"machine: {bench['machine']['platform']}, {bench['machine']['cpu_count']} CPUs."]
    lines = [*head, "",
             "| model | K | subsets | RMSE T_hs [K] | RMSE A_hs [um^2] | RMSE dT_hs/dt [K/ns] | RMSE dA_hs/dt "
             "[um^2/ns] | field RMSE T [K] | field RMSE P [GPa] | CRPS T_hs [K] | cov90 T_hs | cov90 A_hs | "
             "cov50 T_hs | cov50 A_hs | PIT90 T_hs | PIT90 A_hs | PIT50 T_hs | PIT50 A_hs | train [s] |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in bench["summary"]:
        lines.append(f"| {r['model']} | {r['k']} | {r['n_subsets']} | " + " | ".join(
            _fmt(r.get(k)) for k in ([f"rmse_{q}" for q in QUANTITIES] + ["field_rmse_T", "field_rmse_P",
                                     "crps_T_hs", "coverage90_T_hs", "coverage90_A_hs", "coverage50_T_hs",
                                     "coverage50_A_hs", "coverage90_pit_T_hs", "coverage90_pit_A_hs",
                                     "coverage50_pit_T_hs", "coverage50_pit_A_hs", "train_wall_s"])) + " |")
    several = _several_subsets(bench)
    lines += _subset_lines(bench, several)
    fc = [(r["model"], r["k"] if (r["model"], r["k"]) not in several else f"{r['k']} subset {r['subset']}",
           r["forecast_wall_s_per_run"], r["forecast_wall_s_per_draw"]) for r in bench["results"]]
    lines += ["", "Forecast wall time [s] per run / per draw: " + "; ".join(
        f"{m} K={k}: {_fmt(a)} / {_fmt(b)}" for m, k, a, b in fc),
        "", f"Simulator wall time per run: {_fmt(sim['wall_s_per_run'])} s ({sim['note']}).",
        _micro_fit_text(bench),
        f"{'Rescoring' if rescored else 'Whole benchmark'}: {_fmt(bench['wall_s'] / 60)} min on "
        f"{bench['machine']['workers']} worker(s) of "
        f"{bench['machine']['torch_threads']} torch thread(s).",
        _parc_text(bench),
        f"Every model was given the first {bench['config']['first_frames']} frame(s) of a test run; scores cover "
        f"the later frames. Task latent c of a test run: {_task_text(bench)}. Transition noise of the free "
        f"rollout: {_kappa_text(bench)}. The adaptations' micro globals: "
        f"{bench['config'].get('theta', 'frozen')}; their encoder: {bench['config'].get('encoder', 'frozen')}.",
        "cov90, cov50: the fraction of (run, frame) points inside the central interval; PIT90, PIT50: inside the "
        "randomized central interval (its randomized PIT in the central band), which a calibrated forecast holds "
        "at the nominal level even where its draws tie at 0 (no hot cell), where the interval coverage is above it "
        "(probtok.calibration).", ""]
    from probtok.calibration import coverage_text

    def with_range(r, c, q):  # a coverage and its range; then its PIT coverage's, where the record has them
        text = f"{q} {coverage_text(r[c][q], r[c + '_range'][q])}"
        if r.get(c + "_pit_range"):
            text += f" (PIT {coverage_text(r[c + '_pit'][q], r[c + '_pit_range'][q])})"
        return text

    ranges = [f"{r['model']} K={r['k']} subset {r['subset']}: " + ", ".join(
        f"{with_range(r, c, q)} at {lv}" for c, lv in (("coverage90", "90 %"), ("coverage50", "50 %")) for q in SERIES)
        for r in bench["results"] if r.get("coverage90_range")]
    if ranges:  # what six test runs can tell of a coverage
        lines.insert(-1, f"Coverages with their 90 % ranges (the {len(d['test_runs'])} test runs as the sample: "
                         "the frames of a run are covered nearly together; in brackets the PIT coverage): "
                         + "; ".join(ranges) + ".")
    outliers = _outlier_text(bench)
    if outliers:
        lines.insert(-1, outliers)
    digests = [f"{r['model']} K={r['k']} subset {r['subset']}: {r['weights_digest']}" for r in bench["results"]
               if r.get("weights_digest")]
    if digests:  # which fitted models the scores are of (probtok.checkpoint.weights_digest)
        lines.insert(-1, "Weights digests of the fitted models: " + "; ".join(digests) + ".")
    for f in bench.get("failed", []):
        lines.insert(-1, f"FAILED (not scored): {f['model']} K={f['k']} subset {f['subset']}: {f['error']}")
    lines += [f"![{k}]({Path(v).name})" for k, v in bench["plots"].items()]
    return "\n".join(lines) + "\n"


def _outlier_text(bench: dict) -> str | None:
    """bench.md's warning of ensemble members that most likely diverged: a CRPS of T_hs on their training runs
    above OUTLIER_FACTOR x their ensemble's median (probtok.rollout_noise.outlying_members), or a final fit loss
    more than LOSS_MADS median absolute deviations above the members' median (probtok.divergence); before them,
    the members adapted a second time for that (readapt_diverged); None when there are none."""
    from probtok.divergence import LOSS_MADS, loss_outliers
    from probtok.rollout_noise import OUTLIER_FACTOR, outlying_values

    def label(r, m):
        return f"{r['model']} K={r['k']} subset {r['subset']} member {m}"

    by_crps = [f"{label(r, m)}: {c:.0f} K (median {med:.0f} K)"
               for r in bench["results"] for m, c, med in outlying_values(r.get("training_crps_T_hs") or [])]
    by_loss = [f"{label(r, m)}: {v:.3g} ({n:.0f} deviations above the median {med:.3g})" for r in bench["results"]
               for m, v, med, n in loss_outliers(r.get("final_loss_per_run_frame") or [])]
    again = [f"{label(r, a['member'])}: {a['final_loss_before']:.3g} ({a['deviations_before']:.0f} deviations above "
             f"the median) -> {a['final_loss_after']:.3g}" for r in bench["results"] for a in r.get("readapted") or []]
    lines = []
    if again:
        warm = {a["theta_warmup_steps"] for r in bench["results"] for a in r.get("readapted") or []}
        lines.append("Ensemble members adapted a second time, with theta's learning rate warmed up over "
                     f"{', '.join(str(w) for w in sorted(warm))} steps, because their first adaptation's final loss was "
                     f"more than {LOSS_MADS:g} median absolute deviations above their ensemble's median; the "
                     "forecasts pool the second fit (final loss per run-frame, first -> second): "
                     + "; ".join(again) + ".")
    if by_crps:
        lines.append("Ensemble members whose CRPS of T_hs on their training runs is above "
                     f"{OUTLIER_FACTOR:g}x their ensemble's median (a diverged adaptation, most likely; pooled all "
                     "the same): " + "; ".join(by_crps) + ".")
    if by_loss:
        lines.append("Ensemble members whose final fit loss per run-frame is more than "
                     f"{LOSS_MADS:g} median absolute deviations above their ensemble's median (a diverged adaptation, "
                     "most likely; pooled all the same): " + "; ".join(by_loss) + ".")
    return "\n".join(lines) or None


def _micro_fit_text(bench: dict) -> str:
    """bench.md's line on the micro fit, or on every ensemble member's."""
    mf = bench["micro_fit"]
    members = mf.get("members") or []
    if len(members) <= 1:
        return (f"Micro fit: {mf['steps']} steps, {_fmt(mf['wall_s'])} s, weights digest "
                f"{mf.get('weights_digest') or 'not recorded'}.")
    n_draws = bench["config"]["n_draws"]
    return (f"Every token model is an ensemble of {len(members)} fits, its {n_draws} draws per forecast split among "
            f"them (micro fit m has the config's [fit] seed + m; adapted member m adapts micro fit m; scratch "
            f"member m has seed + m). Micro fits, {mf['steps']} steps each: "
            + "; ".join(f"seed {m['seed']}: {_fmt(m['wall_s'])} s, weights digest {m['weights_digest']}"
                        for m in members) + ".")


_NEW_TASK_TEXT = {"training-runs": "the adaptation runs' q(c[n]), moment-matched (unless the given frames "
                                    "after the fit's start frame condition it)",
                  "prior": "the prior N(0, I) (unless the given frames after the fit's start frame condition it)"}


def _task_text(bench: dict) -> str:
    """How a test run's task latent was drawn, in words."""
    covariate = bench["micro_fit"].get("task_covariate")
    if covariate:
        return (f"p(c | its {covariate}), the model's task covariate (further conditioned by the given frames "
                "after the fit's start frame when there are two or more)")
    return _NEW_TASK_TEXT.get(bench["config"].get("new_task", "prior"))


def _parc_text(bench: dict) -> str:
    """bench.md's line on PARC: its size and training, or that the benchmark did not run it."""
    parc = bench["parc"]
    if not parc:
        return f"PARC: not run (models: {', '.join(bench['config'].get('models', MODELS))})."
    return (f"PARC: {parc['n_parameters']} parameters, {parc['epochs']} epochs, stopped: {parc['stopped']}; "
            f"early stopping on {_stop_runs(parc)}.")


def _stop_runs(parc: dict) -> str:
    if parc.get("val_on") == "val":
        return f"held-out pool runs {parc['val_runs']} (fitted on {parc['fit_runs']})"
    return "its training runs"


def _fmt(v) -> str:
    return "n/a" if v is None else format(v, ".4g")


def _machine(torch_threads: int, workers: int) -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": int(torch_threads), "workers": int(workers),
            "python": sys.version.split()[0]}


def run_bench(micro_data, meso_data, out, cfg: BenchConfig | None = None, echo=print, parc_model=None,
              workers: int | None = None) -> dict:
    """Run the benchmark into ``out`` (bench.json, bench.md, PNGs, model folders); returns the bench dict.

    ``parc_model``: score this trained parc.pt (same split; see :func:`run_parc`) instead of training PARC.
    ``workers``: processes that run the benchmark's jobs side by side (a Dask LocalCluster, one torch
    thread each; default: :func:`default_workers`); 1 runs them one after the other in this process. The jobs are
    PARC, the micro fit of every ensemble member, the fit (adaptation / from scratch) of every (model, K,
    subset, member), and the forecasts of the test runs of every (model, K, subset) (:func:`_run_jobs`). Every
    job is seeded on its own, so the numbers do not depend on ``workers``; each writes only its own folders, so
    an interrupted benchmark re-run reuses what finished.
    """
    from probtok.atomic import atomic_write_text
    from probtok.model_spec import load_config
    from probtok.pipeline import DemoConfig, _config_path

    cfg = cfg or BenchConfig()
    if int(cfg.ensemble) < 1:
        from probtok.errors import ConfigError

        raise ConfigError(f"ensemble = {cfg.ensemble}: a model needs at least one fit", field="ensemble")
    from probtok.predict import ensemble_draws

    ensemble_draws(cfg.n_draws, cfg.ensemble)  # each member needs 2 draws: refused here, before any fit
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    test, pool, ks = split_runs(meso_data, cfg.test_runs, cfg.k_values)
    strata = None if cfg.stratify is None else stratify_values(meso_data, cfg.stratify, pool)  # before any fit
    demo = DemoConfig(model_config=cfg.model_config, micro_steps=cfg.micro_steps, seed=cfg.seed,
                      scratch_steps=cfg.adapt_steps if cfg.scratch_steps is None else cfg.scratch_steps,
                      n_draws=cfg.n_draws)
    spec = load_config(_config_path(demo)).spec
    common = dict(out=out, micro_data=Path(micro_data), meso_data=Path(meso_data), test=test, cfg=cfg, demo=demo)
    # (model, K, subset, training runs): the order of the results list
    # (only those of cfg.models; the micro fits run in any case)
    models = [("micro-only", 0, 0, [])] if "micro-only" in cfg.models else []
    for k in ks:
        for s in range(1 if k == len(pool) else cfg.subsets):
            train = subset_runs(pool, k, s, cfg.seed, strata)
            models += [(m, k, s, train) for m in ("adapted", "scratch") if m in cfg.models]
    parc_args = ((meso_data, pool, test, out, cfg, tuple(parc_state_fields(spec.fields)), parc_model)
                 if "parc" in cfg.models else None)
    n_fits = cfg.ensemble * (1 + sum(job[0] != "micro-only" for job in models))  # micro fits + the meso fits
    n_parc = int(parc_args is not None)
    n_workers = max(1, int(workers)) if workers is not None else default_workers(n_fits + n_parc)
    echo(f"bench: {n_fits + len(models) + n_parc} jobs ({'PARC, ' if n_parc else ''}{n_fits} fits, forecasts of "
         f"{len(models)} models{f' of {cfg.ensemble} fits each' if cfg.ensemble > 1 else ''}) on {n_workers} "
         f"worker(s); test runs {test}, training pool {pool}"
         + ("" if len(cfg.models) == len(MODELS) else f"; models: {', '.join(cfg.models)}"))
    micro, done, parc = _run_jobs(models, parc_args, common, n_workers, echo)
    parc_res, parc_info = parc if parc is not None else (None, {})

    results, failed, forecasts = [], [], {}
    for i, job in enumerate(models):  # the order above, whatever order the jobs finished in
        res = done[i]
        if res["entry"] is not None:
            results.append(res["entry"])
            forecasts[job[0]] = res["forecasts"]  # the fan charts: each model's last (largest K, last subset)
        else:
            failed.append(res["failed"])
    if parc_res is not None:
        (failed if "error" in parc_res else results).append(parc_res)
    summary = summarize_results(results)
    figures = bench_plots(results, summary, parc_info, forecasts, meso_data, test, out)
    from probtok.checkpoint import load_checkpoint, weights_digest

    micro_dir = Path(micro[0]["dir"])
    micro_ckpt = load_checkpoint(micro_dir / "checkpoint.pt")
    bench = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "config": asdict(cfg), "quick": cfg.quick,
             "fan_run": figures["fan_run"],
             "machine": _machine(cfg.torch_threads, n_workers),  # the threads and workers the benchmark ran with
             "wall_s": time.perf_counter() - t_start,
             "data": {"micro": str(micro_data), "meso": str(meso_data), "test_runs": test, "train_pool": pool,
                      "k_values": ks,
                      # what the subsets were stratified by: {pool run: its value}, listed in bench.md
                      **({} if strata is None else {"stratify_values": {
                          str(r): float(v) for r, v in zip(pool, strata)}})},
             "simulator": simulator_timing(meso_data),
             "micro_fit": {"dir": str(micro_dir), "steps": int(micro_ckpt["step"]), "wall_s": micro[0]["wall_s"],
                           "task_covariate": micro_ckpt["spec_obj"].task_covariate,
                           "fields": list(micro_ckpt["spec_obj"].fields),
                           "weights_digest": weights_digest(micro_ckpt),
                           "members": [_micro_member(m) for m in micro]},
             "parc": parc_info, "results": results, "summary": summary, "failed": failed,
             "plots": figures["plots"]}
    atomic_write_text(out / "bench.json", json.dumps(bench, indent=1, default=_json_default))
    atomic_write_text(out / "bench.md", bench_markdown(bench))
    echo(f"bench: {out / 'bench.json'}, {out / 'bench.md'} ({bench['wall_s'] / 60:.1f} min)")
    return bench


def bench_plots(results: list[dict], summary: list[dict], parc_info: dict, forecasts: dict, data, runs,
                out: Path) -> dict:
    """The benchmark's PNGs in ``out`` from its ``results``, ``summary`` and PARC info, and the fan charts of
    one run (:func:`fan_run`) from ``forecasts`` {model: {run: forecast file}}: {"plots": {name: path},
    "fan_run": run}."""
    from probtok.forecast import read_forecast
    from probtok.plots import fan_chart, save_png

    fan = fan_run(data, runs)
    plots = {"error_vs_k": save_png(error_vs_k_figure(summary, results), out / "error_vs_k.png"),
             "reliability": save_png(reliability_figure(results), out / "reliability.png"),
             "error_vs_time": save_png(error_vs_time_figure(results, _time_ns(data)), out / "error_vs_time.png")}
    for name, files in forecasts.items():
        fc = read_forecast(files[fan])
        plots[f"fan_{name}"] = save_png(fan_chart(fc, reference=parc_reference(parc_info, fc.attrs["run_id"])),
                                        out / f"fan_{name}.png")
    return {"plots": {k: str(v) for k, v in plots.items()}, "fan_run": fan}


def _micro_member(micro: dict) -> dict:
    """bench.json's record of one micro fit (a :func:`_job_micro` result), with the seed its checkpoint says it
    was fitted with (so also for a fit an earlier run made)."""
    from probtok.checkpoint import load_checkpoint, weights_digest

    ckpt = load_checkpoint(Path(micro["dir"]) / "checkpoint.pt")
    return {"dir": micro["dir"], "seed": int(ckpt["fit_config"]["seed"]), "wall_s": micro["wall_s"],
            "weights_digest": weights_digest(ckpt)}


#: Memory one worker may need: the largest process of the default benchmark peaked at 8.5 GB (100-draw
#: forecasts of 128 x 192 x 36-frame runs; docs/bench-2026-11-26-workers). Since forecasts reduce their draws
#: frame by frame, a 200-draw forecast of such a run peaks at 0.49 GB (benchmarks/forecast_speed.py) and a
#: micro-s4 adaptation on 4 runs at 4.5 GB (/usr/bin/time -v, README); PARC's and the micro fits' peaks were
#: not measured, so the bound stays until they are.
WORKER_MEMORY_BYTES = 10 * 2**30


def default_workers(n_jobs: int) -> int:
    """Workers when none are given: the CPU count, at most one per job and one per WORKER_MEMORY_BYTES of RAM."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # no sysconf (e.g. Windows): do not limit by memory
        ram = None
    by_memory = n_jobs if ram is None else ram // WORKER_MEMORY_BYTES
    return max(1, min(os.cpu_count() or 1, n_jobs, by_memory))


# -- the jobs (top-level functions: Dask ships them to worker processes) -------------------------------
def member_name(base: str, member: int) -> str:
    """The folder of ensemble member ``member`` of a fit: member 0 keeps ``base`` (a benchmark of single
    models is member 0 alone, so its folders are as before), member m > 0 ``<base>-m<m>``."""
    return base if member == 0 else f"{base}-m{member}"


def fit_dir(out, job: tuple, member: int) -> Path:
    """The folder of ensemble member ``member`` of model ``job`` = (model, K, subset, training runs) in the
    benchmark folder ``out``: micro-fit[-m<m>] (micro only: the micro fits), models/K<k>_s<s>/meso-adapt[-m<m>]
    (adapted) or models/K<k>_s<s>/meso-scratch[-m<m>] (from scratch)."""
    name, k, s = job[:3]
    if name == "micro-only":
        return Path(out) / member_name("micro-fit", member)
    base = "meso-adapt" if name == "adapted" else "meso-scratch"
    return Path(out) / "models" / f"K{k}_s{s}" / member_name(base, member)


def member_seed(demo, member: int) -> int | None:
    """The [fit] seed of ensemble member ``member``: the seed of the config ``demo`` names plus ``member``
    (None for member 0: the config's, unchanged, as in a single-model benchmark)."""
    from probtok.model_spec import load_config
    from probtok.pipeline import _config_path

    return None if member == 0 else int(load_config(_config_path(demo)).fit.seed) + int(member)


def _job_micro(member: int, out, micro_data, meso_data, test, cfg: BenchConfig, demo) -> dict:
    """Micro fit ``member`` (resumed / reused under out/micro-fit[-m<member>]): {dir, wall_s, logs}."""
    import torch

    from probtok.pipeline import DemoResult, stage_fit_micro

    torch.set_num_threads(cfg.torch_threads)
    logs: list[str] = []
    state = DemoResult(out=out, files={"data/micro": micro_data, "data/meso": meso_data})
    seed, name = member_seed(demo, member), fit_dir(out, ("micro-only", 0, 0, []), member).name
    wall = _timed_fit(out / name / "fit.json", 0,
                      lambda: stage_fit_micro(out, demo, state, echo=logs.append, seed=seed, name=name))
    return {"dir": str(state.files["micro-fit"]), "wall_s": wall, "logs": logs}


def _job_fit(micro: dict, job: tuple, member: int, out, micro_data, meso_data, test, cfg: BenchConfig,
             demo) -> dict:
    """Fit ensemble member ``member`` of one model (adapted: micro fit ``member`` adapted on the K runs; from
    scratch: a fit with the config's seed + ``member``): {dir, wall_s, logs}."""
    import torch

    from probtok.adapt import AdaptConfig, adapt_files
    from probtok.pipeline import DemoResult, stage_scratch

    torch.set_num_threads(cfg.torch_threads)
    name, k, s, train = job
    logs: list[str] = []
    micro_dir = Path(micro["dir"])
    model_dir = fit_dir(out, job, member)
    if name == "adapted":
        # a complete adaptation with the same settings (an interrupted benchmark re-run) is reused
        wall = _timed_fit(model_dir / "adapt.json", cfg.adapt_steps, lambda: adapt_files(
            micro_dir, meso_data, train, model_dir, AdaptConfig(steps=cfg.adapt_steps, seed=cfg.seed, theta=cfg.theta,
                                                                encoder=cfg.encoder), resume=True))
    else:
        sc_state = DemoResult(out=model_dir.parent,
                              files={"data/micro": micro_data, "data/meso": meso_data, "micro-fit": micro_dir},
                              reports={"split": {"train": train, "held_out": test}})
        seed = member_seed(demo, member)
        wall = _timed_fit(model_dir / "fit.json", demo.scratch_steps,
                          lambda: stage_scratch(model_dir.parent, demo, sc_state, echo=logs.append, seed=seed,
                                                name=model_dir.name))
    return {"dir": str(model_dir), "wall_s": wall, "logs": logs}


def _job_forecast(fits: list[dict], job: tuple, out, micro_data, meso_data, test, cfg: BenchConfig, demo,
                  progress: bool = False, readapt: bool = False) -> dict:
    """Forecast and score the test runs with one model: its ensemble members ``fits`` (the results of
    :func:`_job_micro` for micro only, else of :func:`_job_fit`; one: a single model):
    {entry, failed, forecasts ({test run: file})}; a ProbtokError (e.g. diverged draws) gives ``failed``
    instead of ``entry``. ``readapt`` (the benchmark's own jobs, on its meso file): first adapt again the
    members of an adapted ensemble whose loss diverged (:func:`readapt_diverged`; the entry's ``readapted``)."""
    import torch

    from probtok.errors import ProbtokError

    torch.set_num_threads(cfg.torch_threads)
    name, k, s, train = job
    fc_dir = out / "forecasts" / name
    if name != "micro-only":
        fc_dir = fc_dir / f"K{k}_s{s}"
    dirs = [Path(f["dir"]) for f in fits]
    train_s = float(np.sum([f["wall_s"] for f in fits]))  # the cost of all the members
    readapted: list[dict] = []
    readapt = readapt and name == "adapted"
    if readapt:
        micro_dirs = [fit_dir(out, ("micro-only", 0, 0, []), m) for m in range(len(dirs))]
        dirs, readapted = readapt_diverged(dirs, micro_dirs, meso_data, train, cfg)
        train_s += float(np.sum([r["wall_s"] for r in readapted]))
    try:
        files, wall = run_forecasts(dirs if len(dirs) > 1 else dirs[0], meso_data, test, fc_dir, cfg, progress)
        entry = _prob_entry(name, k, s, train, files, wall, train_s, cfg, test)
        if name != "micro-only":  # which member, if any, diverged: far worse on its own runs, or a far higher loss
            from probtok.checkpoint import load_checkpoint
            from probtok.divergence import final_loss
            from probtok.rollout_noise import training_crps

            ckpts = [load_checkpoint(d) for d in dirs]
            entry["training_crps_T_hs"] = [training_crps(c["meta"]) for c in ckpts]
            entry["final_loss_per_run_frame"] = [final_loss(c) for c in ckpts]
            if readapt:
                entry["readapted"] = readapted
    except ProbtokError as exc:
        failed = {"model": name, "k": int(k), "subset": int(s), "train_runs": [int(r) for r in train],
                  "error": " ".join(exc.one_line().split())}
        return {"entry": None, "failed": failed, "forecasts": None, "logs": [f"failed: {failed['error']}"]}
    return {"entry": entry, "failed": None, "forecasts": {int(r): str(p) for r, p in files.items()}, "logs": []}


def readapted_dir(member_dir) -> Path:
    """The folder of the second adaptation of a diverged ensemble member (:func:`readapt_diverged`)."""
    member_dir = Path(member_dir)
    return member_dir.with_name(member_dir.name + "-readapted")


def readapt_diverged(dirs: list[Path], micro_dirs: list[Path], meso_data, train,
                     cfg: BenchConfig) -> tuple[list[Path], list[dict]]:
    """Adapt once more each member of an adapted ensemble whose final loss flags it as diverged
    (:func:`probtok.divergence.diverged_members`), from its micro fit (``micro_dirs``, in member order) on the
    runs ``train`` of ``meso_data``, with theta's learning rate warmed up over ``cfg.readapt_theta_warmup_steps``
    steps from a tenth (:class:`probtok.optim.WarmupClippedAdam`), into
    ``<its folder>-readapted`` (reused when complete): (the members' folders, the second fits in place of the
    flagged ones; one record per second fit: ``member``, ``dir``, ``theta_warmup_steps``, ``final_loss_before``,
    ``deviations_before`` (median absolute deviations above the members' median), ``final_loss_after``,
    ``wall_s``). Nothing for frozen theta (the warm-up acts on theta only), for fewer than three members, or with
    ``readapt_theta_warmup_steps`` None. The second fit is kept whatever its loss: one retry, not a search."""
    from probtok.adapt import AdaptConfig, adapt_files
    from probtok.checkpoint import load_checkpoint
    from probtok.divergence import diverged_members, final_loss

    warmup = cfg.readapt_theta_warmup_steps
    if warmup is None or cfg.theta != "prior" or len(dirs) < 3:
        return list(dirs), []
    ckpts = [load_checkpoint(d) for d in dirs]
    dirs, records = list(dirs), []
    for i, loss, _, mads in diverged_members(ckpts):
        new = readapted_dir(dirs[i])
        acfg = AdaptConfig(steps=cfg.adapt_steps, seed=cfg.seed, theta=cfg.theta, theta_warmup_steps=int(warmup),
                           encoder=cfg.encoder)
        wall = _timed_fit(new / "adapt.json", cfg.adapt_steps,
                          lambda: adapt_files(micro_dirs[i], meso_data, train, new, acfg, resume=True))
        records.append({"member": int(i), "dir": str(new), "theta_warmup_steps": int(warmup),
                        "final_loss_before": loss, "deviations_before": mads,
                        "final_loss_after": final_loss(load_checkpoint(new)), "wall_s": wall})
        dirs[i] = new
    return dirs, records


def _job_parc(meso_data, pool, test, out, cfg: BenchConfig, fields, parc_model) -> tuple[dict, dict]:
    import torch

    torch.set_num_threads(cfg.torch_threads)
    return run_parc(meso_data, pool, test, out, cfg, list(fields), trained=parc_model)


def _job_label(job: tuple) -> str:
    name, k, s, train = job
    return name if name == "micro-only" else f"{name} K = {k} subset {s} (runs {train})"


def _member_label(job: tuple | None, member: int, n_members: int) -> str:
    """The progress label of a fit job: micro fit (``job`` None) or a model's fit, and its member."""
    head = "micro fit" if job is None else f"{_job_label(job)} fit"
    return head + (f", member {member}" if n_members > 1 else "")


def _forecast_members(i: int, job: tuple, micro: list, fits: dict, n_members: int) -> list:
    """The fits (results, or Dask futures of them) model ``i`` forecasts with: micro only's are the micro
    fits, the other models' their own fits (``fits[i, member]``)."""
    return list(micro) if job[0] == "micro-only" else [fits[i, m] for m in range(n_members)]


def _run_jobs(models: list[tuple], parc_args: tuple, common: dict, n_workers: int, echo):
    """(micro fit results (one per ensemble member), {model index: forecast job result}, (PARC entry, PARC info)
    or None without ``parc_args``);
    in this process for one worker, else on a LocalCluster. The jobs: PARC (the longest, started first), a
    micro fit per member, a fit per (model, K, subset, member) that waits for its member's micro fit (larger K
    first: the longer fits first keep the workers busy to the end), and a forecast per (model, K, subset) that
    waits for its members' fits."""
    n_members = common["cfg"].ensemble
    fit_jobs = [(i, m) for i, job in enumerate(models) if job[0] != "micro-only" for m in range(n_members)]
    n_jobs = int(parc_args is not None) + n_members + len(fit_jobs) + len(models)
    parc = None
    if n_workers == 1:
        from probtok.threads import torch_threads

        n = 0
        with torch_threads():  # each job sets its own count: the caller's is restored after
            micro = []
            for m in range(n_members):
                micro.append(_job_micro(m, **common))
                n += 1
                _echo_job(echo, n, n_jobs, _member_label(None, m, n_members), micro[-1])
            fits: dict = {}
            for i, m in fit_jobs:
                fits[i, m] = _job_fit(micro[m], models[i], m, **common)
                n += 1
                _echo_job(echo, n, n_jobs, _member_label(models[i], m, n_members), fits[i, m])
            done = {}
            for i, job in enumerate(models):
                done[i] = _job_forecast(_forecast_members(i, job, micro, fits, n_members), job, **common,
                                        progress=True, readapt=True)
                n += 1
                _echo_job(echo, n, n_jobs, f"{_job_label(job)} forecasts", done[i])
            if parc_args is not None:
                parc = _job_parc(*parc_args)
                _echo_parc(echo, n_jobs, n_jobs, parc_args, parc)
        return micro, done, parc

    from distributed import as_completed

    from probtok.sim.campaign import dask_client

    from probtok.progress import client_progress, run_forwarded

    with dask_client(None, n_workers, n_jobs) as client, client_progress(client):
        # run_forwarded: each job's progress bars (fit steps, forecast runs) are drawn here, labelled
        parc_f = (None if parc_args is None else
                  client.submit(run_forwarded, "PARC", _job_parc, *parc_args, priority=1000, pure=False,
                                key="bench-parc"))
        micro_f = [client.submit(run_forwarded, _member_label(None, m, n_members), _job_micro, m, **common,
                                 priority=999, pure=False, key=f"bench-micro-fit-m{m}") for m in range(n_members)]
        fit_f = {(i, m): client.submit(run_forwarded, _member_label(models[i], m, n_members), _job_fit, micro_f[m],
                                       models[i], m, **common, priority=models[i][1], pure=False,
                                       key=f"bench-fit-{models[i][0]}-K{models[i][1]}-s{models[i][2]}-m{m}")
                 for i, m in fit_jobs}
        fc_f = [client.submit(run_forwarded, f"{_job_label(job)} forecasts", _job_forecast,
                              _forecast_members(i, job, micro_f, fit_f, n_members), job, **common, progress=True,
                              readapt=True, priority=job[1], pure=False, key=f"bench-{job[0]}-K{job[1]}-s{job[2]}")
                for i, job in enumerate(models)]
        labels = {}
        labels.update({f.key: _member_label(None, m, n_members) for m, f in enumerate(micro_f)})
        labels.update({f.key: _member_label(models[i], m, n_members) for (i, m), f in fit_f.items()})
        labels.update({f.key: f"{_job_label(models[i])} forecasts" for i, f in enumerate(fc_f)})
        index = {f.key: i for i, f in enumerate(fc_f)}
        done, n = {}, 0
        for fut in as_completed([f for f in (parc_f, *micro_f, *fit_f.values(), *fc_f) if f is not None]):
            res = fut.result()  # a job's non-probtok error stops the benchmark here (finished folders stay)
            n += 1
            if parc_f is not None and fut.key == parc_f.key:
                parc = res
                _echo_parc(echo, n, n_jobs, parc_args, res)
            else:
                if fut.key in index:
                    done[index[fut.key]] = res
                _echo_job(echo, n, n_jobs, labels[fut.key], res)
        micro = [f.result() for f in micro_f]
    return micro, done, parc


def _echo_parc(echo, n: int, n_jobs: int, parc_args: tuple, res: tuple) -> None:
    trained = parc_args[-1]
    state = f"FAILED ({res[0]['error']})" if "error" in res[0] else "done"
    echo(f"bench: [{n}/{n_jobs}] PARC on all {len(parc_args[1])} training runs {state} "
         f"({res[0]['train_wall_s']:.0f} s{', trained: ' + str(trained) if trained else ''})")


def _echo_job(echo, n: int, n_jobs: int, label: str, res: dict, prefix: str = "bench") -> None:
    for line in res.get("logs", []):
        echo(f"{prefix}: {line}")
    wall = f" ({res['wall_s']:.0f} s)" if res.get("wall_s") is not None else ""
    echo(f"{prefix}: [{n}/{n_jobs}] {label} {'done' if res.get('failed') is None else 'FAILED'}{wall}")


def _timed_fit(summary_json: Path, steps, fit) -> float:
    """Run ``fit()`` (which reuses a complete earlier fit); its wall time [s]: the one the fit recorded when it
    ran all its steps in one session (:func:`_reused_wall`; the same number whether it ran now or in an
    interrupted earlier run of the benchmark), else the time measured now (a fit resumed from a checkpoint)."""
    t0 = time.perf_counter()
    fit()
    measured = time.perf_counter() - t0
    recorded = _reused_wall(summary_json, steps)
    return recorded if recorded is not None else measured


def _reused_wall(summary_json: Path, steps) -> float | None:
    """The recorded wall time of a complete fit (``wall_s_this_session`` of its fit.json / adapt.json when
    it ran all ``steps`` in one session, plus the choice of its kappa), else None (no complete fit, or one
    resumed from a checkpoint)."""
    try:
        d = json.loads(Path(summary_json).read_text())
    except (OSError, ValueError):
        return None
    if int(d.get("steps", -1)) >= int(steps or 0) and int(d.get("resumed_from", -1)) == 0:
        # plus the choice of the fit's rollout noise kappa, recorded beside it (probtok.rollout_noise)
        return float(d["wall_s_this_session"]) + float((d.get("rollout_noise") or {}).get("wall_s", 0.0))
    return None


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (tuple, Path)):
        return list(o) if isinstance(o, tuple) else str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
