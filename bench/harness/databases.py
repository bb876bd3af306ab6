"""The databases a benchmark runs on: a throwaway PostgreSQL database, or an SQLite file.

PostgreSQL: a database with a random name is created on the server named by
``LINETRACE_BENCH_DATABASE_URL`` (else ``LINETRACE_TEST_DATABASE_URL``, else
postgresql://postgres@127.0.0.1:5432/postgres) and dropped afterwards, even when the run
fails, so a benchmark leaves the server as it found it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

__all__ = ["CONNECT_TIMEOUT_S", "database", "postgres_admin_url", "throwaway_postgres"]

# A server that does not answer in this time is not there: the run skips PostgreSQL
# rather than hang.
CONNECT_TIMEOUT_S = 3


def postgres_admin_url() -> str:
    """The URL of a role that may create databases (see the module's docstring)."""
    return os.environ.get(
        "LINETRACE_BENCH_DATABASE_URL",
        os.environ.get(
            "LINETRACE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )


@contextmanager
def throwaway_postgres(admin_url: str) -> Iterator[str]:
    """The SQLAlchemy URL of a new empty database, dropped on exit.

    Raises :class:`psycopg.OperationalError` when the server cannot be reached.
    """
    admin_url_parsed = make_url(admin_url)
    libpq = admin_url_parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = psycopg.connect(libpq, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    name = f"linetrace_bench_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url_parsed.set(
                drivername="postgresql+psycopg", database=name
            ).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(kind: str, folder: Path, label: str) -> Iterator[str | None]:
    """``sqlite``: a file in ``folder``; ``postgresql``: a throwaway database, or None
    (with a line saying why) when the server cannot be reached."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{label}.db'}"
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_postgres(postgres_admin_url()))
        except psycopg.OperationalError as exc:
            print(f"PostgreSQL skipped: {str(exc).strip().splitlines()[0]}")
            yield None
            return
        yield url
