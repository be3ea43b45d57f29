"""Are forecasts run-specific? Per test run: piston velocity, true and forecast T_hs / A_hs at a frame.

Reads the forecast files (``run_*.nc`` of ``probtok forecast`` or of ``probtok bench fewshot``'s
``forecasts/<model>/<K>_s<subset>/``) of a folder and prints, per run, the truth and the forecast
median with its 5-95 % interval at ``--frame`` (default: the last), then the Spearman rank correlation
over runs between the forecast median and the truth. A forecast that ignores the run (the same fan for
every piston velocity) has a correlation near 0 whatever the spread of the truth:

    python benchmarks/run_specificity.py bench/forecasts/adapted/K4_s0 --frame 35
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from probtok.forecast import read_forecast


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="folder with run_*.nc forecast files (with truth)")
    ap.add_argument("--frame", type=int, default=-1, help="frame index (default: the last)")
    args = ap.parse_args()
    files = sorted(Path(args.folder).glob("run_*.nc"))
    if not files:
        raise SystemExit(f"no run_*.nc forecast files in {args.folder}")
    rows = []
    for f in files:
        ds = read_forecast(f)
        t = args.frame if args.frame >= 0 else ds.sizes["frame"] + args.frame
        row = {"run": int(ds.attrs["run_id"]), "up": ds.attrs.get("param_up_kms", float("nan"))}
        for q in ("T_hs", "A_hs"):
            qs = ds[f"{q}_quantiles"].isel(frame=t)
            row[q] = (float(ds[f"{q}_truth"].isel(frame=t)), float(qs.sel(quantile=0.5)),
                      float(qs.sel(quantile=0.05)), float(qs.sel(quantile=0.95)))
        rows.append(row)
    print(f"{args.folder}: frame {t}; truth | forecast median [5 %, 95 %]")
    for r in rows:
        T, A = r["T_hs"], r["A_hs"]
        print(f"run {r['run']:3d}  Up {r['up']:.2f} km/s  T_hs {T[0]:6.0f} | {T[1]:6.0f} [{T[2]:5.0f}, {T[3]:5.0f}] K"
              f"   A_hs {A[0]:6.1f} | {A[1]:6.1f} [{A[2]:5.1f}, {A[3]:5.1f}] um^2")
    for q in ("T_hs", "A_hs"):
        truth, med = np.array([r[q][0] for r in rows]), np.array([r[q][1] for r in rows])
        rho = spearmanr(truth, med).statistic if np.ptp(truth) > 0 and np.ptp(med) > 0 else float("nan")
        print(f"{q}: Spearman rank correlation of forecast median with truth over {len(rows)} runs: {rho:.2f}")


if __name__ == "__main__":
    main()
