"""Server-side page sessions: made at login, ended at logout, idle or absolute expiry.

The cookie holds 256 random bits; the table holds their SHA-256, so a copy of the
database cannot be replayed as cookies. Each session has its own CSRF token, which the
pages echo in ``X-CSRF-Token`` (or a form's ``csrf_token``) on every change they ask for.
``last_seen_at`` is written at most once a minute per session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.auth.principal import Principal, parse_scopes
from linetrace.central.auth.roles import Role
from linetrace.central.auth.tokens import sha256_hex
from linetrace.central.store.auth_tables import users, web_sessions

__all__ = ["SessionState", "end_session", "find_session", "start_session"]

_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionState:
    principal: Principal
    csrf_token: str
    must_change_password: bool


def start_session(connection: Connection, user: str, *, max_age: timedelta) -> tuple[str, str]:
    """A new session for ``user``: (the cookie's secret, the session's CSRF token)."""
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    connection.execute(
        web_sessions.insert().values(
            id_sha256=sha256_hex(secret),
            user_name=user,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + max_age,
        )
    )
    # Expired sessions of anyone are swept here: logins are rare, sessions few.
    connection.execute(web_sessions.delete().where(web_sessions.c.expires_at <= now))
    return secret, csrf


def find_session(connection: Connection, secret: str, *, idle: timedelta) -> SessionState | None:
    """The live session behind a cookie, touched; None if unknown, expired or disabled."""
    key = sha256_hex(secret)
    row = connection.execute(
        sa.select(web_sessions, users)
        .join(users, users.c.name == web_sessions.c.user_name)
        .where(web_sessions.c.id_sha256 == key)
    ).first()
    now = datetime.now(UTC)
    if row is None:
        return None
    if row.disabled or row.expires_at <= now or now - row.last_seen_at > idle:
        connection.execute(web_sessions.delete().where(web_sessions.c.id_sha256 == key))
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        connection.execute(
            web_sessions.update().where(web_sessions.c.id_sha256 == key).values(last_seen_at=now)
        )
    principal = Principal(
        name=row.user_name,
        role=Role(row.role),
        scopes=parse_scopes(list(row.scopes or [])),
        via="session",
        language=row.language,
    )
    return SessionState(principal, row.csrf_token, bool(row.must_change_password))


def end_session(connection: Connection, secret: str) -> None:
    connection.execute(web_sessions.delete().where(web_sessions.c.id_sha256 == sha256_hex(secret)))
