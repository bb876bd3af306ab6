"""Rows shared by the code and the lot trace: event columns, failed checks, stays, stations."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from linetrace.central.derive.containers import Stay
from linetrace.central.query.trace_limits import MAX_LISTED
from linetrace.central.query.trace_models import Mismatch, MismatchCount, Sighting, StayOut
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import event_checks

__all__ = [
    "EVENT_COLUMNS",
    "mismatch_counts",
    "mismatches",
    "sighting",
    "station_of",
    "stay_model",
    "stay_out",
]

EVENT_COLUMNS = [
    events.c.event_id,
    events.c.site,
    events.c.line,
    events.c.station,
    events.c.kind,
    events.c.observed_at,
    events.c.utc_offset_s,
    events.c.text,
    events.c.lot,
]
_CHECK_GROUP = [
    event_checks.c.site,
    event_checks.c.line,
    event_checks.c.station,
    event_checks.c.source,
    event_checks.c.check,
]


def sighting(row: RowMapping, role: str) -> Sighting:
    offset = timezone(timedelta(seconds=row["utc_offset_s"]))
    return Sighting(
        event_id=row["event_id"],
        station=station_of(row),
        kind=row["kind"],
        role=role,
        observed_at=row["observed_at"].astimezone(offset),
        text=row["text"],
    )


def stay_out(row: RowMapping) -> StayOut:
    return StayOut(
        parent=row["parent_code"],
        child=row["child_code"],
        packed_at=row["packed_at"],
        unpacked_at=row["unpacked_at"],
        station=station_of(row),
    )


def stay_model(stay: Stay) -> StayOut:
    return StayOut(
        parent=stay.parent,
        child=stay.child,
        packed_at=stay.packed_at,
        unpacked_at=stay.unpacked_at,
        station=stay.station,
    )


def station_of(row: Any) -> str:
    return f"{row['site']}/{row['line']}/{row['station']}"


def mismatch_counts(connection: Connection, where: sa.ColumnElement[bool]) -> list[MismatchCount]:
    statement = (
        sa.select(
            event_checks.c.site,
            event_checks.c.line,
            event_checks.c.station,
            event_checks.c.source,
            event_checks.c.check,
            sa.func.count(),
        )
        .where(where)
        .group_by(*_CHECK_GROUP)
        .order_by(*_CHECK_GROUP)
    )
    return [
        MismatchCount(station=f"{site}/{line}/{station}", source=source, check=check, events=n)
        for site, line, station, source, check, n in connection.execute(statement)
    ]


def mismatches(
    connection: Connection, where: sa.ColumnElement[bool], limit: int = MAX_LISTED
) -> list[Mismatch]:
    statement = (
        sa.select(event_checks)
        .where(where)
        .order_by(event_checks.c.observed_at, event_checks.c.id)
        .limit(limit)
    )
    return [
        Mismatch(
            event_id=row["event_id"],
            station=station_of(row),
            observed_at=row["observed_at"],
            source=row["source"],
            check=row["check"],
            detail=row["detail"],
            batch_id=row["batch_id"],
            code=row["code"],
        )
        for row in connection.execute(statement).mappings()
    ]
