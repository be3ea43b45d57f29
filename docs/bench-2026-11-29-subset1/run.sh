#!/bin/bash
# Second training subset (subset 1, stratified by up_kms) of the small-up-u theta-prior ensemble of 4
# (docs/bench-2026-11-28-theta/run.sh), in a hard-linked copy of its folder: the micro fits and subset 0 are reused.
cd /tmp/wt25
export PYTHONPATH=/tmp/wt25 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
date +%s > /tmp/s25/t0
$P -m probtok.cli bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 \
  --out /tmp/bench_p2 --config small-up-u --k 4 --subsets 2 --ensemble 4 --draws 200 --workers 2 --stratify up_kms \
  --theta prior --model adapted > /tmp/s25/bench.log 2>&1
echo "bench rc $?" >> /tmp/s25/bench.log
date +%s > /tmp/s25/t1
