#!/bin/bash
# 1) the benchmark command once more with the code of c58839e (reuses every fit and forecast; bench.json
#    then records each pool run's up_kms, bench.md lists them per subset); 2) its adapted and from-scratch
#    ensembles on the 30 runs of meso-test.h5
cd /tmp/wt16b
export PYTHONPATH=/tmp/wt16b OMP_NUM_THREADS=1
/work/main/.venv/bin/python -m probtok.cli bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 \
  --out /tmp/bench_strat_up --config tiny-up --k 4 --subsets 2 --ensemble 4 --draws 400 --workers 2 --stratify up_kms \
  --parc-model /tmp/bench_strat_up/parc/parc.pt > /tmp/bench_strat_up/bench.rerun.log 2>&1 || exit 1
/work/main/.venv/bin/python -m probtok.cli bench rescore --bench /tmp/bench_strat_up --data /tmp/full/meso-test.h5 \
  --runs 0-29 --out /tmp/rescore_strat_up --workers 2 --model adapted --model scratch
