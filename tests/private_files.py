"""For the tests of private files: a process umask for one block, a path's mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["UMASKS", "mode", "sqlite_files", "umask"]

# 0000 (as under some supervisors: nothing taken away) and the usual 0022: the modes that
# come out must not depend on it.
UMASKS = (0o000, 0o022)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sqlite_files(database: Path) -> dict[str, int]:
    """The modes of ``database`` and of its ``-wal`` and ``-shm``, which must all exist."""
    files = [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
    return {path.name: mode(path) for path in files}
