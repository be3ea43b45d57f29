"""ArviZ view of a fitted token model: InferenceData, posterior predictive checks, LOO comparison.

Draws. Every posterior draw ``s`` is one trace of the guide on the observed
runs, q(sigma_x, phi, c, z[n,0:T] | x): its globals are the ``posterior``
group, and the model replayed on it
(``poutine.trace(poutine.replay(model, guide_trace))``) gives

* ``log_likelihood["x"][run, frame] = log N(x[n,t] | Dec(z[n,t]), sigma_x)``
  summed over (field, y, x) in NORMALISED units (probtok.model.log_likelihood_table,
  no subsampling scale). Pointwise = one frame of one run, what ``az.loo`` leaves out;
* ``posterior_predictive``: a replicate ``x_rep[n,t] ~ N(Dec(z[n,t]), sigma_x)``,
  mapped to physical units with the fit's normaliser; its hot-spot metrics
  (probtok.hotspots: ``T_hs`` [K], ``A_hs`` [um^2] on dim ``frame``; rates
  ``dT_hs_dt`` [K/ns], ``dA_hs_dt`` [um^2/ns] on dim ``interval``) from the full
  grid, and the fields themselves subsampled in space (``x_fields`` [run, frame,
  field, y, x], every ``field_subsample``-th cell);
* ``observed_data``: the same quantities of the observed runs.

Draws are iid from the variational posterior (one ``chain``): R-hat and MCMC
ESS do not apply, so :func:`latent_summary` reports ``kind="stats"``.

What the pointwise log-likelihood judges: the tokens are the filtered
posterior q(z[n,t] | x[n,t], z[n,t-1]), which sees frame t. The LOO score
therefore measures the decoder, the observation noise and (through the
residual filter) the transition only weakly; free-running forecast skill is
measured by ``probtok evaluate`` / ``probtok calibrate``. Each point is a whole
frame (C x H x W cells), so its log-likelihood varies strongly between draws
and PSIS often flags Pareto k > 0.7: :func:`compare_models` counts and prints
those points instead of hiding them (measured on the demo meso data, tiny
config, 4 held-out 48 x 64 runs x 13 frames, 100 draws: 52 of 52 points had
k > 0.7 for both the micro-only and an adapted model; the elpd gap was still
2.7 standard errors in favour of the adapted model). With a
well-fitted guide and small frames k stays below 0.7 (tests/test_diagnostics.py).

Coordinates: ``run`` = run ids, ``frame`` = time [ns], ``interval`` = the
midpoint [ns] of frames k -> k+1, ``field`` = field names, ``y``/``x`` = cell
centres [um] of the subsampled cells.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch

from probtok.atomic import atomic_path
from probtok.data.validate import require_fields
from probtok.errors import ConfigError, DataError
from probtok.threads import torch_threads

#: Hot-spot quantities in the predictive groups: name -> (unit, time dim).
METRICS = {"T_hs": ("K", "frame"), "A_hs": ("um^2", "frame"), "dT_hs_dt": ("K/ns", "interval"),
           "dA_hs_dt": ("um^2/ns", "interval")}
#: Pareto k above which the PSIS estimate of a point is unreliable (Vehtari et al. 2017/2024).
PARETO_K_BAD = 0.7
#: Largest side [cells] of the subsampled field grid when ``field_subsample="auto"``.
AUTO_FIELD_CELLS = 16


# -- draws ------------------------------------------------------------------------------------------
def replay_draw(model, guide, x_norm: torch.Tensor):
    """One posterior draw: (guide_trace, model_trace) with the model replayed on the guide's latents.

    ``guide`` is anything with a ``guide(x)`` Pyro method whose sites match the model's
    (a TokenGuide, or a test's known-latent guide). x_norm (run, frame, field, H, W).
    """
    from pyro import poutine

    guide_trace = poutine.trace(guide.guide).get_trace(x_norm)
    model_trace = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(x_norm)
    return guide_trace, model_trace


def _field_stride(grid, field_subsample) -> int:
    if field_subsample == "auto":
        return max(1, math.ceil(max(grid) / AUTO_FIELD_CELLS))
    try:
        stride = int(field_subsample)
    except (TypeError, ValueError):
        stride = 0
    if stride < 1:
        raise ConfigError(f"field_subsample must be a positive cell stride or 'auto', got {field_subsample!r}")
    return stride


def _check_inputs(model, x_norm, run_ids, time_ns, normaliser, constant_data, num_draws):
    if x_norm.ndim != 5:
        raise DataError(f"x_norm must be (run, frame, field, y, x), got shape {tuple(x_norm.shape)}")
    n_runs, n_frames, n_fields = x_norm.shape[:3]
    fields = tuple(model.spec.fields)
    if n_fields != len(fields):
        raise DataError(f"data has {n_fields} fields, the model expects {list(fields)}")
    if "T" not in fields:
        raise DataError("hot-spot metrics need the temperature field", field="T", hint=f"the model has {list(fields)}")
    if tuple(normaliser.fields) != fields:
        raise ConfigError(f"normaliser fields {list(normaliser.fields)} differ from the model's {list(fields)}",
                          hint="use Normaliser.subset(model.spec.fields)")
    if len(run_ids) != n_runs:
        raise DataError(f"{len(run_ids)} run ids for {n_runs} runs")
    if np.shape(time_ns) != (n_frames,):
        raise DataError(f"time_ns has shape {np.shape(time_ns)}, the data has {n_frames} frames")
    if n_frames < 2:
        raise DataError("need at least 2 frames (rates are differences)")
    for name, v in (constant_data or {}).items():
        if np.shape(v) != (n_runs,):
            raise DataError(f"constant_data[{name!r}] has shape {np.shape(v)}, expected one value per run ({n_runs})")
    if num_draws < 2:
        raise ConfigError(f"num_draws must be >= 2, got {num_draws}")
    bad = ~torch.isfinite(x_norm)
    if bad.any():
        r, t, c = (int(i) for i in bad.nonzero()[0][:3])
        raise DataError(f"non-finite value at frame {t}", run=run_ids[r], field=fields[c])


def _metrics(T_phys: np.ndarray, dx_um: float, dt_ns: float, threshold_K: float) -> dict:
    from probtok.hotspots import hotspot_metrics

    return {k: np.asarray(v, dtype=np.float64) for k, v in hotspot_metrics(T_phys, dx_um, dt_ns, threshold_K).items()}


@torch.no_grad()
def collect_draws(model, guide, x_norm: torch.Tensor, *, normaliser, dx_um: float, dt_ns: float,
                  threshold_K: float, num_draws: int, seed: int, stride: int, progress: bool = False,
                  num_threads: int | None = 1, observation_noise: bool = True) -> dict:
    """Stack ``num_draws`` replayed draws into numpy arrays (draw, ...): latents, log-likelihood (run, frame),
    hot-spot metrics of the replicates (run, frame|interval) and subsampled replicate fields.
    ``observation_noise=False``: the replicates are the decoder means Dec(z) (no sigma_x noise).

    ``num_threads``: torch intra-op threads during the draws (restored after; None: leave as is). The
    token networks are small convolutions on small grids; with several threads on a busy machine they
    were measured 100x slower (24 s vs 0.19 s per draw, 48 x 64 meso runs, 2 cores at load 8)."""
    import pyro

    fields = tuple(model.spec.fields)
    iT = fields.index("T")
    out: dict[str, list] = {}
    pyro.set_rng_seed(seed)
    draws = range(num_draws)
    if progress:
        from probtok.progress import track

        draws = track(draws, "posterior draws")
    # a private param store: tracing registers the modules' parameters, the user's store stays untouched
    with torch_threads(num_threads), pyro.get_param_store().scope():
        for _ in draws:
            rec = _one_draw(model, guide, x_norm, normaliser, iT, stride, dx_um, dt_ns, threshold_K,
                            observation_noise)
            for k, v in rec.items():
                out.setdefault(k, []).append(v)
    return {k: np.stack(v) for k, v in out.items()}


def _one_draw(model, guide, x_norm, normaliser, iT, stride, dx_um, dt_ns, threshold_K, noise) -> dict:
    n_frames = x_norm.shape[1]
    g_tr, m_tr = replay_draw(model, guide, x_norm)
    ll = _log_likelihood(m_tr, n_frames)
    obs = [m_tr.nodes[f"x_{t}"]["fn"] for t in range(n_frames)]
    x_rep = torch.stack([fn.sample() if noise else fn.mean for fn in obs], 1)
    phys = normaliser.inverse(x_rep.double().numpy(), field_axis=2)
    rec = {"log_lik": ll.double().numpy(), "x_fields": phys[..., ::stride, ::stride].astype(np.float32)}
    rec.update(_metrics(phys[:, :, iT], dx_um, dt_ns, threshold_K))
    for site in ("sigma_x", "phi", "c"):
        if site in g_tr.nodes:
            rec[site] = g_tr.nodes[site]["value"].double().numpy()
    return rec


def _log_likelihood(model_trace, n_frames: int) -> torch.Tensor:
    from probtok.model import log_likelihood_table

    return log_likelihood_table(model_trace, n_frames)


# -- InferenceData ----------------------------------------------------------------------------------
def to_inference_data(model, guide, x_norm, *, normaliser, run_ids, time_ns, dx_um: float, threshold_K: float,
                      constant_data: dict | None = None, num_draws: int = 100, seed: int = 0,
                      field_subsample="auto", attrs: dict | None = None, progress: bool = False,
                      observation_noise: bool = True):
    """``az.InferenceData`` of a fitted model on observed runs (see the module docstring for the groups).

    model, guide : TokenModel and its guide (micro or meso level; for a meso guide, q(c[n]) row n must
        belong to run n of ``x_norm``, see :func:`guide_for_runs`).
    x_norm : normalised fields (run, frame, field, y, x), tensor or array.
    normaliser : the fit's :class:`probtok.data.normalize.Normaliser` (maps to physical units).
    run_ids : (run,) ids of the runs; time_ns : (frame,) frame times [ns]; dx_um : cell size [um];
    threshold_K : hot-spot threshold [K]. constant_data : {name: (run,)} run parameters (e.g. up_kms).
    num_draws : posterior draws; field_subsample : cell stride of the stored fields, or "auto" (side <= 16).
    observation_noise : replicates x_rep ~ N(Dec(z), sigma_x) (True, the model's predictive) or Dec(z).
        Cell-wise noise of sigma_x [K] can lift bulk cells just below the threshold into the hot spot,
        so A_hs of noisy replicates is biased up where bulk T is near the threshold.
    """
    import arviz as az

    x_norm = torch.as_tensor(np.asarray(x_norm) if not isinstance(x_norm, torch.Tensor) else x_norm).float()
    run_ids = list(run_ids)
    time_ns = np.asarray(time_ns, dtype=np.float64)
    _check_inputs(model, x_norm, run_ids, time_ns, normaliser, constant_data, num_draws)
    n_runs, n_frames, _, H, W = x_norm.shape
    model.token_grid(H, W)
    dt = np.diff(time_ns)
    if not (np.all(dt > 0) and np.allclose(dt, dt[0], rtol=1e-6)):
        raise DataError("time_ns must increase with a constant frame interval")
    stride = _field_stride((H, W), field_subsample)
    fields = list(model.spec.fields)
    spec = model.spec

    d = collect_draws(model, guide, x_norm, normaliser=normaliser, dx_um=dx_um, dt_ns=float(dt[0]),
                      threshold_K=threshold_K, num_draws=num_draws, seed=seed, stride=stride, progress=progress,
                      observation_noise=observation_noise)
    obs_phys = normaliser.inverse(x_norm.double().numpy(), field_axis=2)
    obs = _metrics(obs_phys[:, :, fields.index("T")], dx_um, float(dt[0]), threshold_K)
    obs["x_fields"] = obs_phys[..., ::stride, ::stride].astype(np.float32)

    chain = lambda a: a[None]  # noqa: E731  - one chain of iid variational draws
    scale = np.asarray(normaliser.scale, dtype=np.float64)
    posterior = {"sigma_x": chain(d["sigma_x"]), "sigma_x_phys": chain(d["sigma_x"] * np.abs(scale))}
    dims = {"sigma_x": ["field"], "sigma_x_phys": ["field"], "x": ["run", "frame"],
            "x_fields": ["run", "frame", "field", "y", "x"]}
    if "phi" in d:
        posterior["phi"] = chain(d["phi"])
        posterior["phi_norm"] = chain(np.sqrt((d["phi"] ** 2).sum(axis=(-2, -1))))
        dims["phi"] = ["token_dim", "coupling"]
    if "c" in d:
        posterior["c"] = chain(d["c"])
        dims["c"] = ["run", "task_dim"]
    pp = {k: chain(d[k]) for k in (*METRICS, "x_fields")}
    for k, (_, tdim) in METRICS.items():
        dims[k] = ["run", tdim]
    ys = (np.arange(H)[::stride] + 0.5) * dx_um
    xs = (np.arange(W)[::stride] + 0.5) * dx_um
    coords = {"run": run_ids, "frame": time_ns, "interval": 0.5 * (time_ns[1:] + time_ns[:-1]),
              "field": fields, "y": ys, "x": xs}
    if "phi" in d:
        coords.update(token_dim=np.arange(spec.token_dim), coupling=np.arange(spec.coupling_width))
    if "c" in d:
        coords["task_dim"] = np.arange(spec.task_dim)
    cdata = {k: np.asarray(v) for k, v in (constant_data or {}).items()}
    cdata["normaliser_shift"] = np.asarray(normaliser.shift, dtype=np.float64)
    cdata["normaliser_scale"] = scale
    dims.update({k: ["run"] for k in constant_data or {}})
    dims.update(normaliser_shift=["field"], normaliser_scale=["field"])
    with warnings.catch_warnings():
        # one chain of iid draws is what we have; ArviZ's "fewer chains than draws" shape warning is moot
        warnings.simplefilter("ignore", UserWarning)
        idata = az.from_dict(posterior=posterior, posterior_predictive=pp, observed_data=obs,
                             log_likelihood={"x": chain(d["log_lik"])}, constant_data=cdata,
                             coords=coords, dims=dims)
    _annotate(idata, fields, normaliser)
    meta = {"probtok_level": getattr(model, "level", "?"), "hotspot_threshold_K": float(threshold_K),
            "dx_um": float(dx_um), "dt_frame_ns": float(dt[0]), "field_subsample": int(stride),
            "num_draws": int(num_draws), "seed": int(seed), "observation_noise": int(bool(observation_noise)),
            "draws": "iid from the variational posterior (one chain)",
            "log_likelihood": "log N(x[n,t] | Dec(z[n,t]), sigma_x) summed over field, y, x; normalised units"}
    meta.update(attrs or {})
    for group in idata.groups():
        idata[group].attrs.update(meta)
    return idata


def _annotate(idata, fields, normaliser) -> None:
    """Units and long names on every variable and coordinate (they survive NetCDF)."""
    for group in ("posterior_predictive", "observed_data"):
        ds = idata[group]
        for k, (unit, _) in METRICS.items():
            ds[k].attrs.update(units=unit)
        ds["x_fields"].attrs.update(units="per field, see field_units", long_name="fields, subsampled in space")
        ds.coords["field_units"] = ("field", [_unit(f) for f in fields])
    for group in idata.groups():
        ds = idata[group]
        for c, unit in (("frame", "ns"), ("interval", "ns"), ("y", "um"), ("x", "um")):
            if c in ds.coords:
                ds[c].attrs["units"] = unit
        if "interval" in ds.coords:
            ds["interval"].attrs["long_name"] = "midpoint of frames k -> k+1"
    post = idata["posterior"]
    post["sigma_x"].attrs.update(units="normalised field units", long_name="observation noise per field")
    post["sigma_x_phys"].attrs.update(units="field units (see field_units)", long_name="sigma_x x normaliser scale (for log_fields: the sd of ln x, a relative error)")
    post.coords["field_units"] = ("field", [_unit(f) for f in fields])
    idata["log_likelihood"]["x"].attrs.update(units="nat")


def _unit(field: str) -> str:
    from probtok.sim.case import UNITS

    return str(UNITS.get(field, "1"))


def save_inference_data(idata, path) -> Path:
    """Write ``idata`` to NetCDF atomically (a kill mid-write leaves any previous file intact)."""
    path = Path(path)
    with atomic_path(path, suffix=".nc.tmp") as tmp:
        idata.to_netcdf(str(tmp), engine="h5netcdf")
    return path


def load_inference_data(path):
    """``az.from_netcdf`` with a DataError when the file is missing or unreadable."""
    import arviz as az

    path = Path(path)
    if not path.is_file():
        raise DataError("InferenceData file not found", file=path, hint="give a .nc written by probtok ppc")
    try:
        return az.from_netcdf(str(path), engine="h5netcdf")
    except Exception as exc:  # noqa: BLE001 - h5netcdf/xarray raise many types for foreign files
        raise DataError(f"not a readable InferenceData NetCDF file ({type(exc).__name__}: {str(exc)[:200]})",
                        file=path) from exc


# -- guides for the observed runs -------------------------------------------------------------------
def guide_for_runs(model, guide, run_ids, fitted_runs=None):
    """The guide to replay on runs ``run_ids``, and where each run's task latent comes from.

    Micro level: ``guide`` unchanged. Meso level: a copy of the guide whose q(c[n]) row n is the fitted
    q(c) of run ``run_ids[n]`` when that run is in ``fitted_runs`` (the adaptation runs, in the order of
    the guide's table), else the prior N(0, I) (a held-out run). Returns (guide, sources) with sources
    a list of "fitted" / "prior" per run.
    """
    from probtok.guides import TokenGuide

    if getattr(guide, "level", "micro") != "meso":
        return guide, ["none"] * len(run_ids)
    fitted = [int(r) for r in (fitted_runs or [])]
    g = TokenGuide(model.spec, "meso", n_runs=len(run_ids)).attach(model)
    g.load_state_dict({k: v for k, v in guide.state_dict().items() if not k.startswith("c_")}, strict=False)
    sources = []
    with torch.no_grad():
        prior_raw = math.log(math.expm1(1.0))  # softplus^-1(1): unit prior scale
        for n, r in enumerate(run_ids):
            if int(r) in fitted and fitted.index(int(r)) < guide.c_loc.shape[0]:
                i = fitted.index(int(r))
                g.c_loc[n] = guide.c_loc[i]
                g.c_scale_raw[n] = guide.c_scale_raw[i]
                sources.append("fitted")
            else:
                g.c_loc[n] = 0.0
                g.c_scale_raw[n] = prior_raw
                sources.append("prior")
    g.eval()
    g.requires_grad_(False)
    return g, sources


def micro_as_meso(model, guide):
    """A micro fit as the micro-only meso reference: ``spec.steps_per_frame`` micro steps per meso frame and
    no coupling (q(phi) is a point mass at 0, so G_phi = 0 whatever c is)."""
    from probtok.adapt import meso_from_micro

    m, g = meso_from_micro(model, guide, n_runs=1)
    with torch.no_grad():
        g.phi_loc.zero_()
        g.phi_scale_raw.fill_(-40.0)  # softplus(-40) ~ 4e-18: phi == 0 to float precision
    for mod in (m, g):
        mod.eval()
        mod.requires_grad_(False)
    return m, g


def inference_data_from_files(model_dir, data, runs=None, *, num_draws: int = 100, seed: int = 0,
                              as_meso: bool | None = None, field_subsample="auto", n_frames: int | None = None,
                              progress: bool = True, observation_noise: bool = True):
    """InferenceData of a fit directory (micro or meso checkpoint) on runs of a dataset file.

    runs : run indices (default: the fit's held-out runs when ``data`` is its own file, else every ok run).
    as_meso : a micro fit is checked as the micro-only meso reference (:func:`micro_as_meso`); None: when
        the file's set-up is "meso". Meso fits take q(c[n]) of their adaptation runs and the prior N(0, I)
        for any other run (:func:`guide_for_runs`). n_frames : first frames only (default all).
    Constant data: every numeric per-run parameter of the file (e.g. up_kms, porosity).
    """
    import json

    from probtok.checkpoint import fit_start_frame, load_fitted
    from probtok.data import open_dataset
    from probtok.data.normalize import Normaliser
    from probtok.errors import CheckpointError
    from probtok.fit import frames_from

    model, guide, ckpt = load_fitted(model_dir)
    if ckpt["normalisation"] is None:
        raise CheckpointError("the fit stored no normalisation (fitted on pre-normalised tensors)", file=model_dir,
                              hint="fit from a dataset file (probtok fit-micro / probtok adapt)")
    spec = model.spec
    norm = Normaliser.from_dict(ckpt["normalisation"]).subset(spec.fields)
    meta = dict(ckpt["meta"])
    same_file = Path(str(meta.get("data", ""))).name == Path(data).name
    with open_dataset(data) as ds:
        require_fields(ds, spec.fields, data)
        if runs is None:
            held = meta.get("holdout_runs") if same_file else None
            runs = list(held) if held else [int(r) for r in ds.ok_runs]
        runs = [int(r) for r in runs]
        if not runs:
            raise DataError("no runs to check", file=data, hint="give --runs")
        T = ds.n_frames if n_frames is None else min(int(n_frames), ds.n_frames)
        s = spec.token_size
        if ds.grid[0] % s or ds.grid[1] % s:
            raise DataError(f"grid {tuple(ds.grid)} is not a multiple of the model's token size {s}", file=data)
        x = np.stack([ds.frames(r, spec.fields, frames=slice(0, T)) for r in runs])
        params = {}
        for k, col in ds.params.items():
            col = np.asarray(col)
            if np.issubdtype(col.dtype, np.number) and col.ndim == 1:
                params[k] = col[runs].astype(np.float64)
        setup, dx_um, threshold, time_ns = ds.setup, ds.dx_um, ds.hotspot_threshold_K, ds.time_ns[:T]
    # a fit that left out frames before its start frame describes the frames from there on only
    start = fit_start_frame(ckpt)
    x = frames_from(x, start, hint=f"the model's fit starts at frame {start}: raise --frames")
    time_ns = time_ns[start:]
    level = ckpt["level"]
    role = "adapted meso model" if level == "meso" else "micro model"
    if level == "micro" and (as_meso if as_meso is not None else str(setup).startswith("meso")):
        model, guide = micro_as_meso(model, guide)
        role = "micro-only reference (phi = 0, steps_per_frame micro steps per frame)"
    fitted = meta.get("train_runs") if (level == "meso" and same_file) else None
    guide, sources = guide_for_runs(model, guide, runs, fitted_runs=fitted)
    attrs = {"model_dir": str(model_dir), "data": str(data), "checkpoint_level": level, "model_role": role,
             "task_latent_source": json.dumps(dict(zip([str(r) for r in runs], sources)))}
    return to_inference_data(model, guide, norm.forward(torch.as_tensor(x), field_axis=2), normaliser=norm,
                             run_ids=runs, time_ns=time_ns, dx_um=dx_um, threshold_K=threshold,
                             constant_data=params, num_draws=num_draws, seed=seed, field_subsample=field_subsample,
                             attrs=attrs, progress=progress, observation_noise=observation_noise)


# -- checks and comparison --------------------------------------------------------------------------
def loo(idata, pointwise: bool = True):
    """``az.loo`` of the frame-pointwise log-likelihood (Pareto-k warnings kept, see :func:`pareto_k_counts`)."""
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return az.loo(idata, pointwise=pointwise, var_name="x")


def pareto_k_counts(loo_result, threshold: float = PARETO_K_BAD) -> tuple[int, int]:
    """(number of points with Pareto k > threshold, number of points)."""
    k = np.asarray(loo_result.pareto_k).ravel()
    return int(np.sum(k > threshold)), int(k.size)


def compare_models(idatas: dict, *, echo=None):
    """``az.compare`` (LOO, stacking weights) of {name: InferenceData} on the same runs and frames.

    Weights: stacking, or pseudo-BMA (column ``weight_method``) when stacking's optimiser overflows.
    Adds ``n_pareto_k_gt_0.7`` and ``n_points`` columns and prints (``echo``, default ``print``) one line per
    model with unreliable PSIS points: they are reported, never hidden. Returns the DataFrame (rank 0 = best).
    """
    import arviz as az

    if len(idatas) < 2:
        raise ConfigError("model comparison needs at least two models", hint="give --model NAME=DIR twice or more")
    shapes = {name: tuple(idata.log_likelihood["x"].shape[2:]) for name, idata in idatas.items()}
    if len(set(shapes.values())) != 1:
        raise DataError(f"models were checked on different runs/frames: {shapes}",
                        hint="build every InferenceData on the same runs and frames")
    echo = print if echo is None else echo
    loos = {name: loo(idata) for name, idata in idatas.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = az.compare(loos, ic="loo", method="stacking")
    if any(issubclass(w.category, RuntimeWarning) for w in caught) or not np.all(np.isfinite(table["weight"])):
        # stacking's optimiser over/underflows when elpd gaps are thousands of nats (whole-frame points):
        # pseudo-BMA weights exp(elpd_i - max) are exact there (~1 for the best model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = az.compare(loos, ic="loo", method="pseudo-BMA")
        table["weight_method"] = "pseudo-BMA"
    else:
        table["weight_method"] = "stacking"
    col = f"n_pareto_k_gt_{PARETO_K_BAD}"
    table[col] = 0
    table["n_points"] = 0
    for name, res in loos.items():
        bad, n = pareto_k_counts(res)
        table.loc[name, col] = bad
        table.loc[name, "n_points"] = n
        if bad:
            echo(f"warning: {name}: {bad} of {n} (run, frame) points have Pareto k > {PARETO_K_BAD}; "
                 "their PSIS-LOO terms are unreliable (elpd differences may be too)")
    return table


def latent_summary(idata):
    """``az.summary`` (kind "stats": mean, sd, HDI) of the posterior latents; iid draws need no R-hat."""
    import arviz as az

    names = [v for v in ("sigma_x", "sigma_x_phys", "phi_norm", "c") if v in idata.posterior]
    return az.summary(idata, var_names=names, kind="stats")


def interval_coverage(idata, levels=(0.5, 0.9)):
    """Coverage of central predictive intervals of the hot-spot metrics: DataFrame (metric x level).

    Points where every draw equals the truth (e.g. no hot spot anywhere) are dropped, as in
    probtok.calibration; ``n_points`` says how many remain.
    """
    import pandas as pd

    from probtok.calibration import coverage

    rows = {}
    for k in METRICS:
        pp = idata.posterior_predictive[k].values
        draws = pp.reshape(pp.shape[0] * pp.shape[1], -1)
        truth = idata.observed_data[k].values.ravel()
        cov = coverage(draws, truth, levels)
        n = int((~np.all(draws == truth[None], axis=0)).sum())
        rows[k] = {**{f"coverage_{int(round(100 * lv))}": v for lv, v in cov.items()}, "n_points": n}
    return pd.DataFrame.from_dict(rows, orient="index")


def loo_log_weights(idata):
    """PSIS-smoothed leave-one-frame-out log weights (chain, draw, run, frame) of the frame log-likelihood,
    used for the LOO-PIT of every per-frame metric (leaving frame t out leaves T_hs[t], A_hs[t] out)."""
    import arviz as az

    ll = idata.log_likelihood["x"].stack(__sample__=("chain", "draw"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        lw, _ = az.psislw(-ll)
    return lw


def ppc_plots(idata, out_dir, *, max_runs: int = 6, num_pp_samples: int = 50) -> dict[str, Path]:
    """Posterior predictive check plots and tables into ``out_dir``; returns {name: path}.

    ppc_<metric>.png (az.plot_ppc), loo_pit.png (az.plot_loo_pit of T_hs and A_hs with leave-one-frame-out
    weights), fan_<run>.png (50 % / 90 % HDI bands of T_hs, A_hs over time with the observation),
    latent_summary.csv (az.summary), coverage.csv (interval coverage), loo.csv (elpd, Pareto k counts).
    """
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from probtok.plots import save_png

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    sizes = idata.posterior_predictive.sizes
    num_pp_samples = min(num_pp_samples, sizes["chain"] * sizes["draw"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, (unit, _) in METRICS.items():
            axes = az.plot_ppc(idata, var_names=[k], group="posterior", num_pp_samples=num_pp_samples,
                               random_seed=0, kind="cumulative", show=False)
            ax = np.ravel(axes)[0]
            ax.set_xlabel(f"{k} [{unit}] (all runs and times pooled)")
            paths[f"ppc_{k}"] = save_png(ax.figure, out_dir / f"ppc_{k}.png")
            plt.close(ax.figure)

        lw = loo_log_weights(idata)
        fig, axs = plt.subplots(1, 2, figsize=(10, 4))
        for ax, k in zip(axs, ("T_hs", "A_hs")):
            az.plot_loo_pit(idata, y=k, log_weights=lw, ecdf=True, ax=ax, show=False)
            ax.set_title(f"LOO-PIT ECDF difference, {k}")
        fig.tight_layout()
        paths["loo_pit"] = save_png(fig, out_dir / "loo_pit.png")
        plt.close(fig)

        for run in list(idata.observed_data["run"].values)[:max_runs]:
            fig = fan_chart(idata, run)
            paths[f"fan_{run}"] = save_png(fig, out_dir / f"fan_{run}.png")
            plt.close(fig)

    tables = {"latent_summary": latent_summary(idata), "coverage": interval_coverage(idata)}
    res = loo(idata)
    bad, n = pareto_k_counts(res)
    tables["loo"] = pd.DataFrame([{"elpd_loo": float(res.elpd_loo), "se": float(res.se), "p_loo": float(res.p_loo),
                                   f"n_pareto_k_gt_{PARETO_K_BAD}": bad, "n_points": n}])
    for name, df in tables.items():
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            df.to_csv(tmp)
        paths[name] = out_dir / f"{name}.csv"
    return paths


def fan_chart(idata, run):
    """T_hs and A_hs of one run over time: 50 % and 90 % HDI of the replicates, and the observation."""
    import arviz as az
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(10, 3.6))
    t = idata.observed_data["frame"].values
    for ax, k in zip(axs, ("T_hs", "A_hs")):
        pp = idata.posterior_predictive[k].sel(run=run)
        for prob, alpha in ((0.9, 0.25), (0.5, 0.45)):
            az.plot_hdi(t, pp, hdi_prob=prob, ax=ax, smooth=False, color="C0",
                        fill_kwargs={"alpha": alpha, "label": f"{int(prob * 100)} % HDI"})
        ax.plot(t, pp.median(("chain", "draw")), color="C0", lw=1, label="median")
        ax.plot(t, idata.observed_data[k].sel(run=run), "k.-", lw=1, label="observed")
        ax.set_xlabel("time [ns]")
        ax.set_ylabel(f"{k} [{METRICS[k][0]}]")
        ax.set_title(f"run {run}: {k}")
    axs[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["to_inference_data", "inference_data_from_files", "save_inference_data", "load_inference_data",
           "guide_for_runs", "micro_as_meso",
           "compare_models", "ppc_plots", "latent_summary", "interval_coverage", "loo", "pareto_k_counts",
           "replay_draw", "fan_chart"]
