r"""Macro-scale closure law for hot-spot / reacted-area growth, fitted by NUTS (NumPyro).

A homogenized (macro-scale) code needs the rate at which the burning area of a
shocked porous explosive grows as a function of the local shock strength and
porosity. This module fits such a law, with its uncertainty, to the hot-spot
area series of meso runs.

The law (units: time ``t`` [ns], rates [1/ns], particle velocity ``Up`` [km/s],
porosity ``phi`` [1], area fraction ``F`` [1])
--------------------------------------------------------------------------------
Per run ``n`` with shock strength ``Up_n`` and porosity ``phi_n``::

    F_n(t)   = A_hs,n(t) / A_domain                               (hot-spot area fraction)

    dF_n/dt  = m k_n (1 - F_n) [-ln(1 - F_n)]^((m-1)/m) H(t - t_ig)   (growth after ignition)

    F_n(t)   = 1 - exp(-[k_n (t - t_ig)_+]^m)                      (its exact solution, F(t_ig) = 0)

    ln k_n   = ln k0 + alpha ln(Up_n / Up_ref) + beta (phi_n - phi_ref) + tau eps_n,
    eps_n    ~ Normal(0, 1)                                         (run-level random effect)

    F_obs[n, t] ~ Normal(F_n(t), sqrt(sigma^2 + s[n, t]^2))         (observation model)

This is the Johnson-Mehl-Avrami-Kolmogorov form of nucleation-and-growth with
Avrami exponent ``m = 2`` (fixed: hot spots nucleated at pore collapse, each
growing with a constant front speed in 2-D, so their area grows ~ t^2). For
small ``F`` it reduces to ``dF/dt ~ 2 k F^(1/2) (1 - F)``, the growth term
``G (1-F)^c F^d P^y`` of Lee-Tarver ignition-and-growth with ``c = 1``,
``d = 1/2``, and the pressure dependence carried by ``k0 (Up/Up_ref)^alpha``
(shock pressure is monotone in ``Up``). Hot-spot area series identify one rate
and one onset per run, so the law keeps exactly that: a global ignition delay
``t_ig`` [ns] (time from the start of the record to the onset of growth, the
same for every run; an Up-dependent delay is a possible extension), the rate
``k`` through ``k0`` [1/ns] at ``Up_ref``, ``phi_ref``, its Up exponent
``alpha`` [1] and porosity sensitivity ``beta`` [1 per unit porosity],
the run-to-run scatter ``tau`` [1, on ln k] that the two covariates do not
explain (pore arrangement), and the observation noise ``sigma`` [1, in F].

Posterior-predictive input (forecast uncertainty)
-------------------------------------------------
When the area fractions come as draws ``(draw, run, frame)`` (e.g. forecasts of
the probabilistic surrogate), the draws are treated as a **measurement-error
model**: the true series is taken as Normal with the draws' mean and standard
deviation ``s[n, t]`` per run and frame, and it is marginalised analytically,
which gives the ``sqrt(sigma^2 + s^2)`` observation scale above. One NUTS fit
then carries the forecast uncertainty into the closure posterior. Assumption:
the draws' errors are independent between frames; when forecast errors are
strongly correlated in time this under-states the closure uncertainty (fitting
each draw separately and pooling would be the conservative alternative).

Priors (``ClosurePriors``; edit them for other materials or time scales)
------------------------------------------------------------------------
``ln k0 ~ N(ln 0.5, 0.75)``, ``alpha ~ N(1, 1)``, ``beta ~ N(0, 5)``,
``t_ig ~ LogNormal(ln 1, 0.4)`` [ns], ``tau ~ Gamma(2, rate 10)`` (mean 0.2),
``sigma ~ LogNormal(ln 0.02, 0.5)``: weakly informative for meso records of a
few ns sampled every ~0.1 ns (growth resolved by the frames). ``sigma`` is the
law's structural misfit plus counting noise, never zero: a prior that allows
``sigma -> 0`` makes the posterior needle-sharp at the onset kink and NUTS
stalls there. ``tau``'s Gamma(2) prior is boundary-avoiding (density ~ tau near
0): with 5-20 runs tau is weakly identified, and a HalfNormal let chains sink
into the tau -> 0 funnel of the centred run effects.

Sampling
--------
NUTS from ``numpyro.infer.hmc`` (dense mass matrix, target accept 0.9), chains
vectorised with ``jax.vmap``, the whole warm-up + sampling loop one jitted
function of the data: same-shaped data reuse the compiled sampler. Run
effects are centred (each run's tens of frames pin its own ln k). Chains start
near the prior median. Diagnostics (split R-hat, bulk ESS, divergences) come
from ArviZ on the ``InferenceData`` (groups posterior, log_likelihood
(run, frame), sample_stats, observed_data, constant_data).
Checked by simulation-based calibration (``benchmarks/closure_sbc.py``: 50
prior draws, 8 runs x 36 frames): 90 % intervals cover 0.89, 50 % cover 0.48.

Limits
------
F tends to 1 (the whole domain eventually hot): series that plateau lower
(quenching hot spots) need an extra saturation level; the onset ``t_ig`` is
shared by all runs; frames are conditionally independent given the law.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer.hmc import hmc
from numpyro.infer.util import constrain_fn, log_likelihood, potential_energy

with warnings.catch_warnings():  # arviz 0.23 announces its refactor on import
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

from probtok.atomic import atomic_path, atomic_write_text
from probtok.errors import ConfigError, DataError

#: Global parameters of the law, in the order they are reported.
PARAM_NAMES: tuple[str, ...] = ("log_k0", "alpha", "beta", "t_ig_ns", "tau", "sigma")
PARAM_UNITS: dict[str, str] = {
    "log_k0": "ln(1/ns)",
    "alpha": "1",
    "beta": "1 per unit porosity",
    "t_ig_ns": "ns",
    "tau": "1 (on ln k)",
    "sigma": "1 (area fraction)",
}
UP_REF_KMS = 1.0  # reference particle velocity [km/s]
PHI_REF = 0.1  # reference porosity [1]
AVRAMI_M = 2.0  # Avrami exponent (2-D growth of site-saturated nuclei)
AREA_FRACTION_SLACK = 0.25  # accepted excursion of noisy area fractions beyond [0, 1]


# ----------------------------------------------------------------------------- data


@dataclass
class ClosureData:
    """Hot-spot area fractions of meso runs, the input of the closure fit.

    up_kms : (run,) particle velocity [km/s]; porosity : (run,) [1];
    time_ns : (frame,) strictly increasing [ns];
    area_fraction : (run, frame) or (draw, run, frame), hot-spot area over domain area [1].
    """

    up_kms: np.ndarray
    porosity: np.ndarray
    time_ns: np.ndarray
    area_fraction: np.ndarray
    source: str | None = None  # file the data came from, for error messages

    def __post_init__(self):
        self.up_kms = np.asarray(self.up_kms, dtype=float)
        self.porosity = np.asarray(self.porosity, dtype=float)
        self.time_ns = np.asarray(self.time_ns, dtype=float)
        self.area_fraction = np.asarray(self.area_fraction, dtype=float)
        validate_closure_data(self)

    @property
    def n_run(self) -> int:
        return int(self.up_kms.shape[0])

    @property
    def has_draws(self) -> bool:
        return self.area_fraction.ndim == 3

    def mean_sd(self) -> tuple[np.ndarray, np.ndarray]:
        """Per (run, frame) mean and standard deviation over draws (sd = 0 without draws)."""
        if not self.has_draws:
            return self.area_fraction, np.zeros_like(self.area_fraction)
        a = self.area_fraction
        sd = a.std(axis=0, ddof=1) if a.shape[0] > 1 else np.zeros(a.shape[1:])
        return a.mean(axis=0), sd


def validate_closure_data(data: ClosureData) -> None:
    """Raise :class:`DataError` naming the field and run when ``data`` cannot be fitted."""
    src = data.source
    for name in ("up_kms", "porosity"):
        arr = getattr(data, name)
        if arr.ndim != 1:
            raise DataError(f"expected shape (run,), got {arr.shape}", file=src, field=name)
    n_run = data.up_kms.shape[0]
    if data.porosity.shape[0] != n_run:
        raise DataError(
            f"{data.porosity.shape[0]} porosities for {n_run} runs", file=src, field="porosity",
            hint="give one porosity per run",
        )
    if n_run < 3:
        raise DataError(
            f"only {n_run} runs; the hierarchical law needs at least 3", file=src,
            hint="fit the closure to at least 3 runs spanning the shock strengths and porosities of interest",
        )
    if data.time_ns.ndim != 1 or data.time_ns.shape[0] < 3:
        raise DataError(f"expected (frame,) with >= 3 frames, got {data.time_ns.shape}", file=src, field="time_ns")
    if not np.all(np.isfinite(data.time_ns)) or np.any(np.diff(data.time_ns) <= 0):
        raise DataError("times must be finite and strictly increasing", file=src, field="time_ns")
    a = data.area_fraction
    want = (n_run, data.time_ns.shape[0])
    if a.ndim not in (2, 3) or a.shape[-2:] != want:
        raise DataError(
            f"expected shape {want} (run, frame) or (draw, {want[0]}, {want[1]}), got {a.shape}",
            file=src, field="area_fraction",
        )
    for n in range(n_run):
        if not (np.isfinite(data.up_kms[n]) and data.up_kms[n] > 0):
            raise DataError(f"Up = {data.up_kms[n]} km/s; must be finite and > 0", file=src, run=n, field="up_kms")
        if not (np.isfinite(data.porosity[n]) and 0 <= data.porosity[n] < 1):
            raise DataError(
                f"porosity = {data.porosity[n]}; must be in [0, 1)", file=src, run=n, field="porosity",
                hint="porosity is a volume fraction (0.1 = 10 %), not a percentage",
            )
        series = a[..., n, :]
        if not np.all(np.isfinite(series)):
            raise DataError("non-finite area fraction", file=src, run=n, field="area_fraction")
        # noisy fractions may stray a little outside [0, 1]; far outside means wrong units
        if series.min() < -AREA_FRACTION_SLACK or series.max() > 1 + AREA_FRACTION_SLACK:
            raise DataError(
                f"area fraction far outside [0, 1] (min {series.min():.3g}, max {series.max():.3g})",
                file=src, run=n, field="area_fraction",
                hint="give A_hs / A_domain, not the area in um^2",
            )


def closure_data_from_hdf5(path, threshold_K: float | None = None) -> ClosureData:
    """Read closure input from an HDF5 file.

    Two layouts are accepted: a *closure table* (root datasets ``up_kms``,
    ``porosity``, ``time_ns``, ``area_fraction``; see :func:`save_closure_data`),
    or a probtok run file (``probtok.data.open_dataset``), whose ok runs give
    ``F = A_hs / (H W dx^2)``: the stored hot-spot series when ``threshold_K``
    is None or equals the file's threshold, else
    ``probtok.hotspots.hotspot_area(T, dx_um, threshold_K)`` [um^2] from the frames.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=path, hint="check the --data path")
    try:
        with h5py.File(path, "r") as f:
            if "area_fraction" in f:
                missing = [k for k in ("up_kms", "porosity", "time_ns") if k not in f]
                if missing:
                    raise DataError(
                        f"closure table lacks dataset(s) {missing}", file=path, field=missing[0],
                        hint="write the file with probtok.closure.save_closure_data",
                    )
                return ClosureData(
                    up_kms=f["up_kms"][()], porosity=f["porosity"][()], time_ns=f["time_ns"][()],
                    area_fraction=f["area_fraction"][()], source=str(path),
                )
    except OSError as exc:
        raise DataError(f"not a readable HDF5 file ({exc})", file=path) from exc
    return _closure_data_from_runs(path, threshold_K)


