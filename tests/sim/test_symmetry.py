"""Mirror symmetry (y -> -y) of a centred circular pore collapsing under a planar shock."""

import numpy as np
import pytest

from probtok.sim.materials import AIR, HMX
from probtok.sim.solver import OUT_NAMES, SolverConfig, initial_state, simulate

SLOT = {n: i for i, n in enumerate(OUT_NAMES)}
H, W, DX = 32, 32, 0.1


def _pore(centre_y_um):
    y, x = (np.mgrid[:H, :W] + 0.5) * DX
    sub = np.linspace(-0.375, 0.375, 4) * DX  # 4 x 4 sub-samples: a smooth, exactly symmetric edge
    inside = np.zeros((H, W))
    for dy in sub:
        for dx in sub:
            inside += ((x + dx - 1.9) ** 2 + (y + dy - centre_y_um) ** 2 < 0.6**2) / 16.0
    return 1.0 - inside


@pytest.fixture(scope="module")
def collapse():
    cfg = SolverConfig(solid=HMX, gas=AIR, dtype="float64")
    U0 = initial_state(_pore(H * DX / 2), cfg)
    out = simulate(U0, cfg, dx_um=DX, up_kms=2.0, dt_frame_ns=0.2, n_frames=3)
    assert out["status"] == 0
    return out["frames"]


def test_fields_are_mirror_symmetric(collapse):
    fr = collapse
    for name in ("T", "P", "mu", "u", "lam", "m1", "m2"):
        f = fr[:, SLOT[name]]
        scale = np.abs(f).max()
        assert np.abs(f - f[:, ::-1, :]).max() <= 1e-9 * scale, name
    v = fr[:, SLOT["v"]]
    assert np.abs(v + v[:, ::-1, :]).max() <= 1e-9 * np.abs(v).max()


def test_the_pore_really_collapsed(collapse):
    # guard against a trivially symmetric (e.g. unperturbed) run: the pore has shrunk, the gas moved
    mu0, mu = collapse[0, SLOT["mu"]], collapse[-1, SLOT["mu"]]
    assert (1 - mu).sum() < 0.6 * (1 - mu0).sum()
    assert np.abs(collapse[-1, SLOT["v"]]).max() > 0.3
