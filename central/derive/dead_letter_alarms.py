"""Raising ``dead_letters`` alarms when refused messages arrive in a burst, and clearing them.

One refused message now and then (a label whose text breaks the contract, a resend
racing a disable) is kept as a dead letter and logged; a steady stream of them means a
station is sending events central cannot take: it is not registered, it is disabled, or
its edge speaks a schema version central does not know. Every event of such a station is
dead-lettered, so the operator must hear of it before a shift's records are missing.

A *source* is the topic the letters came on: a station's events topic (the alarm names
the station) or, for a topic that names no valid station, the topic itself. When a
source sends ``threshold`` or more within ``window``, an alarm keyed by its topic is
raised with the most frequent reasons; while it is open, each sweep updates its counts;
it clears once a whole window passes without a dead letter from that source. The query
reads only the window's rows through the index on ``dead_letters.received_at``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.broker.contract.topics import TopicError, parse_topic
from linetrace.central.derive.alarms import (
    Alarm,
    clear_alarm,
    open_alarms,
    raise_alarm,
    update_alarm,
)
from linetrace.central.store.tables import dead_letters

__all__ = ["DEAD_LETTERS", "sweep_dead_letter_alarms"]

log = logging.getLogger(__name__)

DEAD_LETTERS = "dead_letters"
# Reasons named in an alarm: the few that explain most letters; the rest are counted.
TOP_REASONS = 5
# A reason quoted in the message is cut to this length (details keep it whole): the
# message should fit on an operator's screen.
_REASON_IN_MESSAGE = 160
# The alarm key's column limit (alarms.key).
_KEY_LIMIT = 200


@dataclass(slots=True)
class _Burst:
    """The dead letters of one source within the window."""

    station: str | None
    topic: str
    first_at: datetime
    last_at: datetime
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.reasons.values())


def sweep_dead_letter_alarms(
    conn: Connection, now: datetime, *, threshold: int, window: timedelta
) -> tuple[int, int]:
    """Raise alarms for sources with ``threshold`` dead letters within ``window`` before
    ``now``, update the open ones, clear those quiet for the whole window.

    Returns how many alarms were raised and cleared.
    """
    bursts = _bursts(conn, now - window, now)
    already_open = {(a.station, a.key): a for a in open_alarms(conn, DEAD_LETTERS, lock=True)}
    raised = cleared = 0
    for source, burst in sorted(bursts.items(), key=lambda item: item[1].topic):
        alarm = already_open.get(source)
        if alarm is not None:
            _refresh(conn, alarm, burst, threshold, window)
        elif burst.count >= threshold:
            _raise(conn, source, burst, threshold, window)
            raised += 1
    for station, key in already_open:
        if (station, key) not in bursts:
            cleared += clear_alarm(conn, station=station, kind=DEAD_LETTERS, key=key)
    if raised or cleared:
        log.info("dead letter alarms: %s raised, %s cleared", raised, cleared)
    return raised, cleared


def _bursts(
    conn: Connection, since: datetime, until: datetime
) -> dict[tuple[str | None, str], _Burst]:
    """The window's dead letters by source, each with its count per reason."""
    rows = conn.execute(
        sa.select(
            dead_letters.c.topic,
            dead_letters.c.reason,
            sa.func.count().label("letters"),
            sa.func.min(dead_letters.c.received_at).label("first_at"),
            sa.func.max(dead_letters.c.received_at).label("last_at"),
        )
        .where(dead_letters.c.received_at > since, dead_letters.c.received_at <= until)
        .group_by(dead_letters.c.topic, dead_letters.c.reason)
    )
    bursts: dict[tuple[str | None, str], _Burst] = {}
    for row in rows:
        station = _station_of(row.topic)
        burst = bursts.setdefault(
            (station, row.topic[:_KEY_LIMIT]), _Burst(station, row.topic, row.first_at, row.last_at)
        )
        burst.reasons[row.reason] += int(row.letters)
        burst.first_at = min(burst.first_at, row.first_at)
        burst.last_at = max(burst.last_at, row.last_at)
    return bursts


def _raise(
    conn: Connection,
    source: tuple[str | None, str],
    burst: _Burst,
    threshold: int,
    window: timedelta,
) -> None:
    station, key = source
    raise_alarm(
        conn,
        station=station,
        kind=DEAD_LETTERS,
        key=key,
        message=_message(burst, window),
        details=_details(burst, threshold, window),
    )
    log.warning("%s", _message(burst, window))


def _refresh(
    conn: Connection, alarm: Alarm, burst: _Burst, threshold: int, window: timedelta
) -> None:
    """Bring an open alarm's counts up to date; no write when nothing changed."""
    details = _details(burst, threshold, window)
    if alarm.details != details:
        update_alarm(conn, alarm.id, message=_message(burst, window), details=details)


def _details(burst: _Burst, threshold: int, window: timedelta) -> dict[str, Any]:
    top = burst.reasons.most_common(TOP_REASONS)
    return {
        "topic": burst.topic,
        "count": burst.count,
        "window_s": int(window.total_seconds()),
        "threshold": threshold,
        "first_at": burst.first_at.isoformat(),
        "last_at": burst.last_at.isoformat(),
        "top_reasons": [{"reason": reason, "count": count} for reason, count in top],
        "other_reasons": len(burst.reasons) - len(top),
    }


def _message(burst: _Burst, window: timedelta) -> str:
    source = f"station {burst.station}" if burst.station else f"topic {burst.topic!r}"
    reasons = "; ".join(
        f"{count} x {_cut(reason)}" for reason, count in burst.reasons.most_common(TOP_REASONS)
    )
    minutes = window.total_seconds() / 60
    return (
        f"{burst.count} dead letters from {source} in the last {minutes:g} min: {reasons} "
        "(see linetrace central dead-letters list; replay them once the cause is fixed)"
    )


def _station_of(topic: str) -> str | None:
    try:
        station, _channel = parse_topic(topic)
    except TopicError:
        return None
    return str(station)


def _cut(reason: str) -> str:
    line = reason.splitlines()[0] if reason else reason
    return line if len(line) <= _REASON_IN_MESSAGE else line[: _REASON_IN_MESSAGE - 3] + "..."
