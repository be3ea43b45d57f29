"""ArviZ diagnostics: InferenceData layout, exact log-likelihood, LOO ranking, NetCDF round trip, CLI.

Data are drawn from a tiny token model itself, so its true tokens and noise are known: the
"oracle" guide puts q(z) at the true tokens, which makes every expected number computable by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
import xarray as xr
from pyro import poutine

from probtok.data.normalize import Normaliser
from probtok.diagnostics import (
    compare_models,
    guide_for_runs,
    interval_coverage,
    load_inference_data,
    loo,
    pareto_k_counts,
    save_inference_data,
    to_inference_data,
)
from probtok.errors import ConfigError, DataError
from probtok.guides import TokenGuide
from probtok.hotspots import hotspot_area, hotspot_temperature
from probtok.model import TokenModel
from probtok.model_spec import ModelSpec
from probtok.threads import torch_threads

SPEC = ModelSpec(fields=("T", "P", "mu"), token_size=2, token_dim=2, mixture_components=2, encoder_width=8,
                 decoder_width=8, drift_width=8, drift="linear", decoder="linear", encoder_conditional=False,
                 task_dim=2, coupling_width=4, coupling_dilations=(1,), steps_per_frame=2)
SIGMA = (0.05, 0.10, 0.08)  # true observation noise, normalised units
NORM = Normaliser(("T", "P", "mu"), np.array([900.0, 10.0, 0.5]), np.array([300.0, 5.0, 0.5]))
N_RUNS, N_FRAMES, GRID = 4, 6, (8, 8)
RUN_IDS = [2, 3, 5, 8]
TIME_NS = 0.5 + 2.0 * np.arange(N_FRAMES)
DX_UM, THRESHOLD_K = 0.25, 875.0
UP = np.array([1.0, 1.5, 2.0, 2.5])


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: one intra-op thread (also for the module-scoped fixtures, hence the scope)."""
    with torch_threads(1):
        yield


class OracleGuide:
    """q(z) = point mass at the true tokens, q(sigma_x) = LogNormal(log(factor * sigma), 0.02)."""

    def __init__(self, z_true, sigma, factor=1.0):
        self.z, self.loc = z_true, torch.log(factor * torch.tensor(sigma))

    def guide(self, x, **kw):
        pyro.sample("sigma_x", dist.LogNormal(self.loc, 0.02).to_event(1))
        with pyro.plate("run", x.shape[0], dim=-1):
            for t in range(x.shape[1]):
                pyro.sample(f"z_{t}", dist.Delta(self.z[:, t], event_dim=3))


def make_world():
    """A micro model with fixed weights, data drawn from it (normalised), and its true tokens."""
    pyro.set_rng_seed(1)
    model = TokenModel(SPEC, "micro").eval()
    cond = poutine.condition(model.model, data={"sigma_x": torch.tensor(SIGMA)})
    with torch.no_grad():
        tr = poutine.trace(cond).get_trace(None, n_runs=N_RUNS, n_frames=N_FRAMES, grid=GRID)
    x = torch.stack([tr.nodes[f"x_{t}"]["value"] for t in range(N_FRAMES)], 1)
    z = torch.stack([tr.nodes[f"z_{t}"]["value"] for t in range(N_FRAMES)], 1)
    return model, x, z


@pytest.fixture(scope="module")
def world():
    return make_world()


def _idata(model, guide, x, num_draws=60, seed=0, **kw):
    return to_inference_data(model, guide, x, normaliser=NORM, run_ids=RUN_IDS, time_ns=TIME_NS, dx_um=DX_UM,
                             threshold_K=THRESHOLD_K, constant_data={"up_kms": UP}, num_draws=num_draws, seed=seed,
                             **kw)


@pytest.fixture(scope="module")
def oracle_idata(world):
    model, x, z = world
    return _idata(model, OracleGuide(z, SIGMA), x, num_draws=100, field_subsample=1)


