"""``GET /api/events``: search the stored scan events, newest first, a page at a time.

``code`` matches exactly, against any of: the raw decoded text, the GTIN (AI 01), the
SSCC (AI 00), the lot (AI 10) or the serial (AI 21). ``since`` (inclusive) and ``until``
(exclusive) bound ``observed_at`` and must carry a UTC offset (``Z`` or ``+07:00``;
write ``+`` as ``%2B`` in a URL). Each event comes back as the contract's JSON, with
``observed_at`` in the station's own offset and ``received_at`` added.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field

from linetrace.broker.contract.messages import EventKind, ScanEvent
from linetrace.broker.contract.topics import StationId, TopicError
from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.api.params import DateTimeText
from linetrace.central.query.events import (
    MAX_PAGE_SIZE,
    Cursor,
    CursorError,
    EventQuery,
    find_events,
)

__all__ = ["EventOut", "EventPageOut", "router"]

router = APIRouter(prefix="/api", tags=["events"])


class EventOut(ScanEvent):
    """A stored scan event: the contract's fields, any additive ones, and its arrival."""

    received_at: AwareDatetime = Field(description="When central took the event off the broker.")


class EventPageOut(BaseModel):
    events: list[EventOut] = Field(description="Matching events, newest observed_at first.")
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next page; null on the last page."
    )


@router.get("/events", response_model=EventPageOut, responses=responses(400, 422))
def list_events(
    engine: EngineDep,
    station: Annotated[
        str | None, Query(description="Only this station, as SITE/LINE/STATION.")
    ] = None,
    code: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=4096,
            description="Exact raw text, GTIN, SSCC, lot or serial.",
        ),
    ] = None,
    kind: Annotated[EventKind | None, Query(description="Only this kind of event.")] = None,
    since: Annotated[
        DateTimeText | None, Query(description="Observed at or after (RFC 3339).")
    ] = None,
    until: Annotated[DateTimeText | None, Query(description="Observed before (RFC 3339).")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Most events in this page.")
    ] = 100,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page.")
    ] = None,
) -> EventPageOut:
    query = EventQuery(
        station=_station(station),
        code=code,
        kind=kind,
        since=since,
        until=until,
        limit=limit,
        cursor=_cursor(cursor),
    )
    if since is not None and until is not None and since >= until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "since must be before until")
    with engine.connect() as connection:
        page = find_events(connection, query)
    return EventPageOut(
        # From JSON text: the contract's strict fields take a date-time only as a JSON string.
        events=[EventOut.model_validate_json(json.dumps(event.to_json())) for event in page.events],
        next_cursor=page.next_cursor,
    )


def _station(text: str | None) -> StationId | None:
    if text is None:
        return None
    try:
        return StationId.parse(text)
    except TopicError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"station: {exc}") from None


def _cursor(token: str | None) -> Cursor | None:
    if token is None:
        return None
    try:
        return Cursor.decode(token)
    except CursorError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"cursor: {exc}") from None
