"""Reading events back for the API and the CLI, newest first, with keyset pagination.

A cursor is the (observed_at, event_id) of the last event of a page: the next page
continues strictly after it in the same order, so pages stay correct and cheap however
deep they go and while new events arrive (an offset would skip or repeat rows).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from linetrace.broker.contract.messages import EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.central.store.tables import events
from linetrace.errors import LinetraceError

__all__ = [
    "MAX_PAGE_SIZE",
    "Cursor",
    "CursorError",
    "EventPage",
    "EventQuery",
    "StoredEvent",
    "find_events",
    "stored_event",
]

# A page of a thousand events is about a megabyte of JSON: enough for an export loop,
# small enough that one request cannot tie up the database or the client.
MAX_PAGE_SIZE = 1000


class CursorError(LinetraceError, ValueError):
    """A pagination cursor that this service did not hand out."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended."""

    observed_at: datetime
    event_id: UUID

    def encode(self) -> str:
        raw = f"{self.observed_at.astimezone(UTC).isoformat()}|{self.event_id.hex}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            when, _, event_id = raw.partition("|")
            observed_at = datetime.fromisoformat(when)
            cursor = cls(observed_at, UUID(hex=event_id))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise CursorError(f"cursor {token[:80]!r} is not one this service handed out") from None
        if observed_at.tzinfo is None:
            raise CursorError(f"cursor {token[:80]!r} is not one this service handed out")
        return cursor


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters of an event search; every one is optional and they combine with AND.

    ``code`` matches exactly, and any of: the raw decoded text, the GTIN (AI 01), the
    SSCC (AI 00), the lot (AI 10) or the serial (AI 21). ``since`` is inclusive and
    ``until`` exclusive, both on ``observed_at``.
    """

    station: StationId | None = None
    code: str | None = None
    kind: EventKind | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    cursor: Cursor | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit {self.limit} is outside 1..{MAX_PAGE_SIZE}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must carry a UTC offset")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored event: the payload as sent, the station-local time and when it arrived."""

    payload: dict[str, Any]
    observed_at: datetime
    received_at: datetime

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.observed_at, UUID(str(self.payload["event_id"])))

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON (additive fields kept) plus ``received_at``, RFC 3339."""
        return {
            **self.payload,
            "observed_at": self.observed_at.isoformat(),
            "received_at": self.received_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of results and the cursor of the next, or None on the last page."""

    events: list[StoredEvent]
    next_cursor: str | None


def find_events(connection: Connection, query: EventQuery) -> EventPage:
    """The events matching ``query``, newest ``observed_at`` first."""
    statement = (
        sa.select(
            events.c.event_id,
            events.c.observed_at,
            events.c.utc_offset_s,
            events.c.received_at,
            events.c.payload,
        )
        .where(*_conditions(query))
        .order_by(events.c.observed_at.desc(), events.c.event_id.desc())
        .limit(query.limit + 1)
    )
    rows = connection.execute(statement).mappings().all()
    page = [stored_event(row) for row in rows[: query.limit]]
    more = len(rows) > query.limit
    return EventPage(page, page[-1].cursor.encode() if more and page else None)


def _conditions(query: EventQuery) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if query.station is not None:
        conditions += [
            events.c.site == query.station.site,
            events.c.line == query.station.line,
            events.c.station == query.station.station,
        ]
    if query.code is not None:
        # One indexed lookup per column, then the sort of what matched. Given the OR with
        # the ORDER BY ... LIMIT instead, both SQLite and PostgreSQL would rather walk the
        # observed_at index and test every row, expecting matches soon: 0.4 s over a
        # million events for a serial seen once, against under a millisecond this way. A
        # code that matches a great many events (a bare GTIN) pays for sorting them.
        columns = [events.c.text, events.c.gtin, events.c.sscc, events.c.lot, events.c.serial]
        matching = sa.union(
            *(sa.select(events.c.event_id).where(column == query.code) for column in columns)
        )
        conditions.append(events.c.event_id.in_(matching))
    if query.kind is not None:
        conditions.append(events.c.kind == query.kind.value)
    if query.since is not None:
        conditions.append(events.c.observed_at >= query.since)
    if query.until is not None:
        conditions.append(events.c.observed_at < query.until)
    if query.cursor is not None:
        conditions.append(
            sa.tuple_(events.c.observed_at, events.c.event_id)
            < sa.tuple_(
                sa.literal(query.cursor.observed_at, events.c.observed_at.type),
                sa.literal(query.cursor.event_id, events.c.event_id.type),
            )
        )
    return conditions


def stored_event(row: RowMapping) -> StoredEvent:
    """A stored event from its row: observed_at back in the station's own offset."""
    offset = timezone(timedelta(seconds=row["utc_offset_s"]))
    return StoredEvent(
        payload=row["payload"],
        observed_at=row["observed_at"].astimezone(offset),
        received_at=row["received_at"],
    )
