"""Amortized SVI of the token model on micro runs, with exact resume.

``fit(spec, x, cfg)`` maximises the ELBO of :class:`probtok.model.TokenModel`
with :class:`probtok.guides.TokenGuide` (``pyro.infer.SVI``, ClippedAdam with
per-parameter gradient clipping and geometric learning-rate decay), on
minibatches of runs (``pyro.plate`` subsampling) and time windows. The
multi-step objective is the model's auxiliary ``rollout`` factor, whose
horizon follows a curriculum from ``rollout_horizon_start`` to
``rollout_horizon_end`` frames. The reported loss is the negative ELBO plus
the negative auxiliary term, per run and frame.

Exact resume: every ``checkpoint_every`` steps the parameters, optimizer
state, RNG states and loss history are written atomically; a fit killed at
any moment and restarted with the same arguments continues from the last
checkpoint and ends bit-identical to an uninterrupted fit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyro
import torch

from probtok.atomic import atomic_write_text
from probtok.checkpoint import CHECKPOINT_NAME, load_checkpoint, make_checkpoint, restore_training_state, save_checkpoint
from probtok.covariate import check_covariate, start_task_latents
from probtok.data.validate import require_fields
from probtok.errors import CheckpointError, ConfigError, DataError, ProbtokError
from probtok.guides import TokenGuide
from probtok.model import TokenModel
from probtok.model_spec import FitConfig, ModelSpec


@dataclass
class FitResult:
    """A fitted model: modules, history and where it was written."""

    model: TokenModel
    guide: TokenGuide
    spec: ModelSpec
    fit_config: FitConfig
    losses: np.ndarray  # (step,) loss per run and frame (negative ELBO + auxiliary rollout term)
    step: int
    wall_s: float
    resumed_from: int = 0
    out_dir: Path | None = None
    meta: dict = field(default_factory=dict)


def check_training_tensor(x, spec: ModelSpec, source="<tensor>") -> torch.Tensor:
    """Validate normalised training data (run, frame, field, H, W); DataError on problems."""
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    if x.ndim != 5:
        raise DataError(f"training data must have shape (run, frame, field, H, W), got {tuple(x.shape)}", file=source)
    n_runs, n_frames, n_fields, H, W = x.shape
    if n_fields != spec.n_fields:
        raise DataError(f"data has {n_fields} fields but the model expects {spec.n_fields} {list(spec.fields)}",
                        file=source, hint="select the config's fields from the dataset")
    s = spec.token_size
    if H % s or W % s:
        raise DataError(f"grid {H}x{W} is not a multiple of the token size {s}", file=source,
                        hint="choose a token_size that divides the grid, or crop the frames")
    if n_frames < 2 or n_runs < 1:
        raise DataError("need at least one run of at least two frames", file=source)
    bad = ~torch.isfinite(x)
    if bad.any():
        run, frame, fld = (int(i) for i in bad.nonzero()[0][:3])
        raise DataError(f"non-finite value at frame {frame}", file=source, run=run, field=spec.fields[fld],
                        hint="clean or drop this run")
    return x.float()


def check_start_frame(start_frame: int, n_frames: int, hint: str) -> None:
    """ConfigError unless frames start_frame .. n_frames - 1 hold at least one transition (2 frames)."""
    if not 0 <= start_frame <= n_frames - 2:
        raise ConfigError(f"start_frame={start_frame} leaves fewer than 2 of the {n_frames} frames per run",
                          hint=hint)


def frames_from(x: torch.Tensor, start_frame: int, hint: str) -> torch.Tensor:
    """x (run, frame, ...) without the frames before ``start_frame`` (:func:`check_start_frame` first)."""
    check_start_frame(start_frame, x.shape[1], hint)
    return x[:, start_frame:]


def rollout_horizon(step: int, cfg: FitConfig) -> int:
    """Curriculum: rollout horizon [frames] grows linearly from start to end over ramp_fraction of the steps."""
    ramp = max(1, int(cfg.rollout_ramp_fraction * cfg.steps))
    frac = min(1.0, step / ramp)
    return int(round(cfg.rollout_horizon_start + frac * (cfg.rollout_horizon_end - cfg.rollout_horizon_start)))


def comparable_settings(cfg_dict: dict) -> dict:
    """The settings a resumed fit or adaptation must share with its checkpoint's."""
    # `steps` may grow between runs (continue training); everything else must match to resume exactly.
    # keys at the value that checkpoints written before the key existed used are left out
    before = {"start_frame": 0, "c_init_scale": 0.1, "theta_lr_factor": 1.0, "encoder": "frozen",
              "theta_warmup_steps": 0, "theta_warmup_start": 0.1}
    return {k: v for k, v in cfg_dict.items()
            if k not in ("steps", "checkpoint_every") and not (k in before and v == before[k])}


