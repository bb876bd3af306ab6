"""Stored scan events in the standard's language: EPCIS 2.0 events (CBV 2.0).

What each stored event becomes:

- a ``read`` of a serialised item (GTIN + serial) -> ObjectEvent with the item's Digital
  Link in ``epcList``: ``OBSERVE``, or ``ADD`` with bizStep ``commissioning`` and the
  lot's ILMD (``cbvmda:lotNumber``, ``cbvmda:itemExpirationDate``,
  ``lt:productionDate``) at a station whose role labels (commissions) codes;
- a ``read`` of an SSCC -> ObjectEvent ``OBSERVE`` of the logistic unit;
- a ``read`` of an unserialised GTIN (+ lot) -> ObjectEvent with a ``quantityList`` entry
  (the lot's Digital Link as ``epcClass``, quantity 1, no uom);
- a ``pack`` event with an SSCC -> AggregationEvent ``ADD``: the SSCC as ``parentID``,
  the children's instance links as ``childEPCs`` (children known only by GTIN + lot go
  to ``childQuantityList``); a pack without an SSCC is mapped like a read of its code;
- any event with a failed check (the edge's, or central's batch mismatch, as recorded
  in ``event_checks``) -> bizStep ``inspecting``, disposition ``non_conformant``, the
  failures under ``lt:failedChecks``;
- a ``noread`` is **not** sent, nor a read of a code that names no GS1 key: there is no
  thing to name in EPCIS (they stay in central's records and alarms).

Every event carries ``eventTime`` in the station's own offset with
``eventTimeZoneOffset`` (``+07:00`` in Vietnam), the station's GLN as SGLN Digital Links
(readPoint ``…/414/{gln}/254/{line}.{station}`` when that fits AI 254, else the GLN;
bizLocation the GLN; a station without a GLN gets a readPoint in our namespace and no
bizLocation), the production batch open on the line as a ``prodorder``
bizTransaction, bizStep and disposition by the station's role
(:mod:`.vocabulary`), and our own fields under ``lt:``. Times are cut to milliseconds
(what the event hash keeps). ILMD appears on ``ADD`` events only: GS1's schema refuses it
on an observation. ``eventID`` is the CBV 2.0 event hash of the event as written, so a
change to this mapping changes the IDs of events mapped afterwards: queue the ID with the
event (the relay does) rather than recomputing it for a resend.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from linetrace.central.derive.mismatches import gs1_date
from linetrace.central.derive.production_batches import Batch
from linetrace.central.relay.epcis.digital_link import (
    gln_link,
    gtin_link,
    gtin_lot_link,
    gtin_serial_link,
    sscc_link,
)
from linetrace.central.relay.epcis.hashing import Hasher
from linetrace.central.relay.epcis.vocabulary import (
    ADDED_ROLES,
    EPCIS_CONTEXT,
    PRODORDER_BASE,
    STATION_BASE,
    step_for_role,
)
from linetrace.gs1 import LOT_PATTERN

__all__ = [
    "FailedCheck",
    "MappedEvent",
    "StationFacts",
    "event_time",
    "map_rows",
    "relayable",
]

# AI 254 (GLN extension) holds at most 20 characters of the GS1 character set.
_GLN_EXTENSION_MAX = 20
_ONE = 1  # a read sees one unit of its class


@dataclass(frozen=True, slots=True)
class MappedEvent:
    """One stored event as an EPCIS event, ready to be put in a document."""

    source_event_id: UUID
    epcis_event_id: str
    lot: str | None
    gtin: str | None
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StationFacts:
    """What the mapping needs of a station: where it is and what it does."""

    gln: str | None
    role: str | None


@dataclass(frozen=True, slots=True)
class FailedCheck:
    """One failed check of an event (``event_checks``): who judged, which check, why."""

    source: str
    check: str
    detail: str


def relayable(row: Mapping[str, Any]) -> bool:
    """True when a stored event has something to say in EPCIS (see the module docstring)."""
    if row["kind"] == "noread":
        return False
    return row["gtin"] is not None or row["sscc"] is not None


def event_time(observed_at: datetime, utc_offset_s: int) -> tuple[str, str]:
    """``eventTime`` (station-local, milliseconds) and ``eventTimeZoneOffset`` of a stored time."""
    minutes = round(utc_offset_s / 60)
    local = observed_at.astimezone(_zone(minutes))
    sign = "-" if minutes < 0 else "+"
    offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond // 1000:03d}" + offset
    return text, offset


@functools.lru_cache(maxsize=128)
def _zone(minutes: int) -> timezone:
    """The zone of an offset in minutes: a station's offset is the same in every event."""
    return timezone(timedelta(minutes=minutes))