def _closure_data_from_runs(path: Path, threshold_K: float | None) -> ClosureData:
    """Hot-spot area fractions of the ok runs of a probtok run file."""
    try:
        from probtok.data import open_dataset
        from probtok.hotspots import hotspot_area
    except ImportError as exc:
        raise DataError(
            f"cannot read run files in this installation ({exc})", file=path,
            hint="give a closure table (up_kms, porosity, time_ns, area_fraction) instead",
        ) from exc
    with open_dataset(path) as ds:
        for key in ("up_kms", "porosity"):
            if key not in ds.params:
                raise DataError(
                    f"run parameter {key!r} missing", file=path, field=key,
                    hint="the closure law needs the shock particle velocity and porosity of every run",
                )
        ok = np.asarray(ds.ok_runs)
        H, W = ds.grid
        domain_um2 = H * W * float(ds.dx_um) ** 2
        stored = ds.hotspots()
        if stored is not None and (threshold_K is None or threshold_K == ds.hotspot_threshold_K):
            area_um2 = np.asarray(stored["A_hs"], dtype=float)[ok]
        else:
            thr = ds.hotspot_threshold_K if threshold_K is None else threshold_K
            area_um2 = np.stack([np.asarray(hotspot_area(ds.frames(r, fields=["T"])[:, 0], ds.dx_um, thr))
                                 for r in ok])
        return ClosureData(
            up_kms=np.asarray(ds.params["up_kms"], dtype=float)[ok],
            porosity=np.asarray(ds.params["porosity"], dtype=float)[ok],
            time_ns=np.asarray(ds.time_ns, dtype=float), area_fraction=area_um2 / domain_um2, source=str(path),
        )