def check_same_runs(ckpt: dict, meta: dict | None, path) -> None:
    """A CheckpointError when a checkpoint was fitted on other training runs than ``meta["train_runs"]`` (when
    both record them): resuming it, or reusing it as complete, would pass it off as a fit on the new runs."""
    old = (ckpt.get("meta") or {}).get("train_runs")
    new = (meta or {}).get("train_runs")
    if old is not None and new is not None and [int(r) for r in old] != [int(r) for r in new]:
        raise CheckpointError(f"checkpoint was fitted on runs {[int(r) for r in old]}, not {[int(r) for r in new]}",
                              file=path, hint="use the same training runs or a fresh --out")


@torch.no_grad()
def set_rest_state(model, x_first: torch.Tensor) -> None:
    """The rest state x_rest of a rest-centred model: per field, the median over the cells of the first
    training frames x_first (run, field, H, W), normalised units (most cells of a first frame are
    material the shock has not reached; the pores are a few per cent)."""
    model.decoder.x_rest.copy_(x_first.movedim(1, 0).reshape(x_first.shape[1], -1).median(1).values)


def fit(spec: ModelSpec, x, cfg: FitConfig, *, out_dir=None, normalisation: dict | None = None,
        resume: bool = True, progress: bool = True, level: str = "micro", meta: dict | None = None,
        on_step=None, init=None, u=None) -> FitResult:
    """Fit the token model by SVI.

    spec, cfg : architecture and fit settings (see models/*.toml).
    x : normalised fields (run, frame, field, H, W), tensor or array.
    out_dir : where checkpoint.pt and fit.json go (None: nothing written, no resume).
    normalisation : ``Normaliser.to_dict()`` of x, stored with the checkpoint.
    resume : continue from out_dir/checkpoint.pt when it exists (same spec and fit settings required).
    on_step : optional callback(step, loss) after each step (e.g. to stop early); not saved.
    init : optional callable(model, guide) run once after construction, before any checkpoint is
        loaded: set known values, freeze parts (``requires_grad_(False)``: Pyro then leaves them out
        of the optimisation), or load micro weights for a meso fit. It must be deterministic.
    u : meso level, a spec with a ``task_covariate``: the runs' standardised covariate (run,)
        (:mod:`probtok.covariate`).

    Clears Pyro's global param store: parameters live in the returned modules.
    """
    x = frames_from(check_training_tensor(x, spec), cfg.start_frame, hint="lower start_frame in [fit]")
    n_runs, n_frames = x.shape[:2]
    window = cfg.window_frames or n_frames
    if window > n_frames:
        raise ProbtokError(f"window_frames={window} exceeds the {n_frames} frames per run", hint="lower window_frames")
    batch = min(cfg.batch_runs, n_runs)
    u = check_covariate(spec, u, n_runs) if level == "meso" else None
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        try:  # refuse an unwritable output before the first step, not at the first checkpoint
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProbtokError(f"cannot write here ({exc.strerror or exc})", file=out_dir,
                               hint="choose a writable output path") from exc
    meta = dict(meta or {})
    meta.setdefault("n_runs", n_runs)

    pyro.clear_param_store()
    pyro.set_rng_seed(cfg.seed)
    model = TokenModel(spec, level)
    guide = TokenGuide(spec, level, n_runs=n_runs if level == "meso" else None).attach(model)
    if init is not None:
        init(model, guide)
    start_task_latents(guide, spec, u)
    if model.decoder.x_rest is not None:
        set_rest_state(model, x[:, 0])
    for mod in (model, guide):
        # no dropout/batch-norm anywhere; eval mode only silences Pyro's warning about frozen parameters
        mod.eval()
    lrd = cfg.final_lr_factor ** (1.0 / max(cfg.steps, 1))
    optim = pyro.optim.ClippedAdam({"lr": cfg.learning_rate, "clip_norm": cfg.clip_norm, "lrd": lrd})
    elbo = getattr(pyro.infer, cfg.elbo)(num_particles=cfg.num_particles, max_plate_nesting=1)
    svi = pyro.infer.SVI(model.model, guide.guide, optim, elbo)

    start, losses = 0, []
    ckpt_path = out_dir / CHECKPOINT_NAME if out_dir is not None else None
    if resume and ckpt_path is not None and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, expected_spec=spec)
        if comparable_settings(ckpt["fit_config"]) != comparable_settings(dataclasses.asdict(cfg)) or ckpt["level"] != level:
            raise CheckpointError("checkpoint was written with other fit settings", file=ckpt_path,
                                  hint="use the same [fit] table (only steps may change) or a fresh --out")
        check_same_runs(ckpt, meta, ckpt_path)
        start, losses = restore_training_state(ckpt, model, guide, optim)
    resumed_from = start

    def checkpoint(step):
        if ckpt_path is None:
            return
        save_checkpoint(ckpt_path, make_checkpoint(
            spec=spec, level=level, fit_config=cfg, step=step, model=model, guide=guide, optim=optim,
            losses=losses, normalisation=normalisation, meta=meta))

    per = 1.0 / (n_runs * window)

    def step_loss(step):
        t0 = int(torch.randint(0, n_frames - window + 1, ())) if window < n_frames else 0
        return svi.step(x[:, t0 : t0 + window], frame0=cfg.start_frame + t0, batch_runs=batch,
                        rollout_horizon=rollout_horizon(step, cfg), rollout_weight=cfg.rollout_weight, u=u) * per

    wall = run_svi(step_loss, start, cfg.steps, cfg.checkpoint_every, checkpoint, losses, progress=progress,
                   description="SVI fit", on_step=on_step, hint="lower learning_rate or clip_norm in [fit]")
    finish_svi(cfg.steps, start, ckpt_path, checkpoint, out_dir, "fit.json", wall, losses, meta)
    for mod in (model, guide):
        mod.eval()
    return FitResult(model, guide, spec, cfg, np.asarray(losses), cfg.steps, wall, resumed_from, out_dir, meta)


