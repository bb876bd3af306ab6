"""``GET /lots/{gtin}/{lot}``: the lot report page (printable, with its downloads), and
``GET /relay``: the relay monitor.

The lot page renders the report on the server (it prints without its script, and the
figures are the API's own: :func:`~linetrace.central.query.lot_report.lot_report`); its
script only formats times in the site's zone. The relay page reads ``/api/relay`` and
posts ``/api/relay/retry``, so page and API agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse

from linetrace.central.api.lot_reports import lot_key
from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission
from linetrace.central.query.lot_report import LotNotFound, lot_report
from linetrace.central.web.render import gettext_for, render_page

__all__ = ["router"]

router = APIRouter(tags=["web"], include_in_schema=False)


@router.get(
    "/lots/{gtin}/{lot}",
    response_class=HTMLResponse,
    dependencies=[allow(Permission.AUDIT, page=True)],
)
def lot_page(
    request: Request,
    gtin: Annotated[str, Path(min_length=1, max_length=14)],
    lot: Annotated[str, Path(min_length=1, max_length=20)],
) -> HTMLResponse:
    """The report of one lot: counts, completeness, relay, the Circular's elements."""
    _ = gettext_for(request)
    key = lot_key(gtin, lot)
    now = datetime.now(UTC)
    try:
        with request.app.state.engine.connect() as connection:
            report = lot_report(connection, *key, now)
    except LotNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    principal = request.state.principal
    site = report.counts[0].station.split("/", 1)[0] if report.counts else None
    visible = [c for c in report.counts if principal.sees(*c.station.split("/")[:2])]
    return render_page(
        request,
        "lot.html",
        title=_("Lot report"),
        scripts=["lot.js"],
        styles=["lot.css"],
        site=site,
        report=report.model_copy(update={"counts": visible}),
        report_site=site,
        base=f"/api/lots/{key[0]}/{key[1]}",
    )


@router.get("/relay", response_class=HTMLResponse, dependencies=[allow(Permission.VIEW, page=True)])
def relay_page(request: Request) -> HTMLResponse:
    """Per target: queued, sent, accepted, rejected, the oldest undelivered; retry."""
    _ = gettext_for(request)
    return render_page(
        request,
        "relay.html",
        title=_("Relay monitor"),
        scripts=["relay.js"],
        styles=["relay.css"],
        may_operate=request.state.principal.may(Permission.OPERATE),
    )
