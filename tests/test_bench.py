"""`probtok bench fewshot --quick` end to end through the CLI on small synthetic runs: every documented
key of bench.json is there, numbers are finite where they must be and consistent with each other
(per-run RMSEs average to the mean; the summary averages the results; K values as requested), and
bench.md and the PNGs exist."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from probtok.checkpoint import weights_digest
from probtok.cli import main
from probtok.data import write_dataset
from probtok.threads import torch_threads

FIELDS = ("T", "P", "mu", "u", "v")
UNITS = {"T": "K", "P": "GPa", "mu": "1", "u": "km/s", "v": "km/s"}
MICRO_DT, MESO_DT = 0.05, 0.10  # models/tiny.toml: 2 micro steps per meso frame


def fewshot_args(d) -> list[str]:
    """`probtok bench fewshot` on the micro.h5 and meso.h5 of folder ``d`` (the options follow)."""
    return ["bench", "fewshot", "--micro-data", str(d / "micro.h5"), "--meso-data", str(d / "meso.h5")]


def hotspot_runs(n_runs: int, n_frames: int, H: int, W: int, seed: int) -> np.ndarray:
    """Growing Gaussian hot spots (run, frame, field, y, x) in physical units, with a uniform drift velocity."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    out = np.zeros((n_runs, n_frames, len(FIELDS), H, W), np.float32)
    for n in range(n_runs):
        cy, cx = rng.uniform((2, 2), (H - 2, W - 2))
        amp, u0 = rng.uniform(600.0, 900.0), rng.uniform(0.5, 1.5)
        mu = np.clip(1.0 - 0.8 * (((y - cy) ** 2 + (x - cx) ** 2) < 2.0), 0, 1)
        for t in range(n_frames):
            T = 300.0 + amp * 1.1**t * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * (1.0 + 0.1 * t) ** 2))
            out[n, t] = (T, 1.0 + 10.0 * (T - 300.0) / 1000.0, mu, np.full_like(T, u0), np.zeros_like(T))
    return out


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    write_dataset(d / "micro.h5", hotspot_runs(4, 5, 8, 8, 0), np.arange(5) * MICRO_DT, fields=FIELDS, units=UNITS,
                  dx_um=0.1, dt_frame_ns=MICRO_DT, setup="toy", hotspot_threshold_K=700.0)
    write_dataset(d / "meso.h5", hotspot_runs(5, 5, 8, 12, 1), np.arange(5) * MESO_DT, fields=FIELDS, units=UNITS,
                  dx_um=0.1, dt_frame_ns=MESO_DT, setup="toy", hotspot_threshold_K=700.0,
                  params={"wall_s": [1.0, 2.0, 3.0, 4.0, 5.0], "up_kms": [1.0, 1.6, 1.2, 1.1, 1.7]})
    with torch_threads(1):
        rc = main([*fewshot_args(d),
                   "--out", str(d / "out"), "--k", "1,2", "--test-runs", "2", "--quick", "--workers", "2"])
    assert rc == 0
    return d / "out"


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def test_bench_json_has_every_documented_key_with_consistent_numbers(bench_out):
    b = json.loads((bench_out / "bench.json").read_text())
    for key in ("schema", "schema_version", "config", "quick", "machine", "wall_s", "data", "simulator", "micro_fit",
                "parc", "results", "summary", "plots", "fan_run"):
        assert key in b, key
    assert b["machine"]["workers"] == 2 and b["machine"]["torch_threads"] == 1
    assert b["wall_s"] > b["micro_fit"]["wall_s"] > 0 and b["micro_fit"]["task_covariate"] == ""
    assert b["micro_fit"]["fields"] == b["parc"]["state_fields"] == ["T", "P", "mu"]
    assert "Task latent c of a test run: the prior N(0, I)" in (bench_out / "bench.md").read_text()
    assert b["schema"] == "probtok-bench-fewshot" and b["quick"] is True
    assert b["data"]["test_runs"] == [3, 4] and b["data"]["train_pool"] == [0, 1, 2]
    assert b["data"]["k_values"] == [1, 2]
    # the simulator time is the mean of the stored per-run wall_s over the ok runs
    assert b["simulator"]["wall_s_per_run"] == pytest.approx(3.0)
    assert b["parc"]["n_parameters"] > 0 and b["parc"]["epochs"] >= 1
    # PARC's early stopping watches a held-out part of the pool, never the test runs
    assert b["parc"]["val_on"] == "val" and b["parc"]["val_runs"] == [2] and b["parc"]["fit_runs"] == [0, 1]

    models = {(r["model"], r["k"]) for r in b["results"]}
    assert models == {("micro-only", 0), ("adapted", 1), ("adapted", 2), ("scratch", 1), ("scratch", 2), ("parc", 3)}
    # which fitted model each score is of: the weights digests of the fits in the output folder
    digest = {(r["model"], r["k"]): r.get("weights_digest") for r in b["results"]}
    assert b["micro_fit"]["weights_digest"] == weights_digest(b["micro_fit"]["dir"]) == digest[("micro-only", 0)]
    assert digest[("adapted", 2)] == weights_digest(bench_out / "models" / "K2_s0" / "meso-adapt")
    assert len({digest[m] for m in models if m != ("parc", 3)}) == 5
    assert digest[("adapted", 2)] in (bench_out / "bench.md").read_text()
    for r in b["results"]:
        assert len(r["train_runs"]) == r["k"]
        assert set(r["train_runs"]) <= {0, 1, 2}
        for q in ("T_hs", "A_hs", "dT_hs_dt", "dA_hs_dt"):
            blk = r["rmse"][q]
            assert len(blk["per_run"]) == 2 and all(_finite(v) and v >= 0 for v in blk["per_run"])
            assert blk["mean"] == pytest.approx(np.mean(blk["per_run"]))
            # per frame: RMSE over the runs at each scored frame (interval for rates); the given points null.
            # Every run has the same scored points, so the mean square over frames is that over runs.
            start = 2 if q in ("T_hs", "A_hs") else 1
            assert len(blk["per_frame"]) == (5 if q in ("T_hs", "A_hs") else 4)
            assert blk["per_frame"][:start] == [None] * start
            scored = np.asarray(blk["per_frame"][start:], float)
            assert np.all(np.isfinite(scored)) and np.all(scored >= 0)
            assert np.mean(scored**2) == pytest.approx(np.mean(np.square(blk["per_run"])))
        for f in ("T", "P"):
            blk = r["field_rmse"][f]
            assert all(_finite(v) and v > 0 for v in blk["per_run"])
            assert blk["mean"] == pytest.approx(np.mean(blk["per_run"]))
        assert r["field_rmse"]["T"]["units"] == "K" and r["field_rmse"]["P"]["units"] == "GPa"
        assert _finite(r["train_wall_s"]) and r["train_wall_s"] > 0
        assert _finite(r["forecast_wall_s_per_run"]) and r["forecast_wall_s_per_run"] > 0
        if r["probabilistic"]:
            assert r["n_draws"] == 20
            assert r["forecast_wall_s_per_draw"] == pytest.approx(r["forecast_wall_s_per_run"] / 20)
            for q in ("T_hs", "A_hs"):
                assert _finite(r["crps"][q]) and r["crps"][q] >= 0
                for key in ("coverage50", "coverage90", "coverage50_pit", "coverage90_pit"):
                    assert r[key][q] is None or 0.0 <= r[key][q] <= 1.0
        else:
            assert r["crps"] is None and r["forecast_wall_s_per_draw"] is None
    # one subset per K here, so the summary equals the results
    for s in b["summary"]:
        (r,) = [r for r in b["results"] if (r["model"], r["k"]) == (s["model"], s["k"])]
        assert s["rmse_T_hs"] == pytest.approx(r["rmse"]["T_hs"]["mean"])
        assert s["field_rmse_P"] == pytest.approx(r["field_rmse"]["P"]["mean"])


