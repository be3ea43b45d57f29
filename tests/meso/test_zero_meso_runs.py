"""With zero meso runs (phi at its prior centre 0) the meso model is the micro model: same rollouts for
r = 1, r composed micro steps per meso frame for r = 2, same log-likelihood of a trajectory."""

from __future__ import annotations

import dataclasses

import pyro
import pytest
import torch
from pyro import poutine

from probtok.adapt import meso_from_micro
from probtok.guides import TokenGuide
from probtok.model import TokenModel
from probtok.model_spec import ModelSpec

from meso_toys import one_torch_thread  # noqa: F401 (autouse fixture)

SPEC = ModelSpec(fields=("T", "P"), token_size=2, token_dim=3, mixture_components=2, encoder_width=8,
                 decoder_width=8, drift_width=8, task_dim=2, coupling_width=4, steps_per_frame=1)


def _micro(spec, seed=0):
    torch.manual_seed(seed)
    model = TokenModel(spec, "micro").eval()
    with torch.no_grad():  # a non-trivial drift (the head starts at zero = persistence)
        model.transition.net.head.weight.normal_(0.0, 0.1)
        model.transition.net.head.bias.normal_(-3.0, 0.3)
    return model, TokenGuide(spec, "micro").attach(model).eval()


def test_phi_zero_with_r1_reproduces_micro_rollouts_exactly():
    micro, guide = _micro(SPEC)
    meso, _ = meso_from_micro(micro, guide, n_runs=2)
    assert torch.equal(meso.phi_prior().mean, torch.zeros(3, 4))  # "no correction" is the prior centre
    z0 = torch.randn(2, 4, 5, 3)
    c = torch.randn(2, 2) * 3.0  # whatever the task latent: phi = 0 switches the coupling off
    phi = torch.zeros(3, 4)
    assert torch.equal(meso.rollout(z0, 7, False, c, phi), micro.rollout(z0, 7, False))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    zs_meso = meso.rollout(z0, 7, True, c, phi, generator=g1)
    zs_micro = micro.rollout(z0, 7, True, generator=g2)
    assert torch.equal(zs_meso, zs_micro)
    assert torch.equal(meso.decode(zs_meso), micro.decode(zs_micro))
    # and phi != 0 does change the dynamics (the test above is not vacuous)
    assert not torch.allclose(meso.rollout(z0, 7, False, c, torch.ones(3, 4)), micro.rollout(z0, 7, False))


def test_phi_zero_with_r2_equals_two_composed_micro_steps_per_meso_frame():
    spec = dataclasses.replace(SPEC, steps_per_frame=2)
    micro, guide = _micro(spec, seed=1)
    meso, _ = meso_from_micro(micro, guide, n_runs=2)
    z0 = torch.randn(2, 4, 5, 3)
    c, phi = torch.randn(2, 2), torch.zeros(3, 4)
    meso_means = meso.rollout(z0, 5, False, c, phi)
    micro_means = micro.rollout(z0, 9, False)  # micro frame interval = half the meso one
    assert torch.allclose(meso_means, micro_means[:, ::2], atol=1e-6)
    # one meso frame's variance is the sum of the two micro steps' variances
    _, s_meso = meso.frame_step(z0, c, phi)
    _, s1 = micro.frame_step(z0)
    _, s2 = micro.frame_step(micro_means[:, 1])
    assert torch.allclose(s_meso**2, s1**2 + s2**2, rtol=1e-5)


def test_phi_zero_meso_log_likelihood_equals_micro_log_likelihood():
    """The whole Pyro model: a trajectory drawn from the micro model has the same log density of its
    tokens and fields under the meso model with phi = 0 and r = 1 (c and phi sites aside)."""
    micro, guide = _micro(SPEC, seed=2)
    meso, _ = meso_from_micro(micro, guide, n_runs=3)
    pyro.set_rng_seed(0)
    with torch.no_grad():
        tr = poutine.trace(micro.model).get_trace(None, n_runs=3, n_frames=5, grid=(8, 10))
        data = {k: v["value"] for k, v in tr.nodes.items() if v["type"] == "sample" and k != "run"}
        tr_meso = poutine.trace(poutine.condition(meso.model, data={**data, "phi": torch.zeros(3, 4),
                                                                    "c": torch.randn(3, 2)})).get_trace(
            None, n_runs=3, n_frames=5, grid=(8, 10))
    tr.compute_log_prob()
    tr_meso.compute_log_prob()
    names = [k for k in data if k[:2] in ("z_", "x_")]
    assert len(names) == 10
    for k in names:
        assert torch.allclose(tr.nodes[k]["log_prob"], tr_meso.nodes[k]["log_prob"], rtol=1e-6, atol=1e-4), k


