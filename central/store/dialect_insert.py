"""The dialect's own INSERT, for ``ON CONFLICT`` clauses that plain Core inserts lack.

PostgreSQL and SQLite spell ``ON CONFLICT ... DO NOTHING / DO UPDATE`` the same way, and
SQLAlchemy exposes it only on each dialect's ``insert``; this picks the right one.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

__all__ = ["dialect_insert"]


def dialect_insert(connection: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An insert into ``table`` that supports ``on_conflict_do_*`` on this connection."""
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no ON CONFLICT insert for the {name} dialect")
