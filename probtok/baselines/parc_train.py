"""Training loop of the PARC baseline: multi-step rollouts, L1 loss, early stopping.

Data are normalised tensors: state ``x`` (run, frame, n_state, y, x) and
velocity ``vel`` (run, frame, 2, y, x), one frame every ``dt`` (e.g. ns).

Schedule (per stage):
* an epoch visits every training run once, from a random start frame, and
  rolls the model out ``h`` frames; loss = mean |prediction - truth| over
  every predicted frame and channel (state and velocity), as in PARC;
* curriculum: ``h`` grows from ``horizon_start`` to ``horizon_max`` by one
  every ``horizon_grow_every`` epochs;
* validation: a free rollout from frame 0 of every validation run over
  ``val_horizon`` frames (fixed, so comparable across the curriculum);
* AdamW, global gradient-norm clipping, learning rate halved on plateau;
* stop when the validation loss has been flat (no relative improvement of
  ``min_rel_improvement``) for ``patience`` epochs at the full horizon, or at
  ``max_epochs`` / ``max_time_s``; the best-validation weights are kept.

With ``integrator_correction`` PARCv2's two stages run: first the
differentiator alone (pure RK4), then the correction alone (differentiator
frozen) at the full horizon.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time

import torch

from probtok.baselines.parc import N_VEL, PARC, ParcConfig, count_parameters
from probtok.errors import DataError
from probtok.progress import make_progress


def as_runs(x, vel, n_state: int, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Check and convert one data split to float32 tensors; DataError on bad shape or values."""
    x = torch.as_tensor(x, dtype=torch.float32)
    vel = torch.as_tensor(vel, dtype=torch.float32)
    if x.ndim != 5 or x.shape[2] != n_state:
        raise DataError(
            f"{name} state has shape {tuple(x.shape)}, expected (run, frame, {n_state}, y, x)",
            hint="stack the normalised state fields (T, P, mu) along axis 2",
        )
    if vel.ndim != 5 or vel.shape[2] != N_VEL:
        raise DataError(
            f"{name} velocity has shape {tuple(vel.shape)}, expected (run, frame, 2, y, x)",
            hint="stack (u, v) along axis 2",
        )
    if x.shape[:2] != vel.shape[:2] or x.shape[3:] != vel.shape[3:]:
        raise DataError(
            f"{name} state {tuple(x.shape)} and velocity {tuple(vel.shape)} differ in run/frame/grid",
            hint="both must come from the same runs and frames",
        )
    if x.shape[1] < 2:
        raise DataError(f"{name} has {x.shape[1]} frame(s) per run; PARC needs at least 2", hint="pass more frames")
    for arr, label in ((x, "state"), (vel, "velocity")):
        finite = torch.isfinite(arr)
        if not bool(finite.all()):
            run, _, ch = (int(i) for i in torch.nonzero(~finite)[0][:3])
            raise DataError(
                f"{name} {label} has NaN/inf values", run=run, field=f"{label}[{ch}]",
                hint="drop or repair the run before training",
            )
    return x, vel


def l1_rollout_loss(model: PARC, x: torch.Tensor, vel: torch.Tensor, dt: float,
                    checkpoint: bool = False) -> torch.Tensor:
    """Mean |rollout - truth| over frames 1.. of windows x (B, h+1, C, H, W), vel (B, h+1, 2, H, W)."""
    px, pv = model.rollout(x[:, 0], vel[:, 0], x.shape[1], dt, checkpoint=checkpoint)
    n = px[:, 1:].numel() + pv[:, 1:].numel()
    return ((px[:, 1:] - x[:, 1:]).abs().sum() + (pv[:, 1:] - vel[:, 1:]).abs().sum()) / n


@torch.no_grad()
def validation_loss(model: PARC, x: torch.Tensor, vel: torch.Tensor, dt: float, horizon: int, batch: int) -> float:
    """L1 of the free rollout from frame 0 over ``horizon`` frames, averaged over runs."""
    h = min(horizon, x.shape[1] - 1)
    total, count = 0.0, 0
    for i in range(0, x.shape[0], batch):
        xb, vb = x[i : i + batch, : h + 1], vel[i : i + batch, : h + 1]
        total += float(l1_rollout_loss(model, xb, vb, dt)) * xb.shape[0]
        count += xb.shape[0]
    return total / count


