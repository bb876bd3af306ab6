"""Central's SQLite database, its -wal and -shm and the folders made for them are private."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linetrace.central.store import event_row, insert_events, open_engine
from linetrace.central.store import upgrade as migrate
from tests.central.helpers import make_event
from tests.private_files import UMASKS, mode, sqlite_files, umask


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_the_database_and_its_wal_are_0600_in_a_0700_folder(tmp_path: Path, mask: int) -> None:
    database = tmp_path / "state" / "central" / "central.db"
    url = f"sqlite:///{database}"
    with umask(mask):
        migrate(url)
        engine = open_engine(url)
        try:
            with engine.begin() as connection:
                event = make_event(1)
                document = json.loads(event.to_payload())
                insert_events(connection, [event_row(event, document, event.observed_at)])
            assert sqlite_files(database) == {
                "central.db": 0o600,
                "central.db-wal": 0o600,
                "central.db-shm": 0o600,
            }
        finally:
            engine.dispose()
    assert mode(tmp_path / "state") == 0o700
    assert mode(tmp_path / "state" / "central") == 0o700
