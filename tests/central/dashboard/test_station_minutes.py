"""The dashboard's per-station minute counts, on SQLite and PostgreSQL.

The ingest keeps ``station_minutes`` in the transaction that stores the events, and the
dashboard reads its hour and trend from there: the figures must stay exactly what a
direct count over the events gives, for late events and at the window's edges too.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from linetrace.broker.contract.messages import ScanEvent
from linetrace.central.config import IngestSettings
from linetrace.central.derive.alarm_sweeper import AlarmSweeper
from linetrace.central.derive.station_minutes import (
    KEEP,
    minute_of,
    prune_minutes,
    rebuild_minutes,
)
from linetrace.central.ingest.write_batch import BatchResult
from linetrace.central.query.dashboard import MINUTE, dashboard
from linetrace.central.store.tables import events, station_minutes
from tests.central.central_main import main
from tests.central.dashboard.seeding import insert, seed_plant
from tests.central.helpers import HCM, make_event
from tests.central.running import write_config
from tests.central.trace_helpers import item, pack, sscc, store

READER, OTHER_LINE = "hcm1/L1/read-1", "hcm1/L2/read-1"
Minutes = dict[tuple[str, str, str, datetime], tuple[int, int]]


def minutes(connection: Connection) -> Minutes:
    m = station_minutes.c
    rows = connection.execute(sa.select(m.site, m.line, m.station, m.minute, m.reads, m.noreads))
    return {(s, li, st, at): (r, n) for s, li, st, at, r, n in rows}


def counted(scans: list[ScanEvent]) -> Minutes:
    """What the minutes should hold for these events: reads and no-reads only."""
    found: Counter[tuple[str, str, str, datetime, str]] = Counter(
        (e.site, e.line, e.station, minute_of(e.observed_at), e.kind.value) for e in scans
    )
    keys = {key[:4] for key in found}
    return {
        key: (found[(*key, "read")], found[(*key, "noread")])
        for key in keys
        if found[(*key, "read")] or found[(*key, "noread")]
    }


def test_the_ingest_counts_each_new_event_in_its_minute_once(engine: Engine) -> None:
    at = datetime(2026, 3, 1, 8, 0, 50, tzinfo=HCM)
    first = [
        item(1, "000001", at),
        item(2, "000002", at + timedelta(seconds=5)),  # the next minute
        make_event(3, kind="noread", observed_at=at + timedelta(seconds=6)),
        item(4, "000004", at, station=READER),
        pack(1, sscc(1), [{"01": "08938500000010", "21": "000001"}], at),  # not counted
    ]
    later = [
        item(5, "000005", at + timedelta(seconds=7)),
        item(6, "000006", at - timedelta(minutes=30)),  # late: observed half an hour before
    ]
    stored: BatchResult = store(engine, *first)
    assert stored.stored == len(first)
    again = store(engine, *first, *later)  # the edge resends the first batch with the next
    assert (again.stored, again.duplicates) == (len(later), len(first))
    with engine.connect() as connection:
        assert minutes(connection) == counted(first[:4] + later)


def test_the_dashboard_equals_a_direct_count_over_events(engine: Engine, database_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=500_000)
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=59)  # 60 minutes shown
    ages = [timedelta(seconds=s) for s in (0, 1, 30, 59, 60, 61, 90, 150, 600, 1800)]
    ages += [now - start, now - start + timedelta(microseconds=1)]  # the hour's edges
    ages += [timedelta(minutes=59, seconds=59), timedelta(minutes=61), timedelta(hours=2)]
    plant = (READER, "hcm1/L1/read-2", OTHER_LINE)
    seed_plant(database_url, *plant)
    scans: list[ScanEvent] = []
    seq = 0
    for number, station in enumerate(plant):
        for index, age in enumerate(ages):
            seq += 1
            kind = "noread" if (index + number) % 3 == 0 else "read"
            scans.append(make_event(seq, station=station, kind=kind, observed_at=now - age))
        seq += 1
        scans.append(pack(seq, sscc(seq), [{"01": "08938500000010", "21": "000009"}], now,
                          station=station))  # fmt: skip
    insert(database_url, scans[: len(scans) // 2], now)
    insert(database_url, scans[len(scans) // 2 :], now)
    late = [
        make_event(seq + 1, station=READER, observed_at=now - timedelta(minutes=45)),
        make_event(seq + 2, station=READER, kind="noread", observed_at=now - timedelta(hours=3)),
    ]
    insert(database_url, late, now)  # after newer events: an outbox emptied late

    with engine.connect() as connection:
        figures = dashboard(connection, now)
        hour = _direct(connection, start, now)
        last_minute = _direct(connection, now - MINUTE, now)
        trend = _direct_trend(connection, start, now)
    shown = {
        (s.site, s.line, s.station): s
        for site in figures.sites
        for line in site.lines
        for s in line.stations
    }
    assert set(shown) == set(hour) == set(last_minute)
    for key, figure in shown.items():
        assert (figure.reads_hour, figure.noreads_hour) == hour[key], key
        assert (figure.reads_minute, figure.noreads_minute) == last_minute[key], key
    assert hour[tuple(READER.split("/"))][0] > 0
    lines = {(line.site, line.line): line for site in figures.sites for line in site.lines}
    shown_trend = {
        key: [(p.at, p.reads, p.noreads) for p in line.trend] for key, line in lines.items()
    }
    assert shown_trend == trend
    assert all(len(line.trend) <= 60 for line in lines.values())


def _direct(connection: Connection, since: datetime, now: datetime) -> dict[Any, tuple[int, int]]:
    """Reads and no-reads per station observed in [since, now], counted from the events."""
    e = events.c
    rows = connection.execute(
        sa.select(e.site, e.line, e.station, e.kind, sa.func.count())
        .where(e.observed_at >= since, e.observed_at <= now, e.kind.in_(("read", "noread")))
        .group_by(e.site, e.line, e.station, e.kind)
    ).all()
    found: dict[Any, list[int]] = {}
    for site, line, station, kind, count in rows:
        found.setdefault((site, line, station), [0, 0])[kind == "noread"] += count
    return {key: (reads, noreads) for key, (reads, noreads) in found.items()}


def _direct_trend(
    connection: Connection, since: datetime, now: datetime
) -> dict[tuple[str, str], list[tuple[datetime, int, int]]]:
    """Each line's reads and no-reads per minute, counted from the events in Python."""
    e = events.c
    rows = connection.execute(
        sa.select(e.site, e.line, e.observed_at, e.kind).where(
            e.observed_at >= since, e.observed_at <= now, e.kind.in_(("read", "noread"))
        )
    ).all()
    per_minute: Counter[tuple[str, str, datetime, str]] = Counter(
        (site, line, minute_of(at), kind) for site, line, at, kind in rows
    )
    trend: dict[tuple[str, str], list[tuple[datetime, int, int]]] = {}
    for site, line, at in sorted({key[:3] for key in per_minute}):
        reads, noreads = per_minute[site, line, at, "read"], per_minute[site, line, at, "noread"]
        trend.setdefault((site, line), []).append((at, reads, noreads))
    return trend


