"""Claimed queue rows -> the events to deliver (:class:`~.targets.base.Outgoing`).

A capture row becomes its stored event mapped to EPCIS 2.0
(:func:`linetrace.central.relay.epcis.mapping.map_events`); a retract row becomes an
ErrorDeclaration of that same event, keeping its eventID. A row that was sent before
keeps the eventID it was sent with, even if the mapping has changed since (an upgrade),
so a resend is recognisably the same event at the target and in the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Connection

from linetrace.central.relay.epcis.documents import error_declaration
from linetrace.central.relay.epcis.mapping import MappedEvent
from linetrace.central.relay.epcis.sources import map_events
from linetrace.central.relay.queue import Claimed
from linetrace.central.relay.targets.base import Outgoing
from linetrace.errors import LinetraceError

__all__ = ["map_claimed"]

_NOT_MAPPED = "the event has no GS1 key to name in EPCIS (or is not stored)"


def map_claimed(
    connection: Connection, rows: Sequence[Claimed]
) -> tuple[dict[int, Outgoing], dict[int, str]]:
    """Each row's outgoing event by row id, and the reason for each row that has none."""
    mapped, failed = _mapped(connection, sorted({row.event_id for row in rows}))
    outgoing: dict[int, Outgoing] = {}
    reasons: dict[int, str] = {}
    for row in rows:
        event = mapped.get(row.event_id)
        if event is None:
            reasons[row.id] = failed.get(row.event_id, _NOT_MAPPED)
            continue
        body = event.body
        epcis_id = row.epcis_event_id or event.epcis_event_id
        if epcis_id != event.epcis_event_id:
            body = {**body, "eventID": epcis_id}
        if row.action == "retract":
            declaration = row.declaration or {}
            body = error_declaration(
                body,
                str(declaration.get("reason", "retracted")),
                datetime.fromisoformat(str(declaration["declared_at"])),
            )
        outgoing[row.id] = Outgoing(row.event_id, epcis_id, event.lot, event.gtin, body)
    return outgoing, reasons


def _mapped(
    connection: Connection, event_ids: list[UUID]
) -> tuple[dict[UUID, MappedEvent], dict[UUID, str]]:
    """The mapped events; if the batch fails, one by one so only the culprits fail."""
    try:
        return {event.source_event_id: event for event in map_events(connection, event_ids)}, {}
    except (LinetraceError, ValueError, KeyError) as exc:
        if len(event_ids) == 1:
            return {}, {event_ids[0]: f"cannot be mapped to EPCIS: {exc}"}
    mapped: dict[UUID, MappedEvent] = {}
    failed: dict[UUID, str] = {}
    for event_id in event_ids:
        one, reason = _mapped(connection, [event_id])
        mapped |= one
        failed |= reason
    return mapped, failed
