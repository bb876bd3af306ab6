"""Accounts, machine tokens and page sessions (issue 11: access).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

Before this revision anyone who reached the API could change products and start batches.
The first admin is not created here but by ``central migrate`` / the first ``central
run``, which print its one-time password (a migration has nowhere safe to say it).

Written out in full rather than imported from the tables module: a migration is a
record of what the schema was at this revision and must not change when the module does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False, comment="argon2id, encoded"),
        sa.Column("role", sa.String(16), nullable=False, comment="operator, auditor or admin"),
        sa.Column("scopes", sa.JSON(), nullable=False, comment="sites or site/line; [] = all"),
        sa.Column("language", sa.String(8), comment="vi or en; null: the site's"),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_users"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), comment="null: never"),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id_sha256", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "expires_at", sa.DateTime(timezone=True), nullable=False, comment="absolute expiry"
        ),
        sa.ForeignKeyConstraint(["user_name"], ["users.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_sha256", name="pk_web_sessions"),
    )
    op.create_index("ix_web_sessions_user_name", "web_sessions", ["user_name"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_user_name", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("api_tokens")
    op.drop_table("users")
