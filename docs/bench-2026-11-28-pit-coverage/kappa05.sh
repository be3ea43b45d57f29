#!/bin/bash
# The stratified adapted ensembles (tiny and tiny-up, subsets 0 and 1) forecast once more with kappa = 0.5
# for every member (instead of each member's own choice), 200 draws, the 30 further runs; then scored
# beside their own-kappa forecasts (the records' rescore30). Run from the repository root.
set -e
P=${PYTHON:-.venv/bin/python}
f() {  # bench folder, subset, out
  M=$1/models/K4_s$2
  $P -m probtok.cli forecast --model $M/meso-adapt --model $M/meso-adapt-m1 --model $M/meso-adapt-m2 \
    --model $M/meso-adapt-m3 --data /tmp/full/meso-test.h5 --runs 0-29 --draws 200 --rollout-noise 0.5 \
    --no-plots --out $3 > $3.log 2>&1
}
if [ -z "$SCORE_ONLY" ]; then
  f /tmp/bench_strat_up 0 /tmp/s17/k05_up_s0_30 & f /tmp/bench_strat_up 1 /tmp/s17/k05_up_s1_30 & wait
  f /tmp/bench_strat 0 /tmp/s17/k05_tiny_s0_30 & f /tmp/bench_strat 1 /tmp/s17/k05_tiny_s1_30 & wait
fi
$P benchmarks/coverage_kinds.py \
  tiny-own-s0=/tmp/rescore_strat/forecasts/adapted/K4_s0 tiny-k0.5-s0=/tmp/s17/k05_tiny_s0_30 \
  tiny-own-s1=/tmp/rescore_strat/forecasts/adapted/K4_s1 tiny-k0.5-s1=/tmp/s17/k05_tiny_s1_30 \
  up-own-s0=/tmp/rescore_strat_up/forecasts/adapted/K4_s0 up-k0.5-s0=/tmp/s17/k05_up_s0_30 \
  up-own-s1=/tmp/rescore_strat_up/forecasts/adapted/K4_s1 up-k0.5-s1=/tmp/s17/k05_up_s1_30 \
  micro-only=/tmp/rescore30/out/forecasts/micro-only \
  up-scratch-s0=/tmp/rescore_strat_up/forecasts/scratch/K4_s0 up-scratch-s1=/tmp/rescore_strat_up/forecasts/scratch/K4_s1
