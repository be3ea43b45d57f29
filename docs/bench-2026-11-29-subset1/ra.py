"""Member m of the small-up-u theta-prior benchmark, subset 1 (runs 5, 13, 17, 19), adapted again with
theta_lr_factor F (argv: member F [steps]): same micro fit, runs and adaptation seed (0) as the benchmark's."""
import sys
from pathlib import Path

import torch

from probtok.adapt import AdaptConfig, adapt_files

m, f = int(sys.argv[1]), float(sys.argv[2])
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 100
torch.set_num_threads(1)
fit = Path("/tmp/bench_p2/micro-fit" + (f"-m{m}" if m else ""))
out = Path(f"/tmp/s25/adapt-s1-m{m}-lr{f}-s{steps}")
res = adapt_files(fit, Path("/tmp/full/meso.h5"), [5, 13, 17, 19], out,
                  AdaptConfig(steps=steps, theta="prior", theta_lr_factor=f, seed=0), progress=False)
print(m, f, steps, res.wall_s, res.meta["rollout_noise"]["kappa"])
