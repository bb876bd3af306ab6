"""The FastAPI application with the host check, the cross-origin check and the security
headers outermost.

Outside FastAPI's own middleware, so that even its last-resort 500 answer carries the
headers, and a request for a host not served, or a change asked by another site's page,
is refused before anything else runs.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from linetrace.central.api.headers import SecurityHeaders
from linetrace.central.api.hosts import HostGuard
from linetrace.central.api.origins import CrossOriginGuard

__all__ = ["GuardedApp"]


class GuardedApp(FastAPI):
    """:class:`FastAPI` behind :class:`HostGuard`, :class:`CrossOriginGuard` and
    :class:`SecurityHeaders`."""

    def __init__(self, *, allowed_hosts: list[str], **kwargs: Any) -> None:
        self.allowed_hosts = allowed_hosts
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        app = CrossOriginGuard(super().build_middleware_stack())
        return SecurityHeaders(HostGuard(app, self.allowed_hosts))
