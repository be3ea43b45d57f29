"""run_case: the Case -> SimResult contract, failure recording, input errors, one compile per shape."""

import numpy as np
import pytest

from probtok.errors import ConfigError
from probtok.sim import solver
from probtok.sim.case import FIELDS, Case, ScaleSpec
from probtok.sim.materials import HMX
from probtok.sim.solver import SolverConfig, run_case

TINY = ScaleSpec("tiny", (12, 16), dx_um=0.1, dt_frame_ns=0.08, n_frames=3)


def _case(up=1.5):
    y, x = (np.mgrid[:12, :16] + 0.5) * 0.1
    mu0 = np.where((x - 1.0) ** 2 + (y - 0.6) ** 2 < 0.3**2, 0.0, 1.0)
    return Case("micro", 7, TINY, up, mu0)


@pytest.fixture(scope="module")
def result():
    return run_case(_case())


def test_fields_shapes_units_and_first_frame(result):
    assert result.ok and result.failure is None
    assert set(result.fields) == set(FIELDS)
    for name in FIELDS:
        f = result.fields[name]
        assert f.shape == (3, 12, 16) and f.dtype == np.float32
        assert np.all(np.isfinite(f))
    np.testing.assert_allclose(result.time_ns, [0.0, 0.08, 0.16])
    # frame 0 is the initial state: ambient, at rest, unreacted
    np.testing.assert_allclose(result.fields["T"][0], 300.0, rtol=2e-3)
    # float32 resolves the solid's pressure to ~ rho c^2 * 6e-8 ~ 1e-6 GPa (1 % of an atmosphere)
    np.testing.assert_allclose(result.fields["P"][0], HMX.p0_gpa, rtol=0, atol=2e-6)
    assert np.all(result.fields["u"][0] == 0) and np.all(result.fields["lam"][0] == 0)
    np.testing.assert_allclose(result.fields["mu"][0], np.clip(_case().mu0, 1e-6, 1 - 1e-6), atol=1e-6)
    # the (ramped, 0.05 ns) piston pushes material along +x at up to Up = 1.5 km/s
    u_first = result.fields["u"][-1][:, 0]
    assert np.all(u_first > 1.2) and np.all(u_first < 1.52)
    assert result.n_steps > 0


def test_the_result_names_the_temperature_of_the_solid_its_piston_feeds_in(result):
    """SimResult.inflow_T_K is the Hugoniot state at Up (what campaigns place the hot-spot threshold above),
    and it is what the simulated inflow next to the piston holds."""
    from probtok.sim.hugoniot import shocked_state

    assert result.inflow_T_K == pytest.approx(shocked_state(1.5, HMX).T_K, rel=1e-12)
    np.testing.assert_allclose(result.fields["T"][-1][:, 0], result.inflow_T_K, rtol=0.015)
    assert run_case(_case(), SolverConfig(bc_left="moving_wall")).inflow_T_K is None  # no inflow: not known


def test_physical_failure_is_recorded_not_raised():
    res = run_case(_case(), SolverConfig(max_steps=3))
    assert not res.ok
    assert "step limit" in res.failure and "frame 1" in res.failure
    assert np.all(np.isfinite(res.fields["T"][0]))
    assert np.all(np.isnan(res.fields["T"][1:]))


def test_new_parameters_do_not_recompile(result):
    before = solver._simulate._cache_size()
    run_case(_case(up=1.1), SolverConfig(solid=HMX.with_(Z_per_s=1e15, Q_MJ_kg=2.0)))
    assert solver._simulate._cache_size() == before


@pytest.mark.parametrize("bad", ["shape", "nan", "range", "up"])
def test_bad_case_raises_config_error(bad):
    case = _case()
    if bad == "shape":
        case.mu0 = case.mu0[:, :8]
    elif bad == "nan":
        case.mu0 = case.mu0.copy()
        case.mu0[0, 0] = np.nan
    elif bad == "range":
        case.mu0 = case.mu0 * 1.5
    else:
        case.up_kms = -1.0
    with pytest.raises(ConfigError) as err:
        run_case(case)
    assert err.value.run == 7


def test_bad_config_raises_config_error():
    with pytest.raises(ConfigError):
        SolverConfig(limiter="superbee?")
    with pytest.raises(ConfigError):
        SolverConfig(bc_y="open")
    with pytest.raises(ConfigError):
        SolverConfig(dtype="float16")


def test_nan_state_is_recorded_as_non_finite():
    # a NaN planted in the initial state: the run stops and says why, frames from there on are NaN
    from probtok.sim.solver import initial_state, simulate

    cfg = SolverConfig()
    U0 = np.array(initial_state(_case().mu0, cfg))
    U0[4, 5, 5] = np.nan
    out = simulate(U0, cfg, dx_um=0.1, up_kms=1.5, dt_frame_ns=0.08, n_frames=3)
    assert out["status"] == 1
    assert list(out["frame_status"][1:]) == [1, 1]


def test_collapsing_pores_never_report_negative_temperature():
    # Regression: micro-small runs 4 and 6 of campaign seed 0 once reported T down to
    # -290 K in diffuse interface cells of the collapsing pore (state below the solid's
    # isentrope from interface mixing); such runs were rejected by the data validator.
    from probtok.sim.campaign import run_seed
    from probtok.sim.presets import get_preset

    preset = get_preset("micro-small")
    for run in (4, 6):
        res = run_case(preset.sample(run_seed(0, run)))
        assert res.ok, res.failure
        T = res.fields["T"]
        # the coldest physical state is the solid expanded along its isentrope: well above 200 K
        assert float(T.min()) > 200.0, (run, float(T.min()))
