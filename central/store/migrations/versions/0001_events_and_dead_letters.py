"""The append-only events table and the dead letters.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out in full rather than imported from the tables module: a migration is a
record of what the schema was at this revision and must not change when the module does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.Uuid(), nullable=False, comment="UUIDv7 from the edge"),
        sa.Column("schema_version", sa.Text(), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False, comment="UTC"),
        sa.Column("utc_offset_s", sa.Integer(), nullable=False, comment="station's UTC offset"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("symbology", sa.Text()),
        sa.Column("symbology_id", sa.String(3)),
        sa.Column("text", sa.Text()),
        sa.Column("gtin", sa.String(14), comment="GS1 AI 01"),
        sa.Column("serial", sa.String(20), comment="GS1 AI 21"),
        sa.Column("lot", sa.String(20), comment="GS1 AI 10"),
        sa.Column("sscc", sa.String(18), comment="GS1 AI 00"),
        sa.Column("expiry", sa.String(6), comment="GS1 AI 17, YYMMDD"),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False, comment="the event as sent"),
        sa.PrimaryKeyConstraint("event_id", name="pk_events"),
    )
    op.create_index(
        "ix_events_site_line_station_observed_at",
        "events",
        ["site", "line", "station", "observed_at"],
    )
    op.create_index("ix_events_observed_at_event_id", "events", ["observed_at", "event_id"])
    op.create_index("ix_events_gtin_serial", "events", ["gtin", "serial"])
    op.create_index("ix_events_serial", "events", ["serial"])
    op.create_index("ix_events_sscc", "events", ["sscc"])
    op.create_index("ix_events_lot", "events", ["lot"])
    op.create_index("ix_events_text", "events", ["text"], postgresql_using="hash")

    op.create_table(
        "dead_letters",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False, comment="first bytes only"),
        sa.Column("payload_size", sa.Integer(), nullable=False, comment="original size in bytes"),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"])


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("events")
