#!/bin/bash
# 30 further held-out meso runs (campaign seed 1: probtok simulate --preset meso --runs 30 --seed 1
# --threshold-K 1000; the campaign raised the threshold to 1025 K), forecast by the four adapted members of
# each K = 4 subset alone (50 draws each) and pooled (200 draws)
cd /tmp/wt_ens
export PYTHONPATH=/tmp/wt_ens OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
B=/tmp/bench_ens/models
for s in 0 1; do
  $P benchmarks/seed_ensemble.py --data /tmp/full/meso-test.h5 --runs 0-29 --draws 50 \
    --models $B/K4_s$s/meso-adapt $B/K4_s$s/meso-adapt-m1 $B/K4_s$s/meso-adapt-m2 $B/K4_s$s/meso-adapt-m3 \
    > /tmp/ens30/subset$s.txt 2>&1 &
done
wait
echo done > /tmp/ens30/DONE
#!/bin/bash
# the same 30 further runs, forecast by the micro-only members (the four micro fits) and the from-scratch
# members of both subsets, 50 draws each, alone and pooled
cd /tmp/wt_ens
export PYTHONPATH=/tmp/wt_ens OMP_NUM_THREADS=1
P=/work/main/.venv/bin/python
B=/tmp/bench_ens
$P benchmarks/seed_ensemble.py --data /tmp/full/meso-test.h5 --runs 0-29 --draws 50 \
  --models $B/micro-fit $B/micro-fit-m1 $B/micro-fit-m2 $B/micro-fit-m3 > /tmp/ens30/micro_only.txt 2>&1 &
for s in 0 1; do
  $P benchmarks/seed_ensemble.py --data /tmp/full/meso-test.h5 --runs 0-29 --draws 50 \
    --models $B/models/K4_s$s/meso-scratch $B/models/K4_s$s/meso-scratch-m1 $B/models/K4_s$s/meso-scratch-m2 \
    $B/models/K4_s$s/meso-scratch-m3 > /tmp/ens30/scratch_subset$s.txt 2>&1 &
done
wait
echo done > /tmp/ens30/DONE2
