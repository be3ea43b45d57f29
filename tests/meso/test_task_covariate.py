"""A known run parameter observed through the task latent ([meso] task_covariate, probtok.covariate):
the conjugate p(c | u) is exact; on data drawn from the meso model, a new run's forecast from ONE frame
with c ~ p(c | u) is calibrated and beats c ~ prior; the files carry the covariate end to end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from probtok.adapt import AdaptConfig, adapt, adapt_files
from probtok.covariate import task_given_covariate
from probtok.errors import ConfigError, DataError
from probtok.guides import TokenGuide
from probtok.model import TokenModel
from probtok.predict import Posterior, forecast_run, load_posterior, sample_forecast
from probtok.threads import torch_threads

from meso_toys import SPEC, one_torch_thread, sample_meso, set_coupling_truth, set_micro_truth

COV_SPEC = dataclasses.replace(SPEC, task_covariate="u_param", task_covariate_noise=0.1)
GRID = (8, 8)
N_TRAIN, N_TEST = 10, 8


def test_conjugate_task_posterior_matches_quadrature():
    s = 0.3
    for u in (-1.7, 0.0, 2.4):
        loc, scale = task_given_covariate(u, s, task_dim=3)
        c0 = np.linspace(-8, 8, 160_001)
        logp = -0.5 * c0**2 - 0.5 * ((u - c0) / s) ** 2
        w = np.exp(logp - logp.max())
        w /= w.sum()
        mean = (w * c0).sum()
        sd = np.sqrt((w * (c0 - mean) ** 2).sum())
        assert loc[0].item() == pytest.approx(mean, abs=1e-5)
        assert scale[0].item() == pytest.approx(sd, abs=1e-5)
        # the components the covariate does not observe keep the prior
        assert torch.equal(loc[1:], torch.zeros(2)) and torch.equal(scale[1:], torch.ones(2))


def test_the_meso_model_observes_the_covariate_through_the_first_task_latent():
    from pyro import poutine

    tm = TokenModel(COV_SPEC, "meso")
    x, u = torch.zeros(3, 2, 2, *GRID), torch.tensor([-1.0, 0.3, 2.0])
    tr = poutine.trace(tm.model).get_trace(x, u=u)
    site, c = tr.nodes["u"], tr.nodes["c"]["value"]
    assert site["is_observed"] and torch.equal(site["value"], u)
    expected = torch.distributions.Normal(c[:, 0], COV_SPEC.task_covariate_noise).log_prob(u)
    assert torch.allclose(site["fn"].log_prob(site["value"]), expected)
    assert "u" not in poutine.trace(tm.model).get_trace(x).nodes  # not observed: not in the model


def _micro_pair(spec):
    torch.manual_seed(0)
    model = TokenModel(spec, "micro").eval()
    guide = TokenGuide(spec, "micro").attach(model).eval()
    set_micro_truth(model, guide)
    return model, guide


@pytest.fixture(scope="module")
def truth():
    torch.manual_seed(11)
    phi = torch.randn(2, 3) * 0.5
    c = torch.randn(N_TRAIN + N_TEST, 1)
    u = c[:, 0] + COV_SPEC.task_covariate_noise * torch.randn(N_TRAIN + N_TEST)
    x_train = sample_meso(phi, c[:N_TRAIN], 6, GRID, seed=1)
    x_test = sample_meso(phi, c[N_TRAIN:], 8, GRID, seed=2)
    return phi, c, u, x_train, x_test


@pytest.fixture(scope="module")
def adapted(truth):
    with torch_threads(1):
        _, _, u, x_train, _ = truth
        cfg = AdaptConfig(steps=250, batch_runs=N_TRAIN, learning_rate=0.04, coupling_net="frozen",
                          rollout_weight=0.0, seed=0)
        return adapt((*_micro_pair(COV_SPEC), None), x_train, cfg, progress=False, u=u[:N_TRAIN],
                     init=lambda m, g: set_coupling_truth(m))


def test_adaptation_ties_task_latents_to_the_covariate(truth, adapted):
    _, c, u, _, _ = truth
    g = adapted.guide
    assert torch.allclose(g.c_loc[:, 0], c[:N_TRAIN, 0], atol=0.1), torch.stack([g.c_loc[:, 0], c[:N_TRAIN, 0]], 1)


def test_new_runs_forecast_from_one_frame_with_the_covariate_are_calibrated_and_beat_the_prior(truth, adapted):
    """From frame 0 alone nothing in the data tells a new run's c; its covariate does."""
    _, _, u, _, x_test = truth
    post = Posterior(adapted.model, adapted.guide, normaliser=None, adapted=True)
    T, n_draws = x_test.shape[1], 300
    levels = torch.tensor([0.05, 0.25, 0.75, 0.95])
    scores = {}
    for rule in ("covariate", "prior"):
        hits50, hits90, sq = [], [], []
        for n in range(N_TEST):
            c_post = (task_given_covariate(float(u[N_TRAIN + n]), COV_SPEC.task_covariate_noise, 1)
                      if rule == "covariate" else None)
            # rollout_noise = 1: the model's own predictive, on data drawn from the model
            draws = sample_forecast(post, x_test[n, :1], T, n_draws=n_draws, c_post=c_post, seed=n, rollout_noise=1.0)
            future, t = draws[:, 1:].reshape(n_draws, -1), x_test[n, 1:].reshape(-1)
            q = torch.quantile(future, levels, dim=0)
            hits90.append(((t >= q[0]) & (t <= q[3])).float())
            hits50.append(((t >= q[1]) & (t <= q[2])).float())
            sq.append((future.median(0).values - t) ** 2)
        scores[rule] = (torch.cat(hits90).mean().item(), torch.cat(hits50).mean().item(),
                        torch.cat(sq).mean().sqrt().item())
    cov90, cov50, rmse = scores["covariate"]
    assert 0.8 <= cov90 <= 0.97, scores
    assert 0.4 <= cov50 <= 0.6, scores
    assert rmse < 0.8 * scores["prior"][2], scores


