"""Hot-spot metrics against hand-computed cases; numpy and torch agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probtok.hotspots import (
    bulk_shocked_temperature,
    choose_threshold,
    growth_class,
    hotspot_area,
    hotspot_metrics,
    hotspot_temperature,
    rates,
)

DX = 0.1  # um


def test_empty_field_has_no_hot_spot():
    T = np.full((8, 9), 600.0)
    assert hotspot_area(T, DX, 875.0) == 0.0
    assert hotspot_temperature(T, 875.0) == 0.0


def test_one_hot_cell_and_strict_threshold():
    T = np.full((8, 9), 600.0)
    T[3, 4] = 1900.0
    T[5, 5] = 875.0  # exactly at the threshold: not hot
    assert hotspot_area(T, DX, 875.0) == pytest.approx(DX**2)
    assert hotspot_temperature(T, 875.0) == 1900.0


def test_nan_cells_are_not_hot():
    T = np.full((4, 4), 1000.0)
    T[0, 0] = np.nan
    assert hotspot_area(T, 1.0, 875.0) == 15.0
    assert hotspot_temperature(T, 875.0) == 1000.0


def test_disc_area_counts_cells_and_approaches_pi_r2():
    n, r_cells = 101, 20.0
    y, x = np.mgrid[0:n, 0:n] + 0.5
    d2 = (x - n / 2) ** 2 + (y - n / 2) ** 2
    inside = d2 < r_cells**2
    T = np.where(inside, 1200.0 + d2, 500.0)  # hot and radially varying inside
    area = hotspot_area(T, DX, 875.0)
    assert area == pytest.approx(inside.sum() * DX**2)
    assert area == pytest.approx(np.pi * (r_cells * DX) ** 2, rel=0.01)
    assert hotspot_temperature(T, 875.0) == pytest.approx(1200.0 + d2[inside].mean())


def test_leading_dims_broadcast_like_a_loop():
    rng = np.random.default_rng(0)
    T = rng.uniform(300, 1500, size=(3, 2, 4, 6, 7))  # draw, run, frame, y, x
    A, Ths = hotspot_area(T, DX, 900.0), hotspot_temperature(T, 900.0)
    assert A.shape == Ths.shape == (3, 2, 4)
    for idx in np.ndindex(3, 2, 4):
        hot = T[idx] > 900.0
        assert A[idx] == pytest.approx(hot.sum() * DX**2)
        assert Ths[idx] == pytest.approx(T[idx][hot].mean())


def test_torch_equals_numpy():
    rng = np.random.default_rng(1)
    T = rng.uniform(300, 1500, size=(5, 4, 6, 7))
    T[0] = 300.0  # one empty frame
    m_np = hotspot_metrics(T, DX, 0.06, 875.0)
    m_t = hotspot_metrics(torch.from_numpy(T), DX, 0.06, 875.0)
    for k in m_np:
        assert isinstance(m_t[k], torch.Tensor) and m_t[k].dtype == torch.float64
        np.testing.assert_allclose(m_t[k].numpy(), m_np[k], rtol=1e-12)
    m_32 = hotspot_metrics(torch.from_numpy(T).float(), DX, 0.06, 875.0)
    np.testing.assert_allclose(m_32["T_hs"].numpy(), m_np["T_hs"], rtol=1e-5)
    assert m_np["T_hs"][0, 0] == 0.0


def test_torch_metrics_are_differentiable_in_T():
    T = torch.full((1, 4, 4), 1000.0, requires_grad=True)
    hotspot_temperature(T, 875.0).sum().backward()
    np.testing.assert_allclose(T.grad.numpy(), 1 / 16)


def test_rates_are_forward_differences_per_ns():
    s = np.array([[0.0, 1.0, 4.0, 9.0], [2.0, 2.0, 2.0, 2.0]])
    np.testing.assert_allclose(rates(s, 0.5), [[2.0, 6.0, 10.0], [0.0, 0.0, 0.0]])
    m = hotspot_metrics(np.full((3, 4, 4), 1000.0), 1.0, 0.1)
    assert m["dA_hs_dt"].shape == (2,) and np.all(m["dA_hs_dt"] == 0)


def test_growth_class_hand_cases():
    A = np.array([
        [0, 0, 0, 0, 0, 0],          # no hot spot
        [0, 1, 3, 2, 1, 0.5],        # forms, peaks, shrinks
        [0, 1, 3, 2.5, 4, 6],        # forms, peaks, dips, grows past the collapse peak
        [0, 2, 4, 6, 8, 10],         # still rising at the last frame -> "grow"
        [0, 2, 4, 4, 4, 4],          # collapse peak then a plateau -> "quench"
    ])
    expected = ["none", "quench", "grow", "grow", "quench"]
    assert growth_class(A).tolist() == expected
    assert growth_class(torch.tensor(A)).tolist() == expected
    assert growth_class(A[None]).shape == (1, 5)


def test_threshold_choice_and_bulk_temperature():
    assert choose_threshold([400.0, 520.0]) == 875.0
    assert choose_threshold([1000.0, np.nan]) == 1100.0
    assert choose_threshold([1298.0]) == 1400.0
    T = np.array([[500.0, 510.0, 2000.0], [300.0, 505.0, 300.0]])
    mu = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    u = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])  # (1,0) unshocked, (1,2) gas
    assert bulk_shocked_temperature(T, mu, u, up_kms=1.0) == 507.5  # median of 500, 510, 2000, 505
    assert np.isnan(bulk_shocked_temperature(T, mu, np.zeros_like(u), up_kms=1.0))
    # reacted solid (here the 2000 K and 510 K cells) is not bulk: median of 500, 505
    lam = np.array([[0.0, 0.5, 1.0], [0.0, 0.0, 0.0]])
    assert bulk_shocked_temperature(T, mu, u, up_kms=1.0, lam=lam) == 502.5
