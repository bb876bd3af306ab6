"""Admitting one received message as a scan event, or refusing it with a reason.

The contract's own checks (``parse_event``) come first; central adds what only it can
see: the topic the message came on must be the events topic of the station the event
names, since the broker's ACL vouches for the topic and nothing vouches for the payload;
and every value must fit the store, so that one odd event is refused alone with a clear
reason instead of failing the batch it travels in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from linetrace.broker.events import ContractError, ScanEvent, parse_event
from linetrace.broker.topics import Channel, TopicError, parse_topic

__all__ = ["Accepted", "accept"]

# Column limits: seq is a BIGINT and frames an INTEGER on every backend.
_MAX_SEQ = 2**63 - 1
_MAX_FRAMES = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid event and its payload as sent (additive fields included)."""

    event: ScanEvent
    document: dict[str, Any]


def accept(topic: str, payload: bytes) -> Accepted:
    """Validate ``payload`` received on ``topic``; raise :class:`ContractError` with why not."""
    try:
        station, channel = parse_topic(topic)
    except TopicError as exc:
        raise ContractError(f"topic: {exc}") from None
    if channel is not Channel.EVENTS:
        raise ContractError(f"topic {topic!r} is not an events topic")
    event = parse_event(payload)
    if event.station_id != station:
        raise ContractError(
            f"event names station {event.station_id} but was published on the topic of {station}"
        )
    _check_storable(event)
    document: dict[str, Any] = json.loads(payload)
    return Accepted(event, document)


def _check_storable(event: ScanEvent) -> None:
    if event.seq > _MAX_SEQ:
        raise ContractError(f"seq {event.seq} exceeds the largest storable value {_MAX_SEQ}")
    if event.frames > _MAX_FRAMES:
        raise ContractError(f"frames {event.frames} exceeds {_MAX_FRAMES}")
    fields = {"text": event.text, "symbology": event.symbology}
    fields.update({f"gs1.{ai}": value for ai, value in (event.gs1 or {}).items()})
    for name, value in fields.items():
        # PostgreSQL text cannot hold NUL; refuse it on every backend alike. (Unpaired
        # surrogates, the other unstorable text, the contract's own parsing refuses.)
        if value is not None and "\x00" in value:
            raise ContractError(f"{name} contains a NUL character, which the store cannot keep")
