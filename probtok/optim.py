"""ClippedAdam with a linear learning-rate warm-up, for the parameters that need one.

Adam's first step moves every weight with a gradient by its full learning rate, whatever the gradient's size
(m / sqrt(v) = sign(g) after bias correction). In a meso adaptation with the micro globals theta under their prior
(:mod:`probtok.adapt`), learning rate 1e-2 is one prior sd of every theta weight, all moved at once: micro fit 3 of
``small-up-u`` went from a loss of 1e11 to 6e24 and 1e20 per run-frame at that first step on two training subsets
and ended diverged (docs/bench-2026-11-29-encoder). Ramping theta's rate up from a tenth over 20 steps kept it below
its starting loss on both. Pyro's ClippedAdam has a per-step decay (``lrd``) but no warm-up, and torch's schedulers
act on a whole optimizer, not on some parameters of Pyro's per-parameter optimizers, hence this subclass.
"""

from __future__ import annotations

from pyro.optim.clipped_adam import ClippedAdam as TorchClippedAdam


def warmup_factor(done: int, steps: int, start: float) -> float:
    """The factor on the learning rate of the step after ``done`` steps: ``start`` at the first, rising linearly
    to 1 at step ``steps`` and 1 from there (1 throughout for ``steps`` = 0)."""
    if steps <= 0 or done >= steps:
        return 1.0
    return start + (1.0 - start) * done / steps


class WarmupClippedAdam(TorchClippedAdam):
    """:class:`pyro.optim.clipped_adam.ClippedAdam` (per-element gradient clipping, learning-rate decay ``lrd`` a
    step) whose step n (from 0) runs at ``warmup_factor(n, warmup_steps, warmup_start)`` x the learning rate it
    would run at. The count of steps is a param-group entry, so it is saved and restored with the optimizer's
    state (an adaptation resumed from a checkpoint continues the ramp where it was)."""

    def __init__(self, params, warmup_steps: int = 0, warmup_start: float = 1.0, **kwargs):
        if warmup_steps < 0 or not 0 < warmup_start <= 1:
            raise ValueError(f"warmup_steps >= 0 and 0 < warmup_start <= 1, not {warmup_steps}, {warmup_start}")
        super().__init__(params, **kwargs)
        for group in self.param_groups:
            group.setdefault("warmup_steps", int(warmup_steps))
            group.setdefault("warmup_start", float(warmup_start))
            group.setdefault("warmup_done", 0)

    def step(self, closure=None):
        # .get: the state of a plain ClippedAdam (a checkpoint from before the warm-up existed) has no entries
        factors = [warmup_factor(g.get("warmup_done", 0), g.get("warmup_steps", 0), g.get("warmup_start", 1.0))
                   for g in self.param_groups]
        for group, f in zip(self.param_groups, factors):
            group["lr"] *= f  # ClippedAdam then decays it (x lrd) and steps with it
        loss = super().step(closure)
        for group, f in zip(self.param_groups, factors):
            group["lr"] /= f  # back on the decay-only schedule (x 1.0 and / 1.0 are exact: no warm-up, no change)
            group["warmup_done"] = group.get("warmup_done", 0) + 1
        return loss
