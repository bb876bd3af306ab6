"""The sandbox's ASGI app: a profile's routes behind fault injection, plus ``/_sandbox``.

Control endpoints (never faulted, never behind the profile's auth; the sandbox binds to
127.0.0.1 by default):

- ``GET /_sandbox/stats``: requests, documents, events accepted, duplicates seen,
  rejections by reason, answers by status, faults injected, the plan in force, the
  profile's limits and figures, and ``schema`` (the schema file, or null: envelope only).
- ``POST /_sandbox/faults``: change the fault plan (JSON, the keys of
  :class:`~linetrace.central.relay.sandbox.faults.FaultPlan`; ``{"reset": true}`` clears
  it, ``{"expire_tokens": true}`` voids every token issued so far); answers the plan.
- ``POST /_sandbox/reset``: forget what was accepted and zero the counters.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linetrace.central.relay.sandbox.faults import InvalidFaults
from linetrace.central.relay.sandbox.profiles import Profile
from linetrace.central.relay.sandbox.state import SandboxState
from linetrace.errors import LinetraceError

__all__ = ["CONTROL_PREFIX", "AnswerCut", "build_app"]

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_sandbox"


class AnswerCut(LinetraceError):
    """Raised after the answer's head is sent: uvicorn then closes the connection mid-answer."""


class _QuietCuts(logging.Filter):
    """Keeps uvicorn from logging a traceback for each connection the sandbox cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, AnswerCut)


def quiet_cuts() -> None:
    """Install the filter on uvicorn's error logger (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietCuts) for f in logger.filters):
        logger.addFilter(_QuietCuts())


class FaultInjection:
    """Pure ASGI middleware: count every answer, apply the fault plan to non-control paths."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        decision = self.state.faults.decide(length)
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        stats = self.state.stats
        if decision.action == "answer":
            stats.answered(decision.status, decision.kind)
            if decision.status == 413:
                stats.reject("too_large")
            await Response(status_code=decision.status, headers=decision.headers)(
                scope, receive, send
            )
            return
        if decision.action == "drop":
            stats.answered(0, decision.kind)
            await _drain(receive)
            await _cut(send)
        status = 0

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            if decision.action != "lose":
                await send(message)

        await self.app(scope, receive, counted)
        stats.answered(status, decision.kind)
        if decision.action == "lose":
            await _cut(send)


async def _cut(send: Send) -> None:
    # The head promises a body that never comes: the client sees the connection closed
    # mid-answer (httpx: RemoteProtocolError), a transport failure, not an HTTP status.
    await send(
        {"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"64")]}
    )
    raise AnswerCut


async def _drain(receive: Receive) -> None:
    """Read the request body to its end: a socket closed with unread bytes in it is reset
    (the client sees ECONNRESET, or not, by the timing of its upload) where one closed
    after them ends as :func:`_cut` says, every time."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def build_app(state: SandboxState, profile: Profile) -> Starlette:
    """The profile's routes behind :class:`FaultInjection`, with the control endpoints."""
    quiet_cuts()

    async def stats(request: Request) -> Response:
        body: dict[str, Any] = {
            "profile": profile.name,
            "schema": state.validator.source,
            "validator": state.validator.engine,
            **state.stats.snapshot(),
            "limits": profile.limits(),
            "faults": state.faults.plan.as_dict(),
            "down": state.faults.is_down(),
            **profile.stats(),
        }
        return JSONResponse(body)

    async def faults(request: Request) -> Response:
        try:
            values = json.loads(await request.body() or b"{}")
            if not isinstance(values, dict):
                raise InvalidFaults("the fault plan is a JSON object")
            plan = state.faults.update(values)
        except (ValueError, InvalidFaults) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        log.info("sandbox faults now %s", plan.as_dict())
        return JSONResponse(plan.as_dict())

    async def reset(request: Request) -> Response:
        profile.reset()
        state.stats.reset()
        return JSONResponse({"reset": True})

    control = [
        Route(f"{CONTROL_PREFIX}/stats", stats, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/faults", faults, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/reset", reset, methods=["POST"]),
    ]
    app = Starlette(routes=[*control, *profile.routes()])
    app.add_middleware(FaultInjection, state=state)
    return app
