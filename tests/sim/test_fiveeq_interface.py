"""A material interface advected in uniform pressure and velocity stays free of oscillations."""

import numpy as np
import pytest

from _sim_onedim import N_FRAMES, SLOT, config
from probtok.sim.materials import AIR, HMX
from probtok.sim.solver import initial_state, simulate

N, DX = 200, 0.1


@pytest.fixture(scope="module")
def advected():
    """HMX | air layer | HMX moving at u = 0.5 km/s in uniform p = 1 atm for 8 ns (float64)."""
    u0, p0 = 0.5, HMX.p0_gpa
    cfg = config(HMX, AIR, bc_left="moving_wall")
    x = (np.arange(N) + 0.5) * DX
    mu = np.where((x > 4.0) & (x < 7.0), 0.0, 1.0)[None, :]
    U0 = initial_state(mu, cfg, p=p0, u=u0)
    # a wall moving at u0 with no ramp feeds the same uniform state in
    out = simulate(U0, cfg, dx_um=DX, up_kms=u0, dt_frame_ns=4.0, n_frames=N_FRAMES)
    assert out["status"] == 0
    return x, mu[0], out["frames"][:, :, 0, :], u0, p0


def test_pressure_and_velocity_stay_uniform(advected):
    x, _, fr, u0, p0 = advected
    assert np.max(np.abs(fr[:, SLOT["P"]] - p0)) / p0 < 1e-6
    assert np.max(np.abs(fr[:, SLOT["u"]] - u0)) / u0 < 1e-6


def test_interfaces_move_with_the_flow(advected):
    x, mu0, fr, u0, _ = advected
    mu = fr[-1, SLOT["mu"]]
    # 8 ns at 0.5 km/s: the gas layer (4..7 um) is now at 8..11 um; diffused but centred there
    gas = 1.0 - mu
    centre = np.sum(x * gas) / np.sum(gas)
    assert centre == pytest.approx(5.5 + 4.0, abs=0.05)
    # the gas volume is conserved by the advection (no compression in uniform p, u)
    assert np.sum(gas) == pytest.approx(np.sum(1.0 - fr[0, SLOT["mu"]]), rel=1e-10)
    # and it has really moved: the old layer is solid again
    assert mu[(x > 4.5) & (x < 6.5)].min() > 0.99


def test_partial_densities_stay_consistent_with_phase_densities(advected):
    # each phase keeps its own density across the diffused interface (no artificial mixing heat)
    x, _, fr, _, _ = advected
    mu = fr[-1, SLOT["mu"]]
    mixed = (mu > 0.01) & (mu < 0.99)
    assert mixed.sum() >= 2
    np.testing.assert_allclose(fr[-1, SLOT["m1"]][mixed] / mu[mixed], HMX.rho0, rtol=1e-6)
    np.testing.assert_allclose(fr[-1, SLOT["m2"]][mixed] / (1 - mu[mixed]), AIR.rho0, rtol=1e-6)
