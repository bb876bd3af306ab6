"""The operators' dashboard figures: every station's state and read rates, per line.

In: a connection, the time to count back from, and a scope clause (the principal's).
Out: :class:`Dashboard`, stations grouped by site and line, with the line's open batch
and a per-minute read-rate trend over the last hour.

The hour's reads and no-reads and the trend come from ``station_minutes``, the counts per
station and UTC minute the ingest keeps (:mod:`linetrace.central.derive.station_minutes`):
"the last hour" is the current minute and the 59 before it, at most 60 rows per station
whatever the event rate. The last minute's figures count the events of the 60 s before
``now`` directly, and the mismatches the check outcomes of the last hour: each one
grouped query over an indexed time range, so its cost follows that window's rows, never
the table's size. The state comes from the retained status the station publishes every
few seconds and the last will the broker publishes for it (``station_status``); a status
older than :data:`STALE_AFTER` means the station (or its broker connection) went quiet
without a last will, and shows as offline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.query.dashboard_models import (
    Dashboard,
    LineBatch,
    LineFigures,
    SiteFigures,
    StationFigures,
    TrendPoint,
)
from linetrace.central.store.tables import (
    alarms,
    events,
    station_minutes,
    station_status,
    stations,
)
from linetrace.central.store.trace_tables import batches, event_checks

__all__ = ["HOUR", "MINUTE", "STALE_AFTER", "Dashboard", "dashboard", "hour_start", "read_rate"]

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# An edge refreshes its retained status every 5 s: six missed refreshes are not a hiccup
# of a loaded central but a station (or its link) that went away without a last will.
STALE_AFTER = timedelta(seconds=30)

Key = tuple[str, str, str]


def hour_start(now: datetime) -> datetime:
    """The first minute of the hour shown at ``now``: the current minute and the 59 before."""
    return (now - (HOUR - MINUTE)).astimezone(UTC).replace(second=0, microsecond=0)


def read_rate(reads: int, noreads: int) -> float | None:
    """reads / (reads + noreads); None when nothing passed."""
    total = reads + noreads
    return reads / total if total else None


def dashboard(
    conn: Connection,
    now: datetime,
    scope: Any = None,
) -> Dashboard:
    """Every station in scope, its figures, and its line's batch and trend, at ``now``.

    ``scope`` is a function ``(site_column, line_column) -> clause`` (the principal's
    ``where``); None sees everything.
    """
    where = scope or (lambda _site, _line: sa.true())
    figures = {key: _blank(key) for key in _station_keys(conn, where)}
    minutes = _hour_minutes(conn, where, now)
    _apply_statuses(conn, where, figures, now)
    _apply_counts(conn, where, figures, now, minutes)
    _apply_mismatches(conn, where, figures, now)
    _apply_last_events(conn, figures)
    _apply_alarms(conn, figures)
    trends = _trends(minutes)
    open_batches = _open_batches(conn, where)
    return _group(figures, trends, open_batches, now)


# -- which stations -------------------------------------------------------------------


def _station_keys(conn: Connection, where: Any) -> list[Key]:
    registered = sa.select(stations.c.site, stations.c.line, stations.c.station).where(
        where(stations.c.site, stations.c.line)
    )
    reporting = sa.select(
        station_status.c.site, station_status.c.line, station_status.c.station
    ).where(where(station_status.c.site, station_status.c.line))
    rows = conn.execute(sa.union(registered, reporting)).all()
    return sorted((str(site), str(line), str(station)) for site, line, station in rows)


def _blank(key: Key) -> StationFigures:
    site, line, station = key
    return StationFigures(site=site, line=line, station=station)


# -- the state and the edge's own figures ---------------------------------------------


def _apply_statuses(
    conn: Connection, where: Any, figures: dict[Key, StationFigures], now: datetime
) -> None:
    c = station_status.c
    rows = conn.execute(
        sa.select(c.site, c.line, c.station, c.state, c.received_at, c.metrics).where(
            where(c.site, c.line)
        )
    ).mappings()
    for row in rows:
        key = (row["site"], row["line"], row["station"])
        station = figures.get(key)
        if station is None:
            continue
        metrics = row["metrics"] or {}
        stale = now - row["received_at"] > STALE_AFTER
        station.state = "offline" if stale else row["state"]
        station.stale = stale and row["state"] != "offline"
        station.status_at = row["received_at"]
        station.fps = _figure(metrics, "fps_captured")
        station.outbox_depth = _figure(metrics, "outbox_depth")


def _figure(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if isinstance(value, int | float) else None


# -- counts over events ---------------------------------------------------------------


def _apply_counts(
    conn: Connection,
    where: Any,
    figures: dict[Key, StationFigures],
    now: datetime,
    minutes: list[_Minute],
) -> None:
    """Reads and no-reads over the last minute (events) and hour (the minutes' counts)."""
    e = events.c
    last_minute = conn.execute(
        sa.select(e.site, e.line, e.station, e.kind, sa.func.count())
        .where(e.observed_at >= now - MINUTE, e.observed_at <= now, where(e.site, e.line))
        .where(e.kind.in_(("read", "noread")))
        .group_by(e.site, e.line, e.station, e.kind)
    ).all()
    for site, line, station_name, kind, count in last_minute:
        station = figures.get((site, line, station_name))
        if station is None:
            continue
        if kind == "read":
            station.reads_minute = int(count)
        else:
            station.noreads_minute = int(count)
    for site, line, station_name, _, reads, noreads in minutes:
        station = figures.get((site, line, station_name))
        if station is not None:
            station.reads_hour += reads
            station.noreads_hour += noreads
    for station in figures.values():
        station.read_rate_minute = read_rate(station.reads_minute, station.noreads_minute)
        station.read_rate_hour = read_rate(station.reads_hour, station.noreads_hour)


_Minute = tuple[str, str, str, datetime, int, int]  # site, line, station, minute, counts


def _hour_minutes(conn: Connection, where: Any, now: datetime) -> list[_Minute]:
    """The minutes shown at ``now`` (a range of the minute index), every station's: read
    once for both the stations' hour and the lines' trends."""
    m = station_minutes.c
    rows = conn.execute(
        sa.select(m.site, m.line, m.station, m.minute, m.reads, m.noreads).where(
            m.minute >= hour_start(now), m.minute <= now, where(m.site, m.line)
        )
    )
    return [
        (site, line, station, _aware(minute), int(reads), int(noreads))
        for site, line, station, minute, reads, noreads in rows
    ]


def _apply_mismatches(
    conn: Connection, where: Any, figures: dict[Key, StationFigures], now: datetime
) -> None:
    """Events with a failed check in the last hour (edge's or central's), per station."""
    c = event_checks.c
    rows = conn.execute(
        sa.select(c.site, c.line, c.station, sa.func.count(sa.distinct(c.event_id)))
        .where(c.observed_at >= now - HOUR, c.observed_at <= now, where(c.site, c.line))
        .group_by(c.site, c.line, c.station)
    ).all()
    for site, line, station_name, count in rows:
        station = figures.get((site, line, station_name))
        if station is not None:
            station.mismatches_hour = int(count)


def _apply_last_events(conn: Connection, figures: dict[Key, StationFigures]) -> None:
    """Each station's newest event: one index lookup per station, not a scan."""
    if not figures:
        return
    s = sa.union(
        sa.select(stations.c.site, stations.c.line, stations.c.station),
        sa.select(station_status.c.site, station_status.c.line, station_status.c.station),
    ).subquery("s")
    e = events.c
    wanted = sa.tuple_(s.c.site, s.c.line, s.c.station).in_(list(figures))
    newest = (
        sa.select(sa.func.max(e.observed_at))
        .where(e.site == s.c.site, e.line == s.c.line, e.station == s.c.station)
        .scalar_subquery()
    )
    for site, line, station_name, at in conn.execute(
        sa.select(s.c.site, s.c.line, s.c.station, newest).where(wanted)
    ):
        station = figures.get((site, line, station_name))
        if station is not None and at is not None:
            station.last_event_at = _aware(at)


def _apply_alarms(conn: Connection, figures: dict[Key, StationFigures]) -> None:
    rows = conn.execute(
        sa.select(alarms.c.station, sa.func.count())
        .where(alarms.c.cleared_at.is_(None), alarms.c.station.is_not(None))
        .group_by(alarms.c.station)
    ).all()
    for name, count in rows:
        parts = tuple(str(name).split("/"))
        if len(parts) == 3 and parts in figures:
            figures[parts].open_alarms = int(count)


# -- per line: the trend and the batch ------------------------------------------------


def _trends(minutes: list[_Minute]) -> dict[tuple[str, str], list[TrendPoint]]:
    """Each line's reads and no-reads per minute of the hour, its stations' summed."""
    counts: dict[tuple[str, str], dict[datetime, tuple[int, int]]] = defaultdict(dict)
    for site, line, _, at, reads, noreads in minutes:
        before = counts[(site, line)].get(at, (0, 0))
        counts[(site, line)][at] = (before[0] + reads, before[1] + noreads)
    return {
        line: [
            TrendPoint(at=at, reads=reads, noreads=noreads, read_rate=read_rate(reads, noreads))
            for at, (reads, noreads) in sorted(minutes.items())
        ]
        for line, minutes in counts.items()
    }


def _aware(value: Any) -> datetime:
    """A time from a grouped expression: PostgreSQL's is aware, SQLite's is UTC text."""
    when: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _open_batches(conn: Connection, where: Any) -> dict[tuple[str, str], LineBatch]:
    b = batches.c
    rows = conn.execute(
        sa.select(b.id, b.site, b.line, b.gtin, b.lot, b.started_at, b.target_quantity).where(
            b.closed_at.is_(None), where(b.site, b.line)
        )
    ).mappings()
    return {
        (row["site"], row["line"]): LineBatch(
            id=row["id"],
            gtin=row["gtin"],
            lot=row["lot"],
            started_at=_aware(row["started_at"]),
            target_quantity=row["target_quantity"],
        )
        for row in rows
    }


def _group(
    figures: dict[Key, StationFigures],
    trends: dict[tuple[str, str], list[TrendPoint]],
    open_batches: dict[tuple[str, str], LineBatch],
    now: datetime,
) -> Dashboard:
    lines: dict[str, dict[str, list[StationFigures]]] = defaultdict(lambda: defaultdict(list))
    for (site, line, _), station in sorted(figures.items()):
        lines[site][line].append(station)
    for site, line in open_batches:
        lines[site].setdefault(line, [])
    return Dashboard(
        at=now,
        sites=[
            SiteFigures(
                site=site,
                lines=[
                    LineFigures(
                        site=site,
                        line=line,
                        stations=members,
                        batch=open_batches.get((site, line)),
                        trend=trends.get((site, line), []),
                        **_line_totals(members),
                    )
                    for line, members in sorted(by_line.items())
                ],
            )
            for site, by_line in sorted(lines.items())
        ],
    )


def _line_totals(members: Iterable[StationFigures]) -> dict[str, Any]:
    stations_list = list(members)
    reads = sum(s.reads_hour for s in stations_list)
    noreads = sum(s.noreads_hour for s in stations_list)
    reads_minute = sum(s.reads_minute for s in stations_list)
    noreads_minute = sum(s.noreads_minute for s in stations_list)
    return {
        "read_rate_minute": read_rate(reads_minute, noreads_minute),
        "read_rate_hour": read_rate(reads, noreads),
        "open_alarms": sum(s.open_alarms for s in stations_list),
    }
