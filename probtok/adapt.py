"""Few-shot meso adaptation: the meso level of the token model fitted by SVI on K meso runs.

The meso model is :class:`probtok.model.TokenModel` with ``level="meso"``
(task latent ``c[n]``, coupling ``G_phi`` with prior Normal(0, tau) = "no
correction", ``r = spec.steps_per_frame`` micro steps per meso frame), built
from a fitted micro checkpoint. What adapts (``AdaptConfig``):

* always: q(c[n]) per meso run, q(phi), q(sigma_x) (started at the micro posterior);
* the coupling feature network h of ``G_phi = phi . h(z, c)``, unless ``coupling_net = "frozen"``;
* theta (decoder, micro drift, token prior): ``theta = "frozen"`` keeps the micro fit;
  ``theta = "prior"`` lets it move under a Gaussian prior centred on the micro fit,
  ``log p(theta) = sum_i log N(theta_i | theta_micro_i, theta_prior_scale)`` (a MAP
  point estimate: ``pyro.factor("theta_prior", ...)``);
* the amortized encoder q(z_t | x_t, z_{t-1}): re-used from the micro fit (``encoder = "frozen"``, the
  default), or fitted too (``encoder = "train"``; it starts at the micro fit's and, being part of the guide,
  needs no prior: it only decides which tokens the ELBO scores, not what the model is).

The objective is the model's ELBO plus its auxiliary free-rollout term
(``rollout_weight``, horizon ``rollout_horizon`` meso frames), maximised with
``pyro.infer.SVI`` and ClippedAdam (:class:`probtok.optim.WarmupClippedAdam`, so that theta's learning rate
can warm up). Normalisation: the micro fit's (ONE normaliser, so tokens mean the same thing at both
scales), stored again with the meso checkpoint. Checkpoints use :mod:`probtok.checkpoint` (``weights_only``
loads, atomic writes) and resume exactly: a run killed and restarted with the
same arguments ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyro
import torch

from probtok.checkpoint import CHECKPOINT_NAME, fit_start_frame, load_checkpoint, load_fitted, make_checkpoint, restore_training_state, save_checkpoint
from probtok.covariate import check_covariate, start_task_latents
from probtok.data.validate import check_compatible, require_fields
from probtok.errors import CheckpointError, ConfigError, DataError, ProbtokError
from probtok.fit import check_same_runs, comparable_settings, check_training_tensor, finish_svi, frames_from, run_svi
from probtok.guides import TokenGuide
from probtok.model import TokenModel
from probtok.model_spec import THETA_MODES, ModelSpec, validate_spec
from probtok.optim import WarmupClippedAdam
from probtok.rollout_noise import record_rollout_noise

COUPLING_MODES = ("train", "frozen")
ENCODER_MODES = ("frozen", "train")
#: Sub-modules of TokenModel that are the micro-level globals theta.
THETA_MODULES = ("token_prior", "decoder", "transition")


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of the few-shot meso SVI (noise scales in normalised field units)."""

    # 100, not more: on the default meso data (K = 4, test runs 24-29, benchmarks/adapt_settings.py) 300 steps
    # made the forecasts unstable on both shipped micro fits (tiny: median-T_hs RMSE 17 600 K; micro-s4: a
    # draw diverged to a non-finite state), where 100 steps gave 589 K and 550 K; 100 steps take 6.5 min
    # (tiny) and 11 min (micro-s4) for K = 4 on one core
    steps: int = 100
    batch_runs: int = 4  # meso runs per minibatch (pyro.plate subsampling)
    learning_rate: float = 1e-2
    final_lr_factor: float = 0.1  # geometric decay of the learning rate to this factor
    clip_norm: float = 10.0
    num_particles: int = 1
    theta: str = "frozen"  # "frozen" | "prior"
    theta_prior_scale: float = 0.01  # sd of the Gaussian prior of each theta weight around its micro value
    # theta's learning rate = learning_rate x this (theta "prior" only). Adam moves every weight by about the
    # learning rate a step whatever its gradient, and 0.01 is one sd of the theta prior: a step of every micro
    # weight at once by one sd can tip the transition into an unstable rollout
    theta_lr_factor: float = 1.0
    # theta's learning rate ramps linearly from theta_warmup_start x to 1 x over this many steps (probtok.optim; 0:
    # none). On the default data (small-up-u, K = 4; docs/bench-2026-11-29-encoder) 20 steps from 0.1 kept the micro
    # fit whose first full-rate step diverged on two subsets stable (test T_hs RMSE 938 -> 543 K and 850 -> 467 K;
    # theta_lr_factor 0.1 instead: 637 and 615 K); the other members were not measured with it, so 0 stays the default
    theta_warmup_steps: int = 0
    theta_warmup_start: float = 0.1
    coupling_net: str = "train"  # "train" | "frozen": whether h in G_phi = phi . h(z, c) is fitted
    # "frozen" | "train": whether the amortized encoder q(z_t | x_t, z_{t-1}) is fitted on the meso runs too
    encoder: str = "frozen"
    rollout_weight: float = 1.0
    # meso frames of the auxiliary free rollout, capped at frames - 1 (default: the whole run). The whole
    # run, because forecasts roll out the whole run: on the default meso data (K = 4, 6 test runs, tiny
    # micro fit; benchmarks/adapt_settings.py) a 12-frame horizon (150 steps) left 36-frame rollouts
    # unstable (median-T_hs RMSE 2150 K, climbing far above the data); the whole 35 frames (100 steps)
    # kept them bounded (608 K) at about the same wall time.
    rollout_horizon: int = 1000
    # meso frames before this one are left out; None: the micro fit's [fit] start_frame (frame 0 of a
    # simulated run is the unshocked state, and its transition to frame 1 is the piston's, not the drift's)
    start_frame: int | None = None
    # sd at which every q(c[n]) starts (its mean starts at 0). Forecasts of new runs draw c from the prior
    # N(0, I), and on the default meso data 100 steps leave q(c[n]) where it starts: at 0.1 the coupling
    # network only sees |c| ~ 0.1 in training and is fed c ~ N(0, I) in forecasts, while 1.0 (the prior's sd)
    # trains it over that range. Measured (benchmarks/adapt_settings.py, tiny, K = 4, runs 24-29; README):
    # 1.0 gives the lower CRPS and RMSE but the lower coverage. On data drawn from the model itself (c
    # identifiable, tests/meso/test_adapt_recovery.py, 250 steps) 0.1 recovers phi within 0.05; 1.0 came
    # within 0.1 only, hence the default.
    c_init_scale: float = 0.1
    checkpoint_every: int = 50
    seed: int = 0

    def __post_init__(self):
        checks = [
            (self.steps >= 0, "steps must be >= 0"),
            (self.batch_runs >= 1, "batch_runs must be >= 1"),
            (self.learning_rate > 0 and 0 < self.final_lr_factor <= 1, "learning_rate > 0, 0 < final_lr_factor <= 1"),
            (self.theta in THETA_MODES, f"theta must be one of {THETA_MODES}"),
            (self.coupling_net in COUPLING_MODES, f"coupling_net must be one of {COUPLING_MODES}"),
            (self.encoder in ENCODER_MODES, f"encoder must be one of {ENCODER_MODES}"),
            (self.theta_prior_scale > 0, "theta_prior_scale must be > 0"),
            (self.theta_lr_factor > 0, "theta_lr_factor must be > 0"),
            (self.theta_warmup_steps >= 0 and 0 < self.theta_warmup_start <= 1,
             "theta_warmup_steps must be >= 0 and 0 < theta_warmup_start <= 1"),
            (self.rollout_weight >= 0 and self.rollout_horizon >= 0, "rollout weight and horizon must be >= 0"),
            (self.checkpoint_every >= 1, "checkpoint_every must be >= 1"),
            (self.start_frame is None or self.start_frame >= 0, "start_frame must be >= 0"),
            (self.c_init_scale > 0, "c_init_scale must be > 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg, hint="fix the adaptation settings (AdaptConfig / `probtok adapt` options)")


@dataclass
class AdaptResult:
    """An adapted meso model: modules, history and where it was written."""

    model: TokenModel
    guide: TokenGuide
    config: AdaptConfig
    losses: np.ndarray  # (step,) negative ELBO + auxiliary rollout term, per run and frame
    step: int
    wall_s: float
    resumed_from: int = 0
    out_dir: Path | None = None
    normalisation: dict | None = None
    meta: dict = field(default_factory=dict)


def meso_spec(micro_spec: ModelSpec, task_covariate: str | None = None) -> ModelSpec:
    """The spec of the meso model adapted from a micro fit of ``micro_spec``: the micro fit's, or with its
    ``[meso] task_covariate`` replaced (a run parameter name; "" for none).

    The micro fit has no meso-level parts (no coupling, no task latent), so a fit made without a covariate
    can be adapted with one: nothing fitted depends on it."""
    if task_covariate is None or task_covariate == micro_spec.task_covariate:
        return micro_spec
    spec = dataclasses.replace(micro_spec, task_covariate=str(task_covariate))
    validate_spec(spec, "--task-covariate")
    return spec


def meso_from_micro(micro_model: TokenModel, micro_guide: TokenGuide, n_runs: int,
                    c_init_scale: float = 0.1, spec: ModelSpec | None = None) -> tuple[TokenModel, TokenGuide]:
    """A meso model and guide carrying the micro fit: theta, encoder and q(sigma_x) copied; phi, c at their
    prior centre (q(phi) = Normal(0, 0.01), q(c[n]) = Normal(0, c_init_scale)); the coupling network
    freshly drawn.

    ``n_runs`` sizes the per-run q(c[n]) table; ``spec``: the meso model's (:func:`meso_spec`; default the
    micro fit's). Deterministic given torch's RNG state.
    """
    spec = spec or micro_model.spec
    model = TokenModel(spec, "meso")
    guide = TokenGuide(spec, "meso", n_runs=n_runs, c_init_scale=c_init_scale).attach(model)
    missing, unexpected = model.load_state_dict(micro_model.state_dict(), strict=False)
    if unexpected or any(not k.startswith("coupling.") for k in missing):
        raise CheckpointError(f"micro weights do not fit the meso model (missing {missing}, unexpected {unexpected})")
    gmissing, gunexpected = guide.load_state_dict(micro_guide.state_dict(), strict=False)
    if gunexpected or any(not k.startswith(("phi_", "c_")) for k in gmissing):
        raise CheckpointError(f"micro guide does not fit the meso guide (missing {gmissing})")
    for mod in (model, guide):
        mod.requires_grad_(True)
    return model, guide


def set_trainable(model: TokenModel, guide: TokenGuide, cfg: AdaptConfig) -> None:
    """Freeze what must not adapt (requires_grad False: Pyro leaves it out of the optimisation)."""
    guide.encoder.requires_grad_(cfg.encoder == "train")
    for name in THETA_MODULES:
        getattr(model, name).requires_grad_(cfg.theta == "prior")
    model.coupling.requires_grad_(cfg.coupling_net == "train")


def theta_prior_log_prob(model: TokenModel, theta0: dict[str, torch.Tensor], scale: float) -> torch.Tensor:
    """sum_i log N(theta_i | theta0_i, scale) over the micro-level weights (scalar)."""
    total = torch.zeros(())
    params = dict(model.named_parameters())
    for name, p0 in theta0.items():
        total = total + torch.distributions.Normal(p0, scale).log_prob(params[name]).sum()
    return total


def optim_args(cfg: AdaptConfig, lrd: float):
    """:class:`probtok.optim.WarmupClippedAdam`'s settings per parameter (Pyro calls it with the parameter's name,
    e.g. ``token_model.decoder.net.0.weight``): theta's learning rate is ``learning_rate x theta_lr_factor``,
    warmed up over ``theta_warmup_steps``; every other one ``learning_rate``, no warm-up."""
    def args(param_name: str) -> dict:
        parts = param_name.split(".")
        theta = parts[0] == "token_model" and len(parts) > 1 and parts[1] in THETA_MODULES
        lr = cfg.learning_rate * (cfg.theta_lr_factor if theta else 1.0)
        return {"lr": lr, "clip_norm": cfg.clip_norm, "lrd": lrd, "warmup_steps": cfg.theta_warmup_steps if theta else 0,
                "warmup_start": cfg.theta_warmup_start}
    return args


class MesoObjective:
    """Pyro model/guide pair of the adaptation: the meso TokenModel (+ the theta prior when it is used)."""

    def __init__(self, model: TokenModel, guide: TokenGuide, cfg: AdaptConfig):
        self.tm, self.tg, self.cfg = model, guide, cfg
        self.theta0 = ({n: p.detach().clone() for n, p in model.named_parameters() if n.split(".")[0] in THETA_MODULES}
                       if cfg.theta == "prior" else {})

    def model(self, x, **kw):
        self.tm.model(x, **kw)
        if self.theta0:
            pyro.factor("theta_prior", theta_prior_log_prob(self.tm, self.theta0, self.cfg.theta_prior_scale))

    def guide(self, x, **kw):
        self.tg.guide(x, **kw)


def adapt(micro, x, cfg: AdaptConfig | None = None, *, out_dir=None, resume: bool = True, progress: bool = True,
          meta: dict | None = None, on_step=None, init=None, u=None, task_covariate: str | None = None) -> AdaptResult:
    """Adapt a fitted micro model to K meso runs by SVI.

    micro : a micro fit directory / checkpoint path, or a tuple (model, guide, normalisation dict or None
        [, the micro fit's start_frame]).
    x : meso runs in the micro fit's normalised units (run, frame, field, H, W); H, W multiples of the token size.
    out_dir : where checkpoint.pt and adapt.json go (None: nothing written, no resume).
    resume : continue from out_dir/checkpoint.pt if present (same settings required; ``steps`` may grow).
    on_step : optional callback(step, loss) after each step; not saved.
    init : optional deterministic callable(model, guide) run on the fresh meso modules before anything is
        frozen or loaded (e.g. set a known coupling network).
    u : the runs' standardised task covariate (run,), required when the spec has a ``task_covariate``
        (:mod:`probtok.covariate`); each q(c[n, 0]) then starts at the mean of p(c[n, 0] | u[n]).
    task_covariate : the run parameter the meso model observes, in place of the micro fit's
        ``[meso] task_covariate`` (:func:`meso_spec`); None: the micro fit's.
    Clears Pyro's global param store; parameters live in the returned modules.
    """
    cfg = cfg or AdaptConfig()
    if isinstance(micro, (str, Path)):
        micro_model, micro_guide, ckpt = load_fitted(micro)
        if ckpt["level"] != "micro":
            raise CheckpointError("this is not a micro fit", file=micro, hint="give the output folder of fit-micro")
        normalisation = ckpt["normalisation"]
        micro_src = str(micro)
        micro_start_frame = fit_start_frame(ckpt)
    else:
        micro_model, micro_guide, normalisation = micro[:3]
        micro_start_frame = int(micro[3]) if len(micro) > 3 else 0
        micro_src = "<in memory>"
    spec = meso_spec(micro_model.spec, task_covariate)
    x = check_training_tensor(x, spec, source="meso data")
    if cfg.start_frame is None:
        cfg = dataclasses.replace(cfg, start_frame=micro_start_frame)
    x = frames_from(x, cfg.start_frame, hint="lower AdaptConfig.start_frame")
    n_runs, n_frames = x.shape[:2]
    u = check_covariate(spec, u, n_runs)
    out_dir = Path(out_dir) if out_dir is not None else None
    meta = {**(meta or {}), "n_runs": n_runs, "micro": micro_src, "adapt": dataclasses.asdict(cfg)}

    pyro.clear_param_store()
    pyro.set_rng_seed(cfg.seed)
    model, guide = meso_from_micro(micro_model, micro_guide, n_runs, cfg.c_init_scale, spec)
    if init is not None:
        init(model, guide)
    start_task_latents(guide, spec, u)
    set_trainable(model, guide, cfg)
    objective = MesoObjective(model, guide, cfg)
    for mod in (model, guide):
        mod.eval()  # no dropout/batch-norm; silences Pyro's warning about frozen parameters
    lrd = cfg.final_lr_factor ** (1.0 / max(cfg.steps, 1))
    optim = pyro.optim.PyroOptim(WarmupClippedAdam, optim_args(cfg, lrd))
    elbo = pyro.infer.Trace_ELBO(num_particles=cfg.num_particles, max_plate_nesting=1)
    svi = pyro.infer.SVI(objective.model, objective.guide, optim, elbo)

    start, losses = 0, []
    ckpt_path = out_dir / CHECKPOINT_NAME if out_dir is not None else None
    if resume and ckpt_path is not None and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, expected_spec=spec)
        theirs, ours = comparable_settings(ck["fit_config"]), comparable_settings(dataclasses.asdict(cfg))
        if ck["level"] != "meso" or theirs != ours:
            differ = ", ".join(f"{k} {theirs.get(k)!r} there, {ours.get(k)!r} now"
                               for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k))
            raise CheckpointError("checkpoint was written with other adaptation settings"
                                  + (f" ({differ})" if differ and ck["level"] == "meso" else ""), file=ckpt_path,
                                  hint="use the same settings (only steps may change) or a fresh --out")
        if ck["meta"].get("n_runs") != n_runs:
            raise CheckpointError(f"checkpoint was adapted on {ck['meta'].get('n_runs')} runs, not {n_runs}",
                                  file=ckpt_path, hint="use the same --train-runs or a fresh --out")
        check_same_runs(ck, meta, ckpt_path)
        start, losses = restore_training_state(ck, model, guide, optim)
    resumed_from = start

    def checkpoint(step):
        if ckpt_path is not None:
            save_checkpoint(ckpt_path, make_checkpoint(
                spec=spec, level="meso", fit_config=cfg, step=step, model=model, guide=guide, optim=optim,
                losses=losses, normalisation=normalisation, meta=meta))

    horizon = min(cfg.rollout_horizon, n_frames - 1)
    batch = min(cfg.batch_runs, n_runs)
    per = 1.0 / (n_runs * n_frames)

    def step_loss(step):
        return svi.step(x, frame0=cfg.start_frame, batch_runs=batch, rollout_horizon=horizon,
                        rollout_weight=cfg.rollout_weight, u=u) * per

    wall = run_svi(step_loss, start, cfg.steps, cfg.checkpoint_every, checkpoint, losses, progress=progress,
                   description="SVI meso adaptation", on_step=on_step, hint="lower learning_rate or clip_norm")
    finish_svi(cfg.steps, start, ckpt_path, checkpoint, out_dir, "adapt.json", wall, losses, meta)
    for mod in (model, guide):
        mod.eval()
        mod.requires_grad_(False)
    return AdaptResult(model, guide, cfg, np.asarray(losses), cfg.steps, wall, resumed_from, out_dir,
                       normalisation, meta)


