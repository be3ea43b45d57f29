"""The campaigns' hot-spot threshold rule, and copies of run files at another threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probtok.cli import main
from probtok.data import open_dataset, write_dataset
from probtok.data.threshold import inflow_temperatures, rethreshold, rule_threshold
from probtok.errors import DataError
from probtok.hotspots import hotspot_area, hotspot_temperature
from probtok.sim.hugoniot import shocked_state

from datafixtures import DT, DX, FIELDS, UNITS, disc_runs, write_small  # noqa: E402


def test_a_copy_at_the_rule_threshold_clears_the_hottest_inflow_and_keeps_everything_else(tmp_path, frames):
    src = write_small(tmp_path / "runs.h5", frames, status=["ok", "ok", "failed", "ok"], hotspot_threshold_K=875.0)
    out = tmp_path / "copy.h5"
    old, new = rethreshold(src, out)
    # HMX Hugoniot states at the ok runs' piston velocities (0.5, 0.9, 1.7 km/s; run 2 failed), no measured bulk
    hottest = shocked_state(1.7).T_K
    assert 900.0 < hottest < 1000.0
    assert (old, new) == (875.0, np.ceil((hottest + 100.0) / 25.0) * 25.0)
    with open_dataset(src) as a, open_dataset(out) as b:
        assert b.hotspot_threshold_K == new and a.hotspot_threshold_K == 875.0  # the source is untouched
        assert b.status.tolist() == a.status.tolist() and b.failure[2] == "positivity lost"
        assert b.fields == a.fields and b.units == a.units and (b.dx_um, b.dt_frame_ns, b.setup) == (DX, DT, "micro")
        for name in ("up_kms", "seed", "shape"):
            assert b.params[name].tolist() == a.params[name].tolist()
        np.testing.assert_allclose(b.params["inflow_T_K"], [shocked_state(u).T_K for u in a.params["up_kms"]])
        assert json.loads(b.attrs["rethresholded_from"]) == {"file": "runs.h5", "hotspot_threshold_K": 875.0}
        assert "inflow_T_K" in b.attrs["hotspot_threshold_rule"]
        hs = b.hotspots()
        for r in a.ok_runs:
            np.testing.assert_array_equal(b.frames(r), a.frames(r))
            assert b.geometry(r) == a.geometry(r)
            T = frames[r, :, 0]
            np.testing.assert_allclose(hs["T_hs"][r], hotspot_temperature(T, new))
            np.testing.assert_allclose(hs["A_hs"][r], hotspot_area(T, DX, new))
        # the disc of the slowest run (900 + 300 Up K = 1050 K) falls below the new threshold, the others stay
        assert new == 1075.0 and (a.hotspots()["A_hs"][[0, 1, 3]] > 0).any(axis=1).all()
        assert hs["A_hs"][0].max() == 0 and hs["A_hs"][[1, 3]].min() > 0


def test_the_rule_takes_the_hotter_of_the_measured_bulk_and_the_inflow(tmp_path):
    f = disc_runs(n_runs=3)
    base = dict(fields=FIELDS, units=UNITS, dx_um=DX, dt_frame_ns=DT, setup="meso")
    t = np.arange(f.shape[1]) * DT
    # run 2's shocked solid all reacted (no measured bulk): only its inflow state says how hot it is
    p = write_dataset(tmp_path / "a.h5", f, t, params={"up_kms": [1.0, 1.2, 1.8], "bulk_T_K": [480.0, 1200.0, np.nan]},
                      **base)
    with open_dataset(p) as ds:
        np.testing.assert_allclose(inflow_temperatures(ds), [shocked_state(u).T_K for u in (1.0, 1.2, 1.8)])
        assert rule_threshold(ds) == 1300.0  # run 1's measured 1200 K is hotter than any inflow (RH 1.8: 1056 K)
    p = write_dataset(tmp_path / "b.h5", f, t, params={"up_kms": [1.0, 1.2, 1.8], "bulk_T_K": [480.0, 600.0, np.nan],
                                                       "inflow_T_K": [1.0, 2.0, 1010.0]}, **base)
    with open_dataset(p) as ds:  # a stored inflow_T_K is used as it is
        assert rule_threshold(ds) == 1125.0


def test_an_explicit_threshold_and_the_refusals(tmp_path, frames, capsys):
    src = write_small(tmp_path / "runs.h5", frames)
    assert rethreshold(src, tmp_path / "c.h5", threshold_K=1000.0) == (875.0, 1000.0)
    with open_dataset(tmp_path / "c.h5") as ds:
        assert ds.attrs["hotspot_threshold_rule"] == "given (probtok rethreshold)"
    with pytest.raises(DataError, match="would replace the file"):
        rethreshold(src, src)
    imported = write_dataset(tmp_path / "imp.h5", frames, np.arange(frames.shape[1]) * DT, fields=FIELDS,
                             units=UNITS, dx_um=DX, dt_frame_ns=DT)  # setup "imported", no parameters
    with pytest.raises(DataError, match="no bulk shocked temperature"):
        rethreshold(imported, tmp_path / "d.h5")
    assert not (tmp_path / "d.h5").exists()
    assert main(["rethreshold", str(imported), "--out", str(tmp_path / "d.h5")]) == 2
    assert "hint: give the threshold: --threshold-K" in capsys.readouterr().err
    assert main(["rethreshold", str(imported), "--out", str(tmp_path / "d.h5"), "--threshold-K", "1100"]) == 0
    assert "875 K -> 1100 K" in capsys.readouterr().out
    with open_dataset(tmp_path / "d.h5") as ds:
        assert ds.hotspot_threshold_K == 1100.0


def test_info_notes_a_threshold_below_the_rules_and_not_the_copy_at_it(tmp_path, frames, capsys):
    from probtok.data.threshold import low_threshold_note

    src = write_small(tmp_path / "runs.h5", frames, hotspot_threshold_K=875.0)
    _, new = rethreshold(src, tmp_path / "copy.h5")
    with open_dataset(src) as a, open_dataset(tmp_path / "copy.h5") as b:
        note = low_threshold_note(a)
        assert f"875 K is below the rule's {new:g} K" in note and "probtok rethreshold runs.h5" in note
        assert low_threshold_note(b) is None
    assert main(["info", str(src)]) == 0
    assert "is below the rule's" in " ".join(capsys.readouterr().out.split())
    assert main(["info", str(tmp_path / "copy.h5")]) == 0
    assert "below the rule's" not in capsys.readouterr().out