@contextlib.contextmanager
def svi_progress(enabled: bool, total: int, done: int, description: str):
    """A progress bar (probtok.progress) showing the running -ELBO per run-frame; yields update(step, loss)."""
    if not enabled:
        yield lambda step, loss: None
        return
    from probtok.progress import make_progress

    avg = [None]
    with make_progress() as prog:
        task = prog.add_task(description, total=total, completed=done, info="")

        def update(step, loss):
            avg[0] = loss if avg[0] is None else 0.95 * avg[0] + 0.05 * loss
            prog.update(task, completed=step, info=f"-ELBO/frame {avg[0]:,.1f}")

        yield update


def run_svi(step_loss, start: int, steps: int, checkpoint_every: int, checkpoint, losses: list, *,
            progress: bool, description: str, on_step=None, hint: str) -> float:
    """SVI steps ``start .. steps-1``: ``step_loss(step)`` takes one step and returns its loss per run-frame.

    Appends to ``losses``, checkpoints every ``checkpoint_every`` steps, stops with a ProbtokError
    (the last checkpoint kept) on a non-finite loss or non-finite distribution arguments; returns the
    wall time [s]. Shared by the micro fit and the meso adaptation, so both resume the same way.
    """
    t_start = time.perf_counter()
    with svi_progress(progress, steps, start, description) as update:
        for step in range(start, steps):
            try:
                loss = step_loss(step)
            except ValueError as exc:
                if "invalid values" not in str(exc):
                    raise
                # a distribution's argument check found NaN/inf: latent states or weights diverged
                raise ProbtokError(f"the latent states became non-finite at step {step}",
                                   hint=f"{hint}, or fit on shorter windows of long runs ([fit] window_frames); "
                                        "the last checkpoint is kept") from exc
            if not math.isfinite(loss):
                raise ProbtokError(f"the loss became non-finite at step {step}",
                                   hint=f"{hint}; the last checkpoint is kept")
            losses.append(loss)
            update(step + 1, loss)
            if (step + 1) % checkpoint_every == 0:
                checkpoint(step + 1)
            if on_step is not None:
                on_step(step + 1, loss)
    return time.perf_counter() - t_start


