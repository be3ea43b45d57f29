#!/bin/bash
# usage: ra.sh MEMBER FACTOR [STEPS] — adapt (subset 1), then forecast the 30 test runs with 50 draws
cd /tmp/wt25
export PYTHONPATH=/tmp/wt25 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
N=s1-m$1-lr$2-s${3:-100}
echo "start $N $(date)" >> /tmp/s25/times
$P /tmp/s25/ra.py $1 $2 $3 > /tmp/s25/adapt-$N.log 2>&1
echo "adapt done $N rc=$? $(date)" >> /tmp/s25/times
$P -m probtok.cli forecast --model /tmp/s25/adapt-$N --data /tmp/full/meso-test-rt.h5 --runs 0-29 --draws 50 --no-plots \
    --threads 1 --out /tmp/s25/fc-$N > /tmp/s25/fc-$N.log 2>&1
echo "forecast done $N rc=$? $(date)" >> /tmp/s25/times
