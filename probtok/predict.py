"""Posterior-predictive forecasts of meso runs (Pyro: the model replayed on its forecast guide), and their calibration.

A forecast of run n from its first m frames (m >= 1; the CLI, the demo and the benchmark use m = 2:
frame 0 of a simulated run is the unshocked initial state, the same for every piston velocity, so
the shock strength, which decides whether hot spots quench or grow, first shows in frame 1):

* globals from the posterior: ``sigma_x ~ q(sigma_x)``, ``phi ~ q(phi)`` (adapted model);
* task latent ``c``: from q(c[n]) when run n was an adaptation run of the model, else
  from q(c | x[s:m]) fitted by a short SVI on the given frames the model describes (from its fit's
  start frame s) when there are at least two (all else fixed; with the run's task covariate u observed
  too when the model has one), else, for a model with a task covariate (:mod:`probtok.covariate`),
  from the exact p(c | u), else (``new_task="prior"``, the
  default) from the prior N(0, I), or (``new_task="training-runs"``) from the training runs' q(c[n]),
  moment-matched: N(mean of their means, their mean variance + the variance of their means).
  The second looks the more consistent: 100 adaptation steps leave every q(c[n]) within |c| < 0.2
  (sd 0.1, where it starts), so the coupling network only ever saw task latents there and prior draws
  (|c| ~ 1) make it extrapolate. Measured on the default benchmark (README,
  benchmarks/compare_forecasts.py), it is worse: with the same fits (adapted and from scratch, K = 8
  and 24) no 90 % coverage rose (7 of 8 fell) and the RMSEs were equal or worse but for 3 K on one
  (adapted K = 8: `A_hs` 59.1 vs 49.6 um^2);
* ``z[0:m]`` from the amortized filter q(z_t | x_t, z_{t-1}); ``z[m:]`` and every ``x_t`` from
  the model (transition with r micro steps per frame, then ``x_t ~ Normal(Dec(z_t), sigma_x)``;
  ``observation_noise=False`` returns the decoder means ``Dec(z_t)`` instead);
* the free rollout's transition noise is the model's times ``rollout_noise`` = kappa:
  ``z_t ~ Normal(m_r(z_{t-1}), kappa sqrt(v_r))`` for t >= m. kappa = 1 is the model's own predictive.
  By default (``rollout_noise=None``) a forecast uses the kappa recorded with the fitted model: chosen
  at adaptation on the model's own training runs (:mod:`probtok.rollout_noise`), 1 for a micro fit.

Why one would take kappa < 1. The micro fit learns sigma_z from one-step transitions of filtered
tokens, so it holds the filter's frame-to-frame scatter (tokenization error) as well as any dynamical
noise. Drawn afresh
at every frame of a 35-frame free rollout, that scatter accumulates into a random walk of the tokens,
and the drift and decoder turn it into heat. The adaptation's rollout term fits the MEAN rollout
(:meth:`probtok.model.TokenModel.rollout_log_likelihood`), so nothing in the fit sees it.
Measured with ``benchmarks/rollout_noise.py`` on the default benchmark's K = 4 adapted models (tiny):
* their own adaptation runs: forecast from 2 frames with c from the prior, as for a new run;
* 40 draws;
* the CRPS of `T_hs` / `A_hs` was 554 K / 42 um^2 (subset 0) and 552 K / 9.4 um^2 (subset 1) at
  kappa = 1;
* at kappa = 0.3 it was 417 K / 19 um^2 and 338 K / 3.0 um^2, and at kappa = 0.1 393 K / 17 um^2 and
  328 K / 4.5 um^2;
* the median `A_hs` at the last frame of the six weak runs (Up 1.01-1.29 km/s; at most 1.6 um^2 of hot
  area at the end in the truth): 40-93 um^2 at kappa = 1, 1.9-53 um^2 at 0.3, 0.1-21 um^2 at 0.1;
* 0.1 and 0.3 score about alike (0.1 better on 3 of the 4 CRPS).
On the benchmark's test runs (README, docs/bench-2026-11-27-kappa), kappa = 0.3 lowers the hot-spot-area
error of the adapted models at every K >= 2 (43.0 -> 25.6 um^2 at K = 4) and raises their `T_hs` error
(by 58-175 K). On the demo's small meso runs it makes the micro-only and from-scratch references forecast
almost no hot cell (90 % coverage of `T_hs` 0.97 -> 0.03 for micro only). So no one kappa suits every
model: each fitted model gets its own, chosen by the same rule on its own training runs
(:mod:`probtok.rollout_noise`).

Hot-spot forecasts (:func:`forecast_run`, :func:`forecast_files`, ``probtok forecast``) use the
decoder means by default: sigma_x is iid per cell (model and tokenization error, tens to ~200 K in
T), and iid noise pushes bulk cells near the threshold over it, inventing hot cells that no
physical field has. Measured on the demo (K = 2, 6 held-out meso runs, 200 draws): with decoder
means 90 % coverage of T_hs / A_hs 0.65 / 0.68, CRPS 391 K / 1.00 um^2; with pixel noise 0.49 / 0.57,
427 K / 1.15 um^2.

The draws are a ``pyro.plate("draw")`` (vectorised); the model is replayed on the forecast guide
above and samples everything the guide does not fix (:func:`forecast_trace`: what
``pyro.infer.Predictive`` samples, with one model pass instead of Predictive's three). Draws are decoded to
physical fields (draw, frame, field, y, x) with the micro fit's normaliser and summarised by
:func:`probtok.forecast.summarize_forecast` (hot-spot metrics per draw, quantiles,
exceedance probabilities, field mean/std snapshots).

Forecasts run where the posterior's weights are (``load_posterior(DIR, device)``, ``probtok forecast
--device``): on a CUDA GPU the draws are made 200 at a time and reduced there
(:class:`probtok.forecast.DrawStatistics`); only the hot-spot series and per-frame moments come back to
the host.

Several fitted models forecast together (:func:`forecast_run` given a list, ``probtok forecast --model A
--model B``): an ensemble, whose forecast pools the draws of all (an equal-weight mixture over the fits),
for the uncertainty that one fit leaves out: which micro fit the adaptation stood on.

A micro checkpoint forecasts too: the "micro-only" reference (no meso adaptation), i.e. the meso
model with ``phi = 0`` (micro physics, r micro steps per meso frame, no task latent).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from torch.nn import functional as F

from probtok.covariate import TaskCovariate, run_covariate, start_task_latents, task_given_covariate
from probtok.data.validate import require_fields
from probtok.errors import CheckpointError, ConfigError, DataError, ProbtokError
# kappa, the factor on the free rollout's transition noise (see the module docstring): its default for a model
# that records none, its check, and the value a fit records; ``rollout_noise=None`` everywhere means the
# fitted model's own (Posterior.rollout_noise)
from probtok.rollout_noise import DEFAULT_ROLLOUT_NOISE, check_rollout_noise, model_rollout_noise


@dataclass
class Posterior:
    """What forecasts draw from: a meso-level model + guide, the normaliser, and whether phi/c were adapted."""

    model: object  # TokenModel, level "meso"
    guide: object  # TokenGuide, level "meso"
    normaliser: object  # probtok.data.normalize.Normaliser (the micro fit's)
    adapted: bool  # False: micro-only reference (phi = 0, no task latent)
    meta: dict = field(default_factory=dict)
    source: str = ""
    start_frame: int = 0  # the fit left out the frames before this one: the filter starts here
    digest: str = ""  # probtok.checkpoint.checkpoint_digest of the fit: names it wherever its folder is
    weights_digest: str = ""  # probtok.checkpoint.weights_digest: its weights alone (records, refits)

    @property
    def spec(self):
        return self.model.spec

    @property
    def rollout_noise(self) -> float:
        """The kappa recorded with the fit (:func:`probtok.rollout_noise.model_rollout_noise`; 1: none)."""
        return model_rollout_noise(self.meta)

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (and its forecasts are made)."""
        return self.model.token_prior.logits.device

    def to(self, device) -> "Posterior":
        """This posterior on ``device`` (model and guide moved in place). The guide is attached again: it
        references the model's rest state, a buffer that moving replaces."""
        self.model.to(device)
        self.guide.to(device)
        self.guide.attach(self.model)
        return self


