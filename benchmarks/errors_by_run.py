"""Hot-spot forecast errors split by a run parameter (weak against strong shocks).

Reads finished forecast files (``run_NNNN.nc`` of ``probtok forecast``, a benchmark's or a rescore's
``forecasts/<model>/...`` folders), groups the runs by a run parameter stored in each file (default the
piston velocity ``up_kms``) at the given split values, and prints per model and group the scores of
``T_hs`` and ``A_hs`` pooled over the group's (run, frame) points (:func:`probtok.calibration.calibration_table`:
RMSE and mean signed error (bias) of the median, 50 % and 90 % coverage; forecast frames only). With
``--per-run`` also one line per run. Pooled RMSEs differ from ``bench.json``'s, which average per-run RMSEs.
With ``--by-frame 2,4,8`` also, per model, group and quantity, at those frames: the truth's mean over the
group's runs, the mean of (median - truth), and the share of runs whose truth lies above the forecast's
95 % quantile (when a hot spot forms or grows earlier in the truth than in every draw but a few).

    python benchmarks/errors_by_run.py --split 1.4 -- \\
        micro-only=RESCORE/forecasts/micro-only adapted-s0=RESCORE/forecasts/adapted/K4_s0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from probtok.calibration import calibration_table
from probtok.cli import _parse_runs
from probtok.forecast import read_forecast
from probtok.predict import forecast_path

QUANTITIES = ("T_hs", "A_hs")


def _groups(values: dict[int, float], splits: list[float], name: str) -> list[tuple[str, list[int]]]:
    """[(label, runs)] of the runs whose parameter ``name`` lies in each interval between the split values."""
    edges = [-np.inf, *sorted(splits), np.inf]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        runs = sorted(r for r, v in values.items() if lo <= v < hi)
        if runs:
            out.append((f"{'' if np.isinf(lo) else f'{lo:g} <= '}{name}{'' if np.isinf(hi) else f' < {hi:g}'}", runs))
    return out


def _row(table: dict) -> str:
    cells = []
    for q in QUANTITIES:
        s = table["quantities"][q]
        cells += [f"{s['rmse_median']:.0f}", f"{s['bias_median']:+.0f}",
                  f"{s['coverage']['0.5']:.2f} / {s['coverage']['0.9']:.2f}"]
    return " | ".join(cells)


def _by_frame(dss: list, frames: list[int]) -> list[str]:
    """Rows "quantity | statistic | value per frame" of :func:`main`'s ``--by-frame`` table for one group of
    forecasts (each with its draws and the truth)."""
    rows = []
    for q in QUANTITIES:
        draws = np.stack([ds[f"{q}_draws"].values for ds in dss])  # (run, draw, frame)
        truth = np.stack([ds[f"{q}_truth"].values for ds in dss])  # (run, frame)
        med, q95 = np.median(draws, axis=1), np.quantile(draws, 0.95, axis=1)
        for name, v in (("truth, mean", truth.mean(0)), ("median - truth, mean", (med - truth).mean(0)),
                        ("share of runs with truth > q95", (truth > q95).mean(0))):
            fmt = ".2f" if name.startswith("share") else ".0f" if q == "T_hs" else ".1f"
            rows.append(f"{q} | {name} | " + " | ".join(format(v[f], fmt) for f in frames))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="LABEL=FOLDER of forecast files, one per model")
    ap.add_argument("--param", default="up_kms", help="run parameter to split by (a file attribute param_<name>)")
    ap.add_argument("--split", type=float, nargs="+", required=True, help="split values of the parameter")
    ap.add_argument("--per-run", action="store_true", help="also one line per run")
    ap.add_argument("--runs", help="only these runs, e.g. 0-14 (default: every forecast file)")
    ap.add_argument("--by-frame", help="also errors at these frames, e.g. 2,4,8,16 (see above)")
    args = ap.parse_args()
    frames = sorted(set(_parse_runs(args.by_frame))) if args.by_frame else []
    head = ("| model | runs | n | RMSE T_hs [K] | bias T_hs [K] | cov. 50 / 90 % T_hs | RMSE A_hs [um^2] "
            "| bias A_hs [um^2] | cov. 50 / 90 % A_hs |")
    print(f"parameter {args.param}, split at {', '.join(f'{v:g}' for v in args.split)}; scores pooled over "
          "(run, frame) points of the forecast frames\n")
    print(head)
    print("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |")
    per_run_lines, frame_lines = [], []
    for spec in args.models:
        label, _, folder = spec.partition("=")
        if not folder:
            ap.error(f"give LABEL=FOLDER, not {spec!r}")
        if args.runs:  # the files probtok forecast writes for these runs
            files = [forecast_path(folder, r) for r in sorted(set(_parse_runs(args.runs)))]
            lacking = [f.name for f in files if not f.exists()]
            if lacking:
                ap.error(f"{folder} has no {', '.join(lacking)}")
        else:
            files = sorted(Path(folder).glob("run_*.nc"))
        if not files:
            ap.error(f"no run_*.nc forecast files in {folder}")
        dss = {int(ds.attrs["run_id"]): ds for ds in map(read_forecast, files)}
        key = f"param_{args.param}"
        missing = [r for r, ds in dss.items() if key not in ds.attrs]
        if missing:
            ap.error(f"forecasts of runs {missing} in {folder} record no run parameter {args.param!r}")
        values = {r: float(ds.attrs[key]) for r, ds in dss.items()}
        print(f"| {label} | all | {len(dss)} | {_row(calibration_table(list(dss.values()), QUANTITIES))} |")
        n_frames = min(ds.sizes["frame"] for ds in dss.values())
        if frames and frames[-1] >= n_frames:
            ap.error(f"--by-frame {frames[-1]}: the forecasts in {folder} have frames 0-{n_frames - 1}")
        for glabel, runs in _groups(values, args.split, args.param):
            table = calibration_table([dss[r] for r in runs], QUANTITIES)
            print(f"| {label} | {glabel} | {len(runs)} | {_row(table)} |")
            if frames:
                frame_lines += [f"| {label} | {glabel} | {row} |" for row in _by_frame([dss[r] for r in runs], frames)]
        if args.per_run:
            for r in sorted(dss, key=values.get):
                table = calibration_table([dss[r]], QUANTITIES)
                per_run_lines.append(f"| {label} | {r} | {values[r]:.3f} | {_row(table)} |")
    if frame_lines:
        print(f"\n| model | runs | quantity | statistic | " + " | ".join(f"frame {f}" for f in frames) + " |")
        print("| --- | --- | --- | --- | " + " | ".join("---:" for _ in frames) + " |")
        print("\n".join(frame_lines))
    if per_run_lines:
        print(f"\n| model | run | {args.param} | RMSE T_hs [K] | bias T_hs [K] | cov. 50 / 90 % T_hs "
              "| RMSE A_hs [um^2] | bias A_hs [um^2] | cov. 50 / 90 % A_hs |")
        print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |")
        print("\n".join(per_run_lines))


if __name__ == "__main__":
    main()
