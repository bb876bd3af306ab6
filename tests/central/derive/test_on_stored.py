"""What is derived from stored events never costs the events: a failing derivation is
rolled back alone, and an alarm names the events it skipped."""

from __future__ import annotations

import sqlalchemy as sa

from linetrace.central.derive.alarms import list_alarms
from linetrace.central.derive.on_stored import DERIVATION_ALARM
from linetrace.central.store import events, open_engine
from tests.central.trace_helpers import after, item, open_batch, store


def test_a_failing_derivation_keeps_the_events_and_raises_an_alarm(sqlite_url: str) -> None:
    engine = open_engine(sqlite_url)
    try:
        batch = open_batch(engine)
        wrong = item(1, "000001", after(batch, 1), lot="L9999")
        with engine.begin() as connection:  # the table the checks go to is gone
            connection.execute(sa.text("ALTER TABLE event_checks RENAME TO event_checks_away"))
        result = store(engine, wrong)
        with engine.connect() as connection:
            stored = connection.execute(sa.select(events.c.event_id)).scalars().all()
            alarms = list_alarms(connection, kind=DERIVATION_ALARM)
    finally:
        engine.dispose()
    assert result.stored == 1
    assert result.dead_letters == []
    assert stored == [wrong.event_id]
    assert [(a.severity, a.details) for a in alarms] == [
        ("critical", {"event_ids": [str(wrong.event_id)], "lots": ["L9999"], "events": 1})
    ]
    assert "event_checks" in alarms[0].message


def test_the_same_fault_again_updates_its_open_alarm_with_every_lot(sqlite_url: str) -> None:
    engine = open_engine(sqlite_url)
    try:
        batch = open_batch(engine)
        with engine.begin() as connection:  # the table the checks go to is gone
            connection.execute(sa.text("ALTER TABLE event_checks RENAME TO event_checks_away"))
        first = item(1, "000001", after(batch, 1), lot="L1")
        store(engine, first)
        store(
            engine,
            item(2, "000002", after(batch, 2), lot="L2"),
            item(3, "000003", after(batch, 3), lot="L1"),
        )
        with engine.connect() as connection:
            alarms = list_alarms(connection, kind=DERIVATION_ALARM)
    finally:
        engine.dispose()
    assert len(alarms) == 1
    assert alarms[0].details == {
        "event_ids": [str(first.event_id)],
        "lots": ["L1", "L2"],
        "events": 3,
    }
    assert alarms[0].message.startswith("checks, containment and lot summaries of 3 stored events")
    assert alarms[0].message.endswith(
        "; once fixed, run: linetrace central lot-summaries rebuild L1 L2"
    )
