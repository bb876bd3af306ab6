"""Writing one batch of received messages: good events and dead letters, one transaction.

The good events of a batch are never lost because of a bad one: messages that break the
contract become dead letters before the write, and should the database still refuse a
row (a limit nothing checked), the batch is written again one message at a time so that
only that row is dead-lettered, with the database's reason. When the database itself is
unreachable nothing is written and :class:`StoreUnavailable` tells the caller to keep
the messages, unacknowledged, and try again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.broker.events import ContractError
from linetrace.central.store import DeadLetter, event_row, insert_dead_letters, insert_events
from linetrace.central.validate import accept

__all__ = ["BatchResult", "Inbound", "StoreUnavailable", "write_batch"]

log = logging.getLogger(__name__)

# What a refused row raises: the driver's errors (wrapped by SQLAlchemy) and the Python
# errors drivers raise while converting a value (encoding, integer range).
_ROW_ERRORS = (sa.exc.StatementError, UnicodeError, ValueError, OverflowError)


class StoreUnavailable(RuntimeError):
    """The database cannot be reached; nothing of the batch was committed."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message as it came off the broker."""

    topic: str
    payload: bytes
    received_at: datetime


@dataclass(slots=True)
class BatchResult:
    """What became of a batch; ``new_event_ids`` are the events stored for the first time."""

    new_event_ids: set[UUID] = field(default_factory=set)
    duplicates: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return len(self.new_event_ids)


def write_batch(engine: Engine, messages: Sequence[Inbound]) -> BatchResult:
    """Validate and store ``messages``; raise :class:`StoreUnavailable` if nothing could be."""
    pending, letters = _sort(messages)
    accepted = len(messages) - len(letters)
    try:
        with engine.begin() as connection:
            new = insert_events(connection, [row for row, _ in pending.values()])
            insert_dead_letters(connection, letters)
    except _ROW_ERRORS as exc:
        _raise_if_unreachable(engine, exc)
        log.warning("batch of %s events refused (%s); writing them one by one", len(pending), exc)
        return _write_one_by_one(engine, pending, letters, accepted)
    return BatchResult(new, accepted - len(new), letters)


_Pending = dict[UUID, tuple[dict[str, Any], Inbound]]


def _sort(messages: Sequence[Inbound]) -> tuple[_Pending, list[DeadLetter]]:
    """Rows of the valid events (the first message of each event_id) and letters for the rest."""
    pending: _Pending = {}
    letters: list[DeadLetter] = []
    for message in messages:
        try:
            accepted = accept(message.topic, message.payload)
        except ContractError as exc:
            letters.append(_letter(message, exc.reason))
            continue
        event_id = accepted.event.event_id
        if event_id not in pending:
            row = event_row(accepted.event, accepted.document, message.received_at)
            pending[event_id] = (row, message)
    return pending, letters


def _write_one_by_one(
    engine: Engine, pending: _Pending, letters: list[DeadLetter], accepted: int
) -> BatchResult:
    new_event_ids: set[UUID] = set()
    refused: list[DeadLetter] = []
    for row, message in pending.values():
        try:
            with engine.begin() as connection:
                new_event_ids |= insert_events(connection, [row])
        except _ROW_ERRORS as exc:
            _raise_if_unreachable(engine, exc)
            refused.append(_letter(message, f"the database refused the event: {_first_line(exc)}"))
    try:
        with engine.begin() as connection:
            insert_dead_letters(connection, letters + refused)
    except _ROW_ERRORS as exc:
        # Not expected: dead letters are bytes and our own text. Keep the batch for a retry.
        raise StoreUnavailable(f"dead letters refused: {_first_line(exc)}") from exc
    return BatchResult(
        new_event_ids, accepted - len(refused) - len(new_event_ids), letters + refused
    )


def _letter(message: Inbound, reason: str) -> DeadLetter:
    return DeadLetter(message.topic, reason, message.payload, message.received_at)


def _raise_if_unreachable(engine: Engine, exc: BaseException) -> None:
    """Tell a refused row from a lost database: only the database answering proves the row."""
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        raise StoreUnavailable(_first_line(exc)) from exc


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]
