#!/usr/bin/env python
"""I/O speed of the probtok run format on synthetic micro-like runs (prints figures).

Usage: python benchmarks/data_io.py [--runs 20] [--grid 64 64] [--frames 24]

Prints, for gzip and lzf: write throughput [MB/s of float32 frames], file size and
compression ratio, latency of one frame of one run, read throughput of whole
runs, and FrameWindows (torch) windows per second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_run(rng, n_frames, H, W):
    """(frame, 6 fields, H, W): smooth shocked fields with a hot spot and noise, like a micro run."""
    y, x = np.mgrid[0:H, 0:W] / max(H, W)
    out = np.empty((n_frames, 6, H, W), np.float32)
    for t in range(n_frames):
        front = t / n_frames
        shocked = x < front
        hot = np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.005) * (t > n_frames // 3)
        out[t, 0] = 300 + 200 * shocked + 1500 * hot + rng.normal(0, 1, (H, W))
        out[t, 1] = 0.0001 + 10 * shocked + rng.normal(0, 0.01, (H, W)) ** 2
        out[t, 2] = np.clip(1 - np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.003) * (1 - front), 0, 1)
        out[t, 3] = 1.0 * shocked
        out[t, 4] = rng.normal(0, 0.01, (H, W))
        out[t, 5] = 0.1 * hot
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--grid", type=int, nargs=2, default=(64, 64))
    ap.add_argument("--frames", type=int, default=24)
    a = ap.parse_args(argv)

    from probtok.data import RunWriter, open_dataset
    from probtok.data.torch_dataset import FrameWindows
    from probtok.sim.case import FIELDS, UNITS

    rng = np.random.default_rng(0)
    runs = [synthetic_run(rng, a.frames, *a.grid) for _ in range(a.runs)]
    mb = sum(r.nbytes for r in runs) / 1e6
    print(f"{a.runs} runs x {a.frames} frames x 6 fields x {a.grid[0]}x{a.grid[1]}: {mb:.1f} MB of float32")
    with tempfile.TemporaryDirectory() as d:
        for comp in ("gzip", "lzf"):
            path = Path(d) / f"{comp}.h5"
            t0 = time.perf_counter()
            with RunWriter(path, n_runs=a.runs, time_ns=np.arange(a.frames) * 0.06, fields=FIELDS, units=UNITS,
                           grid=a.grid, dx_um=0.1, dt_frame_ns=0.06, setup="micro", compression=comp) as w:
                for i, r in enumerate(runs):
                    w.write_run(i, r)
            t_write = time.perf_counter() - t0
            size = path.stat().st_size / 1e6
            with open_dataset(path) as ds:
                t0 = time.perf_counter()
                for i in range(50):
                    ds.frame(i % a.runs, i % a.frames)
                t_frame = (time.perf_counter() - t0) / 50
                t0 = time.perf_counter()
                for i in range(a.runs):
                    ds.frames(i)
                t_read = time.perf_counter() - t0
            w = FrameWindows(path, n_frames=8, fields=["T", "P", "mu"])
            t0 = time.perf_counter()
            n = min(len(w), 200)
            for i in range(n):
                w[i]
            t_win = (time.perf_counter() - t0) / n
            print(f"{comp:5s} write {mb / t_write:7.1f} MB/s | file {size:6.1f} MB (ratio {mb / size:4.2f}) | "
                  f"one frame {1e3 * t_frame:6.2f} ms | read+validate {mb / t_read:7.1f} MB/s | "
                  f"8-frame window {1e3 * t_win:6.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
