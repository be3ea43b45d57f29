"""Forecast summaries: hot-spot series, quantiles, exceedance, snapshots, and the forecast file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
import xarray as xr

import probtok.forecast as fc
from probtok.errors import ConfigError, DataError
from probtok.forecast import read_forecast, summarize_forecast, write_forecast
from probtok.hotspots import hotspot_metrics

DX, DT, THR = 0.1, 0.12, 875.0
FIELDS, UNITS = ["P", "T"], ["GPa", "K"]  # T not first: the summary must find it by name


def synthetic_draws(n_draw=30, n_frame=6, H=12, W=16, seed=0):
    """Draws (draw, frame, field, y, x) and a truth: a growing hot disc of random rate and peak T."""
    rng = np.random.default_rng(seed)
    Y, X = np.meshgrid((np.arange(H) + 0.5) * DX, (np.arange(W) + 0.5) * DX, indexing="ij")
    r2 = (X - 0.8) ** 2 + (Y - 0.6) ** 2

    def one():
        rate, peak = rng.uniform(0.2, 0.8), rng.uniform(1200, 2200)
        out = np.empty((n_frame, 2, H, W), np.float32)
        for k in range(n_frame):
            rad = rate * k * DT * 4
            out[k, 1] = 500 + (peak - 500) * np.exp(-r2 / (2 * max(rad, 1e-3) ** 2)) + rng.normal(0, 5, (H, W))
            out[k, 0] = 1e-3 * out[k, 1] + rng.normal(0, 0.1, (H, W))
        return out

    return np.stack([one() for _ in range(n_draw)]), one(), DT * np.arange(n_frame)


@pytest.fixture(scope="module")
def case():
    draws, truth, t = synthetic_draws()
    ds = summarize_forecast(draws, FIELDS, UNITS, t, DX, THR, run_id=5, truth=truth,
                            T_crit_K=[1000.0, 1600.0], A_crit_um2=0.2)
    return draws, truth, t, ds


def test_hotspot_series_equal_hotspot_metrics_on_each_draw(case):
    draws, truth, _, ds = case
    for d in (0, 7, 29):
        m = hotspot_metrics(draws[d, :, 1], DX, DT, THR)
        for name in ("T_hs", "A_hs", "dT_hs_dt", "dA_hs_dt"):
            np.testing.assert_allclose(ds[f"{name}_draws"].values[d], m[name], rtol=1e-12, atol=1e-12)
    m = hotspot_metrics(truth[:, 1], DX, DT, THR)
    for name in ("T_hs", "A_hs", "dT_hs_dt", "dA_hs_dt"):
        np.testing.assert_allclose(ds[f"{name}_truth"].values, m[name], rtol=1e-12, atol=1e-12)
    assert ds["A_hs_draws"].values.max() > 0  # the case does have hot spots


def test_quantiles_exceedance_and_moments_match_numpy(case):
    draws, _, _, ds = case
    a = ds["A_hs_draws"].values
    np.testing.assert_array_equal(ds["A_hs_quantiles"].values, np.quantile(a, fc.DEFAULT_QUANTILES, axis=0))
    assert ds["quantile"].values.tolist() == list(fc.DEFAULT_QUANTILES)
    t = ds["T_hs_draws"].values
    np.testing.assert_array_equal(ds["P_T_hs_exceeds"].sel(T_crit_K=1600.0).values, (t > 1600).mean(axis=0))
    np.testing.assert_array_equal(ds["P_A_hs_exceeds"].sel(A_crit_um2=0.2).values, (a > 0.2).mean(axis=0))
    np.testing.assert_allclose(ds["field_mean"].values, draws.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(ds["field_std"].values, draws.astype(np.float64).std(0, ddof=1), rtol=1e-5)
    assert ds["field_std"].sel(field="T").attrs["units"].startswith("see")
    assert ds["field_units"].sel(field="T").item() == "K"


def test_hand_built_draws():
    # 4 draws, 2 frames, 3x3 grid: draw d has d hot cells at 1000 + 100 d K in frame 1, none in frame 0
    draws = np.full((4, 2, 1, 3, 3), 300.0)
    for d in range(4):
        draws[d, 1, 0].flat[:d] = 1000.0 + 100 * d
    ds = summarize_forecast(draws, ["T"], ["K"], [0.0, 0.5], 1.0, THR, T_crit_K=[1150.0, 1200.0],
                            A_crit_um2=2.0, quantiles=(0.25, 0.5))
    assert ds["A_hs_draws"].values[:, 1].tolist() == [0, 1, 2, 3]
    assert ds["T_hs_draws"].values[:, 1].tolist() == [0, 1100, 1200, 1300]
    assert ds["A_hs_quantiles"].values[:, 1].tolist() == [0.75, 1.5]  # numpy linear: 0.25 * 3, 0.5 * 3
    # exceedance is strict: a draw exactly at the critical value does not exceed it
    assert ds["P_T_hs_exceeds"].values.tolist() == [[0.0, 0.5], [0.0, 0.25]]  # 1200, 1300 > 1150; 1300 > 1200
    assert ds["P_A_hs_exceeds"].values[0].tolist() == [0.0, 0.25]  # only area 3 > 2
    assert ds["dA_hs_dt_draws"].values[:, 0].tolist() == [0, 2, 4, 6]  # per ns over 0.5 ns
    assert ds["time_mid_ns"].values.tolist() == [0.25]


def test_growth_class_fractions():
    # hot-cell counts per frame: grow (collapse peak, dip, then beyond 1.1 x peak), quench, none, grow
    counts = [[0, 2, 1, 3], [0, 2, 1, 1], [0, 0, 0, 0], [0, 3, 2, 4]]
    draws = np.full((4, 4, 1, 2, 3), 300.0)
    for d, row in enumerate(counts):
        for k, c in enumerate(row):
            draws[d, k, 0].flat[:c] = 1200.0
    ds = summarize_forecast(draws, ["T"], ["K"], [0, 1, 2, 3], 1.0, THR, truth=draws[1])
    assert ds["growth_class_draws"].values.tolist() == ["grow", "quench", "none", "grow"]
    assert dict(zip(ds["growth_class"].values, ds["P_growth_class"].values)) == {"none": 0.25, "quench": 0.25,
                                                                                   "grow": 0.5}
    assert ds["growth_class_truth"].item() == "quench"


def test_block_processing_gives_the_same_summary(case, monkeypatch):
    draws, truth, t, ds = case
    monkeypatch.setattr(fc, "_BLOCK_BYTES", 1)  # one draw at a time; torch input as predict.py gives it
    small = summarize_forecast(torch.from_numpy(draws), FIELDS, UNITS, t, DX, THR, run_id=5, truth=truth,
                               T_crit_K=[1000.0, 1600.0], A_crit_um2=0.2)
    moments = ["field_mean", "field_std"]  # merged draw by draw: equal up to round-off
    xr.testing.assert_identical(small.drop_attrs().drop_vars(moments), ds.drop_attrs().drop_vars(moments))
    for name in moments:
        np.testing.assert_allclose(small[name].values, ds[name].values, rtol=1e-6, atol=1e-4, err_msg=name)


def test_write_read_round_trip_is_exact(case, tmp_path):
    ds = case[3]
    path = write_forecast(ds, tmp_path / "sub" / "run5.nc")
    back = read_forecast(path)
    xr.testing.assert_identical(back, ds)
    assert back.attrs["format"] == fc.FORMAT and back.attrs["run_id"] == 5
    assert back.attrs["hotspot_threshold_K"] == THR and "T_crit_K = [1000.0, 1600.0]" in back.attrs["exceedance"]
    assert back.attrs["probtok_version"] and back.attrs["created"].endswith("+00:00")
    assert back["A_hs_quantiles"].dims == ("quantile", "frame")
    assert back["dT_hs_dt_draws"].dims == ("draw", "interval")
    assert back["T_hs_draws"].attrs["units"] == "K" and back["dA_hs_dt_truth"].attrs["units"] == "um^2/ns"
    assert [p.name for p in path.parent.iterdir()] == ["run5.nc"]  # no temp file left


def test_non_forecast_files_raise_data_error(case, tmp_path):
    with pytest.raises(DataError, match="no such"):
        read_forecast(tmp_path / "missing.nc")
    text = tmp_path / "notes.nc"
    text.write_text("hello")
    with pytest.raises(DataError, match="not a readable"):
        read_forecast(text)
    runs = tmp_path / "runs.h5"
    with h5py.File(runs, "w") as f:
        f.attrs["format"] = "probtok-runs"
        f["x"] = np.arange(3)
    with pytest.raises(DataError, match="not a probtok forecast"):
        read_forecast(runs)
    other = tmp_path / "other.nc"
    xr.Dataset({"a": ("t", np.arange(3.0))}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(DataError, match="not a probtok forecast") as err:
        read_forecast(other)
    assert str(other) in str(err.value)
    write_forecast(case[3].drop_vars("field_std"), tmp_path / "partial.nc")
    with pytest.raises(DataError, match="lacks variables \\['field_std'\\]"):
        read_forecast(tmp_path / "partial.nc")
    future = case[3].copy()
    future.attrs = {**future.attrs, "format_version": fc.FORMAT_VERSION + 1}
    write_forecast(future, tmp_path / "future.nc")
    with pytest.raises(DataError, match="not supported"):
        read_forecast(tmp_path / "future.nc")


def test_bad_inputs_name_the_problem():
    draws, truth, t = synthetic_draws(n_draw=3, n_frame=3)
    with pytest.raises(DataError, match="temperature") as err:
        summarize_forecast(draws, ["P", "rho"], UNITS, t, DX, THR)
    assert err.value.field == "T"
    bad = draws.copy()
    bad[2, 1, 1, 0, 0] = np.nan
    with pytest.raises(DataError, match="draw 2, frame 1") as err:
        summarize_forecast(bad, FIELDS, UNITS, t, DX, THR, run_id=9)
    assert err.value.run == 9 and err.value.field == "T"
    with pytest.raises(DataError, match="no unit given") as err:
        summarize_forecast(draws, FIELDS, {"T": "K"}, t, DX, THR)
    assert err.value.field == "P"
    with pytest.raises(DataError, match="truth has shape"):
        summarize_forecast(draws, FIELDS, UNITS, t, DX, THR, truth=truth[:2])
    with pytest.raises(DataError, match="constant frame interval"):
        summarize_forecast(draws, FIELDS, UNITS, [0.0, 0.1, 0.3], DX, THR)
    with pytest.raises(DataError, match="5 dims"):
        summarize_forecast(draws[0], FIELDS, UNITS, t, DX, THR)
    with pytest.raises(ConfigError, match="quantiles"):
        summarize_forecast(draws, FIELDS, UNITS, t, DX, THR, quantiles=(0.5, 1.5))


def test_cli_calibrate_and_plot_forecast(case, tmp_path, capsys):
    import json

    from probtok.calibration import calibration_table
    from probtok.cli import main

    draws, truth, t, ds = case
    f1 = write_forecast(ds, tmp_path / "run5.nc")
    f2 = write_forecast(summarize_forecast(draws[:, :, :, ::-1], FIELDS, UNITS, t, DX, THR, run_id=6,
                                           truth=truth[:, :, ::-1]), tmp_path / "run6.nc")
    rc = main(["calibrate", str(f1), str(f2), "--json", str(tmp_path / "cal.json"), "--plot",
               str(tmp_path / "rel.png")])
    assert rc == 0
    table = json.loads((tmp_path / "cal.json").read_text())
    expected = calibration_table([read_forecast(f1), read_forecast(f2)])
    assert table["runs"] == [5, 6]
    assert table["quantities"]["A_hs"]["coverage"] == expected["quantities"]["A_hs"]["coverage"]
    assert table["quantities"]["T_hs"]["crps"] == pytest.approx(expected["quantities"]["T_hs"]["crps"])
    assert "cov 90 %" in capsys.readouterr().out
    assert (tmp_path / "rel.png").stat().st_size > 5_000
    no_truth = write_forecast(summarize_forecast(draws, FIELDS, UNITS, t, DX, THR, run_id=7), tmp_path / "r7.nc")
    assert main(["calibrate", str(f1), str(no_truth)]) == 2
    assert "r7.nc: this forecast has no truth" in capsys.readouterr().err.replace("\n", "")
    assert main(["plot-forecast", str(f1), "--out", str(tmp_path / "png"), "--fields", "T"]) == 0
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["run5_fan.png", "run5_fields_T.png"]
    assert main(["plot-forecast", str(tmp_path / "nope.nc"), "--out", str(tmp_path / "png")]) == 2


# -- draw statistics gathered while the draws are made ---------------------------------------------------
def _gathered(draws, batches, order=None):
    stats = fc.DrawStatistics(draws.shape, FIELDS, DX, THR, run_id=5)
    blocks = [(d0, t) for d0, _ in batches for t in range(draws.shape[1])]
    for k in (order if order is not None else range(len(blocks))):
        d0, t = blocks[k]
        d1 = dict(batches)[d0]
        stats.add(d0, t, draws[d0:d1, t])
    return stats


def test_gathered_statistics_summarise_as_the_whole_array(case):
    """Batches of 7, 13 and 10 draws, their frames added in a shuffled order: the same dataset as from the
    whole array (hot-spot series exactly; field mean and std to float32 round-off)."""
    draws, truth, t, ds = case
    batches = [(0, 7), (7, 20), (20, 30)]
    order = np.random.default_rng(1).permutation(len(batches) * draws.shape[1])
    stats = _gathered(draws, batches, order)
    g = summarize_forecast(stats, FIELDS, UNITS, t, DX, THR, run_id=5, truth=truth,
                           T_crit_K=[1000.0, 1600.0], A_crit_um2=0.2)
    for name in ("T_hs_draws", "A_hs_draws", "T_hs_quantiles", "A_hs_quantiles", "P_T_hs_exceeds",
                 "P_A_hs_exceeds", "dA_hs_dt_draws", "growth_class_draws", "field_truth"):
        np.testing.assert_array_equal(g[name].values, ds[name].values, err_msg=name)
    np.testing.assert_allclose(g["field_mean"].values, ds["field_mean"].values, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(g["field_std"].values, ds["field_std"].values, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(g["field_std"].values, draws.astype(np.float64).std(0, ddof=1), rtol=1e-5, atol=1e-4)
    assert g["field_std"].values.max() > 100  # the draws do differ (the check is not vacuous)


def test_gathered_statistics_refuse_missing_repeated_and_non_finite_draws(case):
    draws, _, t, _ = case
    stats = _gathered(draws, [(0, 30)], order=range(draws.shape[1] - 1))  # the last frame never added
    with pytest.raises(DataError, match="frame 5 was never added"):
        summarize_forecast(stats, FIELDS, UNITS, t, DX, THR)
    with pytest.raises(DataError, match="given twice"):
        stats.add(3, 0, draws[3:5, 0])
    bad = draws[:, 5].copy()
    bad[17, 1, 2, 3] = np.inf
    with pytest.raises(DataError, match="first: draw 17, frame 5"):
        stats.add(0, 5, bad)
    with pytest.raises(DataError, match="does not fit"):
        stats.add(25, 5, draws[:10, 5])
    full = _gathered(draws, [(0, 30)])
    with pytest.raises(ConfigError, match="gathered for"):
        summarize_forecast(full, FIELDS, UNITS, t, DX, THR + 1.0)
