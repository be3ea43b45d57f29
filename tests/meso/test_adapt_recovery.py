"""Few-shot adaptation on data drawn from the meso model itself: known c[n] and phi are recovered,
and posterior-predictive 90 % intervals of new runs cover about 90 % of their values."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from probtok.adapt import AdaptConfig, adapt
from probtok.predict import Posterior, condition_task, sample_forecast
from probtok.threads import torch_threads

from meso_toys import one_torch_thread, micro_pair, sample_meso, set_coupling_truth

GRID = (8, 8)
N_TRAIN, N_TEST = 10, 6


@pytest.fixture(scope="module")
def truth():
    torch.manual_seed(5)
    phi = torch.randn(2, 3) * 0.5
    c = torch.randn(N_TRAIN + N_TEST, 1)
    x_train = sample_meso(phi, c[:N_TRAIN], 6, GRID, seed=1)
    x_test = sample_meso(phi, c[N_TRAIN:], 8, GRID, seed=2)
    return phi, c, x_train, x_test


@pytest.fixture(scope="module")
def adapted(truth):
    with torch_threads(1):
        phi, c, x_train, _ = truth
        micro_model, micro_guide = micro_pair()
        cfg = AdaptConfig(steps=250, batch_runs=N_TRAIN, learning_rate=0.04, coupling_net="frozen",
                          rollout_weight=0.0, seed=0)
        return adapt((micro_model, micro_guide, None), x_train, cfg, progress=False,
                     init=lambda m, g: set_coupling_truth(m))


def test_adaptation_recovers_task_latents_coupling_and_noise(truth, adapted):
    phi, c, _, _ = truth
    g = adapted.guide
    # phi: 6 weights of size ~0.5; c: one per run, prior N(0, 1)
    assert torch.allclose(g.phi_loc, phi, atol=0.05), (g.phi_loc, phi)
    assert torch.allclose(g.c_loc, c[:N_TRAIN], atol=0.1), torch.cat([g.c_loc, c[:N_TRAIN]], 1)
    c_sd = F.softplus(g.c_scale_raw)
    assert (c_sd < 0.1).all()
    # standardised errors of c are O(1): the posterior widths are not wildly off
    z = ((g.c_loc - c[:N_TRAIN]) / c_sd).abs()
    assert z.max() < 4.0, z
    assert torch.allclose(g.sigma_x_loc.exp(), torch.tensor([0.01, 0.01]), rtol=0.1)
    # only what must adapt adapted: the micro drift is the micro fit's
    micro_model, _ = micro_pair()
    assert torch.equal(adapted.model.transition.net.head.weight, micro_model.transition.net.head.weight)
    assert adapted.losses[-20:].mean() < adapted.losses[:20].mean()


def test_forecast_intervals_of_new_runs_cover_about_nominal(truth, adapted):
    """New runs (c unknown): c fitted to the first 3 frames, then 5 forecast frames; pooled coverage of
    central 50 % and 90 % intervals of every value."""
    _, c, _, x_test = truth
    post = Posterior(adapted.model, adapted.guide, normaliser=None, adapted=True)
    m = 3
    hits50, hits90, c_err = [], [], []
    for n in range(N_TEST):
        c_post = condition_task(post, x_test[n, :m], steps=100, seed=n)
        c_err.append(float((c_post[0] - c[N_TRAIN + n]).abs().max()))
        # rollout_noise = 1: the model's own predictive, which must be calibrated on data drawn from it
        # (the forecasts' default kappa < 1 answers a misfit of real data, probtok.predict)
        draws = sample_forecast(post, x_test[n, :m], x_test.shape[1], n_draws=300, c_post=c_post, seed=n,
                                rollout_noise=1.0)
        assert draws.shape == (300, 8, 2, *GRID)
        future, truth_n = draws[:, m:], x_test[n, m:]
        q = torch.quantile(future.reshape(300, -1), torch.tensor([0.05, 0.25, 0.75, 0.95]), dim=0)
        t = truth_n.reshape(-1)
        hits90.append(((t >= q[0]) & (t <= q[3])).float())
        hits50.append(((t >= q[1]) & (t <= q[2])).float())
    cov90, cov50 = torch.cat(hits90).mean().item(), torch.cat(hits50).mean().item()
    assert 0.8 <= cov90 <= 0.97, cov90
    assert 0.4 <= cov50 <= 0.6, cov50
    assert max(c_err) < 0.3, c_err
