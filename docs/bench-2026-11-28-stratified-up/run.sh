#!/bin/bash
# As /tmp/bench_strat (K = 4, two subsets stratified by up_kms, ensembles of 4, 400 draws), with
# models/tiny-up.toml: each meso run's piston velocity observed through c[n, 0]. Seeded with the PARC of the
# ensemble record only; the four micro fits are made here (same seeds as tiny's).
cd /tmp/wt16
export PYTHONPATH=/tmp/wt16 OMP_NUM_THREADS=1
/work/main/.venv/bin/python -m probtok.cli bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 \
  --out /tmp/bench_strat_up --config tiny-up --k 4 --subsets 2 --ensemble 4 --draws 400 --workers 2 --stratify up_kms \
  --parc-model /tmp/bench_strat_up/parc/parc.pt