def test_bench_writes_markdown_and_plots(bench_out):
    b = json.loads((bench_out / "bench.json").read_text())
    assert set(b["plots"]) == {"error_vs_k", "error_vs_time", "reliability", "fan_adapted", "fan_scratch",
                               "fan_micro-only"}
    for p in b["plots"].values():
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    md = (bench_out / "bench.md").read_text()
    for model in ("adapted", "scratch", "micro-only", "parc"):
        assert f"| {model} |" in md
    assert "error_vs_k.png" in md


def test_bench_rejects_a_k_larger_than_the_training_pool(bench_out, capsys):
    d = bench_out.parent
    rc = main([*fewshot_args(d),
               "--out", str(d / "out2"), "--k", "4", "--test-runs", "2", "--quick"])
    assert rc != 0
    assert "exceeds the 3 training runs" in capsys.readouterr().err


def test_bench_rmse_matches_an_independent_recomputation_from_the_forecast_file(bench_out):
    from probtok.forecast import read_forecast

    b = json.loads((bench_out / "bench.json").read_text())
    (r,) = [r for r in b["results"] if (r["model"], r["k"]) == ("adapted", 1)]
    sq_err = []
    for i, run in enumerate(b["data"]["test_runs"]):
        ds = read_forecast(bench_out / "forecasts" / "adapted" / "K1_s0" / f"run_{run:04d}.nc")
        m = b["config"]["first_frames"]
        assert m == 2 and int(ds.attrs["first_frames"]) == m
        # scored: frames t >= m (the forecast), and the rate intervals k >= m - 1 (those ending on them)
        for q, k0 in (("T_hs", m), ("dA_hs_dt", m - 1)):
            med = np.median(ds[f"{q}_draws"].values, axis=0)[k0:]
            assert r["rmse"][q]["per_run"][i] == pytest.approx(
                np.sqrt(np.mean((med - ds[f"{q}_truth"].values[k0:]) ** 2)))
        sq_err.append((np.median(ds["T_hs_draws"].values, axis=0) - ds["T_hs_truth"].values)[m:] ** 2)
        err = (ds["field_truth"].sel(field="T").values - ds["field_mean"].sel(field="T").values)[m:]  # mean of draws
        assert r["field_rmse"]["T"]["per_run"][i] == pytest.approx(float(np.sqrt(np.mean(err.astype(float) ** 2))),
                                                                   rel=1e-5)
    np.testing.assert_allclose(r["rmse"]["T_hs"]["per_frame"][2:], np.sqrt(np.mean(sq_err, axis=0)), rtol=1e-6)


def test_reliability_curves_agree_with_the_coverages_and_pool_subsets_by_their_points(bench_out):
    from probtok.bench import pooled_reliability, reliability_figure

    b = json.loads((bench_out / "bench.json").read_text())
    for r in b["results"]:
        if not r["probabilistic"]:
            assert "reliability" not in r
            continue
        for q in ("T_hs", "A_hs"):
            rel = r["reliability"][q]
            assert rel["levels"] == pytest.approx([0.1 * i for i in range(1, 10)])
            for level, key in ((0.5, "coverage50"), (0.9, "coverage90")):
                assert rel["coverage"][rel["levels"].index(pytest.approx(level))] == pytest.approx(r[key][q])
                assert rel["coverage_pit"][rel["levels"].index(pytest.approx(level))] == pytest.approx(
                    r[key + "_pit"][q])  # the same seeded randomized PIT
    # two subsets of one K pool as all their points together: weights = numbers of points
    a = {"model": "adapted", "k": 4, "reliability": {"T_hs": {"levels": [0.5, 0.9], "coverage": [0.2, 0.6],
                                                              "n_points": 30}}}
    c = {"model": "adapted", "k": 4, "reliability": {"T_hs": {"levels": [0.5, 0.9], "coverage": [0.5, 1.0],
                                                              "n_points": 10}}}
    lv, cov, n = pooled_reliability([a, c], "adapted", 4, "T_hs")
    np.testing.assert_allclose(cov, [(0.2 * 30 + 0.5 * 10) / 40, (0.6 * 30 + 1.0 * 10) / 40])
    assert n == 40 and pooled_reliability([a, c], "scratch", 4, "T_hs") is None
    ax_T = reliability_figure(b["results"]).axes[0]
    (line,) = [ln for ln in ax_T.get_lines() if ln.get_label().startswith("adapted, K = 1 ")]
    (r1,) = [r for r in b["results"] if (r["model"], r["k"]) == ("adapted", 1)]
    expected = [np.nan if v is None else v for v in r1["reliability"]["T_hs"]["coverage_pit"]]
    np.testing.assert_allclose(line.get_ydata(), expected)  # the PIT coverage
    assert "randomized" in ax_T.get_xlabel()
    for r in b["results"]:  # a record from before the PIT coverage: the plain intervals' curves
        for rel in (r.get("reliability") or {}).values():
            rel.pop("coverage_pit")
    ax_T = reliability_figure(b["results"]).axes[0]
    (line,) = [ln for ln in ax_T.get_lines() if ln.get_label().startswith("adapted, K = 1 ")]
    expected = [np.nan if v is None else v for v in r1["reliability"]["T_hs"]["coverage"]]
    np.testing.assert_allclose(line.get_ydata(), expected)
    assert "randomized" not in ax_T.get_xlabel()


def test_fan_run_is_the_test_run_with_the_largest_final_hot_spot_area(tmp_path):
    from probtok.bench import fan_run

    x = np.full((3, 2, len(FIELDS), 8, 8), 300.0, np.float32)
    x[0, 1, 0, :1, :2] = 900.0  # 2 hot cells at the last frame
    x[1, 1, 0, :2, :3] = 900.0  # 6
    x[2, 1, 0, 2:4, :3] = 950.0  # 6 (a tie with run 1)
    x[0, 0, 0] = 900.0  # the earlier frame does not count
    write_dataset(tmp_path / "m.h5", x, np.arange(2) * MESO_DT, fields=FIELDS, units=UNITS, dx_um=0.1,
                  dt_frame_ns=MESO_DT, setup="toy", hotspot_threshold_K=700.0)
    assert fan_run(tmp_path / "m.h5", [0, 1, 2]) == 1
    assert fan_run(tmp_path / "m.h5", [2, 1, 0]) == 2
    assert fan_run(tmp_path / "m.h5", [0]) == 0


def test_error_vs_time_draws_the_per_frame_rmse_pooled_over_subsets(bench_out):
    from probtok.bench import error_vs_time_figure, pooled_per_frame

    b = json.loads((bench_out / "bench.json").read_text())
    times = np.arange(5) * MESO_DT
    ax_T = error_vs_time_figure(b["results"], times).axes[0]
    for model, k in (("adapted", 1), ("adapted", 2), ("micro-only", 0), ("parc", 3)):
        (r,) = [r for r in b["results"] if (r["model"], r["k"]) == (model, k)]
        (line,) = [ln for ln in ax_T.get_lines() if ln.get_label() == f"{model}, K = {k}"]
        expected = [np.nan if v is None else v for v in r["rmse"]["T_hs"]["per_frame"]]
        np.testing.assert_allclose(line.get_ydata(), expected)
        np.testing.assert_allclose(line.get_xdata(), times)
    # two subsets of one K: the root of the mean of the squares, frame by frame
    a = {"model": "adapted", "k": 4, "rmse": {"T_hs": {"per_frame": [None, 3.0, 4.0]}}}
    c = {"model": "adapted", "k": 4, "rmse": {"T_hs": {"per_frame": [None, 4.0, 0.0]}}}
    np.testing.assert_allclose(pooled_per_frame([a, c], "adapted", 4, "T_hs"), [np.nan, np.sqrt(12.5), np.sqrt(8.0)])
    assert pooled_per_frame([a, c], "scratch", 4, "T_hs") is None