def test_a_model_with_a_covariate_needs_its_values():
    x = torch.zeros(2, 3, 2, *GRID)
    with pytest.raises(ConfigError, match="u_param"):
        adapt((*_micro_pair(COV_SPEC), None), x, AdaptConfig(steps=1), progress=False)
    with pytest.raises(ConfigError, match="must be finite \\(not at runs \\[1\\]"):
        adapt((*_micro_pair(COV_SPEC), None), x, AdaptConfig(steps=1), progress=False, u=torch.tensor([0.0, np.nan]))
    with pytest.raises(ConfigError, match="must be 2 numbers"):
        adapt((*_micro_pair(COV_SPEC), None), x, AdaptConfig(steps=1), progress=False, u=torch.zeros(3))
    with pytest.raises(ConfigError, match="no \\[meso\\] task_covariate"):
        adapt((*_micro_pair(SPEC), None), x, AdaptConfig(steps=1), progress=False, u=torch.zeros(2))


# -- files: the covariate read from the run parameters, stored with the fit, used by forecasts ----------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from probtok.data import open_dataset, write_dataset
    from probtok.fit import fit
    from probtok.model_spec import FitConfig, ModelSpec

    from meso_toys import TOY_FIELDS, TOY_UNITS, toy_hotspot_runs

    spec = ModelSpec(fields=TOY_FIELDS, token_size=4, token_dim=4, mixture_components=2, encoder_width=8,
                     decoder_width=8, drift_width=8, task_dim=2, coupling_width=4, steps_per_frame=2,
                     task_covariate="up_kms", task_covariate_noise=0.2)
    d = tmp_path_factory.mktemp("covariate_files")
    micro = toy_hotspot_runs(2, 5, 8, 8, 1, seed=0)
    meso = toy_hotspot_runs(4, 5, 8, 12, 2, seed=1)
    write_dataset(d / "micro.h5", micro, np.arange(5) * 0.05, fields=TOY_FIELDS, units=TOY_UNITS, dx_um=0.1,
                  dt_frame_ns=0.05, setup="toy")
    up = [0.5, 1.0, 1.5, 3.0]
    write_dataset(d / "meso.h5", meso, np.arange(5) * 0.1, fields=TOY_FIELDS, units=TOY_UNITS, dx_um=0.1,
                  dt_frame_ns=0.1, setup="toy", params={"up_kms": up, "label": ["a", "b", "c", "d"]})
    write_dataset(d / "meso_noparam.h5", meso, np.arange(5) * 0.1, fields=TOY_FIELDS, units=TOY_UNITS, dx_um=0.1,
                  dt_frame_ns=0.1, setup="toy")
    with open_dataset(d / "micro.h5") as ds:
        norm = ds.normaliser("minmax", TOY_FIELDS)
    x = norm.forward(torch.as_tensor(micro), field_axis=2)
    fit(spec, x, FitConfig(steps=2, batch_runs=2, checkpoint_every=2), out_dir=d / "micro_fit",
        normalisation=norm.to_dict(), progress=False, meta={"data": str(d / "micro.h5"), "train_runs": [0, 1]})
    adapt_files(d / "micro_fit", d / "meso.h5", [0, 1], d / "meso_fit", AdaptConfig(steps=2), progress=False)
    # the same micro fit without the covariate: its [meso] settings are not part of what a micro fit learns
    fit(dataclasses.replace(spec, task_covariate=""), x, FitConfig(steps=2, batch_runs=2, checkpoint_every=2),
        out_dir=d / "micro_fit_plain", normalisation=norm.to_dict(), progress=False,
        meta={"data": str(d / "micro.h5"), "train_runs": [0, 1]})
    return d, spec, up


