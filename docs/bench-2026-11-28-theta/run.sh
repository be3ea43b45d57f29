#!/bin/bash
# small-up-u adapted with --theta prior (the micro globals free under a Gaussian prior centred on the micro fit),
# as the frozen record docs/bench-2026-11-28-small-up-u/run.sh but: `--model adapted` (no from-scratch fits, no
# micro-only forecasts, no PARC: theta does not touch them), 200 draws per forecast instead of 400 (time: this
# machine ran the simulations 2.0x slower than the one of that record), and the four micro fits made first by the
# bench's own micro-fit job (microfits.py, two processes; the bench reused them). Then scored on the 30 runs of
# meso-test (1175 K). A frozen re-run on the same micro fits was planned and dropped for time.
# Data: probtok simulate --preset micro / --preset meso / --preset meso --runs 30 --seed 1
#   -> /tmp/full/{micro,meso,meso-test-rt}.h5 (code of 0077be5).
cd /tmp/wt21b
export PYTHONPATH=/tmp/wt21b OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
$P docs/bench-2026-11-28-theta/microfits.py
$P -m probtok.cli bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 \
  --out /tmp/bench_p --config small-up-u --k 4 --subsets 1 --ensemble 4 --draws 200 --workers 2 --stratify up_kms \
  --theta prior --model adapted > /tmp/bench_p/bench.log 2>&1
$P -m probtok.cli bench rescore --bench /tmp/bench_p --data /tmp/full/meso-test-rt.h5 --runs 0-29 \
  --out /tmp/rescore_p --workers 1 > /tmp/bench_p/rescore.log 2>&1
