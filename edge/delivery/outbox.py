"""The durable outbox: every scan event is on disk before anyone else hears of it.

An event is made (its ``seq`` and ``event_id`` assigned) and stored in one SQLite
transaction, so a crash at any point leaves either the whole event or nothing, and the
sequence never skips or repeats. The last ``seq`` given out lives in its own table: rows
leave the outbox once they are confirmed, and the sequence must not restart when the outbox
runs empty.

Durability (fsync) policy: the file is in WAL mode with ``synchronous=FULL``, so every
commit waits for the write-ahead log to reach the disk. Until central's watermark covers
it, the outbox holds the only copy of an event, and an event that a power cut
could take back would break the gapless ``seq`` that central uses to prove completeness.
The cost is one fsync per append: about 0.1-2 ms on an SSD, up to tens of milliseconds on
an SD card, which bounds appends to a few hundred per second on slow storage. That is far
above line speed (tens of items per second), and appends happen off the capture path's
critical timing. Deletions pay the same fsync, once per watermark from central (one range
delete however many events it covers).

One :class:`Outbox` object owns a file: it counts its depth in memory, and a second writer
on the same file would make that count wrong (never the events or the sequence, which the
transactions keep right). The object is safe to share between threads.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from linetrace.broker.contract.messages import ScanEvent
from linetrace.broker.contract.topics import StationId
from linetrace.edge.line.passage import Passage
from linetrace.edge.line.passage_event import make_event
from linetrace.errors import LinetraceError
from linetrace.private import private_sqlite

__all__ = ["Outbox", "OutboxError", "OutboxFull"]

logger = logging.getLogger(__name__)

# The layout of the file; bump it with a migration when the tables change.
LAYOUT_VERSION = 1
# How long a statement waits for a lock held by another connection (a checkpoint, or an
# operator's read-only look at the file) before failing: 5 s covers a slow SD card.
BUSY_TIMEOUT_S = 5.0
# SQLite's default limit on host parameters in one statement is 999 (older builds) or
# 32 766; fetching by seq in chunks of 500 stays under either.
_FETCH_CHUNK = 500
_NO_LIMIT = 2**63 - 1  # SQLite's largest integer: "no upper bound" for a seq range

_SCHEMA = (
    """CREATE TABLE sequence (
        station TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL
    )""",
    """CREATE TABLE events (
        station TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (station, seq)
    ) WITHOUT ROWID""",
)


class OutboxError(LinetraceError):
    """The outbox file cannot be used (not SQLite, a newer layout, an unwritable disk)."""


class OutboxFull(OutboxError):
    """The outbox holds its configured capacity; the new event was not stored."""


class Outbox:
    """Scan events of one station, stored until they are confirmed delivered."""

    def __init__(
        self,
        path: Path,
        station: StationId,
        *,
        capacity: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.station = station
        self.capacity = capacity
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._db = _connect(path)
        try:
            self._prepare()
            self._depth = self._count()
        except sqlite3.Error as exc:
            self._db.close()
            raise OutboxError(f"outbox {path}: {exc}") from exc
        except OutboxError:
            self._db.close()
            raise
        logger.info(
            "outbox %s open for %s: %d pending, last seq %d",
            path,
            station,
            self._depth,
            self.last_seq,
        )

    def append(self, passage: Passage) -> ScanEvent:
        """Make the event for ``passage`` with the next ``seq`` and store it durably.

        Raises :class:`OutboxFull` at capacity and pydantic's ``ValidationError`` for a
        passage that makes no valid event; either way no ``seq`` is used up.
        """
        with self._lock, self._write():
            if self.capacity is not None and self._depth >= self.capacity:
                raise OutboxFull(
                    f"outbox {self.path} holds {self._depth} events (capacity {self.capacity})"
                )
            seq = self._read_last_seq() + 1
            event = _event(passage, self.station, seq)
            self._db.execute(
                "INSERT INTO events (station, seq, event_id, created_at, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                (str(self.station), seq, str(event.event_id), self._clock(), event.to_payload()),
            )
            self._db.execute(
                "INSERT INTO sequence (station, last_seq) VALUES (?, ?) "
                "ON CONFLICT (station) DO UPDATE SET last_seq = excluded.last_seq",
                (str(self.station), seq),
            )
            self._depth += 1
        return event

    def pending(
        self, limit: int, *, after: int = 0, through: int | None = None
    ) -> list[tuple[int, bytes]]:
        """Up to ``limit`` stored events with ``after < seq <= through``, oldest first."""
        upper = through if through is not None else _NO_LIMIT
        with self._lock, self._reading():
            rows = self._db.execute(
                "SELECT seq, payload FROM events WHERE station = ? AND seq > ? AND seq <= ? "
                "ORDER BY seq LIMIT ?",
                (str(self.station), after, upper, limit),
            ).fetchall()
        return [(int(seq), bytes(payload)) for seq, payload in rows]

    def fetch(self, seqs: Iterable[int]) -> list[tuple[int, bytes]]:
        """The stored events among ``seqs``, oldest first; the ones gone are left out."""
        wanted = sorted(set(seqs))
        found: list[tuple[int, bytes]] = []
        with self._lock, self._reading():
            for start in range(0, len(wanted), _FETCH_CHUNK):
                chunk = wanted[start : start + _FETCH_CHUNK]
                marks = ", ".join("?" * len(chunk))
                # Only "?" placeholders are formatted into the text; the values are bound.
                rows = self._db.execute(
                    f"SELECT seq, payload FROM events WHERE station = ? AND seq IN ({marks}) "  # noqa: S608
                    "ORDER BY seq",
                    (str(self.station), *chunk),
                ).fetchall()
                found += [(int(seq), bytes(payload)) for seq, payload in rows]
        return found

    def remove(self, seqs: Iterable[int]) -> int:
        """Delete confirmed events; returns how many were still here (repeats are harmless)."""
        keys = [(str(self.station), seq) for seq in seqs]
        if not keys:
            return 0
        with self._lock, self._write():
            before = self._db.total_changes
            self._db.executemany("DELETE FROM events WHERE station = ? AND seq = ?", keys)
            removed = self._db.total_changes - before
            self._depth -= removed
        return removed

    def remove_through(self, seq: int) -> int:
        """Delete every event up to ``seq`` (central covers them); returns how many went."""
        with self._lock, self._write():
            before = self._db.total_changes
            self._db.execute(
                "DELETE FROM events WHERE station = ? AND seq <= ?", (str(self.station), seq)
            )
            removed = self._db.total_changes - before
            self._depth -= removed
        return removed

    def depth(self) -> int:
        """How many events wait for confirmation."""
        with self._lock:
            return self._depth

    @property
    def fill(self) -> float | None:
        """Depth as a share of the capacity; None without a capacity."""
        with self._lock:
            return None if not self.capacity else self._depth / self.capacity

    @property
    def oldest_age(self) -> float | None:
        """Seconds since the oldest waiting event was stored; None when the outbox is empty."""
        with self._lock, self._reading():
            row = self._db.execute(
                "SELECT created_at FROM events WHERE station = ? ORDER BY seq LIMIT 1",
                (str(self.station),),
            ).fetchone()
        return None if row is None else max(0.0, self._clock() - float(row[0]))

    @property
    def last_seq(self) -> int:
        """The highest ``seq`` ever given out for this station (0 before the first event)."""
        with self._lock, self._reading():
            return self._read_last_seq()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: read failed: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taking the write lock up front so it cannot fail midway."""
        depth = self._depth
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: cannot start a write: {exc}") from exc
        try:
            yield
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._roll_back(depth)
            raise OutboxError(f"outbox {self.path}: write failed: {exc}") from exc
        except BaseException:
            self._roll_back(depth)
            raise

    def _roll_back(self, depth: int) -> None:
        self._depth = depth
        # SQLite has already rolled back after some errors (a full disk, an I/O error).
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _prepare(self) -> None:
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise OutboxError(f"outbox {self.path}: the file system refused WAL mode ({mode})")
        self._db.execute("PRAGMA synchronous = FULL")
        layout = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if layout > LAYOUT_VERSION:
            raise OutboxError(
                f"outbox {self.path} has layout {layout}, written by a newer linetrace "
                f"(this one understands {LAYOUT_VERSION})"
            )
        if layout == 0:
            with self._write():
                for statement in _SCHEMA:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {LAYOUT_VERSION}")

    def _count(self) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM events WHERE station = ?", (str(self.station),)
        ).fetchone()
        return int(row[0])

    def _read_last_seq(self) -> int:
        row = self._db.execute(
            "SELECT last_seq FROM sequence WHERE station = ?", (str(self.station),)
        ).fetchone()
        return 0 if row is None else int(row[0])


def _event(passage: Passage, station: StationId, seq: int) -> ScanEvent:
    """The event of ``passage``, with a pack parent's children (validated like the rest)."""
    event = make_event(passage, station, seq)
    if passage.children is None:
        return event
    children = [child.model_dump() for child in passage.children]
    return ScanEvent.model_validate({**event.model_dump(), "children": children})


def _connect(path: Path) -> sqlite3.Connection:
    try:
        # The outbox holds every code scanned: 0600 (and so its -wal and -shm), folders
        # created for it 0700, whatever the umask (linetrace.private).
        private_sqlite(path)
        # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE), never
        # implicitly by the driver. check_same_thread=False: the object's lock serialises use.
        return sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise OutboxError(f"outbox {path}: cannot open: {exc}") from exc
