"""The API's error answers: their documented bodies, and the handlers that keep them so.

Every 4xx body is ``{"detail": ...}``. A 422 names what is wrong either as one sentence
(a rule the routes check themselves: a GTIN's check digit, a station id's form) or as
FastAPI's list of failed parameters. :func:`responses` puts those shapes in each route's
OpenAPI entry (400 on every route with a body: FastAPI's answer to one it cannot read); the handlers make two answers match what HTTP and the document promise:

- a request validation error echoes the offending input, which may hold a lone surrogate
  that UTF-8 cannot encode: the answer escapes it instead of failing with a 500;
- a 405 lists in ``Allow`` every method the path serves (Starlette names only those of
  the first route that matched the path).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

__all__ = ["EXCEPTION_HANDLERS", "ErrorOut", "ValidationErrorOut", "responses"]


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in words.")


class ValidationIssue(BaseModel):
    model_config = ConfigDict(extra="allow")

    loc: list[str | int] = Field(description="Where: body, query or path, then the name.")
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="The kind of error.")


class ValidationErrorOut(BaseModel):
    detail: str | list[ValidationIssue] = Field(
        description="A sentence, or the parameters that failed validation."
    )


_DESCRIPTIONS = {
    400: "Malformed request (an unreadable body, a cursor this service did not hand out).",
    404: "Not found.",
    409: "Conflicts with the current state.",
    422: "Invalid input.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of these error statuses (list 422 on every route that
    takes a parameter or a body: FastAPI's own 422 entry knows only the list form)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        model = ValidationErrorOut if code == 422 else ErrorOut
        documented[code] = {"model": model, "description": _DESCRIPTIONS[code]}
    return documented


class _EscapedJSON(JSONResponse):
    """JSON whose text escapes every non-ASCII character, lone surrogates included."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    return _EscapedJSON({"detail": jsonable_encoder(exc.errors())}, status_code=422)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    response = await http_exception_handler(request, exc)
    if exc.status_code == 405:
        allowed = [method for method in _METHODS if _served(request, method)]
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
    return response


def _served(request: Request, method: str) -> bool:
    """Whether a route of the app fully matches this request's path with ``method``."""
    scope = {**request.scope, "method": method}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request, Any], Awaitable[Response]]] = {
    RequestValidationError: _validation_error,
    StarletteHTTPException: _http_error,
}