def torch_device(name) -> torch.device:
    """The torch device ``name`` ("cpu", "cuda", "cuda:1", ...), or a ConfigError when this machine has none
    such (a forecast on a GPU needs a CUDA build of torch; the default install is the CPU one)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {name!r}", hint="use cpu, cuda or cuda:N") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: this torch ({torch.__version__}) sees no CUDA GPU",
                              hint="use --device cpu, or install a CUDA build of torch on a machine with a GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)",
                              hint="use cuda:0 .. cuda:N-1")
    elif device.type != "cpu":
        raise ConfigError(f"device {name!r}: probtok forecasts on cpu or cuda only", hint="use cpu or cuda")
    return device


def load_posterior(model_dir, device="cpu") -> Posterior:
    """A Posterior from a fit directory: an adapted meso model, or a micro fit (micro-only reference), on
    ``device`` (:func:`torch_device`)."""
    from probtok.adapt import meso_from_micro
    from probtok.checkpoint import checkpoint_digest, fit_start_frame, load_fitted, weights_digest
    from probtok.data.normalize import Normaliser

    device = torch_device(device)  # before the work: a wrong device is a user's typo
    model, guide, ckpt = load_fitted(model_dir)
    if ckpt["normalisation"] is None:
        raise CheckpointError("the fit stored no normalisation (fitted on pre-normalised tensors)", file=model_dir,
                              hint="fit and adapt from dataset files (probtok fit-micro / probtok adapt)")
    norm = Normaliser.from_dict(ckpt["normalisation"])
    adapted = ckpt["level"] == "meso"
    if not adapted:
        model, guide = meso_from_micro(model, guide, n_runs=1)
    for mod in (model, guide):
        mod.eval()
        mod.requires_grad_(False)
    return Posterior(model, guide, norm, adapted, dict(ckpt["meta"]), str(model_dir), fit_start_frame(ckpt),
                     checkpoint_digest(model_dir) or "", weights_digest(ckpt)).to(device)


# -- the forecast model and guide (Pyro) ---------------------------------------------------------
def resolve_rollout_noise(post: Posterior, kappa) -> float:
    """``kappa`` checked, or the fitted model's own (``post.rollout_noise``) when it is None."""
    return post.rollout_noise if kappa is None else check_rollout_noise(kappa)


