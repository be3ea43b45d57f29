"""THE generative model of probabilistic latent tokens (DESIGN.md, "The generative model").

Notation: run ``n``, frame ``t``, normalised fields ``x[n,t]`` of shape
(C, H, W); tokens ``z[n,t]`` on the token grid (h, w) = (H/s, W/s) with d
channels. In sample sites tokens are stored channel-last, (run, h, w, d), so
that the vocabulary mixture has the token vector as its event.

    sigma_x[c] ~ LogNormal(log m_x, s_x)                        per field c
    phi        ~ Normal(0, tau)            (meso only)          coupling weights (d, f)
    for each run n  (pyro.plate "run", subsampled):
        c[n]   ~ Normal(0, I)              (meso only)          task latent
        u[n]   ~ Normal(c[n,0], s_u)       (meso, observed)     a known run parameter, standardised
                                                                (only with [meso] task_covariate)
        z[n,0] ~ TokenPrior = sum_k w_k Normal(mu_k, diag s_k^2)  iid per token
        x[n,0] ~ Normal(Dec(z[n,0]), sigma_x)
        for t = 1 .. T-1:
            z[n,t] ~ Normal(m_r, sqrt(v_r))  after r micro steps   m_0 = z[n,t-1],
                     m_{j+1} = m_j + F(m_j) [+ G_phi(m_j, c[n])],  v_r = sum_j sigma_z^2(m_j)
            x[n,t] ~ Normal(Dec(z[n,t]), sigma_x)

With r = 1 (micro) the transition is exactly Normal(z + F(z) [+ G], sigma_z(z)).
For r > 1 the r micro steps are collapsed into one Gaussian step: the mean
follows the r drift steps and the r step variances add (noise propagation
through the drift's Jacobian is neglected; exact when F is a translation).

Event dims: every ``z_t`` and ``x_t`` site has event shape covering
(h, w, d) resp. (C, H, W), so its ``log_prob`` is one number per run and
frame: ``log_likelihood[run, frame]`` for ArviZ is :func:`log_likelihood_table`.

Multi-step objective (auxiliary, see :meth:`TokenModel.model`): an optional
``pyro.factor("rollout", ...)`` adds lambda * sum_k log N(x[n,t0+k] |
Dec(mean rollout^k(z[n,t0])), sigma_x) for k = 1..H; sigma_x is detached in
this term so the auxiliary loss cannot inflate the noise estimate.
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from probtok.model_spec import ModelSpec
from probtok.nets import CouplingFeatures, DriftNet, LinearDecoder, PatchDecoder, PixelShuffleDecoder


def to_grid(z: torch.Tensor) -> torch.Tensor:
    """Tokens (..., h, w, d) -> conv layout (..., d, h, w)."""
    return z.movedim(-1, -3)


def to_tokens(g: torch.Tensor) -> torch.Tensor:
    """Conv layout (..., d, h, w) -> tokens (..., h, w, d)."""
    return g.movedim(-3, -1)


class TokenPrior(nn.Module):
    """p(z[n,0]): every token of a first frame is iid from a mixture of K Gaussians (the vocabulary).

    Parameters: mixture logits (K,), component means (K, d) and log-scales (K, d).
    """

    def __init__(self, n_components: int, token_dim: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_components))
        self.locs = nn.Parameter(torch.randn(n_components, token_dim))
        self.log_scales = nn.Parameter(torch.zeros(n_components, token_dim))

    @property
    def weights(self) -> torch.Tensor:
        """Mixture weights (K,)."""
        return torch.softmax(self.logits, -1)

    def distribution(self, batch_shape) -> dist.TorchDistribution:
        """MixtureSameFamily with batch shape ``batch_shape`` (e.g. (run, h, w)) and event (d,)."""
        mixture = dist.Categorical(logits=self.logits)
        components = dist.Normal(self.locs, self.log_scales.exp()).to_event(1)
        return dist.MixtureSameFamily(mixture, components).expand(torch.Size(batch_shape))


class ObservationDecoder(nn.Module):
    """p(x_t | z_t) = Normal(Dec_theta(z_t), sigma_x[field]): the decoder mean network.

    ``decoder="conv"``: learned :class:`~probtok.nets.PatchDecoder`;
    ``"linear"``: :class:`~probtok.nets.LinearDecoder`; ``"pixel_shuffle"``:
    the fixed, exactly invertible patch layout.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        # rest state x_rest (C,), normalised units: set from the data when the fit starts, saved with the weights
        self.register_buffer("x_rest", torch.zeros(spec.n_fields) if spec.rest_anchor else None)
        if spec.decoder == "pixel_shuffle":
            self.net = PixelShuffleDecoder(spec.n_fields, spec.token_size, spec.token_dim)
        elif spec.decoder == "linear":
            self.net = LinearDecoder(spec.n_fields, spec.token_size, spec.token_dim)
        else:
            self.net = PatchDecoder(spec.n_fields, spec.token_size, spec.token_dim, spec.decoder_width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Tokens (N, h, w, d) -> field means (N, C, h s, w s).

        Rest-centred (``spec.rest_anchor``): Dec(z) = D(z) - D(0) + x_rest, so Dec(0) = x_rest exactly
        (up to float rounding). D(0) is computed on a zero grid of the same size: the conv decoder's
        output of a uniform token grid repeats with the patch, it is not one vector."""
        g = to_grid(z)
        mean = self.net(g)
        if self.x_rest is not None:
            mean = mean - self.net(g.new_zeros(1, *g.shape[-3:])) + self.x_rest[:, None, None]
        return mean

    def distribution(self, z: torch.Tensor, sigma_x: torch.Tensor) -> dist.TorchDistribution:
        """Normal over one frame, event (C, H, W), batch (N,); sigma_x has shape (C,)."""
        mean = self(z)
        return dist.Normal(mean, sigma_x[:, None, None].expand(mean.shape)).to_event(3)


class TransitionDrift(nn.Module):
    """p(z_{t+1} | z_t) = Normal(z_t + F_theta(z_t), sigma_z(z_t)): one micro step.

    ``F_theta`` and ``log sigma_z^2`` are the two heads of a fully
    convolutional :class:`~probtok.nets.DriftNet` on the token grid
    (heteroscedastic: the latent log-variance evolves with the latent mean).

    Rest-centred (``spec.rest_anchor``): F_theta(z) = F_net(z) - F_net(0). The rest token 0 is then a
    fixed point, and a token whose whole receptive field (2 tokens either way) is at rest does not
    move: a disturbance travels at most 2 tokens per micro step.

    Uniform-anchored (``spec.uniform_anchor``): F_theta(z)[i] = F_net(z)[i] - F_net(uniform grid of z[i]),
    so EVERY uniform grid is a fixed point (the rest state among them): the drift acts through the
    differences between neighbouring tokens only, as the advection and diffusion of uniform material
    do. Why: with rest-anchoring alone, free meso rollouts drift the shocked bulk towards one
    temperature whatever the shock strength (``benchmarks/shocked_state.py``). What it gives up: a
    uniform region cannot react on its own (a hot spot's interior heats only through its neighbours).
    Measured (README): it does not cure that drift in adapted forecasts; off by default.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.net = DriftNet(spec.token_dim, spec.drift_width, spec.drift, spec.sigma_z_init)
        self.anchored = spec.rest_anchor
        self.uniform = spec.uniform_anchor

    def forward(self, z: torch.Tensor):
        """Tokens (N, h, w, d) -> (drift, variance), each (N, h, w, d)."""
        g = to_grid(z)
        drift, log_var = self.net(g)
        if self.uniform:
            drift = drift - self.net.uniform_drift(g)
        elif self.anchored:  # F(0) = 0: a conv net with replicate padding maps a uniform grid to one vector
            drift = drift - self.net(z.new_zeros(1, z.shape[-1], 1, 1))[0]
        return to_tokens(drift), to_tokens(log_var).exp()


class MesoCoupling(nn.Module):
    """G_phi(z, c) = phi . h(z, c): the meso inter-token correction added to the micro drift.

    ``h`` is a dilated conv network (:class:`~probtok.nets.CouplingFeatures`,
    point-estimated); ``phi`` (d, f) is a latent of the model with prior
    Normal(0, tau): phi = 0 means "no correction", i.e. micro physics.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.features = CouplingFeatures(spec.token_dim, spec.task_dim, spec.coupling_width, spec.coupling_dilations)
        self.anchored = spec.rest_anchor
        self.uniform = spec.uniform_anchor

    def forward(self, z: torch.Tensor, c: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        """Tokens (N, h, w, d), task latent (N, task_dim), phi (d, f) -> correction (N, h, w, d).

        Rest-centred: h(z, c) - h(0, c), so the meso correction leaves material at rest too.
        Uniform-anchored: h(z, c)[i] - h(uniform grid of z[i], c), so it leaves every uniform state."""
        g = to_grid(z)
        h = self.features(g, c)
        if self.uniform:
            h = h - self.features.uniform(g, c)
        elif self.anchored:
            h = h - self.features(z.new_zeros(c.shape[0], z.shape[-1], 1, 1), c)
        return to_tokens(h) @ phi.transpose(-1, -2)


class TokenModel(nn.Module):
    """The hierarchical model; :meth:`model` is the Pyro model function (see the module docstring).

    ``level="micro"``: globals theta (networks), sigma_x. ``level="meso"``:
    adds the task latent ``c[n]``, the coupling weights ``phi`` and
    ``spec.steps_per_frame`` micro steps per observed frame.
    """

    def __init__(self, spec: ModelSpec, level: str = "micro"):
        super().__init__()
        if level not in ("micro", "meso"):
            raise ValueError("level must be 'micro' or 'meso'")
        self.spec = spec
        self.level = level
        self.token_prior = TokenPrior(spec.mixture_components, spec.token_dim)
        self.decoder = ObservationDecoder(spec)
        self.transition = TransitionDrift(spec)
        self.coupling = MesoCoupling(spec) if level == "meso" else None

    @property
    def steps_per_frame(self) -> int:
        return self.spec.steps_per_frame if self.level == "meso" else 1

    # -- pieces of the story -------------------------------------------------
    def frame_step(self, z, c=None, phi=None):
        """One observed-frame transition: r micro steps -> (mean, scale), each (N, h, w, d)."""
        mean = z
        var = torch.zeros_like(z)
        for _ in range(self.steps_per_frame):
            drift, step_var = self.transition(mean)
            if self.coupling is not None and phi is not None:
                drift = drift + self.coupling(mean, c, phi)
            mean = mean + drift
            var = var + step_var
        return mean, var.sqrt()

    def token_grid(self, H: int, W: int) -> tuple[int, int]:
        s = self.spec.token_size
        if H % s or W % s:
            raise ValueError(f"grid {H}x{W} is not a multiple of the token size {s}")
        return H // s, W // s

    def constant(self, value: float) -> torch.Tensor:
        """``value`` as a 0-dim tensor where the model's weights are: a prior's parameters must live on the
        device of the samples it scores (a prior of Python floats is a CPU one)."""
        return self.token_prior.logits.new_tensor(value)

    def sigma_x_prior(self) -> dist.TorchDistribution:
        s = self.spec
        prior = dist.LogNormal(self.constant(math.log(s.sigma_x_median)), s.sigma_x_log_sd)
        return prior.expand([s.n_fields]).to_event(1)

    def phi_prior(self) -> dist.TorchDistribution:
        s = self.spec
        prior = dist.Normal(self.constant(0.0), s.phi_prior_scale)
        return prior.expand([s.token_dim, s.coupling_width]).to_event(2)

    def task_prior(self, batch_shape) -> dist.TorchDistribution:
        """p(c) = N(0, I) of the task latents, batch_shape + (task_dim,)."""
        return dist.Normal(self.constant(0.0), 1.0).expand([*batch_shape, self.spec.task_dim]).to_event(1)

    # -- the model -------------------------------------------------------------
    def model(self, x=None, *, n_runs=None, n_frames=None, grid=None, frame0=0, batch_runs=None,
              rollout_horizon=0, rollout_weight=0.0, u=None):
        """Pyro model.

        x : normalised fields (run, frame, field, H, W), or None to sample
            (then give n_runs, n_frames, grid=(H, W)).
        frame0 : absolute index of x's first frame (site names are z_{frame}, x_{frame});
            a window starting at frame0 > 0 draws its first tokens from the
            vocabulary prior too (used as the marginal of a mid-run frame).
        batch_runs : plate subsample size (None: all runs).
        rollout_horizon, rollout_weight : the auxiliary multi-step term (0: off).
        u : the runs' standardised task covariate (run,) (probtok.covariate), observed; None: not observed.
        """
        pyro.module("token_model", self)
        if x is not None:
            n_runs, n_frames, _, H, W = x.shape
        else:
            H, W = grid
        h, w = self.token_grid(H, W)

        sigma_x = pyro.sample("sigma_x", self.sigma_x_prior())
        phi = pyro.sample("phi", self.phi_prior()) if self.level == "meso" else None

        with pyro.plate("run", n_runs, subsample_size=batch_runs, dim=-1) as idx:
            xb = x[idx] if x is not None else None
            n = len(idx)
            c = None
            if self.level == "meso":
                c = pyro.sample("c", self.task_prior([n]))
                if u is not None:
                    pyro.sample("u", dist.Normal(c[:, 0], self.spec.task_covariate_noise), obs=u[idx])
            z = pyro.sample(f"z_{frame0}", self.token_prior.distribution((n, h, w)).to_event(2))
            pyro.sample(f"x_{frame0}", self.decoder.distribution(z, sigma_x), obs=_frame(xb, 0))
            z_first = z
            for t in pyro.markov(range(1, n_frames)):
                loc, scale = self.frame_step(z, c, phi)
                z = pyro.sample(f"z_{frame0 + t}", dist.Normal(loc, scale).to_event(3))
                pyro.sample(f"x_{frame0 + t}", self.decoder.distribution(z, sigma_x), obs=_frame(xb, t))

            horizon = min(rollout_horizon, n_frames - 1)
            if xb is not None and horizon > 0 and rollout_weight > 0:
                ll = self.rollout_log_likelihood(z_first, xb[:, 1 : horizon + 1], sigma_x.detach(), c, phi)
                pyro.factor("rollout", rollout_weight * ll)

    def rollout_log_likelihood(self, z0, x_next, sigma_x, c=None, phi=None) -> torch.Tensor:
        """sum_k log N(x_next[:, k-1] | Dec(mean rollout^k(z0)), sigma_x), shape (N,)."""
        z = z0
        total = 0.0
        for k in range(x_next.shape[1]):
            z, _ = self.frame_step(z, c, phi)
            total = total + self.decoder.distribution(z, sigma_x).log_prob(x_next[:, k])
        return total

    # -- rollouts (no Pyro sites): used by evaluation and forecasts -------------
    @torch.no_grad()
    def rollout(self, z0, n_frames: int, stochastic: bool, c=None, phi=None, generator=None) -> torch.Tensor:
        """Latent trajectory from tokens z0 (N, h, w, d): (N, n_frames, h, w, d), z0 first.

        ``stochastic=False`` follows the transition means only.
        """
        zs = [z0]
        z = z0
        for _ in range(n_frames - 1):
            loc, scale = self.frame_step(z, c, phi)
            z = loc + scale * torch.randn(loc.shape, generator=generator) if stochastic else loc
            zs.append(z)
        return torch.stack(zs, 1)

    @torch.no_grad()
    def decode(self, zs: torch.Tensor) -> torch.Tensor:
        """Tokens (N, T, h, w, d) -> field means (N, T, C, H, W), normalised units."""
        # one frame at a time: the decoder's cell-resolution activations of N*T frames can be GBs on meso grids
        return torch.stack([self.decoder(zs[:, t]) for t in range(zs.shape[1])], 1)


def _frame(xb, t):
    return None if xb is None else xb[:, t]


def log_likelihood_table(trace, n_frames: int, frame0: int = 0) -> torch.Tensor:
    """Pointwise log-likelihood (run, frame) from a model trace (the ``x_t`` sites), without the
    plate's subsampling scale (what ArviZ expects as log_likelihood[run, frame])."""
    sites = [trace.nodes[f"x_{frame0 + t}"] for t in range(n_frames)]
    return torch.stack([s["fn"].log_prob(s["value"]) for s in sites], -1)
