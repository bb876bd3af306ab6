"""The hash-chained audit log of every human or token action.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

``audit_log`` holds the records, ``audit_head`` the chain's last id and hash (one row,
written here, so appenders always find it to lock). Written out in full rather than
imported from the tables module: a migration records the schema at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", _BigId, autoincrement=False, nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), nullable=False, comment="when it was recorded (UTC)"
        ),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column(
            "details", sa.JSON(), nullable=True, comment="what was asked or changed, as JSON"
        ),
        sa.Column("prev_hash", sa.String(64), nullable=False, comment="the previous record's hash"),
        sa.Column("hash", sa.String(64), nullable=False, comment="SHA-256 of this record"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    head = op.create_table(
        "audit_head",
        sa.Column("chain", sa.String(16), nullable=False),
        sa.Column("last_id", _BigId, nullable=False, comment="the newest record's id (0: none)"),
        sa.Column("last_hash", sa.String(64), nullable=False, comment="the newest record's hash"),
        sa.PrimaryKeyConstraint("chain", name="pk_audit_head"),
    )
    op.bulk_insert(head, [{"chain": "audit", "last_id": 0, "last_hash": "0" * 64}])


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_action_at", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_at", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
