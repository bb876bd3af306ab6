"""The store on SQLite and PostgreSQL: schema, idempotent writes, times, queries."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from linetrace.broker.contract.messages import EventKind, ScanEvent
from linetrace.broker.contract.topics import StationId
from linetrace.central.query.events import Cursor, CursorError, EventQuery, find_events
from linetrace.central.store import (
    DeadLetter,
    current_revision,
    dead_letters,
    event_row,
    events,
    head_revision,
    insert_dead_letters,
    insert_events,
    metadata,
    open_engine,
    upgrade,
)
from linetrace.central.store.tables import DEAD_LETTER_PAYLOAD_LIMIT
from tests.central.helpers import HCM, make_event

RECEIVED = datetime(2025, 3, 1, 1, 0, 5, tzinfo=UTC)


def store(engine: Engine, *scan_events: ScanEvent, **extra_fields: Any) -> set[Any]:
    rows = [
        event_row(e, {**json.loads(e.to_payload()), **extra_fields}, RECEIVED) for e in scan_events
    ]
    with engine.begin() as connection:
        return insert_events(connection, rows)


def query(engine: Engine, **filters: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        page = find_events(connection, EventQuery(**filters))
    return [event.to_json() for event in page.events]


def test_migrations_reach_head_and_match_the_tables(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_upgrade_twice_changes_nothing(database_url: str) -> None:
    assert upgrade(database_url) == head_revision()
    assert upgrade(database_url) == head_revision()


def test_several_processes_may_migrate_a_new_sqlite_file_at_once(tmp_path: Path) -> None:
    """Two central instances (or a CLI verb and the service) starting together."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code = "import sys; from linetrace.central.store import upgrade; print(upgrade(sys.argv[1]))"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outcomes = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in outcomes]
    assert {out.decode().strip() for out, _ in outcomes} == {head_revision()}


def test_same_event_twice_is_one_row(engine: Engine) -> None:
    event = make_event(1)
    assert store(engine, event) == {event.event_id}
    assert store(engine, event) == set()
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 1


def test_insert_reports_only_the_new_events_of_a_batch(engine: Engine) -> None:
    old, new = make_event(1), make_event(2)
    store(engine, old)
    assert store(engine, old, new) == {new.event_id}


@pytest.mark.parametrize(
    ("offset", "written"),
    [
        (timedelta(hours=7), "2025-03-01T08:00:00+07:00"),
        (timedelta(hours=-3, minutes=-30), "2025-03-01T08:00:00-03:30"),
        (timedelta(0), "2025-03-01T08:00:00+00:00"),
    ],
)
def test_observed_at_keeps_the_station_offset(
    engine: Engine, offset: timedelta, written: str
) -> None:
    event = make_event(1, observed_at=datetime(2025, 3, 1, 8, 0, tzinfo=timezone(offset)))
    store(engine, event)
    (stored,) = query(engine)
    assert stored["observed_at"] == written
    assert datetime.fromisoformat(stored["observed_at"]) == event.observed_at
    assert stored["received_at"] == "2025-03-01T01:00:05+00:00"


def test_observed_at_is_compared_in_utc_across_offsets(engine: Engine) -> None:
    # 08:00+07:00 is 01:00Z, earlier than 02:00+00:00 although its wall clock is later.
    hanoi = make_event(1, observed_at=datetime(2025, 3, 1, 8, 0, tzinfo=HCM))
    london = make_event(
        2, station="lon1/L1/pack-1", observed_at=datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
    )
    store(engine, hanoi, london)
    assert [e["seq"] for e in query(engine)] == [2, 1]
    since = datetime(2025, 3, 1, 1, 30, tzinfo=UTC)
    assert [e["seq"] for e in query(engine, since=since)] == [2]


def test_additive_fields_are_kept(engine: Engine) -> None:
    event = make_event(1, camera={"exposure_us": 120}, schema_version="1.3")
    store(engine, event)
    (stored,) = query(engine)
    assert stored["camera"] == {"exposure_us": 120}
    assert stored["schema_version"] == "1.3"


