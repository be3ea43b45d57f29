"""The main job (`probtok demo`, :func:`probtok.pipeline.run_demo`) end to end on the real simulator, at a
smoke size: every stage runs, the report scores every model on the held-out runs with numbers that agree
with the forecast files, and a second run reuses every fit and forecast (nothing refitted or redrawn)
and reports the same numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from probtok.calibration import calibration_table
from probtok.forecast import read_forecast
from probtok.pipeline import DemoConfig, run_demo

# real presets and the shipped tiny config; few runs, steps and draws
CFG = DemoConfig(micro_runs=6, meso_runs=4, micro_steps=8, adapt_steps=4, scratch_steps=4, n_draws=8, n_workers=1)


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    res = run_demo(out, CFG, echo=lambda *a, **k: None)
    return out, res


def test_demo_writes_a_report_that_scores_every_model_on_the_held_out_runs(demo_out):
    out, res = demo_out
    summary = json.loads((out / "report" / "summary.json").read_text())
    train, held = summary["split"]["train"], summary["split"]["held_out"]
    assert len(train) == CFG.k_meso and held and not set(train) & set(held)
    assert set(summary["models"]) == {"adapted", "micro-only", "scratch"}
    for model, scores in summary["models"].items():
        files = [out / "forecasts" / model / f"run_{r:04d}.nc" for r in held]
        dss = [read_forecast(f) for f in files]
        assert all(int(ds.attrs["first_frames"]) == CFG.first_frames and ds.sizes["draw"] == CFG.n_draws
                   for ds in dss)
        table = calibration_table(dss)["quantities"]  # the report's numbers are those of the files
        for q in ("T_hs", "A_hs"):
            assert scores[q]["n_points"] == table[q]["n_points"]
            if table[q]["n_points"]:
                assert scores[q]["cov90"] == pytest.approx(table[q]["coverage"]["0.9"])
                assert scores[q]["cov90_range"] == pytest.approx(table[q]["coverage_range"]["0.9"])
                assert scores[q]["pit50"] == pytest.approx(table[q]["coverage_pit"]["0.5"])
                assert scores[q]["pit50_range"] == pytest.approx(table[q]["coverage_pit_range"]["0.5"])
                assert scores[q]["crps"] == pytest.approx(table[q]["crps"])
                assert math.isfinite(scores[q]["rmse_median"])
    assert {"fan", "fields_T", "reliability"} <= set(summary["plots"])
    for path in summary["plots"].values():
        assert (out / "report" / "plots" / Path(path).name).read_bytes()[:4] == b"\x89PNG"
    md = (out / "report" / "summary.md").read_text()
    assert "| adapted |" in md and "| micro-only |" in md and "| scratch |" in md
    assert "Token model `tiny`, adapted on meso runs" in md
    a = summary["models"]["adapted"]["T_hs"]
    if a["n_points"]:  # the coverage with its range over the held-out runs
        r50, r90 = a["pit50_range"], a["pit90_range"]
        assert (f"| {a['cov90']:.2f} [{a['cov90_range'][0]:.2f}-{a['cov90_range'][1]:.2f}] | {a['pit50']:.2f} "
                f"[{r50[0]:.2f}-{r50[1]:.2f}] | {a['pit90']:.2f} [{r90[0]:.2f}-{r90[1]:.2f}] |") in md


def test_a_second_demo_run_reuses_everything_and_reports_the_same(demo_out):
    out, _ = demo_out
    watched = [out / "micro-fit" / "checkpoint.pt", out / "meso-adapt" / "checkpoint.pt",
               *sorted((out / "forecasts").rglob("*.nc"))]
    before = {p: p.stat().st_mtime_ns for p in watched}
    summary = json.loads((out / "report" / "summary.json").read_text())
    run_demo(out, CFG, echo=lambda *a, **k: None)
    assert {p: p.stat().st_mtime_ns for p in watched} == before  # nothing refitted or redrawn
    again = json.loads((out / "report" / "summary.json").read_text())
    assert again["models"] == summary["models"] and again["split"] == summary["split"]


def test_a_demo_folder_of_another_config_is_refused_not_reused(demo_out):
    """Fits are reused by step count; one made with another model config (here tiny-up: the same micro
    network, plus a task covariate at the meso level) stops with the differing spec entry instead of
    being passed off as the new config's fit (a benchmark re-run with --config in an old folder)."""
    import dataclasses

    from probtok.errors import CheckpointError

    out, _ = demo_out
    before = (out / "micro-fit" / "checkpoint.pt").stat().st_mtime_ns
    with pytest.raises(CheckpointError, match="another model config.*task_covariate"):
        run_demo(out, dataclasses.replace(CFG, model_config="tiny-up"), echo=lambda *a, **k: None)
    assert (out / "micro-fit" / "checkpoint.pt").stat().st_mtime_ns == before


@pytest.mark.parametrize("given", ["micro-s4", "micro-s4.toml"])
def test_shipped_config_by_name(given):
    """`--config micro-s4` and `--config micro-s4.toml` both mean models/micro-s4.toml."""
    from probtok.model_spec import load_config
    from probtok.pipeline import MODELS_DIR, DemoConfig, _config_path

    path = _config_path(DemoConfig(model_config=given))
    assert path == MODELS_DIR / "micro-s4.toml"
    assert load_config(path).name == "micro-s4"


def test_unknown_config_name_lists_the_shipped_ones(tmp_path, monkeypatch):
    from probtok.errors import ConfigError
    from probtok.model_spec import load_config
    from probtok.pipeline import DemoConfig, _config_path

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config(_config_path(DemoConfig(model_config="no-such-model")))
    assert "not found" in str(err.value) and "micro-s4" in err.value.hint and "tiny" in err.value.hint


