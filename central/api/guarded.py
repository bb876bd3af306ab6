"""The FastAPI application with the host check, CORS (closed unless ``api.cors_origins``
lists origins), the cross-origin check and the security headers outermost.

Outside FastAPI's own middleware, so that even its last-resort 500 answer carries the
headers, and a request for a host not served, or a change asked by another site's page,
is refused before anything else runs.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from linetrace.central.api.headers import SecurityHeaders
from linetrace.central.api.hosts import HostGuard
from linetrace.central.api.origins import CrossOriginGuard

__all__ = ["GuardedApp"]


class GuardedApp(FastAPI):
    """:class:`FastAPI` behind :class:`HostGuard`, :class:`CrossOriginGuard` and
    :class:`SecurityHeaders`."""

    def __init__(
        self, *, allowed_hosts: list[str], cors_origins: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        self.allowed_hosts = allowed_hosts
        self.cors_origins = cors_origins
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = CrossOriginGuard(super().build_middleware_stack(), self.cors_origins)
        if self.cors_origins:
            # Only what an integration's page needs: a bearer token, JSON, no cookies.
            app = CORSMiddleware(
                app,
                allow_origins=list(self.cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type"],
                allow_credentials=False,
                max_age=600,
            )
        return SecurityHeaders(HostGuard(app, self.allowed_hosts))
