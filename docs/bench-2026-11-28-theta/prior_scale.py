"""Member 0 of the small-up-u theta-prior benchmark adapted again with another theta_prior_scale (the sd of the
Gaussian prior of each micro weight around its micro value; default 0.01): same micro fit, runs, steps and seed."""
import sys
from pathlib import Path

import torch

from probtok.adapt import AdaptConfig, adapt_files

scale = float(sys.argv[1])
torch.set_num_threads(1)
res = adapt_files(Path("/tmp/bench_p/micro-fit"), Path("/tmp/full/meso.h5"), [3, 7, 13, 14],
                  Path(f"/tmp/s23/adapt-prior-s{sys.argv[1]}"),
                  AdaptConfig(steps=100, theta="prior", theta_prior_scale=scale, seed=0), progress=False)
print(scale, res.wall_s, res.meta["rollout_noise"]["kappa"])
