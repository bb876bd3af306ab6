"""``GET /docs``: FastAPI's Swagger UI page, under a Content-Security-Policy of its own.

Swagger UI comes from the ``swagger-ui-py`` package installed with central and is served
from ``/docs/static``, so the page works on a plant network with no way out. FastAPI starts
it with one inline script; the policy allows that one script by its hash and nothing else
inline. ``/openapi.json`` is the description tools read. Both need a signed-in person or
a token, like every other route but ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission

__all__ = ["OPENAPI_PATH", "STATIC_PATH", "router", "script_hashes", "static_files"]

router = APIRouter(include_in_schema=False)

OPENAPI_PATH = "/openapi.json"

STATIC_PATH = "/docs/static"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def script_hashes(html: bytes) -> list[str]:
    """CSP sources (``'sha256-…'``) of the page's inline scripts, exactly as written."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def static_files() -> StaticFiles:
    """Swagger UI's own files, from the installed package (never copied into this repository)."""
    return StaticFiles(directory=Path(str(importlib.resources.files("swagger_ui") / "static")))


@router.get(OPENAPI_PATH, dependencies=[allow(Permission.VIEW)])
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", dependencies=[allow(Permission.VIEW, page=True)])
def docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    static = f"{root}{STATIC_PATH}"
    page = get_swagger_ui_html(
        openapi_url=root + OPENAPI_PATH,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{static}/swagger-ui-bundle.js",
        swagger_css_url=f"{static}/swagger-ui.css",
        swagger_favicon_url=f"{static}/favicon-32x32.png",
    )
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {' '.join(script_hashes(bytes(page.body)))}",
            # Swagger UI sets style attributes as it renders; styles cannot run code.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    return HTMLResponse(page.body, headers={"Content-Security-Policy": policy})