def forecast_model(post: Posterior, n_draws: int, n_frames: int, grid, x_first=None, c_post=None,
                   observe: bool = True, rollout_noise: float = DEFAULT_ROLLOUT_NOISE) -> None:
    """The meso generative model with one ``draw`` plate around everything (globals drawn per draw).

    Every transition's noise is scaled by ``rollout_noise`` (kappa); the guide fixes z[0:m], so the
    factor acts on the free rollout z[m:] only.
    ``x_first`` and ``c_post`` are the guide's arguments (:func:`forecast_trace` passes the same to both); unused here.
    ``observe=False`` stops the story at the tokens z_t (no decoder, no x_t sites): :func:`sample_forecast`
    decodes the sampled tokens itself, frame by frame."""
    tm = post.model
    h, w = tm.token_grid(*grid)
    with pyro.plate("draw", n_draws, dim=-1):
        sigma_x = pyro.sample("sigma_x", tm.sigma_x_prior())
        phi = c = None
        if post.adapted:
            phi = pyro.sample("phi", tm.phi_prior())[:, None]  # (N, 1, d, f): broadcasts over token rows
            c = pyro.sample("c", tm.task_prior([]))
        z = pyro.sample("z_0", tm.token_prior.distribution((n_draws, h, w)).to_event(2))
        for t in range(n_frames):
            if t > 0:
                loc, scale = _finite(*tm.frame_step(z, c, phi), t)
                z = pyro.sample(f"z_{t}", dist.Normal(loc, rollout_noise * scale).to_event(3))
            if observe:
                mean = pyro.deterministic(f"mean_{t}", tm.decoder(z), event_dim=3)
                pyro.sample(f"x_{t}", dist.Normal(mean, sigma_x[:, :, None, None].expand(mean.shape)).to_event(3))


def forecast_guide(post: Posterior, n_draws: int, n_frames: int, grid, x_first: torch.Tensor, c_post=None,
                   observe: bool = True, rollout_noise: float = DEFAULT_ROLLOUT_NOISE) -> None:
    """Posterior of the globals, of c (``c_post = (loc, scale)``, each (task_dim,), or None: prior) and of
    z[0:m] given the first m frames ``x_first`` (m, C, H, W) (normalised). ``observe`` and ``rollout_noise``
    are the model's arguments (:func:`forecast_trace` passes the same to both); unused here."""
    tg = post.guide
    with pyro.plate("draw", n_draws, dim=-1):
        pyro.sample("sigma_x", tg.q_sigma_x())
        phi = c = None
        if post.adapted:
            phi = pyro.sample("phi", dist.Normal(tg.phi_loc, F.softplus(tg.phi_scale_raw)).to_event(2))[:, None]
            if c_post is not None:
                c = pyro.sample("c", dist.Normal(c_post[0], c_post[1]).to_event(1))
        z = None
        for t in range(x_first.shape[0]):
            loc, scale = _finite(*tg.q_z(x_first[t].expand(n_draws, *x_first.shape[1:]), z, c, phi), t)
            z = pyro.sample(f"z_{t}", dist.Normal(loc, scale).to_event(3))


def _finite(loc: torch.Tensor, scale: torch.Tensor, t: int):
    """(loc, scale) of z_t, or a DataError when a draw's latent state is no longer finite (a diverged rollout)."""
    ok = torch.isfinite(loc).reshape(loc.shape[0], -1).all(-1) & torch.isfinite(scale).reshape(loc.shape[0], -1).all(-1)
    if not ok.all():
        raise DataError(f"the forecast rollout diverged: {int((~ok).sum())} of {loc.shape[0]} draws reached a "
                        f"non-finite latent state at frame {t}",
                        hint="the model's latent dynamics are unstable here; refit or adapt it longer")
    return loc, scale


def condition_task(post: Posterior, x_first: torch.Tensor, steps: int = 150, lr: float = 0.05, seed: int = 0,
                   u: float | None = None):
    """q(c | x[0:m][, u]) of a new run: SVI on its first m frames (m >= 2), and on its standardised task
    covariate ``u`` when the model has one, with every other latent's posterior and all weights fixed.
    Returns (loc, scale), each (task_dim,)."""
    from probtok.guides import TokenGuide

    if x_first.shape[0] < 2:
        raise ConfigError("conditioning c needs at least 2 frames", hint="use first_frames >= 2")
    tm, spec, device = post.model, post.spec, post.device
    g = TokenGuide(spec, "meso", n_runs=1).to(device).attach(tm)
    g.load_state_dict({k: v for k, v in post.guide.state_dict().items() if not k.startswith("c_")}, strict=False)
    u = None if u is None else torch.tensor([float(u)], device=device)
    start_task_latents(g, spec, u)
    g.eval()
    g.requires_grad_(False)
    g.c_loc.requires_grad_(True)
    g.c_scale_raw.requires_grad_(True)
    pyro.clear_param_store()  # pyro.module would otherwise restore stale tensors of the same names
    pyro.set_rng_seed(seed)
    svi = pyro.infer.SVI(tm.model, g.guide, pyro.optim.Adam({"lr": lr}), pyro.infer.Trace_ELBO(max_plate_nesting=1))
    x = x_first[None].to(device)
    for _ in range(steps):
        svi.step(x, u=u)
    pyro.clear_param_store()
    return g.c_loc[0].detach().clone(), F.softplus(g.c_scale_raw[0]).detach().clone()


