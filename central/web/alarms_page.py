"""``GET /alarms``: the alarms page. Its script reads ``/api/alarms`` (and, for an admin,
``/api/alarm-rules``), so the page and the API show the same alarms and thresholds."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission
from linetrace.central.web.render import gettext_for, render_page

__all__ = ["router"]

router = APIRouter(tags=["web"], include_in_schema=False)


@router.get(
    "/alarms", response_class=HTMLResponse, dependencies=[allow(Permission.VIEW, page=True)]
)
def alarms_page(request: Request) -> HTMLResponse:
    """Open alarms first, the cleared history, and the thresholds editor for admins."""
    _ = gettext_for(request)
    principal = request.state.principal
    return render_page(
        request,
        "alarms.html",
        title=_("Alarms"),
        scripts=["alarms.js"],
        styles=["alarms.css"],
        may_operate=principal.may(Permission.OPERATE),
        may_administer=principal.may(Permission.ADMINISTER),
    )
