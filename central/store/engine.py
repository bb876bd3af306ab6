"""Opening the database: one place that knows the per-backend settings.

SQLite runs in WAL mode so the API reads while the ingest writes; ``synchronous=NORMAL``
is the setting SQLite recommends with WAL: the database cannot corrupt, and an
application crash loses nothing committed; only a power cut or OS crash may roll back
the last few commits, which the edges then resend because their outbox keeps an event
until central's acknowledgement watermark covers it. PostgreSQL (production) keeps its
own full durability settings.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from linetrace.private import private_sqlite

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "open_engine", "redacted"]

log = logging.getLogger(__name__)

# A batch commit takes milliseconds; five seconds outlasts a WAL checkpoint or a migration
# on a slow disk, so a reader waits instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000
# Long enough for a server on another host to answer, short enough that /healthz reports
# a dead database quickly instead of hanging the probe.
POSTGRES_CONNECT_TIMEOUT_S = 5

_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)
# Switching a new file to WAL takes an exclusive lock, and SQLite answers "database is
# locked" at once (without its busy handler) while another process holds any lock on it,
# as when several instances start on a new file together. Retried at this pace, within
# the busy timeout; once the file is in WAL mode the pragma is a no-op read.
_WAL_RETRY_S = 0.05


def open_engine(url: str | URL) -> Engine:
    """An engine for ``url`` with the pragmas or pool settings its backend needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    connect_args: dict[str, Any] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def redacted(url: str | URL) -> str:
    """The URL without its password, for logs and health output."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:" and not url.query.get("uri"):
        # Only the service's user reads the events: the file (and so its -wal and -shm)
        # 0600, folders created for it 0700 (linetrace.private).
        private_sqlite(Path(url.database))
    engine = sa.create_engine(url)
    sa.event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        _enter_wal(cursor)
    finally:
        cursor.close()


def _enter_wal(cursor: Any) -> None:
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(_WAL_RETRY_S)
