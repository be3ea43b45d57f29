"""The main job: the demo pipeline on built-in data, one stage after another.

Each stage writes its outputs under ``out/`` and is skipped when they already
exist, so re-running the demo (or resuming it after a kill) redoes only what
is missing (fits resume from their last checkpoint). Stages:

1. ``data``: simulate the small built-in micro and meso campaigns
   (presets ``micro-small`` and ``meso-small``) -> ``data/micro.h5``, ``data/meso.h5``;
2. ``fit-micro``: fit the token model (``models/tiny.toml``) on the micro runs -> ``micro-fit/``;
3. ``adapt``: few-shot SVI on the first K = 2 ok meso runs -> ``meso-adapt/``;
4. ``scratch`` (reference): the same meso model fitted from scratch on the same K meso runs,
   without micro tokens (random init, every weight fitted) -> ``meso-scratch/``;
5. ``forecast``: every held-out meso run from its first ``first_frames`` = 2 frames (frame 0 is
   unshocked; the shock strength first shows in frame 1), ``n_draws`` posterior-predictive
   draws each, with the adapted model (``forecasts/adapted/``) and the two references:
   micro-only (phi = 0, ``forecasts/micro-only/``) and from-scratch (``forecasts/scratch/``);
6. ``report``: ``report/summary.md`` + ``summary.json`` (calibration of the three models on the
   held-out runs: coverage of 50/90 % intervals, CRPS, RMSE of the median), fan chart and field
   snapshots of one held-out run, reliability plot.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from probtok.model_spec import MODELS_DIR  # the shipped model configs (models/ beside the package)


@dataclass
class DemoConfig:
    """What the demo simulates and fits. Presets are names from :mod:`probtok.sim.presets`."""

    micro_preset: str = "micro-small"
    meso_preset: str = "meso-small"
    micro_runs: int | None = 48  # None: the preset's
    meso_runs: int | None = 8
    seed: int = 0
    n_workers: int | None = None
    model_config: str = "tiny"  # a name in models/ (tiny: models/tiny.toml), or a TOML path
    micro_steps: int | None = None  # None: the config's [fit] steps
    micro_holdout: float = 0.1
    k_meso: int = 2  # meso runs to adapt on (the first K ok runs)
    adapt_steps: int = 150
    theta: str | None = None  # "frozen" | "prior" (see probtok.adapt.AdaptConfig); None: the config's [adapt] theta,
    # else "frozen"
    scratch_steps: int | None = None  # from-scratch reference fit; None: the config's [fit] steps, 0: skip it
    n_draws: int = 200
    first_frames: int = 2  # frames given to each forecast (frame 0 is unshocked; the shock shows in frame 1)
    observation_noise: bool = False  # hot-spot draws from decoder means (see probtok.predict)
    rollout_noise: float | None = None  # kappa on the free rollout's transition noise; None: each model's own
    # (chosen on its training runs after its fit, probtok.rollout_noise; 1 for the micro fit)
    torch_threads: int = 1  # tiny networks: one intra-op thread is fastest, and robust to a loaded machine


@dataclass
class DemoResult:
    out: Path
    files: dict = field(default_factory=dict)  # stage/name -> path
    reports: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)  # stage -> wall seconds this session


def stage_data(out: Path, cfg: DemoConfig, result: DemoResult, echo=print) -> None:
    """Simulate (or reuse) the micro and meso datasets."""
    from probtok.sim.campaign import run_campaign

    for scale, preset, n in (("micro", cfg.micro_preset, cfg.micro_runs), ("meso", cfg.meso_preset, cfg.meso_runs)):
        path = out / "data" / f"{scale}.h5"
        rep = run_campaign(preset, n, path, seed=cfg.seed, n_workers=cfg.n_workers)
        if not rep.complete:
            from probtok.errors import SimulationError

            raise SimulationError(
                f"{len(rep.lost)} {scale} runs were lost with their worker",
                file=path,
                hint="re-run the same command: finished runs are kept and skipped",
            )
        echo(f"{scale}: {path} ({rep.n_ok} ok, {rep.n_failed} failed, {rep.n_simulated} simulated now, "
             f"{rep.n_skipped} reused, {rep.wall_s:.1f} s)")
        if rep.threshold_note:  # a data folder of an older version, reused
            echo(f"warning: {path}: {rep.threshold_note} (or delete {path.parent} to simulate it afresh)")
        result.files[f"data/{scale}"] = path
        result.reports[f"data/{scale}"] = rep


def _done_steps(fit_dir: Path, train_runs=None, spec=None) -> int:
    """Steps stored in fit_dir/checkpoint.pt (0 when there is none); a CheckpointError when ``train_runs`` are
    given and the checkpoint records other ones (:func:`probtok.fit.check_same_runs`), or when ``spec`` (a
    ModelSpec) is given and the checkpoint is of another model config."""
    from probtok.checkpoint import CHECKPOINT_NAME, load_checkpoint
    from probtok.fit import check_same_runs

    path = fit_dir / CHECKPOINT_NAME
    if not path.exists():
        return 0
    ckpt = load_checkpoint(path, expected_spec=spec)
    if train_runs is not None:
        check_same_runs(ckpt, {"train_runs": list(train_runs)}, path)
    return int(ckpt["step"])


def _config_path(cfg: DemoConfig) -> Path:
    """A TOML path as given, else a shipped config by name: ``tiny.toml`` or ``tiny`` -> models/tiny.toml.

    A name that is neither is returned as given, so that :func:`~probtok.model_spec.load_config` reports it."""
    p = Path(cfg.model_config)
    if p.is_file():
        return p
    for name in (cfg.model_config, f"{cfg.model_config}.toml"):
        if (MODELS_DIR / name).is_file():
            return MODELS_DIR / name
    return p


def stage_fit_micro(out: Path, cfg: DemoConfig, result: DemoResult, echo=print, *, seed: int | None = None,
                    name: str = "micro-fit") -> None:
    """Fit the micro token model (resumes / reuses out/``name``); ``seed``: instead of the config's [fit] seed
    (an ensemble member, :mod:`probtok.bench`)."""
    from probtok.fit import fit_micro_files
    from probtok.model_spec import load_config

    config = _config_path(cfg)
    mc = load_config(config)
    steps = cfg.micro_steps or mc.fit.steps
    fit_dir = out / name
    # a folder fitted with another config (e.g. a benchmark re-run with --config) is refused, not reused
    done = _done_steps(fit_dir, spec=mc.spec)
    if done >= steps:
        echo(f"fit-micro: reusing {fit_dir} ({done} steps)")
    else:
        res = fit_micro_files(result.files["data/micro"], config, fit_dir, steps=steps, holdout=cfg.micro_holdout,
                              seed=seed)
        echo(f"fit-micro: {fit_dir} ({res.step} steps, {res.wall_s:.0f} s this session"
             f"{', resumed from ' + str(res.resumed_from) if res.resumed_from else ''})")
    result.files["micro-fit"] = fit_dir


def demo_split(meso_file, k: int) -> tuple[list[int], list[int]]:
    """(train, held-out): the first k ok meso runs, and the other ok runs."""
    from probtok.data import open_dataset
    from probtok.errors import DataError

    with open_dataset(meso_file) as ds:
        ok = [int(r) for r in ds.ok_runs]
    if len(ok) < k + 1:
        raise DataError(f"{len(ok)} ok meso runs, need K = {k} to adapt on and at least one to forecast",
                        file=meso_file, hint="raise meso_runs in DemoConfig")
    return ok[:k], ok[k:]


def stage_adapt(out: Path, cfg: DemoConfig, result: DemoResult, echo=print) -> None:
    """Adapt the micro fit to K meso runs (resumes / reuses out/meso-adapt), and choose its kappa."""
    from probtok.adapt import AdaptConfig, adapt_files
    from probtok.checkpoint import load_checkpoint
    from probtok.rollout_noise import record_rollout_noise

    train, held = demo_split(result.files["data/meso"], cfg.k_meso)
    ad_dir = out / "meso-adapt"
    # an adaptation keeps its micro fit's spec: one of another micro fit's config is refused, not reused
    done = _done_steps(ad_dir, train, load_checkpoint(result.files["micro-fit"])["spec_obj"])
    if done >= cfg.adapt_steps:
        echo(f"adapt: reusing {ad_dir} ({done} steps)")
        # (a no-op when the fit records its kappa: an adaptation made before kappa was chosen gets one)
        rec = record_rollout_noise(ad_dir, result.files["data/meso"], train, summary="adapt.json")
    else:
        res = adapt_files(result.files["micro-fit"], result.files["data/meso"], train, ad_dir,
                          AdaptConfig(steps=cfg.adapt_steps, theta=cfg.theta, seed=cfg.seed))
        echo(f"adapt: {ad_dir} on meso runs {train} ({res.step} steps, {res.wall_s:.0f} s this session)")
        rec = res.meta["rollout_noise"]
    echo(f"adapt: rollout noise kappa {rec['kappa']:g} ({rec['rule']})")
    result.files["meso-adapt"] = ad_dir
    result.reports["split"] = {"train": train, "held_out": held}


def stage_scratch(out: Path, cfg: DemoConfig, result: DemoResult, echo=print, *, seed: int | None = None,
                  name: str = "meso-scratch") -> None:
    """Reference: the meso model fitted from scratch (no micro tokens) on the same K meso runs, into
    out/``name``; ``seed``: instead of the config's [fit] seed (an ensemble member, :mod:`probtok.bench`)."""
    import dataclasses

    import numpy as np
    import torch

    from probtok.checkpoint import load_checkpoint
    from probtok.covariate import run_covariate
    from probtok.data import open_dataset
    from probtok.data.normalize import Normaliser
    from probtok.fit import fit
    from probtok.model_spec import load_config
    from probtok.rollout_noise import record_rollout_noise

    if cfg.scratch_steps == 0:
        return
    mc = load_config(_config_path(cfg))
    steps = cfg.scratch_steps or mc.fit.steps
    sc_dir = out / name
    result.files["meso-scratch"] = sc_dir
    split = result.reports["split"]
    done = _done_steps(sc_dir, split["train"], mc.spec)
    if done >= steps:
        echo(f"scratch: reusing {sc_dir} ({done} steps)")
        record_rollout_noise(sc_dir, result.files["data/meso"], split["train"], progress=False, summary="fit.json")
        return
    # the micro fit's normaliser, so that the three models are scored on identical inputs
    norm = Normaliser.from_dict(load_checkpoint(result.files["micro-fit"])["normalisation"])
    with open_dataset(result.files["data/meso"]) as ds:
        x = np.stack([ds.frames(r, mc.spec.fields) for r in split["train"]])
        u, cov = run_covariate(mc.spec, ds, split["train"], result.files["data/meso"])
    x = norm.forward(torch.as_tensor(x), field_axis=2)
    # the adaptation's objective and minibatch (its whole-run rollout term, its 4 runs per step), so that
    # the two differ only in the micro tokens
    from probtok.adapt import AdaptConfig

    fcfg = dataclasses.replace(mc.fit, steps=steps, batch_runs=min(len(split["train"]), AdaptConfig.batch_runs),
                               rollout_horizon_end=x.shape[1] - 1, **({} if seed is None else {"seed": int(seed)}))
    meta = {"data": str(result.files["data/meso"]), "train_runs": split["train"], "holdout_runs": split["held_out"],
            "n_runs": len(split["train"]), "reference": "from scratch on the K meso runs, no micro tokens"}
    if cov is not None:
        meta["task_covariate"] = cov.to_dict()
    res = fit(mc.spec, x, fcfg, out_dir=sc_dir, normalisation=norm.to_dict(), level="meso", meta=meta, u=u)
    # the same rule as the adapted model's kappa, so that the two differ only in the micro tokens
    rec = record_rollout_noise(sc_dir, result.files["data/meso"], split["train"], progress=False, summary="fit.json")
    echo(f"scratch: {sc_dir} ({res.step} steps, {res.wall_s:.0f} s this session; rollout noise kappa "
         f"{rec['kappa']:g})")


