#!/bin/bash
# tiny-up with the particle velocity u as a fourth field (tiny-up-u.toml): four micro fits (seeds 0-3), each
# adapted on the stratified subset 0 (runs 3, 7, 13, 14), forecast as one ensemble (200 draws pooled) on the
# 30 further runs of meso-test.h5.
cd /tmp/wt18
export PYTHONPATH=/tmp/wt18 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
O=/tmp/s18/u
date > $O/times
for pair in "0 1" "2 3"; do
  for s in $pair; do
    /usr/bin/time -v $P -m probtok.cli fit-micro --data /tmp/full/micro.h5 --config $O/tiny-up-u.toml --seed $s \
      --out $O/fit-s$s > $O/fit-s$s.log 2>&1 &
  done
  wait
done
date >> $O/times
for pair in "0 1" "2 3"; do
  for s in $pair; do
    /usr/bin/time -v $P -m probtok.cli adapt --micro $O/fit-s$s --data /tmp/full/meso.h5 --train-runs 3,7,13,14 \
      --out $O/s0/m$s > $O/s0.m$s.adapt.log 2>&1 &
  done
  wait
done
date >> $O/times
for runs in 0-14 15-29; do
  $P -m probtok.cli forecast --model $O/s0/m0 --model $O/s0/m1 --model $O/s0/m2 --model $O/s0/m3 \
    --data /tmp/full/meso-test.h5 --runs $runs --draws 200 --no-plots --out $O/fc-s0 > $O/fc-s0.$runs.log 2>&1 &
done
wait
date >> $O/times
echo done >> $O/times
