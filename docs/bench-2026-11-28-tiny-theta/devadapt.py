"""The adaptation jobs of `probtok bench fewshot --config tiny-up-u --k 4 --subsets 2 --ensemble 4
--stratify up_kms --model adapted --theta {frozen,prior}`, both thetas, all 16 side by side (one process and one
torch thread each), into BENCH_f/ and BENCH_p/ that already hold the four micro fits (micro-fit, micro-fit-m1..m3).

The bench's own job function (probtok.bench._job_fit) on the bench's own split, so that `bench fewshot` with
the same arguments, run later on these folders, reuses the adaptations (it checks their settings) and goes on
to the forecasts. Usage: python devadapt.py MESO.h5 BENCH_f BENCH_p [WORKERS]
"""
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from probtok.bench import BenchConfig, _job_fit, split_runs, stratify_values, subset_runs
from probtok.pipeline import DemoConfig

MESO = Path(sys.argv[1])


def config(theta: str) -> BenchConfig:
    return BenchConfig(k_values=[4], subsets=2, model_config="tiny-up-u", ensemble=4, n_draws=200,
                       stratify="up_kms", theta=theta, models=["adapted"])


def one(args):
    theta, out, s, member = args
    cfg = config(theta)
    demo = DemoConfig(model_config=cfg.model_config, micro_steps=cfg.micro_steps, seed=cfg.seed,
                      scratch_steps=cfg.adapt_steps, n_draws=cfg.n_draws)
    test, pool, ks = split_runs(MESO, cfg.test_runs, cfg.k_values)
    train = subset_runs(pool, 4, s, cfg.seed, stratify_values(MESO, cfg.stratify, pool))
    micro = {"dir": str(Path(out) / ("micro-fit" if member == 0 else f"micro-fit-m{member}"))}
    t0 = time.perf_counter()
    r = _job_fit(micro, ("adapted", 4, s, train), member, Path(out), MESO, MESO, test, cfg, demo)
    return theta, s, member, train, r["dir"], round(time.perf_counter() - t0, 1)


if __name__ == "__main__":
    jobs = [(theta, out, s, m) for theta, out in (("prior", sys.argv[3]), ("frozen", sys.argv[2]))
            for s in range(2) for m in range(4)]
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else len(jobs)
    with ProcessPoolExecutor(workers) as ex:
        for res in ex.map(one, jobs):
            print(*res, flush=True)
