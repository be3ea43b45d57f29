"""Torch windows equal the raw frames, normalised; selection of fields and runs."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from probtok.data.torch_dataset import FrameWindows

from datafixtures import write_small


def test_windows_match_raw_frames(small_file, frames):
    w = FrameWindows(small_file, n_frames=3, fields=["u", "T"], stride=2)
    assert len(w) == 4 * 2  # starts 0, 2 of 6 frames
    n = w.ds.normaliser("minmax", ["u", "T"])
    for i in range(len(w)):
        run, t0 = w.locate(i)
        x = w[i]
        assert x.dtype == torch.float32 and x.shape == (3, 2, 10, 12)
        want = n.forward(frames[run, t0:t0 + 3][:, [3, 0]].astype(np.float64), field_axis=1)
        np.testing.assert_allclose(x.numpy(), want, rtol=1e-5, atol=1e-6)
    raw = FrameWindows(small_file, n_frames=2, runs=[3], normaliser=None)
    assert len(raw) == 5
    np.testing.assert_array_equal(raw[4].numpy(), frames[3, 4:6])


def test_failed_runs_are_skipped_and_preload_matches(tmp_path, frames):
    path = write_small(tmp_path / "f.h5", frames, status=["ok", "failed", "ok", "ok"])
    lazy = FrameWindows(path, n_frames=6)
    assert sorted({lazy.locate(i)[0] for i in range(len(lazy))}) == [0, 2, 3]
    pre = FrameWindows(path, n_frames=6, preload=True)
    for i in range(len(lazy)):
        assert torch.equal(lazy[i], pre[i])


def test_dataloader_with_a_worker_process(small_file, frames):
    w = FrameWindows(small_file, n_frames=2, normaliser=None)
    batches = list(DataLoader(w, batch_size=5, num_workers=1))
    got = torch.cat(batches)
    assert got.shape == (4 * 5, 2, 4, 10, 12)
    np.testing.assert_array_equal(got[7].numpy(), frames[w.locate(7)[0], w.locate(7)[1]:w.locate(7)[1] + 2])
