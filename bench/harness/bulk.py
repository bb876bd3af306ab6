"""Events written straight into a migrated database by the database itself.

A million rows through Python would take minutes, and the benchmarks that load them time
something else (a query, an export, a page). The events table's indexes are dropped for
the load and built again after: the same end state, much faster than maintaining them row
by row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from linetrace.central.store import events

__all__ = ["insert_events"]


def insert_events(
    connection: sa.Connection, postgres_sql: str, sqlite_sql: str, params: Mapping[str, Any]
) -> None:
    """Run the backend's ``INSERT INTO events ... SELECT`` with the indexes dropped, build
    them again, and on PostgreSQL ``ANALYZE`` the table, as autovacuum soon would after a
    load (the service never runs ANALYZE on SQLite, so neither does a benchmark)."""
    for index in events.indexes:
        index.drop(connection)
    postgres = connection.dialect.name == "postgresql"
    connection.execute(sa.text(postgres_sql if postgres else sqlite_sql), dict(params))
    for index in events.indexes:
        index.create(connection)
    if postgres:
        connection.exec_driver_sql("ANALYZE events")
