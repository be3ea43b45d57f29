#!/bin/bash
# theta frozen (member 0 of the small-up-u bench) against theta prior (same micro fit, same runs, same steps):
# 100 draws of the 13 weak (Up < 1.4) and strong (Up >= 1.7) runs of meso-test at 1175 K.
cd /work/main
export OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
while pgrep -f "adapt --micro /tmp/bench_w/micro-fit" > /dev/null; do sleep 10; done
R=0,1,4,5,6,7,10,13,14,16,22,24,26
$P -m probtok.cli forecast --model /tmp/bench_w/models/K4_s0/meso-adapt --data /tmp/full/meso-test-rt.h5 --runs $R --draws 100 --no-plots --out /tmp/s20/fc-frozen > /tmp/s20/fc-frozen.log 2>&1 &
$P -m probtok.cli forecast --model /tmp/s20/adapt-prior --data /tmp/full/meso-test-rt.h5 --runs $R --draws 100 --no-plots --out /tmp/s20/fc-prior > /tmp/s20/fc-prior.log 2>&1 &
wait
$P benchmarks/errors_by_run.py --split 1.4 1.7 --by-frame 2,4,8,16,30 -- frozen-m0=/tmp/s20/fc-frozen prior-m0=/tmp/s20/fc-prior > /tmp/s20/prior_cmp.txt 2>&1
date > /tmp/s20/prior_cmp.done
