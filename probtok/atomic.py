"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash or kill at any moment leaves either the old file or the new one,
never a half-written one (``os.replace`` is atomic on POSIX within one
filesystem).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from probtok.errors import ProbtokError


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=parent)
    except OSError as exc:
        raise ProbtokError(
            f"cannot write here ({exc.strerror or exc})", file=path, hint="choose a writable output path"
        ) from exc
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp creates 0600; give the file the permissions a plain open() would (0666 & ~umask),
    # so datasets and reports stay readable by collaborators on shared machines.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        try:
            tmp.write_text(text)
        except OSError as exc:
            raise ProbtokError(f"write failed ({exc.strerror or exc})", file=path) from exc
