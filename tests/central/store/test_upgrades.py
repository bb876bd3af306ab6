"""Upgrading to the newest schema from every earlier revision keeps the data usable.

For each revision in the shipped Alembic scripts (found there, so a new one is covered
the day it lands), on SQLite and on PostgreSQL: a blank database is migrated to that
revision, the rows a central at that revision held are written with plain SQL against
its tables (a lot's reads, a case it was packed into, a no-read, a dead letter, and what
each revision added: stations, progress, alarms, products, batches, containment, lot
summaries, the relay queue, master data), then ``upgrade`` (what ``central migrate`` and
every start run) brings it to head. The events must then be listed as stored, the lot
traced through the query layer, and the database must take new events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from linetrace.broker.contract.messages import ScanEvent
from linetrace.broker.contract.topics import StationId
from linetrace.central.query.dead_letters import find_dead_letters
from linetrace.central.query.events import EventQuery, find_events
from linetrace.central.query.lot_trace import trace_lot
from linetrace.central.store import current_revision, head_revision, open_engine, upgrade
from linetrace.central.store.migrate import alembic_config
from tests.central.helpers import GTIN, HCM, STATION, make_event
from tests.central.store.conftest import BlankDatabase
from tests.central.trace_helpers import LOT, PACKER, item, pack, sscc, store

REVISIONS = [
    script.revision
    for script in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))
]
EARLIER = REVISIONS[:-1]
AT = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)
RECEIVED = AT + timedelta(minutes=5)
CASE = sscc(1)
READS = [item(n, f"{n:06d}", AT + timedelta(seconds=n)) for n in (1, 2, 3)]
PACK = pack(1, CASE, [{"01": GTIN, "21": "000001"}, {"01": GTIN, "21": "000002"}], AT)
NOREAD = make_event(4, kind="noread", observed_at=AT + timedelta(seconds=4))
EVENTS = [*READS, NOREAD, PACK]


def test_the_revisions_are_found_in_order() -> None:
    assert REVISIONS[-1] == head_revision()
    assert len(REVISIONS) >= 6
    assert sorted(REVISIONS) == REVISIONS  # 0001, 0002, ...: one line of history


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("revision", EARLIER)
def test_upgrade_from_every_earlier_revision_keeps_the_data_usable(
    blank_database: BlankDatabase, backend: str, revision: str
) -> None:
    url = blank_database(backend)
    assert upgrade(url, revision) == revision
    engine = open_engine(url)
    try:
        with engine.begin() as connection:
            had = write_rows_of(connection)
        assert upgrade(url) == head_revision()
        assert current_revision(engine) == head_revision()
        check_usable(engine, had)
    finally:
        engine.dispose()


def write_rows_of(connection: Connection) -> set[str]:
    """Write what a central at this revision held, in its own tables; return the tables."""
    tables = {
        name: {column["name"] for column in sa.inspect(connection).get_columns(name)}
        for name in sa.inspect(connection).get_table_names()
    }
    for table, row in rows():
        if table in tables:
            missing = set(row) - tables[table]
            _insert(connection, table, {k: v for k, v in row.items() if k not in missing})
    return set(tables)


def rows() -> list[tuple[str, dict[str, Any]]]:
    """Every table's rows, in an order foreign keys allow; a table not there yet is skipped."""
    found: list[tuple[str, dict[str, Any]]] = [("events", _event_row(e)) for e in EVENTS]
    found.append(("dead_letters", _letter()))
    for station in (STATION, PACKER):
        where = _where(station)
        found.append(
            (
                "stations",
                where | {"registered_at": RECEIVED, "registered_by": "cli", "enabled": True},
            )
        )
        found.append(("station_progress", where | {"updated_at": RECEIVED} | _progress(station)))
    found += [
        ("alarms", _alarm()),
        ("products", _product()),
        ("batches", _batch()),
        *[("containment", _stay(serial)) for serial in ("000001", "000002")],
        ("lot_summaries", {"lot": LOT, "gtin": GTIN, "item_count": 3}),
        ("lot_station_summaries", _lot_station()),
        ("lot_containers", {"lot": LOT, "gtin": GTIN, "parent_code": f"00{CASE}", "item_count": 2}),
        ("relay_queue", _queued()),
        ("producer", _producer()),
    ]
    return found


def check_usable(engine: Engine, had: set[str]) -> None:
    """The events, dead letter and lot as stored, and a new event taken in on top."""
    with engine.connect() as connection:
        page = find_events(connection, EventQuery(limit=100))
        listed = {event.payload["event_id"]: event for event in page.events}
        assert set(listed) == {str(e.event_id) for e in EVENTS}
        for event in EVENTS:
            assert listed[str(event.event_id)].payload == json.loads(event.to_payload())
            assert listed[str(event.event_id)].observed_at == event.observed_at
        letters = find_dead_letters(
            connection, reason_prefix=None, include_replayed=True, before_id=None, limit=10
        ).letters
        assert [letter.reason for letter in letters] == ["payload is not JSON"]
        trace = trace_lot(connection, LOT)
    assert trace.items.count == 3
    assert [(s.station, s.reads, s.items) for s in trace.stations] == [(STATION, 3, 3)]
    contained = "containment" in had
    assert [c.code for c in trace.containers] == ([f"00{CASE}"] if contained else [])
    assert [b.lot for b in trace.batches] == ([LOT] if "batches" in had else [])
    # Usable: the ingest takes a new read of the lot (stations unregistered before 0002
    # are registered on sight, as auto_register would).
    assert store(engine, item(5, "000005", AT + timedelta(seconds=5))).stored == 1
    with engine.connect() as connection:
        assert trace_lot(connection, LOT).items.count == 4


