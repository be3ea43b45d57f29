"""The ``probtok`` command line.

Every command is a thin layer over the library. Errors that users can cause
(``ProbtokError``) print as one line plus a hint and exit non-zero; the
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from probtok.errors import ProbtokError

app = typer.Typer(
    name="probtok",
    help=(
        "Learn closure models for shocked porous energetic materials: simulate micro "
        "(one pore) and meso (many pores) runs, fit probabilistic latent tokens on micro "
        "runs, adapt them to a few meso runs, and forecast hot-spot temperature and area "
        "with calibrated uncertainty.\n\n"
        "Start with:  probtok demo --out demo-out"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")):
    _state["debug"] = debug


@app.command()
def version():
    """Print the probtok version."""
    from probtok import __version__

    console.print(__version__)


@app.command()
def simulate(
    setup: str = typer.Option("micro", "--setup", help="Set-up: micro (one pore) or meso (many pores)."),
    runs: Optional[int] = typer.Option(None, "--runs", help="Number of runs (default: the preset's)."),
    out: Path = typer.Option(..., "--out", help="Output run file (HDF5), written when all runs are done."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Named preset (overrides --setup)."),
    seed: int = typer.Option(0, "--seed", help="Campaign seed; run i always gets the same derived seed."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler "
                                            "(e.g. tcp://host:8786); default: a local cluster."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local worker processes (default: CPUs)."),
    threshold_k: Optional[float] = typer.Option(None, "--threshold-K", help="Hot-spot threshold [K] "
                                                "(default 875, raised above the bulk shocked T if needed)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="On resume, simulate failed runs again."),
):
    """Simulate a campaign of runs through Dask into one HDF5 file (resumable).

    Finished runs are kept in OUT.parts/; re-running the same command skips them.
    Failed runs are recorded in the file with their reason.
    """
    from probtok.sim.campaign import run_campaign

    rep = run_campaign(preset or setup, runs, out, seed=seed, scheduler=scheduler, n_workers=workers,
                       hotspot_threshold_K=threshold_k, retry_failed=retry_failed)
    console.print(f"{rep.n_runs} runs: {rep.n_simulated} simulated now, {rep.n_skipped} already done "
                  f"({rep.wall_s:.1f} s)")
    for i, why in list(rep.failures.items())[:10]:
        console.print(f"  run {i} failed: {why}", highlight=False, markup=False)
    if rep.lost:
        err_console.print(f"[bold red]{len(rep.lost)} runs lost with their worker[/] ({rep.lost[:10]}); "
                          "re-run the same command to finish them")
        raise typer.Exit(1)
    console.print(f"wrote {out}: {rep.n_ok} ok, {rep.n_failed} failed, hot-spot threshold "
                  f"{rep.hotspot_threshold_K:g} K")
    if rep.threshold_note:
        console.print(f"[yellow]note:[/yellow] {rep.threshold_note}", highlight=False)


@app.command()
def info(
    file: Path = typer.Argument(..., help="A probtok run file (HDF5)."),
    check: bool = typer.Option(False, "--check", help="Read and validate every run (slower)."),
    runs: bool = typer.Option(False, "--runs", help="Also list every run: its status, parameters and "
                              "hot-spot history (e.g. to pick --train-runs that span the piston velocity)."),
    params: Optional[str] = typer.Option(None, "--params", help="With --runs: the parameter columns, e.g. "
                                         "up_kms,porosity (default: up_kms, porosity, n_pores where present)."),
    sort: Optional[str] = typer.Option(None, "--sort", help="With --runs: order the runs by this parameter."),
):
    """Summarise a run file: runs, grid, frames, fields with units and ranges, parameters, hot spots."""
    from probtok.data.summary import render, render_runs, summarize, summarize_runs
    from probtok.errors import ConfigError

    if (params is not None or sort is not None) and not runs:
        raise ConfigError("--params and --sort go with --runs", hint="add --runs")
    names = None if params is None else [p.strip() for p in params.split(",") if p.strip()]
    table = summarize_runs(file, names, sort) if runs else None  # a bad name fails before any output
    for part in render(summarize(file, check=check)):
        console.print(part)
    if table is not None:
        console.print(render_runs(table))


@app.command()
def rethreshold(
    file: Path = typer.Argument(..., help="A probtok run file (HDF5)."),
    out: Path = typer.Option(..., "--out", help="The copy to write (HDF5; not the file itself)."),
    threshold_k: Optional[float] = typer.Option(None, "--threshold-K", help="Hot-spot threshold [K] (default: "
                                                "the campaigns' rule, 100 K above the hottest bulk shocked "
                                                "state including the piston's Hugoniot inflow)."),
):
    """Copy a run file at another hot-spot threshold, its hot-spot series recomputed (probtok.data.threshold).
    Files simulated before the rule counted the piston's inflow state are re-placed by default."""
    from probtok.data.summary import summarize
    from probtok.data.threshold import rethreshold as copy_at

    old, new = copy_at(file, out, threshold_k, progress=True)
    before, after = map(summarize, (file, out))
    n_hot = [(s["hotspots"] or {}).get("runs_with_hot_spot", 0) for s in (before, after)]
    console.print(f"wrote {out}: hot-spot threshold {old:g} K -> {new:g} K; ok runs with a hot spot at some "
                  f"frame {n_hot[0]} -> {n_hot[1]} of {after['n_ok']}", highlight=False)


