"""Reading dead letters back for the API and the CLI, newest first, a page at a time.

Dead letters are numbered as they are stored, so a page continues strictly below the
last id of the one before (``before_id``): cheap however deep, and stable while new ones
arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.query.events import MAX_PAGE_SIZE
from linetrace.central.store.tables import dead_letters

__all__ = ["DeadLetterPage", "StoredDeadLetter", "find_dead_letters"]


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """One dead letter as stored (its payload cut to the stored limit)."""

    id: int
    received_at: datetime
    topic: str
    reason: str
    payload: bytes
    payload_size: int
    replayed_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeadLetterPage:
    """One page of dead letters and where the next begins, or None on the last page."""

    letters: list[StoredDeadLetter]
    next_before_id: int | None


def find_dead_letters(
    connection: Connection,
    *,
    reason_prefix: str | None = None,
    include_replayed: bool = False,
    before_id: int | None = None,
    limit: int = 100,
    topic_prefixes: Sequence[str] | None = None,
) -> DeadLetterPage:
    """Dead letters, newest first; ``before_id`` continues after the previous page.

    ``topic_prefixes``: only those whose topic starts with one of them (a scoped reader's
    sites and lines); None: all, the plant-wide ones (no station's topic) included."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit {limit} is outside 1..{MAX_PAGE_SIZE}")
    statement = sa.select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit + 1)
    if reason_prefix:
        statement = statement.where(
            dead_letters.c.reason.startswith(reason_prefix, autoescape=True)
        )
    if not include_replayed:
        statement = statement.where(dead_letters.c.replayed_at.is_(None))
    if before_id is not None:
        statement = statement.where(dead_letters.c.id < before_id)
    if topic_prefixes is not None:
        statement = statement.where(
            sa.or_(
                sa.false(),
                *(dead_letters.c.topic.startswith(p, autoescape=True) for p in topic_prefixes),
            )
        )
    rows = connection.execute(statement).all()
    letters = [
        StoredDeadLetter(
            id=row.id,
            received_at=row.received_at,
            topic=row.topic,
            reason=row.reason,
            payload=row.payload,
            payload_size=row.payload_size,
            replayed_at=row.replayed_at,
        )
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return DeadLetterPage(letters, letters[-1].id if more and letters else None)
