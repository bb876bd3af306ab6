"""``GET /api/events``: search the stored scan events, a page at a time, with a total.

Filters by time, site, line, station, GTIN, lot, serial, SSCC, kind and a station's seq
range; sorted by time or by seq (a completeness check walks a station's seqs in order),
newest first unless asked otherwise; keyset pages both ways (``next_cursor`` and
``prev_cursor``). ``code`` matches exactly, against any of: the raw decoded text, the
GTIN (AI 01), the SSCC (AI 00), the lot (AI 10) or the serial (AI 21). ``since`` (inclusive) and ``until``
(exclusive) bound ``observed_at`` and must carry a UTC offset (``Z`` or ``+07:00``;
write ``+`` as ``%2B`` in a URL). Each event comes back as the contract's JSON, with
``observed_at`` in the station's own offset and ``received_at`` added. A caller scoped to
sites or lines sees only their events (the total counts only those too).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field

from linetrace.broker.contract.messages import EventKind, ScanEvent
from linetrace.broker.contract.topics import StationId, TopicError
from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.api.params import MAX_ID, DateTimeText
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.roles import Permission
from linetrace.central.query.events import MAX_PAGE_SIZE, CursorError
from linetrace.central.query.images import mark_images
from linetrace.central.query.search import (
    COUNT_CAP,
    Direction,
    EventSearch,
    Order,
    SearchError,
    search_events,
)
from linetrace.central.store.tables import events
from linetrace.errors import InvalidCode
from linetrace.gs1 import gtin14, valid_lot, valid_sscc

__all__ = ["EventOut", "EventPageOut", "router"]

router = APIRouter(prefix="/api", tags=["events"], dependencies=[allow(Permission.VIEW)])


class EventOut(ScanEvent):
    """A stored scan event: the contract's fields, any additive ones, and its arrival."""

    received_at: AwareDatetime = Field(description="When central took the event off the broker.")
    has_image: bool = Field(
        default=False,
        description="A no-read whose picture is kept: GET /api/events/{event_id}/image.",
    )


class EventPageOut(BaseModel):
    events: list[EventOut] = Field(description="Matching events, in the order asked for.")
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next page; null on the last page."
    )
    prev_cursor: str | None = Field(
        default=None,
        description="Pass as ``cursor`` for the previous page; null on the first page.",
    )
    total: int = Field(
        description=f"Events matching the filters (all pages), counted up to {COUNT_CAP:,}."
    )
    total_exact: bool = Field(
        description=f"False when more than {COUNT_CAP:,} match: show ``total`` as 'more than'."
    )


_EXAMPLE = "Example: ``?station=hcm1/L1/pack-1&seq_from=100&seq_to=200&order=seq&direction=asc``."


@router.get(
    "/events",
    response_model=EventPageOut,
    responses=responses(400, 422),
    summary="Search the stored events",
    description=f"Every filter is optional and they combine with AND. {_EXAMPLE}",
)
def list_events(
    engine: EngineDep,
    principal: CurrentPrincipal,
    station: Annotated[
        str | None, Query(description="Only this station, as SITE/LINE/STATION.")
    ] = None,
    site: Annotated[str | None, Query(max_length=64, description="Only this site.")] = None,
    line: Annotated[str | None, Query(max_length=64, description="Only this line.")] = None,
    code: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=4096,
            description="Exact raw text, GTIN, SSCC, lot or serial.",
        ),
    ] = None,
    gtin: Annotated[
        str | None, Query(max_length=14, description="GTIN (AI 01), 8 to 14 digits.")
    ] = None,
    lot: Annotated[str | None, Query(max_length=20, description="Lot (AI 10), exact.")] = None,
    serial: Annotated[
        str | None, Query(min_length=1, max_length=20, description="Serial (AI 21), exact.")
    ] = None,
    sscc: Annotated[str | None, Query(max_length=18, description="SSCC (AI 00).")] = None,
    kind: Annotated[EventKind | None, Query(description="Only this kind of event.")] = None,
    since: Annotated[
        DateTimeText | None, Query(description="Observed at or after (RFC 3339).")
    ] = None,
    until: Annotated[DateTimeText | None, Query(description="Observed before (RFC 3339).")] = None,
    from_: Annotated[
        DateTimeText | None, Query(alias="from", description="The same as ``since``.")
    ] = None,
    to: Annotated[DateTimeText | None, Query(description="The same as ``until``.")] = None,
    seq_from: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Lowest seq (needs ``station``).")
    ] = None,
    seq_to: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Highest seq (needs ``station``).")
    ] = None,
    order: Annotated[
        Order, Query(description="Sort by observed time, or by station then seq.")
    ] = Order.TIME,
    direction: Annotated[Direction, Query(description="Newest/highest first by default.")] = (
        Direction.DESC
    ),
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Most events in this page.")
    ] = 100,
    cursor: Annotated[
        str | None,
        Query(max_length=400, description="next_cursor or prev_cursor of another page."),
    ] = None,
) -> EventPageOut:
    search = _search(
        station=_station(station),
        site=site,
        line=line,
        code=code,
        gtin=_key(gtin14, "gtin", gtin),
        lot=_key(valid_lot, "lot", lot),
        serial=serial,
        sscc=_key(valid_sscc, "sscc", sscc),
        kind=kind,
        since=_either("since", since, "from", from_),
        until=_either("until", until, "to", to),
        seq_from=seq_from,
        seq_to=seq_to,
        order=order,
        direction=direction,
        limit=limit,
        cursor=cursor,
    )
    try:
        with engine.connect() as connection:
            scope = principal.where(events.c.site, events.c.line)
            page = search_events(connection, search, scope=scope)
            listed = mark_images(connection, [event.to_json() for event in page.events])
    except CursorError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return EventPageOut(
        # From JSON text: the contract's strict fields take a date-time only as a JSON string.
        events=[EventOut.model_validate_json(json.dumps(event)) for event in listed],
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
        total=page.total,
        total_exact=page.total_exact,
    )


def _search(**filters: Any) -> EventSearch:
    try:
        return EventSearch(**filters)
    except SearchError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


def _either(
    name: str, value: datetime | None, alias: str, other: datetime | None
) -> datetime | None:
    if value is not None and other is not None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"give {name} or {alias}, not both"
        )
    return value if value is not None else other


def _key(check: Callable[[str], str], name: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return check(text)
    except InvalidCode as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: {exc}") from None


def _station(text: str | None) -> StationId | None:
    if text is None:
        return None
    try:
        return StationId.parse(text)
    except TopicError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"station: {exc}") from None
