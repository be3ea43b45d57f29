"""Patch tokenizer networks: fields (C, H, W) <-> tokens (d, H/s, W/s).

One token summarises one ``s x s`` patch of all fields. ``H`` and ``W`` must
be multiples of ``s``; any such size works (fully convolutional).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from probtok.nets.blocks import conv_stack


class PatchEncoder(nn.Module):
    """Amortized encoder network: x_t (B, C, H, W) [, z_{t-1} (B, d, h, w)] -> loc, scale (B, d, h, w).

    Parameterizes the guide's Normal q(z_t | x_t[, z_{t-1}]). Conditioning on
    the previous token (as in a deep Markov model) lets the posterior follow
    the dynamics where a frame alone is ambiguous.
    """

    def __init__(self, n_fields: int, token_size: int, token_dim: int, width: int, conditional: bool, init_scale: float = 0.1):
        super().__init__()
        self.token_size = token_size
        self.conditional = conditional
        # cost: one thin conv at cell resolution, the rest on the (s^2 times smaller) token grid
        fine = full_res_width(width)
        self.features = conv_stack(n_fields, fine, 1)
        self.patchify = nn.Sequential(nn.Conv2d(fine, width, token_size, stride=token_size), nn.SiLU(),
                                      *conv_stack(width, width, 1))
        c_head = width + (token_dim if conditional else 0)
        self.head = nn.Sequential(nn.Conv2d(c_head, width, 1), nn.SiLU(), nn.Conv2d(width, 2 * token_dim, 1))
        # linear path from the patch's pixels to the token (a learned PCA-like projection): fast to fit,
        # the nonlinear path above only has to learn the residual
        self.linear = nn.Conv2d(n_fields, 2 * token_dim, token_size, stride=token_size, bias=False)
        self.linear_prev = nn.Conv2d(token_dim, 2 * token_dim, 1, bias=False) if conditional else None
        with torch.no_grad():
            # start with a narrow posterior so early ELBO gradients are not noise-dominated
            self.head[-1].bias[token_dim:].fill_(_softplus_inv(init_scale))

    def forward(self, x: torch.Tensor, z_prev: torch.Tensor | None = None):
        h = self.patchify(self.features(x))
        out = self.linear(x)
        if self.conditional:
            if z_prev is None:  # first frame: no previous token
                z_prev = h.new_zeros(h.shape[0], self.head[-1].out_channels // 2, *h.shape[-2:])
            h = torch.cat([h, z_prev], dim=1)
            out = out + self.linear_prev(z_prev)
        loc, raw = (self.head(h) + out).chunk(2, dim=1)
        return loc, F.softplus(raw) + 1e-5


class PatchDecoder(nn.Module):
    """Observation decoder network Dec_theta: z (B, d, h, w) -> mean of x (B, C, h*s, w*s).

    Parameterizes the mean of p(x_t | z_t); the per-field noise sigma_x is a
    latent variable of the model, not an output of this network.
    """

    def __init__(self, n_fields: int, token_size: int, token_dim: int, width: int):
        super().__init__()
        fine = full_res_width(width)
        self.token_mix = nn.Sequential(nn.Conv2d(token_dim, width, 1), nn.SiLU(), *conv_stack(width, width, 2))
        self.unpatchify = nn.ConvTranspose2d(width, fine, token_size, stride=token_size)
        # one thin conv at cell resolution smooths patch seams
        self.out = nn.Conv2d(fine, n_fields, 3, padding=1, padding_mode="replicate")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(F.silu(self.unpatchify(self.token_mix(z))))


class LinearDecoder(nn.Module):
    """Linear decoder: each token adds a learned s x s pattern per field (a transposed conv, kernel = stride = s).

    With d < C s^2 every token is seen by several cells, so the observation
    noise is identified by the scatter inside a patch; used in tests and as
    the simplest (PCA-like) tokenizer.
    """

    def __init__(self, n_fields: int, token_size: int, token_dim: int):
        super().__init__()
        self.net = nn.ConvTranspose2d(token_dim, n_fields, token_size, stride=token_size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class PixelShuffleDecoder(nn.Module):
    """Parameter-free decoder: token channels are the patch's pixel values (d = C * s * s).

    An exactly invertible linear tokenization: identifiable (no scale
    ambiguity between tokens and decoder), used for parameter-recovery tests
    and as a transparent baseline.
    """

    def __init__(self, n_fields: int, token_size: int, token_dim: int):
        super().__init__()
        if token_dim != n_fields * token_size**2:
            raise ValueError(f"pixel_shuffle decoder needs token_dim = fields * s^2 = {n_fields * token_size**2}")
        self.shuffle = nn.PixelShuffle(token_size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.shuffle(z)


def full_res_width(width: int) -> int:
    """Channels of the layers that run at cell resolution (the expensive ones): half the token width."""
    return max(8, width // 2)


def _softplus_inv(y: float) -> float:
    return float(torch.log(torch.expm1(torch.tensor(y))))
