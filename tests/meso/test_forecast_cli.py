"""Files and CLI: fit (tiny) -> `probtok adapt` -> `probtok forecast`; the forecast file is valid and
self-describing; clear one-line errors for a run index, field or file that does not exist."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from probtok.cli import main
from probtok.data import open_dataset, write_dataset
from probtok.errors import ConfigError, DataError
from probtok.fit import fit
from probtok.forecast import read_forecast, summarize_forecast
from probtok.model_spec import FitConfig, ModelSpec

from meso_toys import one_torch_thread, TOY_FIELDS, TOY_UNITS, toy_hotspot_runs

SPEC = ModelSpec(fields=TOY_FIELDS, token_size=4, token_dim=4, mixture_components=2, encoder_width=8,
                 decoder_width=8, drift_width=8, task_dim=2, coupling_width=4, steps_per_frame=2)
MICRO_DT, MESO_DT = 0.05, 0.10


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("meso_cli")
    micro = toy_hotspot_runs(4, 5, 8, 8, 1, seed=0)
    meso = toy_hotspot_runs(4, 5, 8, 12, 2, seed=1)
    write_dataset(d / "micro.h5", micro, np.arange(5) * MICRO_DT, fields=TOY_FIELDS, units=TOY_UNITS, dx_um=0.1,
                  dt_frame_ns=MICRO_DT, setup="toy")
    write_dataset(d / "meso.h5", meso, np.arange(5) * MESO_DT, fields=TOY_FIELDS, units=TOY_UNITS, dx_um=0.1,
                  dt_frame_ns=MESO_DT, setup="toy")
    write_dataset(d / "meso_noT.h5", meso[:, :, 1:], np.arange(5) * MESO_DT, fields=("P", "mu"),
                  units={"P": "GPa", "mu": "1"}, dx_um=0.1, dt_frame_ns=MESO_DT, setup="toy")
    with open_dataset(d / "micro.h5") as ds:
        norm = ds.normaliser("minmax", TOY_FIELDS)
    x = norm.forward(torch.as_tensor(micro), field_axis=2)
    fit(SPEC, x, FitConfig(steps=3, batch_runs=4, checkpoint_every=3), out_dir=d / "micro_fit",
        normalisation=norm.to_dict(), progress=False, meta={"data": str(d / "micro.h5"), "train_runs": [0, 1, 2, 3]})
    return d


def test_adapt_then_forecast_writes_a_valid_self_describing_file(files, capsys):
    d = files
    rc = main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--train-runs", "0,1",
               "--out", str(d / "meso_fit"), "--steps", "3"])
    assert rc == 0, capsys.readouterr().err
    rc = main(["forecast", "--model", str(d / "meso_fit"), "--data", str(d / "meso.h5"), "--runs", "2,3",
               "--draws", "16", "--first-frames", "2", "--out", str(d / "fc"), "--evaluate"])
    assert rc == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "cov 90 %" in out and "T_hs" in out
    ds = read_forecast(d / "fc" / "run_0003.nc")
    with open_dataset(d / "meso.h5") as src:
        truth = src.frames(3, TOY_FIELDS)
        time_ns = src.time_ns
    assert ds.attrs["format"] == "probtok-forecast" and ds.attrs["run_id"] == 3
    assert ds.attrs["n_draws"] == 16 and ds.attrs["first_frames"] == 2 and ds.attrs["has_truth"] == 1
    assert ds.attrs["model_kind"] == "meso-adapted"
    from probtok.checkpoint import weights_digest

    assert ds.attrs["model_weights_digest"] == weights_digest(d / "meso_fit")  # which fitted model made it
    assert ds["T_hs_draws"].dims == ("draw", "frame") and ds["T_hs_draws"].shape == (16, 5)
    assert ds["field_mean"].dims == ("frame", "field", "y", "x") and ds["field_mean"].shape == (5, 3, 8, 12)
    assert list(ds["field"].values) == list(TOY_FIELDS)
    assert list(ds["field_units"].values) == [TOY_UNITS[f] for f in TOY_FIELDS]
    np.testing.assert_allclose(ds["time_ns"].values, time_ns)
    np.testing.assert_array_equal(ds["field_truth"].values, truth)
    q = ds["T_hs_quantiles"].values  # (quantile, frame), nondecreasing in the quantile
    assert (np.diff(q, axis=0) >= -1e-9).all()
    assert all(ds[v].attrs.get("units") for v in ("T_hs_draws", "A_hs_draws", "time_ns"))
    assert (d / "fc" / "calibration.json").is_file()
    assert any((d / "fc" / "run_0003").glob("*.png"))


def test_wrong_frame_ratio_is_refused(files):
    from probtok.adapt import AdaptConfig, adapt_files

    with pytest.raises(DataError, match="steps_per_frame"):
        adapt_files(files / "micro_fit", files / "micro.h5", [0, 1], files / "bad", AdaptConfig(steps=1),
                    progress=False)


def test_adapt_takes_theta_from_the_micro_fits_config_unless_given(files, tmp_path, capsys):
    """A fit folder's config.toml with [adapt] theta = "prior": `probtok adapt` without --theta frees the micro
    globals (the decoder moves off the micro fit's, the checkpoint records prior); --theta frozen overrides it
    (the decoder stays equal); a fit folder without the table adapts frozen."""
    import shutil

    from probtok.checkpoint import load_checkpoint

    d = files
    micro = tmp_path / "micro_fit"
    shutil.copytree(d / "micro_fit", micro)
    (micro / "config.toml").write_text('[adapt]\ntheta = "prior"\n')
    base = ["adapt", "--micro", str(micro), "--data", str(d / "meso.h5"), "--train-runs", "0,1", "--steps", "3",
            "--kappas", "1"]
    assert main([*base, "--out", str(tmp_path / "own")]) == 0
    assert "theta prior (the micro fit's config, [adapt] theta)" in capsys.readouterr().out
    # the learning rate of theta is recorded (and checked by AdaptConfig)
    assert main([*base, "--out", str(tmp_path / "slow"), "--theta-lr-factor", "0.1"]) == 0
    assert load_checkpoint(tmp_path / "slow" / "checkpoint.pt")["fit_config"]["theta_lr_factor"] == 0.1
    assert main([*base, "--out", str(tmp_path / "warm"), "--theta-warmup-steps", "20"]) == 0
    assert load_checkpoint(tmp_path / "warm" / "checkpoint.pt")["fit_config"]["theta_warmup_steps"] == 20
    assert main([*base, "--out", str(tmp_path / "bad"), "--theta-lr-factor", "0"]) != 0
    err = capsys.readouterr().err
    assert "theta_lr_factor must be > 0" in err and "Traceback" not in err
    # --encoder train fits the amortized encoder too (recorded; its weights move off the micro fit's)
    assert main([*base, "--out", str(tmp_path / "enc"), "--encoder", "train"]) == 0
    enc, own = load_checkpoint(tmp_path / "enc"), load_checkpoint(tmp_path / "own")
    assert (enc["fit_config"]["encoder"], own["fit_config"]["encoder"]) == ("train", "frozen")
    key = next(k for k in enc["guide_state"] if k.startswith("encoder.") and k.endswith("weight"))
    micro_ck = load_checkpoint(micro)
    assert torch.equal(own["guide_state"][key], micro_ck["guide_state"][key])
    assert not torch.equal(enc["guide_state"][key], micro_ck["guide_state"][key])
    assert main([*base, "--out", str(tmp_path / "bad_enc"), "--encoder", "thawed"]) != 0
    err = capsys.readouterr().err
    assert "encoder must be one of" in err and "Traceback" not in err
    assert main([*base, "--out", str(tmp_path / "given"), "--theta", "frozen"]) == 0
    assert "theta frozen (given)" in capsys.readouterr().out
    # resuming an adaptation with the other mode is refused, and the error names it
    assert main([*base, "--out", str(tmp_path / "given")]) != 0
    assert "other adaptation settings (theta 'frozen' there, 'prior' now)" in capsys.readouterr().err
    (micro / "config.toml").write_text('[fit]\nsteps = 3\n')
    assert main([*base, "--out", str(tmp_path / "none")]) == 0
    assert "theta frozen (default)" in capsys.readouterr().out
    start = load_checkpoint(micro / "checkpoint.pt")["model_state"]
    key = next(k for k in start if k.startswith("decoder.") and k.endswith("weight"))
    for name, theta in (("own", "prior"), ("given", "frozen"), ("none", "frozen")):
        ck = load_checkpoint(tmp_path / name / "checkpoint.pt")
        assert ck["fit_config"]["theta"] == theta, name
        assert torch.equal(ck["model_state"][key], start[key]) == (theta == "frozen"), name


@pytest.mark.parametrize("command", ["adapt", "forecast"])
def test_adapt_and_forecast_use_one_torch_thread_per_cpu_unless_told_and_restore_the_count(files, tmp_path,
                                                                                           monkeypatch, command):
    """`probtok adapt` and `probtok forecast` run with os.cpu_count() torch threads by default (--threads N: N)
    and leave the caller's thread count as they found it."""
    import os

    from probtok import adapt as adapt_mod
    from probtok import predict as predict_mod

    seen = []

    def record(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise DataError("stop here: the thread count is all this test looks at")

    monkeypatch.setattr(adapt_mod, "adapt_files", record)
    monkeypatch.setattr(predict_mod, "forecast_files", record)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    d = files
    base = {"adapt": ["adapt", "--micro", str(d / "micro_fit"), "--train-runs", "0,1"],
            "forecast": ["forecast", "--model", str(d / "micro_fit"), "--run", "2"]}[command]
    base += ["--data", str(d / "meso.h5"), "--out", str(tmp_path / "a")]
    assert torch.get_num_threads() == 1  # this module's autouse fixture
    assert main(base) != 0 and main([*base, "--threads", "2"]) != 0
    assert seen == [3, 2] and torch.get_num_threads() == 1


@pytest.mark.parametrize("args, needle", [
    (["--run", "99"], "run 99"),
    (["--run", "0", "--data", "{d}/missing.h5"], "missing.h5"),
    (["--run", "0", "--data", "{d}/meso_noT.h5"], "field 'T'"),
    (["--run", "0", "--model", "{d}/nowhere"], "nowhere"),
])
def test_forecast_cli_errors_are_one_clear_line(files, capsys, args, needle):
    d = files
    base = {"--model": str(d / "micro_fit"), "--data": str(d / "meso.h5"), "--out": str(d / "fc_err")}
    args = [a.format(d=d) for a in args]
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    rc = main(["forecast", *[x for kv in base.items() for x in kv]])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[0].startswith("error:") and needle in lines[0], err
    assert "Traceback" not in err and len(lines) <= 2


def test_the_default_first_frames_are_the_fewest_the_model_forecasts_from(files, tmp_path):
    from probtok.predict import forecast_files, forecast_run, load_posterior

    d = files
    post = load_posterior(d / "micro_fit")  # fitted from frame 0: one frame is enough
    assert post.start_frame == 0
    assert int(forecast_run(post, d / "meso.h5", 1, n_draws=4).attrs["first_frames"]) == 1
    # a fit that starts at frame 1 (the shipped configs) needs frames 0 and 1: the default gives both,
    # where 1 frame is refused
    late = dataclasses.replace(post, start_frame=1)
    with pytest.raises(ConfigError, match="give more than 1 first frames"):
        forecast_run(late, d / "meso.h5", 1, first_frames=1, n_draws=4)
    ds = forecast_run(late, d / "meso.h5", 1, n_draws=4)
    assert int(ds.attrs["first_frames"]) == 2
    # frame 0, before the fit's start, is data in every draw (frame 1 is filtered, then decoded)
    np.testing.assert_allclose(ds["T_hs_draws"].values[:, 0], ds["T_hs_truth"].values[0], rtol=1e-6)
    files_out = forecast_files(d / "micro_fit", d / "meso.h5", [2], tmp_path / "fc", n_draws=4, plots=False,
                               progress=False)
    assert int(read_forecast(files_out[2]).attrs["first_frames"]) == 1


def test_a_forecast_summarises_the_draws_sample_forecast_makes(files):
    """forecast_run reduces the draws as they are made (DrawStatistics): the same summary as from the whole
    array of sample_forecast with the same seed, for a fit starting at frame 0 and one starting at frame 1."""
    from probtok.predict import forecast_run, load_posterior, sample_forecast

    d = files
    post = load_posterior(d / "micro_fit")
    with open_dataset(d / "meso.h5") as ds:
        truth = ds.frames(1, post.spec.fields)
        dx, thr, time_ns = ds.dx_um, ds.hotspot_threshold_K, ds.time_ns
    x = post.normaliser.forward(torch.as_tensor(truth), field_axis=-3)
    for p in (post, dataclasses.replace(post, start_frame=1)):
        m = p.start_frame + 1
        got = forecast_run(p, d / "meso.h5", 1, n_draws=6, seed=3)
        draws = sample_forecast(p, x[:m], truth.shape[0], 6, observation_noise=False, seed=3, physical=True)
        ref = summarize_forecast(draws, p.spec.fields, ["K"] * len(p.spec.fields), time_ns, dx, thr)
        for name in ("T_hs_draws", "A_hs_draws", "T_hs_quantiles"):
            np.testing.assert_array_equal(got[name].values, ref[name].values, err_msg=name)
        np.testing.assert_allclose(got["field_std"].values, ref["field_std"].values, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(got["field_mean"].values, ref["field_mean"].values, rtol=1e-6, atol=1e-4)
        assert got["field_std"].values[-1].max() > 0  # the draws differ


def test_a_diverging_rollout_is_a_clear_data_error_naming_the_run(files):
    from probtok.predict import forecast_run, load_posterior

    d = files
    post = load_posterior(d / "micro_fit")
    forward = post.model.transition.forward

    def exploding(z):  # the drift overflows after the first step: what an unstable fit does far out
        drift, var = forward(z)
        return drift + 1e39 * z.abs().clamp_min(1.0), var

    post.model.transition.forward = exploding
    with pytest.raises(DataError, match="rollout diverged") as info:
        forecast_run(post, d / "meso.h5", 1, first_frames=2, n_draws=5)
    assert info.value.run == 1 and "non-finite latent state" in info.value.problem


def test_a_new_run_with_nothing_to_condition_c_on_can_draw_it_from_the_training_runs(files, capsys):
    from probtok.predict import load_posterior, reusable_forecast_attrs, task_posterior, training_task_distribution

    d = files
    assert main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--train-runs", "0,1",
                 "--out", str(d / "meso_fit_c"), "--steps", "3", "--kappas", "1"]) == 0
    post = load_posterior(d / "meso_fit_c")
    with torch.no_grad():  # two well separated training tasks
        post.guide.c_loc.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.0]]))
        post.guide.c_scale_raw.copy_(torch.log(torch.expm1(torch.tensor([[0.5, 0.2], [0.1, 0.3]]))))
    loc, scale = training_task_distribution(post)
    g = torch.Generator().manual_seed(0)  # the equal-weight mixture, sampled: same mean and sd
    pick = torch.randint(0, 2, (400_000,), generator=g)
    mix = post.guide.c_loc.detach()[pick] + torch.nn.functional.softplus(post.guide.c_scale_raw.detach())[pick] \
        * torch.randn(400_000, 2, generator=g)
    np.testing.assert_allclose(loc, mix.mean(0), atol=0.01)
    np.testing.assert_allclose(scale, mix.std(0), rtol=0.01)
    x1 = torch.zeros(1, 3, 8, 12)  # one given frame: nothing to condition c on
    c_post, how = task_posterior(post, d / "meso.h5", 3, x1, new_task="training-runs")
    assert "training runs" in how and torch.equal(c_post[0], loc) and torch.equal(c_post[1], scale)
    assert task_posterior(post, d / "meso.h5", 3, x1) == (None, "prior N(0, I)")  # the default
    with pytest.raises(ConfigError, match="new-task rule"):
        task_posterior(post, d / "meso.h5", 3, x1, new_task="mean")
    # the rule is recorded in the forecast, and a forecast made under the other rule is not reused
    assert main(["forecast", "--model", str(d / "meso_fit_c"), "--data", str(d / "meso.h5"), "--run", "3",
                 "--draws", "4", "--first-frames", "1", "--no-plots", "--new-task", "training-runs",
                 "--out", str(d / "fc_c")]) == 0
    path = d / "fc_c" / "run_0003.nc"
    attrs = read_forecast(path).attrs
    assert attrs["new_task_c"] == "training-runs" and "training runs" in attrs["task_latent"]
    assert reusable_forecast_attrs(path, d / "meso_fit_c", 1, 4, "training-runs") is not None
    assert reusable_forecast_attrs(path, d / "meso_fit_c", 1, 4) is None
    from probtok.forecast import write_forecast

    older = read_forecast(path).load()  # a file from before the rule was recorded: it drew c from the prior
    del older.attrs["new_task_c"]
    write_forecast(older, d / "fc_c" / "older" / "run_0003.nc")
    assert reusable_forecast_attrs(d / "fc_c" / "older" / "run_0003.nc", d / "meso_fit_c", 1, 4) is not None
    assert reusable_forecast_attrs(d / "fc_c" / "older" / "run_0003.nc", d / "meso_fit_c", 1, 4,
                                   "training-runs") is None
    # the rollout noise is recorded too: a forecast drawn at another kappa is not reused, and a file from
    # before it was recorded counts as kappa = 1
    assert float(attrs["rollout_noise"]) == 1.0
    assert reusable_forecast_attrs(path, d / "meso_fit_c", 1, 4, "training-runs", 0.3) is None
    assert main(["forecast", "--model", str(d / "meso_fit_c"), "--data", str(d / "meso.h5"), "--run", "3",
                 "--draws", "4", "--first-frames", "1", "--no-plots", "--rollout-noise", "0.3",
                 "--out", str(d / "fc_k")]) == 0
    assert float(read_forecast(d / "fc_k" / "run_0003.nc").attrs["rollout_noise"]) == 0.3
    assert reusable_forecast_attrs(d / "fc_k" / "run_0003.nc", d / "meso_fit_c", 1, 4, "prior", 0.3) is not None
    assert reusable_forecast_attrs(d / "fc_k" / "run_0003.nc", d / "meso_fit_c", 1, 4) is None
    del older.attrs["rollout_noise"]
    write_forecast(older, d / "fc_c" / "oldest" / "run_0003.nc")
    assert reusable_forecast_attrs(d / "fc_c" / "oldest" / "run_0003.nc", d / "meso_fit_c", 1, 4) is not None
    # a copied fit folder is the same model (by content); a refitted one is not
    import shutil

    shutil.copytree(d / "meso_fit_c", d / "moved" / "meso_fit_c", copy_function=shutil.copy)
    assert reusable_forecast_attrs(path, d / "moved" / "meso_fit_c", 1, 4, "training-runs") is not None
    assert main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--train-runs", "0,1",
                 "--out", str(d / "moved" / "meso_fit_c"), "--steps", "4"]) == 0
    assert reusable_forecast_attrs(path, d / "moved" / "meso_fit_c", 1, 4, "training-runs") is None
    rc = main(["forecast", "--model", str(d / "meso_fit_c"), "--data", str(d / "meso.h5"), "--run", "3",
               "--draws", "4", "--first-frames", "1", "--no-plots", "--new-task", "mean", "--out", str(d / "fc_c")])
    err = capsys.readouterr().err
    assert rc == 2 and "new-task rule 'mean'" in err and "Traceback" not in err


