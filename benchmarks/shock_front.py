"""Does a fitted model's free rollout carry the shock? Shocked pressure and front position, model vs truth.

For each run: the model is given its first frames (the fit's start frame .. ``--first-frames`` - 1),
rolled out with its transition means and decoded (``observation_noise=False``, median over a few
draws of the globals); per frame, the mean pressure over shocked cells (P > ``--p-shock`` GPa) and the
shock-front column (the right-most column whose mean P exceeds ``--p-shock``), for the truth and the
model. A model whose dynamics homogenise the domain shows the front at the last column within a few
frames whatever the piston velocity (what the rest-centred tokens fixed; models/README.md):

    python benchmarks/shock_front.py --model fit-dir --data micro.h5 --runs 190,191,195 --frames 1,3,6,12,23

One torch thread.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from probtok.cli import _parse_runs as parse_runs
from probtok.data import open_dataset
from probtok.predict import load_posterior, sample_forecast, task_posterior


def shock_stats(P: np.ndarray, p_shock: float) -> tuple[float, int]:
    """(mean P over cells above p_shock [GPa], right-most column whose mean P > p_shock; -1 if none)."""
    hot = P > p_shock
    cols = np.nonzero(P.mean(0) > p_shock)[0]
    return (float(P[hot].mean()) if hot.any() else 0.0), (int(cols.max()) if cols.size else -1)


def bulk_text(frame: np.ndarray, fields: list, p_shock: float, threshold_K: float) -> str:
    """'median T (share above the threshold)' of the shocked solid cells of one frame (field, y, x)."""
    T, P, mu = (frame[fields.index(f)] for f in ("T", "P", "mu"))
    sel = (P > p_shock) & (mu >= 0.99)
    if not sel.any():
        return "  --  "
    return f"{np.median(T[sel]):5.0f} ({(T[sel] > threshold_K).mean():4.0%})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="micro fit or adapted meso folder")
    ap.add_argument("--data", required=True, help="run file (micro or meso)")
    ap.add_argument("--runs", required=True, help="e.g. 190,191,195")
    ap.add_argument("--frames", default="1,3,6,12,23", help="frames to report")
    ap.add_argument("--first-frames", type=int, default=2)
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--p-shock", type=float, default=2.0, help="pressure that counts as shocked [GPa]")
    ap.add_argument("--temperature", action="store_true",
                    help="also the shocked solid's temperature: the median T [K] of the cells with P > --p-shock "
                         "and mu >= 0.99, and the share of them above the file's hot-spot threshold (shocked "
                         "bulk that the hot-spot metrics would count)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    post = load_posterior(args.model)
    fields = list(post.spec.fields)
    ip = fields.index("P")
    if args.temperature and not {"T", "mu"} <= set(fields):
        raise SystemExit("--temperature needs the fields T and mu in the model")
    frames = [int(f) for f in args.frames.split(",")]
    print(f"model {args.model} (start frame {post.start_frame}); per frame: truth | model, "
          f"'mean shocked P [GPa] @ front column'")
    with open_dataset(args.data) as ds:
        up, thr = ds.params.get("up_kms"), ds.hotspot_threshold_K
        if args.temperature:
            print(f"with --temperature: '... | median T of shocked solid [K] (share above {thr:g} K)'")
        for r in parse_runs(args.runs):
            truth = ds.frames(r, fields)
            x = post.normaliser.forward(torch.as_tensor(truth), field_axis=-3)
            first = x[: args.first_frames]
            c_post, _ = task_posterior(post, args.data, r, first, seed=r)
            d = sample_forecast(post, first, x.shape[0], args.draws, c_post=c_post, observation_noise=False, seed=r)
            model = np.median(post.normaliser.inverse(d, field_axis=-3).numpy(), 0)  # (frame, field, y, x)
            model_P = model[:, ip]
            cells = []
            for t in [f for f in frames if f < x.shape[0]]:
                (pt, ft), (pm, fm) = shock_stats(truth[t, ip], args.p_shock), shock_stats(model_P[t], args.p_shock)
                cell = f"t{t}: {pt:5.1f}@{ft:3d} | {pm:5.1f}@{fm:3d}"
                if args.temperature:
                    cell += " | " + " | ".join(bulk_text(a[t], fields, args.p_shock, thr) for a in (truth, model))
                cells.append(cell)
            label = f"Up {float(up[r]):.2f} km/s" if up is not None else ""
            print(f"run {r} {label}: " + "   ".join(cells), flush=True)


if __name__ == "__main__":
    main()
