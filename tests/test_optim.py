"""probtok.optim.WarmupClippedAdam: the learning rate of step n is warmup_factor(n) x ClippedAdam's own."""

from __future__ import annotations

import pytest
import torch
from pyro.optim.clipped_adam import ClippedAdam

from probtok.optim import WarmupClippedAdam, warmup_factor


def test_the_factor_rises_linearly_from_its_start_to_one_and_stays():
    assert [warmup_factor(n, 4, 0.2) for n in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    assert warmup_factor(0, 0, 0.1) == 1.0


def _steps(opt_cls, n, **kw):
    """Parameter values after each of n steps on f(p) = 1e6 * sum(p) (every gradient clipped to 10)."""
    p = torch.nn.Parameter(torch.zeros(3))
    opt = opt_cls([p], lr=0.01, clip_norm=10.0, lrd=0.9, **kw)
    out = []
    for _ in range(n):
        opt.zero_grad()
        (1e6 * p.sum()).backward()
        opt.step()
        out.append(p.detach().clone())
    return out, opt


def test_each_step_moves_by_the_decayed_rate_times_the_warmup_factor():
    # a constant gradient: Adam's normalised step is exactly 1, so step n moves p by lr x lrd^(n+1) x factor(n)
    warm, opt = _steps(WarmupClippedAdam, 6, warmup_steps=4, warmup_start=0.1)
    moves = [float(-(b - a)[0]) for a, b in zip([torch.zeros(3)] + warm[:-1], warm)]
    expected = [0.01 * 0.9 ** (n + 1) * warmup_factor(n, 4, 0.1) for n in range(6)]
    assert moves == pytest.approx(expected, rel=1e-5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 * 0.9 ** 6)  # back on the decay-only schedule
    # no warm-up: the same numbers as Pyro's ClippedAdam, bit for bit
    plain, _ = _steps(ClippedAdam, 6)
    same, _ = _steps(WarmupClippedAdam, 6)
    assert all(torch.equal(a, b) for a, b in zip(plain, same))


def test_the_ramp_resumes_from_a_saved_state_and_an_old_state_steps_without_one():
    full, _ = _steps(WarmupClippedAdam, 5, warmup_steps=4, warmup_start=0.1)
    first, opt = _steps(WarmupClippedAdam, 2, warmup_steps=4, warmup_start=0.1)
    state = opt.state_dict()
    p = torch.nn.Parameter(first[-1].clone())
    again = WarmupClippedAdam([p], lr=0.01, clip_norm=10.0, lrd=0.9)  # the ramp comes from the state
    again.load_state_dict(state)
    for _ in range(3):
        again.zero_grad()
        (1e6 * p.sum()).backward()
        again.step()
    assert torch.equal(p.detach(), full[-1])
    # the state of a plain ClippedAdam (a checkpoint from before the warm-up) steps as ClippedAdam would
    plain, popt = _steps(ClippedAdam, 2)
    q = torch.nn.Parameter(plain[-1].clone())
    w = WarmupClippedAdam([q], lr=0.01, clip_norm=10.0, lrd=0.9)
    w.load_state_dict(popt.state_dict())
    w.zero_grad()
    (1e6 * q.sum()).backward()
    w.step()
    assert torch.equal(q.detach(), _steps(ClippedAdam, 3)[0][-1])


def test_bad_warmup_settings_are_refused():
    with pytest.raises(ValueError, match="warmup"):
        WarmupClippedAdam([torch.nn.Parameter(torch.zeros(1))], warmup_steps=-1)
    with pytest.raises(ValueError, match="warmup"):
        WarmupClippedAdam([torch.nn.Parameter(torch.zeros(1))], warmup_start=0.0)
