#!/bin/bash
# tiny micro fits with seeds 1-3 (the K = 4 benchmark's fit otherwise: holdout 0.1), each adapted on the
# benchmark's two K = 4 subsets (runs 0-3 and 8,11,13,21), 100 steps
cd /tmp/wt_s4
export PYTHONPATH=/tmp/wt_s4 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
for s in 1 2 3; do
  D=/tmp/tinyseeds/s$s
  $P -m probtok.cli fit-micro --data /tmp/full/micro.h5 --config /tmp/tinyseeds/tiny-seed$s.toml --out $D/fit --holdout 0.1 > $D.fit.log 2>&1
  $P -m probtok.cli adapt --micro $D/fit --data /tmp/full/meso.h5 --train-runs 0,1,2,3 --steps 100 --out $D/adapt-s0 > $D.adapt-s0.log 2>&1
  $P -m probtok.cli adapt --micro $D/fit --data /tmp/full/meso.h5 --train-runs 8,11,13,21 --steps 100 --out $D/adapt-s1 > $D.adapt-s1.log 2>&1
done
echo done > /tmp/tinyseeds/DONE
