"""``/api/batches``: start, close and look at the production batches of the lines.

Starting a batch on a line that has one open is a 409 naming the open batch; starting
one for a GTIN without product master data is a 422. Starting or closing a batch wakes
the announcer, which publishes it (or clears it) retained on the ``batch`` topic of
every station of the line.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import Field

from linetrace.broker.contract.topics import TopicError
from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.api.params import RowId
from linetrace.central.audit import actor_of, record
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.roles import Permission
from linetrace.central.auth.scoping import check_change, check_read
from linetrace.central.derive.production_batches import (
    MAX_BATCHES_PAGE,
    Batch,
    BatchClosed,
    BatchNotFound,
    BatchStart,
    LineBusy,
    StationCounts,
    UnknownProduct,
    batch_counts,
    close_batch,
    get_batch,
    list_batches,
    parse_line,
    start_batch,
)
from linetrace.central.ingest.announce import BatchAnnouncer

__all__ = ["BatchDetail", "router"]

router = APIRouter(prefix="/api", tags=["batches"])


class BatchDetail(Batch):
    """A batch with what its line's stations saw while it was open."""

    reads: int = Field(description="Read events on the line while it was open.")
    items: int = Field(description="Sum over stations of distinct items read.")
    noreads: int = Field(description="No-read events on the line while it was open.")
    mismatches: int = Field(description="Events that failed a check against it.")
    stations: list[StationCounts] = Field(description="The same counts, per station.")


@router.post(
    "/batches",
    dependencies=[allow(Permission.OPERATE)],
    response_model=Batch,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 409, 422),
)
def post_batch(
    body: BatchStart, engine: EngineDep, request: Request, principal: CurrentPrincipal
) -> Batch:
    check_change(principal, body.line)
    try:
        with engine.begin() as connection:
            batch = start_batch(connection, body)
            record(
                connection,
                actor=actor_of(request),
                action="batch.start",
                target=f"batch/{batch.id}",
                details=body.model_dump(mode="json"),
            )
    except LineBusy as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except UnknownProduct as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    _announce(request)
    return batch


@router.post(
    "/batches/{batch_id}/close",
    dependencies=[allow(Permission.OPERATE)],
    response_model=Batch,
    responses=responses(404, 409, 422),
)
def post_close(
    batch_id: RowId, engine: EngineDep, request: Request, principal: CurrentPrincipal
) -> Batch:
    try:
        with engine.begin() as connection:
            batch = close_batch(connection, batch_id)
            check_change(principal, batch.line)
            record(
                connection,
                actor=actor_of(request),
                action="batch.close",
                target=f"batch/{batch.id}",
                details={"line": batch.line, "lot": batch.lot, "gtin": batch.gtin},
            )
    except BatchNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except BatchClosed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    _announce(request)
    return batch


@router.get(
    "/batches",
    dependencies=[allow(Permission.VIEW)],
    response_model=list[Batch],
    responses=responses(422),
)
def get_batches(
    engine: EngineDep,
    line: Annotated[str | None, Query(description="Only this line, as SITE/LINE.")] = None,
    state: Annotated[
        Literal["open", "closed"] | None, Query(description="Only open or closed batches.")
    ] = None,
    lot: Annotated[str | None, Query(max_length=20, description="Only this lot.")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_BATCHES_PAGE, description="Most batches, newest first.")
    ] = 100,
    *,
    principal: CurrentPrincipal,
) -> list[Batch]:
    try:
        site_line = parse_line(line) if line is not None else None
    except TopicError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"line: {exc}") from None
    with engine.connect() as connection:
        # The scope in the query, so that a scoped reader's page is full.
        return list_batches(
            connection, line=site_line, state=state, lot=lot, limit=limit, within=principal.where
        )


@router.get(
    "/batches/{batch_id}",
    dependencies=[allow(Permission.VIEW)],
    response_model=BatchDetail,
    responses=responses(404, 422),
)
def get_one(batch_id: RowId, engine: EngineDep, principal: CurrentPrincipal) -> BatchDetail:
    try:
        with engine.connect() as connection:
            batch = get_batch(connection, batch_id)
            check_read(principal, batch.line, f"no batch {batch_id}")
            counts = batch_counts(connection, batch)
    except BatchNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return BatchDetail(
        **batch.model_dump(exclude={"state"}),
        reads=counts.total("reads"),
        items=counts.total("items"),
        noreads=counts.total("noreads"),
        mismatches=counts.total("mismatches"),
        stations=counts.stations,
    )


def _announce(request: Request) -> None:
    """Wake this process's announcer; without one (API only), another central's will do."""
    announcer: BatchAnnouncer | None = getattr(request.app.state, "announcer", None)
    if announcer is not None:
        announcer.wake()
