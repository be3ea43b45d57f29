"""The NumPyro closure law: exact solution, likelihood, parameter recovery, calibration, I/O, errors.

Every NUTS fit here uses the same data shape (8 runs x 36 frames) and the same
sampler settings, so the sampler compiles once for the whole file.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from probtok.closure import (
    PARAM_NAMES,
    ClosureData,
    ClosurePriors,
    area_fraction_law,
    closure_data_from_hdf5,
    closure_model,
    fit_closure,
    growth_rate,
    log_rate,
    save_closure_data,
    sbc_coverage,
    simulate_closure,
)
from probtok.errors import ConfigError, DataError

UP = np.linspace(0.8, 2.0, 8)  # km/s
PHI = np.array([0.03, 0.18, 0.07, 0.12, 0.05, 0.15, 0.09, 0.20])
TIME = np.arange(36) * 0.12  # ns
NUTS_ARGS = dict(num_warmup=300, num_samples=300, num_chains=2)
TRUTH = dict(log_k0=float(np.log(0.6)), alpha=1.5, beta=5.0, t_ig_ns=0.8, tau=0.15, sigma=0.02)


def _standardised(x):
    return (x - x.mean()) / x.std()


@pytest.fixture(scope="module")
def recovery():
    """Data from the law at TRUTH (run effects standardised so their scatter is exactly tau) and its fit."""
    rng = np.random.default_rng(7)
    params = TRUTH | {"eps": _standardised(rng.standard_normal(UP.size))}
    F, log_k = simulate_closure(params, UP, PHI, TIME, rng)
    data = ClosureData(UP, PHI, TIME, F)
    return data, log_k, fit_closure(data, seed=1, **NUTS_ARGS)


def test_law_is_the_exact_solution_of_the_rate_equation():
    k, t_ig = 0.7, 0.5
    t = jnp.linspace(0.6, 4.0, 50)
    F = area_fraction_law(k, t_ig, t)
    dFdt = jax.vmap(jax.grad(lambda s: area_fraction_law(k, t_ig, s)))(t)
    np.testing.assert_allclose(dFdt, growth_rate(F, k), rtol=2e-4, atol=1e-6)
    # no growth before ignition, F(t_ig + 1/k) = 1 - 1/e
    assert np.all(np.asarray(area_fraction_law(k, t_ig, jnp.linspace(0.0, t_ig, 7))) == 0.0)
    np.testing.assert_allclose(area_fraction_law(k, t_ig, t_ig + 1 / k), 1 - np.exp(-1), rtol=1e-6)
    # the run rate follows the power law in Up and is linear in porosity on the log scale
    np.testing.assert_allclose(log_rate(0.1, 2.0, 3.0, 2.0, 0.3), 0.1 + 2.0 * np.log(2.0) + 3.0 * 0.2, rtol=1e-6)


def test_likelihood_is_normal_with_measurement_error_scale():
    """log p(F_obs | params) = sum Normal(F_obs; F_law, sqrt(sigma^2 + s^2)) for draw input."""
    from numpyro import handlers

    rng = np.random.default_rng(0)
    sd = rng.uniform(0.0, 0.05, (UP.size, TIME.size))
    obs = rng.uniform(0, 1, (UP.size, TIME.size))
    p = {"log_k0": -0.3, "alpha": 1.2, "beta": 2.0, "t_ig_ns": 0.9, "tau": 0.2, "sigma": 0.03,
         "log_k": rng.normal(-0.3, 0.2, (UP.size, 1))}
    tr = handlers.trace(handlers.substitute(closure_model, p)).get_trace(
        jnp.asarray(UP), jnp.asarray(PHI), jnp.asarray(TIME), jnp.asarray(obs), jnp.asarray(sd))
    site = tr["F"]
    got = float(site["fn"].log_prob(site["value"]).sum())
    law = 1 - np.exp(-(np.exp(p["log_k"]) * np.clip(TIME - p["t_ig_ns"], 0, None)) ** 2)
    want = stats.norm.logpdf(obs, law, np.sqrt(p["sigma"] ** 2 + sd**2)).sum()
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_nuts_recovers_the_parameters_of_the_law(recovery):
    """Posterior means within absolute tolerances of the truth; tau's truth inside its 90 % interval."""
    _, log_k, fit = recovery
    assert fit.rhat_max < 1.05, fit.summary
    assert fit.num_divergences == 0
    assert fit.ess_min > 50
    tol = {"log_k0": 0.2, "alpha": 0.5, "beta": 3.0, "t_ig_ns": 0.03, "sigma": 0.004}
    for name, t in tol.items():
        mean = fit.samples(name).mean()
        assert abs(mean - TRUTH[name]) < t, (name, mean, TRUTH[name])
    lo, hi = fit.interval("tau", 0.9)
    assert lo < TRUTH["tau"] < hi
    # each run's own rate is pinned by its series
    np.testing.assert_allclose(fit.samples("log_k").mean(axis=0), log_k, atol=0.05)
    assert set(fit.summary.index) == set(PARAM_NAMES)


