#!/bin/bash
# usage: fc.sh MEMBER... — forecast the 30 test runs with 50 draws by the benchmark's subset-1 members
cd /tmp/wt25
export PYTHONPATH=/tmp/wt25 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
for m in "$@"; do
  d=/tmp/bench_p2/models/K4_s1/meso-adapt; [ $m -gt 0 ] && d=$d-m$m
  $P -m probtok.cli forecast --model $d --data /tmp/full/meso-test-rt.h5 --runs 0-29 --draws 50 --no-plots \
      --threads 1 --out /tmp/s25/fc-s1-m$m > /tmp/s25/fc-s1-m$m.log 2>&1
  echo "forecast done s1-m$m rc=$? $(date)" >> /tmp/s25/times
done
