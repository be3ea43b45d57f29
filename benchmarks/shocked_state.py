"""How well do the forecasts keep the shocked bulk state? Reads the forecast files of a
``probtok bench fewshot`` output folder and prints, per model, the mean forecast temperature on the
cells that are shocked, solid, not-hot bulk material in the truth, against the truth on the same cells.

Why: the hot-spot threshold of the default meso data (1000 K, the hottest bulk shocked T + 100 K)
sits about 100-400 K above the bulk shocked temperature of the runs. A forecast whose shocked bulk
drifts up by a few hundred kelvin over the rollout crosses the threshold over wide areas and reports
hot-spot area where the truth has none, and a bulk-dominated ``T_hs`` near the threshold.

Bulk cells of frame t (from the truth): ``mu > 0.95`` (solid), ``P > p_min`` GPa (shocked; default
2 GPa) and ``T < threshold`` (not a hot spot). Printed per model and frame, averaged over the test
runs: the truth's mean T on those cells, the forecast's (the mean over draws, ``field_mean``), their
difference, and the fraction of those cells where the forecast mean is above the threshold.

    python benchmarks/shocked_state.py --bench BENCH_OUT [--frames 6,12,24,35] [--per-run adapted/K4_s0]

Reads files only (seconds); prints a Markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from probtok.forecast import read_forecast


def bulk_state(path: Path, frames: list[int], p_min_gpa: float) -> dict[int, tuple[float, float, float]]:
    """{frame: (truth mean T [K], forecast mean T [K], fraction of bulk cells forecast above the threshold)}
    over the truth's shocked solid not-hot cells; frames with no such cell are left out."""
    ds = read_forecast(path)
    thr = float(ds.attrs["hotspot_threshold_K"])
    truth, mean = ds["field_truth"], ds["field_mean"]
    out = {}
    for t in frames:
        if t >= truth.sizes["frame"]:
            continue
        T, P, mu = (truth.sel(field=f).isel(frame=t).values.astype(float) for f in ("T", "P", "mu"))
        bulk = (mu > 0.95) & (P > p_min_gpa) & (T < thr)
        if not bulk.any():
            continue
        Tf = mean.sel(field="T").isel(frame=t).values.astype(float)[bulk]
        out[t] = (float(T[bulk].mean()), float(Tf.mean()), float(np.mean(Tf > thr)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="output folder of probtok bench fewshot")
    ap.add_argument("--frames", default="6,12,24,35")
    ap.add_argument("--p-min", type=float, default=2.0, help="pressure [GPa] above which a cell counts as shocked")
    ap.add_argument("--per-run", default=None, help="also print every test run of this model folder, "
                                                    "e.g. adapted/K4_s0")
    args = ap.parse_args()
    frames = [int(f) for f in args.frames.split(",")]
    root = Path(args.bench) / "forecasts"
    dirs = sorted({p.parent for p in root.rglob("run_*.nc")})
    if not dirs:
        raise SystemExit(f"no forecast files under {root}")
    print("| model | " + " | ".join(f"frame {t}: truth / forecast [K] (above thr.)" for t in frames) + " |")
    print("|---|" + "---|" * len(frames))
    for d in dirs:
        per = [bulk_state(p, frames, args.p_min) for p in sorted(d.glob("run_*.nc"))]
        cells = []
        for t in frames:
            rows = [r[t] for r in per if t in r]
            if not rows:
                cells.append("-")
                continue
            a = np.mean(rows, axis=0)
            cells.append(f"{a[0]:.0f} / {a[1]:.0f} ({a[1] - a[0]:+.0f}; {a[2]:.0%})")
        print(f"| {d.relative_to(root)} | " + " | ".join(cells) + " |")
    if args.per_run:
        print(f"\n{args.per_run}, per test run:\n")
        print("| run | up [km/s] | " + " | ".join(f"frame {t}" for t in frames) + " |")
        print("|---|---|" + "---|" * len(frames))
        for p in sorted((root / args.per_run).glob("run_*.nc")):
            ds = read_forecast(p)
            r = bulk_state(p, frames, args.p_min)
            up = ds.attrs.get("param_up_kms", float("nan"))
            print(f"| {int(ds.attrs['run_id'])} | {float(up):.2f} | " + " | ".join(
                f"{r[t][0]:.0f} / {r[t][1]:.0f}" if t in r else "-" for t in frames) + " |")


if __name__ == "__main__":
    main()