def test_sample_forecast_decodes_what_the_forecast_model_would():
    """sample_forecast decodes the token draws of one forecast_trace outside the model: bit-equal to decoding
    that trace's z_t; in distribution (per-cell mean and sd over 2000 draws) the same as the decoder means
    (mean_t sites) that ``pyro.infer.Predictive`` samples from the full forecast model; with noise the
    scatter about the means is sigma_x."""
    from probtok.predict import Posterior, forecast_guide, forecast_model, forecast_trace, sample_forecast

    micro, guide = _micro(dataclasses.replace(SPEC, decoder="linear"), seed=4)
    with torch.no_grad():  # a decoder that passes token spread through at order one
        micro.decoder.net.net.weight.normal_(0.0, 1.0)
    meso, mguide = meso_from_micro(micro, guide, n_runs=1)
    for mod in (meso, mguide):
        mod.eval()
        mod.requires_grad_(False)
    with torch.no_grad():  # a visible task correction, so that the phi/c draws matter
        mguide.phi_loc.normal_(0.0, 0.3)
    post = Posterior(meso, mguide, normaliser=None, adapted=True)
    x_first = torch.randn(1, 2, 8, 10)
    n, T = 2000, 4
    sites = ["sigma_x"] + [f"mean_{t}" for t in range(T)]
    pyro.set_rng_seed(11)
    with torch.no_grad():
        ref = pyro.infer.Predictive(forecast_model, guide=forecast_guide, num_samples=1, return_sites=sites)(
            post, n, T, (8, 10), x_first, None, observe=True)
    ref_means = torch.stack([ref[f"mean_{t}"][0] for t in range(T)], 1)
    means = sample_forecast(post, x_first, T, n, observation_noise=False, draw_batch=n, seed=11)
    pyro.set_rng_seed(11)
    with torch.no_grad():
        tr = forecast_trace(post, n, T, (8, 10), x_first, None, rollout_noise=1.0)
        assert torch.equal(means, torch.stack([meso.decoder(tr.nodes[f"z_{t}"]["value"]) for t in range(T)], 1))
    se = ref_means.std(0) / n**0.5
    assert (means.mean(0) - ref_means.mean(0)).abs().max() < 5 * se.max()
    assert torch.allclose(means.std(0), ref_means.std(0), rtol=0.15, atol=1e-3)
    assert means[:, -1].std(0).mean() > 0.1  # the rollouts do spread (the checks above are not vacuous)
    noisy = sample_forecast(post, x_first, T, 64, observation_noise=True, draw_batch=64, seed=11)
    clean = sample_forecast(post, x_first, T, 64, observation_noise=False, draw_batch=64, seed=11)
    sd = (noisy - clean).transpose(1, 2).reshape(64, 2, -1).std(-1)  # per draw and field
    pyro.set_rng_seed(11)
    with torch.no_grad():  # the sigma_x of each of those draws
        sigma = forecast_trace(post, 64, T, (8, 10), x_first, None).nodes["sigma_x"]["value"]
    ratio = sd / sigma  # each from 320 cells: relative standard error 1 / sqrt(640) = 4 %
    assert abs(ratio.mean().item() - 1.0) < 0.015  # 128 ratios: 4 standard errors of their mean
    assert (ratio - 1.0).abs().max().item() < 0.2