def test_kappa_pick_is_the_largest_within_one_standard_error_of_the_best():
    from probtok.rollout_noise import pick, run_scores

    def runs(*pairs):
        return [{"T_hs": t, "A_hs": a} for t, a in pairs]

    # scores are CRPS over its mean across kappas and runs, summed over T_hs and A_hs (K and um^2 alike)
    crps = {0.3: runs((90.0, 3.0), (110.0, 1.0)), 1.0: runs((100.0, 2.0), (100.0, 2.0))}
    np.testing.assert_allclose(run_scores(crps), [[0.9 + 1.5, 1.1 + 0.5], [1.0 + 1.0, 1.0 + 1.0]])
    # 0.1 is clearly better on every run (paired differences 1.0 +- 0): it wins
    clear = {0.1: runs((50.0, 1.0), (60.0, 1.0), (55.0, 1.0)), 0.3: runs((100.0, 2.0), (110.0, 2.0), (105.0, 2.0)),
             1.0: runs((200.0, 4.0), (220.0, 4.0), (210.0, 4.0))}
    kappa, table = pick(clear)
    assert kappa == 0.1 and [row["kappa"] for row in table] == [0.1, 0.3, 1.0]
    # 0.1 is lowest on average by less than one standard error of the paired difference: 0.3 is kept
    close = {0.1: runs((80.0, 2.0), (120.0, 2.0), (90.0, 2.0)), 0.3: runs((100.0, 2.0), (100.0, 2.0), (100.0, 2.0)),
             1.0: runs((300.0, 6.0), (300.0, 6.0), (300.0, 6.0))}
    kappa, table = pick(close)
    s = run_scores(close)
    d = s[1] - s[0]
    assert d.mean() > 0 and d.mean() <= d.std(ddof=1) / np.sqrt(3)  # the premise: within one SE
    assert kappa == 0.3 and table[1]["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    # one run: no standard error, the lowest wins; a quantity that is 0 (or unscored) everywhere has no weight
    assert pick({0.1: runs((50.0, 0.0)), 1.0: runs((60.0, 0.0))})[0] == 0.1
    assert pick({0.1: runs((50.0, float("nan"))), 1.0: runs((50.0, float("nan")))})[0] == 1.0


def test_adaptation_chooses_kappa_on_its_training_runs_and_forecasts_use_it(files, capsys, monkeypatch):
    from probtok.calibration import calibration_table
    from probtok.checkpoint import load_checkpoint
    from probtok.predict import forecast_run, load_posterior
    from probtok.rollout_noise import pick

    d = files
    assert main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--train-runs", "0,1,2",
                 "--out", str(d / "meso_fit_k"), "--steps", "3", "--kappas", "1,0.1,0.3"]) == 0
    assert "rollout noise kappa =" in capsys.readouterr().out
    rec = load_checkpoint(d / "meso_fit_k")["meta"]["rollout_noise"]
    assert rec["kappas"] == [0.1, 0.3, 1.0] and rec["runs"] == [0, 1, 2] and rec["first_frames"] == 1
    # the scores are those of forecasting the training runs as new runs (c from the prior), seed r for run r
    post = load_posterior(d / "meso_fit_k")
    post.meta["train_runs"] = []
    per_run = {}
    for row in rec["crps"]:
        k = row["kappa"]
        dss = [forecast_run(post, d / "meso.h5", r, first_frames=1, n_draws=rec["n_draws"], seed=r, rollout_noise=k)
               for r in (0, 1, 2)]
        table = calibration_table(dss, quantities=("T_hs", "A_hs"))
        q = table["quantities"]
        assert row["T_hs"] == pytest.approx(q["T_hs"]["crps"]) and row["A_hs"] == pytest.approx(q["A_hs"]["crps"])
        per_run[k] = [{n: float("nan") if p["quantities"][n]["crps"] is None else p["quantities"][n]["crps"]
                       for n in ("T_hs", "A_hs")} for p in table["per_run"]]
    assert rec["kappa"] == pick(per_run)[0] and rec["rule"] == "one-standard-error"
    # what an ensemble forecast compares its members by (probtok.rollout_noise.outlying_members)
    from probtok.rollout_noise import training_crps

    assert training_crps(load_checkpoint(d / "meso_fit_k")["meta"]) == next(
        row["T_hs"] for row in rec["crps"] if row["kappa"] == rec["kappa"])
    assert load_posterior(d / "meso_fit_k").rollout_noise == rec["kappa"]
    assert (d / "meso_fit_k" / "adapt.json").read_text().count('"kappa"') >= 1
    # forecasts use it unless told otherwise, and say so
    assert main(["forecast", "--model", str(d / "meso_fit_k"), "--data", str(d / "meso.h5"), "--run", "3",
                 "--draws", "4", "--no-plots", "--out", str(d / "fc_own")]) == 0
    assert float(read_forecast(d / "fc_own" / "run_0003.nc").attrs["rollout_noise"]) == rec["kappa"]
    assert main(["forecast", "--model", str(d / "meso_fit_k"), "--data", str(d / "meso.h5"), "--run", "3",
                 "--draws", "4", "--no-plots", "--rollout-noise", "0.7", "--out", str(d / "fc_07")]) == 0
    assert float(read_forecast(d / "fc_07" / "run_0003.nc").attrs["rollout_noise"]) == 0.7
    # a complete adaptation run again keeps its choice without forecasting again
    import probtok.rollout_noise as rn

    monkeypatch.setattr(rn, "choose_rollout_noise", lambda *a, **k: pytest.fail("chose kappa again"))
    assert main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--train-runs", "0,1,2",
                 "--out", str(d / "meso_fit_k"), "--steps", "3", "--kappas", "0.1,0.3,1"]) == 0
    # with fewer than 3 training runs the fit keeps the fitted noise, without forecasting
    assert main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--train-runs", "0,1",
                 "--out", str(d / "meso_fit_k2"), "--steps", "3"]) == 0
    rec2 = load_checkpoint(d / "meso_fit_k2")["meta"]["rollout_noise"]
    assert rec2["kappa"] == 1.0 and rec2["crps"] == [] and "fewer than 3 runs" in rec2["rule"]
    # one kappa is recorded as given, without forecasting; a micro fit records none and keeps 1
    assert main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--train-runs", "0,1",
                 "--out", str(d / "meso_fit_k1"), "--steps", "3", "--kappas", "0.5"]) == 0
    assert "rollout noise kappa = 0.5 (given)" in capsys.readouterr().out
    assert load_posterior(d / "meso_fit_k1").rollout_noise == 0.5
    # (the toy may choose 1 above, the library default: a recorded 0.5 shows that forecasts read the record)
    assert main(["forecast", "--model", str(d / "meso_fit_k1"), "--data", str(d / "meso.h5"), "--run", "3",
                 "--draws", "4", "--no-plots", "--out", str(d / "fc_k1")]) == 0
    assert float(read_forecast(d / "fc_k1" / "run_0003.nc").attrs["rollout_noise"]) == 0.5
    assert load_posterior(d / "micro_fit").rollout_noise == 1.0


