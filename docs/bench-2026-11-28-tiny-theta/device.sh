#!/bin/bash
# On the lent GPU machine (16 CPU cores; the GPU is not used): simulate meso.h5 (the default meso preset, as
# /tmp/full/meso.h5 here), then the 16 adaptations of devadapt.py (tiny-up-u, K = 4, subsets 0 and 1, 4 members,
# theta prior and frozen) from the four micro fits carried in devcarry/ (made on the development machine by the
# bench's own micro-fit job). Back in $OUT: the logs, the meso digest, and the adapted folders (adapt.tgz).
# Needs .whl/ (pyro-ppl 1.9.2, pyro-api, arviz 0.23.4, xarray-einstats, h5netcdf, dask, distributed, partd,
# locket, tblib, zict, tornado; arviz also needs platformdirs, which was missing: its import in the version line
# failed, the adaptations do not import it) and devcarry/micro-fit*; run from the repository root.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
export JAX_PLATFORMS=cpu OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
D=docs/bench-2026-11-28-tiny-theta
{ nproc; lscpu | grep -E "Model name|Flags" | cut -c1-120; python3 -c "import torch, jax, numpy, pyro, arviz; print(torch.__version__, jax.__version__, numpy.__version__, pyro.__version__, arviz.__version__)"; } > $OUT/machine.txt 2>&1
t0=$(date +%s)
python3 -m probtok.cli simulate --preset meso --out /tmp/meso.h5 --workers 16 > $OUT/sim.log 2>&1 || { tail $OUT/sim.log; exit 1; }
echo "simulated in $(( $(date +%s) - t0 )) s" | tee -a $OUT/machine.txt
python3 $D/meso_digest.py /tmp/meso.h5 > $OUT/meso_digest_device.txt
for b in bf bp; do mkdir -p /tmp/$b && cp -r devcarry/micro-fit* /tmp/$b/; done
timeout ${ADAPT_LIMIT:-470} python3 $D/devadapt.py /tmp/meso.h5 /tmp/bf /tmp/bp 16 > $OUT/adapt.txt 2> $OUT/adapt.err
echo "adapt rc=$? after $(( $(date +%s) - t0 )) s" | tee -a $OUT/machine.txt
cat $OUT/adapt.txt
tar czf $OUT/adapt.tgz -C /tmp bf/models bp/models
ls -la $OUT
