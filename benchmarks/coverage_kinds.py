"""Interval coverage against PIT coverage of finished forecasts: how much the atom at 0 moves the numbers.

``T_hs`` and ``A_hs`` are exactly 0 while no cell is hot, and the forecasts put a point mass there. Where
that atom holds more than (1 - level) / 2 of the draws, the central interval starts at 0 and holds more
than ``level`` of the forecast's own draws, so even a calibrated forecast covers the truth more often than
``level`` (:mod:`probtok.calibration`). This prints, per labelled folder of forecast files
(``run_NNNN.nc`` of ``probtok forecast``, or a benchmark's or a rescore's ``forecasts/<model>/...``), pooled
over its (run, frame) points of the forecast frames (:func:`probtok.calibration.calibration_table`):

* the share of points whose truth is 0, and of points whose draws are 0 in at least 25 % / 5 % (where the
  50 % / 90 % interval starts at 0);
* per quantity and level: the interval coverage, the intervals' own content (the interval coverage a
  calibrated forecast has), and the PIT coverage (the randomized interval's: the level, if calibrated);
* how many of these four coverages lie in issue 4's target bands (50 %: [0.40, 0.60], 90 %: [0.85, 0.95]),
  interval coverage / PIT coverage;
* then, per folder, the benchmark's errors (:func:`probtok.bench.forecast_scores`: the RMSE of each run's
  median, averaged over the runs, and the CRPS), to set calibration beside accuracy.

    python benchmarks/coverage_kinds.py adapted-s0=RESCORE/forecasts/adapted/K4_s0 \\
        adapted-s1=RESCORE/forecasts/adapted/K4_s1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from probtok.bench import forecast_scores
from probtok.calibration import _quantity_arrays, _select, calibration_table
from probtok.forecast import read_forecast

QUANTITIES = ("T_hs", "A_hs")
BANDS = {"0.5": (0.40, 0.60), "0.9": (0.85, 0.95)}  # issue 4's targets


def atom_shares(forecasts, quantity: str = "A_hs") -> tuple[float, float, float]:
    """(truth is 0, draws at 0 >= 25 %, draws at 0 >= 5 %): shares of the scored, non-trivial points."""
    xs, ys = zip(*(_quantity_arrays(fc, quantity, i) for i, fc in enumerate(forecasts)))
    x, y, _ = _select(np.concatenate([np.asarray(v).reshape(v.shape[0], -1) for v in xs], axis=1),
                      np.concatenate([np.asarray(v).reshape(-1) for v in ys]), drop_trivial=True)
    p0 = (x == 0).mean(axis=0)
    return float(np.mean(y == 0)), float(np.mean(p0 >= 0.25)), float(np.mean(p0 >= 0.05))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="LABEL=FOLDER of forecast files")
    args = ap.parse_args()
    print("scores pooled over the (run, frame) points of the forecast frames (points where every draw equals "
          "the truth dropped); cov = interval coverage, own = the intervals' own content, PIT = PIT coverage\n")
    print("| forecasts | runs | points | truth 0 | atom >= 25 % / >= 5 % | "
          + " | ".join(f"{q} {lv} % cov / own / PIT" for q in QUANTITIES for lv in (50, 90)) + " | in band |")
    print("|---|---:|---:|---:|---|" + "---|" * (2 * len(QUANTITIES)) + "---|")
    errors = []
    for spec in args.models:
        label, _, folder = spec.partition("=")
        files = sorted(Path(folder).glob("run_*.nc"))
        if not files:
            raise SystemExit(f"{folder}: no run_*.nc forecast files")
        sc = forecast_scores(files)
        errors.append(f"| {label} | {sc['rmse']['T_hs']['mean']:.0f} | {sc['rmse']['A_hs']['mean']:.1f} | "
                      f"{sc['crps']['T_hs']:.0f} | {sc['crps']['A_hs']:.1f} |")
        dss = [read_forecast(f) for f in files]
        table = calibration_table(dss, quantities=QUANTITIES)
        zero, a25, a05 = atom_shares(dss)
        cells, n_in = [], {"coverage": 0, "coverage_pit": 0}
        for q in QUANTITIES:
            s = table["quantities"][q]
            for lv in ("0.5", "0.9"):
                cells.append(f"{s['coverage'][lv]:.2f} / {s['interval_content'][lv]:.2f} / "
                             f"**{s['coverage_pit'][lv]:.2f}**")
                for kind in n_in:  # the rounded value, as printed
                    n_in[kind] += BANDS[lv][0] <= round(s[kind][lv], 2) <= BANDS[lv][1]
        print(f"| {label} | {len(dss)} | {table['quantities']['A_hs']['n_points']} | {zero:.2f} | "
              f"{a25:.2f} / {a05:.2f} | " + " | ".join(cells) +
              f" | {n_in['coverage']} / {n_in['coverage_pit']} of {2 * len(QUANTITIES)} |")
    print("\nerrors (the benchmark's: RMSE of each run's median, averaged over the runs; CRPS pooled)\n")
    print("| forecasts | RMSE T_hs [K] | RMSE A_hs [um^2] | CRPS T_hs [K] | CRPS A_hs [um^2] |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(errors))


if __name__ == "__main__":
    main()
