#!/bin/bash
# usage: lr.sh MEMBER FACTOR [STEPS] — adapt, then forecast the 30 test runs with 50 draws
cd /tmp/wt24
export PYTHONPATH=/tmp/wt24 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
N=m$1-lr$2-s${3:-100}
echo "start $N $(date)" >> /tmp/s24/times
$P /tmp/s24/lr.py $1 $2 $3 > /tmp/s24/adapt-$N.log 2>&1
echo "adapt done $N rc=$? $(date)" >> /tmp/s24/times
$P -m probtok.cli forecast --model /tmp/s24/adapt-$N --data /tmp/full/meso-test-rt.h5 --runs 0-29 --draws 50 --no-plots \
    --threads 1 --out /tmp/s24/fc-$N > /tmp/s24/fc-$N.log 2>&1
echo "forecast done $N rc=$? $(date)" >> /tmp/s24/times
