"""Member m of the small-up-u theta-prior benchmark adapted again on subset s with theta's learning rate warmed up
linearly from 0.1x to 1x over W steps (argv: member subset W); same micro fit, runs and seed (0) as the benchmark's."""
import sys
from pathlib import Path

import torch

from probtok.adapt import AdaptConfig, adapt_files

m, s, w = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
runs = {0: [3, 7, 13, 14], 1: [5, 13, 17, 19]}[s]
torch.set_num_threads(1)
fit = Path("/tmp/bench_p2/micro-fit" + (f"-m{m}" if m else ""))
out = Path(f"/tmp/s26/adapt-s{s}-m{m}-warm{w}")
res = adapt_files(fit, Path("/tmp/full/meso.h5"), runs, out,
                  AdaptConfig(theta="prior", theta_warmup_steps=w, seed=0), progress=False)
print(m, s, w, res.wall_s, res.meta["rollout_noise"]["kappa"], res.losses[:5], res.losses[-10:])