@app.command("import-arrays")
def import_arrays_cmd(
    array_file: Path = typer.Argument(..., help=".npy, or .npz, with an array (runs, H, W, fields, frames)."),
    fields: str = typer.Option(..., "--fields", help="Field names in the order of axis 3, e.g. T,P,mu."),
    units: str = typer.Option(..., "--units", help="Their units, e.g. K,GPa,1 (C, MPa, m/s... are converted)."),
    dx_um: float = typer.Option(..., "--dx-um", help="Cell size [um]."),
    dt_ns: float = typer.Option(..., "--dt-ns", help="Frame interval [ns]."),
    out: Path = typer.Option(..., "--out", help="Output run file (HDF5)."),
    key: Optional[str] = typer.Option(None, "--key", help="Name of the array inside a .npz."),
    params: Optional[Path] = typer.Option(None, "--params", help="JSON {name: [one value per run]}; "
                                          "1-D arrays of length runs in a .npz are parameters too."),
    threshold_k: float = typer.Option(875.0, "--threshold-K", help="Hot-spot threshold [K] to store."),
):
    """Import NumPy arrays in the paper code's layout (runs, H, W, fields, frames) as a run file."""
    from probtok.data.importer import import_arrays, load_arrays, load_params_json
    from probtok.data.summary import render, summarize

    array, run_params = load_arrays(array_file, key)
    if params is not None:
        run_params.update(load_params_json(params))
    import_arrays(array, [f for f in fields.split(",")], [u for u in units.split(",")], dx_um, dt_ns,
                  params=run_params, out=out, hotspot_threshold_K=threshold_k, source=array_file)
    for part in render(summarize(out)):
        console.print(part)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for everything the demo writes."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local worker processes (default: CPUs)."),
    rollout_noise: Optional[float] = typer.Option(None, "--rollout-noise", help="Factor kappa on the transition "
                                                  "noise of every forecast's free rollout (1: the fitted noise; "
                                                  "default: each model's own, chosen on its training runs)."),
    config: str = typer.Option("tiny", "--config", help="Token-model config: a name in models/ (e.g. tiny-up-u) "
                               "or a TOML path. Fits of another config under OUT are refused: use a new --out."),
):
    """Run the main job on built-in data: simulate small micro and meso datasets, fit micro tokens,
    adapt them on K = 2 meso runs, forecast the held-out meso runs (and the micro-only reference),
    and write OUT/report/ (summary.md, summary.json, calibration JSON, plots).

    Re-running reuses what already exists under OUT (fits resume from their checkpoints).
    """
    from probtok.pipeline import DemoConfig, run_demo
    from probtok.predict import check_rollout_noise

    kappa = None if rollout_noise is None else check_rollout_noise(rollout_noise)
    res = run_demo(out, DemoConfig(n_workers=workers, rollout_noise=kappa, model_config=config),
                   echo=console.print)
    console.print("stage timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in res.timings_s.items()),
                  highlight=False)


@app.command()
def calibrate(
    forecasts: list[Path] = typer.Argument(..., help="Forecast files (.nc) of held-out runs, with their truth."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the table as JSON here."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write a reliability plot (PNG) here."),
):
    """Calibration of forecasts against the truth, pooled over runs and frames: coverage of the
    50 % and 90 % intervals (with each interval's own content) and of the randomized intervals (PIT
    coverage: the nominal level for a calibrated forecast, also where draws sit at 0 with no hot cell),
    CRPS, RMSE and bias of the median, for T_hs, A_hs and their rates."""
    from probtok.calibration import calibration_table, render_table, write_calibration_json
    from probtok.errors import DataError
    from probtok.forecast import read_forecast

    dss = [read_forecast(f) for f in forecasts]
    for f, ds in zip(forecasts, dss):
        if not int(ds.attrs.get("has_truth", 0)):
            raise DataError("this forecast has no truth to compare with", file=f,
                            hint="calibrate on held-out runs forecast with their true fields")
    table = calibration_table(dss)
    console.print(render_table(table))
    if json_out is not None:
        write_calibration_json(table, json_out)
        console.print(f"wrote {json_out}")
    if plot is not None:
        from probtok.plots import reliability_from_forecasts, save_png

        save_png(reliability_from_forecasts(dss), plot)
        console.print(f"wrote {plot}")


@app.command("plot-forecast")
def plot_forecast(
    forecast: Path = typer.Argument(..., help="A forecast file (.nc)."),
    out: Path = typer.Option(..., "--out", help="Folder for the PNGs."),
    fields: Optional[str] = typer.Option(None, "--fields", help="Fields to snapshot, e.g. T,P (default all)."),
):
    """Fan chart of T_hs and A_hs and field snapshots (truth / mean / std) of one forecast, as PNG."""
    from probtok.forecast import read_forecast
    from probtok.plots import write_forecast_plots

    ds = read_forecast(forecast)
    for p in write_forecast_plots(ds, out, fields=fields.split(",") if fields else None).values():
        console.print(f"wrote {p}")


