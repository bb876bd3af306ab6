"""``GET /api/portal/check?lot=GTIN/LOT``: does a lot carry the 10 minimum elements of
Circular 02/2024/TT-BKHCN that the national portal needs, and where each comes from.

Answers 200 whether or not the lot is complete (``complete`` and ``missing_required``
say), 404 for a lot central knows nothing of, 422 for a malformed key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission
from linetrace.central.relay.portal_check import (
    ElementStatus,
    LotNotFound,
    check_lot,
    parse_lot_key,
    traceability_code,
)
from linetrace.errors import InvalidCode

__all__ = ["PortalCheck", "router"]

router = APIRouter(prefix="/api/portal", tags=["portal"], dependencies=[allow(Permission.AUDIT)])


class PortalCheck(BaseModel):
    gtin: str = Field(description="GTIN-14 of the lot's product.")
    lot: str = Field(description="The lot (GS1 AI 10).")
    traceability_code: str = Field(description="(01) GTIN-14 (10) lot.")
    complete: bool = Field(description="True when no required element is missing.")
    missing_required: list[str] = Field(description="The required elements missing, and why.")
    elements: list[ElementStatus] = Field(description="The 10 elements, in the Circular's order.")


@router.get("/check", response_model=PortalCheck, responses=responses(404, 422))
def check(
    engine: EngineDep,
    lot: Annotated[str, Query(max_length=40, description="GTIN/LOT, e.g. 08938500000010/L2611.")],
) -> PortalCheck:
    try:
        gtin, lot_number = parse_lot_key(lot)
    except InvalidCode as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    try:
        with engine.connect() as connection:
            found = check_lot(connection, gtin, lot_number)
    except LotNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return PortalCheck(
        gtin=gtin,
        lot=lot_number,
        traceability_code=traceability_code(gtin, lot_number),
        complete=found.complete,
        missing_required=found.missing_required,
        elements=found.elements,
    )
