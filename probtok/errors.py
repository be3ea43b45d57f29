"""probtok's own error types.

Every error a user can trigger with bad input is a :class:`ProbtokError`: the
CLI prints it as one readable line plus a hint, with a non-zero exit code and
no traceback (unless ``--debug``).
"""

from __future__ import annotations


class ProbtokError(Exception):
    """Base class of every error probtok raises for bad input or a fault.

    Parameters
    ----------
    problem : what is wrong, one sentence.
    file, run, field : where, when known (printed as ``file: run 3: field T:``).
    hint : what the user can do about it.
    """

    exit_code = 2

    def __init__(self, problem: str, *, file=None, run=None, field=None, hint: str | None = None):
        self.problem = problem
        self.file = None if file is None else str(file)
        self.run = run
        self.field = field
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.run is not None:
            where.append(f"run {self.run}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.problem}" if prefix else self.problem


class DataError(ProbtokError):
    """A dataset file is missing, unreadable, of another schema, or invalid."""


class ConfigError(ProbtokError):
    """A configuration (TOML or arguments) has an unknown key, wrong type or bad value."""


class CheckpointError(ProbtokError):
    """A checkpoint is missing, corrupt, unsafe, or from another model config."""


class SimulationError(ProbtokError):
    """A simulation lost positivity or finiteness; the run is recorded as failed."""
