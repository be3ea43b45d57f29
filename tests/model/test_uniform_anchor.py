"""Uniform-state anchoring: every uniform token grid is a fixed point of the drift and of the meso coupling."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from probtok.errors import ConfigError
from probtok.model import TokenModel
from probtok.model_spec import ModelSpec, load_config, spec_hash
from probtok.nets import DriftNet
from probtok.nets.blocks import conv_stack, uniform_response

SPEC = ModelSpec(fields=("T", "P", "mu"), token_size=4, token_dim=3, mixture_components=2, encoder_width=4,
                 decoder_width=4, drift_width=6, rest_anchor=True, uniform_anchor=True, task_dim=2,
                 coupling_width=5)


def _randomised(level="micro", seed=0, spec=SPEC):
    torch.manual_seed(seed)
    tm = TokenModel(spec, level)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(0.5 * torch.randn_like(p))
    return tm


def test_uniform_response_is_the_stack_applied_to_a_uniform_grid():
    torch.manual_seed(1)
    stack = conv_stack(3, 7, 3, dilations=(1, 2, 4))
    x = torch.randn(2, 3, 5, 6)
    got = uniform_response(stack, x)
    for b, i, j in [(0, 0, 0), (1, 4, 5), (0, 2, 3)]:
        grid = x[b, :, i, j][None, :, None, None].expand(1, 3, 9, 11).contiguous()
        out = stack(grid)
        assert torch.allclose(out, out[..., :1, :1].expand_as(out), atol=1e-6)  # uniform in, uniform out
        assert torch.allclose(got[b, :, i, j], out[0, :, 4, 5], atol=1e-5)
    zero_padded = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1))
    with pytest.raises(ValueError, match="replicate"):
        uniform_response(zero_padded, x)


def test_every_uniform_grid_is_a_fixed_point_and_gradients_still_move_tokens():
    tm = _randomised()
    typical = tm.transition(torch.randn(1, 6, 7, 3))[0].abs().mean()
    for v in (torch.zeros(3), torch.tensor([0.7, -1.3, 2.0]), 3 * torch.randn(3)):
        drift, var = tm.transition(v.expand(2, 6, 7, 3).contiguous())
        assert drift.abs().max() < 1e-5 * typical and torch.all(var > 0)
    # the same weights without the anchor move a uniform shocked state
    tm.transition.uniform = False
    assert tm.transition(torch.tensor([0.7, -1.3, 2.0]).expand(1, 6, 7, 3).contiguous())[0].abs().max() > 1e-2 * typical
    tm.transition.uniform = True
    step = torch.zeros(1, 6, 7, 3)
    step[..., 4:, :] = 1.0  # a front: the tokens next to it move, the uniform regions away from it do not
    drift, _ = tm.transition(step)
    moved = drift.abs().amax((0, 1, 3)) > 1e-5 * typical
    assert moved[2:6].all() and not moved[:2].any()


def test_meso_coupling_and_frame_step_keep_uniform_states_for_any_task_latent():
    tm = _randomised("meso")
    c = torch.randn(2, 2)
    phi = torch.randn(3, 5)
    u = torch.tensor([[0.4, -0.2, 1.1], [-2.0, 0.3, 0.0]])[:, None, None, :].expand(2, 5, 6, 3).contiguous()
    typical = tm.coupling(torch.randn_like(u), c, phi).abs().mean()
    assert tm.coupling(u, c, phi).abs().max() < 1e-5 * typical
    mean, scale = tm.frame_step(u, c, phi)
    assert torch.allclose(mean, u, atol=1e-4) and torch.all(scale > 0)


def test_uniform_anchor_is_read_from_the_config_checked_and_changes_the_architecture_hash(tmp_path):
    base = dataclasses.replace(SPEC, uniform_anchor=False)
    assert spec_hash(base) != spec_hash(SPEC)
    cfg = tmp_path / "m.toml"
    cfg.write_text('[model]\nfields = ["T"]\ntoken_size = 4\nuniform_anchor = true\n')
    assert load_config(cfg).spec.uniform_anchor is True
    cfg.write_text('[model]\nfields = ["T"]\ndrift = "linear"\nuniform_anchor = true\n')
    with pytest.raises(ConfigError, match="uniform_anchor needs drift"):
        load_config(cfg)
    net = DriftNet(3, 4, "linear")  # why it is refused: a per-token map IS its own uniform response
    with torch.no_grad():
        net.head.weight.normal_()
    z = torch.randn(1, 3, 2, 2)
    assert torch.allclose(net.uniform_drift(z), net(z)[0])