def stage_forecast(out: Path, cfg: DemoConfig, result: DemoResult, echo=print) -> None:
    """Forecast every held-out meso run with the adapted and the micro-only model (reuses existing files)."""
    from probtok.predict import forecast_files

    held = result.reports["split"]["held_out"]
    models = [("adapted", result.files["meso-adapt"]), ("micro-only", result.files["micro-fit"])]
    if "meso-scratch" in result.files:
        models.append(("scratch", result.files["meso-scratch"]))
    for name, model_dir in models:
        t0 = time.perf_counter()
        files = forecast_files(model_dir, result.files["data/meso"], held, out / "forecasts" / name,
                               first_frames=cfg.first_frames, n_draws=cfg.n_draws, seed=cfg.seed, plots=False,
                               skip_existing=True,
                               observation_noise=cfg.observation_noise, rollout_noise=cfg.rollout_noise)
        result.files[f"forecasts/{name}"] = files
        result.timings_s[f"forecast/{name}"] = time.perf_counter() - t0
        echo(f"forecast ({name}): {len(files)} held-out runs in {out / 'forecasts' / name}")


def _row(table: dict, q: str) -> dict:
    s = table["quantities"][q]
    return {"cov50": s["coverage"]["0.5"], "cov90": s["coverage"]["0.9"], "cov50_range": s["coverage_range"]["0.5"],
            "cov90_range": s["coverage_range"]["0.9"], "pit50": s["coverage_pit"]["0.5"],
            "pit90": s["coverage_pit"]["0.9"], "pit50_range": s["coverage_pit_range"]["0.5"],
            "pit90_range": s["coverage_pit_range"]["0.9"], "crps": s["crps"],
            "rmse_median": s["rmse_median"], "n_points": s["n_points"], "units": s["units"]}


