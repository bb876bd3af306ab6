"""``/api/audit``: the audit log for auditors, filtered and paged with a total count.

Read only: records are appended by the actions themselves (:mod:`linetrace.central.audit`)
and proved with ``linetrace central audit verify``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.api.params import DateTimeText
from linetrace.central.audit.listing import MAX_AUDIT_PAGE, AuditQuery, find_records
from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission
from linetrace.central.store.audit_tables import (
    AUDIT_ACTION_LENGTH,
    AUDIT_ACTOR_LENGTH,
    AUDIT_TARGET_LENGTH,
)

__all__ = ["AuditPageOut", "AuditRecordOut", "router"]

router = APIRouter(prefix="/api", tags=["audit"], dependencies=[allow(Permission.AUDIT)])
# Offsets past this are a search to narrow, not a page to fetch.
MAX_OFFSET = 1_000_000


class AuditRecordOut(BaseModel):
    """One action: who did what to which record, and the chain's hashes."""

    id: int = Field(description="Position in the chain, from 1.", examples=[42])
    at: AwareDatetime = Field(description="When it was recorded (UTC).")
    actor: str = Field(description="Account or token name, or cli:<os user>.", examples=["ana"])
    action: str = Field(description="What was done.", examples=["batch.start"])
    target: str = Field(description="What it was done to.", examples=["batch/12"])
    details: dict[str, Any] | None = Field(
        description="What was asked or changed.", examples=[{"lot": "L2611"}]
    )
    prev_hash: str = Field(description="SHA-256 of the record before (64 zeros for the first).")
    hash: str = Field(description="SHA-256 of this record's canonical JSON and prev_hash.")


class AuditPageOut(BaseModel):
    total: int = Field(description="Records matching the filters, in all.", examples=[1234])
    limit: int
    offset: int
    records: list[AuditRecordOut] = Field(description="This page, newest first.")


@router.get(
    "/audit",
    response_model=AuditPageOut,
    responses=responses(422),
    summary="Search the audit log",
)
def get_audit(
    engine: EngineDep,
    since: Annotated[DateTimeText | None, Query(description="At or after (RFC 3339).")] = None,
    until: Annotated[DateTimeText | None, Query(description="Before (RFC 3339).")] = None,
    actor: Annotated[
        str | None, Query(max_length=AUDIT_ACTOR_LENGTH, description="Only this actor.")
    ] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=AUDIT_ACTION_LENGTH,
            description="Only this action; ending in '.' (e.g. 'batch.') every action of an area.",
        ),
    ] = None,
    target: Annotated[
        str | None, Query(max_length=AUDIT_TARGET_LENGTH, description="Only this target.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_AUDIT_PAGE, description="Most records in this page.")
    ] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Records to skip.")] = 0,
) -> AuditPageOut:
    if since is not None and until is not None and until <= since:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "until must be after since")
    query = AuditQuery(since, until, actor, action, target, limit, offset)
    with engine.connect() as connection:
        page = find_records(connection, query)
    return AuditPageOut(
        total=page.total,
        limit=limit,
        offset=offset,
        records=[AuditRecordOut(**r.to_json()) for r in page.records],
    )