@pytest.mark.parametrize("kappas, needle", [("a,1", "cannot read --kappas"), ("0,1", "finite and > 0"),
                                            ("1,inf", "finite and > 0")])
def test_bad_kappa_grids_are_refused(files, capsys, kappas, needle):
    d = files
    rc = main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--train-runs", "0,1",
               "--out", str(d / "meso_fit_bad"), "--steps", "1", "--kappas", kappas])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err
    assert not (d / "meso_fit_bad").exists()  # refused before any work


@pytest.mark.parametrize("device, needle", [
    ("banana", "unknown device 'banana'"),
    ("meta", "device 'meta': probtok forecasts on cpu or cuda only"),
    ("cuda:7", "device 'cuda:7'"),  # no such GPU here: none on a CPU machine, fewer than 8 on most others
])
def test_a_device_this_machine_lacks_is_refused_in_one_line_before_any_work(files, capsys, device, needle):
    d = files
    out = d / f"fc_dev_{device.replace(':', '')}"
    rc = main(["forecast", "--model", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--run", "1",
               "--draws", "4", "--out", str(out), "--device", device])
    err = capsys.readouterr().err
    assert rc == 2 and err.splitlines()[0].startswith("error:") and needle in err, err
    assert "Traceback" not in err and not out.exists()
    if device == "cuda:7" and not torch.cuda.is_available():
        assert "sees no CUDA GPU" in err and "install a CUDA build" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none: run it where one is)")
