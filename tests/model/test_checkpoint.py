"""Checkpoints: exact resume after a kill, refusal of unsafe or mismatched files."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from probtok.checkpoint import load_checkpoint, load_fitted, weights_digest
from probtok.errors import CheckpointError
from probtok.fit import fit
from probtok.model_spec import FitConfig, ModelSpec

from conftest import toy_runs

SPEC = ModelSpec(fields=("T", "P", "mu"), token_size=4, token_dim=2, mixture_components=2, encoder_width=4,
                 decoder_width=4, drift_width=4, encoder_conditional=True)
CFG = FitConfig(steps=6, batch_runs=2, window_frames=3, learning_rate=1e-2, rollout_weight=0.5,
                rollout_horizon_start=1, rollout_horizon_end=2, checkpoint_every=3, seed=7)


@pytest.fixture(scope="module")
def toy_x():
    x = torch.as_tensor(toy_runs(4, 5))
    return (x - x.mean((0, 1, 3, 4), keepdim=True)) / x.std((0, 1, 3, 4), keepdim=True)


class Killed(Exception):
    pass


def _kill_at(step_to_die):
    def on_step(step, loss):
        if step == step_to_die:
            raise Killed
    return on_step


def test_fit_killed_and_resumed_equals_uninterrupted_fit(toy_x, tmp_path):
    full = fit(SPEC, toy_x, CFG, out_dir=tmp_path / "full", progress=False)

    # killed after step 5: the last checkpoint is from step 3, steps 4-5 are lost and redone
    with pytest.raises(Killed):
        fit(SPEC, toy_x, CFG, out_dir=tmp_path / "killed", progress=False, on_step=_kill_at(5))
    assert load_checkpoint(tmp_path / "killed")["step"] == 3
    torch.manual_seed(12345)  # a resumed process starts with any global RNG state
    resumed = fit(SPEC, toy_x, CFG, out_dir=tmp_path / "killed", progress=False)
    assert resumed.resumed_from == 3

    assert torch.equal(torch.as_tensor(full.losses), torch.as_tensor(resumed.losses))
    for a, b in [(full.model, resumed.model), (full.guide, resumed.guide)]:
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    # the weights digest names the fitted model: the same for the resumed twin (whose file holds another
    # resume history), recorded in fit.json, and changed by one ulp of one weight
    digest = weights_digest(tmp_path / "full")
    assert weights_digest(tmp_path / "killed") == digest
    assert json.loads((tmp_path / "killed" / "fit.json").read_text())["weights_digest"] == digest
    ckpt = load_checkpoint(tmp_path / "full")
    w = ckpt["model_state"]["token_prior.locs"]
    w.view(-1)[0] = torch.nextafter(w.view(-1)[0], torch.tensor(float("inf")))
    assert weights_digest(ckpt) != digest
    # and the fit directory loads back as a model
    model, guide, ckpt = load_fitted(tmp_path / "killed")
    assert ckpt["step"] == CFG.steps
    assert torch.equal(model.state_dict()["token_prior.locs"], full.model.state_dict()["token_prior.locs"])


class _Evil:
    ran = False

    def __reduce__(self):
        return (_Evil._trigger, ())

    @staticmethod
    def _trigger():
        _Evil.ran = True
        return "pwned"


def test_checkpoint_refuses_a_crafted_pickle(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": "probtok.token-model-checkpoint", "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not _Evil.ran
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nowhere")


def test_checkpoint_from_another_config_is_refused(toy_x, tmp_path):
    cfg = dataclasses.replace(CFG, steps=3)
    fit(SPEC, toy_x, cfg, out_dir=tmp_path, progress=False)
    other = dataclasses.replace(SPEC, token_dim=3)
    with pytest.raises(CheckpointError, match="token_dim"):
        load_checkpoint(tmp_path, expected_spec=other)
    with pytest.raises(CheckpointError, match="another model config"):
        fit(other, toy_x, cfg, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="other fit settings"):
        fit(SPEC, toy_x, dataclasses.replace(cfg, seed=8), out_dir=tmp_path, progress=False)
    # a tampered spec no longer matches its hash
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    ckpt["spec"]["token_dim"] = 5
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="hash"):
        load_checkpoint(tmp_path)


def test_meso_level_fits_and_reloads_with_its_task_latents(toy_x, tmp_path):
    spec = dataclasses.replace(SPEC, task_dim=2, coupling_width=3, steps_per_frame=2)
    cfg = dataclasses.replace(CFG, steps=2, rollout_weight=0.0)
    res = fit(spec, toy_x, cfg, out_dir=tmp_path, progress=False, level="meso")
    assert res.guide.c_loc.shape == (4, 2)
    model, guide, ckpt = load_fitted(tmp_path)
    assert ckpt["level"] == "meso" and model.coupling is not None
    assert torch.equal(guide.c_loc, res.guide.c_loc) and torch.equal(guide.phi_loc, res.guide.phi_loc)