def finish_svi(steps: int, start: int, ckpt_path, checkpoint, out_dir, summary_name: str, wall: float,
               losses: list, meta: dict) -> None:
    """Final checkpoint (unless one for ``steps`` exists already) and the JSON loss summary in ``out_dir``."""
    if start < steps or not (ckpt_path and ckpt_path.exists()):
        checkpoint(steps)
    if out_dir is not None and not (start >= steps and (Path(out_dir) / summary_name).exists()):
        # (a re-run that found the fit complete keeps the record of the session that did the work)
        from probtok.checkpoint import weights_digest

        summary = {"steps": steps, "resumed_from": start, "wall_s_this_session": wall,
                   "weights_digest": weights_digest(ckpt_path) if ckpt_path and ckpt_path.exists() else None,
                   "final_loss_per_run_frame": losses[-1] if losses else None,
                   "loss_per_run_frame": losses, "meta": meta}
        atomic_write_text(Path(out_dir) / summary_name, json.dumps(summary, indent=1))


def split_runs(ok_runs, holdout: float) -> tuple[list[int], list[int]]:
    """Deterministic split of ok runs: the last ceil(holdout * n) are held out (at least one train run)."""
    ok = [int(r) for r in ok_runs]
    n_hold = min(len(ok) - 1, int(math.ceil(holdout * len(ok)))) if holdout > 0 else 0
    return (ok[: len(ok) - n_hold], ok[len(ok) - n_hold :]) if n_hold > 0 else (ok, [])


def fit_micro_files(data, config, out_dir, *, steps: int | None = None, holdout: float = 0.2, train_runs=None,
                    resume: bool = True, progress: bool = True, normalisation_kind: str = "minmax",
                    seed: int | None = None) -> FitResult:
    """`probtok fit-micro`: fit a models/*.toml config on a micro dataset file; writes out_dir.

    out_dir gets checkpoint.pt (model + normalisation + resume state), config.toml
    (a copy of the config as given), fit.json (loss history, runs used, the settings overridden here).
    ``steps``, ``seed``: override the config's [fit] steps and seed (None: keep them). Fits with other seeds
    are the members of an ensemble forecast (:func:`probtok.predict.forecast_run`).
    """
    from probtok.data import open_dataset
    from probtok.model_spec import load_config

    cfg = load_config(config)
    overrides = {k: int(v) for k, v in (("steps", steps), ("seed", seed)) if v is not None}
    fit_cfg = dataclasses.replace(cfg.fit, **overrides)
    spec = cfg.spec
    with open_dataset(data) as ds:
        require_fields(ds, spec.fields, data, needed_by="the config", hint="; edit [model] fields")
        if train_runs is None:
            train, held = split_runs(ds.ok_runs, holdout)
        else:
            train = [int(r) for r in train_runs]
            held = [int(r) for r in ds.ok_runs if int(r) not in set(train)]
        if not train:
            raise DataError("no ok runs to train on", file=data)
        norm = ds.normaliser(normalisation_kind, spec.fields, spec.log_fields)
        # the grid the tokens were learned on: meso data must share dx and a whole multiple of dt
        grid_meta = {"dx_um": float(ds.dx_um), "dt_frame_ns": float(ds.dt_frame_ns),
                     "units": {f: ds.units[f] for f in spec.fields}}
        x = np.stack([ds.frames(r, spec.fields) for r in train])
    x = norm.forward(torch.as_tensor(x), field_axis=2)
    x = check_training_tensor(x, spec, source=data)
    out_dir = Path(out_dir)
    cfg_text = Path(config).read_text()
    meta = {"data": str(data), "config": str(config), "config_name": cfg.name, "train_runs": train,
            "holdout_runs": held, "fields": list(spec.fields), "n_runs": len(train), **grid_meta,
            "fit_overrides": overrides}
    res = fit(spec, x, fit_cfg, out_dir=out_dir, normalisation=norm.to_dict(), resume=resume,
              progress=progress, meta=meta)
    # written once fit() has accepted out_dir: a refused resume (another config) leaves the old copy
    atomic_write_text(out_dir / "config.toml", cfg_text)
    return res
