"""Writing and letting go of no-read images: insert in the ingest's transaction, prune
oldest first.

Two limits, both from ``[images]``: an age (``keep_days``) and a total size
(``max_total_mb``, the sum of the stored JPEG bytes). A total in bytes rather than a
share of the disk or of the database: it is exact and the same on SQLite and PostgreSQL
(neither reports a table's share of the disk portably or cheaply), and an operator sizes
it once from the disk they give the database. Whatever the limit, the oldest pictures go
first; the events themselves are never touched (their payload keeps the picture's
SHA-256 and size, so the record still says a picture was taken).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.image_tables import noread_images

__all__ = ["ImagePrune", "insert_images", "prune_images"]

# Rows read per step while finding the oldest pictures over the size limit, and ids per
# DELETE: far below both backends' bound-parameter limits.
_CHUNK = 1000


def insert_images(connection: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Store ``rows`` (noread_images columns); an event_id already stored is skipped."""
    if not rows:
        return 0
    statement = (
        dialect_insert(connection, noread_images)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(noread_images.c.event_id)
    )
    return len(connection.execute(statement, list(rows)).all())


@dataclass(frozen=True, slots=True)
class ImagePrune:
    """What one prune removed, and what is left."""

    expired: int
    over_size: int
    freed_bytes: int
    kept: int
    kept_bytes: int

    def as_json(self) -> dict[str, int]:
        return {
            "expired": self.expired,
            "over_size": self.over_size,
            "freed_bytes": self.freed_bytes,
            "kept": self.kept,
            "kept_bytes": self.kept_bytes,
        }


def _totals(connection: Connection) -> tuple[int, int]:
    count, total = connection.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(noread_images.c.size), 0))
    ).one()
    return int(count), int(total)


def prune_images(
    connection: Connection, *, now: datetime, keep_days: int, max_total_bytes: int
) -> ImagePrune:
    """Delete pictures received before ``now - keep_days``, then the oldest until the rest
    add up to at most ``max_total_bytes``."""
    c = noread_images.c
    before = _totals(connection)
    cutoff = now - timedelta(days=keep_days)
    connection.execute(sa.delete(noread_images).where(c.received_at < cutoff))
    count, total = _totals(connection)
    expired_bytes = before[1] - total
    expired = before[0] - count
    over = 0
    excess = total - max_total_bytes
    while excess > 0:
        oldest = connection.execute(
            sa.select(c.event_id, c.size).order_by(c.received_at, c.event_id).limit(_CHUNK)
        ).all()
        doomed: list[UUID] = []
        for event_id, size in oldest:
            if excess <= 0:
                break
            doomed.append(event_id)
            excess -= size
        if not doomed:
            break
        connection.execute(sa.delete(noread_images).where(c.event_id.in_(doomed)))
        over += len(doomed)
    kept, kept_bytes = _totals(connection)
    return ImagePrune(expired, over, expired_bytes + (total - kept_bytes), kept, kept_bytes)
