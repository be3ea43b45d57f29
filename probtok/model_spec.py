"""Named model specifications (models/*.toml): architecture, priors, meso hooks, fit settings.

A config file has five tables: ``[card]`` (free text for humans),
``[model]`` + ``[priors]`` + ``[meso]`` (the architecture: a checkpoint is only
valid for the same values, checked by :func:`spec_hash`), ``[fit]`` (how to
fit it) and ``[adapt]`` (optional: the defaults of ``probtok adapt`` for fits of
this config, e.g. ``theta = "prior"`` where that was measured to work better;
the command's options override them). Unknown keys and wrong types are refused
with a ConfigError.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from probtok.errors import ConfigError

#: Modes of the micro-level globals theta in a meso adaptation (probtok.adapt.AdaptConfig.theta).
THETA_MODES = ("frozen", "prior")
#: Keys of the optional [adapt] table: adaptation defaults a config carries to its fits (only theta so far: the
#: one adaptation setting measured to depend on the config, docs/bench-2026-11-28-theta).
ADAPT_KEYS = ("theta",)

#: The shipped model configs (``models/`` beside the package in a source checkout).
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class ModelSpec:
    """Architecture and priors of the token model (all noise scales in normalised field units)."""

    fields: tuple[str, ...] = ("T", "P", "mu")
    token_size: int = 4  # s: one token per s x s patch [cells]
    token_dim: int = 8  # d: channels per token
    mixture_components: int = 8  # K: Gaussians in the token vocabulary
    encoder_width: int = 32
    decoder_width: int = 32
    drift_width: int = 32
    drift: str = "conv"  # "conv" | "linear"
    # rest-centred tokens: the rest state of the material (x_rest, per field, from the data) is token 0,
    # Enc(x_rest) = 0, Dec(0) = x_rest, and 0 is a fixed point of the drift and the coupling, so material
    # the shock has not reached stays exactly at rest in a free rollout (see probtok.model)
    rest_anchor: bool = False
    # uniform-state anchoring: every spatially uniform token grid is a fixed point of the drift and of the
    # meso coupling (they act through differences between neighbouring tokens only; needs drift = "conv"),
    # so a uniform shocked region keeps its state in a free rollout (see probtok.model.TransitionDrift).
    # Off: on the default meso data (K = 4, README) it kept the micro-only shocked bulk for 12 frames and
    # the from-scratch model stable, but made the adapted forecasts worse on every hot-spot score
    uniform_anchor: bool = False
    decoder: str = "conv"  # "conv" | "linear" | "pixel_shuffle"
    # fields normalised as ln x (probtok.data.normalize), e.g. ("T",): the likelihood then weighs a given
    # relative error of T the same in the bulk (300-700 K) and in hot spots (thousands of K).
    # Off: on the default meso data (K = 4, README) the micro tokens' rollouts grew without bound past the
    # micro runs' 23 frames (exp turns a linear drift of ln T into exponential growth of T): micro only
    # reached 8e11 K by frame 35 and the adapted forecasts overflowed; from scratch had too wide intervals
    # (50 % coverage 0.90) and a T_hs error of 695 K
    log_fields: tuple[str, ...] = ()
    encoder_conditional: bool = True  # q(z_t | x_t, z_{t-1}) instead of q(z_t | x_t)
    # priors
    sigma_x_median: float = 0.02  # prior median of the per-field observation noise
    sigma_x_log_sd: float = 1.0  # prior sd of log sigma_x
    sigma_z_init: float = 0.1  # initial transition noise scale
    # meso-level hooks (used when level == "meso")
    task_dim: int = 2  # dim of c[n]
    coupling_width: int = 16
    coupling_dilations: tuple[int, ...] = (1, 2, 4)
    phi_prior_scale: float = 0.1  # prior sd of the coupling weights phi (centred on 0 = no correction)
    steps_per_frame: int = 1  # r: micro transition steps per observed frame
    # a known run parameter of the meso file (e.g. "up_kms", the piston velocity) observed through the
    # first task latent: u[n] ~ Normal(c[n, 0], task_covariate_noise), u standardised over the file's
    # runs (probtok.covariate). "" = none. A new run's c is then drawn from p(c | its u), not the prior
    task_covariate: str = ""
    task_covariate_noise: float = 0.1  # sd of that observation, standardised units

    @property
    def n_fields(self) -> int:
        return len(self.fields)


@dataclass(frozen=True)
class FitConfig:
    """SVI settings. The rollout horizon grows linearly (curriculum) from start to end over ramp_fraction of the steps."""

    steps: int = 3000
    batch_runs: int = 8  # runs per minibatch (pyro.plate subsampling)
    window_frames: int = 0  # frames per minibatch window; 0 = whole runs
    # frames before this one are left out of the fit. 1 for simulated runs: frame 0 is the unshocked
    # state, the same for every piston velocity, so its transition to frame 1 (the shock entering) is
    # unpredictable from it, and fitting it teaches the drift to push ALL rest material towards the
    # shocked state (measured: in free rollouts the pressure rose everywhere ahead of the shock)
    start_frame: int = 0
    learning_rate: float = 3e-3
    final_lr_factor: float = 0.1  # lr decays geometrically to this factor at the last step
    clip_norm: float = 10.0  # per-parameter gradient clipping (ClippedAdam)
    elbo: str = "Trace_ELBO"  # "Trace_ELBO" | "TraceMeanField_ELBO" (the latter only with encoder_conditional = false)
    num_particles: int = 1
    rollout_weight: float = 1.0  # weight of the auxiliary free-rollout log-likelihood
    rollout_horizon_start: int = 2
    rollout_horizon_end: int = 20
    rollout_ramp_fraction: float = 0.6
    checkpoint_every: int = 200
    seed: int = 0


_SPEC_TABLES = ("model", "priors", "meso")
_SPEC_KEYS = {
    "model": ("fields", "token_size", "token_dim", "mixture_components", "encoder_width", "decoder_width",
              "drift_width", "drift", "rest_anchor", "uniform_anchor", "decoder", "log_fields",
              "encoder_conditional"),
    "priors": ("sigma_x_median", "sigma_x_log_sd", "sigma_z_init"),
    "meso": ("task_dim", "coupling_width", "coupling_dilations", "phi_prior_scale", "steps_per_frame",
             "task_covariate", "task_covariate_noise"),
}


def _coerce(cls, name: str, value, where: str):
    """Check ``value`` against the type of dataclass field ``name``; lists become tuples."""
    default = {f.name: f for f in dataclasses.fields(cls)}[name].default
    if isinstance(default, tuple):
        item = type(default[0]) if default else str
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, item) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{name} = {value!r} must be a list of {item.__name__}", file=where,
                              hint=f"e.g. {name} = {list(default)}")
        return tuple(value)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"{name} = {value!r} has the wrong type", file=where,
                          hint=f"expected {type(default).__name__}, e.g. {name} = {default!r}")
    return value


def validate_spec(spec: ModelSpec, where) -> None:
    checks = [
        (spec.token_size >= 1, "token_size must be >= 1"),
        (spec.token_dim >= 1, "token_dim must be >= 1"),
        (spec.mixture_components >= 1, "mixture_components must be >= 1"),
        (spec.drift in ("conv", "linear"), "drift must be 'conv' or 'linear'"),
        (not spec.uniform_anchor or spec.drift == "conv",
         "uniform_anchor needs drift = 'conv' (a per-token linear drift would be identically zero)"),
        (spec.decoder in ("conv", "linear", "pixel_shuffle"), "decoder must be 'conv', 'linear' or 'pixel_shuffle'"),
        (spec.decoder != "pixel_shuffle" or spec.token_dim == spec.n_fields * spec.token_size**2,
         "decoder 'pixel_shuffle' needs token_dim = len(fields) * token_size^2"),
        (spec.sigma_x_median > 0 and spec.sigma_x_log_sd > 0 and spec.sigma_z_init > 0, "noise scales must be > 0"),
        (spec.phi_prior_scale > 0, "phi_prior_scale must be > 0"),
        (spec.steps_per_frame >= 1, "steps_per_frame must be >= 1"),
        (not spec.task_covariate or spec.task_dim >= 1, "task_covariate needs task_dim >= 1 (it observes c[n, 0])"),
        (spec.task_covariate_noise > 0, "task_covariate_noise must be > 0"),
        (len(spec.fields) >= 1 and len(set(spec.fields)) == len(spec.fields) and all(spec.fields),
         "fields must be distinct non-empty names"),
        (all(f in spec.fields for f in spec.log_fields) and len(set(spec.log_fields)) == len(spec.log_fields),
         f"log_fields {list(spec.log_fields)} must be distinct names among fields {list(spec.fields)}"),
        (all(d >= 1 for d in spec.coupling_dilations), "coupling_dilations must be >= 1"),
        (spec.task_dim >= 0 and spec.coupling_width >= 1, "task_dim must be >= 0 and coupling_width >= 1"),
        (min(spec.encoder_width, spec.decoder_width, spec.drift_width) >= 1, "network widths must be >= 1"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg, file=where, hint="fix the [model]/[priors]/[meso] table")


def _validate_fit(cfg: FitConfig, where) -> None:
    checks = [
        (cfg.steps >= 0, "steps must be >= 0"),
        (cfg.batch_runs >= 1, "batch_runs must be >= 1"),
        (cfg.window_frames == 0 or cfg.window_frames >= 2, "window_frames must be 0 (whole runs) or >= 2"),
        (cfg.start_frame >= 0, "start_frame must be >= 0"),
        (cfg.learning_rate > 0 and 0 < cfg.final_lr_factor <= 1, "learning_rate > 0 and 0 < final_lr_factor <= 1"),
        (cfg.clip_norm > 0, "clip_norm must be > 0"),
        (cfg.elbo in ("Trace_ELBO", "TraceMeanField_ELBO"), "elbo must be Trace_ELBO or TraceMeanField_ELBO"),
        (cfg.num_particles >= 1, "num_particles must be >= 1"),
        (cfg.rollout_weight >= 0, "rollout_weight must be >= 0"),
        (0 <= cfg.rollout_horizon_start <= cfg.rollout_horizon_end, "0 <= rollout_horizon_start <= rollout_horizon_end"),
        (0 < cfg.rollout_ramp_fraction <= 1, "0 < rollout_ramp_fraction <= 1"),
        (cfg.checkpoint_every >= 1, "checkpoint_every must be >= 1"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg, file=where, hint="fix the [fit] table")


def spec_from_dict(tables: dict, where="<config>") -> ModelSpec:
    """Build a ModelSpec from the [model], [priors], [meso] tables (missing keys take defaults)."""
    kwargs = {}
    for table in _SPEC_TABLES:
        values = tables.get(table, {})
        if not isinstance(values, dict):
            raise ConfigError(f"[{table}] must be a table", file=where)
        for key, value in values.items():
            if key not in _SPEC_KEYS[table]:
                raise ConfigError(f"unknown key {key!r} in [{table}]", file=where,
                                  hint=f"known keys: {', '.join(_SPEC_KEYS[table])}")
            kwargs[key] = _coerce(ModelSpec, key, value, where)
    spec = ModelSpec(**kwargs)
    validate_spec(spec, where)
    return spec


def fit_config_from_dict(values: dict, where="<config>") -> FitConfig:
    """Build a FitConfig from the [fit] table."""
    known = [f.name for f in dataclasses.fields(FitConfig)]
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown key {key!r} in [fit]", file=where, hint=f"known keys: {', '.join(known)}")
        kwargs[key] = _coerce(FitConfig, key, value, where)
    cfg = FitConfig(**kwargs)
    _validate_fit(cfg, where)
    return cfg


@dataclass(frozen=True)
class ModelConfig:
    """A parsed models/*.toml: the spec, the fit settings and the model card."""

    spec: ModelSpec
    fit: FitConfig
    card: dict = field(default_factory=dict)
    name: str = ""
    adapt: dict = field(default_factory=dict)  # [adapt]: defaults of `probtok adapt` for fits of this config

    @property
    def theta(self) -> str:
        """The adaptation's micro-globals mode for fits of this config: [adapt] theta, else "frozen"."""
        return self.adapt.get("theta", "frozen")


def adapt_defaults_from_dict(values, where="<config>") -> dict:
    """Check the optional [adapt] table: known keys (:data:`ADAPT_KEYS`), theta one of :data:`THETA_MODES`."""
    if not isinstance(values, dict):
        raise ConfigError("[adapt] must be a table", file=where, hint="write it as an [adapt] section")
    for key, value in values.items():
        if key not in ADAPT_KEYS:
            raise ConfigError(f"unknown key {key!r} in [adapt]", file=where, hint=f"known keys: {', '.join(ADAPT_KEYS)}")
        if key == "theta" and value not in THETA_MODES:
            raise ConfigError(f"theta = {value!r} in [adapt] must be one of {', '.join(THETA_MODES)}", file=where,
                              hint='e.g. theta = "prior"')
    return dict(values)


def load_config(path) -> ModelConfig:
    """Read and validate a model config TOML file."""
    path = Path(path)
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        shipped = sorted(q.stem for q in MODELS_DIR.glob("*.toml"))
        raise ConfigError("config file not found", file=path,
                          hint=f"shipped configs (models/): {', '.join(shipped) or 'none'}") from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", file=path, hint="give a models/*.toml file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not a UTF-8 text file ({exc.reason} at byte {exc.start})", file=path,
                          hint="a config is a TOML text file, e.g. models/tiny.toml") from None
    except OSError as exc:
        raise ConfigError(f"cannot be read ({exc.strerror or exc})", file=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", file=path) from None
    unknown = set(tables) - {"card", "fit", "adapt", *_SPEC_TABLES}
    if unknown:
        raise ConfigError(f"unknown table(s) {sorted(unknown)}", file=path,
                          hint="allowed tables: [card], [model], [priors], [meso], [fit], [adapt]")
    for table in ("card", "fit"):
        if not isinstance(tables.get(table, {}), dict):
            raise ConfigError(f"[{table}] must be a table", file=path, hint=f"write it as a [{table}] section")
    spec = spec_from_dict(tables, where=path)
    fit = fit_config_from_dict(tables.get("fit", {}), where=path)
    adapt = adapt_defaults_from_dict(tables.get("adapt", {}), where=path)
    return ModelConfig(spec=spec, fit=fit, card=dict(tables.get("card", {})), name=path.stem, adapt=adapt)


def spec_to_dict(spec: ModelSpec) -> dict:
    """Plain JSON-able dict of the spec (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(spec).items()}


def spec_from_plain(d: dict) -> ModelSpec:
    """Inverse of :func:`spec_to_dict`."""
    return ModelSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


#: Keys added after checkpoints were written: left out of the hash at their default, so those still load.
_HASH_OMIT_AT_DEFAULT = {"rest_anchor": False, "uniform_anchor": False, "log_fields": [], "task_covariate": "",
                         "task_covariate_noise": 0.1}


def spec_hash(spec: ModelSpec) -> str:
    """Short stable hash of the architecture and priors (a checkpoint fits only the same hash)."""
    d = {k: v for k, v in spec_to_dict(spec).items() if _HASH_OMIT_AT_DEFAULT.get(k, object()) != v}
    blob = json.dumps(d, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
