#!/bin/bash
# With the piston velocity as task covariate (adapt --task-covariate up_kms). The four micro-s4 fits of docs/bench-2026-11-27-s4-seeds (seed 0, seed 0 with holdout 0.1, seeds 1, 2), each
# adapted on the stratified K = 4 subsets of the tiny records (subset 0: runs 3, 7, 13, 14; subset 1: runs 5, 13,
# 17, 19), then forecast as one ensemble (200 draws pooled, each member at its own kappa) on the 30 further runs.
cd /tmp/wt18
export PYTHONPATH=/tmp/wt18 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
O=/tmp/s4up
FITS=(/tmp/full/fit-s4 /tmp/full/fit-s4-h01 /tmp/s4seeds/s1/fit /tmp/s4seeds/s2/fit)
adapt() {  # subset, runs
  for pair in "0 1" "2 3"; do
    for m in $pair; do
      /usr/bin/time -v $P -m probtok.cli adapt --micro ${FITS[$m]} --data /tmp/full/meso.h5 --train-runs $2 \
        --task-covariate up_kms --out $O/s$1/m$m > $O/s$1.m$m.adapt.log 2>&1 &
    done
    wait
  done
}
forecast() {  # subset
  M=$O/s$1
  for runs in 0-14 15-29; do
    $P -m probtok.cli forecast --model $M/m0 --model $M/m1 --model $M/m2 --model $M/m3 --data /tmp/full/meso-test.h5 \
      --runs $runs --draws 200 --no-plots --out $O/fc-s$1 > $O/fc-s$1.$runs.log 2>&1 &
  done
  wait
}
date > $O/times
adapt 0 3,7,13,14; date >> $O/times
forecast 0; date >> $O/times
adapt 1 5,13,17,19; date >> $O/times
forecast 1; date >> $O/times
echo done >> $O/times
