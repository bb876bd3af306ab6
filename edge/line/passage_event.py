"""Turning a closed passage into the scan event of the contract."""

from __future__ import annotations

import base64
import uuid

import uuid6

from linetrace.broker.contract.messages import ScanEvent
from linetrace.broker.contract.topics import StationId
from linetrace.edge.line.passage import Passage


def new_event_id() -> uuid.UUID:
    """A UUIDv7: unique without coordination and sortable by creation time."""
    return uuid.UUID(str(uuid6.uuid7()))


def make_event(passage: Passage, station: StationId, seq: int) -> ScanEvent:
    """The event for ``passage``; its ``event_id`` is made here, once, and never again."""
    return ScanEvent(
        event_id=new_event_id(),
        site=station.site,
        line=station.line,
        station=station.station,
        seq=seq,
        kind=passage.kind,
        observed_at=passage.first_seen,
        symbology=passage.symbology,
        symbology_id=passage.symbology_id,
        text=passage.text,
        gs1=passage.gs1,
        checks=passage.checks,
        frames=passage.frames,
        snapshot=(
            base64.b64encode(passage.snapshot).decode("ascii")
            if passage.snapshot is not None
            else None
        ),
    )
