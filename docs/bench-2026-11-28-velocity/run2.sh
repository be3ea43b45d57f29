#!/bin/bash
# Subset 1 (runs 5, 13, 17, 19) of tiny-up-u, micro only, and the from-scratch references (stage_scratch via
# scratch.py, 100 steps, 4 members per subset), each forecast as a 4-member ensemble of 200 draws on the 30
# further runs of meso-test.h5.
cd /tmp/wt18
export PYTHONPATH=/tmp/wt18 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
O=/tmp/s18/u
fc() {  # out folder, models...
  out=$1; shift
  args=(); for m in "$@"; do args+=(--model $m); done
  for runs in 0-14 15-29; do
    $P -m probtok.cli forecast "${args[@]}" --data /tmp/full/meso-test.h5 --runs $runs --draws 200 --no-plots \
      --out $out > $out.$runs.log 2>&1 &
  done
  wait
}
date > $O/times2
for pair in "0 1" "2 3"; do
  for s in $pair; do
    /usr/bin/time -v $P -m probtok.cli adapt --micro $O/fit-s$s --data /tmp/full/meso.h5 --train-runs 5,13,17,19 \
      --out $O/s1/m$s > $O/s1.m$s.adapt.log 2>&1 &
  done
  wait
done
date >> $O/times2
fc $O/fc-s1 $O/s1/m0 $O/s1/m1 $O/s1/m2 $O/s1/m3; date >> $O/times2
fc $O/fc-micro-only $O/fit-s0 $O/fit-s1 $O/fit-s2 $O/fit-s3; date >> $O/times2
for sub in "0 3,7,13,14" "1 5,13,17,19"; do
  set -- $sub
  for pair in "0 1" "2 3"; do
    for m in $pair; do
      /usr/bin/time -v $P /tmp/s18/u/scratch.py $O/scratch-s$1 $m $2 > $O/scratch-s$1.m$m.log 2>&1 &
    done
    wait
  done
  date >> $O/times2
  fc $O/fc-scratch-s$1 $O/scratch-s$1/m0 $O/scratch-s$1/m1 $O/scratch-s$1/m2 $O/scratch-s$1/m3; date >> $O/times2
done
echo done >> $O/times2
