"""A meso model with known truth for the adaptation tests (imported by tests/meso/*).

Identifiable set-up: one token per cell (s = 1) holding the cell's two field
values (pixel-shuffle decoder = identity), a linear micro drift, a known
coupling feature network h, and an encoder set to the exact inverse of the
decoder (q(z_t | x_t) = Normal(x_t, ENC_SCALE)), valid because sigma_x is
small next to sigma_z. Unknown to the adaptation: c[n], phi, sigma_x.
"""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from pyro import poutine

from probtok.guides import TokenGuide
from probtok.model import TokenModel
from probtok.model_spec import ModelSpec
from probtok.threads import torch_threads

@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors on a shared 2-core machine: one intra-op thread is much faster; restored afterwards.
    (Import it into a test module to use it there.)"""
    with torch_threads(1):
        yield


SPEC = ModelSpec(fields=("a", "b"), token_size=1, token_dim=2, mixture_components=1, encoder_width=8,
                 drift="linear", decoder="pixel_shuffle", encoder_conditional=False,
                 sigma_x_median=0.02, sigma_x_log_sd=1.0, sigma_z_init=0.1,
                 task_dim=1, coupling_width=3, coupling_dilations=(1, 2), phi_prior_scale=1.0, steps_per_frame=1)
TRUE_SIGMA_X = (0.01, 0.01)
TRUE_SIGMA_Z = 0.1
TRUE_DECAY = -0.5
ENC_SCALE = 0.01


def set_micro_truth(model: TokenModel, guide: TokenGuide) -> None:
    """Known micro globals (drift, noise, vocabulary) and the exact-inverse encoder; in place."""
    d = SPEC.token_dim
    with torch.no_grad():
        head = model.transition.net.head
        head.weight.zero_()
        head.bias.zero_()
        for k in range(d):
            head.weight[k, k, 0, 0] = TRUE_DECAY
        head.bias[d:] = 2 * math.log(TRUE_SIGMA_Z)
        model.token_prior.locs.zero_()
        model.token_prior.log_scales.zero_()
        enc = guide.encoder.net
        enc.linear.weight.zero_()
        for k in range(d):
            enc.linear.weight[k, k, 0, 0] = 1.0
        enc.head[-1].weight.zero_()
        enc.head[-1].bias.zero_()
        enc.head[-1].bias[d:] = math.log(math.expm1(ENC_SCALE))


def set_coupling_truth(model: TokenModel, seed: int = 123) -> None:
    """A fixed random coupling feature network h (the 'known' directions of G_phi): its gain in z
    stays well below |TRUE_DECAY|, so the true dynamics are bounded."""
    gen = torch.Generator().manual_seed(seed)
    d = SPEC.token_dim
    first, second = model.coupling.features.body[0], model.coupling.features.body[2]
    with torch.no_grad():
        first.weight.copy_(torch.randn(first.weight.shape, generator=gen) * 0.3)
        first.weight[:, d:] *= 2.0
        first.bias.copy_(torch.randn(first.bias.shape, generator=gen) * 0.3)
        second.weight.copy_(torch.randn(second.weight.shape, generator=gen) * 0.15)
        second.bias.copy_(torch.randn(second.bias.shape, generator=gen) * 0.3)


def micro_pair():
    torch.manual_seed(0)
    model = TokenModel(SPEC, "micro").eval()
    guide = TokenGuide(SPEC, "micro").attach(model).eval()
    set_micro_truth(model, guide)
    return model, guide


def sample_meso(phi: torch.Tensor, c: torch.Tensor, n_frames: int, grid, seed: int = 0) -> torch.Tensor:
    """x (run, frame, field, H, W) from the meso model with known phi (d, f) and c (run, task_dim)."""
    model = TokenModel(SPEC, "meso").eval()
    set_micro_truth(model, TokenGuide(SPEC, "micro"))
    set_coupling_truth(model)
    pyro.set_rng_seed(seed)
    data = {"sigma_x": torch.tensor(TRUE_SIGMA_X), "phi": phi, "c": c}
    with torch.no_grad():
        tr = poutine.trace(poutine.condition(model.model, data=data)).get_trace(
            None, n_runs=c.shape[0], n_frames=n_frames, grid=grid)
    return torch.stack([tr.nodes[f"x_{t}"]["value"] for t in range(n_frames)], 1)


# -- a toy "micro" and "meso" dataset file pair for the file-level and CLI tests ------------------------
TOY_FIELDS = ("T", "P", "mu")
TOY_UNITS = {"T": "K", "P": "GPa", "mu": "1"}


def toy_hotspot_runs(n_runs: int, n_frames: int, H: int, W: int, n_spots: int, seed: int = 0):
    """Growing Gaussian hot spots in physical units, (run, frame, field, y, x): T [K], P [GPa], mu [1]."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    out = np.zeros((n_runs, n_frames, 3, H, W), np.float32)
    for n in range(n_runs):
        centres = rng.uniform((2, 2), (H - 2, W - 2), size=(n_spots, 2))
        amp = rng.uniform(600.0, 900.0, n_spots)
        mu = np.ones((H, W))
        for cy, cx in centres:
            mu -= 0.8 * (((y - cy) ** 2 + (x - cx) ** 2) < 2.0)
        for t in range(n_frames):
            T = 300.0 + sum(a * 1.1**t * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * (1.0 + 0.1 * t) ** 2))
                            for a, (cy, cx) in zip(amp, centres))
            out[n, t] = (T, 1.0 + 10.0 * (T - 300.0) / 1000.0, np.clip(mu, 0.0, 1.0))
    return out
