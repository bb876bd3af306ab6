"""Dead-letter bursts: an alarm per source once the threshold is reached within the window,
kept current while letters keep coming, cleared after a quiet window; the window is read
through the index on received_at (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from linetrace.central.derive.alarms import Alarm, list_alarms
from linetrace.central.derive.dead_letter_alarms import DEAD_LETTERS, sweep_dead_letter_alarms
from linetrace.central.ingest.write_batch import Inbound, write_batch
from linetrace.central.store import DeadLetter, insert_dead_letters
from tests.central.helpers import STATION, events_topic, make_event

NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
THRESHOLD = 20
ROGUE = "linetrace/v1/hcm1/L1/bad station!/events"


def letters(
    engine: Engine, count: int, *, topic: str, reason: str, at: datetime, step_s: float = 1.0
) -> None:
    """``count`` dead letters on ``topic``, one every ``step_s`` seconds up to ``at``."""
    with engine.begin() as connection:
        insert_dead_letters(
            connection,
            [
                DeadLetter(topic, reason, b"{}", at - timedelta(seconds=step_s * i))
                for i in range(count)
            ],
        )


def sweep(engine: Engine, now: datetime) -> tuple[int, int]:
    with engine.begin() as connection:
        return sweep_dead_letter_alarms(connection, now, threshold=THRESHOLD, window=WINDOW)


def alarms(engine: Engine) -> list[Alarm]:
    with engine.connect() as connection:
        return list_alarms(connection, kind=DEAD_LETTERS)


def test_a_burst_from_an_unregistered_station_raises_an_alarm_with_its_reasons(
    engine: Engine,
) -> None:
    messages = [
        Inbound(events_topic(), make_event(seq).to_payload(), NOW - timedelta(seconds=seq))
        for seq in range(1, THRESHOLD)
    ]
    write_batch(engine, messages)  # the station is not registered: all dead-lettered
    assert sweep(engine, NOW) == (0, 0), "one short of the threshold"
    write_batch(engine, [Inbound(events_topic(), b"not json", NOW)])
    assert sweep(engine, NOW) == (1, 0)
    (alarm,) = alarms(engine)
    assert (alarm.station, alarm.key, alarm.severity) == (STATION, events_topic(), "warning")
    assert alarm.message.startswith(f"20 dead letters from station {STATION} in the last 5 min")
    assert alarm.details is not None
    assert alarm.details["count"] == THRESHOLD
    top = alarm.details["top_reasons"]
    assert [entry["count"] for entry in top] == [19, 1]
    assert top[0]["reason"].startswith(f"unknown station {STATION}")
    assert "not JSON" in top[1]["reason"]
    assert sweep(engine, NOW + timedelta(seconds=1)) == (0, 0), "raised once while open"
    assert [a.id for a in alarms(engine)] == [alarm.id]


def test_letters_outside_the_window_or_from_other_sources_do_not_add_up(engine: Engine) -> None:
    old = NOW - WINDOW - timedelta(seconds=1)
    letters(engine, 50, topic=events_topic(), reason="old", at=old)
    letters(engine, 15, topic=events_topic(), reason="r", at=NOW)
    letters(engine, 15, topic=events_topic("hcm1/L2/pack-2"), reason="r", at=NOW)
    letters(engine, 30, topic=events_topic(), reason="later", at=NOW + timedelta(minutes=1))
    assert sweep(engine, NOW) == (0, 0)
    assert alarms(engine) == []


def test_an_open_alarm_follows_the_counts_and_clears_after_a_quiet_window(
    engine: Engine,
) -> None:
    letters(engine, THRESHOLD, topic=ROGUE, reason="topic names no valid station", at=NOW)
    assert sweep(engine, NOW) == (1, 0)
    (alarm,) = alarms(engine)
    assert (alarm.station, alarm.key) == (None, ROGUE)
    assert f"from topic {ROGUE!r}" in alarm.message
    later = NOW + timedelta(minutes=2)
    for reason in ("a", "b", "c", "d", "e", "f"):
        letters(engine, 1, topic=ROGUE, reason=reason, at=later)
    assert sweep(engine, later) == (0, 0)
    (updated,) = alarms(engine)
    assert updated.id == alarm.id
    assert updated.details is not None
    assert updated.details["count"] == THRESHOLD + 6
    assert len(updated.details["top_reasons"]) == 5
    assert updated.details["other_reasons"] == 2
    assert updated.details["top_reasons"][0] == {
        "reason": "topic names no valid station",
        "count": THRESHOLD,
    }
    # Fewer than the threshold still in the window: the source is not quiet yet.
    assert sweep(engine, NOW + WINDOW + timedelta(seconds=30)) == (0, 0)
    assert alarms(engine)[0].details["count"] == 6  # type: ignore[index]
    assert sweep(engine, later + WINDOW) == (0, 1)
    assert alarms(engine) == []
    with engine.connect() as connection:
        (history,) = list_alarms(connection, kind=DEAD_LETTERS, open_only=False)
    assert history.id == alarm.id
    assert not history.open


def test_the_window_is_read_through_the_received_at_index(engine: Engine) -> None:
    letters(engine, 500, topic=events_topic(), reason="r", at=NOW, step_s=60)
    with captured(engine) as statements, engine.begin() as connection:
        sweep_dead_letter_alarms(connection, NOW, threshold=THRESHOLD, window=WINDOW)
        (statement, parameters) = next(s for s in statements if "FROM dead_letters" in s[0])
        plan = explain(connection, statement, parameters)
    assert "ix_dead_letters_received_at" in plan, plan


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def explain(connection: Connection, statement: str, parameters: Any) -> str:
    """The plan of a captured statement; PostgreSQL is told to avoid a full scan when it can,
    since a small test table is cheaper to scan whole than through any index."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(str(row[-1]) for row in rows)
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
    return "\n".join(str(row[0]) for row in rows)
