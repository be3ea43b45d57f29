#!/bin/bash
# micro-s4 made with seeds 1 and 2 (record's command otherwise), adapted on subset 0 (runs 0-3), forecast runs 24-29
cd /tmp/wt_s4
export PYTHONPATH=/tmp/wt_s4 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
for s in 1 2; do
  D=/tmp/s4seeds/s$s
  /usr/bin/time -v $P -m probtok.cli fit-micro --data /tmp/full/micro.h5 --config /tmp/s4seeds/micro-s4-seed$s.toml --out $D/fit > $D.fit.log 2>&1
  /usr/bin/time -v $P -m probtok.cli adapt --micro $D/fit --data /tmp/full/meso.h5 --train-runs 0,1,2,3 --out $D/adapt-s0 > $D.adapt.log 2>&1
  $P benchmarks/rollout_noise.py --data /tmp/full/meso.h5 --models $D/adapt-s0 --runs 24-29 --kappas 0.1,0.3 --draws 100 > $D.test.log 2>&1
done
echo done > /tmp/s4seeds/DONE
