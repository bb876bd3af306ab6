"""Writing one batch of received messages: events, conflicts, progress and dead letters in
one transaction.

A batch goes through these steps, all committed together or not at all:

1. each message is checked against the contract (:mod:`.validation`); a refusal becomes a
   dead letter with the reason;
2. events from stations not registered, or disabled, become dead letters too (raw bytes
   kept, so a replay can take them in once the station is registered);
3. the events are inserted once each (idempotent on ``event_id``), and what central
   derives from new events (batch checks, containment:
   :mod:`linetrace.central.derive.on_stored`) is written; the new events are queued
   for the relay's targets (:mod:`linetrace.central.relay.queue`); a no-read's picture
   goes to its own table (:mod:`linetrace.central.ingest.snapshots`);
4. an ``event_id`` already stored with different content is recorded as a conflict;
5. the stations' seq progress advances (:mod:`linetrace.central.derive.progress`); the
   caller publishes the new watermarks after the commit.

The good events of a batch are never lost because of a bad one, and no message can stop
the ingest: a message that cannot even be checked (any error, not only a refusal) is
dead-lettered with the error as its reason; should the database still refuse a batch
(a limit nothing checked), or anything else fail while it is written, the batch is split
in halves, and the halves again, until the message at fault is alone and dead-lettered
with its reason, and the others are stored. A transient
refusal (a deadlock between two central instances, a locked SQLite file) retries the
whole batch. When the database itself is unreachable nothing is written and
:class:`StoreUnavailable` tells the caller to keep the messages, unacknowledged, and try
again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from linetrace.broker.contract.messages import ScanEvent
from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.conflicts import (
    Conflict,
    canonical_sha256,
    record_conflicts,
    stored_payloads,
)
from linetrace.central.derive.on_stored import on_events_stored
from linetrace.central.derive.progress import advance
from linetrace.central.derive.stations import admit
from linetrace.central.ingest.snapshots import comparable, store_images
from linetrace.central.ingest.validation import Accepted, accept
from linetrace.central.relay.queue import enqueue_events
from linetrace.central.store import DeadLetter, event_row, insert_dead_letters, insert_events
from linetrace.errors import ContractError, LinetraceError

__all__ = [
    "BatchOptions",
    "BatchResult",
    "Inbound",
    "StoreUnavailable",
    "dead_letter",
    "is_transient",
    "raise_if_unreachable",
    "write_batch",
]

log = logging.getLogger(__name__)

# What a refused row raises: the driver's errors (wrapped by SQLAlchemy) and the Python
# errors drivers raise while converting a value (encoding, integer range).
_ROW_ERRORS = (sa.exc.StatementError, UnicodeError, ValueError, OverflowError)
# PostgreSQL's deadlock_detected and serialization_failure: another transaction won a
# race, and the same batch succeeds when tried again.
_TRANSIENT_SQLSTATES = {"40P01", "40001"}
# A dead letter's reason and topic are our own text, cut to this length and made
# storable on every backend (no NUL, no lone surrogate), so that recording one never fails.
_MAX_LETTER_TEXT = 2000
# The database's own word that its disk, not a row, is the trouble: SQLite's primary
# result codes SQLITE_IOERR and SQLITE_FULL, PostgreSQL's disk_full and its class 58
# (system errors: I/O). Such a batch waits for room instead of being dead-lettered.
_SQLITE_IOERR, _SQLITE_FULL = 10, 13
_PG_DISK_FULL, _PG_IO_ERRORS = "53100", "58"
# Three tries: a deadlock between two instances resolves on the first retry; more failures
# in a row mean something else is wrong, and the caller's backoff takes over.
_TRANSIENT_TRIES = 3


class StoreUnavailable(LinetraceError, RuntimeError):
    """The database cannot be reached; nothing of the batch was committed."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message as it came off the broker."""

    topic: str
    payload: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """How a batch is admitted and what is kept of the refused messages."""

    auto_register: bool = False
    record_dead_letters: bool = True
    # The relay targets each new event is queued for, in the same transaction.
    relay_targets: tuple[str, ...] = ()


@dataclass(slots=True)
class BatchResult:
    """What became of a batch.

    ``new_event_ids`` are the events stored for the first time; ``refused`` maps the index
    of each refused message to its reason; ``watermarks`` holds the stations whose
    watermark moved, and to what.
    """

    new_event_ids: set[UUID] = field(default_factory=set)
    duplicates: int = 0
    conflicts: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    watermarks: dict[StationId, int] = field(default_factory=dict)
    # When each new event was observed at its station (the end-to-end lag metric).
    observed_at: list[datetime] = field(default_factory=list)
    # No-read pictures stored apart (noread_images), and those dropped as not a JPEG.
    images_stored: int = 0
    images_refused: int = 0

    @property
    def stored(self) -> int:
        return len(self.new_event_ids)

    def merge(self, other: BatchResult) -> None:
        self.new_event_ids |= other.new_event_ids
        self.duplicates += other.duplicates
        self.conflicts += other.conflicts
        self.dead_letters += other.dead_letters
        self.refused.update(other.refused)
        self.watermarks.update(other.watermarks)
        self.observed_at += other.observed_at
        self.images_stored += other.images_stored
        self.images_refused += other.images_refused


