"""``GET /api/traces/code/{code}`` and ``GET /api/traces/lot/{lot}``.

The code may be written in any form a label shows it, URL-encoded: the HRI text
(``%2801%29...``), the element string, a bare SSCC, a GS1 Digital Link URI (its ``/``
may stay as they are or be written ``%2F``), or the raw text of a code that is not GS1.
404 when nothing stored names it (or nothing within the caller's scope); 422 when it breaks its own GS1 form or names a
product or lot rather than one item (use the lot trace for those).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.roles import Permission
from linetrace.central.derive.codes import MAX_CODE_LENGTH, MalformedCode
from linetrace.central.query.code_trace import CodeNotFound, trace_code
from linetrace.central.query.lot_trace import LotNotFound, trace_lot
from linetrace.central.query.trace_limits import MAX_ITEMS_PAGE
from linetrace.central.query.trace_models import CodeTrace, LotTrace
from linetrace.central.query.trace_scope import code_trace_within, lot_trace_within
from linetrace.errors import InvalidCode
from linetrace.gs1 import gtin14

__all__ = ["router"]

router = APIRouter(prefix="/api/traces", tags=["traces"], dependencies=[allow(Permission.VIEW)])


@router.get("/code/{code:path}", response_model=CodeTrace, responses=responses(404, 422))
def get_code_trace(
    code: Annotated[str, Path(max_length=MAX_CODE_LENGTH, description="The code, URL-encoded.")],
    engine: EngineDep,
    principal: CurrentPrincipal,
) -> CodeTrace:
    try:
        with engine.connect() as connection:
            return code_trace_within(trace_code(connection, code), principal.sees)
    except MalformedCode as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except CodeNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("/lot/{lot}", response_model=LotTrace, responses=responses(404, 422))
def get_lot_trace(
    lot: Annotated[str, Path(min_length=1, max_length=20, description="The lot (AI 10).")],
    engine: EngineDep,
    principal: CurrentPrincipal,
    gtin: Annotated[
        str | None, Query(max_length=14, description="Only this product's lot (any GTIN form).")
    ] = None,
    items_after: Annotated[
        str | None, Query(max_length=40, description="next_after of the previous items page.")
    ] = None,
    items_limit: Annotated[
        int, Query(ge=1, le=MAX_ITEMS_PAGE, description="Most items listed in this page.")
    ] = 100,
) -> LotTrace:
    try:
        product = gtin14(gtin) if gtin is not None else None
    except InvalidCode as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    try:
        with engine.connect() as connection:
            trace = trace_lot(
                connection, lot, product, items_after=items_after, items_limit=items_limit
            )
        return lot_trace_within(trace, principal.sees)
    except LotNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
