"""probtok.divergence: the final loss of a fit and the ensemble rule on it, on the members of the measured
ensembles (docs/bench-2026-11-29-subset1: final losses per run-frame, medians of the last 10 steps) and on cases
worked by hand."""

from __future__ import annotations

import pytest
import torch

from probtok.divergence import LOSS_MADS, diverged_members, final_loss, loss_outliers


def test_the_final_loss_is_the_median_of_the_last_ten_steps():
    assert final_loss({"losses": torch.arange(20.0)}) == 14.5  # median of 10..19
    assert final_loss({"losses": torch.tensor([3.0, 1.0, 2.0])}) == 2.0  # fewer steps than ten: all of them
    assert final_loss({"losses": torch.tensor([])}) is None and final_loss({}) is None


def test_a_member_far_above_the_median_is_flagged_by_its_deviations():
    # median 1.5, absolute deviations 1.5, 0.5, 0.5, 98.5: their median 1.0, so member 3 is 98.5 of them above
    assert loss_outliers([0.0, 1.0, 2.0, 100.0]) == [(3, 100.0, 1.5, 98.5)]
    assert loss_outliers([0.0, 1.0, 2.0, 1.5 + LOSS_MADS]) == []  # exactly at the threshold: not above it
    assert loss_outliers([0.0, 1.0, 2.0, 100.0], mads=200.0) == []


def test_the_measured_ensembles_flag_their_diverged_members_and_no_other():
    theta_subset0 = [-8.7e4, -6.5e4, 6.9e4, 1.1e7]  # member 3 diverged (loss up to 6e24), test T_hs 938 K
    theta_subset1 = [-2.1e5, -9.9e4, -1.0e5, 1.1e6]  # member 3 diverged (up to 1e20), 850 K; CRPS rule silent
    frozen_paired = [6.8e5, 2.8e5, 6.4e5, 6.1e4]  # no divergence, test T_hs of the members alike
    theta_lr01 = [-5.6e4, -7.1e4, -8.1e4, -1.7e5]  # subset 0 at theta_lr_factor 0.1: no divergence
    tiny_frozen = ([-5.0e4, -7.6e4, 1.4e5, 5.7e5], [-9.7e4, -7.8e4, 2.8e5, -2.2e3])  # the spread's top: 5.0, 6.9
    assert [i for i, *_ in loss_outliers(theta_subset0)] == [3]
    assert [i for i, *_ in loss_outliers(theta_subset1)] == [3]
    for quiet in (frozen_paired, theta_lr01, *tiny_frozen):
        assert loss_outliers(quiet) == [], quiet


@pytest.mark.parametrize("losses", [[1.0, 100.0], [0.0, 1.0, None, 100.0], [5.0, 5.0, 5.0, 100.0]])
def test_no_flag_from_two_members_a_missing_loss_or_no_spread(losses):
    assert loss_outliers(losses) == []


def test_members_fitted_on_other_runs_are_not_compared():
    def ckpt(final, runs):
        return {"losses": torch.full((12,), final), "meta": {"train_runs": runs}}

    same = [ckpt(0.0, [3, 7]), ckpt(1.0, [3, 7]), ckpt(2.0, [3, 7]), ckpt(100.0, [3, 7])]
    assert diverged_members(same) == [(3, 100.0, 1.5, 98.5)]
    assert diverged_members([*same[:3], ckpt(100.0, [5, 13])]) == []
