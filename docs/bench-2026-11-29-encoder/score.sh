#!/bin/bash
# The tables of this record from the forecasts (as run, from /work/main; paths of the development machine).
# R: the theta record's rescore, whose adapted forecasts pool members 0-3 (50 draws each) of subset 0;
# /tmp/s25/fc-s1-m*: the subset-1 record's member forecasts; /tmp/s26/fc-*: this record's.
cd /work/main
export OMP_NUM_THREADS=1
P=".venv/bin/python benchmarks/ensemble_members.py --leave-one-out --"
R=/tmp/rescore_p/forecasts/adapted/K4_s0
S=/tmp/s26
$P m0=$R:0 m1=$R:1 m2=$R:2 warm3=$S/fc-s0-m3-warm20 > docs/bench-2026-11-29-encoder/members_s0_warm.txt
$P m0=/tmp/s25/fc-s1-m0 m1=/tmp/s25/fc-s1-m1 m2=/tmp/s25/fc-s1-m2 warm3=$S/fc-s1-m3-warm20 \
  > docs/bench-2026-11-29-encoder/members_s1_warm.txt
$P m0=$R:0 m1=$R:1 m2=$R:2 > docs/bench-2026-11-29-encoder/members_s0_frozen_enc.txt
# member 3 with the encoder fitted diverged at its first step (adapt_losses.txt); its forecast was stopped
$P enc0=$S/fc-s0-m0-enctrain enc1=$S/fc-s0-m1-enctrain enc2=$S/fc-s0-m2-enctrain \
  > docs/bench-2026-11-29-encoder/members_s0_enc.txt
$P m0=/tmp/s25/fc-s1-m0 m1=/tmp/s25/fc-s1-m1 m2=/tmp/s25/fc-s1-m2 > docs/bench-2026-11-29-encoder/members_s1_frozen_enc.txt
$P enc0=$S/fc-s1-m0-enctrain enc1=$S/fc-s1-m1-enctrain enc2=$S/fc-s1-m2-enctrain \
  > docs/bench-2026-11-29-encoder/members_s1_enc.txt
B=/tmp/bench_p2/models
.venv/bin/python benchmarks/adapt_losses.py \
  --members s0-warm $B/K4_s0/meso-adapt $B/K4_s0/meso-adapt-m1 $B/K4_s0/meso-adapt-m2 $S/adapt-s0-m3-warm20 \
  --members s1-warm $B/K4_s1/meso-adapt $B/K4_s1/meso-adapt-m1 $B/K4_s1/meso-adapt-m2 $S/adapt-s1-m3-warm20 \
  --members s0-enc $S/adapt-s0-m0-enctrain $S/adapt-s0-m1-enctrain $S/adapt-s0-m2-enctrain $S/adapt-s0-m3-enctrain \
  --members s1-enc $S/adapt-s1-m0-enctrain $S/adapt-s1-m1-enctrain $S/adapt-s1-m2-enctrain \
  > docs/bench-2026-11-29-encoder/adapt_losses.txt
.venv/bin/python benchmarks/adapt_losses.py /tmp/bench_p2 > docs/bench-2026-11-29-encoder/adapt_losses_bench.txt
