"""Alarms: conditions an operator must see, raised once while open and cleared when resolved.

An alarm is identified, while it is open, by ``(station, kind, key)``: raising it again
returns the open one instead of adding a row, so a condition that persists (a gap that
stays open, an edge resending a conflicting event) makes one alarm, not a flood. Clearing
it closes the row; the same condition later raises a new alarm, and the history stays.

The functions take a connection and run in the caller's transaction, so an alarm is
committed together with the data that caused it, or not at all. Uniqueness while open is
enforced by the database (a unique ``open_key``), which also holds when several central
instances raise the same alarm at once.

A condition that grows while its alarm is open (more reused seqs, more dead letters)
updates the open alarm's message and details in place (:func:`update_alarm`), so the
operator sees one alarm with current counts.

Kinds raised by the ingest: ``event_conflict`` (an event_id arrived again with different
content), ``seq_gap`` (a station's seq has a gap that stayed open too long),
``seq_reused`` (a station sent a new event under a seq already stored), ``dead_letters``
(refused messages arriving in a burst); from the stations' status messages
(:mod:`.station_status`): ``station_degraded`` (one per raised ``*_alarm`` figure, e.g.
key ``camera`` or ``outbox``), ``station_offline`` (the last will, or a clean stop) and
``events_lost`` (passages refused at a full outbox, which took no seq). Other parts of
central raise their own kinds through the same functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.tables import alarms
from linetrace.errors import NotFound

__all__ = [
    "SEVERITIES",
    "Alarm",
    "AlarmNotFound",
    "acknowledge_alarm",
    "clear_alarm",
    "find_open_alarm",
    "list_alarms",
    "open_alarm_keys",
    "open_alarms",
    "raise_alarm",
    "update_alarm",
]

SEVERITIES = ("info", "warning", "critical")
# The column limits; longer inputs are cut rather than refused, because an alarm that
# fails to be raised is worse than one with a shortened key.
_KEY_LIMIT = 200
_KIND_LIMIT = 64
_MESSAGE_LIMIT = 2000
_COMMENT_LIMIT = 2000


class AlarmNotFound(NotFound):
    """No alarm has this id."""


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm as stored."""

    id: int
    raised_at: datetime
    station: str | None
    kind: str
    key: str
    severity: str
    message: str
    details: dict[str, Any] | None
    cleared_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledged_comment: str | None = None

    @property
    def open(self) -> bool:
        return self.cleared_at is None