def _station_id(row: Mapping[str, Any]) -> str:
    return f"{row['site']}/{row['line']}/{row['station']}"


def _places(row: Mapping[str, Any], station: StationFacts | None) -> dict[str, Any]:
    gln = station.gln if station is not None else None
    if gln is None:
        return {"readPoint": {"id": STATION_BASE + _station_id(row)}}
    extension = f"{row['line']}.{row['station']}"
    fits = len(extension) <= _GLN_EXTENSION_MAX and LOT_PATTERN.match(extension) is not None
    read_point = gln_link(gln, extension) if fits else gln_link(gln)
    return {"readPoint": {"id": read_point}, "bizLocation": {"id": gln_link(gln)}}


def _child_link(child: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(instance link, class link) of a pack event's child from its GS1 keys."""
    gs1 = child.get("gs1") or {}
    if "00" in gs1:
        return sscc_link(gs1["00"]), None
    gtin = gs1.get("01")
    if gtin is None:
        return None, None
    if "21" in gs1:
        return gtin_serial_link(gtin, gs1["21"]), None
    return None, gtin_lot_link(gtin, gs1["10"]) if "10" in gs1 else gtin_link(gtin)


def _what(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``what`` dimension of a read: epcList or quantityList; None when nothing names it."""
    gtin, serial, lot, sscc = row["gtin"], row["serial"], row["lot"], row["sscc"]
    if gtin is not None and serial is not None:
        return {"epcList": [gtin_serial_link(gtin, serial)]}
    if gtin is not None:
        epc_class = gtin_lot_link(gtin, lot) if lot is not None else gtin_link(gtin)
        return {"quantityList": [{"epcClass": epc_class, "quantity": _ONE}]}
    if sscc is not None:
        return {"epcList": [sscc_link(sscc)]}
    return None


def _aggregation(row: Mapping[str, Any]) -> dict[str, Any] | None:
    if row["sscc"] is None:
        return None
    instances: list[str] = []
    classes: dict[str, int] = {}
    for child in row["payload"].get("children") or []:
        instance, epc_class = _child_link(child)
        if instance is not None and instance not in instances:
            instances.append(instance)
        elif epc_class is not None:
            classes[epc_class] = classes.get(epc_class, 0) + 1
    what: dict[str, Any] = {"parentID": sscc_link(row["sscc"])}
    if instances:
        what["childEPCs"] = instances
    if classes:
        what["childQuantityList"] = [{"epcClass": c, "quantity": n} for c, n in classes.items()]
    return what


def _dates(row: Mapping[str, Any], batch: Batch | None) -> tuple[date | None, date | None]:
    """(expiry, production date): the code's own (AI 17, AI 11), else its batch's."""
    expiry = gs1_date(row["expiry"]) if row["expiry"] is not None else None
    gs1 = row["payload"].get("gs1") or {}
    produced = gs1_date(gs1["11"]) if isinstance(gs1.get("11"), str) else None
    if batch is not None and row["gtin"] == batch.gtin and row["lot"] in (None, batch.lot):
        expiry = expiry or batch.expiry
        produced = produced or batch.production_date
    return expiry, produced


def _lot(row: Mapping[str, Any], batch: Batch | None) -> str | None:
    if row["lot"] is not None:
        return str(row["lot"])
    if batch is not None and (row["gtin"] is None or row["gtin"] == batch.gtin):
        return batch.lot
    return None


def _ours(
    row: Mapping[str, Any], failed: Sequence[FailedCheck], batch: Batch | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "lt:station": _station_id(row),
        "lt:seq": row["seq"],
        "lt:eventId": str(row["event_id"]),
    }
    if row["symbology"] is not None:
        fields["lt:symbology"] = row["symbology"]
    if batch is not None and batch.production_order is not None:
        fields["lt:productionOrder"] = batch.production_order
    if failed:
        fields["lt:failedChecks"] = [
            {"lt:source": f.source, "lt:check": f.check, "lt:detail": f.detail} for f in failed
        ]
    return fields


def map_row(
    row: Mapping[str, Any],
    station: StationFacts | None,
    failed: Sequence[FailedCheck],
    batch: Batch | None,
    hasher: Hasher,
) -> MappedEvent | None:
    """One stored event as an EPCIS event; None when it is not sent (see the module docstring)."""
    if not relayable(row):
        return None
    aggregation = _aggregation(row) if row["kind"] == "pack" else None
    what = aggregation if aggregation is not None else _what(row)
    if what is None:
        return None
    role = station.role if station is not None else None
    adds = aggregation is not None or (role is not None and role.lower() in ADDED_ROLES)
    step, disposition = (
        ("packing", "in_progress") if aggregation is not None else step_for_role(role)
    )
    if failed:
        step, disposition = "inspecting", "non_conformant"
    when, offset = event_time(row["observed_at"], row["utc_offset_s"])
    body: dict[str, Any] = {
        "type": "AggregationEvent" if aggregation is not None else "ObjectEvent",
        "eventTime": when,
        "eventTimeZoneOffset": offset,
        **what,
        "action": "ADD" if adds else "OBSERVE",
    }
    if step is not None:
        body["bizStep"] = step
        body["disposition"] = disposition
    body.update(_places(row, station))
    if batch is not None:
        body["bizTransactionList"] = [
            {"type": "prodorder", "bizTransaction": f"{PRODORDER_BASE}{batch.id}"}
        ]
    lot = _lot(row, batch)
    if adds and aggregation is None and row["gtin"] is not None:
        ilmd: dict[str, Any] = {}
        if lot is not None:
            ilmd["cbvmda:lotNumber"] = lot
        expiry, produced = _dates(row, batch)
        if expiry is not None:
            ilmd["cbvmda:itemExpirationDate"] = expiry.isoformat()
        if produced is not None:
            ilmd["lt:productionDate"] = produced.isoformat()
        if ilmd:
            body["ilmd"] = ilmd
    body.update(_ours(row, failed, batch))
    event_id = hasher.event_hash(body)
    return MappedEvent(
        row["event_id"],
        event_id,
        lot,
        row["gtin"] or (batch.gtin if batch else None),
        {"eventID": event_id, **body},
    )


def map_rows(
    rows: Iterable[Mapping[str, Any]],
    stations: Mapping[tuple[str, str, str], StationFacts],
    failed: Mapping[UUID, Sequence[FailedCheck]],
    batches: Mapping[UUID, Batch],
) -> list[MappedEvent]:
    """Stored events (``events`` rows) as EPCIS events, in the order given, skipping the
    ones that are not sent. ``stations`` by (site, line, station); ``failed`` and
    ``batches`` (the batch open on the event's line at its time) by event_id."""
    hasher = _hasher()
    mapped = []
    for row in rows:
        station = stations.get((row["site"], row["line"], row["station"]))
        event = map_row(
            row, station, failed.get(row["event_id"], ()), batches.get(row["event_id"]), hasher
        )
        if event is not None:
            mapped.append(event)
    return mapped


_HASHER: list[Hasher] = []


def _hasher() -> Hasher:
    """One hasher for our own context, kept: its table of canonical values is the speed."""
    if not _HASHER:
        _HASHER.append(Hasher(EPCIS_CONTEXT))
    return _HASHER[0]
