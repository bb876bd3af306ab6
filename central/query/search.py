"""The auditors' event search: every filter, time or seq order, keyset pages both ways and
a total that stays cheap.

Pages are keyset pages (a cursor holds the sort key of the row a page ended or began at),
so page 5,000 costs what page 1 costs and rows arriving meanwhile neither shift nor repeat
what is shown. The total is exact up to :data:`COUNT_CAP` and "more than that" beyond:
counting a million matches exactly on every page would cost more than the page itself,
and nobody pages through ten thousand rows by hand (they export).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.broker.contract.messages import EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.central.query.events import MAX_PAGE_SIZE, StoredEvent, stored_event
from linetrace.central.query.search_cursors import (
    Direction,
    Order,
    Way,
    decode_cursor,
    encode_cursor,
    sort_key,
)
from linetrace.central.store.tables import events
from linetrace.errors import LinetraceError

__all__ = [
    "COUNT_CAP",
    "Direction",
    "EventSearch",
    "Order",
    "SearchError",
    "SearchPage",
    "search_events",
]

# Counted exactly up to here: about 10 ms on either database whatever the table's size.
COUNT_CAP = 10_000


class SearchError(LinetraceError, ValueError):
    """A search whose filters cannot go together (a seq range without its station)."""


@dataclass(frozen=True, slots=True)
class EventSearch:
    """Filters (combined with AND; ``since`` inclusive, ``until`` exclusive), order, page.

    ``code`` matches any of the raw text, GTIN, SSCC, lot or serial; the other key filters
    match their own column exactly (a GTIN as its 14 digits).
    """

    since: datetime | None = None
    until: datetime | None = None
    site: str | None = None
    line: str | None = None
    station: StationId | None = None
    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    sscc: str | None = None
    code: str | None = None
    kind: EventKind | None = None
    seq_from: int | None = None
    seq_to: int | None = None
    order: Order = Order.TIME
    direction: Direction = Direction.DESC
    limit: int = 100
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise SearchError(f"limit {self.limit} is outside 1..{MAX_PAGE_SIZE}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise SearchError(f"{name} must carry a UTC offset")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise SearchError("since must be before until")
        if (self.seq_from is not None or self.seq_to is not None) and self.station is None:
            raise SearchError("a seq range needs a station: seqs are numbered per station")
        if self.seq_from is not None and self.seq_to is not None and self.seq_from > self.seq_to:
            raise SearchError("seq_from must not be above seq_to")


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page, the cursors of the pages either side (None at an end), and the total.

    ``total_exact`` is False when more than :data:`COUNT_CAP` events match: ``total`` is
    then the cap, to be shown as "more than".
    """

    events: list[StoredEvent]
    next_cursor: str | None
    prev_cursor: str | None
    total: int
    total_exact: bool


def search_events(
    connection: Connection,
    search: EventSearch,
    *,
    scope: sa.ColumnElement[bool] | None = None,
    count: bool = True,
) -> SearchPage:
    """One page of the events ``search`` asks for; ``scope`` further limits what is seen.

    Raises :class:`CursorError` for a cursor this service did not hand out for this order.
    """
    conditions = _conditions(search)
    if scope is not None:
        conditions.append(scope)
    keys = _sort_columns(search.order)
    way: Way | None = None
    page_conditions = list(conditions)
    if search.cursor is not None:
        way, values = decode_cursor(search.cursor, search.order, search.direction)
        page_conditions.append(_beyond(keys, values, _ascending(search, way)))
    ascending = _ascending(search, way or "after")
    statement = _page_statement(search, page_conditions, keys, ascending)
    rows = connection.execute(statement).mappings().all()
    more = len(rows) > search.limit
    rows = rows[: search.limit]
    if way == "before":
        rows = list(reversed(rows))
    found = [stored_event(row) for row in rows]
    first = (
        encode_cursor(search.order, search.direction, "before", sort_key(rows[0], search.order))
        if rows
        else None
    )
    last = (
        encode_cursor(search.order, search.direction, "after", sort_key(rows[-1], search.order))
        if rows
        else None
    )
    if way is None:
        next_cursor, prev_cursor = (last if more else None), None
    elif way == "after":
        next_cursor, prev_cursor = (last if more else None), first
    else:
        next_cursor, prev_cursor = last, (first if more else None)
    total, exact = _count(connection, conditions) if count else (len(found), not more)
    return SearchPage(found, next_cursor, prev_cursor, total, exact)


_COLUMNS = (
    events.c.site,
    events.c.line,
    events.c.station,
    events.c.seq,
    events.c.event_id,
    events.c.observed_at,
    events.c.utc_offset_s,
    events.c.received_at,
    events.c.payload,
)


