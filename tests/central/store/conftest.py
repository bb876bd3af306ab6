"""Blank databases for the store tests that build a schema themselves (upgrades, restores).

``blank_database(backend)`` makes a database with no table at all: an SQLite file path of
the test's own, or a throwaway PostgreSQL database (dropped after the test). The
PostgreSQL kind follows the ``require`` policy: skipped outside CI without a server,
failed in CI.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.central.conftest import POSTGRES_ADMIN, POSTGRES_CONNECT_TIMEOUT_S

BlankDatabase = Callable[[str], str]


def _libpq_admin() -> str:
    return POSTGRES_ADMIN.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def blank_database(tmp_path: Path, require: Callable[[bool, str], None]) -> Iterator[BlankDatabase]:
    made: list[str] = []

    def blank(backend: str) -> str:
        name = f"linetrace_blank_{secrets.token_hex(6)}"
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'{name}.db'}"
        try:
            admin = psycopg.connect(
                _libpq_admin(), autocommit=True, connect_timeout=POSTGRES_CONNECT_TIMEOUT_S
            )
        except psycopg.OperationalError as exc:
            require(False, f"PostgreSQL not reachable at {POSTGRES_ADMIN}: {exc}")
            raise
        with admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        url = POSTGRES_ADMIN.set(drivername="postgresql+psycopg", database=name)
        return url.render_as_string(hide_password=False)

    yield blank
    if made:
        with psycopg.connect(_libpq_admin(), autocommit=True) as admin:
            for name in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