def test_parc_series_in_bench_json_are_its_scored_forecast_and_drawn_on_the_fan_charts(bench_out):
    from probtok.bench import parc_reference
    from probtok.forecast import read_forecast
    from probtok.plots import fan_chart

    b = json.loads((bench_out / "bench.json").read_text())
    (parc,) = [r for r in b["results"] if r["model"] == "parc"]
    series, m = b["parc"]["series"], b["config"]["first_frames"]
    assert series["runs"] == b["data"]["test_runs"]
    for i, run in enumerate(series["runs"]):
        truth = read_forecast(bench_out / "forecasts" / "micro-only" / f"run_{run:04d}.nc")
        for q in ("T_hs", "A_hs"):
            s = np.asarray(series[q][i])
            assert s.shape == truth[f"{q}_truth"].shape
            np.testing.assert_allclose(s[: m - 1], truth[f"{q}_truth"].values[: m - 1], rtol=1e-5)  # given frames
            # the stored series is the forecast that was scored: its RMSE against the truth is PARC's
            err = s[m:] - truth[f"{q}_truth"].values[m:]
            assert parc["rmse"][q]["per_run"][i] == pytest.approx(float(np.sqrt(np.mean(err**2))), rel=1e-5)
    # the fan charts show the test run with the largest hot-spot area at the last frame of the truth
    final_area = {run: float(read_forecast(bench_out / "forecasts" / "micro-only" / f"run_{run:04d}.nc")
                             ["A_hs_truth"].values[-1]) for run in series["runs"]}
    assert len(set(final_area.values())) == 2 and b["fan_run"] == max(final_area, key=final_area.get)
    fc = read_forecast(bench_out / "forecasts" / "micro-only" / f"run_{b['fan_run']:04d}.nc")
    ref = parc_reference(b["parc"], fc.attrs["run_id"])
    assert list(ref) == ["PARC (3 runs)"]
    ax_T = fan_chart(fc, reference=ref).axes[0]
    (line,) = [ln for ln in ax_T.get_lines() if ln.get_label() == "PARC (3 runs)"]
    np.testing.assert_array_equal(line.get_ydata(), series["T_hs"][series["runs"].index(b["fan_run"])])
    assert parc_reference(b["parc"], 99) is None


def test_a_trained_parc_is_rescored_identically_and_refused_on_another_split(bench_out):
    from probtok.bench import quick_config, run_parc
    from probtok.errors import ConfigError

    d = bench_out.parent
    b = json.loads((bench_out / "bench.json").read_text())
    (trained,) = [r for r in b["results"] if r["model"] == "parc"]
    cfg = quick_config(test_runs=2)
    entry, info = run_parc(d / "meso.h5", [0, 1, 2], [3, 4], d / "rescore", cfg, ["T", "P", "mu"],
                           trained=bench_out / "parc" / "parc.pt")
    for q in ("T_hs", "A_hs"):
        assert entry["rmse"][q]["per_run"] == pytest.approx(trained["rmse"][q]["per_run"], rel=1e-6)
    assert info["epochs"] == b["parc"]["epochs"] and info["trained_by"].endswith("parc.pt")
    assert not (d / "rescore" / "parc").exists()  # scored, not retrained
    with pytest.raises(ConfigError, match="not on meso.h5 runs"):  # another validation split
        run_parc(d / "meso.h5", [0, 1, 2], [3, 4], d / "rescore", quick_config(test_runs=2, parc_val_runs=0),
                 ["T", "P", "mu"], trained=bench_out / "parc" / "parc.pt")


def test_a_model_whose_forecasts_fail_is_recorded_and_the_benchmark_goes_on(bench_out, monkeypatch):
    import probtok.bench as bench_mod
    from probtok.errors import DataError

    real = bench_mod.run_forecasts

    def diverging_scratch(model_dir, meso, test_runs, out_dir, cfg, progress=False):
        if "meso-scratch" in str(model_dir):
            raise DataError("3 draw(s) hold non-finite values (first: draw 0, frame 4)", run=test_runs[0])
        return real(model_dir, meso, test_runs, out_dir, cfg, progress)

    monkeypatch.setattr(bench_mod, "run_forecasts", diverging_scratch)
    d = bench_out.parent
    rc = main([*fewshot_args(d),
               "--out", str(d / "out_failed"), "--k", "1", "--test-runs", "2", "--quick", "--workers", "1"])
    assert rc == 0
    b = json.loads((d / "out_failed" / "bench.json").read_text())
    assert [(f["model"], f["k"]) for f in b["failed"]] == [("scratch", 1)]
    assert "non-finite" in b["failed"][0]["error"]
    assert {r["model"] for r in b["results"]} == {"micro-only", "adapted", "parc"}
    assert "FAILED (not scored): scratch K=1" in (d / "out_failed" / "bench.md").read_text()


def test_an_interrupted_benchmark_reuses_complete_fits_and_forecasts_with_their_recorded_times(bench_out):
    d = bench_out.parent
    b0 = json.loads((bench_out / "bench.json").read_text())
    kept = [bench_out / "models" / "K1_s0" / "meso-adapt" / "checkpoint.pt",
            bench_out / "models" / "K2_s0" / "meso-scratch" / "checkpoint.pt",
            bench_out / "forecasts" / "adapted" / "K1_s0" / "run_0003.nc"]
    mtimes = [p.stat().st_mtime_ns for p in kept]
    rc = main([*fewshot_args(d),
               "--out", str(bench_out), "--k", "1,2", "--test-runs", "2", "--quick"])
    assert rc == 0
    assert [p.stat().st_mtime_ns for p in kept] == mtimes  # reused, not rewritten
    b1 = json.loads((bench_out / "bench.json").read_text())
    for r0, r1 in zip(b0["results"], b1["results"]):
        assert (r0["model"], r0["k"]) == (r1["model"], r1["k"])
        if r0["model"] in ("adapted", "scratch"):
            assert r1["rmse"]["T_hs"]["per_run"] == r0["rmse"]["T_hs"]["per_run"]  # the same forecasts
            # the times the first run measured, recorded beside the fits and forecasts (not ~0)
            assert r1["train_wall_s"] == r0["train_wall_s"] > 0
            assert r1["forecast_wall_s_per_run"] == r0["forecast_wall_s_per_run"] > 0
    assert b1["micro_fit"]["wall_s"] == b0["micro_fit"]["wall_s"] > 0


def test_a_model_with_a_task_covariate_forecasts_test_runs_from_their_run_parameter(bench_out, tmp_path):
    from pathlib import Path

    from probtok.forecast import read_forecast

    d = bench_out.parent
    tiny = (Path(__file__).parents[1] / "models" / "tiny.toml").read_text()
    config = tmp_path / "tiny_cov.toml"
    config.write_text(tiny.replace("[meso]\n", '[meso]\ntask_covariate = "up_kms"\n', 1))
    rc = main([*fewshot_args(d),
               "--out", str(tmp_path / "out"), "--k", "1", "--test-runs", "2", "--quick", "--workers", "1",
               "--config", str(config)])
    assert rc == 0
    b = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert b["micro_fit"]["task_covariate"] == "up_kms"
    assert "p(c | its up_kms)" in (tmp_path / "out" / "bench.md").read_text()
    for model in ("adapted", "scratch"):  # run 4 has up_kms = 1.7
        fc = read_forecast(tmp_path / "out" / "forecasts" / model / "K1_s0" / "run_0004.nc")
        assert fc.attrs["task_latent"] == "p(c | up_kms = 1.7) (the model's task covariate)", model


def test_a_model_with_the_velocity_as_a_field_is_compared_with_the_same_parc(bench_out, tmp_path):
    """PARC carries u and v as its velocity, apart from its state fields: a token model with u among its
    fields (as models/tiny-up-u.toml) is scored against the same PARC, on T, P and mu."""
    from pathlib import Path

    d = bench_out.parent
    tiny = (Path(__file__).parents[1] / "models" / "tiny.toml").read_text()
    config = tmp_path / "tiny_u.toml"
    config.write_text(tiny.replace('fields = ["T", "P", "mu"]', 'fields = ["T", "P", "mu", "u"]', 1))
    assert config.read_text() != tiny
    rc = main([*fewshot_args(d),
               "--out", str(tmp_path / "out"), "--k", "1", "--test-runs", "2", "--quick", "--workers", "1",
               "--config", str(config), "--parc-model", str(bench_out / "parc" / "parc.pt")])
    assert rc == 0
    b0 = json.loads((bench_out / "bench.json").read_text())
    b = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert b["micro_fit"]["fields"] == ["T", "P", "mu", "u"]
    assert b["parc"]["state_fields"] == ["T", "P", "mu"]
    (p0,), (p1,) = ([r for r in bb["results"] if r["model"] == "parc"] for bb in (b0, b))
    for q in ("T_hs", "A_hs"):
        assert p1["rmse"][q]["per_run"] == pytest.approx(p0["rmse"][q]["per_run"], rel=1e-6)


