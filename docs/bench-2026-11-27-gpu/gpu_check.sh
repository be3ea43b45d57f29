#!/bin/bash
# The GPU checks of the device-option change: one script, run on the lent GPU machine from the repo root.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, jax, numpy; print('torch', torch.__version__, torch.cuda.is_available(), 'jax', jax.__version__, jax.default_backend(), 'numpy', numpy.__version__)"
timeout 240 python3 -m pytest -q -x -p no:cacheprovider tests/meso/test_forecast_cli.py -k "gpu or device or summarises" 2>&1 | tee $OUT/pytest.txt | tail -15
S="python3 benchmarks/forecast_speed.py --data devcarry/meso_run24.h5 --run 0 --draws 200"
timeout 200 $S --models devcarry/K4_s1-meso-adapt devcarry/micro-fit --device cuda --no-old 2>&1 | tee $OUT/speed_cuda.txt
timeout 60 $S --models devcarry/micro-fit --device cuda --no-old --batch 20 2>&1 | grep -A4 "micro-fit" | tee $OUT/speed_cuda_b20.txt
JAX_PLATFORMS=cpu timeout 120 $S 2>&1 | tee $OUT/sim_cpu.txt
