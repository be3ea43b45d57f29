"""Mass, momentum and energy in closed boxes (float64, reaction on: the chemical energy is stored)."""

import numpy as np
import pytest

from probtok.sim import fiveeq
from probtok.sim.materials import AIR, HMX
from probtok.sim.solver import SolverConfig, initial_state, simulate

H, W, DX = 16, 24, 0.1


def _asymmetric_start(cfg):
    """HMX with an off-centre air pore, an off-centre hot high-pressure spot and a swirl."""
    y, x = (np.mgrid[:H, :W] + 0.5) * DX
    mu = np.where((x - 1.5) ** 2 + (y - 0.9) ** 2 < 0.35**2, 0.0, 1.0)
    r2 = (x - 0.7) ** 2 + (y - 0.5) ** 2
    p = HMX.p0_gpa + 15.0 * np.exp(-r2 / 0.05)
    u = 0.3 * np.sin(2 * np.pi * y / (H * DX))
    v = 0.4 * np.cos(2 * np.pi * x / (W * DX)) + 0.1
    return initial_state(mu, cfg, p=p, u=u, v=v, lam=0.05 * (x > 1.0))


def _run(bc_y):
    # low activation temperature so the reaction runs, releasing stored chemical energy
    cfg = SolverConfig(solid=HMX.with_(Ta_K=12000.0), gas=AIR, dtype="float64", bc_right="reflective",
                       bc_y=bc_y, piston_ramp_ns=0.0)
    U0 = _initial = _asymmetric_start(cfg)
    out = simulate(U0, cfg, dx_um=DX, up_kms=0.0, dt_frame_ns=0.15, n_frames=3)
    assert out["status"] == 0
    return _initial, out


@pytest.fixture(scope="module")
def periodic_y():
    return _run("periodic")


@pytest.fixture(scope="module")
def all_walls():
    return _run("reflective")


def _totals(U):
    return {name: U[i].sum() for name, i in
            (("m1", fiveeq.M1), ("m2", fiveeq.M2), ("E", fiveeq.ENER), ("mv", fiveeq.MOMY))}


@pytest.mark.parametrize("box", ["periodic_y", "all_walls"])
def test_mass_and_energy_conserved_to_round_off(box, request):
    U0, out = request.getfixturevalue(box)
    a, b = _totals(U0), _totals(out["U"])
    assert out["n_steps"] > 20
    for name in ("m1", "m2", "E"):
        assert b[name] == pytest.approx(a[name], rel=1e-13), name
    # the run did something: the reaction progressed and the state moved
    lam = out["frames"][-1, 5]
    assert lam.max() > 0.06
    assert np.abs(out["U"][fiveeq.ENER] - U0[fiveeq.ENER]).max() > 1.0


def test_momentum_conserved_where_no_wall_pushes(periodic_y):
    # walls only at x = 0 and x = L: the y momentum has no boundary force at all
    U0, out = periodic_y
    a, b = _totals(U0), _totals(out["U"])
    scale = np.abs(U0[fiveeq.MOMY]).sum()
    assert abs(b["mv"] - a["mv"]) < 1e-13 * scale
    assert np.abs(out["U"][fiveeq.MOMY] - U0[fiveeq.MOMY]).max() > 0.01  # it was redistributed
