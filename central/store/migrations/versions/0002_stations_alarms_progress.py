"""Stations registry, per-station seq progress, alarms, event conflicts, dead-letter replay.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

Written out in full rather than imported from the tables module: a migration is a
record of what the schema was at this revision and must not change when the module does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("gln", sa.String(13), comment="GS1 GLN of the station's location"),
        sa.Column("role", sa.String(32), comment="what the station does, e.g. pack, palletise"),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False, comment="cli, api or auto"),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("site", "line", "station", name="pk_stations"),
    )

    op.create_table(
        "station_progress",
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False, comment="highest contiguous seq"),
        sa.Column("max_seq_seen", sa.BigInteger(), nullable=False),
        sa.Column(
            "behind_since",
            sa.DateTime(timezone=True),
            comment="since when a seq above the watermark waits for a missing one",
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", "line", "station", name="pk_station_progress"),
    )
    op.create_index("ix_events_site_line_station_seq", "events", ["site", "line", "station", "seq"])

    op.create_table(
        "alarms",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("station", sa.String(200), comment="SITE/LINE/STATION, or null"),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON()),
        sa.Column("cleared_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column(
            "open_key", sa.String(500), comment="station|kind|key while open, null once cleared"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
        sa.UniqueConstraint("open_key", name="uq_alarms_open_key"),
    )
    op.create_index("ix_alarms_raised_at", "alarms", ["raised_at"])

    op.create_table(
        "conflicts",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("station", sa.String(200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_sha256", sa.String(64), nullable=False),
        sa.Column("second_sha256", sa.String(64), nullable=False),
        sa.Column("second_payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conflicts"),
        sa.UniqueConstraint(
            "event_id", "second_sha256", name="uq_conflicts_event_id_second_sha256"
        ),
    )

    op.add_column(
        "dead_letters",
        sa.Column(
            "replayed_at",
            sa.DateTime(timezone=True),
            comment="when a replay stored it (or found it stored)",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("replayed_at")
    op.drop_table("conflicts")
    op.drop_index("ix_alarms_raised_at", table_name="alarms")
    op.drop_table("alarms")
    op.drop_index("ix_events_site_line_station_seq", table_name="events")
    op.drop_table("station_progress")
    op.drop_table("stations")