def test_a_forecast_on_the_gpu_draws_from_the_distribution_of_the_cpu_one(files):
    """The same adapted model forecast on the CPU and on the GPU (other random numbers): per-frame means of
    T_hs, A_hs and of the fields agree within 5 standard errors over 2000 draws each; the task latent of a
    new run is conditioned on the GPU too; an ensemble forecasts on the GPU (API and CLI)."""
    from probtok.predict import ENSEMBLE_SEED_STRIDE, forecast_run, load_posterior, task_posterior

    d = files
    assert main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--train-runs", "0,1",
                 "--out", str(d / "meso_fit_gpu"), "--steps", "3", "--kappas", "1"]) == 0
    cpu, gpu = load_posterior(d / "meso_fit_gpu"), load_posterior(d / "meso_fit_gpu", "cuda")
    assert gpu.device.type == "cuda" and cpu.device.type == "cpu"
    moved = [*gpu.model.state_dict().values(), *gpu.guide.state_dict().values()]
    assert all(t.device.type == "cuda" for t in moved if t is not None)
    n = 2000
    a = forecast_run(cpu, d / "meso.h5", 3, first_frames=1, n_draws=n, seed=1)
    b = forecast_run(gpu, d / "meso.h5", 3, first_frames=1, n_draws=n, seed=2)
    for name in ("T_hs_draws", "A_hs_draws"):
        va, vb = a[name].values, b[name].values
        se = np.sqrt(va.var(0) / n + vb.var(0) / n)
        assert (np.abs(va.mean(0) - vb.mean(0)) <= 5 * se + 1e-9).all(), name
    sd = a["field_std"].values
    assert sd[-1].min() > 0  # every cell's draws differ: the check below is not vacuous
    se = np.sqrt((sd**2 + b["field_std"].values ** 2) / n)
    assert (np.abs(a["field_mean"].values - b["field_mean"].values) <= 5 * se + 1e-3).mean() > 0.999
    np.testing.assert_allclose(b["field_std"].values, sd, rtol=0.15, atol=1e-3)  # sd of 2000 draws: ~2 % error
    with open_dataset(d / "meso.h5") as ds:
        x = gpu.normaliser.forward(torch.as_tensor(ds.frames(3, gpu.spec.fields)), field_axis=-3)
    (loc, scale), how = task_posterior(gpu, d / "meso.h5", 3, x[:3])
    assert "frames" in how and loc.device.type == "cuda" and torch.isfinite(loc).all() and (scale > 0).all()
    c = forecast_run(gpu, d / "meso.h5", 3, first_frames=3, n_draws=50, seed=3)
    assert np.isfinite(c["T_hs_draws"].values).all() and c.attrs["task_latent"].startswith("q(c | frames")
    # an ensemble on the GPU (adapted + micro fit): its draws are its members' GPU forecasts, one after the
    # other, and the CLI writes one file for it
    micro = load_posterior(d / "micro_fit", "cuda")
    ens = forecast_run([gpu, micro], d / "meso.h5", 3, first_frames=2, n_draws=40, seed=5)
    one = [forecast_run(gpu, d / "meso.h5", 3, first_frames=2, n_draws=20, seed=5),
           forecast_run(micro, d / "meso.h5", 3, first_frames=2, n_draws=20, seed=5 + ENSEMBLE_SEED_STRIDE)]
    for name in ("T_hs_draws", "A_hs_draws"):
        np.testing.assert_allclose(ens[name].values, np.concatenate([f[name].values for f in one]), rtol=1e-5)
    assert ens.attrs["ensemble_size"] == 2
    out = d / "fc_gpu_ens"
    assert main(["forecast", "--model", str(d / "meso_fit_gpu"), "--model", str(d / "micro_fit"), "--data",
                 str(d / "meso.h5"), "--run", "3", "--draws", "8", "--out", str(out), "--device", "cuda"]) == 0
    assert read_forecast(out / "run_0003.nc").attrs["ensemble_size"] == 2


