"""Credentials for tests of protected routes: a bearer header, or a logged-in browser page.

Both write straight into the test's database (the same tables the CLI writes), so a test
needs no running service to get a token and no first-admin password to log in.
"""

from __future__ import annotations

import secrets
from typing import Any

from linetrace.central.auth.accounts import add_user
from linetrace.central.auth.principal import Scope, parse_scopes
from linetrace.central.auth.roles import Role
from linetrace.central.auth.tokens import create_token
from linetrace.central.store import open_engine

__all__ = ["TEST_PASSWORD", "login", "login_headers", "make_token", "make_user"]

TEST_PASSWORD = "correct horse battery staple"


def _scopes(scopes: tuple[str | Scope, ...] | list[str | Scope]) -> tuple[Scope, ...]:
    return parse_scopes([str(scope) for scope in scopes])


def make_token(
    database_url: str, role: Role = Role.ADMIN, scopes: tuple[str | Scope, ...] = ()
) -> str:
    """A new bearer token's secret with ``role`` and ``scopes`` (names are unique per call)."""
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            return create_token(
                connection,
                f"test-{role}-{secrets.token_hex(4)}",
                role=role,
                created_by="tests",
                scopes=_scopes(scopes),
            )
    finally:
        engine.dispose()


def login_headers(
    database_url: str, role: Role = Role.ADMIN, scopes: tuple[str | Scope, ...] = ()
) -> dict[str, str]:
    """``{"Authorization": "Bearer lt_..."}`` for a fresh token with ``role`` and ``scopes``."""
    return {"Authorization": f"Bearer {make_token(database_url, role, scopes)}"}


def make_user(
    database_url: str,
    role: Role = Role.ADMIN,
    scopes: tuple[str | Scope, ...] = (),
    *,
    name: str | None = None,
    password: str = TEST_PASSWORD,
) -> str:
    """A new account that needs no password change; returns its name."""
    name = name or f"{role}-{secrets.token_hex(3)}"
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            add_user(
                connection,
                name,
                role=role,
                password=password,
                scopes=_scopes(scopes),
                must_change_password=False,
            )
    finally:
        engine.dispose()
    return name


def login(
    page: Any,
    base_url: str,
    database_url: str,
    role: Role = Role.ADMIN,
    scopes: tuple[str | Scope, ...] = (),
    *,
    next_path: str = "/",
    name: str | None = None,
) -> str:
    """Log a Playwright ``page`` in through the login form as a new account (or as the
    existing account ``name``, made with :func:`make_user`); its name.

    Returns once the browser has left the login page for ``next_path``.
    """
    name = name or make_user(database_url, role, scopes)
    page.goto(f"{base_url}/login?next={next_path}")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return name
