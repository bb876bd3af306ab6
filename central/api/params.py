"""What every route takes the same way: row ids in the range the database holds, times
written as RFC 3339 text, and text the database can store.

Ids are SQL ``BIGINT`` (signed 64 bits): a larger number in a path or a query is refused
with a 422 here, where it would otherwise overflow the driver. Text is refused when it
holds NUL (PostgreSQL cannot store U+0000 in text) or a lone surrogate (UTF-8 cannot
encode one, so neither database can store it and no JSON answer can carry it back): one
app-wide dependency checks every declared query and path parameter and every string of
a JSON body, keys included, so no route can forget it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BeforeValidator

__all__ = ["MAX_ID", "DateTimeText", "RowId", "refuse_unstorable_text", "storable"]

# The largest SQL BIGINT: every id column's type on both databases.
MAX_ID = 2**63 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="The id, as the API gave it.")]

# RFC 3339's date and time, the start of what the document's ``format: date-time`` says:
# without it, pydantic would also read a bare number as a Unix time.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_time_text(value: object) -> object:
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("expected an RFC 3339 datetime, e.g. 2025-03-01T08:00:00+07:00")
    return value


DateTimeText = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]

_UNSTORABLE = "text must not hold NUL (U+0000) or a lone surrogate"


def storable(text: str) -> bool:
    """True when both databases can store ``text`` and a JSON answer can carry it."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def refuse_unstorable_text(request: Request) -> None:
    """422 when a declared parameter or a JSON body string cannot be stored (see above)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    errors: list[dict[str, Any]] = [
        _error(("query", param.alias))
        for param in route.dependant.query_params  # the route's own; its dependencies have none
        if not all(storable(value) for value in request.query_params.getlist(param.alias))
    ]
    errors.extend(
        _error(("path", name))
        for name, value in request.path_params.items()
        if isinstance(value, str) and not storable(value)
    )
    if route.body_field is not None:
        try:
            document = await request.json()
        except (ValueError, RecursionError):
            document = None  # not JSON: the body's own validation refuses it
        errors.extend(_error(("body", *loc)) for loc in _unstorable(document))
    if errors:
        raise RequestValidationError(errors)


def _error(loc: tuple[str | int, ...]) -> dict[str, Any]:
    return {"type": "value_error", "loc": loc, "msg": _UNSTORABLE}


def _unstorable(document: Any) -> Iterator[tuple[str | int, ...]]:
    """Where ``document`` (parsed JSON) holds unstorable text; iterative, any depth."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str) and not storable(value):
            yield loc
        elif isinstance(value, dict):
            for key, item in value.items():
                if not storable(key):
                    yield (*loc, _printable(key))
                else:
                    stack.append(((*loc, key), item))
        elif isinstance(value, list):
            stack.extend(((*loc, index), item) for index, item in enumerate(value))


def _printable(key: str) -> str:
    return key.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
