"""What a run file's hot-spot series count at two thresholds: the file and its copy (``probtok rethreshold``).

For the ok runs of both files (the same runs, frames and fields), grouped by the piston velocity at the split
values: per group and frame, the mean of ``A_hs`` [um^2] and the share of runs with a hot spot, at each
file's threshold; and the inflow state of the group's hottest run (the HMX Hugoniot at its ``up_kms``,
:func:`probtok.data.threshold.inflow_temperatures`). Where the old threshold sat just above the inflow
layer, the series at that threshold count the shocked bulk behind the piston from the first frames:

    python benchmarks/threshold_shift.py meso-test.h5 meso-test-rt.h5 --split 1.4 1.75 --frames 1,2,4,8,16,35
"""

from __future__ import annotations

import argparse

import numpy as np

from probtok.data import open_dataset
from probtok.data.threshold import inflow_temperatures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", help="run file")
    ap.add_argument("new", help="the same runs at another threshold")
    ap.add_argument("--split", type=float, nargs="+", default=[1.4, 1.75], help="up_kms split values")
    ap.add_argument("--frames", default="1,2,4,8,16,35", help="frames to report")
    args = ap.parse_args()
    frames = [int(f) for f in args.frames.split(",")]
    series = []
    for path in (args.old, args.new):
        with open_dataset(path) as ds:
            ok, hs = ds.ok_runs, ds.hotspots()
            up = np.asarray(ds.param("up_kms"), float)[ok]
            series.append((ds.hotspot_threshold_K, hs["A_hs"][ok], inflow_temperatures(ds)[ok]))
    (t0, a0, inflow), (t1, a1, _) = series
    if a0.shape != a1.shape:
        raise SystemExit("the two files hold different runs or frames")
    frames = [f for f in frames if f < a0.shape[1]]
    edges = [-np.inf, *sorted(args.split), np.inf]
    print(f"{args.old}: threshold {t0:g} K; {args.new}: {t1:g} K; {len(up)} ok runs\n")
    head = " | ".join(f"frame {f}" for f in frames)
    print(f"| up_kms | runs | hottest inflow [K] | at | {head} |")
    print("| --- | ---: | ---: | --- |" + " ---: |" * len(frames))
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (up >= lo) & (up < hi)
        if not sel.any():
            continue
        name = f"{'' if np.isinf(lo) else f'{lo:g} <= '}up{'' if np.isinf(hi) else f' < {hi:g}'}"
        for t, a in ((t0, a0), (t1, a1)):
            cells = " | ".join(f"{a[sel, f].mean():.1f} um^2 ({(a[sel, f] > 0).mean():.0%})" for f in frames)
            print(f"| {name} | {int(sel.sum())} | {np.nanmax(inflow[sel]):.0f} | {t:g} K | {cells} |")
    pts0, pts1 = (a0[:, 1:] > 0).mean(), (a1[:, 1:] > 0).mean()
    print(f"\n(run, frame) points after frame 0 with a hot spot: {pts0:.0%} at {t0:g} K, {pts1:.0%} at {t1:g} K")
    print("cells: mean A_hs over the group's runs (share of its runs with a hot spot)")


if __name__ == "__main__":
    main()
