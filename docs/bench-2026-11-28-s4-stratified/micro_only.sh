#!/bin/bash
# After run.sh: the four micro-s4 micro fits as one ensemble without adaptation (micro only), the same 30 runs.
while ! grep -q done /tmp/s4strat/times; do sleep 10; done
cd /tmp/wt17
export PYTHONPATH=/tmp/wt17 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
O=/tmp/s4strat
for runs in 0-14 15-29; do
  $P -m probtok.cli forecast --model /tmp/full/fit-s4 --model /tmp/full/fit-s4-h01 --model /tmp/s4seeds/s1/fit \
    --model /tmp/s4seeds/s2/fit --data /tmp/full/meso-test.h5 --runs $runs --draws 200 --no-plots \
    --out $O/fc-micro-only > $O/fc-micro-only.$runs.log 2>&1 &
done
wait
date >> $O/times; echo micro-only done >> $O/times