def test_the_demo_runs_with_the_velocity_field_config(demo_out, tmp_path):
    """models/tiny-up-u.toml (tiny-up with the particle velocity u as a fourth field) end to end on the demo's
    data: every model is fitted on T, P, mu and u, and the forecasts carry u (its field statistics)."""
    import dataclasses
    import shutil

    from probtok.checkpoint import load_checkpoint

    _, res = demo_out
    out = tmp_path / "demo-u"
    for key in ("data/micro", "data/meso"):  # the same simulated runs: only the model differs
        dst = out / Path(res.files[key]).relative_to(res.out)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(res.files[key], dst)
    res_u = run_demo(out, dataclasses.replace(CFG, model_config="tiny-up-u"), echo=lambda *a, **k: None)
    for name in ("micro-fit", "meso-adapt", "meso-scratch"):
        spec = load_checkpoint(out / name / "checkpoint.pt")["spec_obj"]
        assert spec.fields == ("T", "P", "mu", "u") and spec.task_covariate == "up_kms", name
    ds = read_forecast(next(iter(res_u.files["forecasts/adapted"].values())))
    assert list(ds["field_mean"].coords["field"].values) == ["T", "P", "mu", "u"]
    assert ds.attrs["task_latent"].startswith("p(c | up_kms")
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert "Token model `tiny-up-u`, adapted on" in (out / "report" / "summary.md").read_text()
    for m in ("adapted", "micro-only", "scratch"):  # every model forecast every held-out run, finite draws
        dss = [read_forecast(f) for f in res_u.files[f"forecasts/{m}"].values()]
        assert len(dss) == len(summary["split"]["held_out"]) and all(
            math.isfinite(float(ds["T_hs_draws"].sum())) for ds in dss)
        # scored as the files say (NaN where the smoke runs hold no hot spot at the threshold)
        assert summary["models"][m]["T_hs"]["crps"] == pytest.approx(
            calibration_table(dss)["quantities"]["T_hs"]["crps"], nan_ok=True)


def test_demo_cli_runs_the_config_it_is_given_and_refuses_one_that_does_not_exist(tmp_path, monkeypatch, capsys):
    import probtok.pipeline as pipeline
    from probtok.cli import main

    rc = main(["demo", "--out", str(tmp_path / "out"), "--config", "no-such-model"])
    assert rc == 2
    err = capsys.readouterr()
    assert "no-such-model" in err.out + err.err and "tiny-up-u" in err.out + err.err  # the hint lists the shipped ones
    assert not (tmp_path / "out").exists()  # refused before anything was simulated
    seen = []
    monkeypatch.setattr(pipeline, "run_demo", lambda out, cfg, echo: seen.append(cfg) or pipeline.DemoResult(out=out))
    assert main(["demo", "--out", str(tmp_path / "out"), "--config", "tiny-up-u"]) == 0
    assert main(["demo", "--out", str(tmp_path / "out")]) == 0
    assert [c.model_config for c in seen] == ["tiny-up-u", "tiny"]


def test_the_demo_warns_when_it_reuses_data_with_a_threshold_below_the_rules(demo_out, tmp_path):
    """A data folder of an older version (its threshold placed without the piston's inflow state) is reused,
    with a warning that names the fix."""
    import shutil

    from probtok.data.threshold import rethreshold
    from probtok.pipeline import DemoResult, stage_data

    out, res = demo_out
    new = tmp_path / "demo-out"
    shutil.copytree(out / "data", new / "data")
    meso = new / "data" / "meso.h5"
    rethreshold(res.files["data/meso"], tmp_path / "old.h5", threshold_K=875.0)
    shutil.move(tmp_path / "old.h5", meso)
    lines = []
    stage_data(new, CFG, DemoResult(out=new), echo=lines.append)
    warned = [line for line in lines if line.startswith("warning:")]
    assert len(warned) == 1 and str(meso) in warned[0] and "875 K is below the rule's" in warned[0]
    assert all(" 0 simulated now" in line for line in lines if not line.startswith("warning:"))  # reused


def test_the_demo_and_the_benchmark_adapt_with_the_configs_own_theta_unless_given(tmp_path, monkeypatch):
    """A config's [adapt] theta is the default of the demo and of `bench fewshot` (and of what bench.json and
    the demo's summary record); theta given overrides it; a config without the table adapts frozen."""
    import dataclasses

    from probtok import pipeline
    from probtok.bench import BenchConfig
    from probtok.model_spec import MODELS_DIR, load_config

    own = tmp_path / "own.toml"
    own.write_text((MODELS_DIR / "tiny.toml").read_text() + '\n[adapt]\ntheta = "prior"\n')
    assert load_config(MODELS_DIR / "small-up-u.toml").adapt == {"theta": "prior"}  # the shipped one that sets it
    assert BenchConfig(model_config=str(own)).theta == "prior"
    assert BenchConfig(model_config="small-up-u").theta == "prior"
    assert BenchConfig(model_config=str(own), theta="frozen").theta == "frozen"
    assert BenchConfig(model_config="tiny").theta == "frozen"

    seen = []
    monkeypatch.setattr(pipeline, "STAGES", (("look", lambda out, cfg, result, echo: seen.append(cfg.theta)),))
    for model_config, theta in ((str(own), None), (str(own), "frozen"), ("tiny", None)):
        pipeline.run_demo(tmp_path / "out", dataclasses.replace(CFG, model_config=model_config, theta=theta))
    assert seen == ["prior", "frozen", "frozen"]
