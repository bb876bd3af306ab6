"""A station reusing seqs: every event kept, one critical alarm per station, updated while
the reuse goes on and cleared after a quiet period; the in-order path runs no query."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.broker.contract.messages import ScanEvent
from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.alarms import Alarm, list_alarms
from linetrace.central.derive.progress import all_progress
from linetrace.central.derive.seq_reuse import SEQ_REUSED, sweep_seq_reuse_alarms
from linetrace.central.ingest.write_batch import BatchResult, Inbound, write_batch
from linetrace.central.store import events, open_engine
from tests.central.helpers import STATION, events_topic, make_event, register

OTHER = "hcm1/L2/pack-9"
NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
QUIET = timedelta(minutes=15)


@pytest.fixture
def engine(engine: Engine, database_url: str) -> Engine:
    register(database_url, STATION, OTHER)
    return engine


def send(engine: Engine, sent: Sequence[ScanEvent], at: datetime = NOW) -> BatchResult:
    messages = [Inbound(events_topic(str(e.station_id)), e.to_payload(), at) for e in sent]
    return write_batch(engine, messages)


def fresh(seqs: Sequence[int], station: str = STATION) -> list[ScanEvent]:
    """New events (each with its own new event_id) under ``seqs``."""
    return [make_event(seq, station=station) for seq in seqs]


def reuse_alarms(engine: Engine, *, open_only: bool = True) -> list[Alarm]:
    with engine.connect() as connection:
        return list_alarms(connection, kind=SEQ_REUSED, open_only=open_only)


def stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def watermark(engine: Engine, station: str = STATION) -> tuple[int, int]:
    with engine.connect() as connection:
        state = all_progress(connection)[StationId.parse(station)]
    return state.watermark, state.max_seq_seen


@contextmanager
def reuse_queries(engine: Engine) -> Iterator[list[str]]:
    """The statements that look up a station's events by a list of seqs."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        flat = " ".join(statement.split())
        if "FROM events" in flat and "events.seq IN" in flat:
            seen.append(flat)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def test_a_restarted_station_raises_one_critical_alarm_and_keeps_every_event(
    engine: Engine,
) -> None:
    before = fresh(range(1, 6))
    send(engine, before)
    assert reuse_alarms(engine) == []
    again = fresh([1, 2, 3])  # the outbox was wiped: numbering starts over
    assert send(engine, again, NOW + timedelta(hours=1)).stored == 3
    assert stored(engine) == 8
    assert watermark(engine) == (5, 5), "a reused seq counts once"
    (alarm,) = reuse_alarms(engine)
    assert (alarm.station, alarm.severity, alarm.key) == (STATION, "critical", "seq")
    assert "seqs 1..3" in alarm.message
    assert str(before[0].event_id) in alarm.message
    assert str(again[0].event_id) in alarm.message
    assert alarm.details is not None
    assert alarm.details["reused_events"] == 3
    assert alarm.details["first_clash"] == {
        "seq": 1,
        "event_ids": [str(before[0].event_id), str(again[0].event_id)],
    }

    send(engine, fresh([4, 5]))
    (updated,) = reuse_alarms(engine)
    assert updated.id == alarm.id, "one alarm per station, updated, not duplicated"
    assert updated.details is not None
    assert (updated.details["reused_events"], updated.details["batches"]) == (5, 2)
    assert (updated.details["first_seq"], updated.details["last_seq"]) == (1, 5)
    assert updated.details["last_batch"] == {"reused_events": 2, "first_seq": 4, "last_seq": 5}
    assert updated.details["first_clash"] == alarm.details["first_clash"]
    assert "5 new events came with seqs 1..5" in updated.message

    assert send(engine, fresh([6, 7])).watermarks == {StationId.parse(STATION): 7}
    (unchanged,) = reuse_alarms(engine)
    assert unchanged.details == updated.details


def test_two_events_under_one_seq_in_one_batch_raise_it_too(engine: Engine) -> None:
    first, second = fresh([7, 7], station=OTHER)
    send(engine, [first, second])
    (alarm,) = reuse_alarms(engine)
    assert alarm.station == OTHER
    assert alarm.details is not None
    assert alarm.details["reused_events"] == 1
    assert set(alarm.details["first_clash"]["event_ids"]) == {
        str(first.event_id),
        str(second.event_id),
    }


def test_resends_and_late_events_are_no_reuse(engine: Engine) -> None:
    sent = fresh([1, 3])
    send(engine, sent)
    result = send(engine, [sent[0], sent[0]])  # the same event_id again: a resend
    assert (result.stored, result.duplicates) == (0, 2)
    send(engine, fresh([2]))  # the late seq fills the gap
    assert watermark(engine) == (3, 3)
    assert reuse_alarms(engine, open_only=False) == []


def test_only_a_batch_at_or_below_the_highest_seq_queries(engine: Engine) -> None:
    with reuse_queries(engine) as seen:
        send(engine, fresh(range(1, 101)))
        send(engine, fresh(range(101, 201)))
        assert seen == [], "in-order batches of distinct seqs must not query"
        send(engine, fresh([250, 249]))
        assert seen == []
        send(engine, fresh([201, 248, 300]))  # two late seqs: one indexed query
        assert len(seen) == 1
    assert reuse_alarms(engine) == []


def test_the_alarm_clears_after_a_quiet_period_and_a_new_reuse_raises_anew(
    engine: Engine,
) -> None:
    send(engine, fresh([1, 2]))
    send(engine, fresh([1]))
    (first,) = reuse_alarms(engine)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        assert sweep_seq_reuse_alarms(connection, now + QUIET / 2, QUIET) == 0
    send(engine, fresh([2]))  # reuse goes on: the quiet period starts again
    with engine.begin() as connection:
        assert sweep_seq_reuse_alarms(connection, now + QUIET - timedelta(seconds=5), QUIET) == 0
        assert sweep_seq_reuse_alarms(connection, datetime.now(UTC) + QUIET, QUIET) == 1
    assert reuse_alarms(engine) == []
    send(engine, fresh([1]))
    (second,) = reuse_alarms(engine)
    assert second.id != first.id
    assert second.details is not None
    assert second.details["reused_events"] == 1
    assert [a.open for a in reuse_alarms(engine, open_only=False)] == [True, False]


@pytest.mark.postgres
def test_two_edges_sharing_a_station_id_on_two_instances_make_one_exact_alarm(
    postgres_url: str,
) -> None:
    """Two central instances each store a full run of seqs from "the same" station at once."""
    register(postgres_url, STATION)
    engine = open_engine(postgres_url)
    try:
        total = 200
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for start in range(1, total + 1, 10):
                    send(engine, fresh(range(start, start + 10)))
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)

        threads = [threading.Thread(target=writer) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert stored(engine) == 2 * total
        assert watermark(engine) == (total, total)
        (alarm,) = reuse_alarms(engine)
        assert alarm.details is not None
        assert alarm.details["reused_events"] == total, "each seq's second event counted once"
    finally:
        engine.dispose()
