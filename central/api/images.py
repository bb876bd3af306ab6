"""``GET /api/events/{event_id}/image`` (the no-read's JPEG) and ``.../image/facts`` (what
is shown beside it: station, times, frames, the edge's reason).

Anyone who may view events may see a picture, within their scope: a picture from a site
or line outside it is a 404, as if it did not exist. A 404 too when the event has no
picture (not a no-read, the edge could not fit one, or retention let it go). The JPEG is
``private`` (a shared cache must not keep a label photo), and ``nosniff`` with its exact
type, so it is never taken for anything but an image.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.roles import Permission
from linetrace.central.query.images import StoredImage, find_image
from linetrace.central.store.image_tables import noread_images

__all__ = ["ImageFactsOut", "router"]

router = APIRouter(prefix="/api", tags=["events"], dependencies=[allow(Permission.VIEW)])

# A picture never changes once stored; an hour in the browser spares a re-fetch of every
# row's image while the list refreshes, and is short against retention's days.
_CACHE_CONTROL = "private, max-age=3600"

EventIdPath = Annotated[UUID, Path(description="The no-read event's event_id.")]

_EXAMPLE: dict[str, Any] = {
    "event_id": "0193a3c5-7a80-7cc4-9d5e-0a1b2c3d4e5f",
    "site": "hcm1",
    "line": "L1",
    "station": "pack-1",
    "observed_at": "2026-12-05T08:15:02.120000+07:00",
    "received_at": "2026-12-05T01:15:02.310000+00:00",
    "frames": 7,
    "size": 5123,
    "sha256": "9f2c" + "0" * 60,
    # Not None: FastAPI leaves every null out of /openapi.json, and reason is required.
    "reason": "contrast too low",
}


class ImageFactsOut(BaseModel):
    """What a person sees beside a no-read's picture."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    event_id: UUID = Field(description="The no-read event.")
    site: str = Field(description="Site id.")
    line: str = Field(description="Line id.")
    station: str = Field(description="Station id.")
    observed_at: AwareDatetime = Field(description="When the station saw it, in its offset.")
    received_at: AwareDatetime = Field(description="When central took the event.")
    frames: int = Field(description="Frames the symbol was seen in, never decoded.")
    size: int = Field(description="Bytes of the JPEG.")
    sha256: str = Field(description="Hex SHA-256 of the JPEG (as in the event's payload).")
    reason: str | None = Field(
        description="The edge's failed checks, if it named any; null: located, never decoded."
    )


def _image(engine: EngineDep, principal: CurrentPrincipal, event_id: UUID) -> StoredImage:
    c = noread_images.c
    with engine.connect() as connection:
        found = find_image(connection, event_id, principal.where(c.site, c.line))
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no picture of event {event_id}")
    return found


@router.get(
    "/events/{event_id}/image",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The no-read's JPEG."},
        **responses(404, 422),
    },
)
def event_image(engine: EngineDep, principal: CurrentPrincipal, event_id: EventIdPath) -> Response:
    """The JPEG the station took of a symbol it could not decode."""
    found = _image(engine, principal, event_id)
    return Response(
        found.jpeg,
        media_type="image/jpeg",
        headers={
            "Cache-Control": _CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{found.sha256}"',
        },
    )


@router.get(
    "/events/{event_id}/image/facts",
    response_model=ImageFactsOut,
    responses=responses(404, 422),
)
def event_image_facts(
    engine: EngineDep, principal: CurrentPrincipal, event_id: EventIdPath
) -> ImageFactsOut:
    """Station, times, frames and reason of a no-read's picture."""
    return ImageFactsOut.model_validate(_image(engine, principal, event_id).facts())