@app.command()
def closure(
    data: Path = typer.Option(..., "--data", help="Run file or closure table (HDF5) of meso runs, or a folder "
                              "of per-run forecast files (*.nc, with up_kms/porosity attributes)."),
    out: Path = typer.Option(..., "--out", help="Folder for closure.nc, closure.json, closure_summary.csv, PNG."),
    warmup: int = typer.Option(500, "--warmup", help="NUTS warm-up iterations per chain."),
    samples: int = typer.Option(500, "--samples", help="NUTS draws kept per chain."),
    chains: int = typer.Option(4, "--chains", help="Number of chains (>= 2, for R-hat)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    threshold_k: Optional[float] = typer.Option(None, "--threshold-K", help="Hot-spot threshold [K] for run "
                                                "files (default: the file's stored one)."),
):
    """Fit the hierarchical Bayesian closure law of hot-spot area growth (NumPyro NUTS).

    F(t) = 1 - exp(-(k (t - t_ig))^2) after ignition at t_ig (ns), with
    ln k = ln k0 + alpha ln(Up / 1 km/s) + beta (phi - 0.1) + a run effect of scale tau.
    Writes closure.nc (ArviZ), closure.json, closure_summary.csv and closure_fit.png.
    """
    from probtok.closure import PARAM_UNITS, closure_data_from_path, fit_closure

    cdata = closure_data_from_path(data, threshold_K=threshold_k)
    with console.status(f"NUTS: {chains} chains x ({warmup} + {samples}) on {cdata.n_run} runs"):
        fit = fit_closure(cdata, num_warmup=warmup, num_samples=samples, num_chains=chains, seed=seed)
    paths = fit.save(out, cdata)
    table = fit.summary[["mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "r_hat"]]
    console.print(table.to_string(), highlight=False, markup=False)
    console.print("units: " + ", ".join(f"{k} [{v}]" for k, v in PARAM_UNITS.items()), highlight=False,
                  markup=False)
    console.print(f"R-hat max {fit.rhat_max:.3f}, ESS min {fit.ess_min:.0f}, divergences {fit.num_divergences}"
                  + (" (measurement-error model over forecast draws)" if cdata.has_draws else ""))
    if fit.rhat_max > 1.01 or fit.num_divergences:
        err_console.print("[bold yellow]warning:[/] chains have not converged cleanly; re-run with more "
                          "--warmup/--samples before using these numbers")
    for path in paths.values():
        console.print(f"wrote {path}", highlight=False)


def _parse_runs(text: Optional[str]) -> Optional[list[int]]:
    """'0-3,7' -> [0, 1, 2, 3, 7]; None stays None."""
    if text is None:
        return None
    runs = []
    try:
        for part in text.split(","):
            a, _, b = part.strip().partition("-")
            runs += list(range(int(a), int(b) + 1)) if b else [int(a)]
    except ValueError:
        raise ProbtokError(f"cannot read run list {text!r}", hint="use e.g. --runs 0-3,7") from None
    return runs


def _parse_floats(text: str, option: str) -> list[float]:
    """'0.1,0.3,1' -> [0.1, 0.3, 1.0]."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ProbtokError(f"cannot read {option} {text!r}", hint=f"use e.g. {option} 0.1,0.3,1") from None


@app.command("fit-micro")
def fit_micro_cmd(
    data: Path = typer.Option(..., "--data", help="Micro run file (HDF5)."),
    config: Path = typer.Option(..., "--config", help="Model config, e.g. models/micro-s4.toml."),
    out: Path = typer.Option(..., "--out", help="Fit directory (checkpoint.pt, config.toml, fit.json)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override [fit] steps (more steps continue a fit)."),
    holdout: float = typer.Option(0.2, "--holdout", help="Fraction of ok runs held out (the last ones)."),
    train_runs: Optional[str] = typer.Option(None, "--train-runs", help="Train on these runs, e.g. 0-15 "
                                             "(the other ok runs are held out)."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore an existing checkpoint in OUT (overwrite it)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override [fit] seed: fits with other seeds are the "
                                       "members of an ensemble forecast (probtok forecast --model A --model B)."),
):
    """Fit the probabilistic token model to micro runs by SVI (resumes from OUT/checkpoint.pt)."""
    from probtok.fit import fit_micro_files

    res = fit_micro_files(data, config, out, steps=steps, holdout=holdout, train_runs=_parse_runs(train_runs),
                          resume=not fresh, seed=seed)
    last = float(res.losses[-50:].mean()) if len(res.losses) else float("nan")
    console.print(f"fitted {res.step} steps ({'resumed from ' + str(res.resumed_from) if res.resumed_from else 'fresh'}"
                  f", {res.wall_s:.0f} s this session); loss per run-frame (last 50 steps) {last:,.2f}")
    console.print(f"train runs {res.meta['train_runs']}, held-out runs {res.meta['holdout_runs']}; wrote {out}")


@app.command()
def evaluate(
    model: Path = typer.Option(..., "--model", help="Fit directory (from fit-micro)."),
    data: Path = typer.Option(..., "--data", help="Run file (HDF5) with the runs to evaluate."),
    runs: Optional[str] = typer.Option(None, "--runs", help="Runs, e.g. 16-19 (default: the fit's held-out runs)."),
    draws: int = typer.Option(20, "--draws", help="Stochastic rollouts per run."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Rollout length incl. frame 0 (default: all)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full result here (default MODEL/eval.json)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the stochastic rollouts."),
):
    """Roll out from the first frame of held-out runs; field RMSE and hot-spot errors vs persistence."""
    from probtok.evaluate import evaluate as run_evaluate
    from probtok.evaluate import render_tables

    out = json_out or (model / "eval.json")
    res = run_evaluate(model, data, _parse_runs(runs), n_draws=draws, n_frames=frames, seed=seed, out_json=out)
    for table in render_tables(res):
        console.print(table)
    console.print(f"wrote {out}")


def _torch_threads(n: int | None):
    """torch CPU threads for one command: ``n``, or one per CPU (None); the caller's count restored after (in-process
    callers, e.g. tests, keep theirs). The count changes the floating-point path, so results are reproducible bit for
    bit only at the same count: an adaptation with another count is another fit (of like quality, measured in
    docs/bench-2026-11-28-adapt-threads), and one resumed with another count continues, not bit for bit."""
    from probtok.threads import torch_threads

    return torch_threads(n or os.cpu_count() or 1)


@app.command()
def adapt(
    micro: Path = typer.Option(..., "--micro", help="Micro fit directory (from fit-micro)."),
    data: Path = typer.Option(..., "--data", help="Meso run file (HDF5)."),
    train_runs: str = typer.Option(..., "--train-runs", help="The K meso runs to adapt on, e.g. 0,1."),
    out: Path = typer.Option(..., "--out", help="Meso model directory (checkpoint.pt, adapt.json)."),
    steps: int = typer.Option(100, "--steps", help="SVI steps (more steps continue an adaptation; 300 made "
                              "forecasts unstable on the default data)."),
    theta: Optional[str] = typer.Option(None, "--theta", help="Micro globals theta: frozen, or prior (Gaussian "
                                        "prior centred on the micro fit). Default: the micro fit's config's "
                                        "[adapt] theta, else frozen."),
    lr: float = typer.Option(1e-2, "--lr", help="Learning rate."),
    theta_lr_factor: float = typer.Option(1.0, "--theta-lr-factor", help="With --theta prior: theta's learning "
                                          "rate is --lr x this. 0.1 re-adapted a diverged ensemble member of "
                                          "small-up-u stably (docs/bench-2026-11-28-theta-lr)."),
    theta_warmup_steps: int = typer.Option(0, "--theta-warmup-steps", min=0, help="With --theta prior: theta's "
                                           "learning rate ramps linearly from a tenth to its full value over this "
                                           "many steps (0: none; 20 adapted stably a micro fit whose full-rate first "
                                           "step diverged, docs/bench-2026-11-29-encoder)."),
    encoder: str = typer.Option("frozen", "--encoder", help="The amortized encoder q(z_t | x_t, z_{t-1}): frozen "
                                "(re-used from the micro fit), or train (fitted on the meso runs too)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore an existing checkpoint in OUT (overwrite it)."),
    kappas: str = typer.Option("0.1,0.3,1", "--kappas", help="Rollout-noise factors kappa to choose the "
                               "forecasts' from, by CRPS on the training runs forecast as new runs "
                               "(probtok.rollout_noise); one value fixes it, e.g. 1."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: one per "
                                          "CPU; on the default meso grid two were 1.3-1.4x faster than one on a "
                                          "2-core machine, benchmarks/adapt_speed.py)."),
    task_covariate: Optional[str] = typer.Option(None, "--task-covariate", help="A run parameter of the meso "
                                                 "file (e.g. up_kms) that the meso model observes through its task "
                                                 "latent, so a new run's c comes from p(c | it) (probtok.covariate); "
                                                 "'none' for no covariate. Default: the micro fit's config's "
                                                 "[meso] task_covariate."),
):
    """Adapt a micro token model to a few meso runs by SVI: task latents c[n], coupling phi, sigma_x
    (and theta with --theta prior); the amortized encoder is re-used (--encoder train: fitted too). Resumes from
    OUT/checkpoint.pt.
    Then chooses the model's rollout-noise factor kappa on its training runs (stored with it)."""
    from probtok.adapt import AdaptConfig, adapt_files, resolve_theta
    from probtok.rollout_noise import NoiseChoice

    theta, theta_from = resolve_theta(theta, micro)
    cfg = AdaptConfig(steps=steps, theta=theta, learning_rate=lr, theta_lr_factor=theta_lr_factor,
                      theta_warmup_steps=theta_warmup_steps, encoder=encoder, seed=seed)
    console.print(f"theta {theta} ({theta_from})", highlight=False, markup=False)
    choice = NoiseChoice(kappas=_parse_floats(kappas, "--kappas"))
    covariate = "" if task_covariate is not None and task_covariate.lower() == "none" else task_covariate
    with _torch_threads(threads):
        res = adapt_files(micro, data, _parse_runs(train_runs), out, cfg, resume=not fresh, noise_choice=choice,
                          task_covariate=covariate)
    last = float(res.losses[-50:].mean()) if len(res.losses) else float("nan")
    console.print(f"adapted {res.step} steps ({'resumed from ' + str(res.resumed_from) if res.resumed_from else 'fresh'}"
                  f", {res.wall_s:.0f} s this session); loss per run-frame (last 50 steps) {last:,.2f}")
    console.print(f"train runs {res.meta['train_runs']}, held-out runs {res.meta['holdout_runs']}; wrote {out}")
    rec = res.meta.get("rollout_noise")
    if rec and rec["crps"]:
        scores = "; ".join(f"{r['kappa']:g}: {r['T_hs']:.0f} K / {r['A_hs']:.3g} um^2" for r in rec["crps"])
        console.print(f"rollout noise kappa = {rec['kappa']:g} (CRPS of T_hs / A_hs on the training runs, "
                      f"{rec['n_draws']} draws: {scores})", highlight=False)
    elif rec:
        console.print(f"rollout noise kappa = {rec['kappa']:g} (given)", highlight=False)


def _warn_outlying_members(dirs) -> None:
    """Warn of ensemble members that most likely diverged, which the pool keeps: a CRPS on their training runs far
    above the others' (:func:`probtok.rollout_noise.outlying_members`) or a final fit loss far above theirs
    (:func:`probtok.divergence.diverged_members`)."""
    from probtok.checkpoint import load_checkpoint
    from probtok.divergence import LOSS_MADS, diverged_members
    from probtok.rollout_noise import OUTLIER_FACTOR, outlying_members

    ckpts = [load_checkpoint(d) for d in dirs]
    reasons: dict[int, list[str]] = {}
    for i, crps, med in outlying_members([c["meta"] for c in ckpts]):
        reasons.setdefault(i, []).append(
            f"forecast its training runs with a CRPS of T_hs of {crps:.0f} K, {crps / med:.1f}x the members' median "
            f"({med:.0f} K; flagged above {OUTLIER_FACTOR:g}x)")
    for i, loss, med, mads in diverged_members(ckpts):
        reasons.setdefault(i, []).append(
            f"ended its fit at a loss of {loss:.3g} per run-frame, {mads:.0f} median absolute deviations above the "
            f"members' median ({med:.3g}; flagged above {LOSS_MADS:g})")
    for i in sorted(reasons):
        err_console.print(f"warning: member {i} ({dirs[i]}) " + " and ".join(reasons[i]) + ": its adaptation may "
                          "have diverged (see the loss in its adapt.json). It stays in the pool; leave out its --model "
                          "to drop it, or adapt it again (with --theta prior, --theta-warmup-steps 20; docs/bench-2026-11-29-encoder).",
                          markup=False, highlight=False, soft_wrap=True)


@app.command()
def forecast(
    model: list[Path] = typer.Option(..., "--model", help="Meso model directory (from adapt), or a micro fit "
                                     "(micro-only reference, phi = 0). Give it several times for one forecast "
                                     "from the pooled draws of all (an ensemble, e.g. over micro-fit seeds)."),
    data: Path = typer.Option(..., "--data", help="Run file (HDF5) holding the run(s) to forecast."),
    out: Path = typer.Option(..., "--out", help="Folder for run_NNNN.nc forecasts and PNG plots."),
    run: Optional[int] = typer.Option(None, "--run", help="One run index to forecast."),
    runs: Optional[str] = typer.Option(None, "--runs", help="Several runs, e.g. 2-7 (default with --evaluate: "
                                       "the model's held-out runs)."),
    first_frames: int = typer.Option(2, "--first-frames", help="Frames given to the model (m >= 2 also fits the "
                                     "run's task latent c to them; frame 0 of a simulated run is unshocked, the "
                                     "shock strength first shows in frame 1)."),
    draws: int = typer.Option(200, "--draws", help="Posterior-predictive draws per run."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Forecast length incl. frame 0 (default: all)."),
    evaluate: bool = typer.Option(False, "--evaluate", help="Also score the forecasts against the truth: "
                                  "coverage of 50/90 % intervals (plain and randomized: PIT), CRPS, RMSE of the median "
                                  "(OUT/calibration.json)."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG plots."),
    observation_noise: bool = typer.Option(False, "--observation-noise", help="Add the iid per-cell noise "
                                           "sigma_x to every draw (default: decoder means; iid noise invents "
                                           "hot cells near the threshold)."),
    new_task: str = typer.Option("prior", "--new-task", help="Task latent c of a run the model was not "
                                 "adapted on, when fewer than two given frames follow the fit's start frame: "
                                 "'training-runs' (the adaptation runs' q(c[n]), moment-matched) or 'prior' "
                                 "(N(0, I))."),
    rollout_noise: Optional[float] = typer.Option(None, "--rollout-noise", help="Factor kappa on the transition "
                                                  "noise of the free rollout (1: the fitted noise; default: the "
                                                  "model's own, chosen at adaptation on its training runs; 1 for "
                                                  "a micro fit)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (run r uses seed + r)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: one per CPU; "
                                          "on the default meso grid two made 200 draws 1.4-1.6x faster than one on "
                                          "a 2-core machine, benchmarks/forecast_speed.py)."),
    device: str = typer.Option("cpu", "--device", help="Where the draws are made: cpu, or cuda[:N] (needs a "
                               "CUDA build of torch; the default install is the CPU one)."),
):
    """Forecast hot-spot temperature and area (quantiles, exceedance probabilities, field mean/std) of
    meso runs from their first frame(s), posterior-predictive draws of the model; optionally score them."""
    from probtok.predict import check_rollout_noise, evaluate_forecasts, forecast_files, torch_device

    if rollout_noise is not None:
        check_rollout_noise(rollout_noise)
    torch_device(device)  # before any work
    if run is not None and runs is not None:
        raise ProbtokError("give --run or --runs, not both")
    chosen = [run] if run is not None else _parse_runs(runs)
    if chosen is None:
        if not evaluate:
            raise ProbtokError("no run given", hint="use --run 5, or --runs 2-7")
        from probtok.checkpoint import load_checkpoint

        chosen = load_checkpoint(model[0])["meta"].get("holdout_runs")
        if not chosen:
            raise ProbtokError("the model records no held-out runs", file=model[0], hint="give --runs")
    if len(model) > 1:
        _warn_outlying_members(model)
    with _torch_threads(threads):
        files = forecast_files(model, data, chosen, out, first_frames=first_frames, n_draws=draws, n_frames=frames,
                               seed=seed, plots=not no_plots, observation_noise=observation_noise,
                               new_task=new_task, rollout_noise=rollout_noise, device=device)
    for r, p in files.items():
        console.print(f"run {r}: wrote {p}", highlight=False)
    if evaluate:
        from probtok.calibration import render_table

        table = evaluate_forecasts(list(files.values()), json_out=out / "calibration.json")
        console.print(render_table(table))
        console.print(f"wrote {out / 'calibration.json'}", highlight=False)


@app.command()
def ppc(
    model: Path = typer.Option(..., "--model", help="Fit directory (fit-micro or adapt)."),
    data: Path = typer.Option(..., "--data", help="Run file (HDF5) with the runs to check."),
    runs: Optional[str] = typer.Option(None, "--runs", help="Runs, e.g. 16-19 (default: the fit's held-out runs)."),
    out: Path = typer.Option(..., "--out", help="Folder for idata.nc, PNG plots and CSV tables."),
    draws: int = typer.Option(100, "--draws", help="Posterior draws."),
    frames: Optional[int] = typer.Option(None, "--frames", help="First frames only (default: all)."),
    field_subsample: str = typer.Option("auto", "--field-subsample", help="Cell stride of the stored fields "
                                        "(auto: at most 16 cells per side)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the draws."),
    noise: bool = typer.Option(True, "--noise/--no-noise", help="Replicates with the observation noise "
                               "sigma_x (the model's predictive) or the decoder means only."),
):
    """Posterior predictive checks with ArviZ: InferenceData (NetCDF), plot_ppc of the hot-spot metrics,
    LOO-PIT, fan charts, az.summary of the latents, interval coverage and PSIS-LOO with Pareto k counts."""
    from probtok.diagnostics import PARETO_K_BAD, inference_data_from_files, ppc_plots, save_inference_data

    idata = inference_data_from_files(model, data, _parse_runs(runs), num_draws=draws, seed=seed,
                                      field_subsample=field_subsample, n_frames=frames, observation_noise=noise)
    nc = save_inference_data(idata, out / "idata.nc")
    paths = ppc_plots(idata, out)
    import pandas as pd

    for name in ("latent_summary", "coverage", "loo"):
        console.print(f"[bold]{name}[/]")
        console.print(pd.read_csv(paths[name], index_col=0).to_string(), highlight=False, markup=False,
                      soft_wrap=True)
    loo_row = pd.read_csv(paths["loo"], index_col=0).iloc[0]
    bad = int(loo_row[f"n_pareto_k_gt_{PARETO_K_BAD}"])
    if bad:
        err_console.print(f"[bold yellow]warning:[/] {bad} of {int(loo_row['n_points'])} (run, frame) points have "
                          f"Pareto k > {PARETO_K_BAD}: their PSIS-LOO terms are unreliable", soft_wrap=True)
    console.print(f"wrote {nc} and {len(paths)} plots/tables in {out}", highlight=False)


@app.command()
def compare(
    model: list[str] = typer.Option(..., "--model", help="NAME=DIR of a fit directory; give two or more."),
    data: Path = typer.Option(..., "--data", help="Run file (HDF5) with the held-out runs."),
    runs: str = typer.Option(..., "--runs", help="Runs to compare on, e.g. 6-7 (the same for every model)."),
    out: Path = typer.Option(..., "--out", help="Folder for compare.csv and one NAME.nc per model."),
    draws: int = typer.Option(100, "--draws", help="Posterior draws per model."),
    frames: Optional[int] = typer.Option(None, "--frames", help="First frames only (default: all)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the draws."),
):
    """Compare models by PSIS-LOO (az.loo / az.compare) of the frame log-likelihood on the same runs;
    Pareto k > 0.7 counts are printed and kept in the table."""
    from probtok.atomic import atomic_path
    from probtok.diagnostics import compare_models, inference_data_from_files, save_inference_data

    named = {}
    for item in model:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ProbtokError(f"cannot read --model {item!r}", hint="use --model NAME=DIR, e.g. adapted=runs/adapt")
        if name in named:
            raise ProbtokError(f"model name {name!r} given twice", hint="give every model its own NAME")
        named[name] = Path(path)
    idatas = {}
    for name, path in named.items():
        console.print(f"{name}: {path}", highlight=False)
        idatas[name] = inference_data_from_files(path, data, _parse_runs(runs), num_draws=draws, seed=seed,
                                                 n_frames=frames)
        save_inference_data(idatas[name], out / f"{name}.nc")
    table = compare_models(idatas, echo=lambda s: err_console.print(s, style="bold yellow", highlight=False,
                                                                    markup=False, soft_wrap=True))
    with atomic_path(out / "compare.csv") as tmp:
        table.to_csv(tmp)
    console.print(table.to_string(), highlight=False, markup=False, soft_wrap=True)
    console.print(f"wrote {out / 'compare.csv'} and {len(idatas)} InferenceData files", highlight=False)


bench_app = typer.Typer(help="Benchmarks that write JSON, Markdown and plots.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("fewshot")
def bench_fewshot(
    micro_data: Path = typer.Option(..., "--micro-data", help="Micro run file (HDF5) for the micro fit."),
    meso_data: Path = typer.Option(..., "--meso-data", help="Meso run file (HDF5): training pool + test runs."),
    out: Path = typer.Option(..., "--out", help="Folder for bench.json, bench.md, PNGs and the models."),
    k: Optional[str] = typer.Option(None, "--k", help="Training-set sizes K (default 1,2,4,8,all; --quick: 1,2)."),
    subsets: Optional[int] = typer.Option(None, "--subsets", help="Random training subsets per K (default 1)."),
    stratify: Optional[str] = typer.Option(None, "--stratify", help="A run parameter (e.g. up_kms): each "
                                           "K-subset takes one run from each of K equal strata of it (subset 0: "
                                           "each stratum's middle run; others: random), instead of subset 0 = "
                                           "the first K pool runs and random subsets."),
    test_runs: Optional[int] = typer.Option(None, "--test-runs", help="Held-out test runs: the last N ok runs."),
    first_frames: int = typer.Option(2, "--first-frames", help="Frames given to every model before it forecasts "
                                     "(2: frame 0 is the unshocked state; the shock strength shows in frame 1)."),
    new_task: str = typer.Option("prior", "--new-task", help="Task latent c of a test run (the models "
                                 "are not adapted on it): 'training-runs' (the adaptation runs' q(c[n]), "
                                 "moment-matched) or 'prior' (N(0, I)), unless the given frames condition it."),
    rollout_noise: Optional[float] = typer.Option(None, "--rollout-noise", help="Factor kappa on the transition "
                                                  "noise of every token model's free rollout (1: the fitted noise; "
                                                  "default: each model's own, chosen on its training runs)."),
    ensemble: int = typer.Option(1, "--ensemble", min=1, help="Fits per token model, pooled in its forecasts: "
                                 "M micro fits (the config's seed + 0..M-1), each adapted; M from-scratch fits."),
    theta: Optional[str] = typer.Option(None, "--theta", help="The adaptations' micro globals: frozen, or prior "
                                        "(free under a Gaussian prior centred on the micro fit; probtok adapt "
                                        "--theta). Default: the config's [adapt] theta, else frozen."),
    encoder: Optional[str] = typer.Option(None, "--encoder", help="The adaptations' amortized encoder: frozen "
                                          "(re-used from the micro fit; default) or train (probtok adapt --encoder)."),
    readapt_theta_warmup_steps: Optional[int] = typer.Option(
        None, "--readapt-theta-warmup-steps", min=0, help="A member of an adapted ensemble (--theta prior, 3 or more "
        "members) whose final loss flags it as diverged is adapted once more with theta's learning rate warmed up "
        "over this many steps, and pooled so (default 20; 0: never; probtok adapt --theta-warmup-steps)."),
    draws: Optional[int] = typer.Option(None, "--draws", min=2, help="Draws per forecast of a test run, split "
                                        "among an ensemble's fits (default 100; --quick: 20)."),
    quick: bool = typer.Option(False, "--quick", help="Tiny budgets (smoke test, not results)."),
    parc_model: Optional[Path] = typer.Option(None, "--parc-model", help="A parc.pt trained on this split "
                                              "(benchmarks/parc_convergence.py, to convergence): scored, not retrained."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Jobs run side by side, one process "
                                          "each (default: the CPU count, at most one per 10 GB of RAM; 1: one "
                                          "after the other)."),
    config: Optional[str] = typer.Option(None, "--config", help="Token-model config: a name in models/ or a TOML "
                                         "path (default tiny.toml)."),
    model: Optional[list[str]] = typer.Option(None, "--model", help="Only this model (adapted, scratch, micro-only, "
                                              "parc); repeat for several (default: all). The micro fits run in "
                                              "any case."),
):
    """Few-shot benchmark: probtok adapted, from scratch, micro-only and PARC on the same test runs;
    RMSE / CRPS / coverage per model and K, timings, the error-against-K curve and fan charts."""
    from probtok.bench import BenchConfig, parse_k, quick_config, run_bench

    over = {} if k is None else {"k_values": parse_k(k)}
    if subsets is not None:
        over["subsets"] = subsets
    if stratify is not None:
        over["stratify"] = stratify
    if test_runs is not None:
        over["test_runs"] = test_runs
    if first_frames < 1:
        from probtok.errors import ConfigError

        raise ConfigError("--first-frames must be >= 1", field="first_frames")
    over["first_frames"] = first_frames
    from probtok.predict import check_new_task

    over["new_task"] = check_new_task(new_task)
    from probtok.predict import check_rollout_noise

    over["rollout_noise"] = None if rollout_noise is None else check_rollout_noise(rollout_noise)
    if config is not None:
        over["model_config"] = config
    over["ensemble"] = ensemble
    if theta is not None:
        over["theta"] = theta  # checked by BenchConfig, before anything runs
    if model:
        over["models"] = model  # likewise
    if encoder is not None:
        over["encoder"] = encoder  # likewise
    if readapt_theta_warmup_steps is not None:
        over["readapt_theta_warmup_steps"] = readapt_theta_warmup_steps or None  # 0: never
    if draws is not None:
        over["n_draws"] = draws
    cfg = quick_config(**over) if quick else BenchConfig(**over)
    run_bench(micro_data, meso_data, out, cfg, echo=lambda s: console.print(s, highlight=False), parc_model=parc_model,
              workers=workers)


@bench_app.command("rescore")
def bench_rescore(
    bench: Path = typer.Option(..., "--bench", help="Folder of a finished `probtok bench fewshot` (its --out)."),
    data: Path = typer.Option(..., "--data", help="Meso run file (HDF5) with the runs to score, e.g. further "
                              "runs from `probtok simulate --preset meso --seed 1`."),
    out: Path = typer.Option(..., "--out", help="Folder for rescore.json, rescore.md, PNGs and the forecasts."),
    runs: Optional[str] = typer.Option(None, "--runs", help="Runs, e.g. 0-29 (default: every ok run of the file)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Models forecast side by side, one process "
                                          "each (default: the CPU count, at most one per 10 GB of RAM; 1: one "
                                          "after the other)."),
    model: Optional[list[str]] = typer.Option(None, "--model", help="Only this model of the benchmark "
                                              "(adapted, scratch, micro-only, parc); repeat for several "
                                              "(default: all)."),
):
    """Score a finished benchmark's fitted models (and its PARC) on other runs, with its settings and no
    refitting: the same tables and plots as the benchmark."""
    from probtok.rescore import rescore_bench

    rescore_bench(bench, data, _parse_runs(runs), out, workers=workers, models=model,
                  echo=lambda s: console.print(s, highlight=False))


def _click_errors() -> tuple[tuple, tuple]:
    """(usage-error classes, abort classes) of click and of the click copy that typer >= 0.20 vendors."""
    import click

    usage, abort = [click.exceptions.ClickException], [click.exceptions.Abort]
    try:
        from typer._click import exceptions as vendored
    except ImportError:
        vendored = None
    for name, classes in (("ClickException", usage), ("Abort", abort)):
        if hasattr(vendored, name):
            classes.append(getattr(vendored, name))
    return tuple(usage), tuple(abort)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the app, turning probtok errors into one-line messages."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # without standalone mode, `raise typer.Exit(code)` comes back as the return value
        rc = app(args=argv, standalone_mode=False)
    except ProbtokError as exc:
        if debug:
            traceback.print_exc()
        from rich.markup import escape

        # one line even when quoting HDF5/torch errors; escaped, or rich would eat "[model]", "[fit]"...
        one_line = " ".join(exc.one_line().split())
        err_console.print(f"[bold red]error:[/] {escape(one_line)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err_console.print(f"[bold]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except (KeyboardInterrupt,):
        err_console.print("interrupted; finished work is kept, re-run the same command to resume")
        return 130
    except SystemExit as exc:  # typer/click exit paths (e.g. --help)
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - click usage errors and the unexpected
        usage, abort = _click_errors()
        if isinstance(exc, usage):
            exc.show()
            return exc.exit_code
        if isinstance(exc, abort):
            return 1
        if debug:
            traceback.print_exc()
        else:
            err_console.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True
            )
            err_console.print("[bold]hint:[/] re-run with --debug for the traceback and report it")
        return 1
    return rc if isinstance(rc, int) and not isinstance(rc, bool) else 0


if __name__ == "__main__":
    sys.exit(main())