def test_an_ensemble_forecast_pools_the_draws_of_its_models(files, capsys):
    """Two models (a micro fit and a model adapted from it stand in for fits from two micro-fit seeds): the
    ensemble's draws are member 0's forecast with ``seed`` and member 1's with ``seed + ENSEMBLE_SEED_STRIDE``,
    one after the other; its field mean and std are those of the pooled draws; an ensemble of one is the
    single model's forecast. Through the CLI, two --model write one file naming both, which a re-run of the
    same ensemble reuses and another one does not."""
    from probtok.checkpoint import weights_digest
    from probtok.predict import ENSEMBLE_SEED_STRIDE, forecast_run, load_posterior, reusable_forecast_attrs

    d = files
    assert main(["adapt", "--micro", str(d / "micro_fit"), "--data", str(d / "meso.h5"), "--train-runs", "0,1",
                 "--out", str(d / "meso_fit_ens"), "--steps", "3", "--kappas", "1"]) == 0
    a, b = load_posterior(d / "meso_fit_ens"), load_posterior(d / "micro_fit")
    ens = forecast_run([a, b], d / "meso.h5", 3, first_frames=2, n_draws=9, seed=4)
    one = [forecast_run(a, d / "meso.h5", 3, first_frames=2, n_draws=5, seed=4),
           forecast_run(b, d / "meso.h5", 3, first_frames=2, n_draws=4, seed=4 + ENSEMBLE_SEED_STRIDE)]
    for name in ("T_hs_draws", "A_hs_draws", "dT_hs_dt_draws"):
        np.testing.assert_array_equal(ens[name].values, np.concatenate([f[name].values for f in one]), name)
    (m0, m1), (s0, s1) = [f["field_mean"].values.astype(float) for f in one], \
        [f["field_std"].values.astype(float) for f in one]
    mean = (5 * m0 + 4 * m1) / 9
    var = (4 * s0**2 + 3 * s1**2 + 5 * 4 / 9 * (m0 - m1) ** 2) / 8  # pooled, ddof = 1
    np.testing.assert_allclose(ens["field_mean"].values, mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ens["field_std"].values, np.sqrt(var), rtol=1e-4, atol=1e-3)
    assert ens.attrs["ensemble_size"] == 2 and ens.attrs["ensemble_draws"] == "5, 4"
    assert ens.attrs["model_weights_digest"] == f"{a.weights_digest},{b.weights_digest}"
    assert ens.attrs["rollout_noise"] == "1, 1" and ens.attrs["task_latent"].startswith("model 0: q(c | frames")
    alone = forecast_run([a], d / "meso.h5", 3, first_frames=2, n_draws=5, seed=4)
    np.testing.assert_array_equal(alone["T_hs_draws"].values, one[0]["T_hs_draws"].values)
    with pytest.raises(ConfigError, match="each model needs at least 2"):
        forecast_run([a, b], d / "meso.h5", 3, n_draws=3)
    # the CLI: --model twice
    models = [str(d / "meso_fit_ens"), str(d / "micro_fit")]
    rc = main(["forecast", "--model", models[0], "--model", models[1], "--data", str(d / "meso.h5"), "--run", "3",
               "--draws", "9", "--no-plots", "--out", str(d / "fc_ens")])
    assert rc == 0, capsys.readouterr().err
    path = d / "fc_ens" / "run_0003.nc"
    attrs = read_forecast(path).attrs
    assert attrs["model_weights_digest"] == f"{weights_digest(models[0])},{weights_digest(models[1])}"
    assert attrs["n_draws"] == 9 and attrs["ensemble_size"] == 2
    assert reusable_forecast_attrs(path, models, 2, 9) is not None
    assert reusable_forecast_attrs(path, models[::-1], 2, 9) is None  # another member order: other draws
    assert reusable_forecast_attrs(path, models[0], 2, 9) is None  # one of them alone
    assert reusable_forecast_attrs(path, models, 2, 8) is None
    rc = main(["forecast", "--model", models[0], "--model", models[1], "--data", str(d / "meso.h5"), "--run", "3",
               "--draws", "3", "--no-plots", "--out", str(d / "fc_ens3")])
    err = capsys.readouterr().err
    assert rc == 2 and "each model needs at least 2" in err and "Traceback" not in err


