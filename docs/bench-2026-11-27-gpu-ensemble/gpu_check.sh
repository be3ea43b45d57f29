#!/bin/bash
# GPU checks of the ensemble forecast: one script, run on the lent GPU machine from the repository root, with
# the wheels the machine lacks in .whl/ and devcarry/ made as README.md says.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, jax, numpy; print('torch', torch.__version__, torch.cuda.is_available(), 'jax', jax.__version__, jax.default_backend(), 'numpy', numpy.__version__)"
timeout 300 python3 -m pytest -q -x -p no:cacheprovider tests/meso/test_forecast_cli.py -k "gpu or device or ensemble" 2>&1 | tee $OUT/pytest_gpu.txt | tail -15
M="devcarry/K4_s1-meso-adapt devcarry/K4_s1-meso-adapt-m1 devcarry/K4_s1-meso-adapt-m2 devcarry/K4_s1-meso-adapt-m3"
timeout 200 python3 benchmarks/forecast_speed.py --data devcarry/meso_run24.h5 --run 0 --draws 200 --models $M \
    --device cuda --no-old --ensemble 2>&1 | tee $OUT/speed_cuda_ensemble.txt