def _windows(x, vel, h: int, runs: torch.Tensor, gen: torch.Generator):
    """One random window of h+1 frames from each run in ``runs``."""
    starts = torch.randint(0, x.shape[1] - h, (len(runs),), generator=gen)
    xb = torch.stack([x[r, s : s + h + 1] for r, s in zip(runs.tolist(), starts.tolist())])
    vb = torch.stack([vel[r, s : s + h + 1] for r, s in zip(runs.tolist(), starts.tolist())])
    return xb, vb


def _fit_stage(model, params, data, val, dt, cfg: ParcConfig, gen, *, stage: str, horizon_start: int,
               max_epochs: int, progress: bool, log: dict) -> str:
    """Train ``params`` until the validation loss is flat or the budget is spent; keeps the best weights."""
    x, vel = data
    vx, vv = val
    h_cap = x.shape[1] - 1
    h_max = min(cfg.horizon_max, h_cap)
    val_h = min(cfg.val_horizon or cfg.horizon_max, vx.shape[1] - 1)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=cfg.lr_factor, patience=cfg.lr_patience)
    best, best_state, flat, blowups = math.inf, copy.deepcopy(model.state_dict()), 0, 0
    reason = f"epoch budget ({max_epochs} epochs)"
    t0 = time.perf_counter()
    prog = make_progress(transient=True) if progress else None
    task = prog.add_task(f"PARC {stage}", total=max_epochs, info="") if prog else None
    if prog:
        prog.start()
    try:
        for epoch in range(max_epochs):
            te = time.perf_counter()
            h = min(h_max, horizon_start + epoch // cfg.horizon_grow_every)
            model.train()
            order = torch.randperm(x.shape[0], generator=gen)
            tot, cnt, blew_up = 0.0, 0, False
            for i in range(0, len(order), cfg.batch_size):
                xb, vb = _windows(x, vel, h, order[i : i + cfg.batch_size], gen)
                loss = l1_rollout_loss(model, xb, vb, dt, checkpoint=cfg.grad_checkpoint)
                if not torch.isfinite(loss):
                    blew_up = True  # a blown-up rollout: never step on it (handled below)
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                tot += float(loss.detach()) * xb.shape[0]
                cnt += xb.shape[0]
            model.eval()
            train_loss = math.inf if blew_up else tot / cnt
            val_loss = validation_loss(model, vx, vv, dt, val_h, cfg.batch_size)
            if not math.isfinite(val_loss):
                val_loss = math.inf  # an unstable long rollout is simply the worst score
            unstable = not (math.isfinite(train_loss) and math.isfinite(val_loss))
            blowups = blowups + 1 if unstable else 0
            full = h >= h_max
            if full:
                sched.step(val_loss)
            if val_loss < best * (1.0 - cfg.min_rel_improvement):
                best, best_state, flat = val_loss, copy.deepcopy(model.state_dict()), 0
            elif full:
                flat += 1
            for key, value in (("stage", stage), ("epoch", epoch), ("horizon", h), ("train_loss", train_loss),
                               ("val_loss", val_loss), ("lr", opt.param_groups[0]["lr"]),
                               ("epoch_wall_s", time.perf_counter() - te)):
                log[key].append(value)
            if prog:
                prog.update(task, advance=1, info=f"h={h} train={train_loss:.4g} val={val_loss:.4g} best={best:.4g}")
            if unstable:
                # an explicit integrator went unstable (e.g. a learned diffusion coefficient past the
                # RK4 limit): restart from the best weights with a smaller step; give up after 3 in a row
                if blowups >= 3 or not math.isfinite(best):
                    reason = f"diverged at epoch {epoch} (non-finite rollout loss); best weights kept"
                    break
                model.load_state_dict(best_state)
                for g in opt.param_groups:
                    g["lr"] *= cfg.lr_factor
                opt.state.clear()
            if flat >= cfg.patience:
                reason = f"converged: validation flat for {cfg.patience} epochs at horizon {h}"
                break
            if time.perf_counter() - t0 > cfg.max_time_s:
                reason = f"time budget ({cfg.max_time_s:.0f} s)"
                break
    finally:
        if prog:
            prog.stop()
    model.load_state_dict(best_state)
    log["best_val_loss"].append(best)
    return reason


def train_parc(train_x, train_vel, dt: float, config: ParcConfig | None = None, val=None, seed: int = 0,
               progress: bool = True, normaliser=None) -> tuple[PARC, dict]:
    """Train a PARC baseline on meso runs; returns (model in eval mode, history).

    train_x (run, frame, n_state, y, x), train_vel (run, frame, 2, y, x):
    normalised tensors (or arrays); dt: frame interval (e.g. ns), also the
    model's time unit unless ``config.time_scale`` is set. ``val``: a pair
    (val_x, val_vel) of held-out runs; None validates on the training runs
    (recorded as ``history["val_on"] == "train"``). ``seed`` fixes the
    initial weights and the window sampling. ``normaliser``: optional
    per-field map the caller used (``shift``, ``scale`` over the state fields
    then u, v; e.g. ``Normaliser.subset([...])``): it is stored with the model
    (``model.physical``) and aligns the advecting velocity with the physical one.

    history (JSON-safe): per-epoch lists ``stage, epoch, horizon, train_loss,
    val_loss, lr, epoch_wall_s``; ``best_val_loss`` per stage; ``stopped``
    (reason per stage); ``wall_s``; ``n_parameters``; ``val_on``; ``config``.
    """
    cfg = config or ParcConfig()
    if not (dt > 0 and math.isfinite(dt)):
        raise DataError(f"frame interval dt must be positive, got {dt}", hint="pass dt in the data's time unit")
    if cfg.time_scale is None:
        cfg = dataclasses.replace(cfg, time_scale=float(dt))
    data = as_runs(train_x, train_vel, cfg.n_state, "training data")
    if val is None:
        val_data, val_on = data, "train"
    else:
        val_data, val_on = as_runs(val[0], val[1], cfg.n_state, "validation data"), "val"
        if val_data[0].shape[3:] != data[0].shape[3:]:
            raise DataError(
                f"validation grid {tuple(val_data[0].shape[3:])} differs from training grid "
                f"{tuple(data[0].shape[3:])}", hint="use runs of the same set-up",
            )
    with torch.random.fork_rng(devices=[]):  # seed the initial weights without touching the caller's RNG
        torch.manual_seed(seed)
        model = PARC(cfg, normaliser)
    gen = torch.Generator().manual_seed(seed)
    keys = ("stage", "epoch", "horizon", "train_loss", "val_loss", "lr", "epoch_wall_s", "best_val_loss")
    log = {k: [] for k in keys}
    stopped = []
    t0 = time.perf_counter()

    model.use_correction = False
    stopped.append(_fit_stage(model, list(model.diff.parameters()), data, val_data, dt, cfg, gen,
                              stage="differentiator", horizon_start=cfg.horizon_start,
                              max_epochs=cfg.max_epochs, progress=progress, log=log))
    if model.correction is not None:
        model.use_correction = True
        n_epochs = max(1, round(cfg.max_epochs * cfg.correction_epochs_frac))
        for p in model.diff.parameters():
            p.requires_grad_(False)
        try:
            stopped.append(_fit_stage(model, list(model.correction.parameters()), data, val_data, dt, cfg, gen,
                                      stage="correction", horizon_start=cfg.horizon_max,
                                      max_epochs=n_epochs, progress=progress, log=log))
        finally:
            for p in model.diff.parameters():
                p.requires_grad_(True)
    model.eval()
    history = dict(log, stopped=stopped, wall_s=time.perf_counter() - t0, n_parameters=count_parameters(model),
                   val_on=val_on, config=cfg.to_dict())
    return model, history
