"""SVI recovers the parameters of data drawn from the model itself."""

from __future__ import annotations

import math

import torch

from probtok.fit import fit
from probtok.model_spec import FitConfig

from conftest import (LINEAR_SPEC, TRUE_DECAY, TRUE_LOCS, TRUE_SCALE, TRUE_SIGMA_X, TRUE_SIGMA_Z, TRUE_WEIGHTS,
                      set_known_decoder)


def test_svi_recovers_noise_levels_dynamics_and_vocabulary(linear_data):
    # 32 runs x 6 frames x 16 tokens of a linear-Gaussian token model with a known decoder
    cfg = FitConfig(steps=800, batch_runs=32, learning_rate=0.1, final_lr_factor=0.02, rollout_weight=0.0,
                    checkpoint_every=10**6, seed=1)
    res = fit(LINEAR_SPEC, linear_data, cfg, progress=False, init=lambda m, g: set_known_decoder(m))
    model, guide = res.model, res.guide

    # observation noise per field: posterior median of sigma_x within 10 %
    sigma_x = guide.sigma_x_loc.exp()
    for est, true in zip(sigma_x.tolist(), TRUE_SIGMA_X):
        assert abs(est / true - 1) < 0.10, (est, true)

    # transition: drift F(z) = -0.1 z and noise sigma_z = 0.2 (homoscedastic truth)
    head = model.transition.net.head
    assert abs(head.weight[0, 0, 0, 0].item() - TRUE_DECAY) < 0.03
    sigma_z = math.exp(0.5 * head.bias[1].item())
    assert abs(sigma_z / TRUE_SIGMA_Z - 1) < 0.10, sigma_z
    assert abs(head.weight[1, 0, 0, 0].item()) < 0.1  # no spurious heteroscedasticity

    # vocabulary: weights, means and scale of the 2-component token mixture (up to label order)
    tp = model.token_prior
    order = torch.argsort(tp.locs[:, 0])
    assert torch.allclose(tp.weights[order], torch.tensor(TRUE_WEIGHTS), atol=0.05)
    assert torch.allclose(tp.locs[order], torch.tensor(TRUE_LOCS), atol=0.1)
    assert torch.allclose(tp.log_scales.exp(), torch.tensor(TRUE_SCALE), rtol=0.15)
    # the loss went down: the fit did something
    assert res.losses[-20:].mean() < res.losses[:20].mean()
