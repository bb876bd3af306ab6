"""The durable relay queue: enqueue in the ingest's transaction, claim, mark, retry.

Every stored event the relay sends (reads and packs that name a GS1 key:
:func:`~linetrace.central.relay.epcis.mapping.relayable`; a no-read is not a trace
event) is queued for every configured target in the same transaction that stores it, with one
``INSERT ... SELECT`` per batch and target, so an acknowledged event is never missing
from the queue and the ingest pays one statement per batch and target for it.

Claims: a worker takes up to ``limit`` due rows of one target and stamps them with its
id and a lease (``claimed_until``). On PostgreSQL the rows are picked with ``FOR UPDATE
SKIP LOCKED``, so several central instances claiming at once each get different rows
without waiting on each other; the lease then keeps them off every other claim until it
lapses (a worker killed mid-delivery loses its claims after ``lease_s``). SQLite allows
one writer: the same single statement runs in a write transaction. Every later mark is
conditional on the claim still being the worker's, so a worker that outlived its lease
cannot overwrite what another decided.

States: ``queued`` (never sent), ``sent`` (sent, answer not yet known: in doubt if the
claim lapses), ``accepted`` and ``rejected`` (final until an operator retries). An
accepted event's eventID goes into ``relay_ledger`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.relay.epcis.mapping import relayable
from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.relay_tables import relay_ledger, relay_queue
from linetrace.central.store.tables import REASON_LIMIT, events

__all__ = [
    "Claimed",
    "claim",
    "enqueue_events",
    "in_ledger",
    "mark_accepted",
    "mark_rejected",
    "mark_retry",
    "mark_sent",
    "queue_retractions",
    "release",
    "retry_rejected",
]

_q = relay_queue.c
# The due states written into the claim's SQL as literals, not bound parameters: SQLite
# uses the partial index ix_relay_queue_due only when the query's own text implies the
# index's WHERE; with parameters it reads every row of the target (the finished ones too)
# and sorts them, so a claim cost grew with the whole queue instead of its limit.
_DUE_STATES = _q.state.in_([sa.literal_column("'queued'"), sa.literal_column("'sent'")])
_ENQUEUED = [
    "target", "event_id", "action", "lot", "gtin", "state", "attempts", "next_attempt_at",
    "queued_at",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Claimed:
    """One claimed queue row."""

    id: int
    event_id: UUID
    action: str
    state: str
    attempts: int
    epcis_event_id: str | None
    lot: str | None
    gtin: str | None
    declaration: dict[str, Any] | None

    @property
    def in_doubt(self) -> bool:
        """Sent before without a known answer: the target may hold it already."""
        return self.state == "sent"


def enqueue_events(
    connection: Connection, rows: Sequence[Mapping[str, Any]], targets: Sequence[str], now: datetime
) -> None:
    """Queue the newly stored event ``rows`` (the store's event rows) for each target.

    One ``INSERT ... SELECT`` from the events just written per target: the database
    copies lot and GTIN itself, so the ingest binds one id per event instead of a whole
    row (about 4 µs per event and target on SQLite, against 11 µs for a row insert).
    """
    event_ids = [row["event_id"] for row in rows if relayable(row)]
    if not targets or not event_ids:
        return
    e = events.c
    when = sa.literal(now, type_=_q.queued_at.type)
    for target in targets:
        chosen = sa.select(
            sa.literal(target), e.event_id, sa.literal("capture"), e.lot, e.gtin,
            sa.literal("queued"), sa.literal(0), when, when,
        ).where(e.event_id.in_(event_ids))  # fmt: skip
        connection.execute(relay_queue.insert().from_select(_ENQUEUED, chosen))


def claim(
    connection: Connection, target: str, worker: str, limit: int, now: datetime, lease_s: float
) -> list[Claimed]:
    """Claim up to ``limit`` due rows of ``target`` for ``worker``, oldest due first.

    A retraction is due only once its event's capture was accepted by the target, so the
    ErrorDeclaration never overtakes the event it corrects.
    """
    original = relay_queue.alias("original")
    capture_accepted = (
        sa.select(original.c.id)
        .where(
            original.c.target == _q.target,
            original.c.event_id == _q.event_id,
            original.c.action == "capture",
            original.c.state == "accepted",
        )
        .exists()
    )
    due = (
        sa.select(_q.id)
        .where(
            _q.target == target,
            _DUE_STATES,
            _q.next_attempt_at <= now,
            sa.or_(_q.claimed_until.is_(None), _q.claimed_until < now),
            sa.or_(_q.action == "capture", capture_accepted),
        )
        .order_by(_q.next_attempt_at, _q.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        relay_queue.update()
        .where(_q.id.in_(due))
        .values(claimed_by=worker, claimed_until=now + timedelta(seconds=lease_s))
        .returning(
            _q.id,
            _q.event_id,
            _q.action,
            _q.state,
            _q.attempts,
            _q.epcis_event_id,
            _q.lot,
            _q.gtin,
            _q.declaration,
        )
    )
    claimed = [Claimed(*row) for row in connection.execute(statement)]
    claimed.sort(key=lambda row: row.id)
    return claimed


def _mine(ids: Iterable[int], worker: str) -> sa.ColumnElement[bool]:
    return sa.and_(_q.id.in_(list(ids)), _q.claimed_by == worker)


def mark_sent(
    connection: Connection, epcis_ids: Mapping[int, str], worker: str, now: datetime
) -> None:
    """Record that these rows are about to be sent, with their eventIDs (before sending)."""
    if not epcis_ids:
        return
    # What every row gets in one statement; only the eventID row by row. (One statement
    # per row with the time in each cost twice as much: SQLAlchemy converts every row's
    # parameters, the time included, and the database runs every statement.)
    connection.execute(
        relay_queue.update().where(_mine(epcis_ids, worker)).values(state="sent", sent_at=now)
    )
    connection.execute(
        relay_queue.update()
        .where(_q.id == sa.bindparam("row_id"), _q.claimed_by == worker)
        .values(epcis_event_id=sa.bindparam("epcis")),
        [{"row_id": row_id, "epcis": epcis} for row_id, epcis in epcis_ids.items()],
    )


def mark_accepted(
    connection: Connection,
    target: str,
    rows: Sequence[Claimed],
    epcis_ids: Mapping[int, str],
    worker: str,
    now: datetime,
) -> int:
    """Mark ``rows`` accepted and add their eventIDs to the target's ledger."""
    if not rows:
        return 0
    ids = [row.id for row in rows]
    marked = connection.execute(
        relay_queue.update()
        .where(_mine(ids, worker))
        .values(state="accepted", done_at=now, reason=None, claimed_by=None, claimed_until=None)
    ).rowcount
    ledger = [
        {
            "target": target,
            "epcis_event_id": epcis_ids[row.id],
            "action": row.action,
            "event_id": row.event_id,
            "accepted_at": now,
        }
        for row in rows
        if row.id in epcis_ids
    ]
    if ledger:
        connection.execute(
            dialect_insert(connection, relay_ledger).on_conflict_do_nothing(), ledger
        )
    return int(marked)


def mark_rejected(
    connection: Connection, reasons: Mapping[int, str], worker: str, now: datetime
) -> None:
    """Set these rows aside as rejected, each with the target's reason."""
    if not reasons:
        return
    connection.execute(
        relay_queue.update()
        .where(_q.id == sa.bindparam("row_id"), _q.claimed_by == worker)
        .values(
            state="rejected",
            done_at=now,
            reason=sa.bindparam("why"),
            claimed_by=None,
            claimed_until=None,
        ),
        [{"row_id": row_id, "why": reason[:REASON_LIMIT]} for row_id, reason in reasons.items()],
    )


def mark_retry(
    connection: Connection,
    delays: Mapping[int, tuple[float, bool]],
    error: str | None,
    worker: str,
    now: datetime,
) -> None:
    """Count a failed try for these rows and release them until ``now + delay``.

    ``delays`` maps each row to its pause and whether it is in doubt (it may have reached
    the target: it stays ``sent``, so the next try asks first); the others go back to
    ``queued``.
    """
    if not delays:
        return
    connection.execute(
        relay_queue.update()
        .where(_q.id == sa.bindparam("row_id"), _q.claimed_by == worker)
        .values(
            state=sa.bindparam("new_state"),
            attempts=_q.attempts + 1,
            next_attempt_at=sa.bindparam("due"),
            reason=(error or "no answer")[:REASON_LIMIT],
            claimed_by=None,
            claimed_until=None,
        ),
        [
            {
                "row_id": row_id,
                "due": now + timedelta(seconds=delay),
                "new_state": "sent" if in_doubt else "queued",
            }
            for row_id, (delay, in_doubt) in delays.items()
        ],
    )


def release(connection: Connection, ids: Sequence[int], worker: str) -> None:
    """Give claimed rows back untouched (the worker is stopping, the breaker opened)."""
    if ids:
        connection.execute(
            relay_queue.update()
            .where(_mine(ids, worker))
            .values(claimed_by=None, claimed_until=None)
        )


def in_ledger(
    connection: Connection, target: str, action: str, epcis_ids: Iterable[str]
) -> set[str]:
    """Which of ``epcis_ids`` the target already accepted (for ``action``)."""
    wanted = list(set(epcis_ids))
    if not wanted:
        return set()
    found = connection.execute(
        sa.select(relay_ledger.c.epcis_event_id).where(
            relay_ledger.c.target == target,
            relay_ledger.c.action == action,
            relay_ledger.c.epcis_event_id.in_(wanted),
        )
    )
    return set(found.scalars())


def retry_rejected(
    connection: Connection,
    now: datetime,
    *,
    target: str | None = None,
    lot: str | None = None,
    gtin: str | None = None,
) -> int:
    """Queue the rejected rows (of a target, a lot) again; the number queued."""
    condition = [_q.state == "rejected"]
    if target is not None:
        condition.append(_q.target == target)
    if lot is not None:
        condition.append(_q.lot == lot)
    if gtin is not None:
        condition.append(_q.gtin == gtin)
    result = connection.execute(
        relay_queue.update()
        .where(*condition)
        .values(state="queued", attempts=0, next_attempt_at=now, done_at=None)
    )
    return int(result.rowcount)


def queue_retractions(
    connection: Connection, event_id: UUID, reason: str, declared_at: datetime
) -> list[str]:
    """Queue an ErrorDeclaration of ``event_id`` for every target that has or will have it.

    A target that rejected the event never held it and gets none; a target already queued
    a retraction of it keeps that one. Returns the targets newly queued.
    """
    captures = connection.execute(
        sa.select(_q.target, _q.lot, _q.gtin).where(
            _q.event_id == event_id, _q.action == "capture", _q.state != "rejected"
        )
    ).all()
    already = set(
        connection.execute(
            sa.select(_q.target).where(_q.event_id == event_id, _q.action == "retract")
        ).scalars()
    )
    declaration = {"reason": reason, "declared_at": declared_at.isoformat()}
    values = [
        {
            "target": target,
            "event_id": event_id,
            "action": "retract",
            "lot": lot,
            "gtin": gtin,
            "state": "queued",
            "attempts": 0,
            "next_attempt_at": declared_at,
            "queued_at": declared_at,
            "declaration": declaration,
        }
        for target, lot, gtin in captures
        if target not in already
    ]
    if values:
        connection.execute(relay_queue.insert(), values)
    return sorted(value["target"] for value in values)
