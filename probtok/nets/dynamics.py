"""Latent dynamics networks on the token grid: micro drift and meso coupling features."""

from __future__ import annotations

import math

import torch
from torch import nn

from probtok.nets.blocks import conv_stack, uniform_response

# sigma_z in [3e-4, 2]: a token vocabulary has unit scale, so one step of more than 2 is never physics,
# only the log-variance head extrapolating off the training states (seen in free rollouts)
LOG_VAR_MIN, LOG_VAR_MAX = -16.0, 2.0 * math.log(2.0)


class DriftNet(nn.Module):
    """Micro transition network: z (B, d, h, w) -> drift F_theta(z), log-variance (B, d, h, w) each.

    Parameterizes p(z_{t+1} | z_t) = Normal(z_t + F_theta(z_t), exp(logvar(z_t) / 2)).
    ``kind="conv"``: two 3x3 conv layers (a 5x5-token receptive field) then a
    1x1 head; ``kind="linear"``: one 1x1 conv (a linear, per-token map, for
    identifiable tests). The drift head starts at zero (persistence) and the
    log-variance head at ``2 log(sigma_z_init)``.
    """

    def __init__(self, token_dim: int, width: int, kind: str = "conv", sigma_z_init: float = 0.1):
        super().__init__()
        if kind == "conv":
            self.body = conv_stack(token_dim, width, 2)
            c_head = width
        elif kind == "linear":
            self.body = nn.Identity()
            c_head = token_dim
        else:
            raise ValueError(f"unknown drift kind {kind!r}")
        self.head = nn.Conv2d(c_head, 2 * token_dim, 1)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
            self.head.bias[token_dim:].fill_(2.0 * math.log(sigma_z_init))

    def forward(self, z: torch.Tensor):
        drift, log_var = self.head(self.body(z)).chunk(2, dim=1)
        return drift, log_var.clamp(LOG_VAR_MIN, LOG_VAR_MAX)

    def uniform_drift(self, z: torch.Tensor) -> torch.Tensor:
        """(B, d, h, w): at every token, the drift the net gives a uniform grid of that token."""
        body = uniform_response(self.body, z) if isinstance(self.body, nn.Sequential) else z
        return self.head(body)[:, : z.shape[1]]


class CouplingFeatures(nn.Module):
    """Meso coupling features h(z, c) (B, f, h, w) with a wide (dilated) receptive field.

    The meso correction is G_phi(z, c) = phi . h(z, c) with phi (d, f) a latent
    of the model whose prior is centred on zero ("no correction"), so this
    network only proposes directions; phi decides how much of each is used.
    """

    def __init__(self, token_dim: int, task_dim: int, width: int, dilations=(1, 2, 4)):
        super().__init__()
        self.body = conv_stack(token_dim + task_dim, width, len(dilations), dilations=dilations)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        c_map = c[:, :, None, None].expand(-1, -1, *z.shape[-2:])
        return self.body(torch.cat([z, c_map], dim=1))

    def uniform(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(B, f, h, w): at every token, h of a uniform grid of that token (same c)."""
        c_map = c[:, :, None, None].expand(-1, -1, *z.shape[-2:])
        return uniform_response(self.body, torch.cat([z, c_map], dim=1))
