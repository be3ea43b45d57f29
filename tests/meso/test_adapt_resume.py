"""An adaptation killed mid-way and restarted ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import pytest
import torch

from probtok.adapt import AdaptConfig, adapt
from probtok.errors import CheckpointError

from meso_toys import one_torch_thread, micro_pair, sample_meso, set_coupling_truth  # noqa: F401


class Killed(Exception):
    pass


def _kill_at(n):
    def on_step(step, loss):
        if step == n:
            raise Killed

    return on_step


@pytest.mark.parametrize("theta,encoder,warmup", [("frozen", "frozen", 0), ("prior", "frozen", 0),
                                                  ("frozen", "train", 0), ("prior", "frozen", 6)])
def test_adapt_killed_and_resumed_equals_uninterrupted(tmp_path, theta, encoder, warmup):
    """(warmup 6: killed at step 5, resumed from step 3, mid-ramp)"""
    torch.manual_seed(0)
    x = sample_meso(torch.randn(2, 3) * 0.5, torch.randn(3, 1), 4, (4, 4), seed=0)
    cfg = AdaptConfig(steps=8, batch_runs=2, checkpoint_every=3, theta=theta, encoder=encoder,
                      theta_warmup_steps=warmup, seed=1)
    full = adapt(micro_pair() + (None,), x, cfg, out_dir=tmp_path / "full", progress=False)
    with pytest.raises(Killed):
        adapt(micro_pair() + (None,), x, cfg, out_dir=tmp_path / "killed", progress=False, on_step=_kill_at(5))
    resumed = adapt(micro_pair() + (None,), x, cfg, out_dir=tmp_path / "killed", progress=False)
    assert resumed.resumed_from == 3
    for (name, a), b in zip(full.guide.state_dict().items(), resumed.guide.state_dict().values()):
        assert torch.equal(a, b), name
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(torch.as_tensor(full.losses), torch.as_tensor(resumed.losses))
    # batch_runs=2 of 3 runs: subsampling is random, so equality above also checks the restored RNG state
    with pytest.raises(CheckpointError, match=r"other adaptation settings \(learning_rate 0.01 there, 0.5 now\)"):
        adapt(micro_pair() + (None,), x, AdaptConfig(steps=8, batch_runs=2, checkpoint_every=3, theta=theta,
                                                     encoder=encoder, theta_warmup_steps=warmup, learning_rate=0.5,
                                                     seed=1),
              out_dir=tmp_path / "killed", progress=False)


def test_q_c_starts_at_c_init_scale_and_a_resume_must_keep_it(tmp_path):
    import dataclasses

    from torch.nn import functional as F

    from probtok.errors import ConfigError
    from probtok.fit import comparable_settings

    torch.manual_seed(0)
    x = sample_meso(torch.randn(2, 3) * 0.5, torch.randn(3, 1), 4, (4, 4), seed=0)
    for scale in (0.1, 1.0):
        res = adapt(micro_pair() + (None,), x, AdaptConfig(steps=0, c_init_scale=scale), progress=False)
        assert torch.allclose(F.softplus(res.guide.c_scale_raw), torch.full((3, 1), scale))
        assert torch.equal(res.guide.c_loc, torch.zeros(3, 1))
    cfg = AdaptConfig(steps=2, batch_runs=3, c_init_scale=1.0)
    adapt(micro_pair() + (None,), x, cfg, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="other adaptation settings"):
        adapt(micro_pair() + (None,), x, dataclasses.replace(cfg, c_init_scale=0.5), out_dir=tmp_path, progress=False)
    # checkpoints written before the key existed (all at 0.1) compare equal to the default
    old = {k: v for k, v in dataclasses.asdict(AdaptConfig()).items() if k != "c_init_scale"}
    assert comparable_settings(old) == comparable_settings(dataclasses.asdict(AdaptConfig()))
    with pytest.raises(ConfigError, match="c_init_scale"):
        AdaptConfig(c_init_scale=0.0)


def test_a_checkpoint_of_other_training_runs_is_neither_resumed_nor_reused(tmp_path):
    """The same number of runs is not enough: an adaptation or from-scratch folder made on other runs stops
    with an error naming both, in adapt() and in the pipeline's reuse check (a benchmark re-run with other
    subsets, `probtok adapt --out` of another adaptation)."""
    from probtok.pipeline import _done_steps

    torch.manual_seed(0)
    x = sample_meso(torch.randn(2, 3) * 0.5, torch.randn(3, 1), 4, (4, 4), seed=0)
    cfg = AdaptConfig(steps=2, batch_runs=3)
    adapt(micro_pair() + (None,), x, cfg, out_dir=tmp_path, progress=False, meta={"train_runs": [0, 1, 2]})
    again = adapt(micro_pair() + (None,), x, cfg, out_dir=tmp_path, progress=False, meta={"train_runs": [0, 1, 2]})
    assert again.resumed_from == 2  # the same runs: reused
    with pytest.raises(CheckpointError, match=r"fitted on runs \[0, 1, 2\], not \[3, 7, 13\]"):
        adapt(micro_pair() + (None,), x, cfg, out_dir=tmp_path, progress=False, meta={"train_runs": [3, 7, 13]})
    assert _done_steps(tmp_path, [0, 1, 2]) == 2
    with pytest.raises(CheckpointError, match=r"not \[3, 7, 13\]"):
        _done_steps(tmp_path, [3, 7, 13])
