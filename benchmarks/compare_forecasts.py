"""Score the forecasts of two ``probtok bench fewshot`` output folders side by side, model folder by model
folder (e.g. the same fits forecast under two rules for a test run's task latent, ``--new-task``).

    python benchmarks/compare_forecasts.py --a BENCH_A --b BENCH_B [--labels prior,training-runs]

For every ``forecasts/<model>/<K_subset>`` folder that holds the same test runs in both, prints one row
per folder and side: RMSE of the median ``T_hs`` / ``A_hs``, CRPS of ``T_hs``, 90 % and 50 % coverage of
``T_hs`` / ``A_hs`` and the field RMSE of T, with :func:`probtok.bench.forecast_scores` (the benchmark's
own scoring). Reads files only (seconds); prints a Markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from probtok.bench import forecast_scores


def model_folders(root: Path) -> dict[str, list[Path]]:
    """{model folder relative to forecasts/: sorted forecast files}."""
    base = root / "forecasts"
    return {str(d.relative_to(base)): sorted(d.glob("run_*.nc"))
            for d in sorted({p.parent for p in base.rglob("run_*.nc")})}


def row(label: str, folder: str, files: list[Path]) -> str:
    s = forecast_scores(files)
    cov = lambda k: f"{s[k]['T_hs']:.2f} / {s[k]['A_hs']:.2f}"  # noqa: E731
    return (f"| {folder} | {label} | {s['rmse']['T_hs']['mean']:.0f} / {s['rmse']['A_hs']['mean']:.1f} | "
            f"{s['crps']['T_hs']:.0f} | {cov('coverage90')} | {cov('coverage50')} | {s['field_rmse']['T']['mean']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="one bench fewshot output folder")
    ap.add_argument("--b", required=True, help="the other")
    ap.add_argument("--labels", default="a,b", help="names of the two sides in the table")
    args = ap.parse_args()
    la, lb = args.labels.split(",")
    fa, fb = model_folders(Path(args.a)), model_folders(Path(args.b))
    both = [k for k in fa if k in fb and [p.name for p in fa[k]] == [p.name for p in fb[k]]]
    if not both:
        raise SystemExit("no model folder holds the same test runs in both")
    print("| model | side | RMSE T_hs [K] / A_hs [um^2] | CRPS T_hs [K] | 90 % cov. T_hs / A_hs | "
          "50 % cov. T_hs / A_hs | field RMSE T [K] |")
    print("|---|---|---|---|---|---|---|")
    for k in both:
        print(row(la, k, fa[k]))
        print(row(lb, k, fb[k]))


if __name__ == "__main__":
    main()