def test_log_likelihood_equals_normal_logpdf_by_hand(world, oracle_idata):
    model, x, z = world
    dec = model.decode(z).double().numpy()  # (run, frame, field, y, x)
    xn = x.double().numpy()
    for d in (0, 37):
        s = oracle_idata.posterior["sigma_x"].values[0, d][None, None, :, None, None]
        by_hand = (-0.5 * ((xn - dec) / s) ** 2 - np.log(s) - 0.5 * math.log(2 * math.pi)).sum(axis=(2, 3, 4))
        np.testing.assert_allclose(oracle_idata.log_likelihood["x"].values[0, d], by_hand, rtol=1e-5)


def test_layout_groups_dims_coords(world, oracle_idata):
    idata = oracle_idata
    assert set(idata.groups()) >= {"posterior", "posterior_predictive", "observed_data", "log_likelihood",
                                   "constant_data"}
    assert idata.posterior["sigma_x"].dims == ("chain", "draw", "field")
    assert idata.log_likelihood["x"].dims == ("chain", "draw", "run", "frame")
    assert idata.log_likelihood["x"].shape == (1, 100, N_RUNS, N_FRAMES)
    for g in ("posterior_predictive", "observed_data"):
        ds = idata[g]
        assert ds["T_hs"].dims[-2:] == ("run", "frame") and ds["A_hs"].dims[-2:] == ("run", "frame")
        assert ds["dT_hs_dt"].dims[-2:] == ("run", "interval") and ds["dA_hs_dt"].dims[-2:] == ("run", "interval")
        assert ds["x_fields"].dims[-5:] == ("run", "frame", "field", "y", "x")
        np.testing.assert_array_equal(ds["frame"].values, TIME_NS)
        np.testing.assert_allclose(ds["interval"].values, TIME_NS[:-1] + 1.0)
        assert list(ds["run"].values) == RUN_IDS
        assert list(ds["field"].values) == ["T", "P", "mu"]
        np.testing.assert_allclose(ds["x"].values, (np.arange(8) + 0.5) * DX_UM)
    np.testing.assert_array_equal(idata.constant_data["up_kms"].values, UP)
    assert idata.constant_data["up_kms"].dims == ("run",)
    # observed metrics: the hot-spot definitions on the data in physical units
    _, x, _ = world
    T = NORM.inverse(x.double().numpy(), field_axis=2)[:, :, 0]
    np.testing.assert_allclose(idata.observed_data["T_hs"].values, hotspot_temperature(T, THRESHOLD_K))
    np.testing.assert_allclose(idata.observed_data["A_hs"].values, hotspot_area(T, DX_UM, THRESHOLD_K))
    assert idata.observed_data["A_hs"].values.max() > 0  # the test data do have hot spots
    np.testing.assert_allclose(idata.observed_data["dA_hs_dt"].values,
                               np.diff(hotspot_area(T, DX_UM, THRESHOLD_K), axis=-1) / 2.0)
    # sigma_x draws are from q: LogNormal(log sigma, 0.02)
    med = np.median(idata.posterior["sigma_x"].values[0], axis=0)
    np.testing.assert_allclose(med, SIGMA, rtol=0.015)
    np.testing.assert_allclose(idata.posterior["sigma_x_phys"].values, idata.posterior["sigma_x"].values
                               * NORM.scale)


def test_replicates_are_calibrated_fields(oracle_idata):
    """With the true tokens and noise, x_rep ~ the data's own distribution: central intervals cover
    ~50 % / ~90 % of the observed cells (8 x 8 x 3 x 24 = 4608 cells)."""
    pp = oracle_idata.posterior_predictive["x_fields"].values[0].astype(np.float64)
    obs = oracle_idata.observed_data["x_fields"].values.astype(np.float64)
    for level, lo_ok, hi_ok in ((0.5, 0.46, 0.54), (0.9, 0.88, 0.92)):
        lo, hi = np.quantile(pp, [(1 - level) / 2, (1 + level) / 2], axis=0)
        cov = ((lo <= obs) & (obs <= hi)).mean()
        assert lo_ok < cov < hi_ok, (level, cov)
    cov_table = interval_coverage(oracle_idata)
    assert set(cov_table.index) == {"T_hs", "A_hs", "dT_hs_dt", "dA_hs_dt"}
    assert (cov_table["coverage_90"] >= cov_table["coverage_50"]).all()


