"""Shock tubes against the exact Riemann solution: L1 errors fall as the grid is refined."""

import numpy as np
import pytest

from probtok.sim.exact_riemann import exact_riemann
from _sim_onedim import SLOT, riemann_run

GRIDS = (100, 200, 400)

SOD = dict(
    left=dict(rho=1.0, u=0.0, p=1.0, gamma=1.4, p_inf=0.0),
    right=dict(rho=0.125, u=0.0, p=0.1, gamma=1.4, p_inf=0.0),
    length=1.0, x0=0.5, t=0.2,
)
# liquid-like stiffened gas (water-air scaled to GPa) against a light ideal gas: the
# two-material problem diffuse-interface schemes are judged by
TWO_MATERIAL = dict(
    left=dict(rho=1.0, u=0.0, p=1.0, gamma=4.4, p_inf=0.6),
    right=dict(rho=0.05, u=0.0, p=0.01, gamma=1.4, p_inf=0.0),
    length=1.0, x0=0.4, t=0.05,
)


def _errors(problem):
    errs = []
    for n in GRIDS:
        x, fr = riemann_run(problem["left"], problem["right"], n, problem["length"], problem["x0"], problem["t"])
        ex = exact_riemann(problem["left"], problem["right"], x, problem["t"], x0=problem["x0"])
        rho = fr[SLOT["m1"]] + fr[SLOT["m2"]]
        dx = problem["length"] / n
        errs.append({
            "rho": np.sum(np.abs(rho - ex["rho"])) * dx,
            "u": np.sum(np.abs(fr[SLOT["u"]] - ex["u"])) * dx,
            "p": np.sum(np.abs(fr[SLOT["P"]] - ex["p"])) * dx,
        })
    return errs


@pytest.fixture(scope="module")
def sod_errors():
    return _errors(SOD)


@pytest.fixture(scope="module")
def two_material_errors():
    return _errors(TWO_MATERIAL)


@pytest.mark.parametrize("var", ["rho", "u", "p"])
def test_sod_l1_error_falls_with_refinement(sod_errors, var):
    e = [err[var] for err in sod_errors]
    # first order at the discontinuities, better in the smooth fan: each halving of dx gains >= 25 %
    assert e[1] < 0.75 * e[0] and e[2] < 0.75 * e[1], e
    # and the 400-cell error is small in absolute terms (scales: rho ~ 1, u ~ 1 km/s, p ~ 1 GPa, L = 1 um)
    assert e[2] < 0.01, e


@pytest.mark.parametrize("var", ["rho", "u", "p"])
def test_two_material_l1_error_falls_with_refinement(two_material_errors, var):
    e = [err[var] for err in two_material_errors]
    assert e[1] < 0.8 * e[0] and e[2] < 0.8 * e[1], e
    assert e[2] < 0.02, e


def test_sod_plateau_values_match_exact():
    # star-region pressure and velocity (between the fan tail and the shock) at 400 cells
    x, fr = riemann_run(SOD["left"], SOD["right"], 400, SOD["length"], SOD["x0"], SOD["t"])
    ex = exact_riemann(SOD["left"], SOD["right"], x, SOD["t"], x0=SOD["x0"])
    star = (x > 0.52) & (x < 0.66)  # between the fan tail (0.49) and the contact (0.685)
    np.testing.assert_allclose(fr[SLOT["P"]][star], ex["p"][star], rtol=5e-3)
    np.testing.assert_allclose(fr[SLOT["u"]][star], ex["u"][star], rtol=5e-3)
