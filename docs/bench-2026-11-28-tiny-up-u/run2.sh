#!/bin/bash
# After the benchmark (run.sh's first command, its process 30295): the benchmark's fitted models (adapted,
# from scratch, micro only) and its PARC on the 30 runs of meso-test.h5 copied at the corrected hot-spot
# threshold (probtok rethreshold: 1025 -> 1175 K, meso-test-rt.h5). (run.sh's own rescore at 1025 K was
# dropped: the velocity record scored tiny-up-u there already.)
cd /tmp/wt19
export PYTHONPATH=/tmp/wt19 OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
while kill -0 30295 2>/dev/null; do sleep 20; done
date >> /tmp/bench_u/times
grep -q "bench.md" /tmp/bench_u/bench.log || { echo "benchmark failed" >> /tmp/bench_u/times; exit 1; }
$P -m probtok.cli bench rescore --bench /tmp/bench_u --data /tmp/full/meso-test-rt.h5 \
  --runs 0-29 --out /tmp/rescore_u_rt --workers 2 > /tmp/bench_u/rescore_rt.log 2>&1
date >> /tmp/bench_u/times
echo done >> /tmp/bench_u/times
