"""Replaying dead letters: taking in the refused messages that are valid now.

A message refused for a reason that has since gone away (its station was not registered
yet, or was disabled) is still whole in the dead letters, raw bytes and all. A replay runs
each through the same batch write as a fresh message; those that are stored now (or
were stored meanwhile, by a resend) are marked ``replayed_at`` and stay as a record, and
those still refused stay as they were, not dead-lettered a second time. The stations'
watermarks advance in the same transactions, and a running central publishes them within
seconds (it re-reads the watermarks periodically).

Replaying is idempotent: a crash in the middle only means some letters are replayed
again next time, and are found stored.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from linetrace.central.ingest.write_batch import BatchOptions, Inbound, write_batch
from linetrace.central.store.tables import dead_letters

__all__ = ["ReplayReport", "replay_dead_letters"]

log = logging.getLogger(__name__)

# Letters per transaction: a batch of the ingest's usual size, so a replay of thousands
# commits steadily without holding a long write lock on SQLite.
REPLAY_CHUNK = 200


@dataclass(frozen=True, slots=True)
class _Letter:
    id: int
    topic: str
    payload: bytes
    received_at: datetime


@dataclass(slots=True)
class ReplayReport:
    """What a replay did; ``still_refused`` counts the current reasons of the rest."""

    examined: int = 0
    stored: int = 0
    already_stored: int = 0
    still_refused: Counter[str] = field(default_factory=Counter)

    @property
    def replayed(self) -> int:
        return self.stored + self.already_stored


def replay_dead_letters(
    engine: Engine,
    *,
    reason_prefix: str | None = None,
    auto_register: bool = False,
    chunk: int = REPLAY_CHUNK,
    relay_targets: tuple[str, ...] = (),
) -> ReplayReport:
    """Re-ingest the dead letters not replayed yet (those whose reason starts with the prefix)."""
    report = ReplayReport()
    after = 0
    while True:
        with engine.connect() as connection:
            letters = _next_letters(connection, after, reason_prefix, chunk)
        if not letters:
            return report
        after = letters[-1].id
        options = BatchOptions(
            auto_register, record_dead_letters=False, relay_targets=relay_targets
        )
        _replay_chunk(engine, letters, options, report)


def _replay_chunk(
    engine: Engine,
    letters: list[_Letter],
    options: BatchOptions,
    report: ReplayReport,
) -> None:
    messages = [Inbound(row.topic, row.payload, row.received_at) for row in letters]
    result = write_batch(engine, messages, options)
    report.examined += len(letters)
    report.stored += result.stored
    report.already_stored += len(letters) - result.stored - len(result.refused)
    for reason in result.refused.values():
        report.still_refused[_first_words(reason)] += 1
    replayed = [row.id for index, row in enumerate(letters) if index not in result.refused]
    if replayed:
        with engine.begin() as connection:
            connection.execute(
                dead_letters.update()
                .where(dead_letters.c.id.in_(replayed))
                .values(replayed_at=datetime.now(UTC))
            )
    log.info(
        "replayed %s dead letters: %s stored, %s still refused",
        len(letters),
        result.stored,
        len(result.refused),
    )


def _next_letters(
    connection: Connection, after: int, reason_prefix: str | None, limit: int
) -> list[_Letter]:
    statement = (
        sa.select(
            dead_letters.c.id,
            dead_letters.c.topic,
            dead_letters.c.payload,
            dead_letters.c.received_at,
        )
        .where(dead_letters.c.id > after, dead_letters.c.replayed_at.is_(None))
        .order_by(dead_letters.c.id)
        .limit(limit)
    )
    if reason_prefix:
        statement = statement.where(
            dead_letters.c.reason.startswith(reason_prefix, autoescape=True)
        )
    return [_Letter(*row) for row in connection.execute(statement)]


def _first_words(reason: str) -> str:
    """A reason without its details, for counting: up to the first colon."""
    return reason.split(":", 1)[0][:120]
