#!/bin/bash
# Interval coverage, the intervals' own content and PIT coverage of the forecasts behind the stratified
# records (tiny: docs/bench-2026-11-27-stratified, tiny-up: docs/bench-2026-11-28-stratified-up; micro only:
# the four-fit ensemble of docs/bench-2026-11-27-rescore30), read from their forecast files; nothing refitted
# or re-forecast. Run from the repository root.
set -e
P=${PYTHON:-.venv/bin/python}
echo "## test runs 24-29"; echo
$P benchmarks/coverage_kinds.py \
  tiny-adapted-s0=/tmp/bench_strat/forecasts/adapted/K4_s0 tiny-adapted-s1=/tmp/bench_strat/forecasts/adapted/K4_s1 \
  tiny-scratch-s0=/tmp/bench_strat/forecasts/scratch/K4_s0 tiny-scratch-s1=/tmp/bench_strat/forecasts/scratch/K4_s1 \
  micro-only=/tmp/bench_strat/forecasts/micro-only \
  up-adapted-s0=/tmp/bench_strat_up/forecasts/adapted/K4_s0 up-adapted-s1=/tmp/bench_strat_up/forecasts/adapted/K4_s1 \
  up-scratch-s0=/tmp/bench_strat_up/forecasts/scratch/K4_s0 up-scratch-s1=/tmp/bench_strat_up/forecasts/scratch/K4_s1
echo; echo "## the 30 further runs (meso-test.h5)"; echo
$P benchmarks/coverage_kinds.py \
  tiny-adapted-s0=/tmp/rescore_strat/forecasts/adapted/K4_s0 tiny-adapted-s1=/tmp/rescore_strat/forecasts/adapted/K4_s1 \
  tiny-scratch-s0=/tmp/rescore_strat_scratch/forecasts/scratch/K4_s0 \
  tiny-scratch-s1=/tmp/rescore_strat_scratch/forecasts/scratch/K4_s1 \
  micro-only=/tmp/rescore30/out/forecasts/micro-only \
  up-adapted-s0=/tmp/rescore_strat_up/forecasts/adapted/K4_s0 up-adapted-s1=/tmp/rescore_strat_up/forecasts/adapted/K4_s1 \
  up-scratch-s0=/tmp/rescore_strat_up/forecasts/scratch/K4_s0 up-scratch-s1=/tmp/rescore_strat_up/forecasts/scratch/K4_s1
