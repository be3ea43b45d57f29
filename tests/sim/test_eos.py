"""Equation of state, temperature model and the HMX parameter fit (no solver run)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probtok.errors import ConfigError
from probtok.sim import eos, fiveeq, temperature
from probtok.sim.materials import AIR, HMX, Material, material_arrays


@pytest.fixture(scope="module")
def mp():
    with jax.enable_x64(True):
        yield material_arrays((HMX, AIR), jnp.float64)


def _rh(material, up):
    """Rankine-Hugoniot state of a stiffened gas shocked from rest by particle velocity up."""
    g, c0, rho0, p0 = material.gamma, material.c0_kms, material.rho0, material.p0_gpa
    a = (g + 1.0) / 4.0 * up
    us = a + np.sqrt(a * a + c0 * c0)
    return us, p0 + rho0 * us * up, rho0 * us / (us - up)


def test_pressure_energy_roundtrip_and_pure_phase_sound_speed(mp):
    with jax.enable_x64(True):
        p = jnp.array([1e-4, 0.5, 10.0, 40.0])
        for a1 in (1e-6, 0.3, 0.5, 1.0 - 1e-6):
            e = eos.thermal_energy(p, a1, mp)
            np.testing.assert_allclose(eos.pressure(e, a1, mp), p, rtol=1e-12, atol=1e-13)
        rho = 2.3
        c_solid = eos.sound_speed(rho, p, 1.0, mp)
        np.testing.assert_allclose(c_solid, np.sqrt(HMX.gamma * (p + HMX.p_inf_gpa) / rho), rtol=1e-12)
        c_gas = eos.sound_speed(0.01, p, 0.0, mp)
        np.testing.assert_allclose(c_gas, np.sqrt(1.4 * p / 0.01), rtol=1e-12)


def test_mixture_energy_is_volume_weighted_phase_energies(mp):
    # rho e = sum a_k rho_k e_k with each phase's own stiffened-gas law
    with jax.enable_x64(True):
        p, a1 = 3.0, 0.37
        e_solid = (p + HMX.gamma * HMX.p_inf_gpa) / (HMX.gamma - 1.0)  # rho_1 e_1
        e_gas = p / (AIR.gamma - 1.0)
        np.testing.assert_allclose(eos.thermal_energy(p, a1, mp), a1 * e_solid + (1 - a1) * e_gas, rtol=1e-13)


def test_hmx_hugoniot_within_5_percent_of_marsh_fit():
    up = np.linspace(0.5, 2.0, 31)
    us, _, _ = _rh(HMX, up)
    marsh = 2.901 + 2.058 * up
    assert np.max(np.abs(us / marsh - 1.0)) < 0.05
    # the prototype's numbers were 4.8 % off at Up = 0.5; this fit must do better
    assert abs(us[0] / marsh[0] - 1.0) < 0.04


def test_bulk_shock_temperature_at_1_kms_is_500_to_600_K(mp):
    with jax.enable_x64(True):
        _, P, rho = _rh(HMX, 1.0)
        T = float(temperature.isentrope_temperature(P, rho, 0, mp))
    assert 500.0 <= T <= 600.0


def test_temperature_model_on_isentrope_and_ambient(mp):
    with jax.enable_x64(True):
        rho = jnp.array([1.9, 2.2, 2.6])
        p_isen = (HMX.p0_gpa + HMX.p_inf_gpa) * (rho / HMX.rho0) ** HMX.gamma - HMX.p_inf_gpa
        T = temperature.isentrope_temperature(p_isen, rho, 0, mp)
        # no heat above the EOS isentrope: only the Grueneisen isentrope temperature remains
        np.testing.assert_allclose(T, 300.0 * np.exp(1.1 * (1.0 - 1.9 / rho)), rtol=1e-12)
        # constant-volume heating dE = rho c_v dT
        dT = temperature.isentrope_temperature(p_isen + (HMX.gamma - 1) * rho * HMX.cv * 100.0, rho, 0, mp) - T
        np.testing.assert_allclose(dT, 100.0, rtol=1e-10)
        T_air = temperature.stiffened_temperature(AIR.p0_gpa, AIR.rho0, 1, mp)
        np.testing.assert_allclose(T_air, 300.0, rtol=2e-3)


def test_reported_temperature_is_the_solid_model_never_the_pore_gas(mp):
    with jax.enable_x64(True):
        p = jnp.array([1e-4, 5.0, 5.0, 1e-4])
        a1 = jnp.array([0.9, 0.9, 0.2, 0.2])
        rho1 = jnp.array([1.9, 2.4, 2.2, 1.95])
        rho2 = jnp.full(4, 1e-3)  # gas at 5 GPa and 1e-3 g/cc: ~1e6 K, must not show
        T = temperature.reported_temperature(p, a1 * rho1, (1 - a1) * rho2, a1, mp, 3000.0)
        Ts = temperature.isentrope_temperature(p, rho1, 0, mp)
        np.testing.assert_allclose(T[:3], Ts[:3], rtol=1e-12)
        assert 300.0 < float(Ts[2]) < 3000.0  # the pore cell reports its solid phase, not its gas
        # a slightly over-dense solid phase at 1 atm sits below its isentrope: the thermal
        # part is floored at 0, so it reports the isentrope temperature T0 exp(G0 (1 - rho0/rho))
        t_isen = 300.0 * np.exp(float(mp["grueneisen0"][0]) * (1.0 - 1.9 / 1.95))
        np.testing.assert_allclose(float(Ts[3]), t_isen, rtol=1e-12)
        np.testing.assert_allclose(float(T[3]), t_isen, rtol=1e-12)
        # a solid-dominated cell far below its isentrope (interface mixing in a collapsing
        # pore) must never report a negative or sub-isentrope temperature
        cold = temperature.reported_temperature(jnp.array([1e-4]), jnp.array([0.9 * 2.4]), jnp.array([1e-4]),
                                                jnp.array([0.9]), mp, 3000.0)
        t_isen_cold = 300.0 * np.exp(float(mp["grueneisen0"][0]) * (1.0 - 1.9 / 2.4))
        np.testing.assert_allclose(float(cold[0]), t_isen_cold, rtol=1e-12)
        assert float(temperature.stiffened_temperature(5.0, 1e-3, 1, mp)) > 1e5


def test_kapila_k_limits(mp):
    with jax.enable_x64(True):
        # a stiff solid next to a soft gas: K -> -a1 (the gas takes the compression)
        K = fiveeq.k_coefficient(1e-4, jnp.array([0.3, 0.7]), mp)
        np.testing.assert_allclose(K, [-0.3, -0.7], rtol=1e-3)
        same = material_arrays((HMX, HMX), jnp.float64)
        np.testing.assert_allclose(fiveeq.k_coefficient(2.0, 0.4, same), 0.0, atol=1e-15)


def test_bad_material_numbers_raise_config_error():
    with pytest.raises(ConfigError):
        Material(name="x", gamma=0.9, p_inf_gpa=0.0, rho0=1.0)
    with pytest.raises(ConfigError):
        HMX.with_(no_such_field=1.0)
    with pytest.raises(ConfigError):
        Material(name="x", gamma=1.4, p_inf_gpa=0.0, rho0=1.0, temperature_model="magic")
