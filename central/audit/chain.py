"""Appending to the chain: one record per action, in the caller's transaction.

Each record's hash is SHA-256 over a canonical JSON of its id, time, actor, action,
target, details and the previous record's hash. Appenders first bump the one-row chain
head (``UPDATE audit_head``): that write takes the head's row lock on PostgreSQL and the
database's write lock on SQLite, so appenders from several threads, processes or central
replicas take turns and each one reads the hash its predecessor committed. The lock is
held until the caller commits, which is what makes the record part of the change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.store.audit_tables import (
    AUDIT_ACTION_LENGTH,
    AUDIT_ACTOR_LENGTH,
    AUDIT_CHAIN,
    AUDIT_GENESIS,
    AUDIT_TARGET_LENGTH,
    audit_head,
    audit_log,
)
from linetrace.central.store.dialect_insert import dialect_insert

__all__ = ["AuditRecord", "record", "record_hash"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One record of the chain, as stored."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any] | None
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def record_hash(
    id_: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the record's canonical JSON: sorted keys, no spaces, UTF-8."""
    canonical = json.dumps(
        {
            "id": id_,
            "at": at.astimezone(UTC).isoformat(),
            "actor": actor,
            "action": action,
            "target": target,
            "details": details,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _normalised(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """The details as they will read back from the JSON column (dates, UUIDs as text).

    Hashing what the database returns, not what the caller passed, keeps verify exact.
    """
    if details is None:
        return None
    loaded: dict[str, Any] = json.loads(json.dumps(details, default=str, allow_nan=False))
    return loaded


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _take_head(connection: Connection) -> tuple[int, str]:
    """Lock the head (the write comes first, so the lock is taken before anything is read)."""
    head = audit_head.c
    bump = sa.update(audit_head).where(head.chain == AUDIT_CHAIN).values(last_id=head.last_id + 1)
    if not connection.execute(bump).rowcount:
        # No head row (a database emptied by hand): start the chain, once whoever races.
        connection.execute(
            dialect_insert(connection, audit_head)
            .values(chain=AUDIT_CHAIN, last_id=0, last_hash=AUDIT_GENESIS)
            .on_conflict_do_nothing()
        )
        connection.execute(bump)
    row = connection.execute(
        sa.select(head.last_id, head.last_hash).where(head.chain == AUDIT_CHAIN)
    ).one()
    return int(row.last_id), str(row.last_hash)


def record(
    connection: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append who (``actor``) did what (``action``) to which record (``target``).

    Runs in the caller's transaction: commit it with the change it records.
    """
    id_, prev_hash = _take_head(connection)
    at = datetime.now(UTC)
    actor = _clip(actor, AUDIT_ACTOR_LENGTH)
    action = _clip(action, AUDIT_ACTION_LENGTH)
    target = _clip(target, AUDIT_TARGET_LENGTH)
    stored = _normalised(details)
    digest = record_hash(id_, at, actor, action, target, stored, prev_hash)
    connection.execute(
        sa.insert(audit_log).values(
            id=id_,
            at=at,
            actor=actor,
            action=action,
            target=target,
            details=stored,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    connection.execute(
        sa.update(audit_head).where(audit_head.c.chain == AUDIT_CHAIN).values(last_hash=digest)
    )
    return AuditRecord(id_, at, actor, action, target, stored, prev_hash, digest)
