"""Alarms from the stations' own status messages: degraded, offline, and events lost.

An edge publishes its figures, retained, on its ``status`` topic every few seconds, with
``state`` ``degraded`` while one of its own alarms is raised (a figure named ``*_alarm``
is non-zero: ``camera_alarm`` while the camera is down or stalled, ``outbox_alarm`` while
the outbox is past its alarm level); the broker publishes its ``offline`` last will when
the connection drops. Here each status central takes in is compared with the last one
stored for the station, in the caller's transaction:

- ``station_degraded``, one alarm per raised figure (key ``camera``, ``outbox`` ...; the
  figure and its companions in the details), raised while the station reports it and
  cleared when a status no longer does (``online`` clears them all);
- ``station_offline`` when an ``offline`` status arrives (a last will or a clean stop),
  cleared by the next ``online`` or ``degraded`` one;
- ``events_lost`` (critical) when the station's ``lost`` figure went up: passages refused
  because the outbox was full. They never took a seq, so no gap shows them; this alarm
  is the only trace at central. It never clears by itself: new losses add to it while
  nobody has acknowledged it, and open a new one once somebody has.

``lost`` counts from zero again when the agent restarts. A counter that went down
(``lost``, ``stored``, ``published``, ``frames``) marks a new run, whose whole ``lost``
is new; within a run only the increase is.

Several central replicas each take every status (a plain subscription, see
:mod:`linetrace.central.ingest.statuses`). The station's row is inserted or locked
first, and a status no newer than the stored one changes nothing, so each loss is
counted once and alarms are raised once (they are unique while open). A last will
carries the time it was set (when the agent connected), not when the station went
away, so an ``offline`` status applies whatever its time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from linetrace.broker.contract.messages import ALARM_SUFFIX, StationStatus
from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.alarms import (
    clear_alarm,
    find_open_alarm,
    open_alarm_keys,
    raise_alarm,
    update_alarm,
)
from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.tables import station_status

__all__ = [
    "EVENTS_LOST",
    "STATION_DEGRADED",
    "STATION_OFFLINE",
    "LastStatus",
    "StatusOutcome",
    "apply_status",
    "last_statuses",
]

log = logging.getLogger(__name__)

STATION_DEGRADED = "station_degraded"
STATION_OFFLINE = "station_offline"
EVENTS_LOST = "events_lost"
# Counters an agent starts from zero: one that went down means the agent restarted.
RESTART_COUNTERS = ("lost", "stored", "published", "frames")
# The degraded alarm's key when the state says degraded but no ``*_alarm`` figure does.
_UNNAMED = "degraded"
_OFFLINE_KEY = "status"
_LOST_KEY = "outbox"


@dataclass(frozen=True, slots=True)
class LastStatus:
    """The latest status stored for a station."""

    station: StationId
    state: str
    at: datetime  # the station's time of its latest status
    received_at: datetime
    metrics: dict[str, float]  # the last figures it reported


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    """What one status changed: nothing when it was a late copy, and the events it lost."""

    applied: bool
    lost: int = 0


def apply_status(
    conn: Connection, station: StationId, status: StationStatus, received_at: datetime
) -> StatusOutcome:
    """Store ``status`` as the station's latest and raise or clear its alarms."""
    previous = _store(conn, station, status, received_at)
    if previous is not None and not _newer(status, previous):
        return StatusOutcome(applied=False)
    name = str(station)
    if status.state == "offline":
        raise_alarm(
            conn,
            station=name,
            kind=STATION_OFFLINE,
            key=_OFFLINE_KEY,
            message=_offline_message(name, status),
            details={"at": status.at.isoformat(), "last_will": not status.metrics},
        )
    else:
        clear_alarm(conn, station=name, kind=STATION_OFFLINE, key=_OFFLINE_KEY)
        _degraded_alarms(conn, name, status)
    lost = _new_losses(status, previous)
    if lost:
        _events_lost(conn, name, status, lost)
    return StatusOutcome(applied=True, lost=lost)


def last_statuses(conn: Connection) -> dict[StationId, LastStatus]:
    """The latest status of every station that sent one."""
    return {status.station: status for status in map(_last, conn.execute(_select()).mappings())}


# -- the stored status -------------------------------------------------------------------


def _store(
    conn: Connection, station: StationId, status: StationStatus, received_at: datetime
) -> LastStatus | None:
    """Write ``status`` as the station's latest; return the one it follows (None: first).

    The row is inserted, or else locked before it is read, so that two replicas taking
    the same status one after the other see each other's write.
    """
    key = {"site": station.site, "line": station.line, "station": station.station}
    inserted = conn.execute(
        dialect_insert(conn, station_status)
        .values(
            **key,
            state=status.state,
            at=status.at,
            received_at=received_at,
            metrics=dict(status.metrics),
        )
        .on_conflict_do_nothing(index_elements=list(key))
        .returning(station_status.c.state)
    ).first()
    if inserted is not None:
        return None
    row = conn.execute(_select(station).with_for_update()).mappings().one()
    previous = _last(row)
    if _newer(status, previous):
        conn.execute(
            station_status.update()
            .where(*(station_status.c[column] == value for column, value in key.items()))
            .values(
                state=status.state,
                at=max(previous.at, status.at),
                received_at=received_at,
                # A last will carries no figures: the last ones reported stay.
                metrics=dict(status.metrics) if status.metrics else previous.metrics,
            )
        )
    return previous