def forecast_trace(post: Posterior, n_draws: int, n_frames: int, grid, x_first: torch.Tensor, c_post=None,
                   rollout_noise: float = DEFAULT_ROLLOUT_NOISE) -> pyro.poutine.Trace:
    """One posterior-predictive pass: the trace of :func:`forecast_model` (``observe=False``: globals, c and the
    token trajectories z_t) replayed on one trace of :func:`forecast_guide`.

    This is what ``pyro.infer.Predictive(forecast_model, guide=forecast_guide, num_samples=1)`` samples, from
    the same distribution. Why not Predictive itself: it traces the model three times per call (once to guess
    the plate nesting, once for the site shapes, once to sample; pyro 1.9 ``infer/predictive.py``), and here
    the model is a 35-frame rollout of the whole draw batch; two of those three rollouts were thrown away
    (``benchmarks/forecast_speed.py``)."""
    args = (post, n_draws, n_frames, grid, x_first, c_post)
    kwargs = dict(observe=False, rollout_noise=rollout_noise)
    guide_trace = pyro.poutine.trace(forecast_guide).get_trace(*args, **kwargs)
    return pyro.poutine.trace(pyro.poutine.replay(forecast_model, trace=guide_trace)).get_trace(*args, **kwargs)


#: Draws made at a time on a CPU. The decoder's full-resolution activations of 100 draws of a 128 x 192 run
#: are tens of MB per tensor, which the allocator maps and zeroes afresh at every call: 10 at a time halved
#: the decode time of 200 draws (16.2 -> 9.4 s, ``benchmarks/forecast_speed.py --batch``).
CPU_DRAW_BATCH = 10
#: Draws made at a time on a GPU: a 200-draw forecast in one batch. The rollout is 35 frames x r micro steps of
#: small kernels, so the batch count multiplies it: on an H100, 200 draws of a 128 x 192 run took 0.42 s at
#: 200 a batch and 2.54 s at 20, with 1.6 GiB of GPU memory at the peak
#: (``benchmarks/forecast_speed.py --device cuda``, docs/bench-2026-11-27-gpu).
CUDA_DRAW_BATCH = 200


def default_draw_batch(device) -> int:
    """Draws a forecast makes at a time on ``device``: :data:`CPU_DRAW_BATCH` or :data:`CUDA_DRAW_BATCH`."""
    return CUDA_DRAW_BATCH if torch.device(device).type == "cuda" else CPU_DRAW_BATCH


@torch.no_grad()
def forecast_frames(post: Posterior, x_first: torch.Tensor, n_frames: int, n_draws: int = 200, *, c_post=None,
                    observation_noise: bool = True, draw_batch: int | None = None, seed: int = 0,
                    rollout_noise: float | None = None, physical: bool = False):
    """The posterior-predictive draws of :func:`sample_forecast`, one frame of one batch of draws at a time:
    yields (first draw, frame, block (n, field, H, W) on the model's device), so that a caller can reduce
    them as they come (:class:`probtok.forecast.DrawStatistics`) instead of holding them all. Arguments as
    :func:`sample_forecast`. Frames before the fit's start frame come once, with all ``n_draws`` draws."""
    m = x_first.shape[0]
    rollout_noise = resolve_rollout_noise(post, rollout_noise)
    if not 1 <= m <= n_frames:
        raise ConfigError(f"first frames m = {m} must be in 1..{n_frames}")
    s = post.start_frame
    if m <= s:
        raise ConfigError(f"this model starts at frame {s} (its fit left out the frames before it): give more "
                          f"than {s} first frames, not {m}", hint=f"use first_frames >= {s + 1}")
    grid = tuple(x_first.shape[-2:])
    x_first = x_first.to(post.device)
    if c_post is not None:
        c_post = tuple(torch.as_tensor(v).to(post.device) for v in c_post)
    draw_batch = default_draw_batch(post.device) if draw_batch is None else int(draw_batch)
    decoder = post.model.decoder
    post.model.token_grid(*grid)  # the grid must be a multiple of the token size

    def units(x):
        return post.normaliser.inverse(x, field_axis=-3) if physical else x

    for t in range(s):  # frames the fit never saw: the given data, the same in every draw
        yield 0, t, units(x_first[t]).expand(n_draws, *x_first.shape[1:])
    pyro.set_rng_seed(seed)
    for start in range(0, n_draws, draw_batch):
        n = min(draw_batch, n_draws - start)
        tr = forecast_trace(post, n, n_frames - s, grid, x_first[s:], c_post, rollout_noise)
        sigma_x = tr.nodes["sigma_x"]["value"][:, :, None, None]  # (n, C, 1, 1)
        for t in range(n_frames - s):
            mean = decoder(tr.nodes[f"z_{t}"]["value"])
            yield start, s + t, units(mean + sigma_x * torch.randn_like(mean) if observation_noise else mean)


