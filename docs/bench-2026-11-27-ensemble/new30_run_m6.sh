#!/bin/bash
# two more tiny micro fits (seeds 4, 5; holdout 0.1 as the benchmark's), each adapted on both K = 4 subsets;
# then pools of 6 adapted fits on the 30 further runs (50 draws each)
cd /tmp/wt_ens
export PYTHONPATH=/tmp/wt_ens OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
B=/tmp/bench_ens
for j in 4 5; do
  ( $P -m probtok.cli fit-micro --data /tmp/full/micro.h5 --config models/tiny.toml --seed $j --holdout 0.1 \
      --out $B/micro-fit-m$j > /tmp/ens30/fit-m$j.log 2>&1
    $P -m probtok.cli adapt --micro $B/micro-fit-m$j --data /tmp/full/meso.h5 --train-runs 0,1,2,3 --steps 100 \
      --out $B/models/K4_s0/meso-adapt-m$j > /tmp/ens30/adapt-s0-m$j.log 2>&1
    $P -m probtok.cli adapt --micro $B/micro-fit-m$j --data /tmp/full/meso.h5 --train-runs 8,11,13,21 --steps 100 \
      --out $B/models/K4_s1/meso-adapt-m$j > /tmp/ens30/adapt-s1-m$j.log 2>&1 ) &
done
wait
for s in 0 1; do
  $P benchmarks/seed_ensemble.py --data /tmp/full/meso-test.h5 --runs 0-29 --draws 50 \
    --models $B/models/K4_s$s/meso-adapt $B/models/K4_s$s/meso-adapt-m1 $B/models/K4_s$s/meso-adapt-m2 \
    $B/models/K4_s$s/meso-adapt-m3 $B/models/K4_s$s/meso-adapt-m4 $B/models/K4_s$s/meso-adapt-m5 \
    > /tmp/ens30/m6_subset$s.txt 2>&1 &
done
wait
echo done > /tmp/ens30/DONE_M6
