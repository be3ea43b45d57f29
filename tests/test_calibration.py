"""Calibration metrics against known distributions, closed forms and brute force."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console
from scipy import stats

from probtok.calibration import (
    calibration_table,
    coverage,
    covered,
    crps_samples,
    interval_content,
    pit_coverage,
    pit_covered,
    pit_values,
    point_scores,
    reliability_curve,
    render_table,
    rmse_median,
    run_coverage_range,
    table_to_json,
    trivial_mask,
)
from probtok.errors import DataError

N_POINTS, N_DRAWS = 2000, 400


def _normal_points(rng, spread=1.0):
    """Truth ~ N(mu_i, s_i) and draws ~ N(mu_i, spread * s_i) at N_POINTS independent points."""
    mu = rng.uniform(-5, 5, N_POINTS)
    s = rng.uniform(0.5, 3, N_POINTS)
    truth = rng.normal(mu, s)
    draws = rng.normal(mu, spread * s, size=(N_DRAWS, N_POINTS))
    return draws, truth


def _binomial_tol(p, n, k=4.0):
    return k * np.sqrt(p * (1 - p) / n)


def test_coverage_is_nominal_for_a_calibrated_forecast():
    draws, truth = _normal_points(np.random.default_rng(1))
    cov = coverage(draws, truth, levels=(0.5, 0.9))
    for level, c in cov.items():
        # interval between empirical quantiles of n draws covers level * (n-1)/(n+1) in expectation
        expected = level * (N_DRAWS - 1) / (N_DRAWS + 1)
        assert abs(c - expected) < _binomial_tol(level, N_POINTS), (level, c)


def test_coverage_is_badly_off_for_too_narrow_and_too_wide_forecasts():
    rng = np.random.default_rng(2)
    narrow, truth = _normal_points(rng, spread=0.5)
    cov = coverage(narrow, truth)
    # N(0, 0.5^2) intervals of a N(0, 1) truth: 90 % -> P(|Z| < 0.82) = 0.59, 50 % -> 0.27
    assert abs(cov[0.9] - (2 * stats.norm.cdf(0.5 * 1.6449) - 1)) < _binomial_tol(0.6, N_POINTS)
    assert cov[0.5] < 0.35
    wide, truth = _normal_points(rng, spread=2.0)
    assert coverage(wide, truth)[0.5] > 0.75


def test_covered_bounds_are_inclusive_and_shape_preserving():
    draws = np.array([[0.0, 10.0], [1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0]])
    # 50 % interval of 0..4 is [1, 3]; of constant 10 is [10, 10]
    assert covered(draws, np.array([1.0, 10.0]), 0.5).tolist() == [True, True]
    assert covered(draws, np.array([0.99, 10.01]), 0.5).tolist() == [False, False]


def test_trivial_points_are_dropped_and_counted():
    rng = np.random.default_rng(3)
    draws, truth = _normal_points(rng)
    zeros = np.zeros((N_DRAWS, 500))
    all_draws = np.concatenate([draws, zeros], axis=1)
    all_truth = np.concatenate([truth, np.zeros(500)])
    assert trivial_mask(all_draws, all_truth).sum() == 500
    assert coverage(all_draws, all_truth) == coverage(draws, truth)
    # keeping them inflates coverage towards 1
    assert coverage(all_draws, all_truth, drop_trivial=False)[0.5] > coverage(draws, truth)[0.5] + 0.1


def _crps_normal(mu, s, y):
    z = (y - mu) / s
    return s * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def test_crps_matches_the_normal_closed_form():
    mu, s = 1.5, 2.0
    y = np.array([-3.0, 0.0, 1.5, 2.2, 8.0])
    # a fine quantile grid of N(mu, s): the empirical CRPS converges at O(1/n)
    n = 20000
    grid = mu + s * stats.norm.ppf((np.arange(n) + 0.5) / n)
    draws = np.repeat(grid[:, None], y.size, axis=1)
    np.testing.assert_allclose(crps_samples(draws, y), _crps_normal(mu, s, y), atol=2e-3)
    # random draws: within Monte Carlo error
    rand = np.random.default_rng(4).normal(mu, s, size=(20000, y.size))
    np.testing.assert_allclose(crps_samples(rand, y), _crps_normal(mu, s, y), atol=0.05)


@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_crps_sorted_formula_equals_brute_force(n):
    rng = np.random.default_rng(n)
    draws = rng.standard_t(3, size=(n, 3, 4))
    truth = rng.normal(size=(3, 4))
    pair = np.abs(draws[:, None] - draws[None, :]).sum(axis=(0, 1))
    brute = np.abs(draws - truth).mean(axis=0) - 0.5 * pair / n**2
    np.testing.assert_allclose(crps_samples(draws, truth), brute, rtol=1e-12, atol=1e-12)
    if n > 1:
        fair = np.abs(draws - truth).mean(axis=0) - 0.5 * pair / (n * (n - 1))
        np.testing.assert_allclose(crps_samples(draws, truth, fair=True), fair, rtol=1e-12, atol=1e-12)


def test_crps_of_one_draw_is_absolute_error():
    assert crps_samples(np.array([[2.0, -1.0]]), np.array([5.0, -1.0])).tolist() == [3.0, 0.0]


def test_pit_is_uniform_when_calibrated_even_with_ties():
    rng = np.random.default_rng(5)
    draws, truth = _normal_points(rng)
    assert stats.kstest(pit_values(draws, truth, rng=1), "uniform").pvalue > 1e-3
    # discrete (Poisson) forecasts with many ties: the randomized PIT is still uniform
    lam = rng.uniform(0.5, 4, N_POINTS)
    pit = pit_values(rng.poisson(lam, size=(N_DRAWS, N_POINTS)), rng.poisson(lam), rng=2)
    assert stats.kstest(pit, "uniform").pvalue > 1e-3
    # a too-narrow forecast puts the truth in the tails: U-shaped PIT
    narrow, truth = _normal_points(rng, spread=0.5)
    u = pit_values(narrow, truth)
    assert np.mean((u < 0.1) | (u > 0.9)) > 0.4


def _zero_inflated_points(rng, scale_factor=1.0):
    """Hot-spot-like points: 0 with probability p_i in [0.3, 0.6] (no hot cell), else exponential with scale s_i;
    truth and draws from the same law (calibrated) unless ``scale_factor`` shrinks the draws' non-zero part."""
    p0 = rng.uniform(0.3, 0.6, N_POINTS)
    s = rng.uniform(10, 100, N_POINTS)

    def sample(shape, factor):
        return np.where(rng.uniform(size=shape) < p0, 0.0, rng.exponential(factor * s, size=shape))

    return sample((N_DRAWS, N_POINTS), scale_factor), sample(N_POINTS, 1.0), p0


