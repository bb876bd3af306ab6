"""Proving the chain untouched, or naming the first record where it breaks.

Walks the records oldest first (streamed, never all in memory) and checks, for each:
its id follows the one before (a gap means records were removed), its ``prev_hash`` is
the previous record's hash (a record was removed or inserted), and its hash matches its
contents (the record was changed). Finally the chain's end must be the head's last record
(records at the end were removed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.audit.chain import AuditRecord, record_hash
from linetrace.central.audit.listing import records_from
from linetrace.central.store.audit_tables import AUDIT_CHAIN, AUDIT_GENESIS, audit_head

__all__ = ["Verdict", "verify_chain"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """How many records were proved, and the first break (None: the chain is intact)."""

    checked: int
    broken_id: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_id is None

    def message(self) -> str:
        if self.intact:
            return f"intact: {self.checked} records"
        return f"broken at record {self.broken_id}: {self.reason}"


def _short(digest: str) -> str:
    return digest[:12] + "…"


def _break(record: AuditRecord, prev_id: int, prev_hash: str) -> str | None:
    if record.id != prev_id + 1:
        return f"records {prev_id + 1} to {record.id - 1} are missing"
    if record.prev_hash != prev_hash:
        return (
            f"prev_hash {_short(record.prev_hash)} is not the hash of record {prev_id} "
            f"({_short(prev_hash)})"
        )
    computed = record_hash(
        record.id,
        record.at,
        record.actor,
        record.action,
        record.target,
        record.details,
        record.prev_hash,
    )
    if computed != record.hash:
        return (
            f"its contents were changed (stored hash {_short(record.hash)}, "
            f"contents hash to {_short(computed)})"
        )
    return None


def verify_chain(
    connection: Connection, *, progress: Callable[[int], None] | None = None
) -> Verdict:
    """Walk the whole chain; ``progress`` is called with each record's id."""
    prev_id, prev_hash, checked = 0, AUDIT_GENESIS, 0
    for record in records_from(connection):
        reason = _break(record, prev_id, prev_hash)
        if reason is not None:
            return Verdict(checked, record.id, reason)
        prev_id, prev_hash, checked = record.id, record.hash, checked + 1
        if progress is not None:
            progress(record.id)
    head = connection.execute(
        sa.select(audit_head.c.last_id, audit_head.c.last_hash).where(
            audit_head.c.chain == AUDIT_CHAIN
        )
    ).one_or_none()
    if head is None:
        return Verdict(checked) if checked == 0 else Verdict(checked, 1, "the chain head is gone")
    last_id = int(head.last_id)
    if last_id > prev_id:
        return Verdict(
            checked,
            prev_id + 1,
            f"the chain ends at record {prev_id} but its head says {last_id}: "
            "the newest records were removed",
        )
    if last_id < prev_id:
        return Verdict(
            checked,
            last_id + 1,
            f"records {last_id + 1} to {prev_id} were added behind the chain head's back",
        )
    if head.last_hash != prev_hash:
        return Verdict(checked, prev_id, "its hash is not the one the chain head recorded")
    return Verdict(checked)