def test_a_copied_benchmark_folder_reuses_its_fits_and_forecasts(bench_out, tmp_path):
    """Forecasts name their model by checkpoint content, not by path: a copy (new paths, new mtimes in copy
    order) is reused whole, scores and recorded times alike."""
    import shutil

    d = bench_out.parent
    copy = tmp_path / "copied"
    shutil.copytree(bench_out, copy, copy_function=shutil.copy)
    kept = sorted((copy / "forecasts").rglob("*.nc")) + sorted((copy / "models").rglob("checkpoint.pt"))
    mtimes = [p.stat().st_mtime_ns for p in kept]
    rc = main([*fewshot_args(d),
               "--out", str(copy), "--k", "1,2", "--test-runs", "2", "--quick", "--workers", "1"])
    assert rc == 0
    assert [p.stat().st_mtime_ns for p in kept] == mtimes  # reused, not rewritten
    b0 = json.loads((bench_out / "bench.json").read_text())
    b1 = json.loads((copy / "bench.json").read_text())
    for r0, r1 in zip(b0["results"], b1["results"]):
        assert (r0["model"], r0["k"], r0["rmse"]) == (r1["model"], r1["k"], r1["rmse"])
        if r0["model"] != "parc":  # (PARC's deterministic rollouts are cheap and always redone)
            assert r1["forecast_wall_s_per_run"] == r0["forecast_wall_s_per_run"]


def test_the_numbers_do_not_depend_on_how_many_workers_ran_the_jobs(bench_out):
    """The fixture ran the jobs on 2 worker processes; one after the other in this process, into a fresh
    folder, every fit and forecast is redone and every score is the same."""
    d = bench_out.parent
    rc = main([*fewshot_args(d),
               "--out", str(d / "out_serial"), "--k", "1,2", "--test-runs", "2", "--quick", "--workers", "1"])
    assert rc == 0
    par = json.loads((bench_out / "bench.json").read_text())
    ser = json.loads((d / "out_serial" / "bench.json").read_text())
    assert ser["machine"]["workers"] == 1
    assert [(r["model"], r["k"], r["train_runs"]) for r in ser["results"]] == \
        [(r["model"], r["k"], r["train_runs"]) for r in par["results"]]
    for rs, rp in zip(ser["results"], par["results"]):
        for q in ("T_hs", "A_hs", "dT_hs_dt"):
            assert rs["rmse"][q]["per_run"] == pytest.approx(rp["rmse"][q]["per_run"], rel=1e-6), (rs["model"], q)
        assert rs["field_rmse"]["P"]["per_run"] == pytest.approx(rp["field_rmse"]["P"]["per_run"], rel=1e-6)
        if rs["probabilistic"]:
            assert rs["crps"] == pytest.approx(rp["crps"], rel=1e-6)


def test_bench_names_a_model_config_that_does_not_exist(bench_out, capsys):
    d = bench_out.parent
    rc = main([*fewshot_args(d),
               "--out", str(d / "out_noconfig"), "--k", "1", "--test-runs", "2", "--quick", "--config", "nope.toml"])
    assert rc != 0
    assert "nope.toml" in capsys.readouterr().err
    assert not (d / "out_noconfig" / "micro-fit").exists()