def test_the_fit_stores_the_standardisation_and_forecasts_condition_on_the_run_parameter(files):
    d, spec, up = files
    post = load_posterior(d / "meso_fit")
    stored = post.meta["task_covariate"]
    # mean and sd over every ok run of the file (the campaign's inputs), not only the training runs
    assert stored == {"name": "up_kms", "loc": pytest.approx(np.mean(up)), "scale": pytest.approx(np.std(up))}
    u_train = (np.array(up[:2]) - np.mean(up)) / np.std(up)
    np.testing.assert_allclose(post.guide.c_loc[:, 0].numpy(), u_train / (1 + 0.2**2), atol=0.1)
    ds = forecast_run(post, d / "meso.h5", 3, first_frames=1, n_draws=4)
    assert ds.attrs["task_latent"] == "p(c | up_kms = 3) (the model's task covariate)"
    ds = forecast_run(post, d / "meso.h5", 3, first_frames=2, n_draws=4)  # frames 0-1 also inform c
    assert ds.attrs["task_latent"] == "q(c | frames 0..1, up_kms = 3)"


def test_a_file_without_the_parameter_is_refused_by_name(files):
    d, _, _ = files
    with pytest.raises(DataError, match="no parameter 'up_kms'"):
        adapt_files(d / "micro_fit", d / "meso_noparam.h5", [0, 1], d / "bad", AdaptConfig(steps=1), progress=False)
    with pytest.raises(DataError, match="not a number"):
        from probtok.covariate import parameter_values
        from probtok.data import open_dataset

        with open_dataset(d / "meso.h5") as ds:
            parameter_values(ds, "label", [0], d / "meso.h5")


def test_a_micro_fit_without_a_covariate_is_adapted_with_one_and_one_with_it_without(files, capsys):
    """`probtok adapt --task-covariate`: the meso model observes the named run parameter whatever the micro
    fit's config said; the micro-level weights it carries are the fit's, unchanged."""
    from probtok.checkpoint import load_fitted
    from probtok.cli import main

    d, spec, up = files
    assert main(["adapt", "--micro", str(d / "micro_fit_plain"), "--data", str(d / "meso.h5"), "--train-runs", "0,1",
                 "--out", str(d / "plain_up"), "--steps", "2", "--kappas", "1", "--task-covariate", "up_kms"]) == 0, \
        capsys.readouterr().err
    post = load_posterior(d / "plain_up")
    assert post.spec.task_covariate == "up_kms"
    assert post.meta["task_covariate"] == {"name": "up_kms", "loc": pytest.approx(np.mean(up)),
                                           "scale": pytest.approx(np.std(up))}
    micro_model = load_fitted(d / "micro_fit_plain")[0]
    for name, p in micro_model.decoder.state_dict().items():
        assert torch.equal(post.model.decoder.state_dict()[name], p), name
    ds = forecast_run(post, d / "meso.h5", 3, first_frames=1, n_draws=4)
    assert ds.attrs["task_latent"] == "p(c | up_kms = 3) (the model's task covariate)"
    # and "none" drops the covariate a micro fit's config named: new runs' c from the prior again
    assert main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso_noparam.h5"), "--train-runs",
                 "0,1", "--out", str(d / "up_none"), "--steps", "2", "--kappas", "1", "--task-covariate", "none"]) == 0, \
        capsys.readouterr().err
    post = load_posterior(d / "up_none")
    assert post.spec.task_covariate == "" and "task_covariate" not in post.meta
    assert forecast_run(post, d / "meso_noparam.h5", 3, first_frames=1, n_draws=4).attrs["task_latent"] == \
        "prior N(0, I)"


def test_a_covariate_the_file_or_the_model_cannot_take_is_refused(files, capsys):
    from probtok.adapt import meso_spec
    from probtok.cli import main

    d, spec, _ = files
    rc = main(["adapt", "--micro", str(d / "micro_fit_plain"), "--data", str(d / "meso.h5"), "--train-runs", "0,1",
               "--out", str(d / "bad_name"), "--steps", "1", "--task-covariate", "pressure"])
    assert rc == 2 and "no parameter 'pressure'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="task_covariate needs task_dim >= 1"):
        meso_spec(dataclasses.replace(spec, task_covariate="", task_dim=0), "up_kms")
    assert meso_spec(spec, None) is spec and meso_spec(spec, "up_kms") is spec