def test_interval_coverage_exceeds_the_level_of_a_calibrated_forecast_with_an_atom_and_pit_coverage_does_not():
    """With P(0) >= 0.3 the central 50 % interval is [0, q75]: a calibrated forecast covers the truth with
    probability F(q75) = 0.75, its own content, not 0.5. The randomized interval covers 0.5."""
    draws, truth, p0 = _zero_inflated_points(np.random.default_rng(11))
    for level in (0.5, 0.9):
        content = interval_content(draws, level).mean()
        assert abs(content - (1 + level) / 2) < 0.01, (level, content)  # [0, q_(1+level)/2] holds F of its top
        cov = coverage(draws, truth, levels=(level,))[level]
        assert abs(cov - content) < _binomial_tol(content, N_POINTS) and cov > level + 0.04, (level, cov)
        pit = pit_coverage(draws, truth, levels=(level,))[level]
        assert abs(pit - level) < _binomial_tol(level, N_POINTS), (level, pit)
    # too narrow: the non-zero part shrunk 3x; the PIT coverage falls well below the level
    narrow, truth, _ = _zero_inflated_points(np.random.default_rng(12), scale_factor=1 / 3)
    assert pit_coverage(narrow, truth, levels=(0.9,))[0.9] < 0.75


def test_the_randomized_reliability_curve_is_the_diagonal_for_a_calibrated_forecast_with_an_atom():
    draws, truth, _ = _zero_inflated_points(np.random.default_rng(14))
    levels, pit, n = reliability_curve([{"A_hs": (draws, truth)}], "A_hs", randomized=True)
    assert n == N_POINTS and np.all(np.abs(pit - levels) < _binomial_tol(0.5, N_POINTS))
    _, plain, _ = reliability_curve([{"A_hs": (draws, truth)}], "A_hs")
    assert np.all(plain[:5] > levels[:5] + 0.2)  # [0, q] intervals: 0.55-0.75 at levels 0.1-0.5


def test_pit_coverage_is_the_mean_over_the_randomization_of_the_randomized_pit_in_the_band():
    rng = np.random.default_rng(15)
    draws = rng.poisson(2.0, size=(40, 300)).astype(float)  # many ties, an atom at 0
    truth = rng.poisson(2.0, size=300).astype(float)
    p = pit_covered(draws, truth, 0.5)
    assert np.all((p >= 0) & (p <= 1)) and np.any((p > 0) & (p < 1))
    hits = np.mean([np.abs(pit_values(draws, truth, rng=k) - 0.5) <= 0.25 for k in range(400)], axis=0)
    np.testing.assert_allclose(p, hits, atol=0.1)  # 400 randomizations: binomial sd <= 0.025 per point
    assert abs(p.mean() - hits.mean()) < 0.005
    assert pit_coverage(draws, truth, (0.5,))[0.5] == pytest.approx(p[~trivial_mask(draws, truth)].mean())


