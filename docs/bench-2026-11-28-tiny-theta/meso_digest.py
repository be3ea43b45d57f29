"""Per run of a meso file: the mean T [K] and P over all frames and cells, and T_hs at frames 5, 20, 35 [K]
(to compare a file simulated on another machine with this one's). Usage: python meso_digest.py MESO.h5"""
import sys

import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    print("attrs:", {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()
                     if "threshold" in k.lower()})
    print("normalisation mean:", np.array2string(f["normalisation/mean"][:], precision=6))
    for r in range(f["frames"].shape[0]):
        x = f["frames"][r]
        t = f["hotspots/T_hs_K"][r]
        print(r, f"{x[:, 0].mean():.6f} {x[:, 1].mean():.6f}", np.array2string(t[[5, 20, 35]], precision=3))
