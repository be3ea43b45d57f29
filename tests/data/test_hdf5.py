"""Round trip, chunking, xarray view, stored statistics and atomicity of run files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from probtok.data import RunWriter, open_dataset
from probtok.data.schema import DIMS, FORMAT, FORMAT_VERSION
from probtok.errors import DataError, ProbtokError
from probtok.hotspots import hotspot_area, hotspot_temperature

from datafixtures import DT, DX, FIELDS, UNITS, disc_runs, write_small  # noqa: E402


def test_round_trip_is_exact(small_file, frames):
    with open_dataset(small_file) as ds:
        assert ds.shape == frames.shape and ds.fields == FIELDS and ds.units == UNITS
        assert (ds.dx_um, ds.dt_frame_ns, ds.setup) == (DX, DT, "micro")
        np.testing.assert_array_equal(ds.time_ns, np.arange(6) * DT)
        for r in range(4):
            np.testing.assert_array_equal(ds.frames(r), frames[r])
        np.testing.assert_array_equal(ds.frames(2, fields=["u", "T"]), frames[2][:, [3, 0]])
        np.testing.assert_array_equal(ds.frames(1, frames=slice(2, 4)), frames[1, 2:4])
        assert ds.params["seed"].dtype == np.int64 and ds.params["seed"].tolist() == [0, 1, 2, 3]
        np.testing.assert_allclose(ds.params["up_kms"], [0.5, 0.9, 1.3, 1.7])
        assert ds.params["shape"].tolist() == ["circle", "ellipse", "square", "circle"]
        assert ds.geometry(3) == [{"kind": "circle", "r_cells": 3.0}]
        assert ds.status.tolist() == ["ok"] * 4 and ds.hotspot_threshold_K == 875.0
        a = ds.attrs
        assert a["format"] == FORMAT and a["format_version"] == FORMAT_VERSION
        assert a["creator"] == "probtok" and a["created"].endswith("+00:00")


def test_one_frame_of_one_run_is_one_chunk(small_file, frames):
    with h5py.File(small_file) as f:
        d = f["frames"]
        assert d.chunks == (1, 1, len(FIELDS), 10, 12)
        assert d.compression == "gzip" and d.dtype == np.float32
        assert tuple(dim.label for dim in d.dims) == DIMS
        assert d.dims[1][0].name == "/time_ns"
    with open_dataset(small_file) as ds:
        np.testing.assert_array_equal(ds.frame(3, 5), frames[3, 5])


def test_failed_run_is_kept_with_reason_and_excluded_from_stats(tmp_path, frames):
    frames = frames.copy()
    frames[1] = 1e6  # what a diverged run might contain: must not leak into statistics
    path = write_small(tmp_path / "f.h5", frames, status=["ok", "failed", "ok", "ok"])
    with open_dataset(path) as ds:
        assert ds.status.tolist() == ["ok", "failed", "ok", "ok"]
        assert ds.failure[1] == "positivity lost" and ds.ok_runs.tolist() == [0, 2, 3]
        with pytest.raises(DataError, match="run 1: run failed in simulation"):
            ds.frames(1)
        ok = frames[[0, 2, 3]].astype(np.float64)
        st = ds.normalisation()
        np.testing.assert_allclose(st["min"], ok.min(axis=(0, 1, 3, 4)))
        np.testing.assert_allclose(st["max"], ok.max(axis=(0, 1, 3, 4)))
        np.testing.assert_allclose(st["mean"], ok.mean(axis=(0, 1, 3, 4)), rtol=1e-10)
        np.testing.assert_allclose(st["std"], ok.std(axis=(0, 1, 3, 4)), rtol=1e-8)
        hs = ds.hotspots()
        T = frames[:, :, 0]
        np.testing.assert_allclose(hs["A_hs"][[0, 2, 3]], hotspot_area(T[[0, 2, 3]], DX, 875.0))
        np.testing.assert_allclose(hs["T_hs"][[0, 2, 3]], hotspot_temperature(T[[0, 2, 3]], 875.0), rtol=1e-6)
        assert np.isnan(hs["A_hs"][1]).all() and hs["A_hs"][0].max() > 0


def test_to_xarray_has_named_dims_and_coords(small_file, frames):
    with open_dataset(small_file) as ds:
        da = ds.to_xarray(runs=[1, 3], fields=["T", "u"])
    assert da.dims == DIMS
    np.testing.assert_array_equal(da.sel(field="T").values, frames[[1, 3], :, 0])
    assert da.units.sel(field="u").item() == "km/s"
    np.testing.assert_allclose(da.time_ns.values, np.arange(6) * DT)
    np.testing.assert_allclose(da.x_um.values[:2], [0.05, 0.15])
    assert da.up_kms.values.tolist() == pytest.approx([0.9, 1.7])
    with open_dataset(small_file) as ds:
        lazy = ds.to_xarray(fields=["u", "T"], lazy=True)
        assert type(lazy.data).__module__.startswith("dask")
        np.testing.assert_array_equal(lazy.sel(run=2).values, frames[2][:, [3, 0]])


def test_writer_is_atomic(tmp_path, frames):
    path = write_small(tmp_path / "a.h5", frames)
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with RunWriter(path, n_runs=2, time_ns=np.arange(6) * DT, fields=FIELDS, units=UNITS, grid=(10, 12),
                       dx_um=DX, dt_frame_ns=DT, setup="micro") as w:
            w.write_run(0, frames[0])
            raise RuntimeError("killed mid-way")
    assert path.read_bytes() == before  # the old file survives untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]  # no temp file left
    with pytest.raises(ProbtokError, match="never written"):
        with RunWriter(tmp_path / "b.h5", n_runs=2, time_ns=np.arange(6) * DT, fields=FIELDS, units=UNITS,
                       grid=(10, 12), dx_um=DX, dt_frame_ns=DT, setup="micro") as w:
            w.write_run(0, frames[0])
    assert not (tmp_path / "b.h5").exists()


def test_writer_refuses_bad_runs(tmp_path, frames):
    with RunWriter(tmp_path / "c.h5", n_runs=1, time_ns=np.arange(6) * DT, fields=FIELDS, units=UNITS,
                   grid=(10, 12), dx_um=DX, dt_frame_ns=DT, setup="micro") as w:
        bad = frames[0].copy()
        bad[4, 1, 2, 2] = np.inf
        with pytest.raises(DataError, match=r"run 0: field 'P': 1 non-finite values .* first at frame 4"):
            w.write_run(0, bad)
        with pytest.raises(DataError, match="expected \\(frame, field, y, x\\)"):
            w.write_run(0, frames[0].transpose(1, 0, 2, 3))
        w.write_run(0, frames[0], geometry=json.dumps([{"kind": "ellipse"}]))
    with open_dataset(tmp_path / "c.h5") as ds:
        assert ds.geometry(0) == [{"kind": "ellipse"}]


def test_reader_survives_pickling(small_file, frames):
    import pickle  # in-process only: how DataLoader workers receive the dataset

    with open_dataset(small_file) as ds:
        ds2 = pickle.loads(pickle.dumps(ds))
        np.testing.assert_array_equal(ds2.frames(0), frames[0])
        ds2.close()


def test_lzf_and_many_runs_stream(tmp_path):
    fr = disc_runs(n_runs=3, seed=4)
    path = write_small(tmp_path / "l.h5", fr, compression="lzf")
    with h5py.File(path) as f:
        assert f["frames"].compression == "lzf"
    with open_dataset(path) as ds:
        np.testing.assert_array_equal(ds.frames(2), fr[2])
