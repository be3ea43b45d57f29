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


#: The test files that take longest, the longest first (summed per file by `pytest --durations=0` on a 2-core
#: AVX2 machine, 2026-11-29: 361, 134, 120, 86, 83, 43, 38 and 36 s; the other 40 files 185 s together).
#: `make test` hands whole files to its workers in collection order (--dist loadfile --no-loadscope-reorder),
#: each taking the next file when it finishes one: long files first keep both workers busy to the end (the
#: longest-first rule). With xdist's default order (most tests first) the suite took 673 s, in this one 562 s.
#: A file missing here only runs later; a renamed one only loses its place.
LONGEST_FIRST = ("tests/test_bench.py", "tests/meso/test_forecast_cli.py", "tests/test_examples.py",
                 "tests/model/test_toy_fit.py", "tests/test_demo.py", "tests/test_closure.py",
                 "tests/model/test_recovery.py", "tests/test_catalogue.py")


def pytest_collection_modifyitems(config, items):
    rank = {f: i for i, f in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: files keep their order
