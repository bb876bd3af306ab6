"""Per-station seq progress: the watermark, gaps, and the gap alarms, on both backends."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.alarms import list_alarms
from linetrace.central.derive.gap_alarms import SEQ_GAP, sweep_gap_alarms
from linetrace.central.derive.progress import Gap, Progress, all_progress, open_gaps
from linetrace.central.ingest.write_batch import BatchResult, Inbound, write_batch
from linetrace.central.store import events, open_engine
from tests.central.helpers import STATION, events_topic, make_event, register

OTHER = "hcm1/L2/pack-9"
NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def engine(engine: Engine, database_url: str) -> Engine:
    register(database_url, STATION, OTHER)
    return engine


def send(engine: Engine, seqs: Sequence[int], station: str = STATION) -> BatchResult:
    messages = [
        Inbound(events_topic(station), make_event(seq, station=station).to_payload(), NOW)
        for seq in seqs
    ]
    return write_batch(engine, messages)


def progress(engine: Engine, station: str = STATION) -> Progress:
    with engine.connect() as connection:
        return all_progress(connection)[StationId.parse(station)]


def gaps(engine: Engine, station: str = STATION) -> list[Gap]:
    with engine.connect() as connection:
        return open_gaps(connection, progress(engine, station))


def test_in_order_batches_move_the_watermark_and_report_it(engine: Engine) -> None:
    assert send(engine, [1, 2, 3]).watermarks == {StationId.parse(STATION): 3}
    assert send(engine, [4, 5]).watermarks == {StationId.parse(STATION): 5}
    state = progress(engine)
    assert (state.watermark, state.max_seq_seen, state.behind_since) == (5, 5, None)


def test_out_of_order_seqs_wait_for_the_missing_one(engine: Engine) -> None:
    send(engine, [1, 2])
    assert send(engine, [5, 4]).watermarks == {}
    state = progress(engine)
    assert (state.watermark, state.max_seq_seen) == (2, 5)
    assert state.behind_since is not None
    assert gaps(engine) == [Gap(3, 3)]
    assert send(engine, [3]).watermarks == {StationId.parse(STATION): 5}
    state = progress(engine)
    assert (state.watermark, state.max_seq_seen, state.behind_since) == (5, 5, None)
    assert gaps(engine) == []


def test_several_gaps_fill_one_by_one(engine: Engine) -> None:
    send(engine, [1, 3, 6, 7, 10])
    assert gaps(engine) == [Gap(2, 2), Gap(4, 5), Gap(8, 9)]
    send(engine, [2])
    assert progress(engine).watermark == 3
    send(engine, [8, 9])
    assert progress(engine).watermark == 3
    assert gaps(engine) == [Gap(4, 5)]
    send(engine, [5, 4])
    assert progress(engine).watermark == 10


def test_duplicates_and_reused_seqs_do_not_move_the_watermark_wrongly(engine: Engine) -> None:
    first = make_event(1)
    messages = [Inbound(events_topic(), first.to_payload(), NOW)] * 3
    assert write_batch(engine, messages).watermarks == {StationId.parse(STATION): 1}
    send(engine, [2, 2, 3])  # seq 2 twice under two event_ids: counted once
    with engine.connect() as connection:
        stored = connection.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    assert stored == 4
    assert (progress(engine).watermark, progress(engine).max_seq_seen) == (3, 3)
    assert send(engine, [1]).watermarks == {}  # an old seq again changes nothing


def test_stations_progress_independently(engine: Engine) -> None:
    result = send(engine, [1, 2])
    result.merge(send(engine, [1, 3], station=OTHER))
    assert result.watermarks == {StationId.parse(STATION): 2, StationId.parse(OTHER): 1}
    assert gaps(engine, OTHER) == [Gap(2, 2)]


def test_a_gap_alarm_is_raised_only_after_the_wait_and_cleared_when_filled(
    engine: Engine,
) -> None:
    send(engine, [1, 2, 4])
    since = progress(engine).behind_since
    assert since is not None
    wait = timedelta(seconds=60)
    with engine.begin() as connection:
        assert sweep_gap_alarms(connection, since + timedelta(seconds=30), wait) == (0, 0)
        assert sweep_gap_alarms(connection, since + timedelta(seconds=61), wait) == (1, 0)
        assert sweep_gap_alarms(connection, since + timedelta(seconds=90), wait) == (0, 0)
        (alarm,) = list_alarms(connection, kind=SEQ_GAP)
    assert (alarm.station, alarm.key) == (STATION, "3")
    assert "seq 3..3 missing" in alarm.message
    assert alarm.details is not None
    assert alarm.details["gaps"] == [[3, 3]]
    send(engine, [3])
    with engine.begin() as connection:
        assert sweep_gap_alarms(connection, since + timedelta(seconds=120), wait) == (0, 1)
        assert list_alarms(connection, kind=SEQ_GAP) == []
        assert len(list_alarms(connection, kind=SEQ_GAP, open_only=False)) == 1


def test_when_a_gap_fills_but_a_later_one_stays_the_alarm_moves_on(engine: Engine) -> None:
    send(engine, [1, 3, 5])
    wait = timedelta(seconds=60)
    later = datetime.now(UTC) + timedelta(minutes=5)
    with engine.begin() as connection:
        sweep_gap_alarms(connection, later, wait)
        assert [a.key for a in list_alarms(connection, kind=SEQ_GAP)] == ["2"]
    send(engine, [2])
    with engine.begin() as connection:
        assert sweep_gap_alarms(connection, later + timedelta(minutes=5), wait) == (1, 1)
        assert [a.key for a in list_alarms(connection, kind=SEQ_GAP)] == ["4"]


@pytest.mark.postgres
def test_two_writers_interleaving_one_station_leave_a_correct_watermark(
    postgres_url: str,
) -> None:
    """Two central instances commit alternate seqs of one station at the same time."""
    register(postgres_url, STATION)
    engine = open_engine(postgres_url)
    try:
        _interleave(engine)
    finally:
        engine.dispose()


def _interleave(engine: Engine) -> None:
    total = 400
    odd = [seq for seq in range(1, total + 1) if seq % 2]
    even = [seq for seq in range(1, total + 1) if not seq % 2]
    errors: list[BaseException] = []

    def writer(seqs: list[int]) -> None:
        try:
            for start in range(0, len(seqs), 10):
                send(engine, seqs[start : start + 10])
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(part,)) for part in (odd, even)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    state = progress(engine)
    assert (state.watermark, state.max_seq_seen, state.behind_since) == (total, total, None)
