"""Files only the service's own user may read: its state folder and its SQLite databases.

Central's database and the edge's outbox hold every code a plant scanned; like the
broker's secrets they are kept 0600 in folders that are 0700. The modes are set with
``chmod`` after creating, never left to the umask (which can only take bits away from
what ``mkdir`` and ``open`` ask for, and is 0000 under some supervisors).

SQLite gives the ``-wal``, ``-shm`` and ``-journal`` files it creates the permissions of
the database file itself, so a database file made 0600 before SQLite first opens it keeps
its companions private as well; companions left by an older version are tightened here.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_DIR_MODE", "PRIVATE_FILE_MODE", "private_folder", "private_sqlite"]

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# What SQLite keeps beside a database file ``X``: ``X-wal`` and ``X-shm`` in WAL mode,
# ``X-journal`` in the rollback journal modes.
_COMPANIONS = ("-wal", "-shm", "-journal")


def private_folder(path: Path) -> None:
    """Make ``path`` a 0700 folder, creating it (and missing parents, also 0700) if needed.

    An existing folder is tightened too: use it only for a folder the service owns.
    """
    _make_folders(path)
    _tighten(path, PRIVATE_DIR_MODE)


def private_sqlite(database: Path) -> None:
    """Make the SQLite file ``database`` and its companions 0600 before SQLite opens it.

    Missing folders above it are created 0700; existing ones are left as they are (the
    database may live in a folder the service shares). A new database file is created
    empty, which SQLite takes as an empty database.
    """
    _make_folders(database.parent)
    try:
        descriptor = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        _tighten(database, PRIVATE_FILE_MODE)
    else:
        try:
            os.fchmod(descriptor, PRIVATE_FILE_MODE)
        finally:
            os.close(descriptor)
    for suffix in _COMPANIONS:
        _tighten(database.with_name(database.name + suffix), PRIVATE_FILE_MODE)


def _make_folders(path: Path) -> None:
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made by a concurrent start: its maker sets the mode
        os.chmod(folder, PRIVATE_DIR_MODE)


def _tighten(path: Path, mode: int) -> None:
    """Set ``mode`` on ``path`` if it is looser; a file of another user is only warned of."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not current & ~mode:
        return  # as private already (or more: a read-only file stays read-only)
    try:
        os.chmod(path, mode)
    except PermissionError as exc:
        log.warning("cannot make %s private (mode %o): %s", path, current, exc)
