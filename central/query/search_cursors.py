"""The search's orders and its cursors: where a page ended or began, in one opaque token.

A cursor holds the sort key of a row (time and event id, or station, seq and event id),
the order and direction it belongs to, and which way it points (the rows after it, or
before it for the previous page). One from another order is refused rather than read
wrongly: the keys would not compare.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from linetrace.central.query.events import CursorError

__all__ = ["Direction", "Order", "Way", "decode_cursor", "encode_cursor", "sort_key"]


class Order(StrEnum):
    """What the rows are sorted by; seq orders per station (a seq means nothing across)."""

    TIME = "time"
    SEQ = "seq"


class Direction(StrEnum):
    ASC = "asc"
    DESC = "desc"


Way = Literal["after", "before"]


def sort_key(row: Any, order: Order) -> list[Any]:
    """The sort key of a result row in ``order``: what a cursor holds."""
    if order is Order.SEQ:
        return [row["site"], row["line"], row["station"], row["seq"], row["event_id"]]
    return [row["observed_at"], row["event_id"]]


def encode_cursor(order: Order, direction: Direction, way: Way, key: list[Any]) -> str:
    """A cursor to the rows ``way`` of ``key`` in this order (opaque to the caller)."""
    values = [
        value.isoformat()
        if isinstance(value, datetime)
        else value.hex
        if isinstance(value, UUID)
        else value
        for value in key
    ]
    raw = json.dumps(
        {"o": order.value, "d": direction.value, "w": way, "k": values},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, order: Order, direction: Direction) -> tuple[Way, list[Any]]:
    """Which way and from which key; :class:`CursorError` if not one handed out here."""
    refused = CursorError(f"cursor {token[:80]!r} is not one this service handed out")
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise refused from None
    if not isinstance(raw, dict) or raw.get("w") not in ("after", "before"):
        raise refused
    if raw.get("o") != order.value or raw.get("d") != direction.value:
        raise CursorError("cursor belongs to another order: start again from the first page")
    try:
        values = _key_values(raw.get("k"), order)
    except (ValueError, TypeError):
        raise refused from None
    way: Way = "after" if raw["w"] == "after" else "before"
    return way, values


def _key_values(values: object, order: Order) -> list[Any]:
    """The typed sort key of a decoded cursor; ValueError or TypeError when it is not one."""
    if not isinstance(values, list):
        raise TypeError("not a list")
    if order is Order.TIME:
        when, event_id = values
        observed_at = datetime.fromisoformat(when)
        if observed_at.tzinfo is None:
            raise ValueError("naive time")
        return [observed_at, UUID(hex=event_id)]
    site, line, station, seq, event_id = values
    if not all(isinstance(part, str) for part in (site, line, station)) or type(seq) is not int:
        raise TypeError("bad key")
    return [site, line, station, seq, UUID(hex=event_id)]
