"""``GET /``: the operators' live dashboard page (its figures come from ``/api/dashboard``,
its live events from ``/api/stream``, both read by ``static/dashboard.js``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission
from linetrace.central.web.render import gettext_for, render_page

__all__ = ["router"]

router = APIRouter(tags=["web"], include_in_schema=False)


@router.get("/", response_class=HTMLResponse, dependencies=[allow(Permission.VIEW, page=True)])
def dashboard_page(request: Request) -> HTMLResponse:
    _ = gettext_for(request)
    principal = getattr(request.state, "principal", None)
    may_operate = principal is not None and principal.may(Permission.OPERATE)
    return render_page(
        request,
        "dashboard.html",
        title=_("Line dashboard"),
        scripts=["dashboard.js"],
        styles=["dashboard.css"],
        may_operate=may_operate,
    )