def test_a_rebuild_recounts_recent_minutes_from_the_events(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    scans = [
        make_event(n, station=READER, kind="noread" if n % 4 == 0 else "read",
                   observed_at=now - timedelta(minutes=n * 7))
        for n in range(1, 30)
    ]  # fmt: skip
    insert(database_url, scans, now)
    with engine.connect() as connection:
        kept = minutes(connection)
    assert kept == counted(scans)
    since = now - timedelta(hours=1)
    with engine.begin() as connection:
        connection.execute(station_minutes.update().values(reads=999))  # drifted counts
        assert rebuild_minutes(connection, since) > 0
        rebuilt = minutes(connection)
    assert {k: v for k, v in rebuilt.items() if k[3] >= minute_of(since)} == {
        k: v for k, v in kept.items() if k[3] >= minute_of(since)
    }
    assert all(v[0] == 999 for k, v in rebuilt.items() if k[3] < minute_of(since))

    with engine.begin() as connection:
        connection.execute(station_minutes.delete())
    config = write_config(tmp_path / "central.toml", database_url)
    assert main(["central", "dashboard-counts", "rebuild", "--hours", "4", "--config",
                 str(config)]) == 0  # fmt: skip
    with engine.connect() as connection:
        assert minutes(connection) == {
            k: v for k, v in kept.items() if k[3] >= minute_of(now - timedelta(hours=4))
        }


def test_pruning_deletes_only_minutes_past_their_keep(engine: Engine) -> None:
    now = datetime(2026, 3, 1, 12, 30, 40, tzinfo=UTC)
    edge = minute_of(now - KEEP)
    ages = {
        "older": edge - timedelta(hours=1),
        "just-older": edge - MINUTE,
        "edge": edge,
        "recent": minute_of(now - timedelta(hours=1)),
        "now": minute_of(now),
    }
    with engine.begin() as connection:
        connection.execute(
            station_minutes.insert(),
            [{"site": "hcm1", "line": "L1", "station": name, "minute": at, "reads": 1,
              "noreads": 0} for name, at in ages.items()],
        )  # fmt: skip
        assert prune_minutes(connection, now) == 2
        left = {key[2] for key in minutes(connection)}
    assert left == {"edge", "recent", "now"}


def test_the_alarm_sweeper_prunes_old_minutes(engine: Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            station_minutes.insert(),
            [{"site": "hcm1", "line": "L1", "station": name, "minute": minute_of(at),
              "reads": 1, "noreads": 1}
             for name, at in (("old", now - KEEP - timedelta(hours=1)), ("new", now))],
        )  # fmt: skip
    assert AlarmSweeper(engine, IngestSettings()).prune()
    with engine.connect() as connection:
        assert {key[2] for key in minutes(connection)} == {"new"}


def test_events_of_other_kinds_count_nothing(engine: Engine) -> None:
    at = datetime(2026, 3, 1, 8, 0, tzinfo=HCM)
    assert store(engine, pack(1, sscc(2), [{"01": "08938500000010", "21": "000001"}], at)).stored
    with engine.connect() as connection:
        assert minutes(connection) == {}
