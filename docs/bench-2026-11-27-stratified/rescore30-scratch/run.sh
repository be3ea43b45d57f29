#!/bin/bash
# the stratified ensemble benchmark's from-scratch ensembles on the 30 further runs (code of 3131ccb)
cd /tmp/wt15b
export PYTHONPATH=/tmp/wt15b OMP_NUM_THREADS=1
/work/main/.venv/bin/python -m probtok.cli bench rescore --bench /tmp/bench_strat --data /tmp/full/meso-test.h5 \
  --runs 0-29 --out /tmp/rescore_strat_scratch --workers 2 --model scratch
