"""Shared tiny specs and data drawn from the model itself (no simulator needed)."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from pyro import poutine

from probtok.model import TokenModel
from probtok.model_spec import ModelSpec
from probtok.threads import torch_threads

# Ground truth of the identifiable test model (normalised units). One scalar token per 2x2 patch,
# seen by 8 cells through a known linear decoder: sigma_x is identified by the scatter in a patch.
TRUE_SIGMA_X = (0.05, 0.10)
TRUE_SIGMA_Z = 0.20
TRUE_DECAY = -0.10  # F(z) = TRUE_DECAY * z
TRUE_WEIGHTS = (0.3, 0.7)
TRUE_LOCS = ((-1.5,), (1.5,))
TRUE_SCALE = 0.3
DECODER_GAIN = (1.0, 0.5)  # field a = z, field b = z / 2 on every cell of the patch

LINEAR_SPEC = ModelSpec(fields=("a", "b"), token_size=2, token_dim=1, mixture_components=2, encoder_width=8,
                        drift="linear", decoder="linear", encoder_conditional=False,
                        sigma_x_median=0.2, sigma_x_log_sd=1.0, sigma_z_init=0.5)


def set_known_decoder(model: TokenModel, guide=None) -> None:
    """The decoder is known in the recovery test (it fixes the scale of the latent space) and frozen."""
    net = model.decoder.net.net
    with torch.no_grad():
        net.bias.zero_()
        for c, gain in enumerate(DECODER_GAIN):
            net.weight[0, c] = gain
    net.requires_grad_(False)


def set_true_parameters(model: TokenModel) -> None:
    set_known_decoder(model)
    with torch.no_grad():
        head = model.transition.net.head
        head.weight.zero_()
        head.bias.zero_()
        head.weight[0, 0, 0, 0] = TRUE_DECAY
        head.bias[1] = 2 * math.log(TRUE_SIGMA_Z)
        tp = model.token_prior
        tp.logits.copy_(torch.log(torch.tensor(TRUE_WEIGHTS)))
        tp.locs.copy_(torch.tensor(TRUE_LOCS))
        tp.log_scales.fill_(math.log(TRUE_SCALE))


def sample_from_model(model: TokenModel, n_runs: int, n_frames: int, grid, sigma_x, seed: int = 0) -> torch.Tensor:
    """x (run, frame, field, H, W) drawn from the model's own generative story."""
    pyro.set_rng_seed(seed)
    cond = poutine.condition(model.model, data={"sigma_x": torch.tensor(sigma_x)})
    with torch.no_grad():
        tr = poutine.trace(cond).get_trace(None, n_runs=n_runs, n_frames=n_frames, grid=grid)
    return torch.stack([tr.nodes[f"x_{t}"]["value"] for t in range(n_frames)], 1)


@pytest.fixture(scope="module")
def linear_data():
    pyro.clear_param_store()
    torch.manual_seed(0)
    truth = TokenModel(LINEAR_SPEC).eval()
    set_true_parameters(truth)
    return sample_from_model(truth, n_runs=32, n_frames=6, grid=(8, 8), sigma_x=TRUE_SIGMA_X)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors: one intra-op thread is faster and immune to CPU contention; restored afterwards."""
    with torch_threads(1):
        yield


def toy_runs(n_runs: int, n_frames: int, H: int = 16, W: int = 16, seed: int = 0):
    """Toy hot-spot dynamics in physical units, (run, frame, field, y, x) with fields T [K], P [GPa], mu [1].

    A hot Gaussian spot moves +1 cell per frame along x while its peak grows
    (T = 300 K + A(t) exp(-r^2 / 2 w^2), A grows 8 % per frame), P follows T,
    mu is a fixed pore disc. Persistence is wrong by construction; a model
    that learned the motion is not.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    out = np.zeros((n_runs, n_frames, 3, H, W), np.float32)
    for n in range(n_runs):
        y0, x0 = rng.uniform(5, H - 5), rng.uniform(2, 5)
        amp = rng.uniform(500.0, 800.0)
        mu = 1.0 - 0.8 * (((y - y0) ** 2 + (x - x0 - 3) ** 2) < 4.0)
        for t in range(n_frames):
            bump = np.exp(-((y - y0) ** 2 + (x - x0 - t) ** 2) / (2 * 1.5**2))
            T = 300.0 + amp * 1.08**t * bump
            out[n, t] = (T, 1.0 + 10.0 * (T - 300.0) / 1000.0, mu)
    return out