def test_without_ties_pit_coverage_is_the_interval_coverage_and_the_content_the_level():
    draws, truth = _normal_points(np.random.default_rng(13))
    for level in (0.5, 0.9):
        cov, pit = coverage(draws, truth, (level,))[level], pit_coverage(draws, truth, (level,))[level]
        assert abs(cov - pit) < 0.01, (level, cov, pit)  # they differ only where truth sits between two draws
        assert interval_content(draws, level).mean() == pytest.approx(level, abs=2 / N_DRAWS)


def test_rmse_of_the_median():
    draws = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])  # medians 2, 20
    assert rmse_median(draws, np.array([5.0, 16.0])) == pytest.approx(np.sqrt((9 + 16) / 2))
    assert rmse_median(draws, np.array([np.nan, 16.0])) == pytest.approx(4.0)


def test_shape_mismatch_is_a_data_error():
    with pytest.raises(DataError, match="do not match"):
        coverage(np.zeros((5, 3)), np.zeros(4))


def test_calibration_table_from_arrays_json_and_printout():
    rng = np.random.default_rng(6)
    runs = []
    for r in range(4):
        d, t = _normal_points(rng)
        runs.append({"run_id": f"r{r}", "T_hs": (d[:, :500] * 100 + 1500, t[:500] * 100 + 1500),
                     "A_hs": (d[:, 500:1000], t[500:1000])})
    table = calibration_table(runs, quantities=("T_hs", "A_hs"))
    assert table["runs"] == ["r0", "r1", "r2", "r3"]
    t_hs = table["quantities"]["T_hs"]
    assert t_hs["units"] == "K" and t_hs["n_points"] == 2000
    assert abs(t_hs["coverage"]["0.9"] - 0.9) < _binomial_tol(0.9, 2000)
    assert abs(t_hs["coverage"]["0.5"] - 0.5) < _binomial_tol(0.5, 2000)
    x = np.concatenate([r["A_hs"][0] for r in runs], axis=1)
    y = np.concatenate([r["A_hs"][1] for r in runs])
    assert table["quantities"]["A_hs"]["crps"] == pytest.approx(crps_samples(x, y).mean())
    assert sum(t_hs["pit_histogram"]) == 2000
    back = json.loads(table_to_json(table))
    assert back["quantities"]["A_hs"]["coverage"]["0.5"] == table["quantities"]["A_hs"]["coverage"]["0.5"]
    console = Console(record=True, width=160)
    console.print(render_table(table))
    text = console.export_text()
    assert "T_hs" in text and "cov 90 %" in text and f"{t_hs['coverage']['0.9']:.2f}" in text
    assert "PIT 90 %" in text and f"{t_hs['coverage_pit']['0.9']:.2f}" in text
    assert t_hs["coverage_pit"]["0.9"] == pytest.approx(t_hs["coverage"]["0.9"], abs=0.01)  # no ties here
    assert t_hs["interval_content"]["0.5"] == pytest.approx(0.5, abs=0.01)
    assert t_hs["coverage_pit_range"]["0.9"] == run_coverage_range(t_hs["coverage_pit"]["0.9"], 4)


def test_reliability_curve_tracks_the_diagonal_when_calibrated():
    rng = np.random.default_rng(7)
    d, t = _normal_points(rng)
    levels, emp, n = reliability_curve([{"T_hs": (d, t)}], "T_hs")
    assert n == N_POINTS and levels.tolist() == pytest.approx(np.arange(1, 10) / 10)
    assert np.all(np.abs(emp - levels) < _binomial_tol(0.5, N_POINTS))
    d2, t2 = _normal_points(rng, spread=0.5)
    _, emp2, _ = reliability_curve([{"T_hs": (d2, t2)}], "T_hs")
    assert np.all(emp2[2:] < levels[2:] - 0.1)


def test_table_pools_runs_with_different_draw_counts_and_reports_each_run():
    rng = np.random.default_rng(8)
    d1, t1 = _normal_points(rng)
    d2, t2 = rng.normal(size=(50, 300)), rng.normal(size=300) * 3  # 50 draws, too narrow
    table = calibration_table([{"run_id": 1, "T_hs": (d1, t1)}, {"run_id": 2, "T_hs": (d2, t2)}],
                              quantities=("T_hs",))
    pooled = np.concatenate([covered(d1, t1, 0.9), covered(d2, t2, 0.9)]).mean()
    assert table["quantities"]["T_hs"]["coverage"]["0.9"] == pytest.approx(pooled)
    assert table["quantities"]["T_hs"]["n_points"] == N_POINTS + 300
    per_run = {row["run"]: row["quantities"]["T_hs"] for row in table["per_run"]}
    assert per_run[1]["coverage"]["0.9"] == pytest.approx(covered(d1, t1, 0.9).mean())
    assert per_run[2]["coverage"]["0.9"] < 0.6 and per_run[2]["n_points"] == 300
    crps = np.concatenate([crps_samples(d1, t1), crps_samples(d2, t2)]).mean()
    assert table["quantities"]["T_hs"]["crps"] == pytest.approx(crps)
    with pytest.raises(DataError, match="no forecasts"):
        calibration_table([])
    with pytest.raises(DataError, match="no entry 'A_hs'"):
        calibration_table([{"T_hs": (d1, t1)}], quantities=("A_hs",))