def configured_theta(micro_dir) -> str | None:
    """theta of the ``[adapt]`` table of the config a micro fit was made with (``micro_dir/config.toml``, the copy
    `probtok fit-micro` keeps); None when it sets none or the fit kept no config (fits made with
    :func:`probtok.fit.fit`)."""
    from probtok.model_spec import load_config

    path = Path(micro_dir) / "config.toml"
    return load_config(path).adapt.get("theta") if path.is_file() else None


def resolve_theta(theta: str | None, micro_dir) -> tuple[str, str]:
    """(theta, where it came from): ``theta`` as given, else the micro fit's config's ``[adapt] theta``, else
    "frozen" (the AdaptConfig default)."""
    if theta is not None:
        return theta, "given"
    own = configured_theta(micro_dir)
    return (own, "the micro fit's config, [adapt] theta") if own is not None else ("frozen", "default")


def adapt_files(micro_dir, data, train_runs, out_dir, cfg: AdaptConfig | None = None, *, resume: bool = True,
                progress: bool = True, noise_choice=None, task_covariate: str | None = None) -> AdaptResult:
    """`probtok adapt`: adapt the micro fit in ``micro_dir`` on runs ``train_runs`` of the meso file ``data``,
    then choose its forecasts' rollout-noise factor kappa on those runs (``noise_choice``, a
    :class:`probtok.rollout_noise.NoiseChoice`; None: the default grid). ``task_covariate``: a run parameter
    of ``data`` for the meso model to observe in place of the micro fit's ``[meso] task_covariate``
    (:func:`meso_spec`; "" for none; None: the micro fit's).

    out_dir gets checkpoint.pt (meso model + the micro normalisation + resume state + kappa) and adapt.json.
    """
    from probtok.covariate import run_covariate
    from probtok.data import open_dataset
    from probtok.data.normalize import Normaliser

    micro_model, micro_guide, ckpt = load_fitted(micro_dir)
    if ckpt["level"] != "micro":
        raise CheckpointError("this is not a micro fit", file=micro_dir, hint="give the output folder of fit-micro")
    if ckpt["normalisation"] is None:
        raise CheckpointError("the micro fit stored no normalisation", file=micro_dir,
                              hint="fit with `probtok fit-micro` on a dataset file")
    spec = meso_spec(micro_model.spec, task_covariate)
    norm = Normaliser.from_dict(ckpt["normalisation"])
    train_runs = [int(r) for r in train_runs]
    if not train_runs:
        raise DataError("no meso training runs given", file=data, hint="e.g. --train-runs 0,1")
    with open_dataset(data) as ds:
        require_fields(ds, spec.fields, data)
        micro_grid = micro_data_grid(ckpt)
        micro_dt = None
        if micro_grid is not None:
            check_compatible(micro_grid, ds, spec.steps_per_frame)
            micro_dt = micro_grid.dt_frame_ns
        x = np.stack([ds.frames(r, spec.fields) for r in train_runs])
        held = [int(r) for r in ds.ok_runs if int(r) not in set(train_runs)]
        u, cov = run_covariate(spec, ds, train_runs, data)
    x = norm.forward(torch.as_tensor(x), field_axis=2)
    x = check_training_tensor(x, spec, source=data)
    meta = {"data": str(data), "train_runs": train_runs, "holdout_runs": held, "fields": list(spec.fields),
            "micro_dt_ns": micro_dt}
    if cov is not None:
        meta["task_covariate"] = cov.to_dict()
    micro = (micro_model, micro_guide, ckpt["normalisation"], fit_start_frame(ckpt))
    res = adapt(micro, x, cfg, out_dir=out_dir, resume=resume,
                progress=progress, meta={**meta, "micro_dir": str(micro_dir)}, u=u, task_covariate=task_covariate)
    res.meta["rollout_noise"] = record_rollout_noise(out_dir, data, train_runs, noise_choice, progress=progress,
                                                     summary="adapt.json")
    return res


def micro_data_grid(ckpt):
    """dx_um, dt_frame_ns, fields, units, path of the micro training data (a namespace), or None.

    Read from the checkpoint (fits since the grid was recorded there), else from the micro file
    when it is still where the fit recorded it.
    """
    from types import SimpleNamespace

    from probtok.data import open_dataset

    meta = ckpt["meta"]
    if "dx_um" in meta and "dt_frame_ns" in meta:
        return SimpleNamespace(dx_um=float(meta["dx_um"]), dt_frame_ns=float(meta["dt_frame_ns"]),
                               fields=list(meta.get("fields", [])), units=dict(meta.get("units", {})),
                               path=meta.get("data", "micro fit"))
    src = meta.get("data")
    if not src or not Path(src).is_file():
        return None
    try:
        with open_dataset(src) as ds:
            return SimpleNamespace(dx_um=float(ds.dx_um), dt_frame_ns=float(ds.dt_frame_ns),
                                   fields=list(ds.fields), units=dict(ds.units), path=src)
    except ProbtokError:
        return None