def stage_report(out: Path, cfg: DemoConfig, result: DemoResult, echo=print) -> None:
    """Calibration of both models on the held-out runs, plots of one run, summary.md/.json."""
    from probtok.calibration import render_table, write_calibration_json
    from probtok.forecast import read_forecast
    from probtok.plots import reliability_from_forecasts, save_png, write_forecast_plots
    from probtok.predict import evaluate_forecasts

    rep = out / "report"
    rep.mkdir(parents=True, exist_ok=True)
    tables = {}
    for name in [k.split("/")[1] for k in result.files if k.startswith("forecasts/")]:
        files = list(result.files[f"forecasts/{name}"].values())
        tables[name] = evaluate_forecasts(files, json_out=rep / f"calibration_{name}.json")
        _show(echo, render_table(tables[name], label=name))
    first = next(iter(result.files["forecasts/adapted"].values()))
    ds = read_forecast(first)
    plots = write_forecast_plots(ds, rep / "plots", prefix=f"run_{ds.attrs['run_id']:04d}")
    dss = [read_forecast(p) for p in result.files["forecasts/adapted"].values()]
    plots["reliability"] = save_png(reliability_from_forecasts(dss), rep / "plots" / "reliability_adapted.png")

    quantities = ("T_hs", "A_hs", "dT_hs_dt", "dA_hs_dt")
    summary = {
        "config": asdict(cfg),
        "split": result.reports["split"],
        "note": f"forecasts from the first {cfg.first_frames} frame(s), scored on the later frames; 'micro-only' = micro fit with phi = 0 (no meso adaptation); "
                "'scratch' = the same meso model fitted from scratch on the same K meso runs (no micro tokens); "
                "coverage = fraction of (run, frame) points inside the central interval, points where every draw "
                "equals the truth dropped, in brackets its 90 % range with the held-out runs as the sample (the "
                "frames of a run are covered nearly together; probtok.calibration.run_coverage_range); PIT = fraction "
                "inside the randomized central interval (with its range likewise), which a calibrated forecast "
                "holds at the nominal level even where its draws tie at 0 (no hot cell: there the interval coverage "
                "of a calibrated forecast is above it; probtok.calibration); CRPS and RMSE of the median in the "
                "quantity's unit",
        "models": {name: {q: _row(t, q) for q in quantities} for name, t in tables.items()},
        # the kappa each model's forecasts used (its own unless the config fixes one)
        "rollout_noise": {name: float(read_forecast(next(iter(result.files[f"forecasts/{name}"].values())))
                                      .attrs.get("rollout_noise", 1.0)) for name in tables},
        "timings_s": result.timings_s,
        "plots": {k: str(v) for k, v in plots.items()},
    }
    from probtok.atomic import atomic_write_text

    atomic_write_text(rep / "summary.json", json.dumps(summary, indent=1, default=str))
    atomic_write_text(rep / "summary.md", summary_markdown(summary))
    result.files["report"] = rep
    echo(f"report: {rep / 'summary.md'}")


