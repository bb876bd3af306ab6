"""Backup and restore of central's database: the restored copy traces a lot as the original.

SQLite: ``linetrace central backup`` runs while another process keeps storing events; the
copy restores into a new path and answers the same lot trace as the original did when it
was taken. PostgreSQL: ``pg_dump`` and ``pg_restore`` into a second throwaway database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.query.lot_trace import trace_lot
from linetrace.central.store import events, open_engine, upgrade
from linetrace.central.store.backup import BackupError, ToolNotFound, backup
from tests.central.helpers import HCM
from tests.central.store.conftest import BlankDatabase
from tests.central.trace_helpers import LOT, item, store

AT = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)
# The writes that go on during a backup: another line's, so the lot's answer stays put.
OTHER_LINE = "hcm1/L2/pack-1"


def central(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``linetrace central ARGS`` on the database at ``url``."""
    environment = {**os.environ, "LINETRACE_CENTRAL_DATABASE__URL": url}
    return subprocess.run(
        [sys.executable, "-m", "linetrace", "central", *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def lot_answer(url: str) -> dict[str, object]:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            return trace_lot(connection, LOT).model_dump(mode="json")
    finally:
        engine.dispose()


def count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()


@pytest.fixture
def sqlite_lot(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    upgrade(url)
    engine = open_engine(url)
    store(engine, *(item(n, f"{n:06d}", AT + timedelta(seconds=n)) for n in range(1, 21)))
    try:
        yield url, engine
    finally:
        engine.dispose()


def test_sqlite_backup_while_writing_restores_and_traces_the_lot(
    sqlite_lot: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = sqlite_lot
    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:  # the ingest, storing one event after another meanwhile
        seq = 100
        while not stop.is_set():
            seq += 1
            at = AT + timedelta(seconds=seq)
            store(engine, item(seq, f"{seq:06d}", at, lot="OTHER", station=OTHER_LINE))
            written.append(seq)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(written) < 5:  # writes are under way before the backup starts
            writer.join(0.01)
        before = lot_answer(url)
        done = central(url, "backup", "--to", str(tmp_path / "backup.db"))
        during = len(written)
        while len(written) < during + 5:  # and still going after it
            writer.join(0.01)
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stderr
    assert "backed up" in done.stdout
    assert (tmp_path / "backup.db").stat().st_mode & 0o777 == 0o600

    restored = f"sqlite:///{tmp_path / 'restored' / 'central.db'}"
    done = central(restored, "restore", "--from", str(tmp_path / "backup.db"))
    assert done.returncode == 0, done.stderr
    assert lot_answer(restored) == before == lot_answer(url)
    restored_engine = open_engine(restored)
    try:
        copied = count(restored_engine)
    finally:
        restored_engine.dispose()
    assert 20 + 5 <= copied < 20 + len(written)  # one consistent moment, mid-writes


def test_sqlite_restore_refuses_a_database_without_force(
    sqlite_lot: tuple[str, Engine], tmp_path: Path
) -> None:
    url, _ = sqlite_lot
    copy = tmp_path / "backup.db"
    backup(url, copy)
    with pytest.raises(BackupError, match="exists"):
        backup(url, copy)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(other)
    refused = central(other, "restore", "--from", str(copy))
    assert refused.returncode == 1
    assert "holds a database" in refused.stderr
    assert central(other, "restore", "--from", str(copy), "--force").returncode == 0
    assert lot_answer(other) == lot_answer(url)


@pytest.mark.postgres
def test_postgres_dump_and_restore_trace_the_lot(
    blank_database: BlankDatabase, tmp_path: Path
) -> None:
    original, target = blank_database("postgres"), blank_database("postgres")
    upgrade(original)
    engine = open_engine(original)
    try:
        store(engine, *(item(n, f"{n:06d}", AT + timedelta(seconds=n)) for n in range(1, 21)))
    finally:
        engine.dispose()
    dump = tmp_path / "central.dump"
    done = central(original, "backup", "--to", str(dump))
    assert done.returncode == 0, done.stderr
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    done = central(target, "restore", "--from", str(dump))
    assert done.returncode == 0, done.stderr
    assert lot_answer(target) == lot_answer(original)
    refused = central(target, "restore", "--from", str(dump))
    assert (refused.returncode, "is not empty" in refused.stderr) == (1, True)


def test_a_missing_pg_dump_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://linetrace@127.0.0.1:1/central"  # never reached
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without PostgreSQL's tools
    with pytest.raises(ToolNotFound, match="pg_dump is not installed"):
        backup(url, tmp_path / "backup.dump")
    assert not (tmp_path / "backup.dump").exists()
