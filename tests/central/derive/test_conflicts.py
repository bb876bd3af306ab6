"""An event_id that comes again with other content: first kept, conflict recorded, alarm."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.derive.alarms import list_alarms
from linetrace.central.derive.conflicts import EVENT_CONFLICT, canonical_sha256
from linetrace.central.ingest.write_batch import Inbound, write_batch
from linetrace.central.store import conflicts, events
from tests.central.helpers import STATION, events_topic, make_event, register

NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def engine(engine: Engine, database_url: str) -> Engine:
    register(database_url, STATION)
    return engine


def message(document: dict[str, object]) -> Inbound:
    return Inbound(events_topic(), json.dumps(document).encode(), NOW)


def stored_text(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(events.c.text)).scalars())


def test_a_second_version_is_recorded_and_alarmed_and_the_first_kept(engine: Engine) -> None:
    first = json.loads(make_event(1).to_payload())
    second = {**first, "text": first["text"] + "X"}
    write_batch(engine, [message(first)])
    result = write_batch(engine, [message(second), message(second)])
    assert (result.stored, result.duplicates, result.conflicts) == (0, 2, 1)
    assert stored_text(engine) == [first["text"]]
    with engine.connect() as connection:
        (row,) = connection.execute(sa.select(conflicts)).all()
        (alarm,) = list_alarms(connection, kind=EVENT_CONFLICT)
    assert row.first_sha256 == canonical_sha256(first)
    assert row.second_sha256 == canonical_sha256(second)
    assert row.second_payload == second
    assert row.station == STATION
    assert (alarm.station, alarm.key, alarm.severity) == (STATION, first["event_id"], "critical")
    again = write_batch(engine, [message(second)])  # the edge resends the second version
    assert again.conflicts == 0
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(conflicts)).scalar() == 1
        assert len(list_alarms(connection, open_only=False)) == 1


def test_a_conflict_within_one_batch_keeps_the_first_arrival(engine: Engine) -> None:
    first = json.loads(make_event(1).to_payload())
    second = {**first, "frames": first["frames"] + 1}
    result = write_batch(engine, [message(first), message(second)])
    assert (result.stored, result.conflicts) == (1, 1)
    with engine.connect() as connection:
        assert connection.execute(sa.select(events.c.frames)).scalar() == first["frames"]


def test_the_same_content_in_another_key_order_is_a_plain_duplicate(engine: Engine) -> None:
    first = json.loads(make_event(1).to_payload())
    reordered = dict(reversed(list(first.items())))
    write_batch(engine, [message(first)])
    result = write_batch(engine, [message(reordered)])
    assert (result.duplicates, result.conflicts) == (1, 0)
