#!/bin/bash
# usage: scale.sh SCALE — adapt (member 0, theta prior at SCALE), forecast the 30 test runs with 50 draws
# (ran as written: /tmp/s23/scale.py is prior_scale.py of this folder; ran as scale.sh 0.03, then scale.sh 0.003 beside it)
cd /tmp/wt23
export PYTHONPATH=/tmp/wt23 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
S=$1
echo "start $S $(date)" >> /tmp/s23/scale_times
$P /tmp/s23/scale.py $S > /tmp/s23/adapt-prior-s$S.log 2>&1
echo "adapt done $S rc=$? $(date)" >> /tmp/s23/scale_times
$P -m probtok.cli forecast --model /tmp/s23/adapt-prior-s$S --data /tmp/full/meso-test-rt.h5 --runs 0-29 --draws 50 --no-plots \
    --out /tmp/s23/fc-prior-s$S > /tmp/s23/fc-prior-s$S.log 2>&1
echo "forecast done $S rc=$? $(date)" >> /tmp/s23/scale_times
