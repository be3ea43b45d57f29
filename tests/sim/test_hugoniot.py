"""A piston-driven shock in HMX against the Rankine-Hugoniot jump of the stiffened gas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _sim_onedim import N_FRAMES, SLOT, config
from probtok.sim.materials import AIR, HMX, material_arrays
from probtok.sim.solver import initial_state, simulate
from probtok.sim.hugoniot import shocked_state

N, DX = 200, 0.1  # 20 um of HMX
RAMP_NS = 0.05  # SolverConfig's default piston rise time
SHOCK_TRAVEL_UM = 15.0


def rankine_hugoniot(up):
    """(Us [km/s], P [GPa], rho [g/cm^3], T [K]) of HMX shocked from rest to particle velocity up."""
    st = shocked_state(up, HMX)
    return st.us_kms, st.p_gpa, st.rho, st.T_K


def piston_run(up, ramp_ns):
    cfg = config(HMX, AIR, piston_ramp_ns=ramp_ns)
    us = rankine_hugoniot(up)[0]
    t_end = SHOCK_TRAVEL_UM / us
    U0 = initial_state(np.ones((1, N)), cfg)
    out = simulate(U0, cfg, dx_um=DX, up_kms=up, dt_frame_ns=t_end / (N_FRAMES - 1), n_frames=N_FRAMES)
    assert out["status"] == 0
    return out["frames"][:, :, 0, :], t_end


def shock_position(P, p_half):
    """x [um] where the pressure profile first drops below p_half, from the right (linear interpolation)."""
    x = (np.arange(N) + 0.5) * DX
    i = np.nonzero(P > p_half)[0].max()
    return x[i] + (P[i] - p_half) / (P[i] - P[i + 1]) * DX


@pytest.mark.parametrize("up", [0.5, 1.0, 2.0])
def test_shocked_state_matches_rankine_hugoniot(up):
    us, P, rho, T = rankine_hugoniot(up)
    fr, t_end = piston_run(up, ramp_ns=RAMP_NS)
    last = fr[-1]
    x = (np.arange(N) + 0.5) * DX
    # Everything behind the shock is on the Hugoniot: the material that came in through the
    # piston inflow (x < Up t) and the material the shock crossed (Up t < x < Us t), except
    # the thin start-up layer (first material shocked, now at x ~ Up t) and the front itself.
    inflow = x < up * t_end - 1.0
    crossed = (x > up * t_end + 1.0) & (x < us * t_end - 1.0)
    assert inflow.sum() >= 10 and crossed.sum() > 15
    for plateau in (inflow, crossed):
        np.testing.assert_allclose(last[SLOT["P"]][plateau], P, rtol=0.01)
        np.testing.assert_allclose(last[SLOT["u"]][plateau], up, rtol=0.01)
        np.testing.assert_allclose((last[SLOT["m1"]] + last[SLOT["m2"]])[plateau], rho, rtol=0.01)
        np.testing.assert_allclose(last[SLOT["T"]][plateau], T, rtol=0.015)
    # shock speed from the front's travel between the last two frames
    t_mid = t_end / 2
    speed = (shock_position(fr[-1][SLOT["P"]], P / 2) - shock_position(fr[-2][SLOT["P"]], P / 2)) / (t_end - t_mid)
    assert speed == pytest.approx(us, rel=0.01)
    # unshocked material ahead untouched
    ahead = x > us * t_end + 1.0
    np.testing.assert_allclose(last[SLOT["P"]][ahead], HMX.p0_gpa, rtol=0, atol=1e-6)


def test_piston_ramp_removes_start_up_overheating():
    up = 2.0
    T_rh = rankine_hugoniot(up)[3]
    abrupt, _ = piston_run(up, ramp_ns=0.0)
    ramped, _ = piston_run(up, ramp_ns=RAMP_NS)
    # an instantaneous piston leaves an entropy spike in the first cells; the ramp does not
    assert abrupt[-1][SLOT["T"]].max() > T_rh + 30.0
    assert ramped[-1][SLOT["T"]].max() < T_rh + 15.0
