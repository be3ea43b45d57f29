"""probtok.threads.torch_threads: the count inside the block, the caller's count after (also after an error)."""

from __future__ import annotations

import pytest
import torch

from probtok.threads import torch_threads


@pytest.fixture
def caller_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def test_the_block_runs_with_the_count_asked_for_and_the_callers_count_comes_back(caller_count):
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == caller_count


def test_none_leaves_the_count_and_restores_what_the_block_changed(caller_count):
    with torch_threads():
        assert torch.get_num_threads() == caller_count
        torch.set_num_threads(1)  # e.g. a benchmark job that sets its own
    assert torch.get_num_threads() == caller_count


def test_the_count_comes_back_after_an_error(caller_count):
    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == caller_count


def test_a_count_below_one_is_refused_before_anything_changes(caller_count):
    with pytest.raises(ValueError, match=">= 1"), torch_threads(0):
        pass
    assert torch.get_num_threads() == caller_count
