"""The page routes that belong to no one area: the live event list and the language switch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from linetrace.central.auth.guard import allow, public
from linetrace.central.auth.roles import Permission
from linetrace.central.web.i18n import LANGUAGE_COOKIE
from linetrace.central.web.render import gettext_for, render_page

__all__ = ["STATIC_DIR", "router", "safe_next", "static_files"]

STATIC_DIR = Path(__file__).with_name("static")
# A year: the choice of language outlives sessions; it holds no secret.
_LANGUAGE_COOKIE_AGE_S = 365 * 86_400

router = APIRouter(tags=["web"], include_in_schema=False)


def safe_next(target: str | None) -> str:
    """A path on this site to go on to, never another site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/live", response_class=HTMLResponse, dependencies=[allow(Permission.VIEW, page=True)])
def live(request: Request) -> HTMLResponse:
    _ = gettext_for(request)
    return render_page(request, "live.html", title=_("Live events"), scripts=["live.js"])


@router.get("/language/{language}", dependencies=[public()])
def choose_language(
    language: Annotated[str, PathParam(pattern="^(vi|en)$")],
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
) -> RedirectResponse:
    """Switch this browser's language (a signed-in person's choice is saved by the page)."""
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE, language, max_age=_LANGUAGE_COOKIE_AGE_S, samesite="lax", httponly=True
    )
    return response


def static_files() -> StaticFiles:
    """The pages' scripts and stylesheets, mounted at ``/static``."""
    return StaticFiles(directory=STATIC_DIR)
