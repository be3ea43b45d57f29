"""How far a fitted tokenizer's own reconstruction is from the true hot spots.

Every true frame of the given runs is encoded (the amortized filter, :func:`probtok.evaluate._reconstruct`)
and decoded; the hot-spot metrics (:mod:`probtok.hotspots`, the file's threshold) of the reconstruction are
compared with the truth's. A forecast decodes the same tokens without seeing the frames, so this is an error
it seldom beats. Prints per model: the signed error of T_hs where both have a hot spot (median and
quartiles), the fraction of the truth's hot frames in which the reconstruction has no hot cell, the signed
error of A_hs (median), and the peak temperature of each run, truth against reconstruction.

    python benchmarks/tokenizer_ceiling.py --data meso.h5 --runs 24-29 --models BENCH/micro-fit FIT_S4

(``probtok evaluate`` reports the mean |error| of the same reconstruction as its "reconstruction" row.)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from probtok.cli import _parse_runs
from probtok.data import open_dataset
from probtok.evaluate import _reconstruct
from probtok.hotspots import hotspot_area, hotspot_temperature
from probtok.predict import load_posterior


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="run file (HDF5)")
    ap.add_argument("--runs", required=True, help="runs, e.g. 24-29")
    ap.add_argument("--models", nargs="+", required=True, help="fitted model folders")
    args = ap.parse_args()
    torch.set_num_threads(1)
    runs = _parse_runs(args.runs)
    for model in args.models:
        post = load_posterior(model)
        i = list(post.spec.fields).index("T")
        dT, dA, missed, peaks, hot = [], [], [], [], 0
        with open_dataset(args.data) as ds, torch.no_grad():
            thr, dx = ds.hotspot_threshold_K, ds.dx_um
            for r in runs:
                x = torch.as_tensor(ds.frames(r, post.spec.fields))
                rec = post.normaliser.inverse(_reconstruct(post.guide, post.model,
                                                           post.normaliser.forward(x, field_axis=-3)), field_axis=-3)
                T_true, T_rec = x[:, i].double(), rec[:, i].double()
                a, b = hotspot_temperature(T_true, thr).numpy(), hotspot_temperature(T_rec, thr).numpy()
                both = (a > 0) & (b > 0)
                dT.append((b - a)[both])
                missed.append(((a > 0) & (b == 0)).sum())
                hot += int((a > 0).sum())
                dA.append((hotspot_area(T_rec, dx, thr) - hotspot_area(T_true, dx, thr)).numpy())
                peaks.append(f"{T_true.amax().item():.0f} / {T_rec.amax().item():.0f}")
        dT, dA = np.concatenate(dT), np.concatenate(dA)
        q1, q2, q3 = np.percentile(dT, [25, 50, 75]) if dT.size else (np.nan,) * 3
        print(f"{model} ({post.meta.get('config_name', '?')}, token size {post.spec.token_size}, token dim "
              f"{post.spec.token_dim}, decoder width {post.spec.decoder_width}), runs {args.runs} of {args.data}, "
              f"threshold {thr:g} K:")
        print(f"  T_hs reconstruction - truth where both are hot: median {q2:.0f} K (quartiles {q1:.0f} .. {q3:.0f} K,"
              f" {dT.size} frames); no hot cell reconstructed in {sum(missed)} of the truth's {hot} hot "
              f"frames")
        print(f"  A_hs reconstruction - truth: median {np.median(dA):.1f} um^2; peak T per run, truth / "
              f"reconstruction [K]: {', '.join(peaks)}")


if __name__ == "__main__":
    main()
