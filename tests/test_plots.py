"""Plots: the figures carry the forecast's numbers, labels with units, and write real PNGs."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from probtok.errors import DataError
from probtok.forecast import summarize_forecast
from probtok.plots import (
    default_frames,
    fan_chart,
    field_snapshots,
    reliability_from_forecasts,
    reliability_plot,
    save_png,
    write_forecast_plots,
)

DX, DT, THR = 0.1, 0.12, 875.0


def _draws(n_draw=20, n_frame=5, H=10, W=14, seed=0):
    """Draws and truth (draw, frame, field [T, P], y, x): a hot disc growing at a random rate."""
    rng = np.random.default_rng(seed)
    Y, X = np.meshgrid((np.arange(H) + 0.5) * DX, (np.arange(W) + 0.5) * DX, indexing="ij")
    r2 = (X - 0.7) ** 2 + (Y - 0.5) ** 2

    def one():
        rate = rng.uniform(0.5, 1.5)
        T = np.stack([500 + 1300 * np.exp(-r2 / (2 * max(rate * k * DT, 1e-3) ** 2)) for k in range(n_frame)])
        return np.stack([T + rng.normal(0, 5, T.shape), 1e-3 * T], axis=1)

    return np.stack([one() for _ in range(n_draw)]), one(), DT * np.arange(n_frame)


@pytest.fixture(scope="module")
def ds():
    draws, truth, t = _draws()
    return summarize_forecast(draws, ["T", "P"], ["K", "GPa"], t, DX, THR, run_id=3, truth=truth,
                              T_crit_K=1500.0, A_crit_um2=0.05)


@pytest.fixture(scope="module")
def ds_no_truth():
    draws, _, t = _draws(seed=1)
    return summarize_forecast(draws, ["T", "P"], ["K", "GPa"], t, DX, THR, run_id=4)


def _line(ax, label):
    lines = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(lines) == 1, [ln.get_label() for ln in ax.get_lines()]
    return lines[0]


def test_fan_chart_draws_bands_median_truth_with_units(ds):
    fig = fan_chart(ds)
    ax_T, ax_A, ax_P = fig.axes
    assert ax_T.get_ylabel().endswith("[K]") and "mu" in ax_A.get_ylabel() and "^2" in ax_A.get_ylabel()
    assert ax_P.get_xlabel() == "time [ns]" and ax_P.get_ylabel() == "probability"
    assert "run 3" in fig._suptitle.get_text() and "20 draws" in fig._suptitle.get_text()
    for ax, name in ((ax_T, "T_hs"), (ax_A, "A_hs")):
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert [b.get_label() for b in bands] == ["5-95 %", "25-75 %"]
        med = _line(ax, "median")
        np.testing.assert_array_equal(med.get_xdata(), ds["time_ns"].values)
        np.testing.assert_array_equal(med.get_ydata(), ds[f"{name}_quantiles"].sel(quantile=0.5).values)
        np.testing.assert_array_equal(_line(ax, "truth (simulation)").get_ydata(), ds[f"{name}_truth"].values)
        # the 5-95 % band spans exactly the 5 % and 95 % quantiles
        verts = bands[0].get_paths()[0].vertices
        assert verts[:, 1].min() == pytest.approx(ds[f"{name}_quantiles"].sel(quantile=0.05).values.min())
        assert verts[:, 1].max() == pytest.approx(ds[f"{name}_quantiles"].sel(quantile=0.95).values.max())
    assert _line(ax_T, "threshold 875 K").get_ydata()[0] == THR
    p = _line(ax_P, "P($T_\\mathrm{hs}$ > 1500 K)")
    np.testing.assert_array_equal(p.get_ydata(), ds["P_T_hs_exceeds"].values[0])
    p_grow = float(ds["P_growth_class"].sel(growth_class="grow"))
    assert f"P(grow) = {p_grow:.2f}" in ax_P.get_title(loc="left")
    assert f"truth: {ds['growth_class_truth'].item()}" in ax_P.get_title(loc="left")


def test_fan_chart_without_truth_has_no_truth_line(ds_no_truth):
    fig = fan_chart(ds_no_truth, quantities=("T_hs", "A_hs", "dA_hs_dt"), exceedance=False)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert "truth (simulation)" not in [ln.get_label() for ln in ax.get_lines()]
    med = _line(fig.axes[2], "median")  # rates are drawn at interval midpoints
    np.testing.assert_array_equal(med.get_xdata(), ds_no_truth["time_mid_ns"].values)
    assert fig.axes[2].get_ylabel().endswith("/ns]")


def test_fan_chart_draws_a_deterministic_reference_as_a_dashed_line_and_rejects_a_wrong_length(ds):
    n = ds.sizes["frame"]
    ref = {"PARC (24 runs)": {"T_hs": np.linspace(900.0, 1400.0, n), "A_hs": np.linspace(0.0, 0.3, n)},
           "T only": {"T_hs": np.full(n, 1000.0)}}
    ax_T, ax_A, _ = fan_chart(ds, reference=ref).axes
    for ax, name in ((ax_T, "T_hs"), (ax_A, "A_hs")):
        line = _line(ax, "PARC (24 runs)")
        np.testing.assert_array_equal(line.get_xdata(), ds["time_ns"].values)
        np.testing.assert_array_equal(line.get_ydata(), ref["PARC (24 runs)"][name])
        assert line.get_linestyle() == "--"
    assert "T only" in [ln.get_label() for ln in ax_T.get_lines()]
    assert "T only" not in [ln.get_label() for ln in ax_A.get_lines()]  # a reference without A_hs is skipped there
    with pytest.raises(DataError, match="has 3 values of T_hs, the forecast 5"):
        fan_chart(ds, reference={"short": {"T_hs": [1.0, 2.0, 3.0]}})


def test_field_snapshots_share_truth_and_mean_scales(ds):
    fig = field_snapshots(ds, "T")
    frames = default_frames(ds.sizes["frame"])
    assert frames == [1, 3, 4]  # spread over the run, last included, the given first frame left out
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3 * len(frames)
    assert [panels[i].get_title() for i in range(3)] == ["truth (simulation)", "forecast mean", "forecast std"]
    truth_im, mean_im, std_im = (panels[i].images[0] for i in range(3))
    assert truth_im.get_clim() == mean_im.get_clim()
    assert std_im.get_clim()[0] == 0
    np.testing.assert_array_equal(np.asarray(mean_im.get_array()), ds["field_mean"].sel(field="T").values[1])
    cbar_labels = {ax.get_ylabel() for ax in fig.axes if not ax.images and ax.get_ylabel()}
    assert {"T [K]", "std of T [K]"} <= cbar_labels
    assert "t = 0.12 ns" in panels[0].get_ylabel()
    assert panels[-1].get_xlabel() == "x [$\\mu$m]"


def test_field_snapshots_without_truth_and_bad_field(ds_no_truth):
    fig = field_snapshots(ds_no_truth, "P", frames=[0, 4])
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 4 and panels[0].get_title() == "forecast mean"
    assert "P [GPa]" in {ax.get_ylabel() for ax in fig.axes}
    with pytest.raises(DataError, match="no field 'rho'"):
        field_snapshots(ds_no_truth, "rho")


def test_reliability_plot_lines_and_axes():
    levels = np.arange(1, 10) / 10
    curves = {"T_hs": (levels, levels ** 0.5, 120), "A_hs": (levels, levels, 80)}
    fig = reliability_plot(curves)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("nominal coverage") and ax.get_ylabel() == "empirical coverage"
    np.testing.assert_array_equal(_line(ax, "$T_\\mathrm{hs}$ (n = 120)").get_ydata(), levels ** 0.5)
    assert _line(ax, "perfect calibration").get_xydata().tolist() == [[0, 0], [1, 1]]
    assert len(ax.collections) == 1 and "n = 80" in ax.collections[0].get_label()


def test_reliability_from_forecasts_draws_the_pit_coverage_and_dashed_the_plain_intervals(ds):
    from probtok.calibration import reliability_curve

    fig = reliability_from_forecasts([ds, ds])
    ax = fig.axes[0]
    assert "2 held-out run(s)" in ax.get_title()
    lines = {ln.get_label(): ln for ln in ax.get_lines() if "hs" in ln.get_label()}
    assert len(lines) == 4
    for q, tex in (("T_hs", "$T_\\mathrm{hs}$"), ("A_hs", "$A_\\mathrm{hs}$")):
        lv, pit, n = reliability_curve([ds, ds], q, randomized=True)
        _, plain, _ = reliability_curve([ds, ds], q)
        np.testing.assert_allclose(lines[f"{tex} (n = {n})"].get_ydata(), pit)
        dashed = lines[f"{tex}, plain intervals"]
        np.testing.assert_allclose(dashed.get_ydata(), plain)
        assert dashed.get_linestyle() == "--" and dashed.get_color() == lines[f"{tex} (n = {n})"].get_color()


def test_pngs_are_written_atomically(ds, tmp_path):
    paths = write_forecast_plots(ds, tmp_path / "plots", fields=["T"])
    assert set(paths) == {"fan", "fields_T"}
    for p in paths.values():
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["run3_fan.png", "run3_fields_T.png"]
    out = save_png(reliability_plot({"T_hs": (np.array([0.5]), np.array([0.4]), 10)}), tmp_path / "rel.png")
    assert out.stat().st_size > 5_000