def test_default_workers_are_limited_by_cpus_jobs_and_memory(monkeypatch):
    import os

    from probtok.bench import WORKER_MEMORY_BYTES, default_workers

    page = 4096
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sysconf", lambda name: page if name == "SC_PAGE_SIZE" else 64 * 2**30 // page)
    assert default_workers(13) == 64 * 2**30 // WORKER_MEMORY_BYTES == 6  # 64 GB: memory decides
    assert default_workers(3) == 3  # never more workers than jobs
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert default_workers(13) == 2  # the CI machine: 2 CPUs
    monkeypatch.setattr(os, "sysconf", lambda name: page if name == "SC_PAGE_SIZE" else 4 * 2**30 // page)
    assert default_workers(13) == 1  # 4 GB: one worker, never zero


def test_several_training_subsets_are_averaged_and_each_is_listed(bench_out):
    from probtok.bench import _fmt

    d = bench_out.parent
    rc = main([*fewshot_args(d),
               "--out", str(d / "out_subsets"), "--k", "1", "--subsets", "2", "--test-runs", "2", "--quick",
               "--workers", "1"])
    assert rc == 0
    b = json.loads((d / "out_subsets" / "bench.json").read_text())
    md = (d / "out_subsets" / "bench.md").read_text()
    for model in ("adapted", "scratch"):
        rs = [r for r in b["results"] if r["model"] == model]
        assert [r["subset"] for r in rs] == [0, 1] and rs[0]["train_runs"] != rs[1]["train_runs"]
        row = next(s for s in b["summary"] if s["model"] == model)
        assert row["n_subsets"] == 2
        assert row["rmse_A_hs"] == pytest.approx(np.mean([r["rmse"]["A_hs"]["mean"] for r in rs]))
        assert row["coverage50_T_hs"] == pytest.approx(np.mean([r["coverage50"]["T_hs"] for r in rs]))
        assert row["coverage90_pit_A_hs"] == pytest.approx(np.mean([r["coverage90_pit"]["A_hs"] for r in rs]))
        for r in rs:  # each subset's row in bench.md, with its own numbers
            assert (f"| {model} | 1 | {r['subset']} | {r['train_runs']} | {_fmt(r['rmse']['T_hs']['mean'])} | "
                    f"{_fmt(r['rmse']['A_hs']['mean'])} |") in md
            assert (f"| {_fmt(r['coverage90']['A_hs'])} | {_fmt(r['coverage50']['T_hs'])} | "
                    f"{_fmt(r['coverage50']['A_hs'])} | {_fmt(r['coverage90_pit']['T_hs'])} | "
                    f"{_fmt(r['coverage90_pit']['A_hs'])} | {_fmt(r['coverage50_pit']['T_hs'])} | "
                    f"{_fmt(r['coverage50_pit']['A_hs'])} |") in md
    assert "| micro-only | 0 | 0 |" not in md  # one subset: no per-subset row
    assert "adapted K=1 subset 1: " in md  # forecast times name the subset
    from probtok.bench import bench_markdown

    gone = next(r for r in b["results"] if r["model"] == "scratch" and r["subset"] == 1)
    b["results"].remove(gone)  # as if its forecasts had failed: still listed, as failed
    b["failed"] = [{k: gone[k] for k in ("model", "k", "subset", "train_runs")} | {"error": "diverged"}]
    assert f"| scratch | 1 | 1 | {gone['train_runs']} | failed (see below) |" in bench_markdown(b)
    # a stratified benchmark lists each subset's values of the parameter beside its runs
    b["config"]["stratify"] = "up_kms"
    b["data"]["stratify_values"] = {str(r): 1.0 + 0.125 * r for r in b["data"]["train_pool"]}
    kept = next(r for r in b["results"] if r["model"] == "adapted" and r["subset"] == 1)
    ups = ", ".join(f"{1.0 + 0.125 * t:.3g}" for t in kept["train_runs"])
    assert f"| adapted | 1 | 1 | {kept['train_runs']} (up_kms {ups}) |" in bench_markdown(b)
    # a record from before the PIT coverage still renders, its PIT columns "n/a"
    from probtok.bench import summarize_results

    for r in b["results"]:
        for key in ("coverage50_pit", "coverage90_pit", "coverage50_pit_range", "coverage90_pit_range"):
            r.pop(key, None)
    b["summary"] = summarize_results(b["results"])
    old = bench_markdown(b)
    assert f"| {_fmt(kept['coverage50']['A_hs'])} | n/a | n/a | n/a | n/a |" in old


def test_a_parc_rollout_that_diverges_is_recorded_as_failed_not_scored(bench_out, monkeypatch):
    import probtok.baselines as baselines

    real = baselines.load_parc

    def diverging(*args, **kwargs):  # the trained PARC, whose rollout overflows on the second test run
        model, hist = real(*args, **kwargs)
        rollout = model.rollout

        def bad_rollout(x0, v0, n, dt):
            px, pv = rollout(x0, v0, n, dt)
            px[1, -1] = float("inf")
            return px, pv

        model.rollout = bad_rollout
        return model, hist

    monkeypatch.setattr(baselines, "load_parc", diverging)
    d = bench_out.parent
    rc = main([*fewshot_args(d),
               "--out", str(d / "out_parc_failed"), "--k", "1", "--test-runs", "2", "--quick", "--workers", "1",
               "--parc-model", str(bench_out / "parc" / "parc.pt")])
    assert rc == 0
    b = json.loads((d / "out_parc_failed" / "bench.json").read_text(), parse_constant=pytest.fail)
    (failed,) = b["failed"]
    assert failed["model"] == "parc" and "test run(s) [4]" in failed["error"]
    assert "parc" not in {r["model"] for r in b["results"]} | {s["model"] for s in b["summary"]}
    assert "FAILED (not scored): parc" in (d / "out_parc_failed" / "bench.md").read_text()


def test_an_ensemble_benchmark_pools_fits_of_successive_seeds_member_0_being_the_single_model(bench_out, tmp_path):
    """--ensemble 2: two micro fits (the config's seed, and + 1), each adapted; two from-scratch fits (seeds
    likewise); every forecast pools its model's two fits exactly as `probtok.predict` does given them."""
    from probtok.calibration import calibration_table
    from probtok.forecast import read_forecast
    from probtok.predict import forecast_files

    d = bench_out.parent
    out = d / "out_ensemble"
    rc = main([*fewshot_args(d),
               "--out", str(out), "--k", "1", "--test-runs", "2", "--quick", "--workers", "2", "--ensemble", "2",
               "--draws", "21"])
    assert rc == 0
    b = json.loads((out / "bench.json").read_text())
    single = json.loads((bench_out / "bench.json").read_text())
    members = b["micro_fit"]["members"]
    assert [m["seed"] for m in members] == [0, 1]  # models/tiny.toml: [fit] seed = 0
    assert [m["dir"] for m in members] == [str(out / "micro-fit"), str(out / "micro-fit-m1")]
    # member 0 is the single-model benchmark's fit, bit for bit; member 1 another fit
    assert members[0]["weights_digest"] == single["micro_fit"]["weights_digest"] != members[1]["weights_digest"]
    assert weights_digest(out / "models" / "K1_s0" / "meso-adapt") == weights_digest(
        bench_out / "models" / "K1_s0" / "meso-adapt")
    res = {r["model"]: r for r in b["results"]}
    dirs = {"micro-only": [out / "micro-fit", out / "micro-fit-m1"],
            "adapted": [out / "models" / "K1_s0" / "meso-adapt", out / "models" / "K1_s0" / "meso-adapt-m1"],
            "scratch": [out / "models" / "K1_s0" / "meso-scratch", out / "models" / "K1_s0" / "meso-scratch-m1"]}
    for model, ds in dirs.items():
        r = res[model]
        assert r["ensemble_size"] == 2 and r["n_draws"] == 21 and len(r["rollout_noise"]) == 2
        assert r["weights_digest"] == ",".join(weights_digest(p) for p in ds)
        sub = "" if model == "micro-only" else "K1_s0"
        fc = read_forecast(out / "forecasts" / model / sub / "run_0003.nc")
        assert (fc.attrs["ensemble_size"], fc.attrs["ensemble_draws"]) == (2, "11, 10")
        # the scores are those of the library's own ensemble forecast of the same members, made again here
        again = forecast_files(ds, d / "meso.h5", [3, 4], tmp_path / model, first_frames=2, n_draws=21, seed=0,
                               plots=False, progress=False)
        table = calibration_table([read_forecast(again[r]) for r in (3, 4)], quantities=("T_hs", "A_hs"))
        for q in ("T_hs", "A_hs"):
            assert r["crps"][q] == pytest.approx(table["quantities"][q]["crps"], rel=1e-9)
            assert r["coverage90"][q] == table["quantities"][q]["coverage"]["0.9"]
            assert r["coverage50_pit"][q] == table["quantities"][q]["coverage_pit"]["0.5"]  # same seeded PIT
    assert len({res[m]["weights_digest"] for m in dirs}) == 3
    # each member's training-run CRPS (None here: K = 1 is too few runs to choose kappa on); not for micro only
    from probtok.checkpoint import load_checkpoint
    from probtok.divergence import final_loss
    from probtok.rollout_noise import training_crps

    for model in ("adapted", "scratch"):
        ckpts = [load_checkpoint(p) for p in dirs[model]]
        assert res[model]["training_crps_T_hs"] == [training_crps(c["meta"]) for c in ckpts]
        # and each member's final loss (median of its last 10 steps), a finite number unlike the CRPS here
        losses = [final_loss(c) for c in ckpts]
        assert res[model]["final_loss_per_run_frame"] == losses and all(map(math.isfinite, losses))
    assert "training_crps_T_hs" not in res["micro-only"] and "final_loss_per_run_frame" not in res["micro-only"]
    # two members, frozen theta: nothing is adapted again (readapt_diverged needs theta "prior" and 3 members)
    assert res["adapted"]["readapted"] == [] and "readapted" not in res["scratch"]
    assert len(set(res["scratch"]["weights_digest"].split(","))) == 2  # the two scratch seeds differ
    # an ensemble's training time is all its fits'
    assert res["micro-only"]["train_wall_s"] == pytest.approx(sum(m["wall_s"] for m in members))
    md = (out / "bench.md").read_text()
    assert "ensemble of 2 fits" in md and members[1]["weights_digest"] in md
    # re-run one after the other in this process: every fit and forecast reused, the same numbers
    kept = sorted(out.rglob("checkpoint.pt")) + sorted((out / "forecasts").rglob("*.nc"))
    mtimes = [p.stat().st_mtime_ns for p in kept]
    rc = main([*fewshot_args(d),
               "--out", str(out), "--k", "1", "--test-runs", "2", "--quick", "--workers", "1", "--ensemble", "2",
               "--draws", "21"])
    assert rc == 0
    assert [p.stat().st_mtime_ns for p in kept] == mtimes
    again = json.loads((out / "bench.json").read_text())
    assert [(r["model"], r["rmse"]) for r in again["results"]] == [(r["model"], r["rmse"]) for r in b["results"]]


def test_an_ensemble_with_too_few_draws_is_refused_before_any_fit(bench_out, capsys):
    d = bench_out.parent
    rc = main([*fewshot_args(d),
               "--out", str(d / "out_few"), "--k", "1", "--test-runs", "2", "--quick", "--ensemble", "3",
               "--draws", "5"])
    assert rc != 0
    err = capsys.readouterr().err
    assert "5 draws for 3 models" in err and "at least 6" in err
    assert not (d / "out_few" / "micro-fit").exists()


def test_every_coverage_has_its_range_over_the_test_runs(bench_out):
    from probtok.calibration import run_coverage_range

    b = json.loads((bench_out / "bench.json").read_text())
    md = (bench_out / "bench.md").read_text()
    for r in b["results"]:
        if not r["probabilistic"]:
            assert "coverage90_range" not in r
            continue
        for c in ("coverage50", "coverage90"):
            for q in ("T_hs", "A_hs"):
                assert r[c + "_range"][q] == pytest.approx(run_coverage_range(r[c][q], 2))  # 2 test runs
                assert r[c + "_pit_range"][q] == pytest.approx(run_coverage_range(r[c + "_pit"][q], 2))
    assert "Coverages with their 90 % ranges (the 2 test runs as the sample" in md
    r = next(r for r in b["results"] if r["probabilistic"])
    lo, hi = r["coverage90_pit_range"]["T_hs"]
    assert f"T_hs {r['coverage90']['T_hs']:.2f}" in md and f"(PIT {r['coverage90_pit']['T_hs']:.2f} [{lo:.2f}-{hi:.2f}])" in md


def test_parc_scores_runs_of_another_file_with_its_own_normaliser(bench_out, tmp_path):
    """The benchmark's test runs 3 and 4 written alone into a new file (whose min-max normaliser differs):
    PARC scored there with the normaliser it was trained with gives the benchmark's scores."""
    from probtok.baselines import load_parc
    from probtok.bench import score_parc
    from probtok.data import open_dataset

    d = bench_out.parent
    write_dataset(tmp_path / "two.h5", hotspot_runs(5, 5, 8, 12, 1)[3:], np.arange(5) * MESO_DT, fields=FIELDS,
                  units=UNITS, dx_um=0.1, dt_frame_ns=MESO_DT, setup="toy", hotspot_threshold_K=700.0)
    with open_dataset(tmp_path / "two.h5") as a, open_dataset(d / "meso.h5") as b:
        assert not np.allclose(a.normaliser("minmax", list(FIELDS)).shift, b.normaliser("minmax", list(FIELDS)).shift)
    b = json.loads((bench_out / "bench.json").read_text())
    (parc,) = [r for r in b["results"] if r["model"] == "parc"]
    sc = score_parc(load_parc(bench_out / "parc" / "parc.pt"), tmp_path / "two.h5", [0, 1], 2, ("T", "P", "mu"))
    assert sc["diverged"] == []
    for q in ("T_hs", "A_hs", "dT_hs_dt"):
        assert sc["rmse"][q]["per_run"] == pytest.approx(parc["rmse"][q]["per_run"], rel=1e-5, abs=1e-9), q
    assert sc["field_rmse"]["P"]["per_run"] == pytest.approx(parc["field_rmse"]["P"]["per_run"], rel=1e-4)
    np.testing.assert_allclose(sc["series"]["T_hs"], b["parc"]["series"]["T_hs"], rtol=1e-5)


def _scores(r: dict) -> dict:
    keys = ("rmse", "field_rmse", "crps", "coverage50", "coverage90", "weights_digest", "rollout_noise")
    return {k: r.get(k) for k in keys}


def test_rescore_on_the_benchmarks_own_test_runs_gives_its_scores(bench_out, tmp_path):
    """`probtok bench rescore` with the benchmark's meso file and test runs: the fitted models found from the
    folder, forecast with the benchmark's settings and seeds, give exactly the benchmark's scores (PARC's
    too), in a record of the bench.json schema with a rescore.md and plots."""
    d = bench_out.parent
    out = tmp_path / "again"
    assert main(["bench", "rescore", "--bench", str(bench_out), "--data", str(d / "meso.h5"), "--runs", "3-4",
                 "--out", str(out), "--workers", "1"]) == 0
    b = json.loads((bench_out / "bench.json").read_text())
    r = json.loads((out / "rescore.json").read_text())
    assert r["schema"] == b["schema"] and r["data"]["test_runs"] == [3, 4]
    assert r["data"]["test_data"] == str(d / "meso.h5") and r["rescored"]["bench"] == str(bench_out)
    assert [(e["model"], e["k"], e["subset"]) for e in r["results"]] == \
        [(e["model"], e["k"], e["subset"]) for e in b["results"]]
    for mine, theirs in zip(r["results"], b["results"]):
        if mine["model"] == "parc":  # its own normaliser against the training file's: the same up to rounding
            for q in ("T_hs", "A_hs", "dT_hs_dt", "dA_hs_dt"):
                assert mine["rmse"][q]["per_run"] == pytest.approx(theirs["rmse"][q]["per_run"], rel=1e-5, abs=1e-9)
        else:
            assert _scores(mine) == _scores(theirs), mine["model"]
        assert mine["train_wall_s"] == pytest.approx(theirs["train_wall_s"])
    probabilistic = [s for s in b["summary"] if s["model"] != "parc"]
    assert [s for s in r["summary"] if s["model"] != "parc"] == probabilistic
    md = (out / "rescore.md").read_text()
    assert md.startswith("# probtok bench rescore") and "scored on runs [3, 4]" in md
    assert all((out / f"{name}.png").exists() for name in ("error_vs_k", "reliability", "error_vs_time"))
    assert (out / "forecasts" / "adapted" / "K2_s0" / "run_0004.nc").exists()


def test_rescore_scores_the_runs_of_another_file_and_refuses_what_is_missing(bench_out, tmp_path, capsys):
    """Three new runs in another file: every model is scored on all three (Dask workers), each forecast of
    that file's runs; a missing benchmark record, model folder or run is one clear error before any work."""
    from probtok.forecast import read_forecast

    write_dataset(tmp_path / "new.h5", hotspot_runs(3, 5, 8, 12, 7), np.arange(5) * MESO_DT, fields=FIELDS,
                  units=UNITS, dx_um=0.1, dt_frame_ns=MESO_DT, setup="toy", hotspot_threshold_K=700.0)
    out = tmp_path / "new"
    assert main(["bench", "rescore", "--bench", str(bench_out), "--data", str(tmp_path / "new.h5"),
                 "--out", str(out), "--workers", "2"]) == 0
    r = json.loads((out / "rescore.json").read_text())
    assert r["data"]["test_runs"] == [0, 1, 2] and r["machine"]["workers"] == 2
    assert {e["model"] for e in r["results"]} == {"micro-only", "adapted", "scratch", "parc"}
    for e in r["results"]:
        assert len(e["rmse"]["T_hs"]["per_run"]) == 3
    fc = read_forecast(out / "forecasts" / "micro-only" / "run_0002.nc")
    assert fc.attrs["data"] == str(tmp_path / "new.h5") and fc.attrs["run_id"] == 2
    capsys.readouterr()
    assert main(["bench", "rescore", "--bench", str(tmp_path), "--data", str(tmp_path / "new.h5"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "no bench.json: not a finished benchmark folder" in capsys.readouterr().err
    assert main(["bench", "rescore", "--bench", str(bench_out), "--data", str(tmp_path / "new.h5"), "--runs", "5",
                 "--out", str(tmp_path / "x")]) == 2
    assert "run" in capsys.readouterr().err and not (tmp_path / "x").exists()
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bench_out, copy)
    shutil.rmtree(copy / "models" / "K1_s0" / "meso-scratch")
    assert main(["bench", "rescore", "--bench", str(copy), "--data", str(tmp_path / "new.h5"),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "the benchmark's scratch fit (K = 1, subset 0) is not there" in err and "meso-scratch" in err
    assert not (tmp_path / "x").exists()


def test_rescore_of_chosen_models_scores_only_those_with_the_full_rescores_numbers(bench_out, tmp_path, capsys):
    d = bench_out.parent
    full = tmp_path / "full"
    assert main(["bench", "rescore", "--bench", str(bench_out), "--data", str(d / "meso.h5"), "--runs", "4",
                 "--out", str(full), "--workers", "1"]) == 0
    some = tmp_path / "some"
    assert main(["bench", "rescore", "--bench", str(bench_out), "--data", str(d / "meso.h5"), "--runs", "4",
                 "--out", str(some), "--workers", "1", "--model", "adapted", "--model", "parc"]) == 0
    r_full = json.loads((full / "rescore.json").read_text())
    r = json.loads((some / "rescore.json").read_text())
    assert {e["model"] for e in r["results"]} == {"adapted", "parc"}
    assert not (some / "forecasts" / "micro-only").exists() and not (some / "forecasts" / "scratch").exists()
    for e in r["results"]:
        twin = next(f for f in r_full["results"] if (f["model"], f["k"], f["subset"]) == (e["model"], e["k"],
                                                                                         e["subset"]))
        if e["model"] == "parc":
            assert e["rmse"]["T_hs"]["per_run"] == twin["rmse"]["T_hs"]["per_run"]
        else:
            assert _scores(e) == _scores(twin)
    capsys.readouterr()
    assert main(["bench", "rescore", "--bench", str(bench_out), "--data", str(d / "meso.h5"), "--runs", "4",
                 "--out", str(tmp_path / "x"), "--model", "adpated"]) == 2
    err = capsys.readouterr().err
    assert "'adpated'" in err and "adapted" in err.split("'adpated'")[1] and not (tmp_path / "x").exists()


def test_stratified_subsets_take_one_run_from_each_stratum_of_the_parameter():
    from probtok.bench import subset_runs

    pool = list(range(10, 22))  # 12 runs; their parameter in a shuffled order
    values = np.array([1.5, 1.0, 1.7, 1.2, 1.1, 1.6, 1.3, 1.05, 1.45, 1.25, 1.65, 1.35])
    order = np.asarray(pool)[np.argsort(values)]
    strata = [set(order[i:i + 3].tolist()) for i in range(0, 12, 3)]  # k = 4: four strata of three runs
    for s in range(4):
        runs = subset_runs(pool, 4, s, seed=0, values=values)
        assert len(runs) == 4 and runs == sorted(runs)
        assert all(len(st & set(runs)) == 1 for st in strata)  # one run of every stratum
        assert runs == subset_runs(pool, 4, s, seed=0, values=values)  # seeded
    # subset 0: each stratum's middle run (value rank 1, 4, 7, 10 of 0..11)
    assert subset_runs(pool, 4, 0, 0, values) == sorted(order[[1, 4, 7, 10]].tolist())
    assert len({tuple(subset_runs(pool, 4, s, 0, values)) for s in range(1, 6)}) > 1  # other subsets vary
    assert subset_runs(pool, 12, 1, 0, values) == pool  # K = all: the pool
    assert subset_runs(pool, 4, 0, 0) == pool[:4]  # without a parameter: the first K


def test_bench_stratify_picks_its_training_runs_and_names_a_missing_parameter(tmp_path, monkeypatch, capsys):
    import probtok.bench as bench

    write_dataset(tmp_path / "meso.h5", hotspot_runs(5, 3, 8, 12, 1), np.arange(3) * MESO_DT, fields=FIELDS,
                  units=UNITS, dx_um=0.1, dt_frame_ns=MESO_DT, setup="toy", hotspot_threshold_K=700.0,
                  params={"up_kms": [1.0, 1.6, 1.2, 1.1, 1.7]})
    seen = {}

    def stop(models, *args, **kwargs):
        seen["models"] = models
        raise KeyboardInterrupt  # the choice of runs is all this test looks at: no fit (main reports it)

    monkeypatch.setattr(bench, "_run_jobs", stop)
    args = ["bench", "fewshot", "--micro-data", str(tmp_path / "meso.h5"), "--meso-data", str(tmp_path / "meso.h5"),
            "--k", "2", "--test-runs", "2", "--quick", "--workers", "1"]
    assert main(args + ["--out", str(tmp_path / "out"), "--stratify", "up_kms"]) != 0
    # pool runs 0, 1, 2 with up 1.0, 1.6, 1.2: strata {0, 2} and {1}; their middle runs 2 and 1
    assert {tuple(m[3]) for m in seen["models"] if m[0] != "micro-only"} == {(1, 2)}
    rc = main(args + ["--out", str(tmp_path / "out2"), "--stratify", "porosity"])
    assert rc != 0 and "no parameter 'porosity' (--stratify)" in capsys.readouterr().err
    assert not (tmp_path / "out2" / "micro-fit").exists()


def test_bench_theta_prior_adapts_with_the_micro_globals_free_and_refuses_an_unknown_mode(bench_out, tmp_path,
                                                                                           capsys):
    """--theta prior reaches every adaptation: its checkpoint records theta = "prior", and its weights move off the
    micro fit's (frozen, as the fixture's, they stay equal); an unknown mode is refused before any fit."""
    from probtok.checkpoint import load_checkpoint

    d = bench_out.parent
    args = [*fewshot_args(d),
            "--k", "1", "--test-runs", "2", "--quick", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "bad"), "--theta", "thawed"]) != 0
    assert "--theta must be one of frozen, prior" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "micro-fit").exists()

    assert main([*args, "--out", str(tmp_path / "out"), "--theta", "prior"]) == 0
    b = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert b["config"]["theta"] == "prior"
    assert "micro globals: prior" in (tmp_path / "out" / "bench.md").read_text()
    micro = load_checkpoint(tmp_path / "out" / "micro-fit" / "checkpoint.pt")
    micro_fixture = load_checkpoint(bench_out / "micro-fit" / "checkpoint.pt")
    frozen = load_checkpoint(bench_out / "models" / "K1_s0" / "meso-adapt" / "checkpoint.pt")
    prior = load_checkpoint(tmp_path / "out" / "models" / "K1_s0" / "meso-adapt" / "checkpoint.pt")
    assert prior["fit_config"]["theta"] == "prior" and frozen["fit_config"]["theta"] == "frozen"
    key = next(k for k in micro["model_state"] if k.startswith("decoder.net.") and k.endswith("weight"))
    assert torch.equal(frozen["model_state"][key], micro_fixture["model_state"][key])
    assert not torch.equal(prior["model_state"][key], micro["model_state"][key])


def test_bench_of_chosen_models_runs_only_those_with_the_full_benchmarks_numbers(bench_out, tmp_path, capsys):
    """--model adapted: no PARC, no from-scratch fit, no micro-only forecasts; the adapted scores equal those of the
    benchmark of all models (each job seeded on its own), and the folder rescores; an unknown name is refused
    before any fit."""
    d = bench_out.parent
    args = [*fewshot_args(d),
            "--k", "1", "--test-runs", "2", "--quick", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "bad"), "--model", "adapted", "--model", "persistence"]) != 0
    assert "--model must name one or more of adapted, scratch, micro-only, parc, not 'persistence'" in \
        capsys.readouterr().err
    assert not (tmp_path / "bad" / "micro-fit").exists()

    out = tmp_path / "out"
    assert main([*args, "--out", str(out), "--model", "adapted"]) == 0
    b = json.loads((out / "bench.json").read_text())
    full = json.loads((bench_out / "bench.json").read_text())
    assert b["config"]["models"] == ["adapted"] and b["parc"] == {} and b["failed"] == []
    assert [(r["model"], r["k"]) for r in b["results"]] == [("adapted", 1)]
    assert not (out / "parc").exists() and not (out / "models" / "K1_s0" / "meso-scratch").exists()
    assert not (out / "forecasts" / "micro-only").exists() and (out / "micro-fit" / "checkpoint.pt").exists()
    ref = next(r for r in full["results"] if r["model"] == "adapted" and r["k"] == 1)
    for q in ("T_hs", "A_hs"):
        assert b["results"][0]["rmse"][q]["mean"] == pytest.approx(ref["rmse"][q]["mean"], rel=1e-9)
        assert b["results"][0]["crps"][q] == pytest.approx(ref["crps"][q], rel=1e-9)
    assert "PARC: not run (models: adapted)" in (out / "bench.md").read_text()

    runs = ",".join(map(str, b["data"]["test_runs"]))
    assert main(["bench", "rescore", "--bench", str(out), "--data", str(d / "meso.h5"), "--runs", runs, "--out",
                 str(tmp_path / "re"), "--workers", "1"]) == 0
    re = json.loads((tmp_path / "re" / "rescore.json").read_text())
    assert [r["model"] for r in re["results"]] == ["adapted"]
    assert re["results"][0]["rmse"]["T_hs"]["mean"] == pytest.approx(b["results"][0]["rmse"]["T_hs"]["mean"])


