"""The model is fully convolutional, and its log-likelihoods are per run and frame."""

from __future__ import annotations

import pyro
import torch
from pyro import poutine

from probtok.guides import TokenGuide
from probtok.model import TokenModel, log_likelihood_table
from probtok.model_spec import ModelSpec

SPEC = ModelSpec(fields=("T", "P", "mu"), token_size=4, token_dim=3, mixture_components=3, encoder_width=8,
                 decoder_width=8, drift_width=8, coupling_width=4, task_dim=2, steps_per_frame=2)


def _traces(model, guide, x, **kw):
    gt = poutine.trace(guide.guide).get_trace(x, **kw)
    mt = poutine.trace(poutine.replay(model.model, trace=gt)).get_trace(x, **kw)
    mt.compute_log_prob()
    gt.compute_log_prob()
    return mt, gt


def test_micro_model_runs_on_a_larger_meso_grid_with_per_run_frame_log_likelihoods():
    pyro.clear_param_store()
    torch.manual_seed(0)
    model, guide = TokenModel(SPEC).eval(), TokenGuide(SPEC).eval()
    for (H, W), n_runs, n_frames, batch in [((16, 16), 3, 4, None), ((32, 48), 5, 3, 2)]:
        x = torch.randn(n_runs, n_frames, 3, H, W)
        mt, gt = _traces(model, guide, x, batch_runs=batch)
        n = batch or n_runs
        for t in range(n_frames):
            z, obs = mt.nodes[f"z_{t}"], mt.nodes[f"x_{t}"]
            assert z["value"].shape == (n, H // 4, W // 4, 3)
            assert obs["fn"].event_shape == (3, H, W) and obs["fn"].batch_shape == (n,)
            assert obs["log_prob"].shape == (n,) and z["log_prob"].shape == (n,)
            assert gt.nodes[f"z_{t}"]["log_prob"].shape == (n,)
            # the per-run number is the sum of independent Normal terms over every cell of every field
            mean = model.decoder(z["value"])
            sigma = mt.nodes["sigma_x"]["value"][:, None, None]
            by_cell = torch.distributions.Normal(mean, sigma).log_prob(x[mt.nodes["run"]["value"], t])
            assert torch.allclose(obs["fn"].log_prob(obs["value"]), by_cell.sum((1, 2, 3)), rtol=1e-5)
            # subsampling scales the ELBO terms to the whole data set by N / batch
            assert torch.allclose(obs["log_prob"], by_cell.sum((1, 2, 3)) * n_runs / n, rtol=1e-5)
        table = log_likelihood_table(mt, n_frames)
        assert table.shape == (n, n_frames) and torch.isfinite(table).all()
        assert torch.allclose(table[:, -1], obs["fn"].log_prob(obs["value"]))


def test_meso_level_adds_task_latent_and_coupling_and_zero_phi_is_micro_physics():
    pyro.clear_param_store()
    torch.manual_seed(1)
    micro = TokenModel(SPEC, "micro").eval()
    meso = TokenModel(SPEC, "meso").eval()
    meso.load_state_dict(micro.state_dict(), strict=False)
    guide = TokenGuide(SPEC, "meso", n_runs=4).eval()
    x = torch.randn(4, 3, 3, 16, 24)
    mt, _ = _traces(meso, guide, x)
    assert mt.nodes["c"]["value"].shape == (4, 2) and mt.nodes["c"]["log_prob"].shape == (4,)
    assert mt.nodes["phi"]["value"].shape == (3, 4)
    z = torch.randn(4, 4, 6, 3)
    c = torch.randn(4, 2)
    # phi = 0: the meso step equals r = 2 micro steps of the micro model
    m_loc, m_scale = meso.frame_step(z, c, torch.zeros(3, 4))
    z1, _ = micro.frame_step(z)
    z2, _ = micro.frame_step(z1)
    assert torch.allclose(m_loc, z2, atol=1e-6)
    _, s1 = micro.frame_step(z)
    _, s2 = micro.frame_step(z1)
    assert torch.allclose(m_scale, (s1**2 + s2**2).sqrt(), atol=1e-6)
    # phi != 0 changes the dynamics
    m_loc2, _ = meso.frame_step(z, c, torch.ones(3, 4))
    assert not torch.allclose(m_loc2, z2)


def test_token_prior_is_a_mixture_whose_density_integrates_to_one():
    torch.manual_seed(2)
    model = TokenModel(ModelSpec(fields=("T",), token_size=1, token_dim=1, mixture_components=3)).eval()
    grid = torch.linspace(-12, 12, 20001)[:, None, None, None]
    d = model.token_prior.distribution((1, 1, 1))
    density = d.log_prob(grid).exp().squeeze()
    integral = torch.trapezoid(density, grid.squeeze())
    assert abs(integral.item() - 1.0) < 1e-3