def sample_forecast(post: Posterior, x_first: torch.Tensor, n_frames: int, n_draws: int = 200, *, c_post=None,
                    observation_noise: bool = True, draw_batch: int | None = None, seed: int = 0,
                    rollout_noise: float | None = None, physical: bool = False) -> torch.Tensor:
    """Posterior-predictive draws (draw, frame, field, H, W) from the first m frames ``x_first`` (m, C, H, W)
    (normalised units) of a run; ``c_post`` as in :func:`forecast_guide`, ``rollout_noise`` as in
    :func:`forecast_model` (None: the model's own, :attr:`Posterior.rollout_noise`). Normalised units, or
    physical ones (``physical=True``: the micro fit's normaliser, applied frame by frame as the draws are
    made; a pass over the whole array afterwards took as long as the rollout of a meso run).

    :func:`forecast_trace` samples the globals and the token trajectories z_t, ``draw_batch`` draws at a
    time (None: :func:`default_draw_batch` of the model's device); the tokens are then decoded once per
    frame, ``x_t = Dec(z_t) [+ sigma_x eps]`` (the model's observation step, in closed form: the same
    distribution as sampling the x_t sites inside the model).
    Frames before the fit's start frame s (which the fit never saw) are the given data in every draw; the
    filter starts at frame s. All draws at once: for summaries of a large run use :func:`forecast_frames`."""
    out = x_first.new_empty((n_draws, n_frames, *x_first.shape[1:]))
    for start, t, block in forecast_frames(post, x_first, n_frames, n_draws, c_post=c_post,
                                           observation_noise=observation_noise, draw_batch=draw_batch, seed=seed,
                                           rollout_noise=rollout_noise, physical=physical):
        out[start : start + block.shape[0], t] = block
    return out


# -- runs of a dataset file ----------------------------------------------------------------------
NEW_TASK_C = ("training-runs", "prior")  # c of a run the model was not fitted on, with < 2 frames to condition on


def check_new_task(rule: str) -> str:
    """``rule`` when it is one of :data:`NEW_TASK_C`, else a ConfigError naming the choices."""
    if rule not in NEW_TASK_C:
        raise ConfigError(f"unknown new-task rule {rule!r}", hint=f"use one of {list(NEW_TASK_C)}")
    return rule


def task_posterior(post: Posterior, data, run: int, x_first: torch.Tensor, seed: int = 0,
                   new_task: str = "prior"):
    """((loc, scale) of c, how) for ``run``: q(c[n]) if it was an adaptation run of this model (same file
    name), q(c | the given frames from the fit's start frame [, u]) if there are two or more, else p(c | u)
    when the model has a task covariate (u: the run's parameter, standardised as in the fit), else
    (None, "prior N(0, I)") (``new_task="prior"``) or the training runs' q(c[n]) moment-matched
    (``"training-runs"``). None for the micro-only reference."""
    check_new_task(new_task)
    if not post.adapted:
        return None, "none (micro-only reference, phi = 0)"
    train = [int(r) for r in post.meta.get("train_runs", [])]
    same_file = Path(str(post.meta.get("data", ""))).name == Path(str(data)).name
    if same_file and run in train:
        i = train.index(run)
        return (post.guide.c_loc[i].clone(), F.softplus(post.guide.c_scale_raw[i]).clone()), \
            "q(c[n]) of this adaptation run"
    u, cov = covariate_of_run(post, data, run)
    given = f"{cov.name} = {u * cov.scale + cov.loc:g}" if cov is not None else ""
    seen = x_first[post.start_frame:]  # the frames the model describes
    if seen.shape[0] > 1:
        return condition_task(post, seen, seed=seed, u=u), \
            f"q(c | frames {post.start_frame}..{x_first.shape[0] - 1}{', ' + given if given else ''})"
    if cov is not None:
        return task_given_covariate(u, post.spec.task_covariate_noise, post.spec.task_dim), \
            f"p(c | {given}) (the model's task covariate)"
    if new_task == "training-runs":
        return training_task_distribution(post), f"the {post.guide.c_loc.shape[0]} training runs' q(c[n]), moment-matched"
    return None, "prior N(0, I)"


def covariate_of_run(post: Posterior, data, run: int):
    """(standardised u, TaskCovariate) of ``run`` of ``data`` for a model with a task covariate (the fit's
    stored standardisation), else (None, None)."""
    if not post.spec.task_covariate:
        return None, None
    stored = post.meta.get("task_covariate")
    if stored is None:
        raise CheckpointError("the model has a task covariate but its fit stored no standardisation",
                              file=post.source, hint="refit it with probtok adapt / the benchmark")
    from probtok.data import open_dataset

    with open_dataset(data) as ds:
        u, cov = run_covariate(post.spec, ds, [int(run)], data, TaskCovariate.from_dict(stored))
    return float(u[0]), cov


def training_task_distribution(post: Posterior) -> tuple[torch.Tensor, torch.Tensor]:
    """(loc, scale), each (task_dim,), of the Normal with the mean and variance of the equal-weight mixture
    of the training runs' q(c[n]) = N(m_n, s_n^2): loc = mean m_n, scale^2 = mean s_n^2 + var m_n."""
    locs = post.guide.c_loc.detach()
    scales = F.softplus(post.guide.c_scale_raw.detach())
    var = (scales**2).mean(0) + locs.var(0, unbiased=False)
    return locs.mean(0).clone(), var.sqrt()


#: Member m of an ensemble forecast draws with seed ``seed + ENSEMBLE_SEED_STRIDE * m`` (member 0 with
#: ``seed``, so that an ensemble of one is the single model's forecast); far apart from the per-run seeds
#: ``seed + run`` of :func:`forecast_files`.
ENSEMBLE_SEED_STRIDE = 100_003


