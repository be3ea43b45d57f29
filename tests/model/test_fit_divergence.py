"""A fit whose latent states or loss diverge stops with a clear ProbtokError and keeps its last checkpoint."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from probtok.errors import ProbtokError
from probtok.fit import fit, run_svi
from probtok.model_spec import FitConfig, ModelSpec

from conftest import toy_runs

SPEC = ModelSpec(fields=("T", "P", "mu"), token_size=4, token_dim=3, mixture_components=2, encoder_width=4,
                 decoder_width=4, drift_width=6, encoder_conditional=True)


def _run(step_loss, steps=6):
    saved, losses = [], []
    with pytest.raises(ProbtokError) as err:
        run_svi(step_loss, 0, steps, 2, saved.append, losses, progress=False, description="t", hint="lower lr")
    return err.value, saved, losses


def test_a_non_finite_loss_stops_after_the_last_good_checkpoint():
    err, saved, losses = _run(lambda step: math.nan if step == 3 else float(step))
    assert "non-finite at step 3" in str(err) and saved == [2] and losses == [0.0, 1.0, 2.0]


def test_non_finite_distribution_arguments_are_a_probtok_error_other_value_errors_are_not():
    def invalid(step):
        if step == 1:
            raise ValueError("Expected parameter loc ... but found invalid values: tensor([nan])")
        return 0.0

    err, saved, losses = _run(invalid)
    assert "latent states became non-finite at step 1" in str(err) and "window_frames" in err.hint
    assert saved == [] and losses == [0.0]
    with pytest.raises(ValueError, match="shape mismatch"):
        run_svi(lambda step: (_ for _ in ()).throw(ValueError("shape mismatch")), 0, 2, 1, lambda s: None, [],
                progress=False, description="t", hint="h")


def test_a_real_fit_with_exploding_dynamics_reports_the_divergence(tmp_path):
    x = torch.as_tensor(toy_runs(2, 30))
    x = (x - x.mean((0, 1, 3, 4), keepdim=True)) / x.std((0, 1, 3, 4), keepdim=True)

    def explode(model, guide):  # a drift that multiplies the tokens by ~1e3 per frame
        with torch.no_grad():
            for p in model.transition.parameters():
                p.normal_(0.0, 30.0)

    cfg = FitConfig(steps=3, batch_runs=2, checkpoint_every=1, seed=0)
    with pytest.raises(ProbtokError, match="latent states became non-finite at step 0"):
        fit(SPEC, x, cfg, out_dir=tmp_path, init=explode, progress=False)
    assert not (tmp_path / "checkpoint.pt.tmp").exists()
