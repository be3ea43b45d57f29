import json, sys, numpy as np
sys.path.insert(0, "/work/main/tests/model")
from pathlib import Path
import test_toy_fit as t
from probtok.cli import main

d = Path("/tmp/s21/toy")
frames = t.toy_runs(20, 10)
if not (d / "toy.h5").exists():
    t.write_dataset(d / "toy.h5", frames, np.arange(10) * 0.05, fields=("T", "P", "mu"),
                    units={"T": "K", "P": "GPa", "mu": "1"}, dx_um=0.1, dt_frame_ns=0.05, setup="toy")
for log in (False, True):
    toml = t.TOY_TOML if not log else t.TOY_TOML.replace("encoder_conditional = true", 'encoder_conditional = true\nlog_fields = ["T"]')
    (d / f"toy{log}.toml").write_text(toml)
    for seed in sys.argv[1].split(","):
        out = d / f"fit_{log}_{seed}"
        main(["fit-micro", "--data", str(d / "toy.h5"), "--config", str(d / f"toy{log}.toml"), "--out", str(out), "--holdout", "0.2", "--seed", seed, "--no-progress"] if False else
             ["fit-micro", "--data", str(d / "toy.h5"), "--config", str(d / f"toy{log}.toml"), "--out", str(out), "--holdout", "0.2", "--seed", seed])
        main(["evaluate", "--model", str(out), "--data", str(d / "toy.h5"), "--draws", "8", "--json", str(out / "eval.json")])
        res = json.loads((out / "eval.json").read_text())
        T_last = {m: round(res["rmse"][m]["T"][-1], 1) for m in res["rmse"]}
        hs = res["hotspots"]["mae"]
        print("log" if log else "lin", seed, T_last, "recon Ths", round(float(np.mean(hs["reconstruction"]["T_hs_K"][1:])), 1),
              "persist Ths", round(float(np.mean(hs["persistence"]["T_hs_K"][1:])), 1), flush=True)