def test_filters_by_station_code_kind_and_time(engine: Engine) -> None:
    base = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)
    a = make_event(1, observed_at=base)
    b = make_event(
        2, observed_at=base + timedelta(minutes=1), gs1={"01": "08938500000025", "21": "S9"}
    )
    c = make_event(3, station="hcm1/L2/pack-1", observed_at=base + timedelta(minutes=2))
    sscc = make_event(4, text="00089385000000000017", gs1={"00": "089385000000000017"})
    noread = make_event(5, kind="noread", observed_at=base + timedelta(minutes=3))
    store(engine, a, b, c, sscc, noread)

    def seqs(**filters: Any) -> list[int]:
        return [e["seq"] for e in query(engine, **filters)]

    assert seqs(station=StationId.parse("hcm1/L2/pack-1")) == [3]
    assert seqs(code="08938500000025") == [2]  # GTIN
    assert seqs(code="S9") == [2]  # serial
    assert seqs(code="089385000000000017") == [4]  # SSCC
    assert seqs(code="L2611") == [3, 1]  # lot (b has none)
    assert seqs(code=a.text) == [1]  # raw text, GS separator included
    assert seqs(code="0893850000001") == []  # exact only, no prefix match
    assert seqs(kind=EventKind.NOREAD) == [5]
    assert seqs(since=base + timedelta(minutes=1), until=base + timedelta(minutes=3)) == [3, 2]


def test_malformed_gs1_keys_are_kept_but_not_indexed(engine: Engine) -> None:
    event = make_event(1, gs1={"01": "123", "21": "x" * 30, "10": "L1"})
    store(engine, event)
    with engine.connect() as connection:
        row = connection.execute(sa.select(events.c.gtin, events.c.serial, events.c.lot)).one()
    assert tuple(row) == (None, None, "L1")
    assert query(engine)[0]["gs1"]["01"] == "123"


def test_pages_walk_every_event_once_newest_first(engine: Engine) -> None:
    same_time = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)  # ties are broken by event_id
    batch = [make_event(n, observed_at=same_time + timedelta(seconds=n // 3)) for n in range(1, 26)]
    store(engine, *batch)
    seen: list[int] = []
    cursor: Cursor | None = None
    while True:
        with engine.connect() as connection:
            page = find_events(connection, EventQuery(limit=7, cursor=cursor))
        seen += [e.payload["seq"] for e in page.events]
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor)
    assert sorted(seen) == list(range(1, 26))
    observed = {e.seq: e.observed_at for e in batch}
    assert [observed[s] for s in seen] == sorted((observed[s] for s in seen), reverse=True)


def test_last_full_page_has_no_next_cursor(engine: Engine) -> None:
    store(engine, *(make_event(n) for n in range(1, 5)))
    with engine.connect() as connection:
        page = find_events(connection, EventQuery(limit=4))
    assert len(page.events) == 4
    assert page.next_cursor is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-base64!",
        "Zm9v",
        Cursor(datetime(2025, 1, 1, tzinfo=UTC), make_event().event_id).encode()[:-3],
    ],
)
def test_foreign_cursors_are_refused(token: str) -> None:
    with pytest.raises(CursorError, match="not one this service handed out"):
        Cursor.decode(token)


def test_query_refuses_naive_times_and_bad_limits() -> None:
    with pytest.raises(ValueError, match="since must carry a UTC offset"):
        EventQuery(since=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="limit 0 is outside"):
        EventQuery(limit=0)


def test_dead_letters_keep_reason_topic_and_bounded_bytes(engine: Engine) -> None:
    huge = b"\xff" * (DEAD_LETTER_PAYLOAD_LIMIT + 10)
    letters = [
        DeadLetter("linetrace/v1/a/b/c/events", "payload is not JSON", b"{oops", RECEIVED),
        DeadLetter("linetrace/v1/a/b/c/events", "too big", huge, RECEIVED),
    ]
    with engine.begin() as connection:
        assert insert_dead_letters(connection, letters) == 2
    with engine.connect() as connection:
        rows = connection.execute(sa.select(dead_letters).order_by(dead_letters.c.id)).all()
    assert [(r.topic, r.reason, r.payload, r.payload_size) for r in rows] == [
        ("linetrace/v1/a/b/c/events", "payload is not JSON", b"{oops", 5),
        ("linetrace/v1/a/b/c/events", "too big", huge[:DEAD_LETTER_PAYLOAD_LIMIT], len(huge)),
    ]
    assert rows[0].received_at == RECEIVED


def test_sqlite_runs_in_wal_with_normal_sync_and_a_busy_timeout(sqlite_url: str) -> None:
    engine = open_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            values = [
                connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout")
            ]
        assert values == ["wal", 1, 5000]
    finally:
        engine.dispose()
