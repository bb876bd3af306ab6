"""Conflicts: an ``event_id`` that arrives again with different content.

A resend carries the same bytes, so a second event under a known ``event_id`` whose
content differs means a faulty edge (an outbox restored from an old backup, a clock or
numbering bug) or a forged message. The first version stays: it is the one central
acknowledged and may already have been reported onwards. The second is recorded, with
both versions' hashes, and an ``event_conflict`` alarm is raised, since only a person can
tell which one is true.

Versions are compared in a canonical form (keys sorted, no whitespace), so a sender that
orders its JSON keys differently does not count as a conflict; any change of a value does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.derive.alarms import raise_alarm
from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.tables import conflicts, events

__all__ = [
    "EVENT_CONFLICT",
    "Conflict",
    "canonical_sha256",
    "record_conflicts",
    "stored_payloads",
]

EVENT_CONFLICT = "event_conflict"


@dataclass(frozen=True, slots=True)
class Conflict:
    """A second version of a stored event."""

    event_id: UUID
    station: str
    received_at: datetime
    first_sha256: str
    second_sha256: str
    second_payload: Mapping[str, Any]


def canonical_sha256(document: Mapping[str, Any]) -> str:
    """The SHA-256 of ``document`` in canonical JSON (sorted keys, compact separators)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def stored_payloads(conn: Connection, event_ids: Collection[UUID]) -> dict[UUID, dict[str, Any]]:
    """The stored payload of each of ``event_ids`` that is stored."""
    if not event_ids:
        return {}
    rows = conn.execute(
        sa.select(events.c.event_id, events.c.payload).where(
            events.c.event_id.in_(sorted(event_ids))
        )
    )
    return {row.event_id: row.payload for row in rows}


def record_conflicts(conn: Connection, found: Collection[Conflict]) -> int:
    """Record ``found`` and raise an alarm for each; return how many were new."""
    new = 0
    for conflict in sorted(found, key=lambda c: (c.event_id, c.second_sha256)):
        statement = (
            dialect_insert(conn, conflicts)
            .values(
                event_id=conflict.event_id,
                station=conflict.station,
                received_at=conflict.received_at,
                first_sha256=conflict.first_sha256,
                second_sha256=conflict.second_sha256,
                second_payload=dict(conflict.second_payload),
            )
            .on_conflict_do_nothing(index_elements=["event_id", "second_sha256"])
            .returning(conflicts.c.id)
        )
        if conn.execute(statement).scalar_one_or_none() is None:
            continue  # this version was recorded before: the edge is resending it
        new += 1
        raise_alarm(
            conn,
            station=conflict.station,
            kind=EVENT_CONFLICT,
            key=str(conflict.event_id),
            severity="critical",
            message=(
                f"event {conflict.event_id} from {conflict.station} arrived again with "
                "different content; the first version is kept"
            ),
            details={
                "event_id": str(conflict.event_id),
                "first_sha256": conflict.first_sha256,
                "second_sha256": conflict.second_sha256,
            },
        )
    return new
