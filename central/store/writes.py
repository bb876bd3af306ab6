"""Writing events and dead letters: Core inserts, idempotent on ``event_id``.

The hot path is ``INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING event_id`` for
a whole batch, so a resent event costs nothing and the caller learns which events were
new without a read before the write: on SQLite one multi-row statement (see
:func:`_insert_events_multirow`), on PostgreSQL one prepared statement pipelined over the
rows (see :func:`_insert_events_pipelined`). Both talk to the driver directly, because
SQLAlchemy's per-row parameter handling cost more CPU than the database's own work.

A payload given as a :class:`~linetrace.central.store.document.SentDocument` is stored as the
text the station sent, neither parsed nor encoded again (the ingest's case); a plain
mapping is encoded by the column's own type, as SQLAlchemy would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Json
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import Insert

from linetrace.broker.contract.messages import ScanEvent
from linetrace.central.store.document import SentDocument
from linetrace.central.store.gs1keys import extract_keys
from linetrace.central.store.tables import (
    DEAD_LETTER_PAYLOAD_LIMIT,
    REASON_LIMIT,
    dead_letters,
    events,
)

__all__ = ["DeadLetter", "event_row", "insert_dead_letters", "insert_events"]

# SQLite's default limit on the parameters of one statement since 3.32 (2020); Python
# 3.11's own SQLite is newer. A batch of a few hundred events is one statement.
_SQLITE_MAX_PARAMETERS = 32766

_BindProcessor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message refused with a reason; its payload is cut to the stored limit on insert."""

    topic: str
    reason: str
    payload: bytes
    received_at: datetime


def event_row(
    event: ScanEvent, document: Mapping[str, Any], received_at: datetime
) -> dict[str, Any]:
    """The ``events`` row of a validated event; ``document`` is the payload as sent.

    A :class:`SentDocument` is kept as it is (its text is what gets stored); any other
    mapping is copied, as the row must not change with the caller's dict.
    """
    offset = event.observed_at.utcoffset()
    if offset is None:  # the contract only accepts aware times
        raise ValueError(f"event {event.event_id} has a naive observed_at")
    return {
        "event_id": event.event_id,
        "schema_version": event.schema_version,
        "site": event.site,
        "line": event.line,
        "station": event.station,
        "seq": event.seq,
        "kind": event.kind.value,
        "observed_at": event.observed_at,
        "utc_offset_s": int(offset.total_seconds()),
        "received_at": received_at,
        "symbology": event.symbology,
        "symbology_id": event.symbology_id,
        "text": event.text,
        **extract_keys(event.gs1).columns(),
        "frames": event.frames,
        "payload": document if isinstance(document, SentDocument) else dict(document),
    }