def closure_data_from_forecasts(paths, up_kms=None, porosity=None) -> ClosureData:
    """Closure input with draws from per-run forecast files (``probtok.forecast.write_forecast``).

    Each file gives ``A_hs_draws`` (draw, frame) [um^2], divided by its domain
    area (y x x cells of ``dx_um``). Up [km/s] and porosity come from the files'
    ``up_kms`` / ``porosity`` attributes, or from ``up_kms`` / ``porosity``
    (one value per file, overriding them). Files must share their frame times;
    the first ``min(n_draws)`` draws of each run are used (draws of different
    runs are independent, so pairing them by index is arbitrary: the
    measurement-error model only uses each run's per-frame mean and sd).
    """
    from probtok.forecast import read_forecast

    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("no forecast files given", hint="pass the forecast .nc files of at least 3 runs")
    series, ups, phis, time_ns = [], [], [], None
    for i, path in enumerate(paths):
        ds = read_forecast(path)
        t = np.asarray(ds["time_ns"].values, dtype=float)
        if time_ns is None:
            time_ns = t
        elif t.shape != time_ns.shape or not np.allclose(t, time_ns):
            raise DataError("frame times differ from those of the first file", file=path, field="time_ns",
                            hint="forecast every run over the same frames")
        domain_um2 = ds.sizes["y"] * ds.sizes["x"] * float(ds.attrs["dx_um"]) ** 2
        series.append(np.asarray(ds["A_hs_draws"].values, dtype=float) / domain_um2)
        for name, given, out in (("up_kms", up_kms, ups), ("porosity", porosity, phis)):
            if given is not None:
                out.append(float(given[i]))
            elif name in ds.attrs:
                out.append(float(ds.attrs[name]))
            else:
                raise DataError(f"no {name!r} attribute", file=path, field=name,
                                hint=f"pass {name} per file, or store it with summarize_forecast(attrs={{...}})")
    n_draw = min(a.shape[0] for a in series)
    return ClosureData(np.array(ups), np.array(phis), time_ns, np.stack([a[:n_draw] for a in series], axis=1),
                       source=str(paths[0].parent))


