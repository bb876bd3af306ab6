"""``GET /api/relay`` and ``POST /api/relay/retry``: what the relay has delivered, and a
resend of what the targets rejected once the cause is fixed.

The status shows, per target, the queued / sent / accepted / rejected counts (overall
and per lot), the oldest event not yet delivered and its age, and the target's health
(breaker state, last error, last success) as the relay worker last recorded it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.audit import actor_of, record
from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission
from linetrace.central.relay.queue import retry_rejected
from linetrace.central.relay.status import parse_lot, relay_status

__all__ = ["RetryOut", "router"]

router = APIRouter(prefix="/api/relay", tags=["relay"])


class RetryOut(BaseModel):
    queued: int = Field(description="Rejected events queued again.")


@router.get(
    "",
    summary="Delivery counts per target and lot, and the targets' health",
    responses=responses(422),
    dependencies=[allow(Permission.VIEW)],
)
def get_relay(
    engine: EngineDep,
    lot: Annotated[str | None, Query(description="GTIN/LOT or LOT: only this lot")] = None,
) -> dict[str, Any]:
    gtin, lot_code = parse_lot(lot) if lot else (None, None)
    with engine.connect() as connection:
        return relay_status(connection, datetime.now(UTC), lot=lot_code, gtin=gtin)


@router.post(
    "/retry",
    summary="Send again what the targets rejected: one target (or lot), or all",
    responses=responses(422),
    dependencies=[allow(Permission.OPERATE)],
)
def post_retry(
    engine: EngineDep,
    request: Request,
    target: Annotated[str | None, Query(description="only this target")] = None,
    lot: Annotated[str | None, Query(description="GTIN/LOT or LOT: only this lot")] = None,
) -> RetryOut:
    gtin, lot_code = parse_lot(lot) if lot else (None, None)
    with engine.begin() as connection:
        count = retry_rejected(
            connection, datetime.now(UTC), target=target, lot=lot_code, gtin=gtin
        )
        record(
            connection,
            actor=actor_of(request),
            action="relay.retry",
            target=f"relay/{target or '*'}",
            details={"lot": lot_code, "gtin": gtin, "queued": count},
        )
    return RetryOut(queued=count)