def test_a_forecast_of_a_run_simulated_again_is_not_reused(files, tmp_path):
    """skip_existing reuses a forecast only for the same true frames and threshold: the same data reuses it;
    the file's threshold changed, or the run simulated again with other values, makes a new forecast."""
    import shutil

    import h5py

    from probtok.predict import forecast_files, truth_digest

    data = tmp_path / "meso.h5"
    shutil.copy(files / "meso.h5", data)
    out = tmp_path / "fc"

    def forecast():
        return forecast_files(files / "micro_fit", data, [2], out, n_draws=4, plots=False, progress=False,
                              skip_existing=True)[2]

    path = forecast()
    first = read_forecast(path).attrs["truth_digest"]
    with open_dataset(data) as ds:
        assert first == truth_digest(ds.frames(2, list(TOY_FIELDS)), ds.hotspot_threshold_K, ds.dx_um)
    stamp = path.stat().st_mtime_ns
    assert forecast().stat().st_mtime_ns == stamp  # the same data: reused
    with h5py.File(data, "r+") as f:  # another threshold: other hot-spot series
        f.attrs["hotspot_threshold_K"] = float(f.attrs["hotspot_threshold_K"]) + 50.0
    assert forecast().stat().st_mtime_ns != stamp
    second = read_forecast(path).attrs["truth_digest"]
    assert second != first
    runs = toy_hotspot_runs(4, 5, 8, 12, 2, seed=1)
    runs[2] *= 1.01  # run 2 simulated again, a little hotter
    write_dataset(data, runs, np.arange(5) * MESO_DT, fields=TOY_FIELDS, units=TOY_UNITS, dx_um=0.1,
                  dt_frame_ns=MESO_DT, setup="toy")
    stamp = path.stat().st_mtime_ns
    assert forecast().stat().st_mtime_ns != stamp
    assert read_forecast(path).attrs["truth_digest"] not in (first, second)


