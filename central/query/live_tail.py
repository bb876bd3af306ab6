"""Tailing the stored events for the live stream, whichever replica stored them.

In: a connection and the :class:`TailCursor` of the previous look. Out: the events
stored since, oldest first, as the API's JSON, and the moved cursor.

The events table has no insertion counter (its key is the edge's UUIDv7, in observation
order), so the tail follows ``received_at``, set by the replica that took the event. A
batch commits a little after its ``received_at``, and replicas' clocks differ a little,
so each look reaches :data:`OVERLAP` back and skips the ids it already handed out.
A look rides the ``received_at`` index, so it costs what the last seconds hold, not the
table. An outbox backlog replayed after an outage streams as it is stored (observed
earlier, received now); a burst past :data:`MAX_TAIL` per look is reported as overflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.query.events import stored_event
from linetrace.central.store.tables import events

__all__ = ["MAX_TAIL", "OVERLAP", "TailCursor", "TailResult", "tail"]

# Commit delay of one write batch plus clock differences between replicas: generous
# next to the ingest's sub-second batches, small enough that re-reading the ids is cheap.
OVERLAP = timedelta(seconds=5)
# Most events handed out per look: a burst past it is reported, not buffered without end.
MAX_TAIL = 2000


@dataclass(slots=True)
class TailCursor:
    """Where the tail stands: the newest ``received_at`` seen and the ids near it."""

    since: datetime | None = None  # None: not primed yet
    seen: dict[UUID, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TailResult:
    events: list[dict[str, Any]]
    overflow: int = 0  # events past MAX_TAIL in this look, not handed out


def tail(conn: Connection, cursor: TailCursor, now: datetime) -> TailResult:
    """New events since ``cursor`` (which moves); a cursor without ``since`` is only primed."""
    e = events.c
    since = cursor.since if cursor.since is not None else now
    recent = conn.execute(
        sa.select(e.event_id, e.received_at).where(e.received_at >= since - OVERLAP)
    ).all()
    fresh = [(event_id, at) for event_id, at in recent if event_id not in cursor.seen]
    primed = cursor.since is not None
    for event_id, at in fresh:
        cursor.seen[event_id] = at
    newest = max((at for _, at in recent), default=since)
    cursor.since = max(since, newest) if primed else newest
    _forget(cursor)
    if not primed or not fresh:
        return TailResult(events=[])
    fresh.sort(key=lambda pair: pair[1])
    wanted = [event_id for event_id, _ in fresh[:MAX_TAIL]]
    rows = conn.execute(sa.select(events).where(e.event_id.in_(wanted))).mappings().all()
    found = sorted(
        (stored_event(row) for row in rows), key=lambda s: (s.received_at, s.observed_at)
    )
    return TailResult(
        events=[event.to_json() for event in found], overflow=max(0, len(fresh) - MAX_TAIL)
    )


def _forget(cursor: TailCursor) -> None:
    """Drop ids the next look can no longer reach."""
    if cursor.since is None:
        return
    horizon = cursor.since - OVERLAP
    for event_id in [i for i, at in cursor.seen.items() if at < horizon]:
        del cursor.seen[event_id]