@dataclass(frozen=True, slots=True)
class _Item:
    """A message that passed the contract, ready to be stored."""

    index: int
    message: Inbound
    accepted: Accepted

    @property
    def event(self) -> ScanEvent:
        return self.accepted.event


def write_batch(
    engine: Engine, messages: Sequence[Inbound], options: BatchOptions | None = None
) -> BatchResult:
    """Validate and store ``messages``; raise :class:`StoreUnavailable` if nothing could be."""
    options = options or BatchOptions()
    items, refused = _sort(messages)
    for attempt in range(1, _TRANSIENT_TRIES + 1):
        try:
            with engine.begin() as connection:
                return _write(connection, items, refused, messages, options)
        except Exception as exc:
            _raise_if_unreachable(engine, exc)
            if _transient(exc) and attempt < _TRANSIENT_TRIES:
                log.info("batch lost a race (%s); trying again", _first_line(exc))
                continue
            if _transient(exc):
                raise StoreUnavailable(f"still refused: {_first_line(exc)}") from exc
            log.warning(
                "batch of %s events refused (%s); splitting it to find the cause",
                len(items),
                _first_line(exc),
            )
            return _write_split(engine, items, refused, messages, options)
    raise AssertionError("unreachable: the loop returns or raises")


def _sort(messages: Sequence[Inbound]) -> tuple[list[_Item], dict[int, str]]:
    """The messages that pass the contract, and the reasons of those that do not."""
    items: list[_Item] = []
    refused: dict[int, str] = {}
    for index, message in enumerate(messages):
        try:
            items.append(_Item(index, message, accept(message.topic, message.payload)))
        except ContractError as exc:
            refused[index] = exc.reason
        except Exception as exc:
            log.exception("checking a message from %r failed", message.topic)
            refused[index] = f"the message could not be checked: {_describe_error(exc)}"
    return items, refused


def _write(
    conn: Connection,
    items: Sequence[_Item],
    refused: dict[int, str],
    messages: Sequence[Inbound],
    options: BatchOptions,
) -> BatchResult:
    """All steps of one batch in the caller's transaction."""
    now = datetime.now(UTC)
    refused = dict(refused)
    not_admitted = admit(
        conn, {item.accepted.station for item in items}, auto_register=options.auto_register
    )
    admitted = []
    for item in items:
        reason = not_admitted.get(item.accepted.station)
        if reason is None:
            admitted.append(item)
        else:
            refused[item.index] = reason
    result = BatchResult(refused=refused)
    first_of: dict[UUID, _Item] = {}
    for item in admitted:
        first_of.setdefault(item.event.event_id, item)
    rows = [
        event_row(item.event, item.accepted.document, item.message.received_at)
        for _, item in sorted(first_of.items())  # one order for all writers: no deadlocks
    ]
    result.new_event_ids = insert_events(conn, rows)
    # Batch checks and containment, derived in this transaction (see central/derive/on_stored.py).
    new_rows = [row for row in rows if row["event_id"] in result.new_event_ids]
    on_events_stored(conn, new_rows)
    # Outside the derivation's savepoint: a queued event must commit with its event.
    enqueue_events(conn, new_rows, options.relay_targets, now)
    result.images_stored, result.images_refused = store_images(
        conn,
        (
            (item.event, item.accepted.image, item.message.received_at)
            for event_id in sorted(result.new_event_ids)
            if (item := first_of[event_id]).accepted.image is not None
        ),
    )
    repeats = [
        item
        for item in admitted
        if first_of[item.event.event_id] is not item
        or item.event.event_id not in result.new_event_ids
    ]
    result.duplicates = len(repeats)
    result.conflicts = record_conflicts(conn, _conflicts(conn, repeats))
    new_seqs: dict[StationId, list[int]] = defaultdict(list)
    for event_id in result.new_event_ids:
        first = first_of[event_id]
        new_seqs[first.accepted.station].append(first.event.seq)
        result.observed_at.append(first.event.observed_at)
    result.watermarks = advance(conn, new_seqs, now)
    result.dead_letters = [_letter(messages[i], reason) for i, reason in sorted(refused.items())]
    if options.record_dead_letters:
        insert_dead_letters(conn, result.dead_letters)
    return result


