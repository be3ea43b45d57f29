"""AdaptConfig.encoder: the amortized encoder q(z_t | x_t, z_{t-1}) is re-used as the micro fit left it
("frozen") or fitted on the meso runs too ("train").

Adam's first step moves every parameter with a non-zero gradient by exactly its learning rate (m / sqrt(v) =
sign(g) after bias correction), so one SVI step shows which parameters were optimised.
"""

from __future__ import annotations

import pytest
import torch

from probtok.adapt import AdaptConfig, adapt
from probtok.errors import CheckpointError, ConfigError

from meso_toys import one_torch_thread, micro_pair, sample_meso  # noqa: F401


def _encoder_moves(encoder: str, steps: int) -> dict[str, torch.Tensor]:
    """{encoder parameter: |its change|} after ``steps`` SVI steps of the adaptation."""
    torch.manual_seed(0)
    x = sample_meso(torch.randn(2, 3) * 0.5, torch.randn(3, 1), 4, (4, 4), seed=0)
    cfg = dict(batch_runs=3, encoder=encoder, learning_rate=0.01, final_lr_factor=1.0, seed=0)
    start = adapt(micro_pair() + (None,), x, AdaptConfig(steps=0, **cfg), progress=False)
    before = {n: p.detach().clone() for n, p in start.guide.encoder.named_parameters()}
    res = adapt(micro_pair() + (None,), x, AdaptConfig(steps=steps, **cfg), progress=False)
    return {n: (p.detach() - before[n]).abs() for n, p in res.guide.encoder.named_parameters()}


def test_a_trained_encoder_takes_adams_steps_and_a_frozen_one_stays_the_micro_fits():
    first = _encoder_moves("train", 1)
    # the weights with a gradient at the first step move by exactly the learning rate: the output layer's (the toy
    # micro fit's output layer is zero, meso_toys.set_micro_truth, so its hidden layers get no gradient yet)
    assert max(float(d.max()) for d in first.values()) == pytest.approx(0.01, rel=1e-3)
    assert all(torch.allclose(d, torch.full_like(d, 0.01), rtol=1e-3) for n, d in first.items() if n.startswith("net.head.2"))
    # a few steps on, every encoder weight has moved
    assert all(torch.count_nonzero(d) > 0 for d in _encoder_moves("train", 3).values())
    assert all(torch.count_nonzero(d) == 0 for d in _encoder_moves("frozen", 3).values())


def test_an_encoder_mode_is_checked_and_a_resume_must_keep_it(tmp_path):
    with pytest.raises(ConfigError, match="encoder must be one of"):
        AdaptConfig(encoder="thawed")
    torch.manual_seed(0)
    x = sample_meso(torch.randn(2, 3) * 0.5, torch.randn(3, 1), 4, (4, 4), seed=0)
    adapt(micro_pair() + (None,), x, AdaptConfig(steps=2, checkpoint_every=1), out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="other adaptation settings .*encoder"):
        adapt(micro_pair() + (None,), x, AdaptConfig(steps=3, encoder="train"), out_dir=tmp_path, progress=False)
    # the default is what checkpoints written before the setting existed did: they resume under it
    res = adapt(micro_pair() + (None,), x, AdaptConfig(steps=3, checkpoint_every=1), out_dir=tmp_path, progress=False)
    assert res.resumed_from == 2
