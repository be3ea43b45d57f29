#!/bin/bash
# small-up-u through the benchmark command, as tiny-up-u's record (docs/bench-2026-11-28-tiny-up-u/run.sh) but one
# subset (subset 0 of the stratified split: runs 3, 7, 13, 14), then its fitted models on the 30 runs of
# meso-test.h5 copied at 1175 K.
cd /tmp/wt20
export PYTHONPATH=/tmp/wt20 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
date > /tmp/bench_w/times
$P -m probtok.cli bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 \
  --out /tmp/bench_w --config small-up-u --k 4 --subsets 1 --ensemble 4 --draws 400 --workers 2 --stratify up_kms \
  --parc-model /tmp/bench_u/parc/parc.pt > /tmp/bench_w/bench.log 2>&1 || { echo failed >> /tmp/bench_w/times; exit 1; }
date >> /tmp/bench_w/times
$P -m probtok.cli bench rescore --bench /tmp/bench_w --data /tmp/full/meso-test-rt.h5 \
  --runs 0-29 --out /tmp/rescore_w_rt --workers 2 > /tmp/bench_w/rescore_rt.log 2>&1
date >> /tmp/bench_w/times
echo done >> /tmp/bench_w/times