def _narrow(search: EventSearch) -> bool:
    """Whether a filter names a lot, serial, SSCC or code: a few thousand events at most."""
    return any(key is not None for key in (search.lot, search.serial, search.sscc, search.code))


def _page_statement(
    search: EventSearch,
    conditions: list[sa.ColumnElement[bool]],
    keys: list[sa.Column[Any]],
    ascending: bool,
) -> sa.Select[Any]:
    """The page's rows, ``limit`` + 1 of them (the extra one says whether more follow).

    A narrow search finds its matches first (a materialised CTE: no plan may walk a time
    or seq index instead, hoping to meet the lot soon, when the lot is hours away) and
    sorts only their keys; the payloads are read for the page alone.
    """
    if not _narrow(search):
        return (
            sa.select(*_COLUMNS)
            .where(*conditions)
            .order_by(*(column.asc() if ascending else column.desc() for column in keys))
            .limit(search.limit + 1)
        )
    matches = (
        sa.select(*(events.c[column.name] for column in keys))
        .where(*conditions)
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    ordered = [matches.c[column.name] for column in keys]
    top = (
        sa.select(*ordered)
        .order_by(*(column.asc() if ascending else column.desc() for column in ordered))
        .limit(search.limit + 1)
        .subquery("top")
    )
    return (
        sa.select(*_COLUMNS)
        .join_from(events, top, events.c.event_id == top.c.event_id)
        .order_by(*(top.c[c.name].asc() if ascending else top.c[c.name].desc() for c in keys))
    )


def _conditions(search: EventSearch) -> list[sa.ColumnElement[bool]]:
    # Beside a narrow filter (a lot, serial, SSCC or code), whose own index finds its few
    # thousand events, the broad filters are written so no index can serve them
    # (``site || ''``): SQLite has no statistics and would rather walk a (site, line,
    # observed_at) index in order, testing a million rows for the lot.
    narrow = _narrow(search)

    def broad(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return column.concat("") if narrow else column

    equal: list[tuple[sa.ColumnElement[Any], object]] = [
        (broad(events.c.site), search.site),
        (broad(events.c.line), search.line),
        (broad(events.c.gtin), search.gtin),
        (events.c.lot, search.lot),
        (events.c.serial, search.serial),
        (events.c.sscc, search.sscc),
        (broad(events.c.kind), search.kind.value if search.kind is not None else None),
    ]
    if search.station is not None:
        equal += [
            (broad(events.c.site), search.station.site),
            (broad(events.c.line), search.station.line),
            (broad(events.c.station), search.station.station),
        ]
    conditions: list[sa.ColumnElement[bool]] = [
        column == value for column, value in equal if value is not None
    ]
    if search.code is not None:
        # One indexed lookup per column, then what matched (see query.events for why).
        columns = [events.c.text, events.c.gtin, events.c.sscc, events.c.lot, events.c.serial]
        matching = sa.union(
            *(sa.select(events.c.event_id).where(column == search.code) for column in columns)
        )
        conditions.append(events.c.event_id.in_(matching))
    if search.since is not None:
        conditions.append(events.c.observed_at >= search.since)
    if search.until is not None:
        conditions.append(events.c.observed_at < search.until)
    if search.seq_from is not None:
        conditions.append(events.c.seq >= search.seq_from)
    if search.seq_to is not None:
        conditions.append(events.c.seq <= search.seq_to)
    return conditions


def _sort_columns(order: Order) -> list[sa.Column[Any]]:
    if order is Order.SEQ:
        return [events.c.site, events.c.line, events.c.station, events.c.seq, events.c.event_id]
    return [events.c.observed_at, events.c.event_id]


def _ascending(search: EventSearch, way: Way) -> bool:
    """Whether the rows are fetched in ascending order: a page before runs backwards."""
    return (search.direction is Direction.ASC) == (way == "after")


def _beyond(
    keys: list[sa.Column[Any]], values: list[Any], ascending: bool
) -> sa.ColumnElement[bool]:
    """Rows strictly past ``values`` in the fetch order (a row-value comparison, indexed)."""
    left = sa.tuple_(*keys)
    right = sa.tuple_(
        *(sa.literal(value, column.type) for column, value in zip(keys, values, strict=True))
    )
    return left > right if ascending else left < right


def _count(connection: Connection, conditions: list[sa.ColumnElement[bool]]) -> tuple[int, bool]:
    capped = sa.select(sa.literal(1)).select_from(events).where(*conditions).limit(COUNT_CAP + 1)
    counted = connection.execute(
        sa.select(sa.func.count()).select_from(capped.subquery())
    ).scalar_one()
    return min(counted, COUNT_CAP), counted <= COUNT_CAP
