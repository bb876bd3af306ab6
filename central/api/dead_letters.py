"""``GET /api/dead-letters``: the refused messages, newest first, with why.

A reader scoped to sites or lines sees only what came on their stations' topics.

Each comes with its payload as stored (the first 64 KiB): as text when it is UTF-8, and
always as base64. Replayed ones (taken in later, see ``linetrace central dead-letters
replay``) are left out unless asked for.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from linetrace.broker.contract.topics import PREFIX
from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.api.params import MAX_ID
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.roles import Permission
from linetrace.central.query.dead_letters import StoredDeadLetter, find_dead_letters
from linetrace.central.query.events import MAX_PAGE_SIZE

__all__ = ["DeadLetterOut", "DeadLetterPageOut", "router"]

router = APIRouter(prefix="/api", tags=["dead letters"], dependencies=[allow(Permission.VIEW)])


class DeadLetterOut(BaseModel):
    id: int = Field(description="The dead letter's id.")
    received_at: datetime = Field(description="When central took it off the broker.")
    topic: str = Field(description="The topic it came on.")
    reason: str = Field(description="Why it was refused.")
    payload_size: int = Field(description="Its size in bytes as received.")
    payload_text: str | None = Field(description="The stored payload, when it is UTF-8 text.")
    payload_base64: str = Field(description="The stored payload (first 64 KiB), base64.")
    replayed_at: datetime | None = Field(description="When a replay took it in; null: not yet.")


class DeadLetterPageOut(BaseModel):
    dead_letters: list[DeadLetterOut] = Field(description="Newest first.")
    next_before_id: int | None = Field(
        description="Pass as ``before_id`` for the next page; null on the last page."
    )


@router.get("/dead-letters", response_model=DeadLetterPageOut, responses=responses(422))
def get_dead_letters(
    engine: EngineDep,
    principal: CurrentPrincipal,
    reason_prefix: Annotated[
        str | None, Query(max_length=200, description="Only reasons starting with this.")
    ] = None,
    include_replayed: Annotated[
        bool, Query(description="Also those a replay has taken in.")
    ] = False,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_before_id of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Most per page.")] = 100,
) -> DeadLetterPageOut:
    with engine.connect() as connection:
        page = find_dead_letters(
            connection,
            reason_prefix=reason_prefix,
            include_replayed=include_replayed,
            before_id=before_id,
            limit=limit,
            # A scoped reader: their sites' and lines' topics only, never plant-wide ones.
            topic_prefixes=None
            if principal.unscoped
            else [
                f"{PREFIX}/{scope.site}/{scope.line + '/' if scope.line else ''}"
                for scope in principal.scopes
            ],
        )
    return DeadLetterPageOut(
        dead_letters=[_out(letter) for letter in page.letters],
        next_before_id=page.next_before_id,
    )


def _out(letter: StoredDeadLetter) -> DeadLetterOut:
    try:
        text: str | None = letter.payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return DeadLetterOut(
        id=letter.id,
        received_at=letter.received_at,
        topic=letter.topic,
        reason=letter.reason,
        payload_size=letter.payload_size,
        payload_text=text,
        payload_base64=base64.b64encode(letter.payload).decode("ascii"),
        replayed_at=letter.replayed_at,
    )
