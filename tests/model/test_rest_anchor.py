"""Rest-centred tokens (the rest state is token 0 and a fixed point; finite propagation speed) and start_frame."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import torch

from probtok.checkpoint import load_fitted
from probtok.fit import fit
from probtok.guides import TokenGuide
from probtok.model import TokenModel
from probtok.model_spec import FitConfig, ModelSpec, spec_hash, spec_to_dict

from conftest import toy_runs

SPEC = ModelSpec(fields=("T", "P", "mu"), token_size=4, token_dim=3, mixture_components=2, encoder_width=4,
                 decoder_width=4, drift_width=6, encoder_conditional=True)
CFG = FitConfig(steps=4, batch_runs=2, learning_rate=1e-2, rollout_weight=0.5, rollout_horizon_start=1,
                rollout_horizon_end=2, checkpoint_every=2, seed=3)


def _randomised(level="micro", seed=0):
    """A rest-centred model + guide with random weights everywhere (heads start at zero otherwise)."""
    torch.manual_seed(seed)
    tm = TokenModel(dataclasses.replace(SPEC, rest_anchor=True), level)
    tg = TokenGuide(tm.spec, level, n_runs=2 if level == "meso" else None).attach(tm)
    with torch.no_grad():
        for p in list(tm.parameters()) + list(tg.parameters()):
            p.copy_(0.5 * torch.randn_like(p))
        tm.decoder.x_rest.copy_(torch.tensor([-0.9, -1.0, 0.8]))
    return tm, tg


def test_rest_state_encodes_to_token_zero_decodes_back_and_stays():
    tm, tg = _randomised()
    H, W = 20, 28
    x_rest = tm.decoder.x_rest[None, :, None, None].expand(1, 3, H, W)
    z, _ = tg.encoder(x_rest)
    assert z.abs().max() < 1e-5
    z, _ = tg.encoder(x_rest, torch.zeros_like(z))  # the conditional encoder with a rest history
    assert z.abs().max() < 1e-5
    zero = torch.zeros(1, H // 4, W // 4, 3)
    assert (tm.decoder(zero) - x_rest).abs().max() < 1e-5
    drift, var = tm.transition(zero)
    scale = tm.transition(torch.randn_like(zero))[0].abs().mean()  # a typical drift of these weights
    assert drift.abs().max() < 1e-5 * scale and torch.all(var > 0)


def test_a_disturbance_travels_at_most_two_tokens_per_micro_step():
    tm, _ = _randomised()
    z = torch.zeros(1, 9, 15, 3)
    z[0, 4, 2] = 1.0
    drift, _ = tm.transition(z)
    scale = drift.abs().max()
    moved = drift.abs().amax((0, 1, 3)) > 1e-5 * scale  # per column: the drift net's two 3x3 layers
    assert moved[:5].all() and not moved[5:].any()
    tm.transition.anchored = False  # without the anchor the same weights move rest tokens
    assert tm.transition(torch.zeros(1, 9, 15, 3))[0].abs().max() > 1e-2 * scale


def test_meso_coupling_leaves_rest_at_rest_for_any_task_latent():
    tm, _ = _randomised("meso")
    c = torch.randn(2, SPEC.task_dim)
    phi = torch.randn(SPEC.token_dim, SPEC.coupling_width)
    zero = torch.zeros(2, 6, 8, 3)
    g = tm.coupling(zero, c, phi)
    assert g.abs().max() < 1e-5 * tm.coupling(torch.randn_like(zero), c, phi).abs().mean()
    mean, _ = tm.frame_step(zero, c, phi)
    assert mean.abs().max() < 1e-4


def _unit(x):
    return (x - x.mean((0, 1, 3, 4), keepdim=True)) / x.std((0, 1, 3, 4), keepdim=True)


def test_start_frame_fits_the_frames_after_it_only():
    x = _unit(torch.as_tensor(toy_runs(4, 6)))
    skipped = fit(SPEC, x, dataclasses.replace(CFG, start_frame=2), progress=False)
    garbage = x.clone()
    garbage[:, :2] = 1e3 * torch.randn_like(garbage[:, :2])  # frames 0-1 must not matter at all
    same = fit(SPEC, garbage, dataclasses.replace(CFG, start_frame=2), progress=False)
    assert torch.equal(torch.as_tensor(skipped.losses), torch.as_tensor(same.losses))
    full = fit(SPEC, x, CFG, progress=False)
    assert not torch.equal(torch.as_tensor(full.losses), torch.as_tensor(skipped.losses))


def test_rest_centred_fit_takes_the_rest_state_from_the_first_frame_and_reloads(tmp_path):
    x = _unit(torch.as_tensor(toy_runs(4, 5)))
    spec = dataclasses.replace(SPEC, rest_anchor=True)
    res = fit(spec, x, dataclasses.replace(CFG, start_frame=1), out_dir=tmp_path / "f", progress=False)
    expect = x[:, 1].movedim(1, 0).reshape(3, -1).median(1).values
    assert torch.equal(res.model.decoder.x_rest, expect)
    model, guide, _ = load_fitted(tmp_path / "f")
    assert torch.equal(model.decoder.x_rest, expect)
    rest = expect[None, :, None, None].expand(1, 3, 8, 8)
    assert guide.encoder(rest)[0].abs().max() < 1e-5  # the reloaded guide centres on the reloaded state


def test_checkpoints_written_before_the_new_keys_existed_still_load_and_resume(tmp_path):
    x = _unit(torch.as_tensor(toy_runs(3, 4)))
    fit(SPEC, x, dataclasses.replace(CFG, steps=2), out_dir=tmp_path / "old", progress=False)
    path = tmp_path / "old" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    # what an old file holds: the spec without rest_anchor, hashed the old way; no start_frame
    added = ("rest_anchor", "uniform_anchor", "log_fields", "task_covariate", "task_covariate_noise")
    old_spec = {k: v for k, v in spec_to_dict(SPEC).items() if k not in added}
    ckpt["spec"] = old_spec
    ckpt["spec_hash"] = hashlib.sha256(json.dumps(old_spec, sort_keys=True).encode()).hexdigest()[:16]
    ckpt["fit_config"] = {k: v for k, v in ckpt["fit_config"].items() if k != "start_frame"}
    torch.save(ckpt, path)
    assert spec_hash(SPEC) == ckpt["spec_hash"]
    model, _, _ = load_fitted(tmp_path / "old")
    assert model.decoder.x_rest is None
    resumed = fit(SPEC, x, dataclasses.replace(CFG, steps=3), out_dir=tmp_path / "old", progress=False)
    assert resumed.resumed_from == 2
    assert spec_hash(dataclasses.replace(SPEC, rest_anchor=True)) != spec_hash(SPEC)


def test_a_start_frame_that_leaves_no_transition_is_a_config_error_in_fit_and_adapt():
    import pytest

    from probtok.adapt import AdaptConfig, adapt
    from probtok.errors import ConfigError

    x = _unit(torch.as_tensor(toy_runs(2, 4)))  # 4 frames: start_frame 2 leaves one transition, 3 leaves none
    fit(SPEC, x, dataclasses.replace(CFG, steps=1, start_frame=2), progress=False)
    with pytest.raises(ConfigError, match="start_frame=3 leaves fewer than 2 of the 4 frames"):
        fit(SPEC, x, dataclasses.replace(CFG, start_frame=3), progress=False)
    tm, tg = _randomised()
    adapt((tm, tg, None), x, AdaptConfig(steps=1, start_frame=2), progress=False)
    with pytest.raises(ConfigError, match="start_frame=3 leaves fewer than 2 of the 4 frames"):
        adapt((tm, tg, None), x, AdaptConfig(steps=1, start_frame=3), progress=False)
