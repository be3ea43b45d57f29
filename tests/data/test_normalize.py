"""Normalisation: stored statistics, exact inverse, numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probtok.data import Normaliser, RunningStats, open_dataset
from probtok.errors import ConfigError


def test_running_stats_equal_numpy_over_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(1e3, 50, (5, 3, 4, 4)), rng.normal(1e3, 5, (2, 3, 4, 4)), rng.normal(900, 1, (7, 3, 4, 4))]
    batches[1][0, 2, 0, 0] = np.nan  # ignored
    st = RunningStats(3)
    for b in batches:
        st.update(b, field_axis=1)
    allv = np.concatenate(batches)
    d = st.as_dict()
    for k in range(3):
        v = allv[:, k].ravel()
        v = v[np.isfinite(v)]
        assert d["mean"][k] == pytest.approx(v.mean(), rel=1e-12)
        assert d["std"][k] == pytest.approx(v.std(), rel=1e-9)
        assert (d["min"][k], d["max"][k]) == (v.min(), v.max())


def test_minmax_maps_to_unit_interval_and_inverts(small_file, frames):
    with open_dataset(small_file) as ds:
        n = ds.normaliser("minmax")
        y = n.forward(frames.astype(np.float64), field_axis=2)
        for k in range(len(ds.fields)):
            if frames[:, :, k].min() < frames[:, :, k].max():
                assert y[:, :, k].min() == pytest.approx(-1) and y[:, :, k].max() == pytest.approx(1)
        np.testing.assert_allclose(n.inverse(y, field_axis=2), frames, rtol=1e-12)
        s = ds.normaliser("standard", fields=["P", "T"])
        z = s.forward(frames[:, :, [1, 0]].astype(np.float64), field_axis=2)
        np.testing.assert_allclose(z.mean(axis=(0, 1, 3, 4)), 0, atol=1e-6)
        np.testing.assert_allclose(z.std(axis=(0, 1, 3, 4)), 1, rtol=1e-6)
        xt = torch.from_numpy(frames[0])  # (frame, field, y, x): default field axis -3
        yt = n.forward(xt)
        assert yt.dtype == torch.float32
        np.testing.assert_allclose(yt.numpy(), n.forward(frames[0]), rtol=1e-6)
        np.testing.assert_allclose(n.inverse(yt).numpy(), frames[0], rtol=1e-5, atol=1e-4)


def test_constant_field_and_dict_round_trip():
    n = Normaliser.from_stats(("mu", "T"), {"min": [1.0, 300], "max": [1.0, 1300], "mean": [1, 0], "std": [0, 1]})
    np.testing.assert_allclose(n.forward(np.array([[1.0], [800.0]]), field_axis=0), [[0.0], [0.0]])
    np.testing.assert_allclose(n.forward(np.array([[1.0], [1300.0]]), field_axis=0), [[0.0], [1.0]])
    m = Normaliser.from_dict(n.to_dict())
    assert m.fields == n.fields and np.array_equal(m.shift, n.shift) and np.array_equal(m.scale, n.scale)


def test_log_fields_map_ln_x_onto_the_unit_interval_and_invert(small_file, frames):
    with open_dataset(small_file) as ds:
        n = ds.normaliser("minmax", log_fields=["T"])
        k = ds.fields.index("T")
        T = frames[:, :, k].astype(np.float64)
        y = n.forward(frames.astype(np.float64), field_axis=2)
        # ln T is affine onto [-1, 1]: the geometric mean of the extremes maps to 0
        assert y[:, :, k].min() == pytest.approx(-1) and y[:, :, k].max() == pytest.approx(1)
        lo, hi = np.log(T.min()), np.log(T.max())
        np.testing.assert_allclose(y[:, :, k], (np.log(T) - (lo + hi) / 2) / ((hi - lo) / 2), rtol=1e-12)
        other = [i for i in range(len(ds.fields)) if i != k]  # untouched by the log (P may be <= 0)
        np.testing.assert_allclose(y[:, :, other], ds.normaliser("minmax").forward(
            frames.astype(np.float64), field_axis=2)[:, :, other], rtol=1e-12)
        np.testing.assert_allclose(n.inverse(y, field_axis=2), frames, rtol=1e-10, atol=1e-9)
        yt = n.forward(torch.from_numpy(frames[0]).double())
        np.testing.assert_allclose(n.inverse(yt).numpy(), frames[0], rtol=1e-10, atol=1e-9)
        m = Normaliser.from_dict(n.to_dict())
        assert m.log_fields == ("T",) and m.subset(["P"]).log_fields == ()
        np.testing.assert_allclose(m.forward(frames[0].astype(np.float64)), y[0], rtol=1e-12)


def test_log_fields_refuse_non_positive_values_and_the_standard_kind():
    stats = {"min": [-1.0, 300], "max": [5.0, 1300], "mean": [1, 500], "std": [1, 100]}
    with pytest.raises(ConfigError, match="<= 0"):
        Normaliser.from_stats(("P", "T"), stats, log_fields=("P",))
    with pytest.raises(ConfigError, match="min-max"):
        Normaliser.from_stats(("P", "T"), stats, "standard", log_fields=("T",))
    with pytest.raises(ConfigError, match="not among"):
        Normaliser.from_stats(("P", "T"), stats, log_fields=("mu",))
