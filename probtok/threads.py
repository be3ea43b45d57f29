"""torch's CPU thread count for one block of work, restored after.

The token networks are small convolutions on small grids: one thread is often fastest, and several on a
busy machine were measured 100x slower (docs/bench-2026-11-28-adapt-threads). The count also changes the
floating-point path, so results repeat bit for bit only at the same count. Library entry points set the
count they want inside ``torch_threads`` so that an in-process caller (a notebook, a test) keeps its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: leave the count as it is, e.g. for code that sets
    its own); the count before is restored on exit, also on an error."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise ValueError(f"torch threads must be >= 1, got {n}")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