def _members(x) -> list:
    """A list of ensemble members: ``x`` itself when it is a list or tuple, else [x] (one model)."""
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _ensemble_kappas(kappas) -> str:
    """How an ensemble forecast records its members' kappas (attribute ``rollout_noise``), e.g. "0.3, 1"."""
    return ", ".join(f"{float(k):g}" for k in kappas)


def ensemble_draws(n_draws: int, n_members: int) -> list[int]:
    """Draws per member of an ensemble forecast of ``n_draws`` draws: as even as they go, the first ones one
    more. A ConfigError when a member would get fewer than 2 (its draws' spread would be unknown)."""
    if n_members < 1:
        raise ConfigError("no model to forecast with")
    if n_draws < 2 * n_members:
        raise ConfigError(f"{n_draws} draws for {n_members} models: each model needs at least 2",
                          hint=f"ask for at least {2 * n_members} draws")
    q, r = divmod(int(n_draws), n_members)
    return [q + (m < r) for m in range(n_members)]


def forecast_run(post: Posterior | list[Posterior], data, run: int, *, first_frames: int | None = None,
                 n_draws: int = 200, n_frames: int | None = None, observation_noise: bool = False, seed: int = 0,
                 T_crit_K=None, A_crit_um2=None, new_task: str = "prior", rollout_noise: float | None = None):
    """Forecast one run of a dataset file from its first ``first_frames`` frames; an ``xarray.Dataset``
    (:func:`probtok.forecast.summarize_forecast`, with the run's true frames as truth). ``first_frames``
    None: the fewest the model forecasts from (:func:`fewest_first_frames`); ``rollout_noise``: the factor
    kappa on the free rollout's transition noise (:func:`forecast_model`; None: the model's own).

    ``post`` may be several posteriors (an ensemble, e.g. models adapted on the same runs from micro fits made
    with different seeds): the forecast then pools their draws, an equal-weight mixture over the fits.
    ``n_draws`` are split among them (:func:`ensemble_draws`); member m draws with seed
    ``seed + ENSEMBLE_SEED_STRIDE * m``, its own kappa (unless ``rollout_noise`` is given) and its own task
    latent. Why: the micro fit's random numbers decide much of an adapted model's forecast, and the intervals
    of one fit leave that out (README; ``benchmarks/seed_ensemble.py``)."""
    from probtok.data import open_dataset
    from probtok.forecast import DEFAULT_A_CRIT_UM2, DEFAULT_T_CRIT_K, DrawStatistics, summarize_forecast

    posts = _members(post)
    counts = ensemble_draws(n_draws, len(posts))
    spec = posts[0].spec
    for p in posts[1:]:
        if list(p.spec.fields) != list(spec.fields):
            raise ConfigError(f"the models of an ensemble must model the same fields: {list(spec.fields)} "
                              f"({posts[0].source}) against {list(p.spec.fields)} ({p.source})")
    kappas = [resolve_rollout_noise(p, rollout_noise) for p in posts]
    first_frames = max(fewest_first_frames(p) for p in posts) if first_frames is None else int(first_frames)
    with open_dataset(data) as ds:
        require_fields(ds, spec.fields, data)
        if "T" not in spec.fields:
            raise ConfigError("hot-spot forecasts need the temperature field T in the model", file=posts[0].source)
        T = ds.n_frames if n_frames is None else int(n_frames)
        if not 2 <= T <= ds.n_frames:
            raise ConfigError(f"frames must be in 2..{ds.n_frames}", file=data, hint="lower --frames")
        if not 1 <= first_frames < T:
            raise ConfigError(f"first frames must be in 1..{T - 1} (the forecast needs frames left to predict)",
                              file=data, hint="lower --first-frames")
        truth = ds.frames(int(run), spec.fields, frames=slice(0, T))
        H, W = truth.shape[-2:]
        for p in posts:
            s = p.spec.token_size
            if H % s or W % s:
                raise DataError(f"grid {H}x{W} is not a multiple of the token size {s}", file=data, run=run,
                                hint="crop the frames or use a model with a token size that divides the grid")
        meta = dict(units=[ds.units[f] for f in spec.fields], time_ns=ds.time_ns[:T], dx_um=ds.dx_um,
                    threshold=ds.hotspot_threshold_K,
                    params={k: v[int(run)].item() if hasattr(v[int(run)], "item") else v[int(run)]
                            for k, v in ds.params.items()})
    t0 = time.perf_counter()
    # reduced as they are made: the draws of a meso run are GBs (probtok.forecast.DrawStatistics)
    stats = DrawStatistics((n_draws, *truth.shape), spec.fields, meta["dx_um"], meta["threshold"], run_id=int(run))
    offset, how = 0, []
    for m, (p, n_m, kappa) in enumerate(zip(posts, counts, kappas)):
        x_first = p.normaliser.forward(torch.as_tensor(truth[:first_frames]), field_axis=-3)
        c_post, c_how = task_posterior(p, data, int(run), x_first, seed=seed, new_task=new_task)
        how.append(c_how)
        try:
            for start, t, block in forecast_frames(p, x_first, T, n_m, c_post=c_post,
                                                   observation_noise=observation_noise,
                                                   seed=seed + ENSEMBLE_SEED_STRIDE * m, rollout_noise=kappa,
                                                   physical=True):
                stats.add(offset + start, t, block)
        except DataError as exc:
            raise DataError(exc.problem, file=p.source, run=int(run), hint=exc.hint) from exc
        offset += n_m
    if len(posts) == 1:
        p = posts[0]
        attrs = {"model_dir": p.source, "model_digest": p.digest, "model_weights_digest": p.weights_digest,
                 "model_kind": "meso-adapted" if p.adapted else "micro-only (phi = 0)",
                 "task_latent": how[0], "rollout_noise": kappas[0]}
    else:
        attrs = {"model_dir": "; ".join(p.source for p in posts),
                 "model_digest": ",".join(p.digest for p in posts),
                 "model_weights_digest": ",".join(p.weights_digest for p in posts),
                 "model_kind": f"ensemble of {len(posts)}: " + ", ".join(
                     "meso-adapted" if p.adapted else "micro-only (phi = 0)" for p in posts),
                 "task_latent": "; ".join(f"model {m}: {h}" for m, h in enumerate(how)),
                 "rollout_noise": _ensemble_kappas(kappas),
                 "ensemble_draws": ", ".join(str(n) for n in counts)}
    attrs.update({"data": str(data), "truth_digest": truth_digest(truth, meta["threshold"], meta["dx_um"]),
                  "first_frames": int(first_frames), "ensemble_size": len(posts),
                  "new_task_c": new_task, "observation_noise": int(observation_noise)})
    for k, v in meta["params"].items():
        if isinstance(v, (int, float, str, np.integer, np.floating)):
            attrs[f"param_{k}"] = v.item() if hasattr(v, "item") else v
    ds = summarize_forecast(stats, spec.fields, meta["units"], meta["time_ns"], meta["dx_um"], meta["threshold"],
                            run_id=int(run), truth=truth,
                            T_crit_K=DEFAULT_T_CRIT_K if T_crit_K is None else T_crit_K,
                            A_crit_um2=DEFAULT_A_CRIT_UM2 if A_crit_um2 is None else A_crit_um2, attrs=attrs)
    ds.attrs["forecast_wall_s"] = time.perf_counter() - t0  # conditioning, sampling and summary
    return ds


