#!/bin/bash
# paired frozen vs prior, member 0 (same micro fit, same runs, same settings as the bench's adaptation)
cd /tmp/wt21b
export PYTHONPATH=/tmp/wt21b OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
date > /tmp/s21/paired_times
$P -m probtok.cli adapt --micro /tmp/bench_p/micro-fit --data /tmp/full/meso.h5 --train-runs 3,7,13,14 \
  --out /tmp/s21/adapt-frozen-m0 --steps 100 --theta frozen --seed 0 > /tmp/s21/adapt-frozen-m0.log 2>&1
echo "adapt done $(date)" >> /tmp/s21/paired_times
for m in frozen:/tmp/s21/adapt-frozen-m0 prior:/tmp/bench_p/models/K4_s0/meso-adapt; do
  $P -m probtok.cli forecast --model ${m#*:} --data /tmp/full/meso-test-rt.h5 --runs 0-29 --draws 50 --no-plots \
    --out /tmp/s21/fc-${m%%:*}-m0 > /tmp/s21/fc-${m%%:*}-m0.log 2>&1 &
done
wait
echo "forecasts done $(date)" >> /tmp/s21/paired_times
$P benchmarks/errors_by_run.py --split 1.4 1.7 -- frozen-m0=/tmp/s21/fc-frozen-m0 prior-m0=/tmp/s21/fc-prior-m0 > /tmp/s21/paired_m0.txt 2>&1
echo "done $(date)" >> /tmp/s21/paired_times