def test_outlying_members_are_those_far_above_the_median_training_crps():
    from probtok.rollout_noise import OUTLIER_FACTOR, outlying_members, training_crps

    def meta(crps_at_kappa, kappa=0.3, runs=(3, 7, 13, 14)):
        return {"rollout_noise": {"kappa": kappa, "runs": list(runs), "crps": [
            {"kappa": 0.1, "T_hs": 9999.0, "A_hs": 1.0}, {"kappa": kappa, "T_hs": crps_at_kappa, "A_hs": 1.0}]}}

    assert training_crps(meta(359.0)) == 359.0  # the row of the chosen kappa, not the first
    assert training_crps({"rollout_noise": {"kappa": 0.5, "crps": []}}) is None  # kappa given
    assert training_crps({}) is None  # a micro fit
    # the small-up-u theta-prior ensemble's members (docs/bench-2026-11-28-theta-lr)
    metas = [meta(165.0), meta(359.0), meta(486.0), meta(1330.0)]
    assert OUTLIER_FACTOR == 2.0
    assert outlying_members(metas) == [(3, 1330.0, 422.5)]
    assert outlying_members(metas, factor=4.0) == []
    assert outlying_members(metas[:2] + [meta(100.0)]) == [(1, 359.0, 165.0)]
    assert outlying_members([meta(100.0), meta(1000.0)]) == []  # two: neither is twice their median
    assert outlying_members(metas[:3] + [meta(1330.0, runs=(0, 1, 2, 3))]) == []  # other training runs
    assert outlying_members(metas[:3] + [{"rollout_noise": {"kappa": 1.0, "crps": []}}]) == []


