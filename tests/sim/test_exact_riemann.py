"""Exact Riemann solver for stiffened gases: published values, jump conditions, invariants, symmetry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from probtok.errors import ConfigError
from probtok.sim.exact_riemann import exact_riemann, riemann_waves, star_state

IDEAL = dict(gamma=1.4, p_inf=0.0)
HMX = dict(gamma=5.0, p_inf=3.196)  # the HMX stiffened gas (rho0 = 1.9 g/cm^3)
WATER = dict(gamma=4.4, p_inf=0.6)  # water-like stiffened gas [GPa]


def _st(rho, u, p, eos=IDEAL):
    return dict(rho=rho, u=u, p=p, **eos)


# Toro, Riemann Solvers and Numerical Methods for Fluid Dynamics, 3rd ed.,
# tables 4.1 (data) and 4.3 (exact star values: p*, u*, rho*L, rho*R), gamma = 1.4.
TORO = {
    1: ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1), (0.30313, 0.92745, 0.42632, 0.26557)),
    2: ((1.0, -2.0, 0.4), (1.0, 2.0, 0.4), (0.00189, 0.00000, 0.02185, 0.02185)),
    3: ((1.0, 0.0, 1000.0), (1.0, 0.0, 0.01), (460.894, 19.5975, 0.57506, 5.99924)),
    4: ((1.0, 0.0, 0.01), (1.0, 0.0, 100.0), (46.0950, -6.19633, 5.99242, 0.57511)),
    5: ((5.99924, 19.5975, 460.894), (5.99242, -6.19633, 46.0950), (1691.64, 8.68975, 14.2823, 31.0426)),
}


def test_sod_star_state():
    p, u = star_state(_st(1.0, 0.0, 1.0), _st(0.125, 0.0, 0.1))
    assert p == pytest.approx(0.30313, abs=5e-6)
    assert u == pytest.approx(0.92745, abs=5e-6)


@pytest.mark.parametrize("test", sorted(TORO))
def test_toro_star_values(test):
    left, right, (p, u, rl, rr) = TORO[test]
    w = riemann_waves(_st(*left), _st(*right))
    # Toro prints 5-6 significant digits: compare to half a unit of the last printed digit
    # (a relative 1e-5 plus an absolute 5e-6 for the printed zeros of test 2)
    for got, want in ((w.p_star, p), (w.u_star, u), (w.rho_star_l, rl), (w.rho_star_r, rr)):
        assert got == pytest.approx(want, rel=2e-5, abs=6e-6)


def _flux_jump(a: dict, b: dict, s: float) -> np.ndarray:
    """Relative jumps of mass, momentum and energy flux across a discontinuity moving at s."""
    out = []
    for st in (a, b):
        rho, u, p, e = st["rho"], st["u"], st["p"], st["e"]
        m = rho * (u - s)
        out.append([m, m * (u - s) + p, m * (e + p / rho + 0.5 * (u - s) ** 2)])
    fa, fb = np.array(out)
    scale = np.abs(fa) + np.abs(fb) + 1e-300
    return np.abs(fa - fb) / scale


def _either_side(left, right, speed, t=1.0, eps=1e-9):
    x = np.array([speed * t - eps, speed * t + eps])
    sol = exact_riemann(left, right, x, t)
    a = {k: sol[k][0] for k in ("rho", "u", "p", "e")}
    b = {k: sol[k][1] for k in ("rho", "u", "p", "e")}
    return a, b


STIFF_CASES = {
    # HMX plate impact at 2 x 1 km/s: two shocks in the stiffened gas
    "hmx_impact": (_st(1.9, 1.0, 1e-4, HMX), _st(1.9, -1.0, 1e-4, HMX)),
    # compressed water against air: left fan in the stiffened gas, right shock in the ideal gas
    "water_air": (_st(1.0, 0.0, 1.0, WATER), _st(0.05, 0.0, 1e-4, IDEAL)),
    # hot dense gas driving a shock into HMX (stiffened gas shocked from the right side)
    "gas_hmx": (_st(2.0, 0.5, 20.0, dict(gamma=3.0, p_inf=0.0)), _st(1.9, 0.0, 1e-4, HMX)),
}


@pytest.mark.parametrize("name", sorted(STIFF_CASES))
def test_rankine_hugoniot_across_computed_shocks(name):
    left, right = STIFF_CASES[name]
    w = riemann_waves(left, right)
    shocks = [w.head_l] * w.shock_l + [w.head_r] * w.shock_r
    assert shocks, "each case is built to contain at least one shock"
    for s in shocks:
        a, b = _either_side(left, right, s)
        assert abs(a["p"] - b["p"]) > 1e-3, "a real jump, not a sampling of one state twice"
        np.testing.assert_array_less(_flux_jump(a, b, s), 1e-10)


@pytest.mark.parametrize("name", sorted(STIFF_CASES))
def test_contact_has_equal_pressure_and_velocity(name):
    left, right = STIFF_CASES[name]
    w = riemann_waves(left, right)
    a, b = _either_side(left, right, w.u_star)
    assert a["p"] == pytest.approx(b["p"], rel=1e-13) and a["u"] == pytest.approx(b["u"], rel=1e-13)
    # mass flux through the contact is zero and material changes there
    sol = exact_riemann(left, right, np.array([w.u_star - 1e-9, w.u_star + 1e-9]), 1.0)
    assert list(sol["material"]) == [0, 1]


def test_rarefaction_fan_keeps_riemann_invariant_and_entropy():
    left, right = STIFF_CASES["water_air"]
    w = riemann_waves(left, right)
    assert not w.shock_l
    g, pinf = left["gamma"], left["p_inf"]
    # from the left state, through the fan, to the star state
    xi = np.linspace(w.head_l - 0.5, w.tail_l + 1e-6, 41)
    sol = exact_riemann(left, right, xi, 1.0)
    rho, u, pbar = sol["rho"], sol["u"], sol["p"] + pinf
    c = np.sqrt(g * pbar / rho)
    inv = u + 2.0 * c / (g - 1.0)
    ent = pbar / rho**g
    np.testing.assert_allclose(inv, inv[0], rtol=1e-12)
    np.testing.assert_allclose(ent, ent[0], rtol=1e-12)
    # the fan is a genuine expansion: p falls monotonically by a lot
    assert np.all(np.diff(sol["p"]) <= 1e-15) and sol["p"][-1] < 0.5 * sol["p"][0]
    # inside the fan the characteristic u - c passes through the sample point
    inside = (xi > w.head_l) & (xi < w.tail_l)
    np.testing.assert_allclose((u - c)[inside], xi[inside], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("up", [0.5, 1.0, 1.37, 2.0])
def test_hmx_shock_speed_matches_closed_form_hugoniot(up):
    # symmetric impact at +-up = piston at up into HMX at rest (frame shift by up)
    p0 = 1e-4
    w = riemann_waves(_st(1.9, up, p0, HMX), _st(1.9, -up, p0, HMX))
    assert w.u_star == pytest.approx(0.0, abs=1e-12)
    us = w.head_r + up
    # stiffened-gas Hugoniot: Us^2 - (gamma+1)/2 Up Us - c0^2 = 0, c0^2 = gamma (p0 + p_inf) / rho0
    g, c0sq = HMX["gamma"], HMX["gamma"] * (p0 + HMX["p_inf"]) / 1.9
    k = 0.25 * (g + 1.0) * up
    assert us == pytest.approx(k + math.sqrt(k * k + c0sq), rel=1e-12)
    assert w.p_star == pytest.approx(p0 + 1.9 * us * up, rel=1e-12)  # momentum: p - p0 = rho0 Us Up


def test_single_shock_problem_has_no_left_wave():
    # left = post-shock state of a chosen stiffened-gas shock into the right state
    right = _st(1.9, 0.0, 1e-4, HMX)
    g, pinf = HMX["gamma"], HMX["p_inf"]
    p1 = 15.0
    r = (p1 + pinf) / (right["p"] + pinf)
    mu2 = (g - 1.0) / (g + 1.0)
    rho1 = right["rho"] * (r + mu2) / (mu2 * r + 1.0)
    u1 = math.sqrt((p1 - right["p"]) * (1.0 / right["rho"] - 1.0 / rho1))
    w = riemann_waves(_st(rho1, u1, p1, HMX), right)
    assert w.p_star == pytest.approx(p1, rel=1e-12)
    assert w.u_star == pytest.approx(u1, rel=1e-12)
    assert w.rho_star_l == pytest.approx(rho1, rel=1e-12)
    assert w.rho_star_r == pytest.approx(rho1, rel=1e-12)


@pytest.mark.parametrize("name", sorted(STIFF_CASES) + ["toro2", "toro3"])
def test_mirror_problem_gives_mirrored_solution(name):
    if name.startswith("toro"):
        left, right = _st(*TORO[int(name[-1])][0]), _st(*TORO[int(name[-1])][1])
    else:
        left, right = STIFF_CASES[name]
    mirror = lambda s: {**s, "u": -s["u"]}  # noqa: E731
    x = np.linspace(-7.3, 6.9, 301) + 1e-3 * math.pi  # avoid sampling exactly on a wave
    t, x0 = 0.37, 0.25
    a = exact_riemann(left, right, x, t, x0=x0)
    b = exact_riemann(mirror(right), mirror(left), 2 * x0 - x, t, x0=x0)
    np.testing.assert_allclose(a["rho"], b["rho"], rtol=1e-12)
    np.testing.assert_allclose(a["p"], b["p"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a["u"], -b["u"], rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(a["material"], 1 - b["material"])
    assert len(np.unique(np.round(a["rho"], 9))) > 1  # a non-trivial profile


def test_initial_time_and_far_field_return_initial_states():
    left, right = STIFF_CASES["water_air"]
    x = np.array([-3.0, -0.1, 0.0, 0.1, 3.0])
    sol = exact_riemann(left, right, x, 0.0)
    np.testing.assert_array_equal(sol["rho"], [1.0, 1.0, 0.05, 0.05, 0.05])
    np.testing.assert_array_equal(sol["material"], [0, 0, 1, 1, 1])
    far = exact_riemann(left, right, np.array([-100.0, 100.0]), 1.0)
    assert far["p"][0] == left["p"] and far["p"][1] == right["p"]
    # e from the stiffened-gas EOS: p + gamma p_inf = (gamma - 1) rho e
    e_l = (left["p"] + left["gamma"] * left["p_inf"]) / ((left["gamma"] - 1) * left["rho"])
    assert far["e"][0] == pytest.approx(e_l, rel=1e-15)


def test_vacuum_and_bad_states_raise_config_errors():
    with pytest.raises(ConfigError, match="vacuum"):
        star_state(_st(1.0, -20.0, 0.4), _st(1.0, 20.0, 0.4))
    with pytest.raises(ConfigError, match="lacks"):
        star_state(dict(rho=1.0, u=0.0, p=1.0), _st(1.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="density"):
        star_state(_st(-1.0, 0.0, 1.0), _st(1.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="p \\+ p_inf"):
        star_state(_st(1.0, 0.0, -4.0, HMX), _st(1.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="time"):
        exact_riemann(_st(1.0, 0.0, 1.0), _st(1.0, 0.0, 1.0), np.zeros(3), -1.0)


def test_stiffened_gas_under_tension_is_allowed_above_minus_p_inf():
    # a stiffened gas supports p < 0 while p + p_inf > 0: two fans pulling HMX apart
    left, right = _st(1.9, -0.3, 0.0, HMX), _st(1.9, 0.3, 0.0, HMX)
    w = riemann_waves(left, right)
    assert -HMX["p_inf"] < w.p_star < 0.0 and w.u_star == pytest.approx(0.0, abs=1e-14)
    # symmetric two-rarefaction closed form in pbar
    g, pbar0 = HMX["gamma"], HMX["p_inf"]
    c0 = math.sqrt(g * pbar0 / 1.9)
    pbar_star = pbar0 * (1.0 - 0.5 * (g - 1.0) * 0.3 / c0) ** (2.0 * g / (g - 1.0))
    assert w.p_star + HMX["p_inf"] == pytest.approx(pbar_star, rel=1e-12)
