"""Variational families (guides) for :class:`probtok.model.TokenModel`.

* tokens: amortized encoder q(z[n,t] | x[n,t], z[n,t-1]) (a deep-Markov-model
  style filter; ``encoder_conditional=False`` gives q(z[n,t] | x[n,t])),
  Normal per token, reused unchanged at the meso level;
* sigma_x: LogNormal with free location and scale per field (mean field);
* meso only: Normal q(phi) (mean field) and Normal q(c[n]) per meso run.

Site names and the ``run`` plate match the model, so the guide's subsample
indices are replayed into the model by Pyro.
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from torch import nn
from torch.nn import functional as F

from probtok.model import to_grid, to_tokens
from probtok.model_spec import ModelSpec
from probtok.nets import PatchEncoder


def _softplus_inv(y: float) -> float:
    return math.log(math.expm1(y))


class TokenEncoder(nn.Module):
    """q(z_t | x_t[, z_{t-1}]) = Normal(loc, scale) per token; wraps :class:`~probtok.nets.PatchEncoder`."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.net = PatchEncoder(spec.n_fields, spec.token_size, spec.token_dim, spec.encoder_width, spec.encoder_conditional)

    def forward(self, x_t: torch.Tensor, z_prev: torch.Tensor | None = None):
        """x_t (N, C, H, W), z_prev tokens (N, h, w, d) or None -> loc, scale tokens (N, h, w, d).

        Rest-centred model (``x_rest`` set by :meth:`TokenGuide.attach`): loc = E(x_t, z_prev) - E(x_rest, 0),
        so the rest state encodes to token 0 (E of a uniform field is one vector: one patch suffices)."""
        loc, scale = self.net(x_t, None if z_prev is None else to_grid(z_prev))
        x_rest = self.__dict__.get("_x_rest")
        if x_rest is not None:
            s = self.net.token_size
            patch = x_rest[None, :, None, None].expand(1, -1, s, s)
            zero = None if not self.net.conditional else loc.new_zeros(1, loc.shape[1], 1, 1)
            loc = loc - self.net(patch, zero)[0]
        return to_tokens(loc), to_tokens(scale)


class TokenGuide(nn.Module):
    """The guide: amortized token encoder + mean-field globals; :meth:`guide` has the model's signature.

    ``n_runs`` (meso level only) sizes the per-run q(c[n]) table; every q(c[n]) starts at
    Normal(0, ``c_init_scale``).
    """

    def __init__(self, spec: ModelSpec, level: str = "micro", n_runs: int | None = None, c_init_scale: float = 0.1):
        super().__init__()
        self.spec = spec
        self.level = level
        self.encoder = TokenEncoder(spec)
        self.__dict__["_prior_step"] = None  # set by attach(model)
        C = spec.n_fields
        self.sigma_x_loc = nn.Parameter(torch.full((C,), math.log(spec.sigma_x_median)))
        self.sigma_x_scale_raw = nn.Parameter(torch.full((C,), _softplus_inv(0.05)))
        if level == "meso":
            if n_runs is None:
                raise ValueError("the meso guide needs n_runs (one q(c[n]) per meso run)")
            self.phi_loc = nn.Parameter(torch.zeros(spec.token_dim, spec.coupling_width))
            self.phi_scale_raw = nn.Parameter(torch.full((spec.token_dim, spec.coupling_width), _softplus_inv(0.01)))
            self.c_loc = nn.Parameter(torch.zeros(n_runs, spec.task_dim))
            self.c_scale_raw = nn.Parameter(torch.full((n_runs, spec.task_dim), _softplus_inv(c_init_scale)))

    def attach(self, model) -> "TokenGuide":
        """Use ``model``'s transition mean in the conditional posterior (residual parameterization):
        q(z_t | x_t, z_{t-1}) = Normal(m(z_{t-1}) + Delta(x_t, z_{t-1}), s(x_t, z_{t-1})) with m the model's
        frame-step mean. Unused token directions then follow the prior dynamics instead of inflating
        sigma_z. The model is referenced, not owned: its parameters stay registered (and saved) once,
        under the model."""
        self.__dict__["_prior_step"] = model.frame_step  # bypass nn.Module registration on purpose
        # the rest state is the model's (a buffer of its decoder): the encoder centres on it, not owns it
        self.encoder.__dict__["_x_rest"] = model.decoder.x_rest
        return self

    def q_z(self, x_t, z_prev=None, c=None, phi=None):
        """Location and scale of q(z_t | x_t[, z_{t-1}]), tokens (N, h, w, d) each."""
        loc, scale = self.encoder(x_t, z_prev if self.spec.encoder_conditional else None)
        if self.spec.encoder_conditional and z_prev is not None and self._prior_step is not None:
            # residual posterior: the model's transition mean plus an innovation from x_t
            loc = loc + self._prior_step(z_prev, c, phi)[0]
        return loc, scale

    def q_sigma_x(self) -> dist.TorchDistribution:
        return dist.LogNormal(self.sigma_x_loc, F.softplus(self.sigma_x_scale_raw)).to_event(1)

    def guide(self, x, *, n_runs=None, n_frames=None, grid=None, frame0=0, batch_runs=None,
              rollout_horizon=0, rollout_weight=0.0, u=None):
        """Pyro guide (same arguments as ``TokenModel.model``; x is required: the encoder is amortized;
        u, observed in the model, is not used here)."""
        pyro.module("token_guide", self)
        n_runs, n_frames = x.shape[:2]
        pyro.sample("sigma_x", self.q_sigma_x())
        phi = c = None
        if self.level == "meso":
            phi = pyro.sample("phi", dist.Normal(self.phi_loc, F.softplus(self.phi_scale_raw)).to_event(2))
        with pyro.plate("run", n_runs, subsample_size=batch_runs, dim=-1) as idx:
            xb = x[idx]
            if self.level == "meso":
                c = pyro.sample("c", dist.Normal(self.c_loc[idx], F.softplus(self.c_scale_raw[idx])).to_event(1))
            if self.spec.encoder_conditional:
                z = None
                for t in pyro.markov(range(n_frames)):
                    loc, scale = self.q_z(xb[:, t], z, c, phi)
                    z = pyro.sample(f"z_{frame0 + t}", dist.Normal(loc, scale).to_event(3))
            else:
                # q(z_t | x_t) alone: encode all frames in one batched call
                n = xb.shape[0]
                locs, scales = self.encoder(xb.reshape(n * n_frames, *xb.shape[2:]))
                locs = locs.reshape(n, n_frames, *locs.shape[1:])
                scales = scales.reshape(n, n_frames, *scales.shape[1:])
                for t in pyro.markov(range(n_frames)):
                    pyro.sample(f"z_{frame0 + t}", dist.Normal(locs[:, t], scales[:, t]).to_event(3))

    @torch.no_grad()
    def encode_first(self, x0: torch.Tensor, n_draws: int = 0, generator=None) -> torch.Tensor:
        """Tokens of a first frame x0 (N, C, H, W): the posterior mean (N, h, w, d) when ``n_draws == 0``,
        else ``n_draws`` posterior draws (n_draws, N, h, w, d)."""
        loc, scale = self.encoder(x0, None)
        if n_draws == 0:
            return loc
        eps = torch.randn((n_draws, *loc.shape), generator=generator)
        return loc + scale * eps
