"""Importer of the paper code's layout (runs, H, W, fields, frames) with unit checks."""

from __future__ import annotations

import numpy as np
import pytest

from probtok.data import import_arrays, open_dataset
from probtok.errors import ConfigError, DataError


def paper_array(n_runs=3, H=6, W=7, n_frames=4, seed=0):
    """(runs, H, W, fields, frames) with T [C], P [MPa], u [m/s], mu [1]."""
    rng = np.random.default_rng(seed)
    a = np.empty((n_runs, H, W, 4, n_frames))
    a[..., 0, :] = rng.uniform(100, 1500, (n_runs, H, W, n_frames))    # degC
    a[..., 1, :] = rng.uniform(1e3, 3e4, (n_runs, H, W, n_frames))     # MPa
    a[..., 2, :] = rng.uniform(0, 1, (n_runs, H, W, n_frames))
    a[..., 3, :] = rng.uniform(0, 2000, (n_runs, H, W, n_frames))      # m/s
    return a


def test_import_converts_units_and_transposes(tmp_path):
    a = paper_array()
    out = import_arrays(a, ["temperature", "P", "mu", "u"], ["C", "MPa", "1", "m/s"], dx_um=0.2, dt_frame_ns=0.1,
                        params={"up_kms": np.array([0.5, 1.0, 1.5])}, out=tmp_path / "imp.h5")
    with open_dataset(out) as ds:
        assert ds.fields == ("T", "P", "mu", "u") and ds.setup == "imported"
        assert ds.units == {"T": "K", "P": "GPa", "mu": "1", "u": "km/s"}
        assert ds.shape == (3, 4, 4, 6, 7)
        np.testing.assert_allclose(ds.time_ns, [0, 0.1, 0.2, 0.3])
        np.testing.assert_allclose(ds.params["up_kms"], [0.5, 1.0, 1.5])
        for r in range(3):
            x = ds.frames(r)
            # element [r, y, x, field, frame] of the input is [frame, field, y, x] of run r
            np.testing.assert_allclose(x[2, 0, 4, 5], a[r, 4, 5, 0, 2] + 273.15, rtol=1e-6)
            np.testing.assert_allclose(x[:, 0], a[r, :, :, 0, :].transpose(2, 0, 1) + 273.15, rtol=1e-6)
            np.testing.assert_allclose(x[:, 1], a[r, :, :, 1, :].transpose(2, 0, 1) * 1e-3, rtol=1e-6)
            np.testing.assert_allclose(x[:, 3], a[r, :, :, 3, :].transpose(2, 0, 1) * 1e-3, rtol=1e-6)
        assert ds.attrs["imported_from"] == "input array"


def test_unknown_unit_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(ConfigError, match="field 'T': unknown unit 'F'") as e:
        import_arrays(paper_array(), ["T", "P", "mu", "u"], ["F", "GPa", "1", "km/s"], 0.1, 0.1,
                      out=tmp_path / "x.h5")
    assert "K" in e.value.hint
    assert list(tmp_path.iterdir()) == []


def test_wrong_layout_names_the_problem(tmp_path):
    a = paper_array().transpose(0, 4, 3, 1, 2)  # (runs, frames, fields, H, W): the probtok order
    with pytest.raises(DataError, match="axis 3 \\(fields\\) has length 6") as e:
        import_arrays(a, ["T", "P", "mu", "u"], ["K", "GPa", "1", "km/s"], 0.1, 0.1, out=tmp_path / "x.h5")
    assert "dimension order" in e.value.hint and "['H', 'W'] has length 4" in e.value.hint
    with pytest.raises(DataError, match="expected 5 dims"):
        import_arrays(a[0], ["T", "P", "mu", "u"], ["K", "GPa", "1", "km/s"], 0.1, 0.1, out=tmp_path / "x.h5")
    with pytest.raises(ConfigError, match="3 units for 4 fields"):
        import_arrays(paper_array(), ["T", "P", "mu", "u"], ["K", "GPa", "1"], 0.1, 0.1, out=tmp_path / "x.h5")


def test_bad_values_name_the_run_and_keep_the_old_file(tmp_path):
    out = tmp_path / "x.h5"
    good = paper_array()
    import_arrays(good, ["T", "P", "mu", "u"], ["C", "MPa", "1", "m/s"], 0.1, 0.1, out=out, source="a.npy")
    before = out.read_bytes()
    bad = good.copy()
    bad[2, 1, 1, 1, 3] = np.nan
    with pytest.raises(DataError, match=r"run 2: field 'P': 1 non-finite values \(NaN/inf\), first at frame 3"):
        import_arrays(bad, ["T", "P", "mu", "u"], ["C", "MPa", "1", "m/s"], 0.1, 0.1, out=out, source="b.npy")
    bad = good.copy()
    bad[0, 0, 0, 0, 0] = -300.0  # -300 C = -26.85 K
    with pytest.raises(DataError, match="run 0: field 'T': negative"):
        import_arrays(bad, ["T", "P", "mu", "u"], ["C", "MPa", "1", "m/s"], 0.1, 0.1, out=out)
    assert out.read_bytes() == before