def insert_events(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> set[UUID]:
    """Insert ``rows``, skipping event_ids already stored; return the event_ids that were new."""
    if not rows:
        return set()
    if connection.dialect.name == "postgresql":
        return _insert_events_pipelined(connection, rows)
    if connection.dialect.name == "sqlite":
        return _insert_events_multirow(connection, rows)
    statement = _insert_ignoring_duplicates(connection).returning(events.c.event_id)
    return set(connection.execute(statement, list(rows)).scalars())


def _insert_events_multirow(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> set[UUID]:
    """SQLite: one multi-row INSERT per batch, its values converted by the column types.

    The same statement SQLAlchemy renders for an executemany with RETURNING, without its
    per-row parameter machinery (measured at about half the CPU of the whole insert).
    The columns' own bind processors convert the values, so what is stored is the same;
    a :class:`SentDocument` payload is stored as its text.
    """
    names = list(rows[0])
    if "event_id" not in names or "payload" not in names:
        raise ValueError("an events row needs its event_id and payload")
    convert = [_bind_processor(connection.dialect, name) for name in names]
    encode_json = convert[names.index("payload")]
    convert[names.index("payload")] = partial(_payload_text, encode_json)
    stored_id = names.index("event_id")
    driver = connection.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        raise TypeError(f"SQLite through sqlite3 only, not {type(driver).__name__}")
    per_statement = max(1, _SQLITE_MAX_PARAMETERS // len(names))
    new: set[UUID] = set()
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = (
            # Names from the events table itself, values bound as parameters.
            f"INSERT INTO {events.name} ({', '.join(names)}) VALUES "  # noqa: S608
            + ", ".join(f"({', '.join('?' for _ in names)})" for _ in chunk)
            + " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        )
        params: list[Any] = []
        ids: dict[Any, UUID] = {}
        for row in chunk:
            values = _converted(sql, row, names, convert)
            ids[values[stored_id]] = row["event_id"]
            params += values
        try:
            returned = driver.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
        new.update(ids[stored[0]] for stored in returned)
    return new


def _bind_processor(dialect: Dialect, name: str) -> _BindProcessor | None:
    """What SQLAlchemy itself applies: the dialect's own type (e.g. SQLite's date format)."""
    processor: _BindProcessor | None = (
        events.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    )
    return processor


def _payload_text(encode_json: _BindProcessor | None, payload: Any) -> Any:
    """The payload's stored text: as sent for a SentDocument, else the column's encoding."""
    if isinstance(payload, SentDocument):
        return payload.text
    return payload if encode_json is None else encode_json(payload)


def _converted(
    sql: str,
    row: Mapping[str, Any],
    names: Sequence[str],
    convert: Sequence[_BindProcessor | None],
) -> list[Any]:
    """One row's values as the driver takes them; a value its type refuses is a row error."""
    try:
        return [
            row[name] if process is None else process(row[name])
            for name, process in zip(names, convert, strict=True)
        ]
    except (TypeError, ValueError) as exc:
        raise sa.exc.StatementError(str(exc), sql, None, exc) from exc


def _insert_events_pipelined(
    connection: Connection, rows: Sequence[Mapping[str, Any]]
) -> set[UUID]:
    """PostgreSQL: one short prepared INSERT, executed for every row in one pipeline.

    SQLAlchemy renders an executemany with RETURNING as one INSERT of all the rows'
    VALUES, which psycopg then parses afresh for every batch (the statement is too long
    for its cache): measured at 260 us per event against 54 us for psycopg's own
    pipelined ``executemany(..., returning=True)``. Errors are re-raised as SQLAlchemy's,
    as from any other statement.
    """
    names = list(rows[0])
    if "payload" not in names:
        raise ValueError("an events row needs its payload")
    sql = (
        # Names from the events table itself, values bound as parameters.
        f"INSERT INTO {events.name} ({', '.join(names)}) "  # noqa: S608
        f"VALUES ({', '.join('%s' for _ in names)}) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
    )
    payload_at = names.index("payload")
    params = [[row[name] for name in names] for row in rows]
    for values in params:
        values[payload_at] = _payload_param(values[payload_at])
    driver = connection.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError(f"PostgreSQL through psycopg 3 only, not {type(driver).__name__}")
    new: set[UUID] = set()
    try:
        with driver.cursor() as cursor:
            cursor.executemany(sql, params, returning=True)
            while True:
                new.update(returned[0] for returned in cursor.fetchall())
                if not cursor.nextset():
                    return new
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def _payload_param(payload: Any) -> Any:
    """A SentDocument goes as its text (the server parses it as ``json``); else as Json."""
    if isinstance(payload, SentDocument):
        return payload.text
    return Json(payload)


def insert_dead_letters(connection: Connection, letters: Iterable[DeadLetter]) -> int:
    """Record refused messages, keeping at most the first 64 KiB of each payload."""
    rows = [
        {
            "received_at": letter.received_at,
            "topic": letter.topic,
            "reason": letter.reason[:REASON_LIMIT],
            "payload": letter.payload[:DEAD_LETTER_PAYLOAD_LIMIT],
            "payload_size": len(letter.payload),
        }
        for letter in letters
    ]
    if rows:
        connection.execute(dead_letters.insert(), rows)
    return len(rows)


def _insert_ignoring_duplicates(connection: Connection) -> Insert:
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(events).on_conflict_do_nothing(index_elements=["event_id"])
    if name == "sqlite":
        return sqlite.insert(events).on_conflict_do_nothing(index_elements=["event_id"])
    raise NotImplementedError(f"no idempotent insert for the {name} dialect")
