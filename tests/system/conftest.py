"""Shared by the whole-pipeline tests: an empty PostgreSQL database the services migrate."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

ADMIN_URL = make_url(
    os.environ.get("LINETRACE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
)


@pytest.fixture
def postgres_database(require: Callable[[bool, str], None]) -> Iterator[str]:
    """An empty throwaway PostgreSQL database (not migrated: the services do that)."""
    libpq = ADMIN_URL.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(libpq, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        require(False, f"PostgreSQL not reachable at {ADMIN_URL.render_as_string()}")
        raise
    name = f"linetrace_system_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield ADMIN_URL.set(drivername="postgresql+psycopg", database=name).render_as_string(
                hide_password=False
            )
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