def test_bench_md_names_an_ensemble_member_far_worse_on_its_training_runs():
    """bench.md's warning line: members above OUTLIER_FACTOR x their ensemble's median training CRPS, none for
    ensembles without one, of two, or with a member whose CRPS was not recorded."""
    from probtok.bench import _outlier_text

    def entry(model, crps):
        return {"model": model, "k": 4, "subset": 0, "training_crps_T_hs": crps}

    bench = {"results": [entry("adapted", [165.0, 359.0, 486.0, 1330.0]), entry("scratch", [300.0, 320.0, 700.0]),
                         entry("adapted", [100.0, 1000.0]), entry("adapted", [100.0, 120.0, None, 900.0]),
                         {"model": "micro-only", "k": 0, "subset": 0}]}
    text = _outlier_text(bench)
    assert "adapted K=4 subset 0 member 3: 1330 K (median 422 K)" in text
    assert "scratch K=4 subset 0 member 2: 700 K (median 320 K)" in text
    assert text.count("member") == 3  # the two above and the heading's "members"; not the pair, not the None
    assert _outlier_text({"results": [entry("adapted", [165.0, 359.0, 486.0])]}) is None
    # a member whose final loss is far above its ensemble's (docs/bench-2026-11-29-subset1, subset 1: its
    # training CRPS, 549 K against 348-539 K, did not flag it)
    quiet = {"model": "adapted", "k": 4, "subset": 1, "training_crps_T_hs": [460.0, 539.0, 348.0, 549.0],
             "final_loss_per_run_frame": [-2.1e5, -9.9e4, -1.0e5, 1.1e6]}
    text = _outlier_text({"results": [quiet]})
    assert "CRPS" not in text
    assert "adapted K=4 subset 1 member 3: 1.1e+06 (22 deviations above the median -9.95e+04)" in text
    assert text.count("member 3") == 1 and "member 0" not in text


