#!/bin/bash
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
S="python3 benchmarks/forecast_speed.py --data devcarry/meso_run24.h5 --run 0 --draws 200 --device cuda --no-old"
timeout 150 $S --models devcarry/K4_s1-meso-adapt devcarry/micro-fit 2>&1 | tee $OUT/speed_cuda.txt
timeout 100 $S --models devcarry/K4_s1-meso-adapt devcarry/micro-fit --batch 20 2>&1 | grep -v simulat | tee $OUT/speed_cuda_b20.txt
