"""A known run parameter as an observation of the task latent (``[meso] task_covariate``).

The meso model's task latent ``c[n] ~ Normal(0, I)`` says how run n departs from micro physics, but
nothing in the frames a forecast is given tells it apart: frame 0 is the unshocked state, the same for
every piston velocity, and one shocked frame carries no transition. The shock-physics user knows the
set-up of every run, though. With ``task_covariate = "up_kms"`` the model observes it:

    u[n] = (p[n] - loc) / scale               the run parameter p, standardised (dimensionless)
    u[n] ~ Normal(c[n, 0], s_u)               s_u = spec.task_covariate_noise

so training runs tie ``c[n, 0]`` to their parameter, and a new run's ``c`` is drawn from the exact
conditional p(c | u) (:func:`task_given_covariate`) instead of the prior. ``loc`` and ``scale`` are the
mean and standard deviation of p over the ok runs of the meso file the model is fitted on: run
parameters are the campaign's inputs, not outcomes, so the held-out runs' values may enter them.
They are stored with the fit (checkpoint meta ``task_covariate``) and reused for every forecast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from probtok.errors import ConfigError, DataError


@dataclass(frozen=True)
class TaskCovariate:
    """How a run parameter ``name`` is standardised: u = (p - loc) / scale (loc, scale in p's units)."""

    name: str
    loc: float
    scale: float

    def standardise(self, values) -> torch.Tensor:
        """Parameter values (run,) in their own units -> u (run,), float32."""
        return (torch.as_tensor(np.asarray(values, dtype=np.float64)) - self.loc).float() / self.scale

    def to_dict(self) -> dict:
        return {"name": self.name, "loc": self.loc, "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> "TaskCovariate":
        return cls(str(d["name"]), float(d["loc"]), float(d["scale"]))


def parameter_values(ds, name: str, runs, path, role: str = "the model's [meso] task_covariate") -> np.ndarray:
    """The float values of run parameter ``name`` for ``runs`` of an open dataset, or a DataError; ``role``:
    what asked for it, for the messages."""
    col = ds.param(name, role)
    try:
        values = col[np.asarray(runs, dtype=int)].astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"run parameter {name!r} is not a number", file=path,
                        hint=f"{role} needs a numeric run parameter such as up_kms") from None
    bad = [int(r) for r, v in zip(runs, values) if not math.isfinite(v)]
    if bad:
        raise DataError(f"run parameter {name!r} is not finite for runs {bad}", file=path)
    return values


def standardisation(ds, name: str, path) -> TaskCovariate:
    """Mean and sd of parameter ``name`` over the ok runs of an open dataset (scale 1 if they all agree)."""
    values = parameter_values(ds, name, ds.ok_runs, path)
    sd = float(values.std())
    return TaskCovariate(name, float(values.mean()), sd if sd > 0 else 1.0)


def first_task_given_covariate(u, noise: float):
    """(mean, sd) of p(c_0 | u) under c_0 ~ Normal(0, 1), u ~ Normal(c_0, s), s = noise (conjugate):
    Normal(u / (1 + s^2), s / sqrt(1 + s^2)). ``u``: a number or a tensor."""
    return u / (1.0 + noise**2), noise / math.sqrt(1.0 + noise**2)


def task_given_covariate(u: float, noise: float, task_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(loc, scale), each (task_dim,), of p(c | u) under c ~ Normal(0, I), u ~ Normal(c_0, noise): c_0 from
    :func:`first_task_given_covariate`, the other components keep their prior Normal(0, 1)."""
    loc = torch.zeros(task_dim)
    scale = torch.ones(task_dim)
    loc[0], scale[0] = first_task_given_covariate(float(u), noise)
    return loc, scale


def check_covariate(spec, u, n_runs: int):
    """``u`` as a float tensor (n_runs,) for a spec with a task covariate (None without), or a ConfigError."""
    if not spec.task_covariate:
        if u is not None:
            raise ConfigError("task covariate values given, but the model has no [meso] task_covariate",
                              hint="set task_covariate in the model config, or do not pass u")
        return None
    if u is None:
        raise ConfigError(f"the model observes the run parameter {spec.task_covariate!r} ([meso] task_covariate): "
                          "its values are needed", hint="adapt from a dataset file (adapt_files) or pass u")
    u = torch.as_tensor(u, dtype=torch.float32)
    if u.shape != (n_runs,):
        raise ConfigError(f"task covariate values must be {n_runs} numbers (one per run), got shape {tuple(u.shape)}")
    if not torch.isfinite(u).all():
        bad = torch.nonzero(~torch.isfinite(u)).flatten().tolist()
        raise ConfigError(f"task covariate values must be finite (not at runs {bad} of the {n_runs})")
    return u


def start_task_latents(guide, spec, u) -> None:
    """With a task covariate, start every q(c[n, 0]) at the mean of p(c[n, 0] | u[n]) (in place): with the
    few steps of a few-shot fit the task latents barely move from where they start."""
    if u is None:
        return
    with torch.no_grad():
        guide.c_loc[:, 0] = first_task_given_covariate(u, spec.task_covariate_noise)[0]


def run_covariate(spec, ds, runs, path, covariate: TaskCovariate | None = None):
    """(u (run,), the standardisation) of ``runs`` of an open dataset ``ds`` (read from ``path``, named in
    errors) for a model with a ``task_covariate``; (None, None) for one without. ``covariate``: a stored
    standardisation (a fitted model's); None: computed from the file."""
    if not spec.task_covariate:
        return None, None
    cov = covariate or standardisation(ds, spec.task_covariate, path)
    return cov.standardise(parameter_values(ds, cov.name, runs, path)), cov
