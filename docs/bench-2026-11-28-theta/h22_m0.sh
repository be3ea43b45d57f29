#!/bin/bash
# h22 micro fit (whole-run rollout term) adapted with --theta prior on the bench's subset 0, member-0 settings;
# paired against prior-m0 (the 12-frame small-up-u member 0, same seed, runs, steps).
cd /tmp/wt23
export PYTHONPATH=/tmp/wt23 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
date > /tmp/s23/h22_times
$P -m probtok.cli adapt --micro /tmp/s21/fit-h22 --data /tmp/full/meso.h5 --train-runs 3,7,13,14 \
  --out /tmp/s23/adapt-h22-prior --steps 100 --theta prior --seed 0 > /tmp/s23/adapt-h22-prior.log 2>&1
echo "adapt done rc=$? $(date)" >> /tmp/s23/h22_times
$P -m probtok.cli forecast --model /tmp/s23/adapt-h22-prior --data /tmp/full/meso-test-rt.h5 --runs 0-29 --draws 50 --no-plots \
    --out /tmp/s23/fc-h22-prior > /tmp/s23/fc-h22-prior.log 2>&1
echo "forecast done rc=$? $(date)" >> /tmp/s23/h22_times
$P benchmarks/errors_by_run.py --split 1.4 1.7 -- prior-m0=/tmp/s21/fc-prior-m0 h22-prior-m0=/tmp/s23/fc-h22-prior > /tmp/s23/h22_m0.txt 2>&1
echo "done $(date)" >> /tmp/s23/h22_times