def test_replicates_without_noise_are_the_decoded_true_tokens(world):
    model, x, z = world
    idata = _idata(model, OracleGuide(z, SIGMA), x, num_draws=3, field_subsample=1, observation_noise=False)
    dec = NORM.inverse(model.decode(z).double().numpy(), field_axis=2)
    for d in range(3):
        np.testing.assert_allclose(idata.posterior_predictive["x_fields"].values[0, d], dec, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(idata.posterior_predictive["A_hs"].values[0, 0],
                               hotspot_area(dec[:, :, 0], DX_UM, THRESHOLD_K))


def test_loo_finite_and_close_to_true_log_likelihood(world, oracle_idata):
    model, x, z = world
    res = loo(oracle_idata)
    assert np.isfinite(res.elpd_loo) and np.isfinite(res.se)
    true_ll = dist.Normal(model.decode(z), torch.tensor(SIGMA)[:, None, None]).log_prob(x).sum().item()
    # q(sigma_x) is narrow around the truth: elpd within a few nats of the true log-likelihood
    assert abs(res.elpd_loo - true_ll) < 0.002 * abs(true_ll) + 20, (res.elpd_loo, true_ll)
    bad, n = pareto_k_counts(res)
    assert n == N_RUNS * N_FRAMES and bad == 0


def test_compare_ranks_the_right_model_first(world, oracle_idata):
    model, x, z = world
    narrow = _idata(model, OracleGuide(z, SIGMA, factor=0.1), x)  # sigma_x 10x too small
    g = torch.Generator().manual_seed(0)
    shuffled = _idata(model, OracleGuide(z[:, torch.randperm(N_FRAMES, generator=g)], SIGMA), x)  # time shuffled
    printed = []
    table = compare_models({"right": oracle_idata, "sigma_x/10": narrow, "shuffled": shuffled}, echo=printed.append)
    assert table.index[0] == "right"
    for name in ("sigma_x/10", "shuffled"):
        assert table.loc[name, "elpd_diff"] > 4 * max(table.loc[name, "dse"], 1.0)  # clearly worse
    assert "n_pareto_k_gt_0.7" in table.columns and (table["n_points"] == N_RUNS * N_FRAMES).all()
    for name in table.index:
        expected = pareto_k_counts(loo({"right": oracle_idata, "sigma_x/10": narrow, "shuffled": shuffled}[name]))[0]
        assert table.loc[name, "n_pareto_k_gt_0.7"] == expected
        assert (expected > 0) == any(line.startswith(f"warning: {name}:") for line in printed)


def test_pareto_k_warnings_are_reported_for_an_unfitted_guide(world):
    model, x, _ = world
    pyro.set_rng_seed(0)
    guide = TokenGuide(SPEC, "micro").attach(model).eval()
    idata = _idata(model, guide, x, num_draws=30)
    bad, n = pareto_k_counts(loo(idata))
    assert bad > 0  # an untrained encoder: frame log-likelihoods differ by far more than PSIS can bridge
    printed = []
    table = compare_models({"unfitted": idata, "unfitted_again": idata}, echo=printed.append)
    assert (table["n_pareto_k_gt_0.7"] == bad).all()
    assert len(printed) == 2 and f"{bad} of {n}" in printed[0]


def test_netcdf_round_trip_is_exact(oracle_idata, tmp_path):
    path = save_inference_data(oracle_idata, tmp_path / "sub" / "idata.nc")
    back = load_inference_data(path)
    assert set(back.groups()) == set(oracle_idata.groups())
    for g in oracle_idata.groups():
        xr.testing.assert_identical(oracle_idata[g], back[g])
        for v in oracle_idata[g].data_vars:
            assert back[g][v].dtype == oracle_idata[g][v].dtype
    assert not list((tmp_path / "sub").glob(".idata.nc*"))  # no temp file left
    with pytest.raises(DataError):
        load_inference_data(tmp_path / "missing.nc")


def test_meso_posterior_has_task_latent_per_run(world):
    """Meso level: c (run, task_dim) from the guide rows of fitted runs, the prior for held-out ones; phi."""
    model_micro, x, _ = world
    pyro.set_rng_seed(0)
    model = TokenModel(SPEC, "meso").eval()
    fitted = TokenGuide(SPEC, "meso", n_runs=2).attach(model)
    with torch.no_grad():
        fitted.c_loc.copy_(torch.tensor([[5.0, -5.0], [9.0, 9.0]]))
        fitted.c_scale_raw.fill_(-8.0)  # scale ~ 3e-4
    guide, sources = guide_for_runs(model, fitted, RUN_IDS, fitted_runs=[8, 3])
    assert sources == ["prior", "fitted", "prior", "fitted"]
    idata = _idata(model, guide, x, num_draws=200, field_subsample=3)
    c = idata.posterior["c"]
    assert c.dims == ("chain", "draw", "run", "task_dim")
    np.testing.assert_allclose(c.sel(run=3).mean(("chain", "draw")), [9.0, 9.0], atol=1e-2)
    np.testing.assert_allclose(c.sel(run=8).mean(("chain", "draw")), [5.0, -5.0], atol=1e-2)
    for r in (2, 5):  # held out: prior N(0, 1)
        np.testing.assert_allclose(c.sel(run=r).std(("chain", "draw")), [1.0, 1.0], atol=0.2)
    assert idata.posterior["phi"].dims == ("chain", "draw", "token_dim", "coupling")
    np.testing.assert_allclose(idata.posterior["phi_norm"].values,
                               np.sqrt((idata.posterior["phi"].values ** 2).sum(axis=(-2, -1))))
    assert idata.observed_data["x_fields"].shape == (N_RUNS, N_FRAMES, 3, 3, 3)  # cells 0, 3, 6
    assert np.isfinite(loo(idata).elpd_loo)


def test_bad_input_errors(world):
    model, x, z = world
    guide = OracleGuide(z, SIGMA)
    with pytest.raises(ConfigError, match="normaliser"):
        to_inference_data(model, guide, x, normaliser=NORM.subset(("P", "T", "mu")), run_ids=RUN_IDS, time_ns=TIME_NS,
                          dx_um=DX_UM, threshold_K=THRESHOLD_K, num_draws=4)
    with pytest.raises(DataError, match="run ids"):
        to_inference_data(model, guide, x, normaliser=NORM, run_ids=[1, 2], time_ns=TIME_NS, dx_um=DX_UM,
                          threshold_K=THRESHOLD_K, num_draws=4)
    with pytest.raises(DataError, match="up_kms"):
        to_inference_data(model, guide, x, normaliser=NORM, run_ids=RUN_IDS, time_ns=TIME_NS, dx_um=DX_UM,
                          threshold_K=THRESHOLD_K, constant_data={"up_kms": UP[:2]}, num_draws=4)
    bad = x.clone()
    bad[1, 2, 1, 0, 0] = float("nan")
    with pytest.raises(DataError, match="non-finite") as exc:
        _idata(model, guide, bad, num_draws=4)
    assert exc.value.run == 3 and exc.value.field == "P"


@pytest.fixture(scope="module")
def files(world, tmp_path_factory):
    """A meso-like run file of the world's data (physical units) and three fits: micro (40 and 3 SVI steps)
    on runs 0-1, and the 40-step micro fit adapted (few steps) on runs 0-1."""
    import dataclasses

    from probtok.adapt import AdaptConfig, adapt
    from probtok.data.hdf5 import write_dataset
    from probtok.fit import fit
    from probtok.model_spec import FitConfig

    _, x, _ = world
    root = tmp_path_factory.mktemp("diag")
    phys = NORM.inverse(x.double().numpy(), field_axis=2).astype(np.float32)
    phys[:, :, 1] = np.abs(phys[:, :, 1])  # the file format refuses negative pressure / solid fraction
    phys[:, :, 2] = np.clip(phys[:, :, 2], 0.0, 1.0)
    data = write_dataset(root / "meso.h5", phys, TIME_NS, fields=["T", "P", "mu"],
                         units={"T": "K", "P": "GPa", "mu": "1"}, dx_um=DX_UM, dt_frame_ns=2.0, setup="meso",
                         params={"up_kms": UP.tolist()})
    xn = NORM.forward(torch.as_tensor(phys[:2]), field_axis=2)
    cfg = FitConfig(steps=40, batch_runs=2, learning_rate=1e-2, rollout_horizon_start=1, rollout_horizon_end=2,
                    checkpoint_every=40)
    meta = {"data": str(data), "train_runs": [0, 1], "holdout_runs": [2, 3]}
    for name, steps in (("micro40", 40), ("micro3", 3)):
        fit(SPEC, xn, dataclasses.replace(cfg, steps=steps), out_dir=root / name, normalisation=NORM.to_dict(),
            progress=False, meta=meta)
    adapt(root / "micro40", xn, AdaptConfig(steps=5, batch_runs=2, rollout_horizon=2, checkpoint_every=5),
          out_dir=root / "meso", progress=False, meta=meta)
    return root, data


def test_cli_ppc_writes_idata_plots_tables(files):
    from probtok.cli import main

    root, data = files
    out = root / "ppc"
    assert main(["ppc", "--model", str(root / "micro40"), "--data", str(data), "--out", str(out),
                 "--draws", "20"]) == 0
    idata = load_inference_data(out / "idata.nc")
    assert list(idata.observed_data["run"].values) == [2, 3]  # default: the fit's held-out runs
    assert "micro-only" in idata.posterior.attrs["model_role"]  # a micro fit on a meso file
    np.testing.assert_array_equal(idata.constant_data["up_kms"].values, UP[[2, 3]])
    for name in ("ppc_T_hs.png", "ppc_A_hs.png", "loo_pit.png", "fan_2.png", "fan_3.png", "latent_summary.csv",
                 "coverage.csv", "loo.csv"):
        assert (out / name).stat().st_size > 0, name
    assert main(["ppc", "--model", str(root / "micro40"), "--data", str(data), "--out", str(out),
                 "--runs", "7"]) == 2  # run out of range: a clean error


def test_cli_compare_micro_only_vs_adapted(files):
    import pandas as pd

    from probtok.cli import main

    root, data = files
    out = root / "cmp"
    assert main(["compare", "--model", f"adapted={root / 'meso'}", "--model", f"micro={root / 'micro40'}",
                 "--model", f"short={root / 'micro3'}", "--data", str(data), "--runs", "0-3", "--out", str(out),
                 "--draws", "20"]) == 0
    table = pd.read_csv(out / "compare.csv", index_col=0)
    assert set(table.index) == {"adapted", "micro", "short"}
    assert table.loc["short", "rank"] == 2  # 3 SVI steps are far worse than 40
    assert (table["n_points"] == N_RUNS * N_FRAMES).all() and "n_pareto_k_gt_0.7" in table.columns
    adapted = load_inference_data(out / "adapted.nc")
    assert adapted.posterior["c"].dims == ("chain", "draw", "run", "task_dim")
    assert adapted.posterior.attrs["task_latent_source"] == '{"0": "fitted", "1": "fitted", "2": "prior", "3": "prior"}'
    assert main(["compare", "--model", "oops", "--model", f"b={root / 'micro3'}", "--data", str(data),
                 "--runs", "0-3", "--out", str(out)]) == 2
