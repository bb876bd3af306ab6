"""The access tables: accounts, machine tokens and page sessions.

Secrets are never stored: passwords as argon2id hashes, tokens and session ids as their
SHA-256 (both are 256 random bits, so a fast hash is enough and a look-up stays one
indexed equality). ``scopes`` is a JSON list of ``site`` or ``site/line``; empty means
every site.
"""

from __future__ import annotations

import sqlalchemy as sa

from linetrace.central.store.tables import UtcDateTime, metadata

__all__ = ["api_tokens", "users", "web_sessions"]

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid needs INTEGER

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False, comment="argon2id, encoded"),
    sa.Column("role", sa.String(16), nullable=False, comment="operator, auditor or admin"),
    sa.Column("scopes", sa.JSON(), nullable=False, comment="sites or site/line; [] = all"),
    sa.Column("language", sa.String(8), comment="vi or en; null: the site's"),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("must_change_password", sa.Boolean(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("password_changed_at", UtcDateTime(), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("scopes", sa.JSON(), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), comment="null: never"),
    sa.Column("revoked_at", UtcDateTime()),
    sa.Column("last_used_at", UtcDateTime()),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_sha256", sa.String(64), primary_key=True),
    sa.Column(
        "user_name",
        sa.String(64),
        sa.ForeignKey("users.name", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("last_seen_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False, comment="absolute expiry"),
)
