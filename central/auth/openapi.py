"""The refusals every guarded operation may answer, written into the OpenAPI description.

FastAPI documents what a route declares; the guard's 401 and 403 come from a dependency
and would go unlisted, so clients (and schemathesis) would meet undocumented statuses.
An operation with the bearer ``security`` requirement gets both.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

__all__ = ["document_refusals"]

_ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"detail": {"type": "string", "description": "What went wrong."}},
            "required": ["detail"],
        }
    }
}
_REFUSALS = {
    "401": {
        "description": "No session or bearer token, or an unknown, revoked or expired one.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        "content": _ERROR,
    },
    "403": {
        "description": "The role may not do this, the line is outside the caller's scope, "
        "or a page's change came without its CSRF token.",
        "content": _ERROR,
    },
}


def document_refusals(app: FastAPI) -> None:
    """Make ``app.openapi()`` list 401 and 403 on every operation that needs a token."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                if isinstance(operation, dict) and operation.get("security"):
                    for code, answer in _REFUSALS.items():
                        operation.setdefault("responses", {}).setdefault(code, answer)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
