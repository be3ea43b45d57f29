"""Fixtures of the data tests."""

from __future__ import annotations

import pytest

from datafixtures import disc_runs, write_small


@pytest.fixture
def frames():
    return disc_runs()


@pytest.fixture
def small_file(tmp_path, frames):
    return write_small(tmp_path / "runs.h5", frames)
