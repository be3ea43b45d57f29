"""Every kind of bad run file gives a DataError naming file, run and field."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from probtok.data import open_dataset, validate_file
from probtok.errors import DataError


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.h5: no such file") as e:
        open_dataset(tmp_path / "nope.h5")
    assert e.value.hint


def test_not_hdf5(tmp_path):
    p = tmp_path / "x.h5"
    p.write_text("T,P\n1,2\n")
    with pytest.raises(DataError, match="x.h5: not an HDF5 file"):
        open_dataset(p)


def test_truncated(small_file):
    data = small_file.read_bytes()
    small_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="runs.h5: .*truncated or corrupt") as e:
        open_dataset(small_file)
    assert e.value.file == str(small_file)


def test_other_schema_and_version(small_file):
    with h5py.File(small_file, "r+") as f:
        f.attrs["format_version"] = 2
    with pytest.raises(DataError, match="format_version 2 is not supported"):
        open_dataset(small_file)
    with h5py.File(small_file, "r+") as f:
        f.attrs["format"] = "netcdf-climate"
    with pytest.raises(DataError, match="not a probtok run file"):
        open_dataset(small_file)


def test_missing_field(small_file):
    with open_dataset(small_file) as ds:
        with pytest.raises(DataError, match="field 'rho': missing field") as e:
            ds.frames(0, fields=["T", "rho"])
        assert "'T', 'P', 'mu', 'u'" in e.value.hint
    with h5py.File(small_file, "r+") as f:
        f.attrs["units"] = '{"T": "K", "P": "GPa", "mu": "1"}'
    with pytest.raises(DataError, match="field 'u': field has no unit"):
        open_dataset(small_file)


def test_nan_is_reported_with_run_field_and_frame(small_file):
    with h5py.File(small_file, "r+") as f:
        f["frames"][2, 3, 1, 4, 4] = np.nan
    with open_dataset(small_file) as ds:
        ds.frames(1)  # other runs stay readable
        with pytest.raises(DataError, match=r"runs.h5: run 2: field 'P': 1 non-finite values .* at frame 3"):
            ds.frames(2)
        with pytest.raises(DataError, match="at frame 3"):
            ds.frames(2, frames=slice(3, 5))
    with pytest.raises(DataError, match="run 2: field 'P'"):
        validate_file(small_file)


def test_negative_temperature_and_density_like(small_file):
    with h5py.File(small_file, "r+") as f:
        f["frames"][0, 1, 0, 0, 0] = -3.0
        f["frames"][3, 0, 2, 0, 0] = -0.2
    with open_dataset(small_file) as ds:
        with pytest.raises(DataError, match=r"run 0: field 'T': negative values \(min -3, at frame 1\)") as e:
            ds.frames(0)
        assert "units" in e.value.hint
        with pytest.raises(DataError, match="run 3: field 'mu': negative"):
            ds.frames(3)


def test_wrong_dimension_order_and_shape(small_file, frames):
    with h5py.File(small_file, "r+") as f:
        for k, label in enumerate(("run", "field", "frame", "y", "x")):
            f["frames"].dims[k].label = label
    with pytest.raises(DataError, match="dimension order is .*'field', 'frame'"):
        open_dataset(small_file)
    with h5py.File(small_file, "r+") as f:
        del f["frames"]
        f["frames"] = frames.transpose(0, 2, 1, 3, 4)[:, :3]  # (run, field, frame, ...): 3 "fields"
    with pytest.raises(DataError, match="fields attribute names 4"):
        open_dataset(small_file)
    with h5py.File(small_file, "r+") as f:
        del f["frames"]
        f["frames"] = frames[0]
    with pytest.raises(DataError, match="frames has 4 dims"):
        open_dataset(small_file)


def test_run_index_out_of_range_and_bad_status(small_file):
    with open_dataset(small_file) as ds:
        with pytest.raises(DataError, match="run 9: run index out of range"):
            ds.frames(9)
    with h5py.File(small_file, "r+") as f:
        f["status"][1] = "maybe"
    with pytest.raises(DataError, match="run 1: status 'maybe'"):
        open_dataset(small_file)


def test_validate_file_ranges(small_file, frames):
    rep = validate_file(small_file)
    assert (rep.n_runs, rep.n_ok, rep.n_failed) == (4, 4, 0)
    np.testing.assert_allclose(rep.min, frames.min(axis=(0, 1, 3, 4)))
    np.testing.assert_allclose(rep.max, frames.max(axis=(0, 1, 3, 4)))
