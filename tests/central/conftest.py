"""Databases for the central tests: an SQLite file per test, and one throwaway PostgreSQL
database per session (created here, dropped afterwards).

``database_url`` is parametrized over both backends, so every storage test runs on the
default (SQLite) and on production (PostgreSQL). Without a reachable PostgreSQL the
PostgreSQL half skips outside CI and fails in CI (the ``require`` policy).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from linetrace.central.store import open_engine, upgrade

# A role that may create databases; CI's service script sets this variable.
POSTGRES_ADMIN = make_url(
    os.environ.get("LINETRACE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
)
# A local server answers at once; the timeout only decides how long "absent" takes.
POSTGRES_CONNECT_TIMEOUT_S = 3


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """The URL of a migrated throwaway database, or None when no server is reachable."""
    try:
        admin = psycopg.connect(
            _libpq(POSTGRES_ADMIN), autocommit=True, connect_timeout=POSTGRES_CONNECT_TIMEOUT_S
        )
    except psycopg.OperationalError:
        yield None
        return
    name = f"linetrace_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        url = POSTGRES_ADMIN.set(drivername="postgresql+psycopg", database=name)
        try:
            upgrade(url)
            yield url.render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_database: str | None, require: Callable[[bool, str], None]) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    reachable = postgres_database is not None
    require(reachable, f"PostgreSQL not reachable at {POSTGRES_ADMIN.render_as_string()}")
    assert postgres_database is not None
    _empty(postgres_database)
    return postgres_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite file of this test's own."""
    url = f"sqlite:///{tmp_path / 'central.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database on each backend in turn."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _empty(url: str) -> None:
    """Truncate every table the migrations made (whoever's), keeping the schema."""
    engine = open_engine(url)
    try:
        with engine.begin() as connection:
            tables = [
                name
                for name in sa.inspect(connection).get_table_names()
                if name != "alembic_version"
            ]
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
