"""Removing an archived lot's rows, and nothing another lot still needs.

Called only after the lot's export was written and read back (``linetrace central
retention archive``), in one transaction: :func:`lock_lot` first, then the caller checks
that no event of the lot arrived since the export, then :func:`remove_lot`.

What goes: the given events (the lot's reads, its GTIN-only reads in its batches' windows,
the pack events that put its items into cases), their check outcomes, conflicts and
finished relay rows, the containment rows of its items, its summaries, and its batches
once no other event's check names them. What stays: a pack event that also packed a
child of another lot (or of no known lot), since that lot's export still needs it; the
case and pallet levels above (those rows name no lot); the relay's ledger of accepted
eventIDs (it keeps a late resend from being captured twice); and the audit log, always:
retention never deletes an audit record, so the log is kept at least as long as the
events it speaks about (longer, in fact: no rule here ever lets it go, and removing
records would break its hash chain). The archive itself is recorded in it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.store.relay_tables import relay_queue
from linetrace.central.store.tables import conflicts, events
from linetrace.central.store.trace_tables import (
    batches,
    containment,
    event_checks,
    lot_containers,
    lot_station_summaries,
    lot_summaries,
)
from linetrace.errors import LinetraceError

__all__ = ["RelayPending", "RemovedLot", "lock_lot", "remove_lot"]

# Ids per statement: far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
_CHUNK = 1000


class RelayPending(LinetraceError):
    """Some of the lot's events are still queued for a relay target."""


@dataclass(frozen=True, slots=True)
class RemovedLot:
    """What :func:`remove_lot` deleted, and the shared pack events it kept."""

    events: int
    kept_shared: int
    containment: int
    checks: int
    batches: int


def _chunks(ids: Collection[UUID]) -> Iterator[Sequence[UUID]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def lock_lot(connection: Connection, gtin: str, lot: str) -> None:
    """Take the lot's write lock: the one the ingest takes for each lot it stores.

    Deleting the lot's summary row first makes a writer storing a late read of the lot
    wait for this transaction (PostgreSQL: the row lock; SQLite: the database's one
    writer), so the check for new events that follows stays true until the commit.
    """
    connection.execute(
        sa.delete(lot_summaries).where(lot_summaries.c.gtin == gtin, lot_summaries.c.lot == lot)
    )


def _shared_packs(connection: Connection, gtin: str, lot: str, ids: Sequence[UUID]) -> set[UUID]:
    c = containment.c
    other_child = sa.or_(
        c.child_gtin.is_(None), c.child_lot.is_(None), c.child_gtin != gtin, c.child_lot != lot
    )
    return set(
        connection.execute(
            sa.select(c.packed_event_id).where(c.packed_event_id.in_(ids), other_child).distinct()
        ).scalars()
    )


def _delete(connection: Connection, table: sa.Table, ids: Sequence[UUID]) -> int:
    return connection.execute(sa.delete(table).where(table.c.event_id.in_(ids))).rowcount


def remove_lot(
    connection: Connection, gtin: str, lot: str, event_ids: Collection[UUID]
) -> RemovedLot:
    """Delete the lot's rows (``event_ids``: its exported events); see the module docstring.

    Raises :class:`RelayPending` (the caller rolls back) if a relay target has not yet
    accepted or rejected one of the events.
    """
    removed = kept = packed = checks = 0
    for ids in _chunks(event_ids):
        pending = connection.execute(
            sa.select(sa.func.count())
            .select_from(relay_queue)
            .where(relay_queue.c.event_id.in_(ids), relay_queue.c.state.in_(("queued", "sent")))
        ).scalar_one()
        if pending:
            raise RelayPending(
                f"{pending} events of lot {lot} are still queued for a relay target; "
                "archive the lot once the relay has delivered them"
            )
        shared = _shared_packs(connection, gtin, lot, ids)
        packed += connection.execute(
            sa.delete(containment).where(
                containment.c.packed_event_id.in_(ids),
                containment.c.child_gtin == gtin,
                containment.c.child_lot == lot,
            )
        ).rowcount
        gone = [event_id for event_id in ids if event_id not in shared]
        kept += len(shared)
        checks += _delete(connection, event_checks, gone)
        _delete(connection, conflicts, gone)
        _delete(connection, relay_queue, gone)
        removed += _delete(connection, events, gone)
    for table in (lot_summaries, lot_station_summaries, lot_containers):
        connection.execute(sa.delete(table).where(table.c.gtin == gtin, table.c.lot == lot))
    still_checked = sa.exists().where(event_checks.c.batch_id == batches.c.id)
    dropped = connection.execute(
        sa.delete(batches).where(batches.c.gtin == gtin, batches.c.lot == lot, ~still_checked)
    ).rowcount
    return RemovedLot(removed, kept, packed, checks, dropped)
