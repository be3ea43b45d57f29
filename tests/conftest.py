"""Suite-wide test settings.

torch runs single-threaded in the tests: on a 2-core machine whose other core
is busy (a Dask worker, a JAX compile, another job), two intra-op threads
spin-wait on each other and small convolutions slow down by 10-100x (measured:
the PARC learning test takes 15 s with one thread, 180 s with two under load).
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
