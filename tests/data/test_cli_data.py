"""The data commands of the CLI (import-arrays, info, simulate errors) and the hot-spot stats script."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from probtok.cli import main
from probtok.data import open_dataset

ROOT = Path(__file__).resolve().parents[2]


def paper_npz(path, n_runs=3):
    rng = np.random.default_rng(0)
    a = np.empty((n_runs, 6, 8, 2, 5))
    a[..., 0, :] = rng.uniform(300, 600, (n_runs, 6, 8, 5))
    a[:, 2:4, 2:4, 0, 2:] = 1500.0  # a 4-cell hot spot from frame 2 on
    a[..., 1, :] = rng.uniform(0, 1, (n_runs, 6, 8, 5))
    np.savez(path, frames=a, up_kms=np.array([0.5, 1.0, 1.5]))
    return a


def test_import_arrays_then_info(tmp_path, capsys):
    a = paper_npz(tmp_path / "in.npz")
    (tmp_path / "p.json").write_text(json.dumps({"porosity": [0.01, 0.02, 0.03]}))
    rc = main(["import-arrays", str(tmp_path / "in.npz"), "--fields", "T,mu", "--units", "K,1", "--dx-um", "0.5",
               "--dt-ns", "0.1", "--out", str(tmp_path / "o.h5"), "--params", str(tmp_path / "p.json")])
    assert rc == 0
    with open_dataset(tmp_path / "o.h5") as ds:
        np.testing.assert_allclose(ds.params["up_kms"], [0.5, 1.0, 1.5])
        np.testing.assert_allclose(ds.params["porosity"], [0.01, 0.02, 0.03])
        np.testing.assert_allclose(ds.frames(1)[:, 0], a[1, :, :, 0, :].transpose(2, 0, 1), rtol=1e-6)
        np.testing.assert_allclose(ds.hotspots()["A_hs"][0], [0, 0, 1.0, 1.0, 1.0])  # 4 cells * 0.25 um^2
    capsys.readouterr()
    assert main(["info", str(tmp_path / "o.h5"), "--check"]) == 0
    text = capsys.readouterr().out
    assert "3 (3 ok, 0 failed)" in text and "6 x 8 cells" in text and "every 0.1 ns" in text
    assert "porosity" in text and "0.01 .. 0.03" in text and "T > 875 K" in text


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.h5")]) == 2
    assert "none.h5: no such file" in capsys.readouterr().err
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    rc = main(["import-arrays", str(tmp_path / "obj.npy"), "--fields", "T", "--units", "K", "--dx-um", "1",
               "--dt-ns", "1", "--out", str(tmp_path / "o.h5")])
    assert rc == 2 and "without pickle" in capsys.readouterr().err
    paper_npz(tmp_path / "in.npz")
    rc = main(["import-arrays", str(tmp_path / "in.npz"), "--fields", "T,mu", "--units", "degF,1", "--dx-um", "1",
               "--dt-ns", "1", "--out", str(tmp_path / "o.h5")])
    err = capsys.readouterr().err
    assert rc == 2 and "in.npz: field 'T': unknown unit 'degF'" in err and not (tmp_path / "o.h5").exists()
    assert main(["simulate", "--preset", "no-such-preset", "--out", str(tmp_path / "s.h5")]) == 2


def test_hotspot_stats_script(tmp_path):
    paper_npz(tmp_path / "in.npz")
    assert main(["import-arrays", str(tmp_path / "in.npz"), "--fields", "T,mu", "--units", "K,1", "--dx-um", "0.5",
                 "--dt-ns", "0.1", "--out", str(tmp_path / "o.h5")]) == 0
    spec = importlib.util.spec_from_file_location("hotspot_stats", ROOT / "scripts" / "hotspot_stats.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(tmp_path / "o.h5"), "--json", str(tmp_path / "s.json")]) == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["counts"] == {"grow": 0, "quench": 3, "none": 0}  # forms, then plateaus: not growing
    assert [r["peak_T_hs_K"] for r in s["runs"]] == [1500.0] * 3
    assert [r["final_A_hs_um2"] for r in s["runs"]] == [1.0] * 3
    assert mod.main([str(tmp_path / "o.h5"), "--threshold-K", "2000", "--json", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["counts"]["none"] == 3


def test_info_runs_lists_each_run_sorted_by_a_parameter(tmp_path, capsys):
    """`probtok info --runs`: one row per run with the chosen parameters and its stored hot-spot history
    (every run of paper_npz has the same 4-cell, 1500 K hot spot from frame 2 on: 1 um^2 at 0.25 um^2 a
    cell); --sort orders the runs; a parameter the file lacks is one error naming the ones it has."""
    from probtok.data.summary import summarize_runs

    paper_npz(tmp_path / "in.npz")
    (tmp_path / "p.json").write_text(json.dumps({"porosity": [0.03, 0.01, 0.02]}))
    assert main(["import-arrays", str(tmp_path / "in.npz"), "--fields", "T,mu", "--units", "K,1", "--dx-um", "0.5",
                 "--dt-ns", "0.1", "--out", str(tmp_path / "o.h5"), "--params", str(tmp_path / "p.json")]) == 0
    s = summarize_runs(tmp_path / "o.h5", sort="porosity")
    assert s["params"] == ["up_kms", "porosity"]  # the defaults the file has
    assert [r["run"] for r in s["rows"]] == [1, 2, 0]
    assert [r["params"]["up_kms"] for r in s["rows"]] == [1.0, 1.5, 0.5]
    for r in s["rows"]:
        assert r["peak_T_hs_K"] == pytest.approx(1500.0) and r["peak_A_hs_um2"] == pytest.approx(1.0)
        assert r["final_A_hs_um2"] == pytest.approx(1.0)
    capsys.readouterr()
    assert main(["info", str(tmp_path / "o.h5"), "--runs", "--params", "porosity", "--sort", "up_kms"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("runs, sorted by up_kms"):]
    assert [line.split()[:2] for line in table.splitlines() if line.strip()[:1].isdigit()] == \
        [["0", "0.03"], ["1", "0.01"], ["2", "0.02"]]
    assert main(["info", str(tmp_path / "o.h5"), "--runs", "--sort", "Up"]) == 2
    err = capsys.readouterr().err
    assert "no parameter 'Up'" in err and "porosity, up_kms" in err
    assert main(["info", str(tmp_path / "o.h5"), "--sort", "up_kms"]) == 2  # --sort without --runs
    assert "--runs" in capsys.readouterr().err
