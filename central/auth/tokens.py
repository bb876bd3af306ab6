"""Machine tokens for integrations: ``lt_`` and 43 URL-safe characters, shown once.

Only the token's SHA-256 is stored. ``last_used_at`` is written at most once a minute per
token, so a busy integration does not turn every read into a write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.auth.accounts import AccountError, valid_name
from linetrace.central.auth.principal import Principal, Scope, parse_scopes
from linetrace.central.auth.roles import Role
from linetrace.central.store.auth_tables import api_tokens

__all__ = [
    "TOKEN_PREFIX",
    "TokenInfo",
    "create_token",
    "list_tokens",
    "principal_for_token",
    "revoke_token",
    "sha256_hex",
]

TOKEN_PREFIX = "lt_"  # noqa: S105  (a marker, not a secret: secret scanners look for it)
_TOUCH_EVERY = timedelta(minutes=1)


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: Role
    scopes: tuple[Scope, ...]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        name=row.name,
        role=Role(row.role),
        scopes=parse_scopes(list(row.scopes or [])),
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def create_token(
    connection: Connection,
    name: str,
    *,
    role: Role,
    created_by: str,
    scopes: tuple[Scope, ...] = (),
    expires_days: int | None = None,
) -> str:
    """Store a new token and return its secret (the only time it exists in clear)."""
    valid_name(name)
    taken = connection.execute(sa.select(api_tokens.c.id).where(api_tokens.c.name == name))
    if taken.first() is not None:
        raise AccountError(f"token {name!r} exists")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    connection.execute(
        api_tokens.insert().values(
            name=name,
            token_sha256=sha256_hex(secret),
            role=role.value,
            scopes=[str(scope) for scope in scopes],
            created_by=created_by,
            created_at=now,
            expires_at=None if expires_days is None else now + timedelta(days=expires_days),
        )
    )
    return secret


def list_tokens(connection: Connection) -> list[TokenInfo]:
    rows = connection.execute(sa.select(api_tokens).order_by(api_tokens.c.name))
    return [_info(row) for row in rows]


def revoke_token(connection: Connection, name: str) -> bool:
    done = connection.execute(
        api_tokens.update()
        .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return done.rowcount > 0


def principal_for_token(connection: Connection, secret: str) -> Principal | None:
    """The token's principal if it is known, unrevoked and unexpired."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = connection.execute(
        sa.select(api_tokens).where(api_tokens.c.token_sha256 == sha256_hex(secret))
    ).first()
    now = datetime.now(UTC)
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
        connection.execute(
            api_tokens.update().where(api_tokens.c.id == row.id).values(last_used_at=now)
        )
    return Principal(
        name=f"token:{row.name}",
        role=Role(row.role),
        scopes=parse_scopes(list(row.scopes or [])),
        via="token",
    )
