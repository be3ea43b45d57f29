#!/bin/bash
# theta frozen on the same four micro fits as the prior bench /tmp/bench_p (copied to /tmp/bench_f), same K=4
# subset 0, ensemble 4, 200 draws; then rescored on the 30 runs of meso-test at 1175 K.
cd /tmp/wt22
export PYTHONPATH=/tmp/wt22 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
T=/tmp/frozen22_times
date > $T
$P -m probtok.cli bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 \
  --out /tmp/bench_f --config small-up-u --k 4 --subsets 1 --ensemble 4 --draws 200 --workers 2 --stratify up_kms \
  --theta frozen --model adapted > /tmp/bench_f/bench.log 2>&1
echo "frozen bench rc=$? $(date)" >> $T
$P -m probtok.cli bench rescore --bench /tmp/bench_f --data /tmp/full/meso-test-rt.h5 --runs 0-29 \
  --out /tmp/rescore_f --workers 1 > /tmp/bench_f/rescore.log 2>&1
echo "frozen rescore rc=$? $(date)" >> $T