def test_predict_new_runs_follows_the_population_law(recovery):
    _, _, fit = recovery
    draws = fit.predict([1.0, 1.8], [0.1, 0.1], TIME, rng=0)
    assert draws.shape == (fit.samples("alpha").size, 2, TIME.size)
    for c, up in enumerate([1.0, 1.8]):
        k = np.exp(float(log_rate(TRUTH["log_k0"], TRUTH["alpha"], TRUTH["beta"], up, 0.1)))
        truth = np.asarray(area_fraction_law(k, TRUTH["t_ig_ns"], TIME))
        np.testing.assert_allclose(np.median(draws[:, c], axis=0), truth, atol=0.06)
        # a new run's curve varies by its random effect (tau) within the 5-95 % band
        lo, hi = np.quantile(draws[:, c], [0.05, 0.95], axis=0)
        assert np.all(lo <= truth + 1e-6) and np.all(truth <= hi + 1e-6)
    noisy = fit.predict(1.0, 0.1, TIME, rng=0, include_noise=True)
    assert noisy[:, 0, :5].std() > 0.5 * TRUTH["sigma"]  # before ignition only the noise spreads


def test_credible_intervals_are_calibrated_over_prior_draws():
    """SBC, 5 repeats x 6 parameters = 30 (parameter, repeat) pairs.

    Calibrated 90 % intervals give Binomial(30, 0.9) hits: P(< 21) ~ 5e-4; the
    50 % intervals Binomial(30, 0.5): P(outside 7..23) ~ 5e-3. The benchmark
    (benchmarks/closure_sbc.py) runs 50 repeats.
    """
    res = sbc_coverage(UP, PHI, TIME, repeats=5, seed=3, **NUTS_ARGS)
    hits90, hits50 = res["hits"][0.9], res["hits"][0.5]
    assert hits90.shape == (5, len(PARAM_NAMES))
    assert hits90.mean() >= 0.7, res["coverage"]
    assert 7 <= hits50.sum() <= 23, res["coverage"]
    assert np.all(hits90 >= hits50)  # nested intervals


def test_forecast_draw_spread_widens_the_closure_posterior(recovery):
    """Measurement-error model: the same mean series with a wide draw spread must give wider posteriors."""
    data, _, fit_sharp = recovery
    rng = np.random.default_rng(5)
    noise = rng.standard_normal((20,) + data.area_fraction.shape)
    noise = (noise - noise.mean(axis=0)) / noise.std(axis=0, ddof=1)  # mean 0, sd 1 per (run, frame)
    wide = ClosureData(UP, PHI, TIME, data.area_fraction[None] + 0.05 * noise)
    np.testing.assert_allclose(wide.mean_sd()[0], data.area_fraction, atol=1e-12)
    fit_wide = fit_closure(wide, seed=1, **NUTS_ARGS)
    # the onset and each run's own rate are pinned by the series; the population log_k0 is
    # limited by the run-to-run scatter tau / sqrt(runs) and need not widen
    assert fit_wide.samples("t_ig_ns").std() > 1.5 * fit_sharp.samples("t_ig_ns").std()
    assert np.all(fit_wide.samples("log_k").std(axis=0) > 1.5 * fit_sharp.samples("log_k").std(axis=0))
    assert fit_wide.idata.posterior.attrs["measurement_error_model"] == 1


def test_save_writes_netcdf_json_png_that_reload(recovery, tmp_path):
    import arviz as az

    data, _, fit = recovery
    paths = fit.save(tmp_path / "out", data)
    back = az.from_netcdf(paths["netcdf"])
    for name in PARAM_NAMES + ("log_k",):
        np.testing.assert_array_equal(back.posterior[name].values, fit.idata.posterior[name].values)
    assert back.log_likelihood["F"].dims == ("chain", "draw", "run", "frame")
    np.testing.assert_array_equal(back.constant_data["up_kms"].values, UP)
    assert back.posterior.attrs["up_ref_kms"] == fit.up_ref_kms
    js = json.loads(paths["json"].read_text())
    assert js["parameters"]["alpha"]["mean"] == pytest.approx(fit.samples("alpha").mean())
    assert js["rhat_max"] == pytest.approx(fit.rhat_max)
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left


def test_cli_fits_a_closure_table_with_forecast_draws(tmp_path):
    from probtok.cli import main

    rng = np.random.default_rng(11)
    F, _ = simulate_closure(TRUTH, UP, PHI, TIME, rng)
    draws = F[None] + 0.01 * rng.standard_normal((6,) + F.shape)
    table = save_closure_data(ClosureData(UP, PHI, TIME, draws), tmp_path / "table.h5")
    back = closure_data_from_hdf5(table)
    np.testing.assert_array_equal(back.area_fraction, draws)
    out = tmp_path / "closure"
    rc = main(["closure", "--data", str(table), "--out", str(out), "--warmup", "300", "--samples", "300",
               "--chains", "2", "--seed", "2"])
    assert rc == 0
    js = json.loads((out / "closure.json").read_text())
    p = js["parameters"]
    assert p["t_ig_ns"]["q05"] < TRUTH["t_ig_ns"] < p["t_ig_ns"]["q95"]
    assert p["alpha"]["q05"] < TRUTH["alpha"] < p["alpha"]["q95"]
    assert (out / "closure.nc").is_file() and (out / "closure_fit.png").is_file()


