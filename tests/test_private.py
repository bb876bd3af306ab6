"""Private folders and SQLite files: 0700 and 0600 whatever the umask, older ones tightened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from linetrace.private import private_folder, private_sqlite
from tests.private_files import UMASKS, mode, sqlite_files, umask


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_a_new_database_and_its_wal_and_shm_are_private(tmp_path: Path, mask: int) -> None:
    database = tmp_path / "new" / "deeper" / "x.db"
    with umask(mask):
        private_sqlite(database)
        connection = sqlite3.connect(database)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("CREATE TABLE t (n INTEGER)")
            connection.execute("INSERT INTO t VALUES (1)")
            connection.commit()
            assert sqlite_files(database) == {"x.db": 0o600, "x.db-wal": 0o600, "x.db-shm": 0o600}
        finally:
            connection.close()
    assert mode(tmp_path / "new") == 0o700
    assert mode(tmp_path / "new" / "deeper") == 0o700


def test_older_loose_files_are_tightened_and_a_shared_folder_is_left_alone(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    database = shared / "x.db"
    for path in (database, shared / "x.db-wal", shared / "x.db-shm"):
        path.touch()
        path.chmod(0o644)
    private_sqlite(database)
    assert sqlite_files(database) == {"x.db": 0o600, "x.db-wal": 0o600, "x.db-shm": 0o600}
    assert mode(shared) == 0o755


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_a_state_folder_is_made_or_tightened_to_0700(tmp_path: Path, mask: int) -> None:
    older = tmp_path / "older"
    older.mkdir()
    older.chmod(0o755)
    with umask(mask):
        private_folder(older)
        private_folder(tmp_path / "a" / "b")
    assert mode(older) == 0o700
    assert mode(tmp_path / "a") == 0o700
    assert mode(tmp_path / "a" / "b") == 0o700


def test_a_read_only_database_stays_read_only(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    database.touch()
    database.chmod(0o400)
    private_sqlite(database)
    assert mode(database) == 0o400
