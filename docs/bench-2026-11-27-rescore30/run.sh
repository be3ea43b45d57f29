#!/bin/bash
# The ensemble benchmark's models (docs/bench-2026-11-27-ensemble, folder /tmp/bench_ens) scored on the 30
# further meso runs (probtok simulate --preset meso --runs 30 --seed 1 --threshold-K 1000 -> /tmp/full/meso-test.h5)
cd /tmp/wt_rescore
export PYTHONPATH=/tmp/wt_rescore
/usr/bin/time -v /work/main/.venv/bin/probtok bench rescore --bench /tmp/bench_ens --data /tmp/full/meso-test.h5 \
    --out /tmp/rescore30/out --workers 2
