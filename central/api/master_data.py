"""``GET/PUT /api/producer`` and ``GET/PUT /api/locations[/{gln}]``: the organisation and
the named places behind the stations' GLNs (what the national portal needs besides the
products). ``PUT`` replaces the record as a whole: a field left out becomes empty.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.audit import actor_of, record
from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission
from linetrace.central.derive.master_data import (
    MAX_LOCATIONS_PAGE,
    Location,
    LocationData,
    Producer,
    ProducerData,
    get_location,
    get_producer,
    list_locations,
    put_location,
    put_producer,
)
from linetrace.errors import InvalidCode
from linetrace.gs1 import valid_gln

__all__ = ["LocationPage", "router"]

router = APIRouter(prefix="/api", tags=["master data"])

GlnPath = Annotated[str, Path(max_length=13, description="GS1 GLN, 13 digits.")]
_CREATED: dict[int | str, dict[str, Any]] = {
    201: {"description": "Created."},
    **responses(400, 422),
}


class LocationPage(BaseModel):
    locations: list[Location] = Field(description="Locations in GLN order.")
    next_after: str | None = Field(
        description="Pass as ``after`` for the next page; null on the last page."
    )


@router.get(
    "/producer",
    dependencies=[allow(Permission.VIEW)],
    response_model=Producer,
    responses=responses(404),
)
def get_the_producer(engine: EngineDep) -> Producer:
    with engine.connect() as connection:
        found = get_producer(connection)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the producer has not been set")
    return found


@router.put(
    "/producer",
    dependencies=[allow(Permission.ADMINISTER)],
    response_model=Producer,
    responses=_CREATED,
)
def put_the_producer(
    data: ProducerData, engine: EngineDep, response: Response, request: Request
) -> Producer:
    with engine.begin() as connection:
        found, created = put_producer(connection, data)
        record(
            connection,
            actor=actor_of(request),
            action="producer.create" if created else "producer.update",
            target="producer",
            details=data.model_dump(mode="json"),
        )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return found


@router.get(
    "/locations",
    dependencies=[allow(Permission.VIEW)],
    response_model=LocationPage,
    responses=responses(422),
)
def get_locations(
    engine: EngineDep,
    after: Annotated[
        str | None, Query(max_length=13, description="The last GLN of the previous page.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LOCATIONS_PAGE, description="Most locations in this page.")
    ] = 100,
) -> LocationPage:
    with engine.connect() as connection:
        found = list_locations(connection, after=after, limit=limit + 1)
    page = found[:limit]
    return LocationPage(locations=page, next_after=page[-1].gln if len(found) > limit else None)


@router.get(
    "/locations/{gln}",
    dependencies=[allow(Permission.VIEW)],
    response_model=Location,
    responses=responses(404, 422),
)
def get_one_location(gln: GlnPath, engine: EngineDep) -> Location:
    key = _gln(gln)
    with engine.connect() as connection:
        found = get_location(connection, key)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no location has GLN {key}")
    return found


@router.put(
    "/locations/{gln}",
    dependencies=[allow(Permission.ADMINISTER)],
    response_model=Location,
    responses=_CREATED,
)
def put_one_location(
    gln: GlnPath, data: LocationData, engine: EngineDep, response: Response, request: Request
) -> Location:
    key = _gln(gln)
    with engine.begin() as connection:
        found, created = put_location(connection, key, data)
        record(
            connection,
            actor=actor_of(request),
            action="location.create" if created else "location.update",
            target=f"location/{key}",
            details=data.model_dump(mode="json"),
        )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return found


def _gln(text: str) -> str:
    try:
        return valid_gln(text)
    except InvalidCode as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