def closure_data_from_path(path, threshold_K: float | None = None) -> ClosureData:
    """A closure table or run file (HDF5), or a folder of per-run forecast files (*.nc)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.nc"))
        if not files:
            raise DataError("folder holds no forecast files (*.nc)", file=path,
                            hint="give a run file, a closure table, or a folder of `probtok forecast` outputs")
        return closure_data_from_forecasts(files)
    return closure_data_from_hdf5(path, threshold_K=threshold_K)


def save_closure_data(data: ClosureData, path) -> Path:
    """Write ``data`` as a closure table (HDF5, atomic) readable by :func:`closure_data_from_hdf5`."""
    import h5py

    path = Path(path)
    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["probtok_kind"] = "closure_table"
            f.create_dataset("up_kms", data=data.up_kms).attrs["units"] = "km/s"
            f.create_dataset("porosity", data=data.porosity).attrs["units"] = "1"
            f.create_dataset("time_ns", data=data.time_ns).attrs["units"] = "ns"
            d = f.create_dataset("area_fraction", data=data.area_fraction)
            d.attrs["units"] = "1"
            d.attrs["dims"] = "draw,run,frame" if data.has_draws else "run,frame"
    return path


# ----------------------------------------------------------------------------- the law


def area_fraction_law(k_per_ns, t_ig_ns, time_ns, m: float = AVRAMI_M):
    """F(t) = 1 - exp(-[k (t - t_ig)_+]^m); broadcasts k [1/ns], t_ig [ns], time [ns]."""
    elapsed = jnp.clip(time_ns - t_ig_ns, 0.0, None)
    return 1.0 - jnp.exp(-((k_per_ns * elapsed) ** m))


def growth_rate(F, k_per_ns, m: float = AVRAMI_M):
    """dF/dt [1/ns] after ignition: m k (1 - F) [-ln(1 - F)]^((m-1)/m)."""
    F = jnp.asarray(F)
    return m * k_per_ns * (1.0 - F) * (-jnp.log1p(-F)) ** ((m - 1.0) / m)


def log_rate(log_k0, alpha, beta, up_kms, porosity, up_ref_kms=UP_REF_KMS, phi_ref=PHI_REF):
    """Population ln k [ln(1/ns)] at shock strength ``up_kms`` [km/s] and ``porosity`` [1]."""
    return log_k0 + alpha * jnp.log(up_kms / up_ref_kms) + beta * (porosity - phi_ref)


@dataclass(frozen=True)
class ClosurePriors:
    """Prior hyper-parameters (see the module docstring for units)."""

    log_k0_loc: float = math.log(0.5)
    log_k0_scale: float = 0.75
    alpha_loc: float = 1.0
    alpha_scale: float = 1.0
    beta_loc: float = 0.0
    beta_scale: float = 5.0
    t_ig_log_loc: float = 0.0  # ln(1 ns)
    t_ig_log_scale: float = 0.4
    tau_mean: float = 0.2  # Gamma(2, 2 / tau_mean): boundary-avoiding, mode tau_mean / 2
    sigma_log_loc: float = math.log(0.02)
    sigma_log_scale: float = 0.5

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not math.isfinite(value) or (name.endswith(("scale", "mean")) and value <= 0):
                raise ConfigError(f"prior {name} = {value}; scales must be finite and > 0", field=name)


def closure_model(up_kms, porosity, time_ns, f_obs=None, f_obs_sd=None, priors=None,
                  up_ref_kms=UP_REF_KMS, phi_ref=PHI_REF):
    """NumPyro model of the law.

    up_kms, porosity : (run,); time_ns : (frame,); f_obs, f_obs_sd : (run, frame),
    observed area fraction and its draw standard deviation (measurement-error
    model; zeros or None without draws). ``priors`` is a :class:`ClosurePriors`
    or a mapping with its field names (so the hyper-parameters can be traced).
    """
    p = asdict(priors if priors is not None else ClosurePriors()) if not isinstance(priors, dict) else priors
    log_k0 = numpyro.sample("log_k0", dist.Normal(p["log_k0_loc"], p["log_k0_scale"]))
    alpha = numpyro.sample("alpha", dist.Normal(p["alpha_loc"], p["alpha_scale"]))
    beta = numpyro.sample("beta", dist.Normal(p["beta_loc"], p["beta_scale"]))
    t_ig = numpyro.sample("t_ig_ns", dist.LogNormal(p["t_ig_log_loc"], p["t_ig_log_scale"]))
    tau = numpyro.sample("tau", dist.Gamma(2.0, 2.0 / p["tau_mean"]))
    sigma = numpyro.sample("sigma", dist.LogNormal(p["sigma_log_loc"], p["sigma_log_scale"]))
    mean_log_k = log_rate(log_k0, alpha, beta, up_kms, porosity, up_ref_kms, phi_ref)
    with numpyro.plate("run", up_kms.shape[0], dim=-2):
        # centred random effect: each run's series pins its own rate tightly (tens of
        # frames per run), the regime where centring mixes better than non-centring
        log_k = numpyro.sample("log_k", dist.Normal(mean_log_k[:, None], tau))
        numpyro.deterministic("eps", (log_k - mean_log_k[:, None]) / tau)
        F = area_fraction_law(jnp.exp(log_k), t_ig, time_ns[None, :])
        scale = sigma if f_obs_sd is None else jnp.sqrt(sigma**2 + f_obs_sd**2)
        with numpyro.plate("frame", time_ns.shape[0], dim=-1):
            numpyro.sample("F", dist.Normal(F, scale), obs=f_obs)


def simulate_closure(params: dict, up_kms, porosity, time_ns, rng, up_ref_kms=UP_REF_KMS, phi_ref=PHI_REF):
    """Draw area fractions (run, frame) from the law with the given global ``params``.

    ``params`` holds the :data:`PARAM_NAMES`; ``rng`` is a ``numpy.random.Generator``.
    Returns ``(area_fraction, log_k)``; the run effects ``eps`` are drawn unless
    ``params['eps']`` is given. Observations are not clipped to [0, 1] (the
    model's noise is Gaussian), only validated by :class:`ClosureData` callers.
    """
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ConfigError(f"missing closure parameter(s) {missing}", hint=f"give all of {list(PARAM_NAMES)}")
    up = np.asarray(up_kms, dtype=float)
    phi = np.asarray(porosity, dtype=float)
    t = np.asarray(time_ns, dtype=float)
    eps = np.asarray(params["eps"]) if "eps" in params else rng.standard_normal(up.shape[0])
    log_k = np.asarray(log_rate(params["log_k0"], params["alpha"], params["beta"], up, phi, up_ref_kms, phi_ref))
    log_k = log_k + params["tau"] * eps
    F = np.asarray(area_fraction_law(np.exp(log_k)[:, None], params["t_ig_ns"], t[None, :]))
    return F + params["sigma"] * rng.standard_normal(F.shape), log_k


def sample_prior(priors: ClosurePriors, rng) -> dict:
    """One draw of the global parameters from ``priors`` (numpy Generator ``rng``)."""
    p = priors
    return {
        "log_k0": rng.normal(p.log_k0_loc, p.log_k0_scale),
        "alpha": rng.normal(p.alpha_loc, p.alpha_scale),
        "beta": rng.normal(p.beta_loc, p.beta_scale),
        "t_ig_ns": float(np.exp(rng.normal(p.t_ig_log_loc, p.t_ig_log_scale))),
        "tau": float(rng.gamma(2.0, p.tau_mean / 2.0)),
        "sigma": float(np.exp(rng.normal(p.sigma_log_loc, p.sigma_log_scale))),
    }


# ----------------------------------------------------------------------------- the fit


@dataclass
class ClosureFit:
    """Posterior of the closure law.

    idata : ArviZ InferenceData (posterior, log_likelihood, observed_data, constant_data);
    summary : az.summary of the global parameters (mean, sd, hdi, ess, r_hat).
    """

    idata: az.InferenceData
    summary: object  # pandas.DataFrame
    up_ref_kms: float = UP_REF_KMS
    phi_ref: float = PHI_REF
    priors: ClosurePriors = field(default_factory=ClosurePriors)
    num_divergences: int = 0

    @property
    def rhat_max(self) -> float:
        """Largest split R-hat over the global parameters and run rates ln k."""
        rhat = az.rhat(self.idata, var_names=list(PARAM_NAMES) + ["log_k"])
        return float(max(float(rhat[v].max()) for v in rhat.data_vars))

    @property
    def ess_min(self) -> float:
        """Smallest bulk ESS over the global parameters and run rates ln k."""
        ess = az.ess(self.idata, var_names=list(PARAM_NAMES) + ["log_k"], method="bulk")
        return float(min(float(ess[v].min()) for v in ess.data_vars))

    def samples(self, name: str) -> np.ndarray:
        """Posterior draws of one variable, chains stacked: (sample, ...)."""
        x = self.idata.posterior[name].values
        return x.reshape((-1,) + x.shape[2:])

    def interval(self, name: str, prob: float = 0.9) -> tuple[float, float]:
        """Central credible interval of a scalar parameter."""
        s = self.samples(name)
        return float(np.quantile(s, 0.5 - prob / 2)), float(np.quantile(s, 0.5 + prob / 2))

    def predict(self, up_kms, porosity, time_ns, rng=None, include_noise: bool = False, num_draws: int | None = None):
        """Posterior-predictive area fraction of NEW runs: array (draw, case, frame).

        ``up_kms`` [km/s] and ``porosity`` [1] are scalars or (case,) arrays,
        ``time_ns`` (frame,). Each draw takes the global parameters of one
        posterior sample and a fresh run effect ``eps ~ N(0, 1)`` (a new
        microstructure); ``include_noise`` adds the observation noise sigma.
        """
        rng = np.random.default_rng(rng)
        up = np.atleast_1d(np.asarray(up_kms, dtype=float))
        phi = np.atleast_1d(np.asarray(porosity, dtype=float))
        up, phi = np.broadcast_arrays(up, phi)
        if np.any(up <= 0) or np.any((phi < 0) | (phi >= 1)):
            raise ConfigError("predict needs Up > 0 km/s and porosity in [0, 1)", field="up_kms/porosity")
        t = np.asarray(time_ns, dtype=float)
        post = {k: self.samples(k) for k in PARAM_NAMES}
        n = post["log_k0"].shape[0]
        idx = np.arange(n) if num_draws is None else rng.choice(n, size=num_draws, replace=num_draws > n)
        g = {k: v[idx][:, None] for k, v in post.items()}
        log_k = np.asarray(log_rate(g["log_k0"], g["alpha"], g["beta"], up[None], phi[None], self.up_ref_kms, self.phi_ref))
        log_k = log_k + g["tau"] * rng.standard_normal(log_k.shape)
        F = np.asarray(area_fraction_law(np.exp(log_k)[..., None], g["t_ig_ns"][..., None], t[None, None, :]))
        if include_noise:
            F = F + g["sigma"][..., None] * rng.standard_normal(F.shape)
        return F

    def fitted_runs(self) -> np.ndarray:
        """Fitted law of the observed runs (their own run effects): (sample, run, frame)."""
        log_k = self.samples("log_k")
        t = self.idata.constant_data["time_ns"].values
        t_ig = self.samples("t_ig_ns")
        return np.asarray(area_fraction_law(np.exp(log_k)[..., None], t_ig[:, None, None], t[None, None, :]))

    def to_json(self) -> dict:
        """Point summaries for a macro code: means, sds, 90 % intervals, diagnostics, the law."""
        out = {
            "law": "F(t) = 1 - exp(-[k (t - t_ig)_+]^m); ln k = log_k0 + alpha ln(Up/Up_ref) + beta (phi - phi_ref) + tau eps",
            "m": AVRAMI_M, "up_ref_kms": self.up_ref_kms, "phi_ref": self.phi_ref,
            "rhat_max": self.rhat_max, "ess_min": self.ess_min, "num_divergences": self.num_divergences,
            "priors": asdict(self.priors), "parameters": {},
        }
        for name in PARAM_NAMES:
            s = self.samples(name)
            lo, hi = self.interval(name, 0.9)
            out["parameters"][name] = {
                "mean": float(s.mean()), "sd": float(s.std()), "q05": lo, "q95": hi, "units": PARAM_UNITS[name],
            }
        return out

    def save(self, out_dir, data: ClosureData | None = None) -> dict[str, Path]:
        """Write closure.nc (az.to_netcdf), closure_summary.csv, closure.json and, with ``data``, closure_fit.png."""
        out = Path(out_dir)
        paths = {"netcdf": out / "closure.nc", "summary": out / "closure_summary.csv", "json": out / "closure.json"}
        with atomic_path(paths["netcdf"], suffix=".nc") as tmp:
            az.to_netcdf(self.idata, str(tmp))
        atomic_write_text(paths["summary"], self.summary.to_csv())
        atomic_write_text(paths["json"], json.dumps(self.to_json(), indent=2) + "\n")
        if data is not None:
            paths["plot"] = plot_closure(self, data, out / "closure_fit.png")
        return paths


def _check_config(num_warmup, num_samples, num_chains, max_tree_depth):
    for name, value in (("num_warmup", num_warmup), ("num_samples", num_samples), ("num_chains", num_chains),
                        ("max_tree_depth", max_tree_depth)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} = {value!r}; must be a positive integer", field=name)
    if num_chains < 2:
        raise ConfigError("num_chains = 1; R-hat needs at least 2 chains", field="num_chains",
                          hint="use 4 chains (2 at least)")


@partial(jax.jit, static_argnames=("num_warmup", "num_samples", "num_chains", "max_tree_depth"))
def _nuts_chains(rng_key, model_kwargs, target_accept, *, num_warmup, num_samples, num_chains, max_tree_depth):
    """NUTS (numpyro.infer.hmc) on ``closure_model``, chains vectorised; compiled once per shape.

    Data and priors are traced arguments, so repeated fits of same-shaped data
    (calibration repeats, CLI re-runs in one process) reuse the compiled code;
    ``numpyro.infer.MCMC`` re-compiles per chain and per run here, which costs
    seconds per fit. Returns unconstrained draws (chain, draw, ...) and sample stats.
    """

    def potential_gen(**kw):
        return partial(potential_energy, closure_model, (), kw)

    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")
    n_run = model_kwargs["up_kms"].shape[0]
    init_key, chain_key = jax.random.split(rng_key)
    keys = jax.random.split(chain_key, num_chains)
    # Start each chain near the prior median (unconstrained space, jitter +-0.5): numpyro's
    # default init_to_uniform(-2, 2) can put t_ig past the record or k near 0, where the
    # predicted F is 0 everywhere, the likelihood is flat, and a chain stays stuck.
    p = model_kwargs["priors"]
    centre = {"log_k0": p["log_k0_loc"], "alpha": p["alpha_loc"], "beta": p["beta_loc"],
              "t_ig_ns": p["t_ig_log_loc"], "tau": jnp.log(0.84 * p["tau_mean"]),
              "sigma": p["sigma_log_loc"], "log_k": jnp.full((n_run, 1), p["log_k0_loc"])}
    ikeys = jax.random.split(init_key, len(centre))
    init = {name: c + jax.random.uniform(k, (num_chains,) + jnp.shape(c), minval=-0.5, maxval=0.5)
            for k, (name, c) in zip(ikeys, centre.items())}

    def one_chain(key, z0):
        # a small, heuristically grown first step: numpyro's default first step (1.0) can fling
        # ln k to +-50 early in warm-up, where F saturates, gradients vanish and a chain stays
        state = init_kernel(z0, num_warmup, step_size=0.01, find_heuristic_step_size=True, dense_mass=True,
                            target_accept_prob=target_accept, max_tree_depth=max_tree_depth,
                            model_kwargs=model_kwargs, rng_key=key)

        def step(s, _):
            s = sample_kernel(s, model_kwargs=model_kwargs)
            return s, (s.z, s.diverging, s.num_steps)

        _, out = jax.lax.scan(step, state, None, length=num_warmup + num_samples)
        return jax.tree.map(lambda x: x[num_warmup:], out)

    z, diverging, num_steps = jax.vmap(one_chain)(keys, init)
    constrain = partial(constrain_fn, closure_model, (), model_kwargs, return_deterministic=True)
    samples = jax.vmap(jax.vmap(constrain))(z)
    loglik = log_likelihood(closure_model, jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), samples),
                            **model_kwargs)["F"]
    return samples, loglik.reshape((num_chains, num_samples) + loglik.shape[1:]), diverging, num_steps


def fit_closure(data: ClosureData, num_warmup: int = 500, num_samples: int = 500, num_chains: int = 4, seed: int = 0,
                priors: ClosurePriors | None = None, up_ref_kms: float = UP_REF_KMS, phi_ref: float = PHI_REF,
                target_accept: float = 0.9, max_tree_depth: int = 10) -> ClosureFit:
    """Fit the hierarchical closure law to ``data`` with NUTS (NumPyro), several chains.

    With draws in ``data.area_fraction`` the measurement-error model of the
    module docstring is used. Returns a :class:`ClosureFit`; check
    ``fit.rhat_max`` (< 1.01 wanted), ``fit.ess_min`` and ``fit.num_divergences``
    before trusting it.
    """
    if not isinstance(data, ClosureData):
        raise ConfigError(f"fit_closure needs a ClosureData, got {type(data).__name__}")
    _check_config(num_warmup, num_samples, num_chains, max_tree_depth)
    if not (0.5 <= target_accept < 1):
        raise ConfigError(f"target_accept = {target_accept}; must be in [0.5, 1)", field="target_accept")
    priors = priors or ClosurePriors()
    f_mean, f_sd = data.mean_sd()
    kw = dict(
        up_kms=data.up_kms, porosity=data.porosity, time_ns=data.time_ns, f_obs=f_mean, f_obs_sd=f_sd,
        priors=asdict(priors), up_ref_kms=up_ref_kms, phi_ref=phi_ref,
    )
    kw = jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.float32), kw)
    samples, loglik, diverging, num_steps = _nuts_chains(
        jax.random.PRNGKey(seed), kw, jnp.float32(target_accept), num_warmup=num_warmup,
        num_samples=num_samples, num_chains=num_chains, max_tree_depth=max_tree_depth,
    )
    posterior = {k: np.asarray(v, dtype=float) for k, v in samples.items()}
    for name in ("log_k", "eps"):  # (chain, draw, run, 1) -> (chain, draw, run)
        posterior[name] = posterior[name][..., 0]
    idata = az.from_dict(
        posterior=posterior,
        log_likelihood={"F": np.asarray(loglik, dtype=float)},
        observed_data={"F": f_mean},
        sample_stats={"diverging": np.asarray(diverging), "n_steps": np.asarray(num_steps)},
        constant_data={"up_kms": data.up_kms, "porosity": data.porosity, "time_ns": data.time_ns,
                       "area_fraction_sd": f_sd},
        coords={"run": np.arange(data.n_run), "frame": data.time_ns},
        dims={"eps": ["run"], "log_k": ["run"], "F": ["run", "frame"], "up_kms": ["run"], "porosity": ["run"],
              "time_ns": ["frame"], "area_fraction_sd": ["run", "frame"]},
    )
    idata.posterior.attrs.update({"up_ref_kms": up_ref_kms, "phi_ref": phi_ref, "avrami_m": AVRAMI_M,
                                  "measurement_error_model": int(data.has_draws), "inference_library": "numpyro",
                                  "sampler": f"NUTS, dense mass, {num_chains} chains x ({num_warmup} warm-up + "
                                             f"{num_samples} draws), target accept {target_accept}"})
    summary = az.summary(idata, var_names=list(PARAM_NAMES))
    return ClosureFit(idata=idata, summary=summary, up_ref_kms=up_ref_kms, phi_ref=phi_ref, priors=priors,
                      num_divergences=int(np.asarray(diverging).sum()))


# ----------------------------------------------------------------------------- plot


def plot_closure(fit: ClosureFit, data: ClosureData, path, max_runs: int = 16) -> Path:
    """PNG: data and the fitted law (median, 90 % band) per run; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f_mean, f_sd = data.mean_sd()
    fitted = fit.fitted_runs()
    lo, med, hi = np.quantile(fitted, [0.05, 0.5, 0.95], axis=0)
    runs = np.arange(data.n_run)[:max_runs]
    ncol = min(4, len(runs))
    nrow = math.ceil(len(runs) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), sharex=True, sharey=True, squeeze=False)
    t = data.time_ns
    for ax in axes.flat[len(runs):]:
        ax.set_visible(False)
    for ax, n in zip(axes.flat, runs):
        ax.fill_between(t, lo[n], hi[n], color="C0", alpha=0.3, label="law, 90 %")
        ax.plot(t, med[n], color="C0", label="law, median")
        if data.has_draws:
            ax.errorbar(t, f_mean[n], yerr=f_sd[n], fmt=".", color="k", ms=3, lw=0.5, label="data (mean ± sd)")
        else:
            ax.plot(t, f_mean[n], ".", color="k", ms=3, label="data")
        ax.set_title(f"run {n}: Up {data.up_kms[n]:.2f} km/s, phi {data.porosity[n]:.2f}", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time [ns]")
    for ax in axes[:, 0]:
        ax.set_ylabel("hot-spot area fraction")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle(f"closure law fit (R-hat max {fit.rhat_max:.3f}, ESS min {fit.ess_min:.0f})", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- calibration


def sbc_coverage(up_kms, porosity, time_ns, repeats: int, seed: int = 0, priors: ClosurePriors | None = None,
                 probs=(0.5, 0.9), progress: bool = False, **fit_kwargs) -> dict:
    """Simulation-based calibration of the fit on a design (Up, porosity, times).

    Each repeat draws the global parameters from the prior, simulates the
    design's runs from the law, fits it, and records whether each central
    credible interval (``probs``) contains the truth. Returns
    ``{"hits": {prob: (repeat, param) bool array}, "coverage": {prob: {param: float}},
    "rhat_max": (repeat,), "divergences": (repeat,), "truth": (repeat, param), "params": PARAM_NAMES}``.
    A calibrated fit covers each truth with frequency ``prob`` (up to binomial noise).
    """
    priors = priors or ClosurePriors()
    rng = np.random.default_rng(seed)
    hits = {p: np.zeros((repeats, len(PARAM_NAMES)), dtype=bool) for p in probs}
    rhat, div = np.zeros(repeats), np.zeros(repeats, dtype=int)
    truths = np.zeros((repeats, len(PARAM_NAMES)))
    if progress:
        from probtok.progress import track

        loop = track(range(repeats), "SBC repeats")
    else:
        loop = range(repeats)
    for r in loop:
        truth = sample_prior(priors, rng)
        truths[r] = [truth[name] for name in PARAM_NAMES]
        F, _ = simulate_closure(truth, up_kms, porosity, time_ns, rng)
        fit = fit_closure(ClosureData(up_kms, porosity, time_ns, F), seed=seed * 100003 + r, priors=priors,
                          **fit_kwargs)
        for p in probs:
            for j, name in enumerate(PARAM_NAMES):
                lo, hi = fit.interval(name, p)
                hits[p][r, j] = lo <= truth[name] <= hi
        rhat[r], div[r] = fit.rhat_max, fit.num_divergences
    coverage = {p: {name: float(hits[p][:, j].mean()) for j, name in enumerate(PARAM_NAMES)} for p in probs}
    return {"hits": hits, "coverage": coverage, "rhat_max": rhat, "divergences": div, "truth": truths,
            "params": PARAM_NAMES}
