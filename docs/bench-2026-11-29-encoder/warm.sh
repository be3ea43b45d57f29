#!/bin/bash
# usage: warm.sh MEMBER SUBSET W — adapt with theta warm-up, then forecast the 30 test runs with 50 draws
cd /tmp/wt26b
export PYTHONPATH=/tmp/wt26b OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
N=s$2-m$1-warm$3
echo "start $N $(date)" >> /tmp/s26/times
$P /tmp/s26/warm.py $1 $2 $3 > /tmp/s26/adapt-$N.log 2>&1
echo "adapt done $N rc=$? $(date)" >> /tmp/s26/times
$P -m probtok.cli forecast --model /tmp/s26/adapt-$N --data /tmp/full/meso-test-rt.h5 --runs 0-29 --draws 50 --no-plots \
    --threads 1 --out /tmp/s26/fc-$N > /tmp/s26/fc-$N.log 2>&1
echo "forecast done $N rc=$? $(date)" >> /tmp/s26/times