def test_reads_area_fraction_from_a_probtok_run_file(tmp_path):
    from probtok.data.hdf5 import write_dataset

    n_run, n_frame, H, W = 3, 4, 6, 5
    T = np.full((n_run, n_frame, 1, H, W), 400.0, dtype=np.float32)
    for r in range(n_run):
        for t in range(n_frame):
            T[r, t, 0].flat[: r + 2 * t] = 1500.0  # r + 2t hot cells of 30
    path = write_dataset(tmp_path / "meso.h5", T, np.arange(n_frame) * 0.12, fields=["T"], units={"T": "K"},
                         dx_um=0.1, dt_frame_ns=0.12, params={"up_kms": [1.0, 1.5, 2.0], "porosity": [0.05, 0.1, 0.08]})
    want = (np.arange(n_run)[:, None] + 2 * np.arange(n_frame)[None]) / (H * W)
    np.testing.assert_allclose(closure_data_from_hdf5(path).area_fraction, want, rtol=1e-6)
    # recomputed from the frames at another threshold: nothing is above 2000 K
    np.testing.assert_array_equal(closure_data_from_hdf5(path, threshold_K=2000.0).area_fraction, 0.0)
    np.testing.assert_array_equal(closure_data_from_hdf5(path).up_kms, [1.0, 1.5, 2.0])


def test_reads_forecast_draws_from_a_folder_of_forecast_files(tmp_path):
    from probtok.closure import closure_data_from_path
    from probtok.forecast import summarize_forecast, write_forecast

    n_draw, n_frame, H, W = 4, 5, 6, 5
    for r in range(3):
        T = np.full((n_draw, n_frame, 1, H, W), 400.0)
        for d in range(n_draw):
            for t in range(n_frame):
                T[d, t, 0].flat[: r + d + t] = 1500.0  # r + d + t hot cells of 30
        ds = summarize_forecast(T, ["T"], ["K"], np.arange(n_frame) * 0.12, 0.1, 875.0, run_id=r,
                                attrs={"up_kms": 1.0 + r, "porosity": 0.05 * (r + 1)})
        write_forecast(ds, tmp_path / f"run{r}.nc")
    data = closure_data_from_path(tmp_path)
    assert data.area_fraction.shape == (n_draw, 3, n_frame)
    want = (np.arange(n_draw)[:, None, None] + np.arange(3)[None, :, None] + np.arange(n_frame)) / (H * W)
    np.testing.assert_allclose(data.area_fraction, want, rtol=1e-9)
    np.testing.assert_allclose(data.up_kms, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(data.porosity, [0.05, 0.1, 0.15])
    mean, sd = data.mean_sd()
    np.testing.assert_allclose(sd, np.std(np.arange(n_draw), ddof=1) / (H * W) * np.ones((3, n_frame)))


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(porosity=PHI[:5]), "porosity"),
        (dict(area_fraction=np.full((8, 36), 50.0)), "area_fraction"),  # um^2 instead of a fraction
        (dict(time_ns=TIME[::-1]), "time_ns"),
        (dict(up_kms=np.r_[UP[:3], -1.0, UP[4:]]), "up_kms"),
        (dict(porosity=PHI * 100), "porosity"),  # percent
        (dict(area_fraction=np.full((8, 35), 0.1)), "area_fraction"),
    ],
)
def test_bad_data_raises_data_error_naming_the_field(change, field):
    kw = dict(up_kms=UP, porosity=PHI, time_ns=TIME, area_fraction=np.zeros((8, 36))) | change
    with pytest.raises(DataError) as exc:
        ClosureData(**kw)
    assert exc.value.field == field


def test_nan_and_too_few_runs_and_bad_config(tmp_path):
    F = np.zeros((8, 36))
    F[3, 5] = np.nan
    with pytest.raises(DataError) as exc:
        ClosureData(UP, PHI, TIME, F)
    assert exc.value.run == 3
    with pytest.raises(DataError, match="at least 3"):
        ClosureData(UP[:2], PHI[:2], TIME, np.zeros((2, 36)))
    data = ClosureData(UP, PHI, TIME, np.zeros((8, 36)))
    with pytest.raises(ConfigError, match="num_chains"):
        fit_closure(data, num_chains=1)
    with pytest.raises(ConfigError, match="num_samples"):
        fit_closure(data, num_samples=0)
    with pytest.raises(ConfigError):
        ClosurePriors(tau_mean=-1.0)
    with pytest.raises(DataError, match="file not found"):
        closure_data_from_hdf5(tmp_path / "missing.h5")


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    from probtok.cli import main

    rc = main(["closure", "--data", str(tmp_path / "none.h5"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "file not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
