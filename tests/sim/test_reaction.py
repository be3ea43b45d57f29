"""Arrhenius reaction: exact update, solid-only rate, energy release in the solver."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from probtok.sim import fiveeq, reaction
from probtok.sim.materials import AIR, HMX, material_arrays
from probtok.sim.solver import OUT_NAMES, SolverConfig, initial_state, simulate

SLOT = {n: i for i, n in enumerate(OUT_NAMES)}


def test_exact_update_matches_analytic_solution_for_constant_T():
    with jax.enable_x64(True):
        mp = material_arrays((HMX, AIR), jnp.float64)
        T = 1900.0
        k = float(reaction.arrhenius_rate(jnp.asarray(T), mp))
        assert k == pytest.approx(HMX.Z_per_s * 1e-9 * np.exp(-HMX.Ta_K / T), rel=1e-12)
        lam0, t_end = 0.1, 3.0 / k
        # one big step, or many small ones: both exact for constant T (stiff-stable)
        one = float(reaction.exact_update(jnp.asarray(lam0), k, t_end))
        lam = jnp.asarray(lam0)
        for _ in range(37):
            lam = reaction.exact_update(lam, k, t_end / 37)
        exact = 1.0 - (1.0 - lam0) * np.exp(-k * t_end)
        assert one == pytest.approx(exact, rel=1e-13)
        assert float(lam) == pytest.approx(exact, rel=1e-12)
        # a huge step stays in [0, 1]
        assert float(reaction.exact_update(jnp.asarray(0.5), 1e6, 1.0)) == 1.0


def test_rate_only_in_solid_cells_and_from_solid_temperature():
    with jax.enable_x64(True):
        mp = material_arrays((HMX, AIR), jnp.float64)
        # cell 0: solid-dominated at 30 GPa, hot solid; cell 1: mostly gas at the same p (gas T enormous)
        mu = jnp.array([[0.95, 0.3]])
        rho1 = 2.6
        W = (mu * rho1, (1 - mu) * 0.05, jnp.zeros((1, 2)), jnp.zeros((1, 2)), jnp.full((1, 2), 30.0),
             jnp.zeros((1, 2)), mu)
        k = reaction.rate_constant(W, mp, 0.5)
        assert float(k[0, 1]) == 0.0
        assert float(k[0, 0]) > 0.0
        from probtok.sim.temperature import isentrope_temperature

        Ts = float(isentrope_temperature(30.0, rho1, 0, mp))
        assert float(k[0, 0]) == pytest.approx(HMX.Z_per_s * 1e-9 * np.exp(-HMX.Ta_K / Ts), rel=1e-10)


@pytest.fixture(scope="module")
def explosion():
    """Uniform hot HMX at rest in a closed 1 x 8 box: a constant-volume thermal explosion."""
    solid = HMX.with_(Q_MJ_kg=1.5, Z_per_s=4.4e14)
    cfg = SolverConfig(solid=solid, dtype="float64", bc_right="reflective", piston_ramp_ns=0.0, cfl=0.5)
    rho, T0 = 1.9, 2000.0
    # pressure that gives T0 at the reference density (isentrope term = 300 K there)
    p0 = solid.p0_gpa + (T0 - 300.0) * (solid.gamma - 1.0) * rho * solid.cv
    mu = np.ones((1, 8))
    U0 = initial_state(mu, cfg, rho_solid=rho, p=p0)
    out = simulate(U0, cfg, dx_um=0.1, up_kms=0.0, dt_frame_ns=0.05, n_frames=6)
    return solid, T0, out


def test_thermal_explosion_follows_the_ode_and_conserves_energy(explosion):
    solid, T0, out = explosion
    fr = out["frames"]
    lam = fr[:, SLOT["lam"], 0, 3]
    T = fr[:, SLOT["T"], 0, 3]
    assert out["status"] == 0
    # heat release at constant volume: T = T0 + lam Q / c_v (energy stored, nothing lost; the
    # 1e-6 gas fraction of "pure" solid cells takes its 1e-5 share of the heat)
    np.testing.assert_allclose(T[1:] - T0, lam[1:] * solid.Q_MJ_kg / solid.cv, rtol=1e-4)
    # the run ignites within the window
    assert lam[-1] > 0.5

    def rhs(t, y):
        Tt = T0 + y[0] * solid.Q_MJ_kg / solid.cv
        return [solid.Z_per_s * 1e-9 * (1.0 - y[0]) * np.exp(-solid.Ta_K / Tt)]

    t = 0.05 * np.arange(fr.shape[0])
    ref = solve_ivp(rhs, (0.0, t[-1]), [0.0], t_eval=t, rtol=1e-10, atol=1e-12, method="LSODA").y[0]
    # predictor-corrector on the self-heating (second order): within 5e-3 through the runaway
    np.testing.assert_allclose(lam, ref, atol=5e-3)
    # uniform state: no motion at all
    assert np.max(np.abs(fr[:, SLOT["u"]])) < 1e-12
    # total energy (chemical included) is conserved exactly
    U_end, E0 = out["U"], initial_energy(solid, explosion)
    np.testing.assert_allclose(U_end[fiveeq.ENER].sum(), E0, rtol=1e-13)


def initial_energy(solid, explosion):
    fr = explosion[2]["frames"]
    # from frame 0 primitives
    with jax.enable_x64(True):
        mp = material_arrays((solid, AIR), jnp.float64)
        W0 = jnp.asarray(fr[0, :7])
        return float(fiveeq.prim_to_cons(W0, mp)[fiveeq.ENER].sum())
