"""Run 24 of the benchmark's meso file alone (the whole file, 261 MB, is over what travels to the GPU machine).
Run from the repository root: python docs/bench-2026-11-27-gpu/make_run24.py /tmp/full/meso.h5 devcarry/meso_run24.h5"""
import sys

from probtok.data import open_dataset
from probtok.data.hdf5 import write_dataset

src, dst = sys.argv[1:3]
with open_dataset(src) as ds:
    write_dataset(dst, ds.frames(24, ds.fields)[None], ds.time_ns, fields=ds.fields, units=ds.units, dx_um=ds.dx_um,
                  dt_frame_ns=float(ds.time_ns[1] - ds.time_ns[0]), setup="meso",
                  params={k: [v[24]] for k, v in ds.params.items()}, hotspot_threshold_K=ds.hotspot_threshold_K)
