#!/bin/bash
# probtok bench fewshot --ensemble 4 at K = 4 (both subsets), 400 draws per forecast (100 per member).
# The folder was seeded with the fits of two earlier records, which the benchmark reuses (same settings):
#   member 0: the K = 4 record's micro fit, adaptations, from-scratch fits and PARC (/tmp/bench_k4),
#   members 1-3: the tiny-seeds record's micro fits (seeds 1-3) and their adaptations on both subsets
#   (docs/bench-2026-11-27-tiny-seeds/run.sh, /tmp/tinyseeds);
# the from-scratch members 1-3 of both subsets (6 fits) and every forecast were made by this run.
set -e
O=/tmp/bench_ens
mkdir -p $O/models/K4_s0 $O/models/K4_s1
cp -r /tmp/bench_k4/micro-fit /tmp/bench_k4/parc $O/
for s in 0 1; do cp -r /tmp/bench_k4/models/K4_s$s/meso-adapt /tmp/bench_k4/models/K4_s$s/meso-scratch $O/models/K4_s$s/; done
for j in 1 2 3; do
  cp -r /tmp/tinyseeds/s$j/fit $O/micro-fit-m$j
  cp -r /tmp/tinyseeds/s$j/adapt-s0 $O/models/K4_s0/meso-adapt-m$j
  cp -r /tmp/tinyseeds/s$j/adapt-s1 $O/models/K4_s1/meso-adapt-m$j
done
export OMP_NUM_THREADS=1
# the run (35.7 min on the 2-core development machine, 2 workers: bench-first-run.md / .log, code of a16ae80)
probtok bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 --out $O --k 4 --subsets 2 \
  --ensemble 4 --draws 400 --workers 2 --parc-model $O/parc/parc.pt
# re-scored with the code of 030bed7 (every fit and forecast reused, under a minute): bench.md / bench.json, which
# add the coverages' ranges over the test runs and the 50 % columns
probtok bench fewshot --micro-data /tmp/full/micro.h5 --meso-data /tmp/full/meso.h5 --out $O --k 4 --subsets 2 \
  --ensemble 4 --draws 400 --workers 1 --parc-model $O/parc/parc.pt
