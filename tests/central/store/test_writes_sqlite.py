"""SQLite's direct multi-row insert stores exactly what SQLAlchemy's own insert would."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine

from linetrace.broker.contract.messages import ScanEvent
from linetrace.central.store import event_row, insert_events, open_engine, writes
from linetrace.central.store import upgrade as migrate
from linetrace.central.store.tables import events
from tests.central.helpers import make_event

RECEIVED = datetime(2025, 3, 1, 1, 0, 5, 120000, tzinfo=UTC)


def _engine(path: Path) -> Engine:
    url = f"sqlite:///{path}"
    migrate(url)
    return open_engine(url)


def _rows(scan_events: list[ScanEvent]) -> list[dict[str, Any]]:
    return [event_row(e, json.loads(e.to_payload()), RECEIVED) for e in scan_events]


def _stored(engine: Engine) -> list[tuple[Any, ...]]:
    """The raw column values, as the file holds them."""
    with engine.connect() as connection:
        result = connection.exec_driver_sql("SELECT * FROM events ORDER BY seq")
        return [tuple(row) for row in result]


def test_stores_the_same_values_as_sqlalchemy(tmp_path: Path) -> None:
    scan_events = [
        make_event(1),
        make_event(2, kind="noread"),
        make_event(3, text="00089385000000000017", gs1={"00": "089385000000000017"}),
    ]
    direct, generic = _engine(tmp_path / "direct.db"), _engine(tmp_path / "generic.db")
    try:
        with direct.begin() as connection:
            new = insert_events(connection, _rows(scan_events))
        with generic.begin() as connection:
            statement = sqlite.insert(events).on_conflict_do_nothing(index_elements=["event_id"])
            connection.execute(statement, _rows(scan_events))
        assert new == {e.event_id for e in scan_events}
        assert _stored(direct) == _stored(generic)
        assert len(_stored(direct)) == 3
    finally:
        direct.dispose()
        generic.dispose()


def test_returns_only_new_events_across_several_statements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Room for two rows per statement, so five rows take three statements.
    monkeypatch.setattr(writes, "_SQLITE_MAX_PARAMETERS", 2 * len(_rows([make_event(1)])[0]))
    engine = _engine(tmp_path / "central.db")
    first = [make_event(seq) for seq in range(1, 4)]
    later = [make_event(seq) for seq in range(4, 6)]
    try:
        with engine.begin() as connection:
            assert insert_events(connection, _rows(first)) == {e.event_id for e in first}
        with engine.begin() as connection:
            again = insert_events(connection, _rows(first + later))
        assert again == {e.event_id for e in later}
        with engine.connect() as connection:
            seqs = connection.exec_driver_sql("SELECT seq FROM events ORDER BY seq").scalars()
            assert list(seqs) == [1, 2, 3, 4, 5]
    finally:
        engine.dispose()


def test_a_value_its_column_refuses_is_a_statement_error(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "central.db")
    row = _rows([make_event(1)])[0] | {"received_at": datetime(2025, 3, 1, 1, 0)}  # naive
    try:
        with (
            pytest.raises(sa.exc.StatementError, match="naive datetime"),
            engine.begin() as connection,
        ):
            insert_events(connection, [row])
        assert _stored(engine) == []
    finally:
        engine.dispose()