def _newer(status: StationStatus, previous: LastStatus) -> bool:
    """Whether ``status`` follows the stored one (a late or repeated copy does not)."""
    if status.state == "offline":
        return previous.state != "offline" or status.at > previous.at
    return status.at > previous.at


def _select(station: StationId | None = None) -> sa.Select[Any]:
    statement = sa.select(station_status)
    if station is not None:
        statement = statement.where(
            station_status.c.site == station.site,
            station_status.c.line == station.line,
            station_status.c.station == station.station,
        )
    return statement


def _last(row: RowMapping) -> LastStatus:
    return LastStatus(
        station=StationId(row["site"], row["line"], row["station"]),
        state=row["state"],
        at=row["at"],
        received_at=row["received_at"],
        metrics={str(name): float(value) for name, value in (row["metrics"] or {}).items()},
    )


# -- the alarms ----------------------------------------------------------------------------


def _degraded_alarms(conn: Connection, name: str, status: StationStatus) -> None:
    """Raise one alarm per raised ``*_alarm`` figure, clear those no longer raised."""
    raised: dict[str, float] = {}
    if status.state == "degraded":
        raised = {
            figure.removesuffix(ALARM_SUFFIX): value
            for figure, value in status.metrics.items()
            if figure.endswith(ALARM_SUFFIX) and value
        } or {_UNNAMED: 1.0}
    already_open = {
        key for station, key in open_alarm_keys(conn, STATION_DEGRADED) if station == name
    }
    for key in sorted(set(raised) - already_open):
        details = {"alarm": key, "figure": raised[key], **_companions(status.metrics, key)}
        raise_alarm(
            conn,
            station=name,
            kind=STATION_DEGRADED,
            key=key,
            message=_degraded_message(name, key, details),
            details=details,
        )
        log.warning("station %s degraded: %s alarm raised", name, key)
    for key in sorted(already_open - set(raised)):
        clear_alarm(conn, station=name, kind=STATION_DEGRADED, key=key)
        log.info("station %s: %s alarm cleared", name, key)


def _companions(metrics: dict[str, float], key: str) -> dict[str, float]:
    """The figures that explain an alarm: those sharing its prefix (``outbox_fill`` ...)."""
    prefix = key + "_"
    return {
        figure: value
        for figure, value in sorted(metrics.items())
        if figure.startswith(prefix) and figure != key + ALARM_SUFFIX
    }


def _new_losses(status: StationStatus, previous: LastStatus | None) -> int:
    """Events the station lost since the status before (its whole ``lost`` after a restart)."""
    now = status.metrics.get("lost")
    if now is None:
        return 0
    before = previous.metrics if previous is not None else {}
    restarted = any(
        name in status.metrics and name in before and status.metrics[name] < before[name]
        for name in RESTART_COUNTERS
    )
    baseline = 0.0 if restarted else before.get("lost", 0.0)
    return max(0, int(now - baseline))


def _events_lost(conn: Connection, name: str, status: StationStatus, lost: int) -> None:
    """Add ``lost`` to the station's unacknowledged alarm, or open a new one."""
    alarm = find_open_alarm(conn, station=name, kind=EVENTS_LOST, key=_LOST_KEY)
    figures = {
        figure: status.metrics[figure]
        for figure in ("lost", "outbox_depth", "outbox_fill")
        if figure in status.metrics
    }
    if alarm is not None and alarm.acknowledged_at is None:
        earlier = alarm.details or {}
        details = {
            **earlier,
            "lost": int(earlier.get("lost", 0)) + lost,
            "last_at": status.at.isoformat(),
            "figures": figures,
        }
        update_alarm(conn, alarm.id, message=_lost_message(name, details), details=details)
    else:
        if alarm is not None:  # seen by somebody: a new loss is a new alarm
            clear_alarm(conn, station=name, kind=EVENTS_LOST, key=_LOST_KEY)
        details = {
            "lost": lost,
            "first_at": status.at.isoformat(),
            "last_at": status.at.isoformat(),
            "figures": figures,
        }
        raise_alarm(
            conn,
            station=name,
            kind=EVENTS_LOST,
            key=_LOST_KEY,
            severity="critical",
            message=_lost_message(name, details),
            details=details,
        )
    log.warning("station %s lost %s events to a full outbox", name, lost)


def _offline_message(name: str, status: StationStatus) -> str:
    if status.metrics:
        return f"station {name} is offline: its agent stopped"
    return (
        f"station {name} is offline: its connection to the broker dropped (the broker "
        "published its last will)"
    )


def _degraded_message(name: str, key: str, details: dict[str, Any]) -> str:
    if key == _UNNAMED:
        return f"station {name} reports itself degraded"
    figures = ", ".join(
        f"{figure} {value:g}"
        for figure, value in details.items()
        if figure not in ("alarm", "figure")
    )
    return f"station {name} degraded: its {key} alarm is raised" + (
        f" ({figures})" if figures else ""
    )


def _lost_message(name: str, details: dict[str, Any]) -> str:
    return (
        f"station {name}: {details['lost']} events lost, refused because its outbox was full "
        f"(between {details['first_at']} and {details['last_at']}, station time). They took "
        "no seq, so no gap shows them: bring central and the broker back within the outbox's "
        "capacity, or give the outbox more room"
    )