def raise_alarm(
    conn: Connection,
    *,
    station: str | None,
    kind: str,
    key: str,
    message: str,
    severity: str = "warning",
    details: Mapping[str, Any] | None = None,
) -> int:
    """Raise the alarm ``(station, kind, key)`` unless it is open already; return its id."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    kind, key = kind[:_KIND_LIMIT], key[:_KEY_LIMIT]
    open_key = _open_key(station, kind, key)
    statement = (
        dialect_insert(conn, alarms)
        .values(
            raised_at=datetime.now(UTC),
            station=station,
            kind=kind,
            key=key,
            severity=severity,
            message=message[:_MESSAGE_LIMIT],
            details=dict(details) if details is not None else None,
            open_key=open_key,
        )
        .on_conflict_do_nothing(index_elements=["open_key"])
        .returning(alarms.c.id)
    )
    new_id = conn.execute(statement).scalar_one_or_none()
    if new_id is not None:
        return int(new_id)
    existing = conn.execute(sa.select(alarms.c.id).where(alarms.c.open_key == open_key))
    return int(existing.scalar_one())


def clear_alarm(conn: Connection, *, station: str | None, kind: str, key: str) -> bool:
    """Clear the open alarm ``(station, kind, key)``; False when none was open."""
    open_key = _open_key(station, kind[:_KIND_LIMIT], key[:_KEY_LIMIT])
    result = conn.execute(
        alarms.update()
        .where(alarms.c.open_key == open_key)
        .values(cleared_at=datetime.now(UTC), open_key=None)
    )
    return result.rowcount > 0


def find_open_alarm(conn: Connection, *, station: str | None, kind: str, key: str) -> Alarm | None:
    """The open alarm ``(station, kind, key)``, or None."""
    open_key = _open_key(station, kind[:_KIND_LIMIT], key[:_KEY_LIMIT])
    row = conn.execute(sa.select(alarms).where(alarms.c.open_key == open_key)).mappings().first()
    return None if row is None else _alarm(row)


def update_alarm(
    conn: Connection, alarm_id: int, *, message: str, details: Mapping[str, Any] | None
) -> bool:
    """Replace an open alarm's message and details; False when it is cleared (or unknown).

    Its id, ``raised_at`` and acknowledgement stay: the alarm is the same condition, now
    with current figures.
    """
    result = conn.execute(
        alarms.update()
        .where(alarms.c.id == alarm_id, alarms.c.cleared_at.is_(None))
        .values(
            message=message[:_MESSAGE_LIMIT],
            details=dict(details) if details is not None else None,
        )
    )
    return result.rowcount > 0


def acknowledge_alarm(
    conn: Connection, alarm_id: int, by: str, comment: str | None = None
) -> Alarm:
    """Note that ``by`` has seen the alarm, with what they wrote (it stays open until its
    cause is resolved). The first acknowledgement stands: a second one changes nothing."""
    conn.execute(
        alarms.update()
        .where(alarms.c.id == alarm_id, alarms.c.acknowledged_at.is_(None))
        .values(
            acknowledged_by=by[:128],
            acknowledged_at=datetime.now(UTC),
            acknowledged_comment=comment[:_COMMENT_LIMIT] if comment else None,
        )
    )
    row = conn.execute(sa.select(alarms).where(alarms.c.id == alarm_id)).mappings().first()
    if row is None:
        raise AlarmNotFound(f"no alarm has id {alarm_id}")
    return _alarm(row)


def list_alarms(
    conn: Connection,
    *,
    open_only: bool = True,
    station: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    station_prefixes: Sequence[str] | None = None,
) -> list[Alarm]:
    """Alarms, newest first. ``station_prefixes`` (``"hcm1/"``, ``"hcm1/L1/"``): only the
    alarms of those stations, and the plant-wide ones (no station); None: all."""
    statement = sa.select(alarms).order_by(alarms.c.raised_at.desc(), alarms.c.id.desc())
    if station_prefixes is not None:
        statement = statement.where(
            sa.or_(
                alarms.c.station.is_(None),
                *(alarms.c.station.startswith(p, autoescape=True) for p in station_prefixes),
            )
        )
    if open_only:
        statement = statement.where(alarms.c.cleared_at.is_(None))
    if station is not None:
        statement = statement.where(alarms.c.station == station)
    if kind is not None:
        statement = statement.where(alarms.c.kind == kind)
    rows = conn.execute(statement.limit(limit)).mappings().all()
    return [_alarm(row) for row in rows]


def open_alarm_keys(conn: Connection, kind: str) -> list[tuple[str | None, str]]:
    """``(station, key)`` of every open alarm of ``kind``."""
    rows = conn.execute(
        sa.select(alarms.c.station, alarms.c.key).where(
            alarms.c.kind == kind, alarms.c.cleared_at.is_(None)
        )
    )
    return [(row.station, row.key) for row in rows]


def open_alarms(conn: Connection, kind: str, *, lock: bool = False) -> list[Alarm]:
    """Every open alarm of ``kind``, oldest first; ``lock`` holds them until the commit.

    A sweep that decides from an alarm's details whether to clear it locks them first, so
    an ingest transaction updating one meanwhile makes the sweep wait and see the update.
    """
    statement = (
        sa.select(alarms)
        .where(alarms.c.kind == kind, alarms.c.cleared_at.is_(None))
        .order_by(alarms.c.id)
    )
    if lock:
        statement = statement.with_for_update()
    return [_alarm(row) for row in conn.execute(statement).mappings()]


def _open_key(station: str | None, kind: str, key: str) -> str:
    # A station id holds no '|' (topic-safe characters only), so the parts cannot blur.
    return f"{station or ''}|{kind}|{key}"


def _alarm(row: RowMapping) -> Alarm:
    return Alarm(
        id=int(row["id"]),
        raised_at=row["raised_at"],
        station=row["station"],
        kind=row["kind"],
        key=row["key"],
        severity=row["severity"],
        message=row["message"],
        details=row["details"],
        cleared_at=row["cleared_at"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_comment=row["acknowledged_comment"],
    )