def fewest_first_frames(post: Posterior) -> int:
    """The fewest first frames ``post`` forecasts from: its fit's start frame + 1 (the filter needs one frame
    the model describes). 2 for the shipped configs (``start_frame = 1``: frame 0 of a simulated run is the
    unshocked state), 1 for a model fitted from frame 0."""
    return post.start_frame + 1


def forecast_files(model_dir, data, runs, out_dir, *, first_frames: int | None = None, n_draws: int = 200,
                   n_frames: int | None = None, observation_noise: bool = False, seed: int = 0, plots: bool = True,
                   skip_existing: bool = False, progress: bool = True, new_task: str = "prior",
                   rollout_noise: float | None = None, device="cpu") -> dict[int, Path]:
    """`probtok forecast`: forecast every run in ``runs``; writes out_dir/run_NNNN.nc (+ PNGs in
    out_dir/run_NNNN/ when ``plots``). Returns {run: forecast file}. ``model_dir``: a fit directory, or a list
    of several (an ensemble forecast: :func:`forecast_run`). ``new_task``: see :func:`task_posterior`;
    ``first_frames`` None: :func:`fewest_first_frames`; ``rollout_noise`` None: each model's own kappa;
    ``device``: where the draws are made and reduced (:func:`torch_device`)."""
    from probtok.forecast import write_forecast
    from probtok.plots import write_forecast_plots

    check_new_task(new_task)  # before any work
    if rollout_noise is not None:
        check_rollout_noise(rollout_noise)
    dirs = _members(model_dir)
    ensemble_draws(n_draws, len(dirs))
    posts = [load_posterior(d, device) for d in dirs]
    kappas = [resolve_rollout_noise(p, rollout_noise) for p in posts]  # rollout_noise: the given one or None
    first_frames = max(fewest_first_frames(p) for p in posts) if first_frames is None else int(first_frames)
    out_dir = Path(out_dir)
    runs = [int(r) for r in runs]
    if not runs:
        raise DataError("no runs to forecast", file=data, hint="give --run or --runs")
    check_runs(data, runs, posts[0].spec.fields)
    files = {}
    iterator = runs
    if progress:
        from probtok.progress import track

        iterator = track(runs, f"forecast ({n_draws} draws/run)")
    for r in iterator:
        path = forecast_path(out_dir, r)
        if not (skip_existing and _same_forecast(path, model_dir, first_frames, n_draws, new_task, kappas,
                                                 data=data)):
            ds = forecast_run(posts, data, r, first_frames=first_frames, n_draws=n_draws, n_frames=n_frames,
                              observation_noise=observation_noise, seed=seed + r, new_task=new_task,
                              rollout_noise=rollout_noise)
            write_forecast(ds, path)
            if plots:
                write_forecast_plots(ds, out_dir / f"run_{r:04d}")
        files[r] = path
    return files


def forecast_path(out_dir, run: int) -> Path:
    """Where :func:`forecast_files` writes the forecast of ``run``: out_dir/run_NNNN.nc."""
    return Path(out_dir) / f"run_{int(run):04d}.nc"


