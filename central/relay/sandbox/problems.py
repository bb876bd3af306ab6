"""RFC 7807 problem answers in the words EPCIS 2.0 uses (``epcisException:...``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

__all__ = ["PROBLEM_TYPES", "event_problem", "problem"]

PROBLEM_TYPES = {
    400: "epcisException:ValidationException",
    401: "epcisException:SecurityException",
    404: "epcisException:NoSuchResourceException",
    409: "epcisException:ResourceAlreadyExistsException",
    413: "epcisException:CaptureLimitExceededException",
    415: "epcisException:UnsupportedMediaType",
}
_TITLES = {
    400: "Invalid EPCIS document",
    401: "Not authorised",
    404: "No such resource",
    409: "Event already exists",
    413: "Capture limit exceeded",
    415: "Unsupported media type",
}


def problem(
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An ``application/problem+json`` answer; ``extra`` adds members (e.g. ``errors``)."""
    body = {
        "type": PROBLEM_TYPES.get(status, "about:blank"),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status, headers=headers, media_type="application/problem+json")


def event_problem(status: int, detail: str, sequence: int, event_id: object) -> dict[str, Any]:
    """One event's problem in a capture job's ``errors``.

    ``sequenceInEPCISDoc`` is a list of 1-based positions in the document's eventList, as
    OpenEPCIS reports it (one problem may name several events); ``eventID`` is added
    where the event carries one, so a client can match either way.
    """
    entry: dict[str, Any] = {
        "type": PROBLEM_TYPES.get(status, "about:blank"),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "sequenceInEPCISDoc": [sequence],
    }
    if isinstance(event_id, str):
        entry["eventID"] = event_id
    return entry
