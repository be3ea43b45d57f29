#!/bin/bash
# one small-up-u adaptation (member 0 of the theta-prior benchmark: the same micro fit, runs, steps, seed) with
# both cores of the machine as torch threads, alone on it; wall time of the whole command (SVI + kappa choice)
cd /tmp/wt23
export PYTHONPATH=/tmp/wt23
P=/work/main/.venv/bin/python
s=$(date +%s.%N)
$P -m probtok.cli adapt --micro /tmp/bench_p/micro-fit --data /tmp/full/meso.h5 --train-runs 3,7,13,14 \
  --out /tmp/s23/adapt-prior-t2 --steps 100 --theta prior --seed 0 --threads 2 > /tmp/s23/adapt-prior-t2.log 2>&1
rc=$?
e=$(date +%s.%N)
echo "rc=$rc wall_s=$(python3 -c "print(round($e-$s,1))") nproc=$(nproc) $(lscpu | grep 'Model name' | sed 's/  */ /g')" > /tmp/s23/threads_times
