"""A torch Dataset of time windows of normalised fields from a probtok run file.

Item ``i`` is a float32 tensor of shape (n_frames, C, H, W): frames
``t0 .. t0 + n_frames - 1`` of one run, fields in the selected order,
normalised with the file's stored statistics. Reads are lazy (one chunk per
frame) and the dataset can be used with DataLoader workers (the file is
reopened in each worker).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from probtok.data.hdf5 import RunDataset, open_dataset
from probtok.data.normalize import Normaliser
from probtok.errors import ConfigError, DataError


class FrameWindows(Dataset):
    """Windows of ``n_frames`` consecutive frames of normalised fields.

    Parameters
    ----------
    source : path of a run file, or an open :class:`RunDataset`.
    n_frames : frames per window (>= 1; 2 gives transition pairs).
    fields : field names to yield, in this order (default: all).
    runs : run indices (default: all ok runs; failed runs are refused).
    normaliser : "minmax" (default), "standard", a :class:`Normaliser`, or None (physical units).
    stride : frames between the starts of consecutive windows of a run.
    preload : keep every selected run in memory after its first read.
    """

    def __init__(self, source, n_frames: int, fields=None, runs=None, normaliser="minmax", stride: int = 1,
                 preload: bool = False):
        self.ds = source if isinstance(source, RunDataset) else open_dataset(source)
        self.fields = self.ds._field_names(fields)
        if not 1 <= n_frames <= self.ds.n_frames:
            raise ConfigError(f"n_frames={n_frames} must be in 1..{self.ds.n_frames} (frames per run)",
                              file=self.ds.path)
        if stride < 1:
            raise ConfigError(f"stride={stride} must be >= 1")
        self.n_frames = int(n_frames)
        self.runs = self.ds.ok_runs if runs is None else np.atleast_1d(np.asarray(runs, dtype=int))
        for r in self.runs:
            self.ds._check_ok(self.ds._run(r))
        if isinstance(normaliser, str):
            normaliser = self.ds.normaliser(normaliser, self.fields)
        elif isinstance(normaliser, Normaliser):
            missing = [f for f in self.fields if f not in normaliser.fields]
            if missing:
                raise DataError("the normaliser does not cover this field", field=missing[0])
            normaliser = normaliser.subset(self.fields)
        self.normaliser = normaliser
        starts = np.arange(0, self.ds.n_frames - self.n_frames + 1, stride)
        self._index = [(int(r), int(t)) for r in self.runs for t in starts]
        self.preload = preload
        self._cache: dict[int, np.ndarray] = {}
        self._pid = os.getpid()

    def _source(self) -> RunDataset:
        # h5py handles are not fork-safe: a DataLoader worker reopens the file once.
        if os.getpid() != self._pid:
            self.ds = open_dataset(self.ds.path)
            self._pid = os.getpid()
        return self.ds

    def __len__(self) -> int:
        return len(self._index)

    def locate(self, i: int) -> tuple[int, int]:
        """(run, first frame) of item ``i``."""
        return self._index[i]

    def _run_frames(self, run: int, t0: int) -> np.ndarray:
        if self.preload:
            if run not in self._cache:
                self._cache[run] = self._normalise(self._source().frames(run, self.fields))
            return self._cache[run][t0:t0 + self.n_frames]
        return self._normalise(self._source().frames(run, self.fields, frames=slice(t0, t0 + self.n_frames)))

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        return x if self.normaliser is None else self.normaliser.forward(x, field_axis=1).astype(np.float32)

    def __getitem__(self, i: int) -> torch.Tensor:
        run, t0 = self._index[i]
        return torch.from_numpy(np.ascontiguousarray(self._run_frames(run, t0), dtype=np.float32))
