"""What each stratified ensemble member would choose with 0.5 in the kappa grid (nothing recorded).

    .venv/bin/python docs/bench-2026-11-28-pit-coverage/regrid.py /tmp/bench_strat_up /tmp/bench_strat
"""
import json
import sys

import torch

from probtok.rollout_noise import NoiseChoice, choose_rollout_noise

torch.set_num_threads(1)
for bench in sys.argv[1:]:
    for s in (0, 1):
        for m in ("", "-m1", "-m2", "-m3"):
            d = f"{bench}/models/K4_s{s}/meso-adapt{m}"
            runs = json.load(open(f"{d}/adapt.json"))["meta"]["train_runs"]
            res = choose_rollout_noise(d, "/tmp/full/meso.h5", runs, NoiseChoice(kappas=(0.1, 0.3, 0.5, 1.0)), progress=False)
            print(d, "old", json.load(open(f"{d}/adapt.json"))["rollout_noise"]["kappa"], "new", res["kappa"],
                  [(x["kappa"], round(x["score"], 3), round(x["se"], 3)) for x in res["scores"]], flush=True)
