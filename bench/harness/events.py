"""Read events as an edge sends them: compact JSON, valid GS1 keys, time-ordered ids."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone
from uuid import UUID

from linetrace.broker.contract.topics import StationId

__all__ = ["GTINS", "HCM", "ITEMS_PER_LOT", "event_payload", "gtin_of", "lot_of", "uuid7"]

HCM = timezone(timedelta(hours=7))
GTINS = ["08938500000010", "08938500000027", "08938500000034", "08938500000041"]
# Lots in the generated events and the trace data set: a lot of a thousand items is a
# realistic production batch.
ITEMS_PER_LOT = 1000


def uuid7(millis: int) -> UUID:
    """A UUIDv7 for a time in Unix milliseconds, as an edge stamps its events."""
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    return UUID(int=(millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


def lot_of(seq: int) -> str:
    """The lot of the item a station reads as its ``seq``-th event."""
    return f"L{seq // ITEMS_PER_LOT:04d}"


def gtin_of(seq: int) -> str:
    """The GTIN of that item: the stations pack four products in turn."""
    return GTINS[seq % len(GTINS)]


def event_payload(
    station: StationId, seq: int, lot: str, gtin: str, observed: datetime | None = None
) -> bytes:
    """A read event as an edge sends it (compact JSON, valid GS1 keys).

    ``observed`` defaults to a fixed day, an item every 50 ms; the soak passes the time
    the event is due, so central's lag figures are real.
    """
    if observed is None:
        observed = datetime(2025, 3, 1, 8, 0, tzinfo=HCM) + timedelta(milliseconds=seq * 50)
    serial = f"{seq:08d}"
    document = {
        "schema_version": "1.1",
        "event_id": str(uuid7(int(observed.timestamp() * 1000))),
        "site": station.site,
        "line": station.line,
        "station": station.station,
        "seq": seq,
        "kind": "read",
        "observed_at": observed.isoformat(),
        "symbology": "DataMatrix",
        "symbology_id": "]d2",
        "text": f"01{gtin}10{lot}\x1d21{serial}",
        "gs1": {"01": gtin, "10": lot, "21": serial},
        "checks": {"check_digit": {"passed": True}},
        "frames": 3,
    }
    return json.dumps(document, separators=(",", ":")).encode()