def test_a_diverged_member_of_an_adapted_ensemble_is_adapted_again_with_theta_warmed_up_and_pooled_so(bench_out, tmp_path):
    """--theta prior, an ensemble of 3: the member whose fit's loss history is replaced by a diverged one (in a copy
    of the benchmark folder) is adapted a second time, from its own micro fit on the same runs with theta's learning
    rate warmed up over 20 steps, into <its folder>-readapted; the forecasts pool that fit (the result's weights digests), bench.json
    and bench.md record it, a rescore scores the same pool, and a re-run reuses it. The untouched folder adapts
    nothing again unless the rule flags a member."""
    import shutil

    from probtok.bench import readapted_dir
    from probtok.checkpoint import load_checkpoint, save_checkpoint
    from probtok.divergence import diverged_members

    d = bench_out.parent
    args = [*fewshot_args(d), "--k", "1", "--test-runs", "2", "--quick", "--workers", "1", "--ensemble", "3",
            "--draws", "21", "--theta", "prior", "--model", "adapted", "--encoder", "train"]
    first = tmp_path / "first"
    assert main([*args, "--out", str(first)]) == 0
    fits = [first / "models" / "K1_s0" / name for name in ("meso-adapt", "meso-adapt-m1", "meso-adapt-m2")]
    r0 = json.loads((first / "bench.json").read_text())["results"][0]
    flagged = [i for i, *_ in diverged_members([load_checkpoint(f) for f in fits])]
    assert [a["member"] for a in r0["readapted"]] == flagged

    out = tmp_path / "copy"
    shutil.copytree(first, out)
    shutil.rmtree(out / "forecasts")
    for f in [f for f in out.rglob("*-readapted") if f.is_dir()]:
        shutil.rmtree(f)
    ckpt = out / "models" / "K1_s0" / "meso-adapt-m1" / "checkpoint.pt"
    ck = load_checkpoint(ckpt)
    del ck["spec_obj"]  # added on load
    ck["losses"] = torch.cat([ck["losses"][:-10], torch.full((10,), 1e9, dtype=ck["losses"].dtype)])
    save_checkpoint(ckpt, ck)
    assert main([*args, "--out", str(out)]) == 0
    b = json.loads((out / "bench.json").read_text())
    r = b["results"][0]
    again = readapted_dir(ckpt.parent)
    assert again == out / "models" / "K1_s0" / "meso-adapt-m1-readapted"
    assert {a["member"] for a in r["readapted"]} == set(flagged) | {1}
    a1 = next(a for a in r["readapted"] if a["member"] == 1)
    assert (a1["dir"], a1["theta_warmup_steps"], a1["final_loss_before"]) == (str(again), 20, 1e9)
    second = load_checkpoint(again)
    assert second["fit_config"]["theta_warmup_steps"] == 20 and second["fit_config"]["theta"] == "prior"
    # --encoder reaches both adaptations
    assert second["fit_config"]["encoder"] == load_checkpoint(fits[0])["fit_config"]["encoder"] == "train"
    assert second["meta"]["micro_dir"] == str(out / "micro-fit-m1")
    assert second["meta"]["train_runs"] == r["train_runs"]
    assert a1["final_loss_after"] == r["final_loss_per_run_frame"][1] < 1e9
    pool = [readapted_dir(f) if i in {a["member"] for a in r["readapted"]} else f
            for i, f in enumerate(out / "models" / "K1_s0" / f.name for f in fits)]
    assert pool[1] == again and r["weights_digest"] == ",".join(weights_digest(p) for p in pool)
    # the first fits' time (reused, as recorded) plus the second fits'
    first_fits = r0["train_wall_s"] - sum(a["wall_s"] for a in r0["readapted"])
    assert r["train_wall_s"] == pytest.approx(first_fits + sum(a["wall_s"] for a in r["readapted"]), rel=1e-6)
    md = " ".join((out / "bench.md").read_text().split())
    assert "adapted a second time, with theta's learning rate warmed up over 20 steps" in md and "their encoder: train" in md
    assert "adapted K=1 subset 0 member 1: 1e+09 (" in md
    # benchmarks/adapt_losses.py reads the same: member 1 flagged (1e9 against the others' finals), its second fit
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "adapt_losses.py"
    spec = importlib.util.spec_from_file_location("adapt_losses", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    table = {line.split("|")[2].strip(): line for line in script.rows(out / "models" / "K1_s0")}
    assert list(table)[:3] == ["meso-adapt", "meso-adapt-m1", "meso-adapt-m2"] and "meso-adapt-m1-readapted" in table
    assert table["meso-adapt-m1"].rstrip(" |").endswith("flagged") and "| 1e+09 |" in table["meso-adapt-m1"]
    assert "flagged" not in table["meso-adapt-m1-readapted"] and "| 1 | 20 |" in table["meso-adapt-m1-readapted"]
    # the rescore forecasts with the same pool
    runs = ",".join(map(str, b["data"]["test_runs"]))
    assert main(["bench", "rescore", "--bench", str(out), "--data", str(d / "meso.h5"), "--runs", runs, "--out",
                 str(tmp_path / "re"), "--workers", "1"]) == 0
    re = json.loads((tmp_path / "re" / "rescore.json").read_text())["results"][0]
    assert re["weights_digest"] == r["weights_digest"] and re["readapted"] == r["readapted"]
    assert re["crps"]["T_hs"] == pytest.approx(r["crps"]["T_hs"], rel=1e-9)
    # a re-run reuses the second fit
    mtime = (again / "checkpoint.pt").stat().st_mtime_ns
    assert main([*args, "--out", str(out)]) == 0
    assert (again / "checkpoint.pt").stat().st_mtime_ns == mtime
    assert json.loads((out / "bench.json").read_text())["results"][0]["readapted"] == r["readapted"]


def test_a_bad_readaptation_factor_or_encoder_is_refused_before_any_fit_and_factor_zero_turns_it_off(
        bench_out, tmp_path, capsys):
    from probtok.bench import BenchConfig

    assert BenchConfig(readapt_theta_warmup_steps=None).readapt_theta_warmup_steps is None
    d = bench_out.parent
    args = [*fewshot_args(d), "--k", "1", "--test-runs", "2", "--quick", "--workers", "1"]
    with pytest.raises(Exception, match="readapt_theta_warmup_steps must be >= 1 or None, not -2"):
        BenchConfig(readapt_theta_warmup_steps=-2)
    assert main([*args, "--out", str(tmp_path / "bad"), "--readapt-theta-warmup-steps", "-2"]) != 0
    assert main([*args, "--out", str(tmp_path / "bad"), "--encoder", "thawed"]) != 0
    assert "--encoder must be one of frozen, train, not 'thawed'" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "micro-fit").exists()
    assert main([*args, "--out", str(tmp_path / "off"), "--readapt-theta-warmup-steps", "0", "--model", "adapted"]) == 0
    b = json.loads((tmp_path / "off" / "bench.json").read_text())
    assert b["config"]["readapt_theta_warmup_steps"] is None and b["results"][0]["readapted"] == []
