"""Each station's reads and no-reads per UTC minute, kept as the events are stored.

The dashboard shows every station's last hour and each line's per-minute trend; counting
them from the events costs an hour of events per refresh (3.6 M at 50 stations x 20
events/s, about a second on PostgreSQL). :func:`count_minutes` adds a batch's events to
``station_minutes`` in the transaction that stores them, so the dashboard reads at most
60 rows per station instead.

A late event (an edge's outbox emptied after an outage) is counted in the minute it was
observed, like the direct count would. Several central replicas increment the same rows:
each batch upserts its keys in one sorted order, so two writers lock rows in the same
order and never wait on each other in a cycle; SQLite has one writer at a time anyway.

The rows are derived data: :func:`rebuild_minutes` (``linetrace central dashboard-counts
rebuild``) recounts recent minutes from the events, for example after a derivation
failed and its savepoint was rolled back. :func:`prune_minutes` drops minutes no page
shows any longer (run by the alarm sweeper's thread).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.tables import events, station_minutes

__all__ = ["KEEP", "count_minutes", "minute_of", "prune_minutes", "rebuild_minutes"]

# The dashboard shows one hour; two days leave room for a look back and cost at most
# 144,000 rows at 50 stations (one row per station and minute with events).
KEEP = timedelta(hours=48)

_Key = tuple[str, str, str, datetime]  # site, line, station, minute
_COUNTED = ("read", "noread")


def minute_of(at: datetime) -> datetime:
    """The UTC start of the minute of ``at`` (an aware time)."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def count_minutes(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add newly stored events (``events`` rows, resends excluded) to their minutes.

    Only reads and no-reads count; one upsert statement for the whole batch.
    """
    counts: dict[_Key, list[int]] = {}
    for row in rows:
        kind = row["kind"]
        if kind not in _COUNTED:
            continue
        key = (row["site"], row["line"], row["station"], minute_of(row["observed_at"]))
        counted = counts.setdefault(key, [0, 0])
        counted[0 if kind == "read" else 1] += 1
    if not counts:
        return
    table = station_minutes
    insert = dialect_insert(connection, table)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["site", "line", "station", "minute"],
            set_={
                "reads": table.c.reads + insert.excluded.reads,
                "noreads": table.c.noreads + insert.excluded.noreads,
            },
        ),
        [
            {"site": site, "line": line, "station": station, "minute": minute,
             "reads": reads, "noreads": noreads}
            for (site, line, station, minute), (reads, noreads) in sorted(counts.items())
        ],
    )  # fmt: skip


def rebuild_minutes(connection: Connection, since: datetime) -> int:
    """Recount every station's minutes from the one of ``since`` on, from the events.

    Returns the rows written. On PostgreSQL the table is locked against writes until the
    transaction ends: the ingest's increments wait, then add their events to the recount
    (an ingest that had already counted commits first, and its events are recounted).
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(f"LOCK TABLE {station_minutes.name} IN EXCLUSIVE MODE"))
    start = minute_of(since)
    connection.execute(station_minutes.delete().where(station_minutes.c.minute >= start))
    e = events.c
    minute = _minute_expression(connection, e.observed_at)
    count_kind = [sa.func.sum(sa.case((e.kind == kind, 1), else_=0)) for kind in _COUNTED]
    connection.execute(
        station_minutes.insert().from_select(
            ["site", "line", "station", "minute", "reads", "noreads"],
            sa.select(e.site, e.line, e.station, minute, *count_kind)
            .where(e.observed_at >= start, e.kind.in_(_COUNTED))
            .group_by(e.site, e.line, e.station, minute),
        )
    )
    written = sa.select(sa.func.count()).where(station_minutes.c.minute >= start)
    return int(connection.execute(written).scalar_one())


def prune_minutes(connection: Connection, now: datetime, keep: timedelta = KEEP) -> int:
    """Delete the minutes older than ``keep`` before ``now`` (a range of the minute index)."""
    result = connection.execute(
        station_minutes.delete().where(station_minutes.c.minute < minute_of(now - keep))
    )
    return max(result.rowcount, 0)


def _minute_expression(connection: Connection, column: Any) -> Any:
    """``column`` cut to its UTC minute, as ``station_minutes.minute`` stores it.

    SQLite keeps UTC as naive text 'YYYY-MM-DD HH:MM:SS.ffffff': the minute is the same
    text with zero seconds, so it equals what :func:`count_minutes` binds for it.
    """
    if connection.dialect.name == "postgresql":
        return sa.func.date_trunc("minute", column)
    return sa.func.strftime("%Y-%m-%d %H:%M:00.000000", column)
