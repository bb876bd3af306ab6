"""Refuse state-changing requests that a page of another site makes through a browser.

A page anywhere may POST to ``http://127.0.0.1:8080`` from the central host's browser
(a form, or ``fetch`` in ``no-cors`` mode) without any DNS trick, and the API has no
login yet: closing a batch or retrying the relay would work from any web page. Browsers
say where a request comes from, so POST, PUT, PATCH and DELETE are refused (403) when
``Sec-Fetch-Site`` names another site, or, from a browser that does not send it, when
``Origin`` is not this API's own. Tools (curl, the CLI, scripts) send neither and pass.
This is the check Go's ``net/http.CrossOriginProtection`` makes, with no tokens to keep.

An origin listed in ``api.cors_origins`` passes when the request carries an
``Authorization`` header: an integration's page authenticates with a bearer token, which
another site's page cannot hold, while a request riding on a session cookie is refused
whatever its origin.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CrossOriginGuard"]

log = logging.getLogger(__name__)

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# "none": typed in the address bar or opened from a bookmark, not made by a page.
_OWN_FETCH_SITES = {"same-origin", "none"}


def _cross_origin(scope: Scope, trusted: frozenset[str]) -> str | None:
    """Why the request comes from another site, or None if it does not."""
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    if origin is not None and origin.lower() in trusted and "authorization" in headers:
        return None
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return None if fetch_site in _OWN_FETCH_SITES else f"Sec-Fetch-Site: {fetch_site}"
    if origin is None:
        return None
    if urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
        return f"Origin: {origin[:100]}"
    return None


class CrossOriginGuard:
    """Answer 403 to an unsafe method sent by a page of another origin."""

    def __init__(self, app: ASGIApp, trusted_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.trusted = frozenset(origin.lower() for origin in trusted_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            reason = _cross_origin(scope, self.trusted)
            if reason is not None:
                log.warning(
                    "refused a cross-origin %s %s (%s)", scope["method"], scope["path"], reason
                )
                refusal = JSONResponse(
                    {
                        "detail": "cross-origin request refused: another site's page cannot "
                        "change anything here"
                    },
                    status_code=403,
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