def _edited_copies(d, prefix: str, edit, values) -> list[str]:
    """Copies d/<prefix>_<i> of the module's micro fit, checkpoint i edited by ``edit(ckpt, values[i])``."""
    import shutil

    from probtok.checkpoint import load_checkpoint, save_checkpoint

    models = []
    for i, value in enumerate(values):
        m = d / f"{prefix}_{i}"
        shutil.copytree(d / "micro_fit", m)
        ck = load_checkpoint(m / "checkpoint.pt")
        del ck["spec_obj"]  # added on load
        edit(ck, value)
        save_checkpoint(m / "checkpoint.pt", ck)
        models.append(str(m))
    return models


def test_an_ensemble_forecast_warns_of_a_member_far_worse_on_its_training_runs(files, capsys):
    """Three copies of a fit, each recorded with a kappa choice on the same runs (as `probtok adapt` records it),
    one with a tenfold training CRPS: `probtok forecast` names it (and only it) on stderr, and still pools all
    three; without it, no warning."""
    def record(ck, crps):
        ck["meta"]["rollout_noise"] = {"kappa": 1.0, "runs": [0, 1, 2], "kappas": [0.3, 1.0], "crps": [
            {"kappa": 0.3, "T_hs": 5.0 * crps, "A_hs": 1.0}, {"kappa": 1.0, "T_hs": crps, "A_hs": 1.0}]}

    d = files
    models = _edited_copies(d, "member", record, (120.0, 100.0, 1000.0))
    capsys.readouterr()
    assert main(["forecast", *[a for m in models for a in ("--model", m)], "--data", str(d / "meso.h5"),
                 "--run", "3", "--draws", "6", "--no-plots", "--out", str(d / "fc_out")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert err.count("warning: member") == 1 and f"member 2 ({models[2]})" in err and "may have diverged" in err
    assert "1000 K, 8.3x the members' median (120 K" in err
    assert read_forecast(d / "fc_out" / "run_0003.nc").attrs["ensemble_size"] == 3
    assert main(["forecast", "--model", models[0], "--model", models[1], "--model", models[0], "--data",
                 str(d / "meso.h5"), "--run", "3", "--draws", "6", "--no-plots", "--out", str(d / "fc_in")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_an_ensemble_forecast_warns_of_a_member_whose_fit_ended_far_above_the_others_loss(files, capsys):
    """Three copies of a fit with their loss histories replaced, no kappa choice recorded (so no training CRPS to
    compare): the member whose last losses are far above the others' is named, with its deviations; the rest
    are not."""
    def history(ck, tail):  # a blow-up, then ten steps at ``tail``
        ck["losses"] = torch.cat([torch.full((5,), 1e9, dtype=torch.float64),
                                  torch.full((10,), tail, dtype=torch.float64)])

    d = files
    models = _edited_copies(d, "loss_member", history, (-2.1e5, 1.1e6, -1.0e5))
    capsys.readouterr()
    assert main(["forecast", *[a for m in models for a in ("--model", m)], "--data", str(d / "meso.h5"),
                 "--run", "3", "--draws", "6", "--no-plots", "--out", str(d / "fc_loss")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    # median -1e5, deviations 1.1e5, 1.2e6, 0: their median 1.1e5, so member 1 is 1.2e6 / 1.1e5 = 11 above it
    assert err.count("warning: member") == 1 and f"member 1 ({models[1]})" in err and "CRPS" not in err
    assert "loss of 1.1e+06 per run-frame, 11 median absolute deviations above the members' median (-1e+05" in err
