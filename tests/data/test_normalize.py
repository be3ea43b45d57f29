"""Normalisation: stored statistics, exact inverse, numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probtok.data import Normaliser, RunningStats, open_dataset


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
