"""PARC-style recurrent CNN baseline (deterministic), after Nguyen et al.

References: Nguyen et al., "PARC: Physics-aware recurrent convolutional neural
networks to assimilate meso-scale reactive mechanics of energetic materials",
Sci. Adv. 9 (2023); Nguyen et al., "PARCv2: Physics-aware recurrent
convolutional neural networks for spatiotemporal dynamics modeling", ICML 2024.

What the model computes (PARCv2's differentiator-integrator form). The
evolving variables are ``z = [x, w]``: the state fields ``x`` (T, P, mu;
``n_state`` channels) and the velocity ``w = (u, v)``. As in PARCv2, the
velocity is a state variable too (its own advection-reaction equation),
so a rollout needs only the first frame::

    dz_c/dtau = - a_c(f) (w_adv . grad) z_c  +  k_c(f) lap z_c  +  R_c(f, adv, lap)
    f = UNet(z)                         (feature extraction)
    w_adv = s * w + o                   (advecting velocity, cells per time unit)

* ``a_c`` and ``0 <= k_c <= 0.3 * substeps`` (sigmoid; the RK4 stability
  bound of the explicit Laplacian) are learned coefficient *fields* read from
  the U-Net features; ``R_c`` is the reaction (source) term, a pointwise
  "mapping and reconstruction" network on the features and the explicit
  advection/diffusion terms of every channel (PARCv2 uses a SPADE block for
  this mixing; a 1x1 residual MLP is the cheaper equivalent used here).
* ``s``, ``o`` are learned per-component scalars: the inputs are normalised
  by the caller, so the advecting velocity is an affine map of the input.
* The explicit terms use fixed stencils (:mod:`probtok.baselines.stencils`).
* ``tau = t / time_scale``: the networks work in units of ``time_scale``
  (set to the training frame interval), so their outputs are O(1).
* Integrator: classical RK4 over each frame interval (``substeps`` steps),
  optionally followed by a data-driven correction (PARCv2's hybrid
  integrator): ``z_next = z + dz_rk4 + C([z, dz_rk4])``, with ``C`` a small
  CNN whose last layer starts at zero. PARCv2 trains the differentiator
  first and the correction second; :func:`probtok.baselines.train_parc` does
  the same.

Not probabilistic: one deterministic forecast per initial frame.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from probtok.atomic import atomic_path
from probtok.baselines.stencils import ADVECTION_SCHEMES, PADDINGS, laplacian
from probtok.errors import CheckpointError, ConfigError, DataError

CHECKPOINT_FORMAT = "probtok.parc"
CHECKPOINT_VERSION = 1
N_VEL = 2

# Keys of ParcConfig that change the network's parameters or its forward map;
# a checkpoint is refused when any of these differ (training keys may differ).
ARCH_KEYS = (
    "n_state",
    "unet_widths",
    "mar_hidden",
    "padding",
    "advection",
    "substeps",
    "integrator_correction",
    "correction_width",
    "clip",
    "time_scale",
)


@dataclass
class ParcConfig:
    """Architecture and training budget of the PARC baseline.

    Architecture
    ------------
    n_state : number of state channels (3 for T, P, mu).
    unet_widths : channels per U-Net level, finest first; the U-Net
        downsamples by 2 between levels (any H, W is accepted).
    mar_hidden : width of the pointwise reaction ("mapping and reconstruction") net.
    padding : boundary condition of every stencil and convolution,
        ``"replicate"`` (zero gradient), ``"circular"`` (periodic), ``"reflect"``.
    advection : ``"central"`` (second order, the default) or ``"upwind"``
        (first order, monotone). Upwinding adds a numerical diffusion of about
        |c|/2 cell^2 per step (c: Courant number); on smooth data the network
        then learns anti-diffusion in the reaction term, which made long
        rollouts blow up in our tests, so use it only for shock-dominated fields.
    substeps : RK4 steps per frame interval; raise it when the Courant number
        per frame (|u| dt / dx) exceeds about 1.
    integrator_correction : add PARCv2's data-driven integrator correction.
    correction_width : hidden channels of that correction CNN.
    clip : (lo, hi) bounds for the normalised state after each frame, or None.
    time_scale : time unit of the internal derivative (same unit as ``dt``);
        ``train_parc`` sets it to the training frame interval when it is None.

    Training
    --------
    lr, weight_decay : AdamW.
    batch_size : windows per optimiser step; an epoch visits every training
        run once, from a random start frame.
    horizon_start, horizon_max, horizon_grow_every : rollout-length curriculum
        (frames predicted per window), +1 every ``horizon_grow_every`` epochs.
    val_horizon : frames of the validation rollout from frame 0 (None: horizon_max).
    max_epochs, max_time_s : hard budget per training stage.
    patience : stop when the validation loss has not improved by
        ``min_rel_improvement`` (relative) for this many epochs at the full horizon.
    lr_patience, lr_factor : halve-on-plateau learning-rate schedule.
    grad_clip : max global gradient norm.
    grad_checkpoint : recompute each frame's RK4 stages in the backward pass
        (peak memory of a 128x192, batch 4, horizon 6 step: about 6.5 GB without,
        a fraction of that with; about 1.3x the time).
    correction_epochs_frac : fraction of ``max_epochs`` for the correction stage.
    """

    n_state: int = 3
    unet_widths: tuple[int, ...] = (16, 32, 48)
    mar_hidden: int = 32
    padding: str = "replicate"
    advection: str = "central"
    substeps: int = 1
    integrator_correction: bool = False
    correction_width: int = 16
    clip: tuple[float, float] | None = None
    time_scale: float | None = None
    # training
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 4
    horizon_start: int = 1
    horizon_max: int = 6
    horizon_grow_every: int = 3
    val_horizon: int | None = None
    max_epochs: int = 60
    max_time_s: float = 1200.0
    patience: int = 8
    min_rel_improvement: float = 1e-3
    lr_patience: int = 3
    lr_factor: float = 0.5
    grad_clip: float = 1.0
    grad_checkpoint: bool = True
    correction_epochs_frac: float = 0.3

    def __post_init__(self):
        self.unet_widths = tuple(int(w) for w in self.unet_widths)
        if self.clip is not None:
            self.clip = (float(self.clip[0]), float(self.clip[1]))
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError on a bad value (what and how to fix it)."""

        def bad(name, problem, hint):
            raise ConfigError(f"ParcConfig.{name}: {problem}", hint=hint)

        if self.n_state < 1:
            bad("n_state", f"must be >= 1, got {self.n_state}", "3 for (T, P, mu)")
        if not self.unet_widths or min(self.unet_widths) < 1:
            bad("unet_widths", f"needs positive channel counts, got {self.unet_widths}", "e.g. (16, 32, 48)")
        if self.padding not in PADDINGS:
            bad("padding", f"unknown boundary {self.padding!r}", f"one of {PADDINGS}")
        if self.advection not in ADVECTION_SCHEMES:
            bad("advection", f"unknown scheme {self.advection!r}", f"one of {tuple(ADVECTION_SCHEMES)}")
        for name in ("substeps", "mar_hidden", "correction_width", "batch_size", "horizon_start",
                     "horizon_max", "horizon_grow_every", "max_epochs", "patience", "lr_patience"):
            if int(getattr(self, name)) < 1:
                bad(name, f"must be >= 1, got {getattr(self, name)}", "use a positive integer")
        if self.horizon_start > self.horizon_max:
            bad("horizon_start", f"{self.horizon_start} > horizon_max {self.horizon_max}", "start at 1")
        if self.val_horizon is not None and self.val_horizon < 1:
            bad("val_horizon", f"must be >= 1 or None, got {self.val_horizon}", "None uses horizon_max")
        if self.time_scale is not None and not (self.time_scale > 0 and math.isfinite(self.time_scale)):
            bad("time_scale", f"must be positive, got {self.time_scale}", "the frame interval, e.g. in ns")
        if self.clip is not None and not self.clip[0] < self.clip[1]:
            bad("clip", f"needs lo < hi, got {self.clip}", "e.g. (0.0, 1.0) or None")
        if not (self.lr > 0 and self.max_time_s > 0 and self.grad_clip > 0 and 0 < self.lr_factor < 1):
            bad("lr", "lr, max_time_s, grad_clip must be > 0 and lr_factor in (0, 1)", "check the training keys")
        if not 0 <= self.correction_epochs_frac <= 1:
            bad("correction_epochs_frac", f"must be in [0, 1], got {self.correction_epochs_frac}", "e.g. 0.3")

    def to_dict(self) -> dict:
        """Plain dict of JSON/torch-safe values (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["unet_widths"] = list(self.unet_widths)
        d["clip"] = None if self.clip is None else list(self.clip)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ParcConfig":
        """Build from a dict; unknown keys raise ConfigError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown ParcConfig keys {unknown}", hint=f"known keys: {sorted(known)}")
        return cls(**d)

    def arch(self) -> dict:
        """The architecture part of the config (what a checkpoint must match)."""
        d = self.to_dict()
        return {k: d[k] for k in ARCH_KEYS}