@pytest.mark.parametrize("kappa", [0.3, 1.0])
def test_rollout_noise_scales_the_free_transition_noise_exactly(kappa):
    """z_t of the free rollout is Normal(m_r(z_{t-1}), kappa sqrt(v_r)): the standardised residual of the
    Predictive draws has sd kappa (and mean 0), whatever the fitted noise."""
    from probtok.predict import Posterior, forecast_guide, forecast_model

    micro, guide = _micro(SPEC, seed=5)
    meso, mguide = meso_from_micro(micro, guide, n_runs=1)
    for mod in (meso, mguide):
        mod.eval()
        mod.requires_grad_(False)
    post = Posterior(meso, mguide, normaliser=None, adapted=True)
    x_first = torch.randn(1, 2, 8, 10)
    pyro.set_rng_seed(3)
    with torch.no_grad():
        s = pyro.infer.Predictive(forecast_model, guide=forecast_guide, num_samples=1, return_sites=["c", "phi", "z_0", "z_1"])(
            post, 500, 2, (8, 10), x_first, None, observe=False, rollout_noise=kappa)
        z0, z1 = s["z_0"][0], s["z_1"][0]
        loc, scale = meso.frame_step(z0, s["c"][0], s["phi"][0][:, None])
    r = ((z1 - loc) / scale).flatten()
    assert abs(r.mean().item()) < 0.01
    assert r.std().item() == pytest.approx(kappa, rel=0.01)


def test_a_forecast_without_kappa_draws_with_the_one_the_model_records():
    import dataclasses

    from probtok.predict import Posterior, sample_forecast

    micro, guide = _micro(SPEC, seed=5)
    meso, mguide = meso_from_micro(micro, guide, n_runs=1)
    for mod in (meso, mguide):
        mod.eval()
        mod.requires_grad_(False)
    own = Posterior(meso, mguide, normaliser=None, adapted=True, meta={"rollout_noise": {"kappa": 0.3}})
    bare = dataclasses.replace(own, meta={})  # a fit that records no kappa: 1
    assert own.rollout_noise == 0.3 and bare.rollout_noise == 1.0
    x_first = torch.randn(1, 2, 8, 10)
    a = sample_forecast(own, x_first, 4, 8, seed=1)
    assert torch.equal(a, sample_forecast(bare, x_first, 4, 8, seed=1, rollout_noise=0.3))
    assert torch.equal(sample_forecast(own, x_first, 4, 8, seed=1, rollout_noise=1.0),
                       sample_forecast(bare, x_first, 4, 8, seed=1))
    assert not torch.allclose(a, sample_forecast(bare, x_first, 4, 8, seed=1))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "x"])
def test_rollout_noise_must_be_positive_and_finite(bad):
    from probtok.errors import ConfigError
    from probtok.predict import check_rollout_noise

    with pytest.raises(ConfigError):
        check_rollout_noise(bad)


def test_cli_bench_and_demo_default_to_each_models_own_rollout_noise():
    import inspect

    from probtok.adapt import adapt_files
    from probtok.bench import BenchConfig
    from probtok.cli import bench_fewshot, demo, forecast
    from probtok.pipeline import DemoConfig
    from probtok.predict import forecast_files, forecast_run, sample_forecast
    from probtok.rollout_noise import DEFAULT_KAPPAS, NoiseChoice

    # None everywhere: the kappa the fitted model records (Posterior.rollout_noise)
    assert BenchConfig().rollout_noise is None and DemoConfig().rollout_noise is None
    for command in (bench_fewshot, forecast, demo):
        assert inspect.signature(command).parameters["rollout_noise"].default.default is None
    for fn in (forecast_files, forecast_run, sample_forecast):
        assert inspect.signature(fn).parameters["rollout_noise"].default is None
    # `probtok adapt` and adapt_files choose on the same grid; 1 (the fitted noise) is always a candidate
    from probtok.cli import adapt

    grid = inspect.signature(adapt).parameters["kappas"].default.default
    assert tuple(float(v) for v in grid.split(",")) == NoiseChoice().kappas == DEFAULT_KAPPAS and 1.0 in DEFAULT_KAPPAS
    assert inspect.signature(adapt_files).parameters["noise_choice"].default is None