def test_scores_leave_out_the_given_first_frames():
    """A forecast given its first m frames is scored on frames t >= m only: here the given frames are far
    off (every draw cold, the truth hot) and the forecast frames exact, so coverage is 1 with m = 2 and
    drops by the two off frames with m = 1."""
    from probtok.calibration import calibration_table
    from probtok.forecast import summarize_forecast

    rng = np.random.default_rng(0)
    n_draw, n_frame = 40, 6
    truth = np.full((n_frame, 1, 4, 4), 300.0)
    truth[:, 0, 1:3, 1:3] = 1500.0 + 50.0 * np.arange(n_frame)[:, None, None]  # a hot spot every frame
    draws = truth[None] + rng.normal(0.0, 30.0, (n_draw, n_frame, 1, 4, 4))
    draws[:, :2] = 300.0  # the two "given" frames: no hot spot in any draw
    cov = {}
    for m in (1, 2):
        ds = summarize_forecast(draws, ["T"], ["K"], np.arange(n_frame) * 0.1, 0.1, 1000.0, truth=truth,
                                attrs={"first_frames": m})
        q = calibration_table([ds], quantities=("T_hs",))["quantities"]["T_hs"]
        cov[m] = (q["coverage"]["0.9"], q["n_points"])
    assert cov[2] == (1.0, n_frame - 2)
    assert cov[1] == (pytest.approx(4 / 5), n_frame - 1)  # frame 1 (off) now scored, frame 0 never


def test_the_range_of_a_coverage_is_the_wilson_interval_over_runs():
    z2 = stats.norm.ppf(0.95) ** 2
    # every run covered: the lower end is n / (n + z^2), the upper 1
    assert run_coverage_range(1.0, 6) == pytest.approx([6 / (6 + z2), 1.0])
    assert run_coverage_range(0.0, 6) == pytest.approx([0.0, z2 / (6 + z2)])
    # symmetric about 1/2, and narrower with more runs
    lo, hi = run_coverage_range(0.5, 6)
    assert lo + hi == pytest.approx(1.0)
    lo30, hi30 = run_coverage_range(0.5, 30)
    assert lo < lo30 < 0.5 < hi30 < hi
    assert all(np.isnan(run_coverage_range(float("nan"), 6)))


def test_the_range_over_runs_holds_the_nominal_coverage_where_a_per_point_one_would_not():
    """Calibrated forecasts of runs whose truth is one draw from the forecast held over the run (its points
    covered together, as the frames of a simulated run nearly are): over many trials of 6 runs the range
    holds the nominal 90 % in about 89 % of them (Binomial(6, 0.9): all but 4 or fewer covered runs); a
    binomial range over the 6 x 20 points as if independent holds it far less often."""
    rng = np.random.default_rng(11)
    held, held_iid, trials = 0, 0, 400
    for _ in range(trials):
        draws = rng.normal(size=(200, 6))
        truth = rng.normal(size=6)
        cov = np.mean(np.repeat(covered(draws, truth, 0.9), 20))
        lo, hi = run_coverage_range(cov, 6)
        held += lo <= 0.9 <= hi
        lo_iid, hi_iid = run_coverage_range(cov, 120)
        held_iid += lo_iid <= 0.9 <= hi_iid
    assert 0.8 < held / trials < 0.97
    assert held_iid / trials < 0.6


def test_a_calibration_table_gives_each_pooled_coverage_its_range_over_runs():
    parts = [{"run_id": i, "T_hs": (np.tile(np.linspace(-1, 1, 41)[:, None], (1, 30)), np.full(30, t))}
             for i, t in enumerate([0.0, 5.0, 0.0, 0.0])]
    table = calibration_table(parts, quantities=("T_hs",))
    q = table["quantities"]["T_hs"]
    assert q["coverage"]["0.9"] == 0.75
    lo, hi = q["coverage_range"]["0.9"]
    assert [lo, hi] == pytest.approx(run_coverage_range(0.75, 4))
    console = Console(record=True, width=80)  # the range is a second line under the coverage: fits 80 columns
    console.print(render_table(table))
    text = console.export_text()
    assert "0.75" in text and f"{lo:.2f}-{hi:.2f}" in text and "…" not in text