def _conflicts(conn: Connection, repeats: Sequence[_Item]) -> list[Conflict]:
    """The repeats whose content differs from the stored event of the same event_id."""
    if not repeats:
        return []
    stored = stored_payloads(conn, {item.event.event_id for item in repeats})
    found = []
    stored_hashes: dict[UUID, str] = {}
    for item in repeats:
        first: dict[str, Any] | None = stored.get(item.event.event_id)
        if first is None:
            continue  # not visible: nothing to compare with
        first_hash = stored_hashes.setdefault(
            item.event.event_id, canonical_sha256(comparable(first))
        )
        second_hash = canonical_sha256(item.accepted.document.parsed())
        if second_hash != first_hash:
            found.append(
                Conflict(
                    event_id=item.event.event_id,
                    station=str(item.accepted.station),
                    received_at=item.message.received_at,
                    first_sha256=first_hash,
                    second_sha256=second_hash,
                    second_payload=item.accepted.document.parsed(),
                )
            )
    return found


def _write_split(
    engine: Engine,
    items: Sequence[_Item],
    refused: dict[int, str],
    messages: Sequence[Inbound],
    options: BatchOptions,
) -> BatchResult:
    """Write ``items`` in halves, down to the single messages that fail; dead-letter those.

    A batch with one bad message costs about 2·log2(n) extra transactions, not n.
    """
    result = BatchResult()
    refused = dict(refused)
    alone = replace(options, record_dead_letters=False)
    halves = [items[: len(items) // 2], items[len(items) // 2 :]]
    while halves:
        part = halves.pop()
        if not part:
            continue
        try:
            with engine.begin() as connection:
                result.merge(_write(connection, part, {}, messages, alone))
        except Exception as exc:
            _raise_if_unreachable(engine, exc)
            if _transient(exc):  # a race, not a bad message: try the whole batch later
                raise StoreUnavailable(f"refused while split: {_first_line(exc)}") from exc
            if len(part) == 1:
                log.warning("event refused alone: %s", _first_line(exc))
                refused[part[0].index] = f"the database refused the event: {_describe_error(exc)}"
            else:
                halves += [part[: len(part) // 2], part[len(part) // 2 :]]
    result.refused.update(refused)
    result.dead_letters = [_letter(messages[i], reason) for i, reason in sorted(refused.items())]
    if not options.record_dead_letters:
        return result
    try:
        with engine.begin() as connection:
            insert_dead_letters(connection, result.dead_letters)
    except _ROW_ERRORS as exc:
        # Not expected: dead letters are bytes and our own text. Keep the batch for a retry.
        raise StoreUnavailable(f"dead letters refused: {_first_line(exc)}") from exc
    return result


def _letter(message: Inbound, reason: str) -> DeadLetter:
    return DeadLetter(
        _storable(message.topic), _storable(reason), message.payload, message.received_at
    )


def _storable(text: str) -> str:
    """``text`` cut short, with NUL and lone surrogates escaped: every backend keeps it."""
    text = text[:_MAX_LETTER_TEXT].replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _describe_error(exc: BaseException) -> str:
    """A refusal's reason: the error's first line, with its type when that says more."""
    line = _first_line(exc)
    name = type(getattr(exc, "orig", None) or exc).__name__
    return (
        line
        if line.startswith(name) or isinstance(exc, sa.exc.StatementError)
        else f"{name}: {line}"
    )


def _transient(exc: BaseException) -> bool:
    original = getattr(exc, "orig", None)
    if getattr(original, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(original or "")


def _raise_if_unreachable(engine: Engine, exc: BaseException) -> None:
    """Tell a refused row from a lost database: only the database answering proves the row.

    A database that answers but cannot write (its disk is full) has not refused the row
    either: the batch waits, unacknowledged, until there is room again.
    """
    no_room = _out_of_space(exc)
    if no_room is not None:
        raise StoreUnavailable(no_room) from exc
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        raise StoreUnavailable(_first_line(exc)) from exc


def _out_of_space(exc: BaseException) -> str | None:
    """Why the database cannot write, when the cause is its disk rather than the rows."""
    original = getattr(exc, "orig", None)
    code = getattr(original, "sqlite_errorcode", None)
    sqlstate = str(getattr(original, "sqlstate", None) or "")
    if (code is not None and code & 0xFF == _SQLITE_FULL) or sqlstate == _PG_DISK_FULL:
        return f"the disk is full under the database: {_first_line(exc)}"
    if (code is not None and code & 0xFF == _SQLITE_IOERR) or sqlstate.startswith(_PG_IO_ERRORS):
        return f"the database cannot write to its disk (full or failing): {_first_line(exc)}"
    return None


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


# The status writer (statuses.py) keeps refused messages, and tells a lost database from
# a refused row, the same way as this one.
dead_letter = _letter
is_transient = _transient
raise_if_unreachable = _raise_if_unreachable