def _insert(connection: Connection, table: str, row: Mapping[str, Any]) -> None:
    """``INSERT INTO table (...) VALUES (...)``, each value bound as its column's type was."""
    quote = connection.dialect.identifier_preparer.quote
    sqlite = connection.dialect.name == "sqlite"
    params = [
        sa.bindparam(name, _value(value, sqlite), _type(value)) for name, value in row.items()
    ]
    columns = ", ".join(quote(name) for name in row)
    values = ", ".join(f":{name}" for name in row)
    statement = sa.text(f"INSERT INTO {quote(table)} ({columns}) VALUES ({values})")  # noqa: S608
    connection.execute(statement.bindparams(*params))


def _type(value: Any) -> sa.types.TypeEngine[Any] | None:
    if isinstance(value, UUID):
        return sa.Uuid()
    if isinstance(value, datetime):
        return sa.DateTime(timezone=True)
    if isinstance(value, date):
        return sa.Date()
    if isinstance(value, dict | list):
        return sa.JSON()
    if isinstance(value, bool):
        return sa.Boolean()
    return None


def _value(value: Any, sqlite: bool) -> Any:
    """SQLite keeps times as naive UTC text, as every revision's writes did."""
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if sqlite else utc
    return value


def _event_row(event: ScanEvent) -> dict[str, Any]:
    gs1 = event.gs1 or {}
    offset = event.observed_at.utcoffset()
    assert offset is not None
    return {
        "event_id": event.event_id,
        "schema_version": event.schema_version,
        "site": event.site,
        "line": event.line,
        "station": event.station,
        "seq": event.seq,
        "kind": event.kind.value,
        "observed_at": event.observed_at,
        "utc_offset_s": int(offset.total_seconds()),
        "received_at": RECEIVED,
        "symbology": event.symbology,
        "symbology_id": event.symbology_id,
        "text": event.text,
        "gtin": gs1.get("01"),
        "serial": gs1.get("21"),
        "lot": gs1.get("10"),
        "sscc": gs1.get("00"),
        "expiry": gs1.get("17"),
        "frames": event.frames,
        "payload": json.loads(event.to_payload()),
    }


def _where(station: str) -> dict[str, str]:
    parsed = StationId.parse(station)
    return {"site": parsed.site, "line": parsed.line, "station": parsed.station}


def _letter() -> dict[str, Any]:
    payload = b"{not json"
    return {
        "received_at": RECEIVED,
        "topic": f"linetrace/v1/{STATION}/events",
        "reason": "payload is not JSON",
        "payload": payload,
        "payload_size": len(payload),
    }


def _progress(station: str) -> dict[str, Any]:
    seq = 4 if station == STATION else 1
    return {"watermark": seq, "max_seq_seen": seq}


def _alarm() -> dict[str, Any]:
    return {
        "raised_at": RECEIVED,
        "station": STATION,
        "kind": "seq_gap",
        "key": "5",
        "severity": "warning",
        "message": "seq 5 is missing",
        "details": {"from": 5, "to": 5},
        "open_key": f"{STATION}|seq_gap|5",
    }


def _product() -> dict[str, Any]:
    return {
        "gtin": GTIN,
        "name": "Sữa tươi 1 L",
        "producer_name": "Công ty A",
        "standards": ["TCVN 7405:2018"],
        "created_at": RECEIVED,
        "updated_at": RECEIVED,
    }


def _batch() -> dict[str, Any]:
    return {
        "site": StationId.parse(STATION).site,
        "line": StationId.parse(STATION).line,
        "gtin": GTIN,
        "lot": LOT,
        "expiry": date(2026, 3, 1),
        "started_at": AT - timedelta(hours=1),
    }


def _stay(serial: str) -> dict[str, Any]:
    return {
        "parent_code": f"00{CASE}",
        "child_code": f"01{GTIN}21{serial}",
        "child_gtin": GTIN,
        "child_lot": LOT,
        "packed_at": PACK.observed_at,
        "packed_event_id": PACK.event_id,
        **_where(PACKER),
    }


def _lot_station() -> dict[str, Any]:
    return {
        "lot": LOT,
        "gtin": GTIN,
        **_where(STATION),
        "reads": 3,
        "item_count": 3,
        "first_seen": READS[0].observed_at,
        "last_seen": READS[-1].observed_at,
    }


def _queued() -> dict[str, Any]:
    return {
        "target": "portal",
        "event_id": READS[0].event_id,
        "action": "capture",
        "lot": LOT,
        "gtin": GTIN,
        "state": "queued",
        "attempts": 0,
        "next_attempt_at": RECEIVED,
        "queued_at": RECEIVED,
    }


def _producer() -> dict[str, Any]:
    return {
        "id": 1,
        "name": "Công ty A",
        "address": "1 Đường A, TP HCM",
        "created_at": RECEIVED,
        "updated_at": RECEIVED,
    }