def _conv(cin: int, cout: int, padding: str, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode="zeros" if k == 1 else padding)


class _Block(nn.Module):
    """Two 3x3 convolutions with LeakyReLU (one U-Net level)."""

    def __init__(self, cin: int, cout: int, padding: str):
        super().__init__()
        self.net = nn.Sequential(
            _conv(cin, cout, padding), nn.LeakyReLU(0.2), _conv(cout, cout, padding), nn.LeakyReLU(0.2)
        )

    def forward(self, x):
        return self.net(x)


class UNet(nn.Module):
    """Feature extractor: (B, cin, H, W) -> (B, widths[0], H, W).

    Average-pool down, nearest-neighbour up to the exact skip size (so odd H, W work).
    """

    def __init__(self, cin: int, widths: tuple[int, ...], padding: str):
        super().__init__()
        self.down = nn.ModuleList()
        c = cin
        for w in widths:
            self.down.append(_Block(c, w, padding))
            c = w
        self.up = nn.ModuleList(
            _Block(widths[i + 1] + widths[i], widths[i], padding) for i in reversed(range(len(widths) - 1))
        )

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = F.avg_pool2d(x, 2, ceil_mode=True)
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        return x


class Differentiator(nn.Module):
    """d z / d tau for z = [state, velocity] (B, n_state + 2, H, W), tau in units of time_scale."""

    def __init__(self, cfg: ParcConfig):
        super().__init__()
        n = cfg.n_state + N_VEL
        nf = cfg.unet_widths[0]
        self.padding = cfg.padding
        # explicit RK4 on the 5-point Laplacian is stable for k * h <= 0.348 (h: step in time units);
        # bounding k below that keeps every learned diffusion stable instead of blowing up rollouts
        self.k_max = 0.3 * cfg.substeps
        self.advect = ADVECTION_SCHEMES[cfg.advection]
        self.features = UNet(n, cfg.unet_widths, cfg.padding)
        # coefficient fields a_c (advection) and k_c (diffusion), one per channel
        self.coef = nn.Conv2d(nf, 2 * n, 1)
        # reaction: pointwise MLP on [features, adv, lap] (mapping and reconstruction)
        self.mar_in = nn.Conv2d(nf + 2 * n, cfg.mar_hidden, 1)
        self.mar_mid = nn.Conv2d(cfg.mar_hidden, cfg.mar_hidden, 1)
        self.mar_out = nn.Conv2d(cfg.mar_hidden, n, 1)
        # advecting velocity = scale * w + offset, per component (cells per time unit)
        self.vel_scale = nn.Parameter(torch.ones(N_VEL))
        self.vel_offset = nn.Parameter(torch.zeros(N_VEL))
        # start as "nothing changes" (persistence) so early rollouts are stable
        for m in (self.coef, self.mar_out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.coef.bias[n:] = -4.0  # k = k_max * sigmoid(-4) ~ 0.005 cell^2 per time unit

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[1]
        f = self.features(z)
        coef = self.coef(f)
        a, k = coef[:, :n], self.k_max * torch.sigmoid(coef[:, n:])
        w = z[:, -N_VEL:] * self.vel_scale.view(1, -1, 1, 1) + self.vel_offset.view(1, -1, 1, 1)
        # per-channel effective velocity a_c * w: the upwind side follows its sign
        adv = self.advect(z, a * w[:, 0:1], a * w[:, 1:2], self.padding)
        lap = laplacian(z, self.padding)
        h = F.leaky_relu(self.mar_in(torch.cat([f, adv, lap], dim=1)), 0.2)
        h = h + F.leaky_relu(self.mar_mid(h), 0.2)
        react = self.mar_out(h)
        return -adv + k * lap + react


class IntegratorCorrection(nn.Module):
    """Data-driven correction of one RK4 frame update: (z, dz) -> extra dz (starts at zero)."""

    def __init__(self, n: int, width: int, padding: str):
        super().__init__()
        self.net = nn.Sequential(
            _conv(2 * n, width, padding), nn.LeakyReLU(0.2), _conv(width, width, padding), nn.LeakyReLU(0.2),
            _conv(width, n, padding),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, z, dz):
        return self.net(torch.cat([z, dz], dim=1))


def rk4_step(f, z: torch.Tensor, h: float) -> torch.Tensor:
    """One classical Runge-Kutta-4 step of dz/dtau = f(z) with step h (tau units). Returns the increment."""
    k1 = f(z)
    k2 = f(z + 0.5 * h * k1)
    k3 = f(z + 0.5 * h * k2)
    k4 = f(z + h * k3)
    return (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


class PARC(nn.Module):
    """PARC-style recurrent CNN: learned advection-diffusion-reaction differentiator + RK4.

    Inputs are normalised fields: state (B, n_state, H, W), velocity (B, 2, H, W)
    with component 0 = u along x (last axis), 1 = v along y. Times (``dt``)
    are in the unit of ``config.time_scale`` (e.g. ns).
    """

    def __init__(self, config: ParcConfig, normaliser=None):
        super().__init__()
        if config.time_scale is None:
            config = dataclasses.replace(config, time_scale=1.0)
        self.config = config
        n = config.n_state + N_VEL
        self.diff = Differentiator(config)
        # the caller's per-field affine map (x_norm = (x - shift) / scale), over [state..., u, v];
        # kept for physical outputs (:meth:`physical`) and saved with the weights
        shift, scale = _shift_scale(normaliser, n)
        self.register_buffer("field_shift", shift)
        self.register_buffer("field_scale", scale)
        with torch.no_grad():
            # advect with a velocity proportional to the physical one: w_adv ~ w_norm + shift / scale
            self.diff.vel_offset.copy_(shift[-N_VEL:] / scale[-N_VEL:])
        self.correction = (
            IntegratorCorrection(n, config.correction_width, config.padding) if config.integrator_correction else None
        )
        # the correction is switched off while the differentiator trains (PARCv2 stage 1)
        self.use_correction = config.integrator_correction

    def _join(self, state, vel):
        if state.ndim != 4 or vel.ndim != 4 or vel.shape[1] != N_VEL or state.shape[1] != self.config.n_state:
            raise DataError(
                f"PARC expects state (B, {self.config.n_state}, H, W) and vel (B, 2, H, W), "
                f"got {tuple(state.shape)} and {tuple(vel.shape)}",
                hint="pass one frame per batch entry; n_state must match the config",
            )
        return torch.cat([state, vel], dim=1)

    def differentiator(self, state: torch.Tensor, vel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Time derivatives (d state/dt, d vel/dt), per unit of time_scale's unit; shapes as the inputs."""
        dz = self.diff(self._join(state, vel)) / self.config.time_scale
        return dz[:, : self.config.n_state], dz[:, self.config.n_state :]

    def physical(self, x: torch.Tensor, vel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised (state, vel) with the field on axis -3 -> physical units of the normaliser."""
        s = self.config.n_state
        sh, sc = self.field_shift.view(-1, 1, 1), self.field_scale.view(-1, 1, 1)
        return x * sc[:s] + sh[:s], vel * sc[s:] + sh[s:]

    def step(self, z: torch.Tensor, dt: float) -> torch.Tensor:
        """Advance joined fields z (B, n_state+2, H, W) by one frame interval dt."""
        h_total = dt / self.config.time_scale
        n_sub = max(1, round(self.config.substeps * h_total))
        h = h_total / n_sub
        dz = torch.zeros_like(z)
        for _ in range(n_sub):
            dz = dz + rk4_step(self.diff, z + dz, h)
        if self.correction is not None and self.use_correction:
            dz = dz + self.correction(z, dz)
        z = z + dz
        if self.config.clip is not None:
            lo, hi = self.config.clip
            s = self.config.n_state
            z = torch.cat([z[:, :s].clamp(lo, hi), z[:, s:]], dim=1)
        return z

    def rollout(
        self, x0: torch.Tensor, vel0: torch.Tensor, n_frames: int, dt: float, checkpoint: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Free-running forecast from one frame.

        x0 : (B, n_state, H, W), vel0 : (B, 2, H, W); n_frames >= 1 frames are
        returned INCLUDING the initial one, so output frame k is time k*dt and
        lines up with data frame k when x0 is data frame 0.
        Returns (x, vel) of shapes (B, n_frames, n_state, H, W), (B, n_frames, 2, H, W).
        ``checkpoint``: when gradients are on, keep only frame states and
        recompute each frame's RK4 stages in the backward pass (memory / ~1.3x time).
        """
        if n_frames < 1:
            raise ConfigError(f"rollout needs n_frames >= 1, got {n_frames}", hint="count includes frame 0")
        z = self._join(x0, vel0)
        frames = [z]
        recompute = checkpoint and torch.is_grad_enabled()
        for _ in range(n_frames - 1):
            if recompute:
                z = torch.utils.checkpoint.checkpoint(self.step, z, dt, use_reentrant=False)
            else:
                z = self.step(z, dt)
            frames.append(z)
        zs = torch.stack(frames, dim=1)
        s = self.config.n_state
        return zs[:, :, :s], zs[:, :, s:]


def _shift_scale(normaliser, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift, scale) float32 tensors of length n from a normaliser-like object, a dict, or None (identity).

    Accepts anything with ``shift`` and ``scale`` (e.g. probtok.data.normalize.Normaliser,
    restricted to the state fields then u, v) or a dict with those keys.
    """
    if normaliser is None:
        return torch.zeros(n), torch.ones(n)
    get = normaliser.get if isinstance(normaliser, dict) else lambda k: getattr(normaliser, k, None)
    shift, scale = get("shift"), get("scale")
    if shift is None or scale is None:
        raise ConfigError("the normaliser has no shift/scale", hint="pass a probtok Normaliser or {'shift', 'scale'}")
    shift = torch.as_tensor(shift, dtype=torch.float32).flatten()
    scale = torch.as_tensor(scale, dtype=torch.float32).flatten()
    if shift.numel() != n or scale.numel() != n:
        raise ConfigError(
            f"the normaliser has {shift.numel()} fields, PARC needs {n} (state fields, then u, v)",
            hint="use Normaliser.subset([...state fields..., 'u', 'v'])",
        )
    if not bool(torch.isfinite(shift).all() and torch.isfinite(scale).all() and (scale > 0).all()):
        raise ConfigError("the normaliser has a non-finite shift or a non-positive scale", hint="recompute it")
    return shift, scale


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_parc(model: PARC, path, history: dict | None = None) -> Path:
    """Write model weights + config (+ optional JSON-safe history) atomically with torch.save."""
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": history,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_parc(path, config: ParcConfig | None = None, *, return_history: bool = False):
    """Load a PARC checkpoint (torch.load with weights_only=True): the model, or (model, history dict)
    with ``return_history`` (the history given to :func:`save_parc`, {} when none).

    If ``config`` is given, its architecture keys must equal the saved ones,
    else CheckpointError names the differing keys.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no such checkpoint", file=path, hint="train first: train_parc(...) then save_parc")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - corrupt, truncated or unsafe (pickled objects)
        raise CheckpointError(
            f"unreadable or unsafe checkpoint ({type(exc).__name__})", file=path,
            hint="re-create it with probtok.baselines.save_parc",
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError("not a probtok PARC checkpoint", file=path, hint="pass a file written by save_parc")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint version {payload.get('version')} is not {CHECKPOINT_VERSION}", file=path,
            hint="re-train with this probtok version",
        )
    try:
        saved = ParcConfig.from_dict(payload["config"])
    except ConfigError as exc:
        raise CheckpointError(f"bad config in checkpoint: {exc.problem}", file=path, hint=exc.hint) from exc
    if config is not None:
        a, b = config.arch(), saved.arch()
        differ = [k for k in ARCH_KEYS if a[k] != b[k] and not (k == "time_scale" and a[k] is None)]
        if differ:
            detail = ", ".join(f"{k}: given {a[k]!r} vs saved {b[k]!r}" for k in differ)
            raise CheckpointError(
                f"checkpoint was trained with another PARC config ({detail})", file=path,
                hint="load without a config to use the saved one, or re-train with this config",
            )
    model = PARC(saved)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(f"weights do not fit the saved config ({exc})", file=path,
                              hint="the file is damaged; re-train") from exc
    model.eval()
    return (model, dict(payload.get("history") or {})) if return_history else model
