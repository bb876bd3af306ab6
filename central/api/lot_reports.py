"""``GET /api/lots/{gtin}/{lot}/report``, ``.../export.csv`` and ``.../export.jsonld``:
an auditor's proof of one lot, and its events for an inspector.

The report is :func:`~linetrace.central.query.lot_report.lot_report`. The downloads are
the CLI's ``central export`` formats (:mod:`linetrace.central.relay.epcis.lot_export`),
streamed a page of events at a time, so a lot of a million events is never held in
memory. The first chunk is produced before the answer starts: a lot with no events is a
404 then, not a 200 cut short. A principal scoped to sites or lines gets only the events
of those. Each download is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Connection, Engine

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.audit import actor_of, record
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.principal import Principal
from linetrace.central.auth.roles import Permission
from linetrace.central.query.lot_report import LotNotFound, lot_report
from linetrace.central.query.lot_report_models import LotReport
from linetrace.central.relay.epcis.lot_export import LotHasNoEvents, csv_chunks, epcis_chunks
from linetrace.central.store.tables import events
from linetrace.errors import InvalidCode
from linetrace.gs1 import gtin14, valid_lot

__all__ = ["router"]

router = APIRouter(prefix="/api/lots", tags=["lots"], dependencies=[allow(Permission.AUDIT)])

GtinPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=14,
        description="GTIN (any GS1 length).",
        examples=["08938500000010"],
    ),
]
LotPath = Annotated[
    str, Path(min_length=1, max_length=20, description="The lot (AI 10).", examples=["L2611"])
]
_CSV = "text/csv; charset=utf-8"
_JSONLD = "application/ld+json"


def lot_key(gtin: str, lot: str) -> tuple[str, str]:
    """(GTIN-14, lot) checked, or a 422 naming what is wrong."""
    try:
        return gtin14(gtin), valid_lot(lot)
    except InvalidCode as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.get(
    "/{gtin}/{lot}/report",
    response_model=LotReport,
    summary="A lot's counts, completeness, mismatches, relay status and Circular 02/2024 elements",
    responses=responses(404, 422),
)
def get_lot_report(
    gtin: GtinPath, lot: LotPath, engine: EngineDep, principal: CurrentPrincipal
) -> LotReport:
    key = lot_key(gtin, lot)
    try:
        with engine.connect() as connection:
            report = lot_report(connection, *key, datetime.now(UTC))
    except LotNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return _within_scope(report, principal)


def _within_scope(report: LotReport, principal: Principal) -> LotReport:
    """Only the stations a scoped principal may see."""
    if principal.unscoped:
        return report

    def seen(station: str) -> bool:
        site, line, _ = station.split("/", 2)
        return principal.sees(site, line)

    return report.model_copy(
        update={
            "counts": [c for c in report.counts if seen(c.station)],
            "completeness": [c for c in report.completeness if seen(c.station)],
            "mismatch_counts": [m for m in report.mismatch_counts if seen(m.station)],
            "mismatches": [m for m in report.mismatches if seen(m.station)],
            "batches": [b for b in report.batches if principal.sees(*b.site_line)],
        }
    )


@router.get(
    "/{gtin}/{lot}/export.csv",
    summary="The lot's events as CSV, one row per event (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **responses(404, 422)},
)
def get_lot_csv(
    gtin: GtinPath, lot: LotPath, engine: EngineDep, request: Request, principal: CurrentPrincipal
) -> StreamingResponse:
    key = lot_key(gtin, lot)
    scope = principal.where(events.c.site, events.c.line)
    chunks = _streamed(engine, lambda c: csv_chunks(c, *key, where=scope))
    _audit(engine, request, key, "csv")
    return StreamingResponse(chunks, media_type=_CSV, headers=_attachment(key, "csv"))


@router.get(
    "/{gtin}/{lot}/export.jsonld",
    summary="The lot's events as one GS1 EPCIS 2.0 JSON-LD document (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {_JSONLD: {}}}, **responses(404, 422)},
)
def get_lot_jsonld(
    gtin: GtinPath, lot: LotPath, engine: EngineDep, request: Request, principal: CurrentPrincipal
) -> StreamingResponse:
    key = lot_key(gtin, lot)
    scope = principal.where(events.c.site, events.c.line)
    created = datetime.now(UTC)
    chunks = _streamed(engine, lambda c: epcis_chunks(c, *key, created=created, where=scope))
    _audit(engine, request, key, "epcis")
    return StreamingResponse(chunks, media_type=_JSONLD, headers=_attachment(key, "jsonld"))


def _streamed(engine: Engine, produce: Callable[[Connection], Iterator[bytes]]) -> Iterator[bytes]:
    """The chunks, with the first one made now (a lot with no events: 404 before 200)."""
    connection = engine.connect()
    try:
        chunks: Iterator[bytes] = produce(connection)
        first = next(chunks)
    except (LotHasNoEvents, StopIteration) as exc:
        connection.close()
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc) or "no events") from None
    except BaseException:
        connection.close()
        raise

    def rest() -> Iterator[bytes]:
        try:
            yield first
            yield from chunks
        finally:
            connection.close()

    return rest()


def _audit(engine: Engine, request: Request, key: tuple[str, str], fmt: str) -> None:
    with engine.begin() as connection:
        record(
            connection,
            actor=actor_of(request),
            action="lot.export",
            target=f"lot:{key[0]}/{key[1]}",
            details={"format": fmt},
        )


def _attachment(key: tuple[str, str], extension: str) -> dict[str, str]:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in key[1])
    return {"Content-Disposition": f'attachment; filename="lot-{key[0]}-{safe}.{extension}"'}
