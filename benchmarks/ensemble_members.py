"""Scores of ensemble members and of the ensembles pooled from them, from finished forecast files.

Each argument ``NAME=DIR`` is a folder of forecasts (``run_NNNN.nc`` of ``probtok forecast``, or a benchmark's /
rescore's ``forecasts/<model>/...``); ``NAME=DIR:m`` takes member m's draws of an ensemble forecast (its
``ensemble_draws`` attribute says how the draws split among the members, in member order). The script prints,
per given model and then for the equal-weight pool of all of them (and, with ``--leave-one-out``, of all but
each one): the RMSE of the median as ``bench.json`` has it (mean over runs of each run's RMSE) and pooled over
(run, frame), the CRPS, and the randomized-PIT coverages of the 90 % and 50 % intervals
(:func:`probtok.calibration.calibration_table`), of ``T_hs`` and ``A_hs``, on the runs that every folder holds,
over their forecast frames. A pool takes the same number of draws from each model (the first ones, as many as
the smallest has), so that it weighs them equally.

    python benchmarks/ensemble_members.py --leave-one-out -- \\
        m0=RESCORE/forecasts/adapted/K4_s0:0 m1=RESCORE/forecasts/adapted/K4_s0:1 new3=/tmp/fc-m3
"""

from __future__ import annotations

import argparse
import itertools
import re
from pathlib import Path

import numpy as np
import xarray as xr

from probtok.calibration import calibration_table, horizon_slice

QUANTITIES = ("T_hs", "A_hs")


def _spec(text: str) -> tuple[str, Path, int | None]:
    name, sep, where = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=DIR or NAME=DIR:MEMBER")
    m = re.fullmatch(r"(.*):(\d+)", where)
    return (name, Path(m.group(1)), int(m.group(2))) if m else (name, Path(where), None)


def load(folder: Path, member: int | None) -> dict[int, dict]:
    """{run: {"first_frames", quantity: (draws (draw, frame), truth (frame))}} of one folder (one member's draws
    when ``member`` is given)."""
    files = sorted(folder.glob("run_*.nc"))
    if not files:
        raise SystemExit(f"{folder}: no run_*.nc forecast files")
    out = {}
    for f in files:
        with xr.open_dataset(f) as ds:
            sel = slice(None)
            if member is not None:
                sizes = [int(s) for s in str(ds.attrs.get("ensemble_draws", ds.sizes["draw"])).split(",")]
                if member >= len(sizes):
                    raise SystemExit(f"{f}: member {member} asked for, the forecast has {len(sizes)}")
                start = sum(sizes[:member])
                sel = slice(start, start + sizes[member])
            entry = {"first_frames": int(ds.attrs.get("first_frames", 1))}
            for q in QUANTITIES:
                entry[q] = (ds[f"{q}_draws"].values[sel], ds[f"{q}_truth"].values)
            out[int(ds.attrs["run_id"])] = entry
    return out


def pooled(models: list[dict[int, dict]], runs: list[int]) -> dict[int, dict]:
    """The equal-weight pool of ``models``: per run, the first n draws of each, n = the fewest any of them has."""
    out = {}
    for r in runs:
        n = min(m[r]["T_hs"][0].shape[0] for m in models)
        out[r] = {"first_frames": models[0][r]["first_frames"],
                  **{q: (np.concatenate([m[r][q][0][:n] for m in models]), models[0][r][q][1]) for q in QUANTITIES}}
    return out


def scores(model: dict[int, dict], runs: list[int]) -> dict:
    """{quantity: {rmse_runs (mean of per-run RMSEs), rmse_pooled, crps, pit90, pit50}} over the forecast frames."""
    fcs = []
    for r in runs:
        keep = horizon_slice(model[r]["first_frames"], "frame")
        fcs.append({"run_id": r, **{q: (model[r][q][0][:, keep], model[r][q][1][keep]) for q in QUANTITIES}})
    table = calibration_table(fcs, QUANTITIES)
    out = {}
    for q in QUANTITIES:
        s = table["quantities"][q]
        out[q] = {"rmse_runs": float(np.mean([row["quantities"][q]["rmse_median"] for row in table["per_run"]])),
                  "rmse_pooled": s["rmse_median"], "crps": s["crps"],
                  "pit90": s["coverage_pit"]["0.9"], "pit50": s["coverage_pit"]["0.5"]}
    return out


def row(name: str, s: dict) -> str:
    cells = []
    for q in QUANTITIES:
        v = s[q]
        cells += [f"{v['rmse_runs']:.1f}", f"{v['rmse_pooled']:.1f}", f"{v['crps']:.1f}", f"{v['pit90']:.2f}",
                  f"{v['pit50']:.2f}"]
    return f"| {name} | " + " | ".join(cells) + " |"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=_spec, help="NAME=DIR or NAME=DIR:MEMBER")
    ap.add_argument("--leave-one-out", action="store_true", help="also the pools of all models but each one")
    ap.add_argument("--no-pool", action="store_true", help="only the given models, no pool of them")
    args = ap.parse_args(argv)
    names = [n for n, _, _ in args.models]
    if len(set(names)) != len(names):
        raise SystemExit("give every model its own NAME")
    models = [load(d, m) for _, d, m in args.models]
    runs = sorted(set.intersection(*(set(m) for m in models)))
    if not runs:
        raise SystemExit("the folders hold no run in common")
    for m, (name, _, _) in zip(models, args.models):
        for r in runs:
            for q in QUANTITIES:
                if not np.allclose(m[r][q][1], models[0][r][q][1], equal_nan=True):
                    raise SystemExit(f"{name}: the truth of run {r} differs from {names[0]}'s (other data?)")
    print(f"{len(runs)} runs: {runs}; forecast frames only; RMSE runs = mean of per-run RMSEs (as bench.json), "
          "pooled = over all (run, frame) points; PIT = randomized-PIT coverage\n")
    head = []
    for q in QUANTITIES:
        head += [f"RMSE {q} runs", "pooled", f"CRPS {q}", f"PIT90 {q}", f"PIT50 {q}"]
    print("| model | " + " | ".join(head) + " |")
    print("| --- |" + " ---: |" * len(head))
    for name, m in zip(names, models):
        print(row(name, scores(m, runs)))
    if len(models) > 1 and not args.no_pool:
        print(row("pool of all", scores(pooled(models, runs), runs)))
        if args.leave_one_out and len(models) > 2:
            for i, name in enumerate(names):
                rest = [m for j, m in enumerate(models) if j != i]
                print(row(f"pool without {name}", scores(pooled(rest, runs), runs)))


if __name__ == "__main__":
    main()