def summary_markdown(summary: dict) -> str:
    """The report's Markdown table (one row per model and quantity)."""
    from probtok.calibration import coverage_text

    split = summary["split"]
    lines = [
        "# probtok demo: few-shot meso forecasts",
        "",
        f"Token model `{summary['config']['model_config']}`, adapted on meso runs {split['train']} "
        f"(K = {len(split['train'])}); forecasts of the held-out runs "
        f"{split['held_out']} from their first {summary['config']['first_frames']} frame(s) (scored on the later "
        f"frames), {summary['config']['n_draws']} draws each; transition noise of the free rollout "
        f"{_kappa_text(summary)}.",
        "",
        "| model | quantity | unit | points | cov 50 % | cov 90 % | PIT 50 % | PIT 90 % | CRPS | RMSE of median |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model, rows in summary["models"].items():
        for q, r in rows.items():
            lines.append(f"| {model} | {q} | {r['units']} | {r['n_points']} | "
                         f"{coverage_text(r['cov50'], r.get('cov50_range'))} | "
                         f"{coverage_text(r['cov90'], r.get('cov90_range'))} | "
                         f"{coverage_text(r.get('pit50'), r.get('pit50_range'))} | "
                         f"{coverage_text(r.get('pit90'), r.get('pit90_range'))} | {_f(r['crps'], '.4g')} | "
                         f"{_f(r['rmse_median'], '.4g')} |")
    timings = ", ".join(f"{k} {v:.0f}" for k, v in summary["timings_s"].items())
    lines += ["", summary["note"], "", f"Stage timings of the last session [s] (about 0 = reused): {timings}", ""]
    lines += [f"![{k}]({Path(v).relative_to(Path(v).parents[1])})" for k, v in summary["plots"].items()]
    return "\n".join(lines) + "\n"


def _kappa_text(summary: dict) -> str:
    fixed = summary["config"].get("rollout_noise", 1.0)
    if fixed is not None:
        return f"{fixed:g} x the fitted one"
    used = ", ".join(f"{m} {k:g}" for m, k in summary.get("rollout_noise", {}).items())
    from probtok.rollout_noise import NoiseChoice

    return (f"kappa x the fitted one, each model's own (chosen on its training runs; 1 for the micro fit and for "
            f"fits on fewer than {NoiseChoice.min_runs} runs): {used}")


def _show(echo, renderable) -> None:
    """Print a rich renderable through ``echo`` (plain ``print`` would show its repr)."""
    if echo is print:
        import rich

        rich.print(renderable)
    else:
        echo(renderable)


def _f(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)



STAGES = (("data", stage_data), ("fit-micro", stage_fit_micro), ("adapt", stage_adapt), ("scratch", stage_scratch),
          ("forecast", stage_forecast), ("report", stage_report))


def run_demo(out, cfg: DemoConfig | None = None, echo=print) -> DemoResult:
    """Run every stage of the demo into the folder ``out`` (stages reuse what exists)."""
    from probtok.model_spec import load_config
    from probtok.threads import torch_threads

    out = Path(out)
    cfg = cfg or DemoConfig()
    mc = load_config(_config_path(cfg))  # a config that does not exist fails now, not after the simulations
    if cfg.theta is None:
        cfg = dataclasses.replace(cfg, theta=mc.theta)
    result = DemoResult(out=out)
    with torch_threads(cfg.torch_threads):
        for name, stage in STAGES:
            t0 = time.perf_counter()
            stage(out, cfg, result, echo=echo)
            result.timings_s.setdefault(name, time.perf_counter() - t0)
    return result
