"""``GET /search``: the auditors' event search, and ``GET /trace?code=...``: one code's trace.

The search page is a form and an empty table: its script reads ``/api/events`` (the same
filters, order, pages and total as the API, so page and API never disagree) and keeps the
filters in the address, so a search can be bookmarked or sent. The trace page is rendered
on the server from the code trace query (it prints without its script): the lot, the
containers up and down, every station and time in the site's zone with its offset, and
one step back (the lot, what it holds) and one step forward (what holds it) as links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission
from linetrace.central.derive.codes import MAX_CODE_LENGTH, MalformedCode
from linetrace.central.query.code_trace import CodeNotFound, trace_code
from linetrace.central.query.trace_models import CodeTrace, ContentNode
from linetrace.central.query.trace_scope import code_trace_within
from linetrace.central.web.formats import format_time
from linetrace.central.web.i18n import choose_language
from linetrace.central.web.render import gettext_for, render_page

__all__ = ["router"]

router = APIRouter(tags=["web"], include_in_schema=False)

# Contents listed on the page, level by level: a pallet's thousand items are its cases'.
_CONTENTS_SHOWN = 200


@router.get(
    "/search", response_class=HTMLResponse, dependencies=[allow(Permission.VIEW, page=True)]
)
def search_page(request: Request) -> HTMLResponse:
    """The form and the results table; the script fills both from the address."""
    _ = gettext_for(request)
    return render_page(
        request, "search.html", title=_("Search events"), scripts=["search.js"],
        styles=["search.css"],
    )  # fmt: skip


@dataclass(frozen=True)
class _Row:
    """One line of the trace page's station table, its time already written out."""

    station: str
    kind: str
    role: str
    when: str
    event_id: str


@router.get("/trace", response_class=HTMLResponse, dependencies=[allow(Permission.VIEW, page=True)])
def trace_page(
    request: Request,
    code: Annotated[str | None, Query(max_length=MAX_CODE_LENGTH)] = None,
) -> HTMLResponse:
    """The trace of ``code`` (any form a label shows), or the form alone without one."""
    _ = gettext_for(request)
    code = (code or "").strip() or None
    context: dict[str, Any] = {"code": code or "", "trace": None, "problem": None}
    status_code = 200
    if code is not None:
        try:
            with request.app.state.engine.connect() as connection:
                trace = code_trace_within(
                    trace_code(connection, code), request.state.principal.sees
                )
            context.update(_trace_context(request, trace))
        except MalformedCode as exc:
            context["problem"], status_code = _("This is not a valid code: {reason}"), 422
            context["reason"] = str(exc)
        except CodeNotFound:
            context["problem"], status_code = _("Nothing stored names this code."), 404
            context["reason"] = ""
    title = _("Trace") if code is None else _("Trace of {code}").replace("{code}", code)
    return render_page(
        request, "trace.html", title=title, styles=["trace.css"], status_code=status_code,
        site=context.get("trace_site"), **context,
    )  # fmt: skip


def _trace_context(request: Request, trace: CodeTrace) -> dict[str, Any]:
    settings = request.app.state.settings
    site = trace.sightings[0].station.split("/", 1)[0] if trace.sightings else None
    language = choose_language(request, settings, site)

    def when(moment: Any, station: str | None = None) -> str:
        where = station.split("/", 1)[0] if station else site
        return format_time(moment, settings=settings, language=language, site=where)

    rows = [
        _Row(s.station, s.kind, s.role, when(s.observed_at, s.station), str(s.event_id))
        for s in trace.sightings
    ]
    forward = trace.containers[0] if trace.containers else None
    back = [node.code for node in trace.contents[:_CONTENTS_SHOWN]]
    return {
        "trace": trace,
        "trace_site": site,
        "rows": rows,
        "when": when,
        "forward": forward,
        "back": back,
        "back_more": max(0, len(trace.contents) - _CONTENTS_SHOWN),
        "contents": _flatten(trace.contents),
        # The lot report is the auditors' (AUDIT); others see the lot without the link.
        "lot_link": f"/lots/{trace.gtin}/{trace.lot}"
        if trace.gtin and trace.lot and request.state.principal.may(Permission.AUDIT)
        else None,
    }


def _flatten(nodes: list[ContentNode], depth: int = 0) -> list[tuple[int, ContentNode]]:
    """The contents tree as (depth, node) lines, cut at a few hundred lines for the page."""
    lines: list[tuple[int, ContentNode]] = []
    stack = [(depth, node) for node in reversed(nodes)]
    while stack and len(lines) < _CONTENTS_SHOWN:
        level, node = stack.pop()
        lines.append((level, node))
        stack.extend((level + 1, child) for child in reversed(node.contents))
    return lines
