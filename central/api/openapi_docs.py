"""Summaries, descriptions and examples for every operation of ``/openapi.json`` (and so
of ``/docs``), kept in ``openapi_examples.json`` beside the routers.

In: the description FastAPI builds from the routers. Out: the same description, with what
a router leaves out filled in from the file, keyed ``"METHOD /path"``: a ``summary`` (used
only where the router's is FastAPI's made-up title of the function name), a
``description`` (where the handler has no docstring), ``parameters`` examples,
a ``request`` body example and ``responses`` examples per status and media type. What a
router states itself (a docstring, ``summary=``, a model's ``examples``, ``responses=``)
always wins.

Why a file rather than the decorators: the examples of a lot report or a trace run to
dozens of lines each and would bury the handlers; JSON keeps them checkable as data.
``tests/central/api/test_docs_examples.py`` fails for an operation without a summary,
description or examples, for an example its own schema refuses, and for an entry naming
an operation that no longer exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI

__all__ = ["EXAMPLES_FILE", "auto_summary", "document", "fill", "operation_key"]

EXAMPLES_FILE = Path(__file__).with_name("openapi_examples.json")
_NON_WORD = re.compile(r"\W")  # as FastAPI's generate_unique_id
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

Json = dict[str, Any]


@cache
def _examples() -> Mapping[str, Json]:
    loaded: Mapping[str, Json] = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    return loaded


def operation_key(method: str, path: str) -> str:
    """The key of an operation in the examples file: ``"GET /api/events"``."""
    return f"{method.upper()} {path}"


def auto_summary(operation: Mapping[str, Any], path: str, method: str) -> str | None:
    """The summary FastAPI makes up from the function name (``get_one`` -> "Get One")."""
    suffix = f"{_NON_WORD.sub('_', path)}_{method}"
    operation_id = str(operation.get("operationId", ""))
    if not operation_id.endswith(suffix):
        return None
    return operation_id[: -len(suffix)].replace("_", " ").title()


def document(app: FastAPI) -> None:
    """Make ``app.openapi()`` fill in the summaries, descriptions and examples (once)."""
    build: Callable[[], Json] = app.openapi  # FastAPI's, cached in app.openapi_schema
    filled: list[Json] = []

    def openapi() -> Json:
        schema = build()
        if not filled or filled[0] is not schema:
            fill(schema, _examples())
            filled[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def fill(schema: Json, examples: Mapping[str, Json]) -> Json:
    """``schema`` with each operation completed from its entry in ``examples`` (in place)."""
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            entry = examples.get(operation_key(method, path))
            if method in _METHODS and entry is not None:
                _fill_operation(operation, path, method, entry)
    return schema


def _fill_operation(operation: Json, path: str, method: str, entry: Json) -> None:
    if "summary" in entry and operation.get("summary") in (
        None,
        auto_summary(operation, path, method),
    ):
        operation["summary"] = entry["summary"]
    if "description" in entry and not operation.get("description"):
        operation["description"] = entry["description"]
    wanted = entry.get("parameters", {})
    for parameter in operation.get("parameters", []):
        if parameter["name"] in wanted and not _has_example(parameter):
            parameter["example"] = wanted[parameter["name"]]
    if "request" in entry:
        for media in operation.get("requestBody", {}).get("content", {}).values():
            if not _has_example(media):
                media["example"] = entry["request"]
    for status, by_media in entry.get("responses", {}).items():
        response = operation.setdefault("responses", {}).setdefault(
            status, {"description": "Successful Response"}
        )
        content = response.setdefault("content", {})
        for media_type, example in by_media.items():
            media = content.setdefault(media_type, {})
            if not _has_example(media):
                media["example"] = example


def _has_example(holder: Mapping[str, Any]) -> bool:
    return "example" in holder or bool(holder.get("examples"))
