"""``GET /api/stream``: the live events as Server-Sent Events, for the dashboard.

Each open stream reads its own bounded queue of the app's one database tail
(:mod:`.live_hub`); a client too slow to keep up loses messages, never slows anyone, and
is sent ``event: dropped`` with how many it missed, so the page reloads its figures.
Message types: ``scan`` (a stored event, as ``/api/events`` returns it), ``status`` (a
station's state changed), ``alarms`` (a station's open alarm count changed),
``dropped``. A comment every :data:`KEEPALIVE_S` keeps proxies from closing an idle
stream. A stream ends after :data:`LIFETIME_S`; the browser's EventSource reconnects
by itself (``retry``), which lets a server shut down gracefully.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from linetrace.broker.contract.topics import StationId, TopicError
from linetrace.central.api.errors import responses
from linetrace.central.api.live_hub import Message, Wanted, hub_of
from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission

__all__ = ["KEEPALIVE_S", "LIFETIME_S", "router"]

router = APIRouter(prefix="/api", tags=["live"], dependencies=[allow(Permission.VIEW)])

KEEPALIVE_S = 15.0
# Long enough that reconnects are rare, short enough for a graceful shutdown to finish.
LIFETIME_S = 300.0
RETRY_MS = 1000

_NAME = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        **responses(422),
        200: {
            "description": "An event stream (text/event-stream).",
            "content": {
                "text/event-stream": {
                    "example": 'event: scan\ndata: {"station": "pack-1", "seq": 42}\n\n'
                }
            },
        },
    },
)
async def get_stream(
    request: Request,
    site: Annotated[_NAME, Query(description="Only this site.")] = None,
    line: Annotated[_NAME, Query(description="Only this line (with or without site).")] = None,
    station: Annotated[
        str | None,
        Query(max_length=200, description="Only this station, as SITE/LINE/STATION."),
    ] = None,
) -> StreamingResponse:
    wanted = _wanted(request, site, line, station)
    return StreamingResponse(
        _events(request, wanted),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _wanted(request: Request, site: str | None, line: str | None, station: str | None) -> Wanted:
    principal = getattr(request.state, "principal", None)
    sees = principal.sees if principal is not None else None
    if station is None:
        return Wanted(site=site, line=line, sees=sees)
    try:
        parsed = StationId.parse(station)
    except TopicError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"station: {exc}") from None
    if site not in (None, parsed.site) or line not in (None, parsed.line):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "station is not on the site or line given"
        )
    return Wanted(site=parsed.site, line=parsed.line, station=parsed.station, sees=sees)


async def _events(request: Request, wanted: Wanted) -> AsyncIterator[str]:
    """Subscribed here, not in the handler, so that the ``finally`` always unsubscribes."""
    hub = hub_of(request.app)
    subscriber = hub.subscribe(wanted)
    ends = time.monotonic() + LIFETIME_S
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        while time.monotonic() < ends:
            missed = subscriber.take_dropped()
            if missed:
                yield _format(Message("dropped", {"count": missed}))
            try:
                message = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            # What else is queued goes in the same write: one send per burst, not per
            # event, so a busy line's stream keeps up instead of filling the queue.
            burst = [message]
            while len(burst) < MAX_BURST and not subscriber.queue.empty():
                burst.append(subscriber.queue.get_nowait())
            yield "".join(_format(queued) for queued in burst)
    finally:
        hub.unsubscribe(subscriber)


# Most messages sent in one write (a burst of one look at a busy plant fits).
MAX_BURST = 500


def _format(message: Message) -> str:
    data = json.dumps(message.data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"event: {message.type}\ndata: {data}\n\n"
