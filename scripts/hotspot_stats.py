#!/usr/bin/env python
"""Hot-spot statistics of a run file: does each hot spot grow or quench?

Usage:  python scripts/hotspot_stats.py FILE.h5 [--threshold-K 875] [--json stats.json]

Per ok run it prints the peak hot-spot temperature T_hs [K] (and when it
occurs), the peak and final hot-spot area A_hs [um^2], the final reacted area
(cells with reaction progress lam > 0.5, when the file has lam) and a class:

* "grow":   the hot spot kept growing after pore collapse: the final A_hs
            exceeds 1.1 x A_hs at its first peak (the end of the collapse),
* "quench": it formed and then shrank or stalled below that,
* "none":   no cell ever exceeded the threshold
(see probtok.hotspots.growth_class). The fractions of each class close the
table: the evidence that a campaign holds both quenching and growing hot spots.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


HEADERS = {"up_kms": "Up [km/s]", "peak_T_hs_K": "peak T_hs [K]", "t_peak_T_hs_ns": "at t [ns]",
           "peak_A_hs_um2": "peak A_hs [um^2]", "final_A_hs_um2": "final A_hs [um^2]",
           "final_reacted_area_um2": "final reacted [um^2]"}


def run_stats(ds, threshold_K: float | None) -> list[dict]:
    """Per-run hot-spot statistics of an open RunDataset."""
    from probtok.hotspots import growth_class, hotspot_area, hotspot_temperature

    stored = ds.hotspots() if threshold_K is None else None
    thr = ds.hotspot_threshold_K if threshold_K is None else threshold_K
    rows = []
    for r in ds.ok_runs:
        r = int(r)
        if stored is not None:
            T_hs, A_hs = stored["T_hs"][r], stored["A_hs"][r]
        else:
            T = ds.frames(r, ["T"])[:, 0]
            T_hs, A_hs = hotspot_temperature(T, thr), hotspot_area(T, ds.dx_um, thr)
        row = {"run": r, "peak_T_hs_K": float(T_hs.max()), "t_peak_T_hs_ns": float(ds.time_ns[np.argmax(T_hs)]),
               "peak_A_hs_um2": float(A_hs.max()), "final_A_hs_um2": float(A_hs[-1]),
               "class": str(growth_class(A_hs))}
        if "lam" in ds.fields:
            lam = ds.frames(r, ["lam"])[:, 0]
            row["final_reacted_area_um2"] = float((lam[-1] > 0.5).sum() * ds.dx_um**2)
        for p in ("up_kms", "porosity", "d_eq_um", "shape"):
            if p in ds.params:
                v = ds.params[p][r]
                row[p] = v.item() if hasattr(v, "item") else v
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--threshold-K", type=float, default=None,
                    help="recompute at this threshold [K] (default: the file's stored threshold)")
    ap.add_argument("--json", default=None, help="also write the statistics as JSON here")
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from probtok.atomic import atomic_write_text
    from probtok.data import open_dataset
    from probtok.errors import ProbtokError

    console = Console(width=max(Console().width, 150))
    try:
        with open_dataset(args.file) as ds:
            thr = ds.hotspot_threshold_K if args.threshold_K is None else args.threshold_K
            rows = run_stats(ds, args.threshold_K)
            n_failed = ds.n_runs - len(ds.ok_runs)
    except ProbtokError as exc:
        print(f"error: {exc.one_line()}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2
    cols = [c for c in ("run", "up_kms", "porosity", "shape", "peak_T_hs_K", "t_peak_T_hs_ns", "peak_A_hs_um2",
                        "final_A_hs_um2", "final_reacted_area_um2", "class") if rows and c in rows[0]]
    t = Table(title=f"{args.file}: hot spots at T > {thr:g} K ({len(rows)} ok runs, {n_failed} failed)",
              title_justify="left")
    for c in cols:
        t.add_column(escape(HEADERS.get(c, c)), justify="left" if c in ("shape", "class") else "right")
    for row in rows:
        t.add_row(*(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in cols))
    console.print(t)
    n = max(len(rows), 1)
    counts = {c: sum(r["class"] == c for r in rows) for c in ("grow", "quench", "none")}
    console.print("fractions: " + ", ".join(f"{c} {k}/{len(rows)} = {k / n:.2f}" for c, k in counts.items()))
    if rows and "final_reacted_area_um2" in rows[0]:
        reacting = sum(r["final_reacted_area_um2"] > 0 for r in rows)
        console.print(f"runs with reacted area (lam > 0.5) at the last frame: {reacting}/{len(rows)} = "
                      f"{reacting / n:.2f}")
    if args.json:
        atomic_write_text(args.json, json.dumps({"file": args.file, "threshold_K": thr, "runs": rows,
                                                 "counts": counts, "n_failed": n_failed}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
