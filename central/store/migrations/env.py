"""Alembic environment: runs on the connection :func:`linetrace.central.store.upgrade` hands in.

Without one (plain ``alembic`` commands during development) it opens the URL in the
Alembic config the same way the service does.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from linetrace.central.store import (
    relay_tables,  # noqa: F401  (its tables join metadata)
    trace_tables,  # noqa: F401  (its tables join metadata)
)
from linetrace.central.store.engine import open_engine
from linetrace.central.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters a table by copying it; batch mode writes migrations that way.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection handed in and no sqlalchemy.url configured")
    engine = open_engine(url)
    try:
        with engine.connect() as fresh:
            _run(fresh)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
_run_online()
