#!/bin/bash
# tiny-up-u through the benchmark command: K = 4, two subsets stratified by up_kms, ensembles of 4, 400 draws
# (as the tiny-up record, docs/bench-2026-11-28-stratified-up); seeded with that record's PARC only. Then its
# adapted and from-scratch ensembles on the 30 runs of meso-test.h5.
cd /tmp/wt19
export PYTHONPATH=/tmp/wt19 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
date > /tmp/bench_u/times
$P -m probtok.cli bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 \
  --out /tmp/bench_u --config tiny-up-u --k 4 --subsets 2 --ensemble 4 --draws 400 --workers 2 --stratify up_kms \
  --parc-model /tmp/bench_u/parc/parc.pt > /tmp/bench_u/bench.log 2>&1 || exit 1
date >> /tmp/bench_u/times
$P -m probtok.cli bench rescore --bench /tmp/bench_u --data /tmp/full/meso-test.h5 \
  --runs 0-29 --out /tmp/rescore_u --workers 2 --model adapted --model scratch > /tmp/bench_u/rescore.log 2>&1
date >> /tmp/bench_u/times
echo done >> /tmp/bench_u/times
