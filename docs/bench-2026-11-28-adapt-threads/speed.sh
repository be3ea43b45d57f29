#!/bin/bash
cd /work/main
P=/work/main/.venv/bin/python
date > /tmp/s23/speed_times
$P benchmarks/adapt_speed.py --micro /tmp/bench_p/micro-fit --data /tmp/full/meso.h5 --train-runs 3,7,13,14 --theta prior > /tmp/s23/speed_small_prior.txt 2>&1
$P benchmarks/adapt_speed.py --micro /tmp/bench_tf/micro-fit --data /tmp/full/meso.h5 --train-runs 3,7,13,14 --theta frozen > /tmp/s23/speed_tiny_frozen.txt 2>&1
date >> /tmp/s23/speed_times
