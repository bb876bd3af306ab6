"""Applying the shipped Alembic migrations from code (at start, and ``central migrate``)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine

from linetrace.central.store.engine import open_engine, redacted

__all__ = ["MIGRATIONS_DIR", "current_revision", "head_revision", "upgrade"]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant shared by every central instance: the PostgreSQL advisory lock that lets
# only one of several instances starting together migrate at a time.
_MIGRATION_LOCK_KEY = 0x6C696E6574726163  # "linetrac"


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations inside this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of linetrace."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(target: Engine | str | URL, revision: str = "head") -> str | None:
    """Bring the database up to ``revision``; safe to run at every start and concurrently.

    Returns the revision the database is at afterwards.
    """
    engine = target if isinstance(target, Engine) else open_engine(target)
    try:
        with engine.begin() as connection:
            _lock(connection)
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            reached = MigrationContext.configure(connection).get_current_revision()
    finally:
        if engine is not target:
            engine.dispose()
    log.info("database %s is at revision %s", redacted(engine.url), reached)
    return reached


def _lock(connection: Connection) -> None:
    """Serialise migrations of several processes starting at once (held until commit).

    PostgreSQL: an advisory lock, so the second instance waits and then finds the schema
    current. SQLite: the database's write lock, taken before the first read (the driver
    would only begin the transaction at the first write, after Alembic has read the
    revision); another process waits for it up to the busy timeout.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