def truth_digest(truth, threshold_K: float, dx_um: float) -> str:
    """SHA-256 (first 16 hex digits) of a run's true frames as a forecast read them (any shape, as float32)
    and of the hot-spot threshold [K] and cell size [um] its metrics used: a forecast file records it, so that
    a forecast of a run that was simulated again, or of a file whose threshold changed, is not reused."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(truth, dtype=np.float32).tobytes())
    h.update(f"threshold_K={float(threshold_K):.9g};dx_um={float(dx_um):.9g}".encode())
    return h.hexdigest()[:16]


def _same_forecast(path: Path, model_dir, first_frames: int, n_draws: int, new_task: str = "prior",
                   rollout_noise=None, data=None) -> bool:
    """True when ``path`` is a readable forecast of the same model (not refitted since), first frames,
    number of draws, new-task rule, rollout noise and (``data`` given) true frames."""
    return reusable_forecast_attrs(path, model_dir, first_frames, n_draws, new_task, rollout_noise,
                                   data=data) is not None


def reusable_forecast_attrs(path: Path, model_dir, first_frames: int, n_draws: int,
                            new_task: str = "prior", rollout_noise=None, data=None) -> dict | None:
    """The attributes of ``path`` when it is a readable forecast of the same fitted model, first frames,
    number of draws, new-task rule and rollout noise (a file written before the rule was recorded drew c
    from the prior; one written before the rollout noise was recorded used kappa = 1); else None. The same model: the same checkpoint content (``model_digest``), so a copied or moved
    folder still matches and a refit does not; files from before the digest was recorded match by path and
    must be newer than the checkpoint. ``rollout_noise``: None (the kappa each model records), one kappa, or
    a list of one per model. ``data`` (the run file the forecast is for): its run must have the true frames,
    threshold and cell size the forecast recorded (:func:`truth_digest`; files written before the digest was
    recorded are not checked).

    ``model_dir`` may be a list of fit directories: an ensemble forecast of the same models in the same order."""
    from probtok.checkpoint import CHECKPOINT_NAME, checkpoint_digest, load_checkpoint
    from probtok.forecast import read_forecast

    if not path.exists():
        return None
    dirs = _members(model_dir)
    if rollout_noise is None or not isinstance(rollout_noise, (list, tuple)):
        try:
            rollout_noise = [model_rollout_noise(load_checkpoint(d)["meta"]) if rollout_noise is None
                             else rollout_noise for d in dirs]
        except ProbtokError:
            return None
    try:
        fc = read_forecast(path)
    except ProbtokError:
        return None
    a = dict(fc.attrs)
    if int(a.get("ensemble_size", 1)) != len(dirs):
        return None
    if len(dirs) > 1:  # ensembles are recorded with digests only
        same_model = a.get("model_digest") == ",".join(checkpoint_digest(d) or "" for d in dirs)
        same_kappa = a.get("rollout_noise") == _ensemble_kappas(rollout_noise)
    else:
        model_dir = dirs[0]
        if a.get("model_digest"):
            same_model = a["model_digest"] == checkpoint_digest(model_dir)
        else:
            ckpt = Path(model_dir) / CHECKPOINT_NAME
            same_model = (str(a.get("model_dir")) == str(model_dir)
                          and not (ckpt.exists() and ckpt.stat().st_mtime > path.stat().st_mtime))
        same_kappa = float(a.get("rollout_noise", 1.0)) == float(rollout_noise[0])
    same = (same_model and same_kappa and int(a.get("first_frames", -1)) == int(first_frames)
            and int(a.get("n_draws", -1)) == int(n_draws) and a.get("new_task_c", "prior") == new_task)
    # the data last: it reads the run's frames from the file
    same = same and not (data is not None and a.get("truth_digest")
                         and a["truth_digest"] != _data_truth_digest(data, fc))
    return a if same else None


def _data_truth_digest(data, fc) -> str | None:
    """:func:`truth_digest` of the run of forecast ``fc`` as the file ``data`` holds it now (its fields and
    frames); None when the file or run cannot be read."""
    from probtok.data import open_dataset

    try:
        with open_dataset(data) as ds:
            truth = ds.frames(int(fc.attrs["run_id"]), [str(f) for f in fc["field"].values],
                              frames=slice(0, int(fc.sizes["frame"])))
            return truth_digest(truth, ds.hotspot_threshold_K, ds.dx_um)
    except (ProbtokError, KeyError, IndexError, ValueError):
        return None


def check_runs(data, runs, fields) -> None:
    """DataError before any work when the file, a field or a run (index, or a failed run) is not there."""
    from probtok.data import open_dataset

    with open_dataset(data) as ds:
        require_fields(ds, fields, data)
        for r in runs:
            ds.frame(r, 0, fields[:1])


def evaluate_forecasts(forecast_paths, json_out=None) -> dict:
    """Calibration (coverage 50/90 %, CRPS, RMSE/bias of the median) of forecast files, pooled over runs;
    written as JSON when ``json_out`` is given."""
    from probtok.calibration import calibration_table, write_calibration_json
    from probtok.forecast import read_forecast

    dss = [read_forecast(p) for p in forecast_paths]
    for p, ds in zip(forecast_paths, dss):
        if not int(ds.attrs.get("has_truth", 0)):
            raise DataError("this forecast has no truth to compare with", file=p)
    table = calibration_table(dss)
    if json_out is not None:
        write_calibration_json(table, json_out)
    return table
