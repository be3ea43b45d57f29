#!/bin/bash
# K = 4, two subsets stratified by the piston velocity (--stratify up_kms), ensembles of 4 fits per token
# model, 400 draws per forecast (100 per member). The folder was seeded with the four tiny micro fits
# (seeds 0-3) and the PARC of the ensemble record (/tmp/bench_ens, same split), which the benchmark reuses;
# it makes the 8 adaptations, 8 from-scratch fits and every forecast.
cd /tmp/wt15   # a git worktree of commit 2dc9e4e
export PYTHONPATH=/tmp/wt15 OMP_NUM_THREADS=1
/work/main/.venv/bin/python -m probtok.cli bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 \
  --out /tmp/bench_strat --k 4 --subsets 2 --ensemble 4 --draws 400 --workers 2 --stratify up_kms \
  --parc-model /tmp/bench_strat/parc/parc.pt
