"""Migration 0013 counts the reads of the last two hours into ``station_minutes``.

A central at 0012 has events but no minute counts: after the upgrade the dashboard must
show the hour it held, and the minutes the backfill wrote must be the very rows the
ingest increments afterwards (the same minute value, on SQLite the same text), not
twins of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from linetrace.central.derive.station_minutes import minute_of
from linetrace.central.store import head_revision, open_engine, upgrade
from linetrace.central.store.migrate import alembic_config
from linetrace.central.store.tables import station_minutes
from tests.central.helpers import STATION, make_event
from tests.central.store.conftest import BlankDatabase
from tests.central.store.test_upgrades import _event_row, _insert
from tests.central.trace_helpers import pack, sscc, store

SITE, LINE, NAME = STATION.split("/")


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_upgrade_counts_recent_reads_per_minute(
    blank_database: BlankDatabase, backend: str
) -> None:
    url = blank_database(backend)
    assert upgrade(url, "0012") == "0012"
    now = datetime.now(UTC).replace(second=30, microsecond=250_000) - timedelta(minutes=5)
    recent, earlier = now - timedelta(minutes=10), now - timedelta(minutes=95)
    old = [
        make_event(1, observed_at=recent),
        make_event(2, observed_at=recent + timedelta(seconds=1)),
        make_event(3, kind="noread", observed_at=recent + timedelta(seconds=2)),
        make_event(4, observed_at=earlier),
        make_event(5, observed_at=now - timedelta(hours=3)),  # older than the backfill
        pack(6, sscc(1), [{"01": "08938500000010", "21": "000001"}], recent),  # not counted
    ]
    engine = open_engine(url)
    try:
        with engine.begin() as connection:
            for event in old:
                _insert(connection, "events", _event_row(event))
        assert upgrade(url) == head_revision()
        with engine.connect() as connection:
            assert _minutes(connection) == {minute_of(recent): (2, 1), minute_of(earlier): (1, 0)}
        # The ingest adds to the backfilled row of that minute: the same key.
        assert store(engine, make_event(7, observed_at=recent + timedelta(seconds=3))).stored == 1
        with engine.connect() as connection:
            assert _minutes(connection) == {minute_of(recent): (3, 1), minute_of(earlier): (1, 0)}
            indexes = {ix["name"] for ix in sa.inspect(connection).get_indexes("containment")}
        assert "ix_containment_child_gtin_child_lot" in indexes
    finally:
        engine.dispose()


def _minutes(connection: Connection) -> dict[datetime, tuple[int, int]]:
    m = station_minutes.c
    rows = connection.execute(
        sa.select(m.minute, m.reads, m.noreads).where(
            m.site == SITE, m.line == LINE, m.station == NAME
        )
    ).all()
    return {minute: (reads, noreads) for minute, reads, noreads in rows}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_downgrade_drops_the_table_and_the_index(
    blank_database: BlankDatabase, backend: str
) -> None:
    url = blank_database(backend)
    upgrade(url)
    engine = open_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0012")
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            assert "station_minutes" not in inspector.get_table_names()
            names = {ix["name"] for ix in inspector.get_indexes("containment")}
        assert "ix_containment_child_gtin_child_lot" not in names
    finally:
        engine.dispose()
