#!/bin/bash
# tiny-up-u adapted with theta frozen and with theta prior on the same micro fits (paired), K = 4 subset 0
# (runs 3, 7, 13, 14), ensembles of 2 (members 0 and 1), 200 draws; both scored on the 30 runs of meso-test at
# 1175 K. Code of 3492d4d. Data: probtok simulate --preset micro / --preset meso / --preset meso --runs 30
# --seed 1 -> /tmp/full/{micro,meso,meso-test-rt}.h5.
#
# 1. here: the four micro fits (the bench's own micro-fit job, two processes):
#      python microfits.py                                  -> /tmp/bench_tp/micro-fit, micro-fit-m1..m3
# 2. on the lent GPU machine (its CPUs; device.sh, with the micro fits in devcarry/): meso.h5 simulated there
#    (meso_digest_*.txt: equal to this one's to float32 round-off), then the adaptations of devadapt.py (16 side
#    by side); they reached their step-50 checkpoint of 100 in the 470 s given, and came back (adapt.tgz).
# 3. here: each theta's bench folder = the micro fits + the device's models/; `bench fewshot` resumed members 0
#    and 1 of subset 0 from step 50 (on this machine's meso.h5), chose kappa, forecast runs 24-29; then rescore.
set -e
cd /tmp/wt22
export PYTHONPATH=/tmp/wt22 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
for t in f q; do
  mkdir -p /tmp/bench_t$t && cp -r /tmp/bench_tp/micro-fit* /tmp/bench_t$t/
done
cp -r /tmp/devout/bf/models /tmp/bench_tf/; cp -r /tmp/devout/bp/models /tmp/bench_tq/
for t in f q; do
  theta=$([ $t = f ] && echo frozen || echo prior)
  $P -m probtok.cli bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 \
    --out /tmp/bench_t$t --config tiny-up-u --k 4 --subsets 1 --ensemble 2 --draws 200 --workers 1 --stratify up_kms \
    --theta $theta --model adapted > /tmp/bench_t$t/bench.log 2>&1
done
for t in f q; do
  $P -m probtok.cli bench rescore --bench /tmp/bench_t$t --data /tmp/full/meso-test-rt.h5 --runs 0-29 \
    --out /tmp/rescore_t$t --workers 1 > /tmp/bench_t$t/rescore.log 2>&1 &
done
wait
