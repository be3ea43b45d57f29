"""The walkthroughs in examples/ run end to end as a user runs them (a subprocess from the repository
root) and write what they promise: forecasts of the held-out meso runs with their truth, from the
first two frames, fan charts, and a calibration JSON over those runs.

Why a test: both examples once forecast from one frame, which models/tiny.toml (fit from frame 1 on)
refuses, and nothing noticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from probtok.forecast import read_forecast

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, out: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--out", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _check_forecasts(out: Path, runs: list[int], n_draws: int) -> None:
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["runs"] == runs and cal["n_runs"] == len(runs)
    for q in ("T_hs", "A_hs"):
        assert cal["quantities"][q]["n_points"] + cal["quantities"][q]["n_trivial"] > 0
    for r in runs:
        ds = read_forecast(out / "forecasts" / f"run_{r:04d}.nc")
        assert int(ds.attrs["has_truth"]) == 1 and int(ds.attrs["first_frames"]) == 2
        assert ds.sizes["draw"] == n_draws and int(ds.attrs["run_id"]) == r


def test_quickstart_example_runs_the_pipeline(tmp_path):
    out = tmp_path / "qs"
    _run("quickstart.py", out, "--quick")
    from probtok.data import open_dataset

    with open_dataset(out / "meso.h5") as ds:
        ok = [int(r) for r in ds.ok_runs]
    assert len(ok) >= 3  # 2 adaptation runs and at least one held out
    held = ok[2:]
    _check_forecasts(out, held, n_draws=20)
    assert (out / "forecasts" / f"run_{held[0]:04d}" / f"run{held[0]}_fan.png").read_bytes()[:4] == b"\x89PNG"
    meta = json.loads((out / "meso-fit" / "adapt.json").read_text())["meta"]
    assert meta["train_runs"] == ok[:2] and meta["adapt"]["steps"] == 10


def test_bring_your_own_data_example_imports_fits_adapts_and_forecasts(tmp_path):
    out = tmp_path / "byod"
    _run("bring_your_own_data.py", out, "--quick")
    from probtok.data import open_dataset

    with open_dataset(out / "meso.h5") as ds:  # imported from degC and MPa
        assert ds.units["T"] == "K" and ds.units["P"] == "GPa" and ds.n_runs == 6
        assert float(ds.frame(0, 0, ["T"]).min()) == pytest.approx(25.0 + 273.15, abs=0.01)
    _check_forecasts(out, [2, 3, 4, 5], n_draws=20)
    for r in (2, 3, 4, 5):
        assert (out / "forecasts" / f"run_{r:04d}" / f"run{r}_fan.png").exists()
