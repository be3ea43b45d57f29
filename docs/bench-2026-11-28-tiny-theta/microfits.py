# the bench's micro-fit jobs of tiny-up-u (members 0..3), two at a time, ahead of the benchmark runs that reuse them
import sys
from pathlib import Path
from concurrent.futures import ProcessPoolExecutor
from probtok.bench import BenchConfig, _job_micro, split_runs
from probtok.pipeline import DemoConfig

def one(m):
    cfg = BenchConfig(k_values=[4], subsets=1, model_config="tiny-up-u", ensemble=4, n_draws=400, stratify="up_kms")
    demo = DemoConfig(model_config=cfg.model_config, micro_steps=cfg.micro_steps, seed=cfg.seed,
                      scratch_steps=cfg.adapt_steps, n_draws=cfg.n_draws)
    test, pool, ks = split_runs("/tmp/full/meso.h5", cfg.test_runs, cfg.k_values)
    r = _job_micro(m, Path("/tmp/bench_tp"), Path("/tmp/full/micro.h5"), Path("/tmp/full/meso.h5"), test, cfg, demo)
    return m, r["dir"], r["wall_s"]

if __name__ == "__main__":
    with ProcessPoolExecutor(2) as ex:
        for res in ex.map(one, range(4)):
            print(res, flush=True)
