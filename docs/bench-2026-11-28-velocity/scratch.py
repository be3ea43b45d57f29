"""From-scratch member (the benchmark's stage_scratch: the config's model fitted on the K meso runs, no micro
tokens, 100 steps as `bench fewshot`'s default, the micro fit's normaliser, then its own kappa)."""
import sys
from pathlib import Path

import torch

from probtok.pipeline import DemoConfig, DemoResult, stage_scratch

out, member, train = Path(sys.argv[1]), int(sys.argv[2]), [int(r) for r in sys.argv[3].split(",")]
torch.set_num_threads(1)
demo = DemoConfig(model_config="/tmp/s18/u/tiny-up-u.toml", seed=0, scratch_steps=100)
state = DemoResult(out=out, files={"data/micro": Path("/tmp/full/micro.h5"), "data/meso": Path("/tmp/full/meso.h5"),
                                   "micro-fit": Path("/tmp/s18/u/fit-s0")},
                   reports={"split": {"train": train, "held_out": []}})
seed = None if member == 0 else member  # bench.member_seed: the config's seed (0) + member
stage_scratch(out, demo, state, echo=print, seed=seed, name=f"m{member}")
