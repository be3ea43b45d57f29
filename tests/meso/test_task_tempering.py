"""The tempered conditioning of a new run's task latent (probtok.predict.TemperedLikelihood) against the exact
power posterior of a conjugate model, and its checks."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch.nn import functional as F

from probtok.errors import ConfigError
from probtok.predict import TemperedLikelihood, check_task_tempering


def _model(x):
    c = pyro.sample("c", dist.Normal(0.0, 1.0))
    with pyro.plate("cells", x.shape[-1], dim=-1):
        pyro.sample("x", dist.Normal(c, 1.0), obs=x)


def _guide(x):
    loc = pyro.param("loc", torch.tensor(0.0))
    scale = pyro.param("scale_raw", torch.tensor(0.0))
    pyro.sample("c", dist.Normal(loc, F.softplus(scale)))


@pytest.mark.parametrize("beta", [1.0, 0.1, 0.01])
def test_svi_under_tempering_recovers_the_exact_power_posterior(beta):
    # c ~ N(0, 1), x_i ~ N(c, 1), i = 1..n: p(c) p(x | c)^beta = N(beta S / (1 + beta n), 1 / (1 + beta n))
    torch.manual_seed(0)
    x = 0.7 + torch.randn(200)
    n, S = x.shape[0], float(x.sum())
    loc_exact, sd_exact = beta * S / (1 + beta * n), (1 + beta * n) ** -0.5
    pyro.clear_param_store()
    pyro.set_rng_seed(1)
    optim = pyro.optim.ClippedAdam({"lr": 0.05, "lrd": 0.998})
    svi = pyro.infer.SVI(TemperedLikelihood(beta)(_model), TemperedLikelihood(beta)(_guide), optim,
                         pyro.infer.TraceMeanField_ELBO(num_particles=8, vectorize_particles=True))
    for _ in range(2500):
        svi.step(x)
    loc, sd = pyro.param("loc").item(), F.softplus(pyro.param("scale_raw")).item()
    pyro.clear_param_store()
    assert loc == pytest.approx(loc_exact, abs=0.15 * sd_exact)
    assert sd == pytest.approx(sd_exact, rel=0.08)  # the three betas give sds 0.071, 0.22, 0.58


def test_tempering_leaves_the_kept_sites_alone():
    x = torch.randn(5)
    with pyro.poutine.trace() as tr, TemperedLikelihood(0.25):
        _model(x)
    assert tr.trace.nodes["c"]["scale"] == 1.0
    assert tr.trace.nodes["x"]["scale"] == 0.25


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, "a", None, float("nan")])
def test_bad_tempering_is_refused(bad):
    with pytest.raises(ConfigError):
        check_task_tempering(bad)
