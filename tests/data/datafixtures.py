"""Helpers of the data tests: small analytic run files (a hot disc moving with the shock)."""

from __future__ import annotations

import numpy as np

from probtok.data import write_dataset

FIELDS = ("T", "P", "mu", "u")
UNITS = {"T": "K", "P": "GPa", "mu": "1", "u": "km/s"}
DX, DT = 0.1, 0.05


def disc_runs(n_runs=4, n_frames=6, H=10, W=12, seed=0):
    """(run, frame, field, y, x) float32: 400 K bulk, a hot disc moving in x, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W] + 0.5
    out = np.empty((n_runs, n_frames, len(FIELDS), H, W), np.float32)
    for r in range(n_runs):
        up = 0.5 + 0.4 * r
        for t in range(n_frames):
            disc = (x - 3 - 1.5 * t) ** 2 + (y - H / 2) ** 2 < (1.5 + r * 0.5) ** 2
            out[r, t, 0] = np.where(disc, 900 + 300 * up, 400) + rng.normal(0, 5, (H, W))
            out[r, t, 1] = 10 * up + rng.normal(0, 0.1, (H, W))
            out[r, t, 2] = np.where(disc, 0.3, 1.0)
            out[r, t, 3] = up
    return out


def write_small(path, frames=None, status=None, **kw):
    frames = disc_runs() if frames is None else frames
    n = frames.shape[0]
    status = status or ["ok"] * n
    return write_dataset(
        path, frames, np.arange(frames.shape[1]) * DT, fields=FIELDS, units=UNITS, dx_um=DX, dt_frame_ns=DT,
        setup="micro", params={"up_kms": [0.5 + 0.4 * r for r in range(n)], "seed": list(range(n)),
                               "shape": ["circle", "ellipse", "square", "circle"][:n]},
        geometry=[[{"kind": "circle", "r_cells": 1.5 + 0.5 * r}] for r in range(n)], status=status,
        failure=["" if s == "ok" else "positivity lost" for s in status], **kw)
