"""``GET/POST /api/stations``: the stations registry, with each station's seq progress.

A station's ``watermark`` is the highest seq up to which every event is stored (what its
``ack`` topic carries); ``max_seq_seen`` the highest stored at all; ``open_gaps`` the
first runs of missing seqs between the two, and ``behind_since`` since when one waits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from linetrace.broker.contract.topics import StationId, TopicError
from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.audit import actor_of, record
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.roles import Permission
from linetrace.central.auth.scoping import visible
from linetrace.central.derive.progress import Progress, all_progress, open_gaps
from linetrace.central.derive.stations import Station, StationError, list_stations, register_station

__all__ = ["StationIn", "StationOut", "router"]

router = APIRouter(prefix="/api", tags=["stations"])


class StationIn(BaseModel):
    """A station to register, or a registered one to update."""

    model_config = ConfigDict(extra="forbid")

    station: str = Field(description="SITE/LINE/STATION, as in the station's broker account.")
    gln: str | None = Field(
        default=None, description="GS1 GLN (13 digits) of the station's location; null keeps it."
    )
    role: str | None = Field(
        default=None, description="What the station does (pack, palletise ...); null keeps it."
    )
    enabled: bool = Field(
        default=True, description="False takes the station out of service: its events are refused."
    )


class StationOut(BaseModel):
    station: str = Field(description="SITE/LINE/STATION.")
    gln: str | None = Field(description="GS1 GLN of the station's location.")
    role: str | None = Field(description="What the station does.")
    enabled: bool = Field(description="False while its events are refused.")
    registered_at: datetime = Field(description="When it was first registered.")
    registered_by: str = Field(description="cli, api or auto (registered on its first event).")
    watermark: int = Field(description="Every seq up to this one is stored (0: none yet).")
    max_seq_seen: int = Field(description="The highest seq stored.")
    behind_since: datetime | None = Field(
        description="Since when a stored seq waits for a missing lower one; null when none."
    )
    # [first, last] as a plain two-integer array: a tuple's prefixItems schema reads
    # differently across JSON Schema drafts and OpenAPI tools.
    open_gaps: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        description="First runs of missing seqs above the watermark, as [first, last]."
    )


@router.get("/stations", dependencies=[allow(Permission.VIEW)], response_model=list[StationOut])
def get_stations(engine: EngineDep, principal: CurrentPrincipal) -> list[StationOut]:
    with engine.connect() as connection:
        registered = visible(principal, list_stations(connection), lambda s: str(s.id))
        progress = all_progress(connection)
        return [_out(station, progress.get(station.id), connection) for station in registered]


@router.post(
    "/stations",
    dependencies=[allow(Permission.ADMINISTER)],
    response_model=StationOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 422),
)
def post_station(body: StationIn, engine: EngineDep, request: Request) -> StationOut:
    try:
        station_id = StationId.parse(body.station)
    except TopicError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"station: {exc}") from None
    try:
        with engine.begin() as connection:
            station = register_station(
                connection,
                station_id,
                gln=body.gln,
                role=body.role,
                enabled=body.enabled,
                registered_by="api",
            )
            record(
                connection,
                actor=actor_of(request),
                action="station.register",
                target=f"station/{station_id}",
                details=body.model_dump(mode="json"),
            )
    except StationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    with engine.connect() as connection:
        return _out(station, all_progress(connection).get(station_id), connection)


def _out(station: Station, progress: Progress | None, connection: Connection) -> StationOut:
    gaps = open_gaps(connection, progress) if progress is not None else []
    return StationOut(
        station=str(station.id),
        gln=station.gln,
        role=station.role,
        enabled=station.enabled,
        registered_at=station.registered_at,
        registered_by=station.registered_by,
        watermark=progress.watermark if progress else 0,
        max_seq_seen=progress.max_seq_seen if progress else 0,
        behind_since=progress.behind_since if progress else None,
        open_gaps=[[gap.first, gap.last] for gap in gaps],
    )
