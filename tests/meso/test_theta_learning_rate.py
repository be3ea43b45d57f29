"""theta_lr_factor scales the learning rate of the micro globals theta, and only theirs; theta_warmup_steps ramps it.

Adam's first step moves every parameter with a non-zero gradient by exactly its learning rate (m / sqrt(v) =
sign(g) after bias correction, up to eps = 1e-8), so one SVI step shows the rate each parameter was given.
"""

from __future__ import annotations

import pytest
import torch

from probtok.adapt import THETA_MODULES, AdaptConfig, adapt
from probtok.errors import ConfigError

from meso_toys import one_torch_thread, micro_pair, sample_meso  # noqa: F401


def _first_step(factor, warmup=0):
    torch.manual_seed(0)
    x = sample_meso(torch.randn(2, 3) * 0.5, torch.randn(3, 1), 4, (4, 4), seed=0)
    # final_lr_factor 1: ClippedAdam decays the rate before each step, so 1 step would otherwise run at lr x 0.1
    cfg = dict(batch_runs=3, theta="prior", theta_lr_factor=factor, learning_rate=0.01, final_lr_factor=1.0, seed=0,
               theta_warmup_steps=warmup)
    start = adapt(micro_pair() + (None,), x, AdaptConfig(steps=0, **cfg), progress=False)
    before = {n: p.detach().clone() for n, p in start.model.named_parameters()}
    res = adapt(micro_pair() + (None,), x, AdaptConfig(steps=1, **cfg), progress=False)
    moved = {n: (p.detach() - before[n]).abs() for n, p in res.model.named_parameters()}
    theta = torch.cat([m.flatten() for n, m in moved.items() if n.split(".")[0] in THETA_MODULES])
    coupling = torch.cat([m.flatten() for n, m in moved.items() if n.startswith("coupling.")])
    return theta, coupling


@pytest.mark.parametrize("factor", [1.0, 0.1])
def test_one_step_moves_theta_by_its_own_rate_and_the_coupling_by_the_base_rate(factor):
    theta, coupling = _first_step(factor)
    assert theta.max() == pytest.approx(0.01 * factor, rel=1e-3)
    assert coupling.max() == pytest.approx(0.01, rel=1e-3)
    # most theta weights get a gradient (the transition, decoder, token prior all enter the likelihood)
    assert (theta > 0.5 * 0.01 * factor).float().mean() > 0.5


def test_a_theta_warmup_starts_theta_at_a_tenth_of_its_rate_and_leaves_the_coupling_at_the_base_rate():
    theta, coupling = _first_step(1.0, warmup=20)
    assert theta.max() == pytest.approx(0.01 * 0.1, rel=1e-3)  # theta_warmup_start = 0.1
    assert coupling.max() == pytest.approx(0.01, rel=1e-3)
    with pytest.raises(ConfigError, match="theta_warmup_steps"):
        AdaptConfig(theta_warmup_steps=-1)


def test_theta_lr_factor_must_be_positive():
    with pytest.raises(ConfigError, match="theta_lr_factor"):
        AdaptConfig(theta_lr_factor=0.0)
