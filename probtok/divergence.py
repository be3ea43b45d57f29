"""Ensemble members whose fit diverged, told by the loss it ended at.

A member whose SVI blew up on the way (loss per run-frame up to 1e20-6e24 with ``--theta prior``) ends far above
the other members of its ensemble: +5.5e6 and +1.1e6 against -2.2e5 .. +2.3e4 for the healthy members of the
same ensembles (docs/bench-2026-11-29-subset1). The CRPS on the member's own training runs
(:func:`probtok.rollout_noise.outlying_members`) flagged one of those two; this rule flags both.

The rule: a member's final loss (the median of its last :data:`LAST_STEPS` losses, SVI's loss being one noisy
sample a step) more than :data:`LOSS_MADS` median absolute deviations above the members' median, among three or
more members fitted on the same runs. Measured on the six ensembles of four with loss records (small-up-u with
theta under its prior on two subsets, at theta_lr_factor 0.1, and frozen; tiny-up-u frozen on two subsets): the
two diverged members at 142 and 23 deviations, the 22 others at most 6.9 above their median.
"""

from __future__ import annotations

import numpy as np

#: The final loss is the median of this many last steps.
LAST_STEPS = 10
#: Flag above this many median absolute deviations over the members' median final loss.
LOSS_MADS = 10.0


def final_loss(ckpt: dict, last: int = LAST_STEPS) -> float | None:
    """Median of the last ``last`` SVI losses per run-frame of a checkpoint (its ``losses``); None without any."""
    losses = np.asarray(ckpt.get("losses", []), dtype=np.float64).ravel()
    return float(np.median(losses[-last:])) if losses.size else None


def loss_spread(losses) -> tuple[float, float]:
    """(median, median absolute deviation) of the members' final losses."""
    v = np.asarray(losses, dtype=np.float64)
    med = float(np.median(v))
    return med, float(np.median(np.abs(v - med)))


def loss_outliers(losses: list[float | None], mads: float = LOSS_MADS) -> list[tuple[int, float, float, float]]:
    """[(index, final loss, the members' median, deviations above it)] of the members whose final loss is more than
    ``mads`` median absolute deviations above the median; none among fewer than three values, with one missing
    (None), or when the deviations' median is 0 (no spread to measure against)."""
    if len(losses) < 3 or any(v is None for v in losses):
        return []
    med, mad = loss_spread(losses)
    if not mad > 0:
        return []
    return [(i, float(x), med, float((x - med) / mad)) for i, x in enumerate(losses) if (x - med) / mad > mads]


def diverged_members(ckpts: list[dict], mads: float = LOSS_MADS) -> list[tuple[int, float, float, float]]:
    """:func:`loss_outliers` of the members' checkpoints (in order), when all were fitted on the same runs."""
    runs = [(c.get("meta") or {}).get("train_runs") for c in ckpts]
    if any(r != runs[0] for r in runs):
        return []
    return loss_outliers([final_loss(c) for c in ckpts], mads)
