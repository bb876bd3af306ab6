"""Admitting one received message as a scan event, or refusing it with a reason.

The contract's own checks (``parse_event``) come first; central adds what only it can
see: the topic the message came on must be the events topic of the station the event
names, since the broker's ACL vouches for the topic and nothing vouches for the payload;
every GS1 key must carry a valid check digit (see :mod:`linetrace.gs1`); and every value
must fit the store, so that one odd event is refused alone with a clear reason instead of
failing the batch it travels in.

Whether the station is registered is the batch's question, not this module's: it needs
the database.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from linetrace.broker.contract.messages import ScanEvent, parse_event
from linetrace.broker.contract.topics import Channel, StationId, TopicError, parse_topic
from linetrace.central.ingest.snapshots import Snapshot, split_snapshot
from linetrace.central.store.document import SentDocument
from linetrace.errors import ContractError
from linetrace.gs1 import gs1_key_problem

__all__ = ["Accepted", "accept"]

# Topics whose station is remembered: more than the stations of a large site, so parsing
# (and validating) a topic happens once per station; a refused topic is not cached.
_TOPIC_CACHE_SIZE = 4096
# Column limits: seq is a BIGINT and frames an INTEGER on every backend.
_MAX_SEQ = 2**63 - 1
_MAX_FRAMES = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid event and its payload as sent (additive fields included)."""

    event: ScanEvent
    document: SentDocument  # the text as received; parsed only where a field is read
    station: StationId  # the event's station, built once (it is needed several times)
    # A no-read's picture, taken out of ``document`` (see :mod:`.snapshots`).
    image: Snapshot | None = None


def accept(topic: str, payload: bytes) -> Accepted:
    """Validate ``payload`` received on ``topic``; raise :class:`ContractError` with why not."""
    station = _events_topic_station(topic)
    event = parse_event(payload)
    if (event.site, event.line, event.station) != (station.site, station.line, station.station):
        raise ContractError(
            f"event names station {event.station_id} but was published on the topic of {station}"
        )
    _check_storable(event)
    _check_gs1_keys(event)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:  # the contract refuses it first; kept as a guard
        raise ContractError("payload is not UTF-8") from None
    document, image = split_snapshot(event.snapshot, SentDocument(text))
    return Accepted(event, document, station, image)


@functools.lru_cache(maxsize=_TOPIC_CACHE_SIZE)
def _events_topic_station(topic: str) -> StationId:
    """The station of an events topic; cached, since every station sends on one topic."""
    try:
        station, channel = parse_topic(topic)
    except TopicError as exc:
        raise ContractError(f"topic: {exc}") from None
    if channel is not Channel.EVENTS:
        raise ContractError(f"topic {topic!r} is not an events topic")
    return station


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


def _check_gs1_keys(event: ScanEvent) -> None:
    problem = gs1_key_problem(event.gs1) if event.gs1 else None
    for index, child in enumerate(event.children or []):
        if problem is None and child.gs1:
            problem = gs1_key_problem(child.gs1, f"children[{index}].gs1")
    if problem is not None:
        raise ContractError(problem)
